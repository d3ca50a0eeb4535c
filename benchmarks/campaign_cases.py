"""The fault campaign's inputs: fuzzed configs for the loader, and hand-made bad projects for the plugin.

``fuzz_loader`` mutates a valid config (values of every TOML type at any key path, deleted and invented
keys, bytes that are not UTF-8) and counts what ``load_config`` does with each: loads it, refuses it with
a ``ConfigError`` (one line), or crashes (any other exception). ``BAD_INPUTS`` are the mistakes a new user
makes, each run through ``pytest --compress-gate`` in its own project: exit 4 and one line that names the
key, file or value is the only pass.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

VALID = {
    "source": {"model": "models/m", "task": "text-classification", "trust_remote_code": False, "device": "cpu"},
    "cache_dir": ".cg", "seed": 3, "holm": False,
    "targets": {
        "cpu-int8": {"hardware": "x86-avx2", "recipe": [{"method": "onnx-dynamic-int8", "per_channel": True}],
                     "min_size_ratio": 2.0, "stages": {"0": {"max_drop": 0.05}}},
        "edge": {"hardware": "cpu", "recipe": [{"method": "prune-magnitude", "sparsity": 0.5},
                                               {"method": "torch-dynamic-int8"}], "max_latency_ms": 50.0},
    },
    "tasks": {
        "intent": {"data": "data/test.jsonl", "metric": "accuracy", "max_drop": 0.02, "batch_size": 16,
                   "max_examples": 100, "decision": "confident-pass", "confidence": 0.9, "text_column": "text",
                   "targets": {"edge": {"max_drop": 0.04}}},
        "pairs": {"data": "data/nli.csv", "max_relative_drop": 0.1, "text_pair_column": "hypothesis",
                  "metric": "macro_f1", "max_length": 64},
    },
}
ODD_TEXT = ["", "²", "١٢", "0x10", "-1", "nan", "onnx-dynamic-int8", "x" * 300, "a\u0000b", "日本", "../..", "C:\\x"]


def toml_string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf") if math.isinf(value) else repr(value)
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{toml_string(str(k))} = {toml_value(v)}" for k, v in value.items()) + "}"


def to_toml(table: dict[str, Any]) -> str:
    return "".join(f"{toml_string(str(k))} = {toml_value(v)}\n" for k, v in table.items())


def paths_of(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every key path into the nested dicts and lists (the places a mutation can land)."""
    out = [prefix]
    if isinstance(node, dict):
        for k, v in node.items():
            out += paths_of(v, prefix + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += paths_of(v, prefix + (i,))
    return out


def lookup(table: Any, path: tuple) -> Any:
    for part in path:
        table = table[part]
    return table


def mutate(table: dict[str, Any], path: tuple, action: str, value: Any, key: str) -> None:
    if not path:
        table[key] = value
        return
    *parent_path, last = path
    parent: Any = table
    for part in parent_path:
        parent = parent[part]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent[last], dict):
        parent[last][key] = value
    else:
        parent[last] = value


def strategies():
    """Hypothesis strategies for one fuzzed config file's bytes (imported only where fuzzing runs)."""
    from hypothesis import strategies as st

    scalars = (st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.sampled_from([0, -1, -4, 1, 2**62])
               | st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(ODD_TEXT) | st.text(max_size=12))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.sampled_from(ODD_TEXT[:6]) | st.text(max_size=8), inner, max_size=3),
                          max_leaves=6)
    keys = st.sampled_from(["method", "max_drop", "batch_size", "stages", "recipe", "²", "", "type", "data"]) \
        | st.text(max_size=10)

    def same_kind(current: Any):
        """A value of the current one's type: reaches the range checks behind the type checks."""
        if isinstance(current, bool):
            return st.booleans()
        if isinstance(current, (int, float)):
            return (st.integers(-3, 3) | st.floats(allow_nan=True, allow_infinity=True)
                    | st.integers(-(2**63), 2**63 - 1))
        if isinstance(current, str):
            return st.sampled_from(ODD_TEXT) | st.text(max_size=12)
        return values

    @st.composite
    def config_bytes(draw) -> bytes:
        table = json.loads(json.dumps(VALID))
        for _ in range(draw(st.integers(1, 4))):
            path = draw(st.sampled_from(paths_of(table)))
            action = draw(st.sampled_from(["tweak", "tweak", "set", "delete", "add"])) if path else "add"
            value = draw(same_kind(lookup(table, path))) if action == "tweak" else draw(values)
            mutate(table, path, "set" if action == "tweak" else action, value, draw(keys))
        data = to_toml(table).encode("utf-8")
        if draw(st.integers(0, 9)) == 0:  # bytes that are not UTF-8 (a file saved as Latin-1, a stray byte)
            at = draw(st.integers(0, len(data)))
            data = data[:at] + draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3", b"\x80\x80"])) + data[at:]
        return data

    return config_bytes()


