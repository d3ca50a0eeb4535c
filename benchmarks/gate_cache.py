"""How much a gate run costs cold, warm, and after one recipe changes — measured side by side.

Copies example_suite/ into a temporary folder and runs its declared gates (the config file, not the
team's own custom tests) (its fine-tuned source model is copied too: training it
is the team's own step, not the gate's), then runs `pytest --compress-gate` three times and prints wall
times, their ratios, which artifacts each run built, and how the cold run's time splits between
compression, model inference (scoring and timing) and the gate's own overhead.

    .venv/bin/python benchmarks/gate_cache.py [--keep]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "example_suite"


def run_gate(project: Path, *extra: str) -> tuple[float, int, str]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "pyproject.toml", "--compress-gate", "-q",
               "-p", "no:cacheprovider", "-p", "no:hypothesispytest", *extra]
    proc = subprocess.run(command, cwd=project, capture_output=True, text=True)
    return time.perf_counter() - started, proc.returncode, proc.stdout + proc.stderr


def builds(project: Path) -> list[dict]:
    log = project / ".compressgate" / "builds.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def change_one_recipe(project: Path) -> str:
    """Flip per_channel on the first onnx-dynamic-int8 step; returns the target whose recipe changed."""
    config = project / "pyproject.toml"
    text = config.read_text()
    match = re.search(r"\[tool\.compressgate\.targets\.([\w-]+)\]\n(?:[^\[]*\n)*?recipe = .*onnx-dynamic-int8.*", text)
    if not match:
        sys.exit("no target with an onnx-dynamic-int8 step to change")
    changed = match.group(0).replace("per_channel = true", "per_channel = false", 1)
    if changed == match.group(0):
        changed = match.group(0).replace('method = "onnx-dynamic-int8"',
                                         'method = "onnx-dynamic-int8", per_channel = false', 1)
    config.write_text(text.replace(match.group(0), changed))
    return match.group(1)


def summarize(events: list[dict]) -> dict[str, float]:
    out: dict[str, float] = {}
    for e in events:
        out[e["kind"]] = out.get(e["kind"], 0.0) + e["seconds"]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the temporary project for inspection")
    args = parser.parse_args()
    models = EXAMPLE / ".compressgate" / "models"
    if not models.is_dir():
        print("building the example's source model first (one-time fine-tuning) ...")
        subprocess.run([sys.executable, str(EXAMPLE / "finetune.py")], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="compressgate-bench-"))
    project = tmp / "example_suite"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns(".compressgate", "__pycache__", ".pytest_cache"))
    shutil.copytree(models, project / ".compressgate" / "models")

    cold, rc_cold, out_cold = run_gate(project)
    cold_events = builds(project)
    warm, rc_warm, _ = run_gate(project)
    warm_events = builds(project)[len(cold_events):]
    target = change_one_recipe(project)
    changed, rc_changed, _ = run_gate(project)
    changed_events = builds(project)[len(cold_events) + len(warm_events):]

    spent = summarize(cold_events)
    compression = spent.get("artifacts", 0.0)
    inference = spent.get("predictions", 0.0) + spent.get("speed", 0.0)
    training = spent.get("models", 0.0)  # the team's own fine-tuning, if the copied model was stale
    overhead = cold - compression - inference - training
    print(f"\nexample suite gate, {len(cold_events)} cache entries built cold "
          f"(exit codes {rc_cold}/{rc_warm}/{rc_changed})")
    print(f"{'run':<28}{'wall s':>9}{'vs cold':>10}  built")
    print(f"{'cold':<28}{cold:>9.1f}{1:>10.1%}  {len([e for e in cold_events if e['kind'] == 'artifacts'])} artifacts")
    print(f"{'warm (nothing changed)':<28}{warm:>9.1f}{warm / cold:>10.1%}  {len(warm_events)} entries")
    rebuilt = [e for e in changed_events if e["kind"] == "artifacts"]
    repredicted = [e for e in changed_events if e["kind"] == "predictions"]
    print(f"{'one recipe changed':<28}{changed:>9.1f}{changed / cold:>10.1%}  {len(rebuilt)} artifact(s) "
          f"(changed target: {target}; predictions rebuilt: {len(repredicted)})")
    print(f"\ncold run split: compression {compression:.1f} s ({compression / cold:.0%}), model inference "
          f"{inference:.1f} s ({inference / cold:.0%}), source training {training:.1f} s, "
          f"gate overhead {overhead:.1f} s ({overhead / cold:.0%}: "
          "python and library imports, data loading, hashing, statistics, reports)")
    print(f"warm/cold = {warm / cold:.3f} (goal <= 0.05); overhead share = {overhead / (cold - training):.3f} "
          "of the gate's own cold time (goal <= 0.10)")
    if rc_cold not in (0, 1):
        print(out_cold[-3000:])
    if args.keep:
        print(f"project kept at {project}")
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
