"""Fault campaign: fuzz the config loader, run every bad input through the plugin, inject cache and
registry faults into real gate runs, and print one table of counts.

    nice -n 10 .venv/bin/python benchmarks/fault_campaign.py --fuzz 10000 --out benchmarks/results/fault_campaign.txt

Passing means: 0 crashes among the fuzzed configs (a crash is any exception but ConfigError); every bad
input gives exit 4 and one line naming the key, file or value; every injected fault ends in a run whose
scores equal a clean run's (0 stale or partial results used) and whose registry keeps every record it
had (0 records lost); a changed batch size or data file rebuilds exactly its dependents.

The gate runs use a tiny BERT classifier trained here (tests/tinymodels.py) and real torch dynamic INT8,
on sentence pairs: pairs are not timed, so the ~25 gate runs measure the cache and the registry rather than
re-timing speed on a busy machine (a contended timing is never cached, so every run would redo it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.campaign_cases import (BAD_INPUTS, check_bad_input, fuzz_loader, gate_command,  # noqa: E402
                                       run_gate, write_project)

READ_ONLY = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"] if os.geteuid() == 0 else []
RECIPE = '[{ method = "torch-dynamic-int8" }]'


class Campaign:
    def __init__(self, work: Path, model: Path, rows: list[dict]) -> None:
        self.work, self.model, self.rows = work, model, rows
        self.root = work / "gate"
        self.registry = work / "registry" / "registry.db"
        self.registry.parent.mkdir(parents=True)
        self.rows_out: list[tuple[str, int, int, int, int, str]] = []
        self.reference: dict | None = None

    # -- running the gate --------------------------------------------------------------------

    def project(self, batch_size: int = 32) -> None:
        write_project(self.root, self.model, self.rows, recipe=RECIPE,
                      task_extra=f'batch_size = {batch_size}\ntext_pair_column = "pair"',
                      top_extra=f'registry = "sqlite:///{self.registry}"')

    def run(self, *args: str, read_only: bool = False) -> tuple[int, dict | None, str]:
        report = self.work / "report"
        shutil.rmtree(report, ignore_errors=True)
        command = READ_ONLY + gate_command(f"--compress-gate-report={report}", *args) if read_only else None
        result = run_gate(self.root, f"--compress-gate-report={report}", *args, command=command)
        scores = None
        if (report / "compressgate.json").is_file():
            doc = json.loads((report / "compressgate.json").read_text())
            scores = {f"{c['task']}/{c['target']}/{c.get('stage')}": (c["source_score"], c["compressed_score"], c["n"])
                      for c in doc["comparisons"]}
        return result.returncode, scores, result.stdout + result.stderr

    def records(self) -> int:
        if not self.registry.is_file():
            return 0
        with sqlite3.connect(self.registry) as db:
            return db.execute("SELECT COUNT(*) FROM evaluations").fetchone()[0]

    def builds(self) -> list[dict]:
        log = self.root / ".cg" / "builds.jsonl"
        return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []

    # -- bookkeeping -------------------------------------------------------------------------

    def check(self, fault: str, injections: int, runs: list[tuple[int, dict | None, str]], *, expect_exit: int = 0,
              expected: list[dict | None] | None = None, before: int, after: int | None = None,
              note: str = "") -> None:
        """``expected``: each run's right scores (default: the clean run's); a run that differs used a stale
        or partial result."""
        expected = expected or [self.reference] * len(runs)
        ok = sum(code == expect_exit and scores is not None for code, scores, _ in runs)
        stale = sum(1 for (_, scores, _), right in zip(runs, expected) if scores is not None and scores != right)
        lost = max(0, before - (self.records() if after is None else after))
        self.rows_out.append((fault, injections, ok, stale, lost, note))
        for code, _, out in runs:
            if code != expect_exit:
                print(f"  {fault}: exit {code}\n{out[-1500:]}", file=sys.stderr)

    # -- the faults --------------------------------------------------------------------------

    def clean(self) -> None:
        self.project()
        code, self.reference, out = self.run()
        assert code == 0 and self.reference, out[-3000:]
        self.check("clean run (reference)", 0, [(code, self.reference, out)], before=0)

    def malformed_markers(self) -> None:
        runs, before = [], self.records()
        for marker in ("[]", "null", '{"files": []}', '{"files": {"x": 5}}', "{trunc"):
            for entry in (self.root / ".cg").glob("*/*/.complete"):
                entry.write_text(marker)
            runs.append(self.run())
        self.check("malformed .complete markers", 5, runs, before=before,
                   note=f"every entry's marker, 5 shapes; warned each time: {warned(runs, 'rebuilding it')}")
        runs, before = [], self.records()
        for memo in ("[]", "null", '{"x": 1}'):
            (self.root / ".cg" / "digests.json").write_text(memo)
            runs.append(self.run())
        self.check("malformed digests.json", 3, runs, before=before,
                   note=f"[], null, {{\"x\": 1}}; warned where not an object: {warned(runs[:2], 'digest memo')}")

    def truncated(self) -> None:
        runs, before = [], self.records()
        for kind in ("artifacts", "predictions", "examples"):
            for file in (self.root / ".cg" / kind).glob("*/*"):
                if file.is_file() and file.name != ".complete":
                    file.write_bytes(file.read_bytes()[: file.stat().st_size // 2])
            runs.append(self.run())
        self.check("truncated artifacts / documents", 3, runs, before=before,
                   note=f"weights, predictions, examples; warned each time: {warned(runs, 'rebuilding it')}")

    def read_only(self) -> None:
        before = self.records()
        cache = self.root / ".cg"
        paths = [cache, *cache.rglob("*")]
        for p in paths:
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        try:
            warm = self.run(read_only=True)
            self.project(batch_size=8)  # a miss on the read-only cache: built outside it, not kept
            miss = self.run(read_only=True)
        finally:
            for p in paths:
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        kept = len(list(cache.glob("*/*"))) - len([p for p in paths[1:] if p.parent.parent == cache])
        writable = self.run()  # the same miss on a writable cache: what the read-only run had to match
        self.project()
        self.check("read-only cache, warm", 1, [warm], before=before)
        self.check("read-only cache, a miss", 1, [miss], expected=[writable[1]], before=before,
                   note=f"warned: {'cannot be written' in miss[2]}; entries it left in the cache: {kept}")

    def broken_registry(self) -> None:
        before = self.records()
        aside = self.work / "registry-aside"
        aside.mkdir()
        files = [f for f in self.registry.parent.iterdir() if f.name.startswith(self.registry.name)]  # -wal, -shm
        for f in files:
            f.rename(aside / f.name)
        self.registry.write_bytes(b"this is not a database" * 100)
        broken = self.run()
        said = "registry" in broken[2] and "NOT written" in broken[2]
        self.registry.unlink()
        for f in files:
            (aside / f.name).rename(f)
        locked = [self.registry.parent, *self.registry.parent.glob(f"{self.registry.name}*")]
        for p in locked:  # the database, its -wal and -shm, and the folder: no writes at all
            os.chmod(p, 0o555 if p.is_dir() else 0o444)
        try:
            read_only = self.run(read_only=True)
        finally:
            for p in locked:
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
        after = self.records()
        again = self.run()
        self.check("broken / read-only registry", 2, [broken, read_only], expect_exit=3, before=before, after=after,
                   note=f"reports written, line said so: {said}; next run recorded: {self.records() > after}")
        assert again[0] == 0, again[2][-2000:]

    def kills(self) -> None:
        before, runs = self.records(), []
        for point in ("building", "scoring intent on source", "scoring intent on edge"):
            env = {**os.environ, "HF_HUB_OFFLINE": "1"}
            command = [a for a in gate_command("--compress-gate-rebuild") if a != "-q"]  # status lines on
            proc = subprocess.Popen(command, cwd=self.root, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True)
            for line in proc.stdout:
                if point in line:
                    time.sleep(0.3)
                    os.kill(proc.pid, signal.SIGKILL)
                    break
            proc.wait(timeout=600)
            runs.append(self.run())
        leftovers = len(list((self.root / ".cg").glob("*/.*.tmp-*")))
        self.check("SIGKILL mid-build / mid-scoring", 3, runs, before=before,
                   note=f"temporary directories left after the next run: {leftovers}")

    def rekeying(self) -> None:
        before = self.records()
        start = len(self.builds())
        self.project(batch_size=16)
        changed = self.run()
        kinds = sorted({b["kind"] for b in self.builds()[start:]})
        fresh = self.run("--compress-gate-rebuild")
        self.project()
        start = len(self.builds())
        back = self.run()
        rebuilt_back = len(self.builds()) - start
        self.check("batch_size 32 -> 16 -> 32", 2, [changed, back], expected=[fresh[1], self.reference],
                   before=before, note=f"16 rebuilt: {','.join(kinds)} (vs a full rebuild); back to 32: "
                                       f"{rebuilt_back} builds")
        data = self.root / "data" / "test.jsonl"
        original = data.read_text()
        data.write_text(original + original.splitlines()[0] + "\n")
        start = len(self.builds())
        edited = self.run()
        kinds = sorted({b["kind"] for b in self.builds()[start:]})
        fresh = self.run("--compress-gate-rebuild")
        data.write_text(original)
        start = len(self.builds())
        restored = self.run()
        self.check("data file edited, then restored", 2, [edited, restored], expected=[fresh[1], self.reference],
                   before=before, note=f"edit rebuilt: {','.join(kinds)} (vs a full rebuild); restored: "
                                       f"{len(self.builds()) - start} builds")


def warned(runs: list[tuple[int, dict | None, str]], text: str) -> bool:
    return all(text in out for _, _, out in runs)


def table(rows: list[tuple]) -> str:
    head = ("part", "cases", "as expected", "stale/partial used", "records lost", "note")
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fuzz", type=int, default=10_000, help="fuzzed configs (default 10000)")
    parser.add_argument("--out", type=Path, help="also write the table here")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tests.tinymodels import make_rows, tiny_classifier

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="fault-campaign-"))
    fuzz = fuzz_loader(args.fuzz, workdir=work)
    configs = fuzz.counts["configs"]
    rows = [("fuzzed configs through load_config", configs, configs - fuzz.counts["crash"],
             "-", "-", f"loaded {fuzz.counts['loaded']}, ConfigError {fuzz.counts['ConfigError']} "
             f"(multi-line {fuzz.counts['multi-line ConfigError']}), crashes {fuzz.counts['crash']}")]
    for crash in fuzz.crashes:
        print("crash:", crash, file=sys.stderr)
    model = tiny_classifier(work / "model")
    data_rows = [{**row, "pair": "please help"} for row in make_rows(90, seed=99)]
    bad = [check_bad_input(case, work / f"bad-{i}", model, data_rows) for i, case in enumerate(BAD_INPUTS)]
    for case, problem in zip(BAD_INPUTS, bad):
        if problem:
            print(f"bad input {case.name!r}: {problem}", file=sys.stderr)
    rows.append(("bad inputs: exit 4, one line", len(bad), bad.count(None), "-", "-",
                 "; ".join(c.name for c, p in zip(BAD_INPUTS, bad) if p) or "all named the key/file/value"))
    campaign = Campaign(work, model, data_rows)
    for step in (campaign.clean, campaign.malformed_markers, campaign.truncated, campaign.read_only,
                 campaign.broken_registry, campaign.kills, campaign.rekeying):
        print(f"fault campaign: {step.__name__} ({time.perf_counter() - started:.0f} s)", file=sys.stderr, flush=True)
        step()
    text = table(rows + campaign.rows_out)
    text += f"\n\n{time.perf_counter() - started:.0f} s; python {sys.version.split()[0]}; work dir {work}"
    print(text)
    if args.out:
        command = "nice -n 10 .venv/bin/python benchmarks/fault_campaign.py " + " ".join(sys.argv[1:])
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(f"$ {command}\n\n{text}\n", encoding="utf-8")
    failed = fuzz.counts["crash"] or any(bad) or any(r[2] != r[1] and r[1] for r in campaign.rows_out[1:]) \
        or any(r[3] or r[4] for r in campaign.rows_out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