@dataclass
class FuzzResult:
    counts: Counter
    crashes: list[str]


def fuzz_loader(n: int, *, workdir: Path, seed: int = 0) -> FuzzResult:
    """Run ``n`` fuzzed configs through ``load_config``; a crash is any exception but ConfigError."""
    from hypothesis import HealthCheck, given, seed as hseed, settings

    from pytest_compressgate.config import ConfigError, load_config

    counts: Counter = Counter()
    crashes: list[str] = []
    path = workdir / "compressgate.toml"

    @hseed(seed)
    @settings(max_examples=n, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(strategies())
    def run(data: bytes) -> None:
        path.write_bytes(data)
        try:
            load_config(path)
            counts["loaded"] += 1
        except ConfigError as exc:
            counts["ConfigError"] += 1
            if "\n" in str(exc):
                counts["multi-line ConfigError"] += 1
                if len(crashes) < 5:
                    crashes.append(f"multi-line ConfigError: {exc!r}")
        except Exception as exc:  # noqa: BLE001  (counting crashes is the point)
            counts["crash"] += 1
            if len(crashes) < 5:
                crashes.append(f"{type(exc).__name__}: {exc} <- {data[:200]!r}")

    run()
    counts["configs"] = counts["loaded"] + counts["ConfigError"] + counts["crash"]
    return FuzzResult(counts, crashes)


# -- bad inputs through `pytest --compress-gate` -----------------------------------------------------

PROJECT = """\
[tool.compressgate]
source = {{ model = "model", task = "text-classification"{source_extra} }}
cache_dir = ".cg"
{top_extra}
[tool.compressgate.targets.edge]
hardware = "cpu"
recipe = {recipe}
{target_extra}
[tool.compressgate.tasks.intent]
data = "{data}"
metric = "accuracy"
max_drop = 0.1
{task_extra}
"""


def write_project(root: Path, model: Path, rows: list[dict], *, data: str = "data/test.jsonl", source_extra: str = "",
                  top_extra: str = "",
                  recipe: str = '[{ method = "prune-magnitude", sparsity = 0.3 }]', target_extra: str = "",
                  task_extra: str = "") -> Path:
    """A user's project: pyproject.toml, data/test.jsonl and a copy of the model under model/."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "model").exists():
        shutil.copytree(model, root / "model")
    (root / "data").mkdir(exist_ok=True)
    (root / "data" / "test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    text = PROJECT.format(source_extra=source_extra, top_extra=top_extra, recipe=recipe, target_extra=target_extra,
                          data=data,
                          task_extra=task_extra)
    (root / "pyproject.toml").write_text(text, encoding="utf-8")
    return root


def _corrupt_weights(root: Path) -> None:
    weights = root / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _non_utf8(root: Path) -> None:
    """The gate's own compressgate.toml saved as Latin-1 (a non-UTF-8 pyproject.toml is refused by pytest
    itself, which reads that file for its own settings before any plugin runs)."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text().replace("[tool.compressgate]\n", "").replace("tool.compressgate.", "")
    (root / "compressgate.toml").write_bytes(text.replace('metric = "accuracy"', 'metric = "accuracy"  # café')
                                             .encode("latin-1"))
    pyproject.unlink()


def _relabel(root: Path) -> None:
    path = root / "data" / "test.jsonl"
    path.write_text(path.read_text().replace('"billing"', '"invoices"'))


@dataclass(frozen=True)
class BadInput:
    name: str
    expected: str  # a substring of the one line
    project: dict[str, str]  # write_project's keyword arguments
    after: Callable[[Path], None] | None = None  # a change to the written files
    args: tuple[str, ...] = ()


BAD_INPUTS = [
    BadInput("NaN threshold", "tasks.intent.max_drop_increase = nan is invalid: expected a finite number",
             {"task_extra": "max_drop_increase = nan"}),
    BadInput("infinite threshold", "tasks.intent.min_score = inf is invalid: expected a finite number",
             {"task_extra": "min_score = inf"}),
    BadInput("batch_size <= 0", "tasks.intent.batch_size = -4 is invalid: expected an integer >= 1",
             {"task_extra": "batch_size = -4"}),
    BadInput("max_examples <= 0", "tasks.intent.max_examples = 0 is invalid: expected an integer >= 1",
             {"task_extra": "max_examples = 0"}),
    BadInput("non-UTF-8 config", "compressgate.toml: not UTF-8 text (byte 0xe9", {}, _non_utf8),
    BadInput("unhashable method", "targets.edge.recipe[0].method: unknown compression method ['prune-magnitude']",
             {"recipe": '[{ method = ["prune-magnitude"] }]'}),
    BadInput("stage key '²'", "targets.edge.stages.²: expected a stage number from 0 to 0",
             {"target_extra": 'stages = { "²" = { max_drop = 0.1 } }'}),
    BadInput("format chain", "recipe[1].method = 'distill' cannot follow",
             {"recipe": '[{ method = "torch-dynamic-int8" }, { method = "distill", data = "data/test.jsonl" }]'}),
    BadInput("missing data file", "tasks.intent.data = 'data/missing.jsonl': no such file",
             {"data": "data/missing.jsonl"}),
    BadInput("empty .jsonl", "is empty; give a file with one example per row", {},
             lambda root: (root / "data" / "test.jsonl").write_text("")),
    BadInput("malformed .jsonl", "test.jsonl': cannot be read (ValueError: Trailing data", {},
             lambda root: (root / "data" / "test.jsonl").write_text('{"text": "a", "label": 1}\n{"text": \n')),
    BadInput("missing column", "tasks.intent.text_column = 'utterance': the data has no such column; columns:",
             {"task_extra": 'text_column = "utterance"'}),
    BadInput("unknown labels", "labels ['invoices'] are not the model's labels", {}, _relabel),
    BadInput("missing model path", "source.model = './models/support': no such directory",
             {"source_extra": ""}, lambda root: _replace(root, 'model = "model"', 'model = "./models/support"')),
    BadInput("corrupt safetensors", "model.safetensors is not a valid safetensors file", {}, _corrupt_weights),
    BadInput("unknown scorer", "tasks.intent.scorer = 'no-such-scorer'",
             {"task_extra": 'type = "custom"\nscorer = "no-such-scorer"\nmetric = "mean_score"'},
             lambda root: _replace(root, 'metric = "accuracy"\n', "")),
    BadInput("missing calibration file", "targets.edge.recipe[0].calibration = 'data/calib.jsonl': no such file",
             {"recipe": '[{ method = "gptq", bits = 4, calibration = "data/calib.jsonl" }]'}),
    BadInput("calibration file without its column", "calib.jsonl:1: no 'text' column (found: label, sentence); "
             "set text_column", {"recipe": '[{ method = "gptq", bits = 4, calibration = "data/calib.jsonl" }]'},
             lambda root: (root / "data" / "calib.jsonl").write_text('{"sentence": "a", "label": 1}\n')),
    BadInput("negative latency gate", "targets.edge.max_latency_ms = -5.0 is invalid: expected a number > 0",
             {"target_extra": "max_latency_ms = -5"}),
]


def _replace(root: Path, old: str, new: str) -> None:
    path = root / "pyproject.toml"
    path.write_text(path.read_text().replace(old, new, 1))


def gate_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "pytest", "--compress-gate", "-p", "no:cacheprovider", "-q", *args]


def run_gate(root: Path, *args: str, timeout: float = 600, env_extra: dict[str, str] | None = None,
             **kwargs: Any) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env_extra or {})}
    return subprocess.run(kwargs.pop("command", None) or gate_command(*args), cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout, **kwargs)


def check_bad_input(case: BadInput, root: Path, model: Path, rows: list[dict]) -> str | None:
    """None when the case gives exit 4 and one stderr line holding the expected text; else what it gave."""
    write_project(root, model, rows, **case.project)
    if case.after:
        case.after(root)
    result = run_gate(root, *case.args)
    return outcome(result.returncode, result.stderr, case)


def outcome(returncode: int, stderr: str, case: BadInput) -> str | None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    if returncode == 4 and len(lines) == 1 and case.expected in lines[0]:
        return None
    return f"exit {returncode}, {len(lines)} stderr lines: {(lines or ['(none)'])[0][:300]}"


def check_bad_inputs_in_one_process(cases: list[BadInput], base: Path, model: Path,
                                    rows: list[dict]) -> list[str | None]:
    """The same ``pytest --compress-gate`` runs, each by ``pytest.main`` in one child process (it starts Python
    once, not once per case: what keeps these cases fast enough for the unit suite)."""
    for i, case in enumerate(cases):
        write_project(base / f"case-{i}", model, rows, **case.project)
        if case.after:
            case.after(base / f"case-{i}")
    script = ("import json, sys; from benchmarks.campaign_cases import _driver; "
              f"print(json.dumps(_driver({str(base)!r}, {len(cases)})))")
    result = run_gate(base, command=[sys.executable, "-c", script], timeout=600,
                      env_extra={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    if result.returncode != 0:
        raise RuntimeError(f"driver failed: {result.stderr[-3000:]}")
    runs = json.loads(result.stdout.strip().splitlines()[-1])
    return [outcome(code, err, case) for (code, err), case in zip(runs, cases)]


def _driver(base: str, n: int) -> list[tuple[int, str]]:
    import contextlib
    import io

    import pytest

    runs = []
    for i in range(n):
        root = Path(base) / f"case-{i}"
        os.chdir(root)
        err, out = io.StringIO(), io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = pytest.main(["--compress-gate", "-p", "no:cacheprovider", "-q", f"--rootdir={root}"])
        runs.append((int(code), err.getvalue()))
    return runs
