"""Compare two compressgate.json reports row by row: the same verdicts, scores and intervals, or what differs.

    python benchmarks/compare_reports.py BEFORE/compressgate.json AFTER/compressgate.json

Used to check that a change to the gate's code leaves a project's verdicts as they were (timings aside:
they are measured again on every machine and differ by noise).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

FIELDS = ("passed", "outcome", "n", "source_score", "compressed_score", "drop", "allowed_drop", "interval",
          "p_value")


def rows(path: Path) -> dict[tuple, dict]:
    document = json.loads(path.read_text(encoding="utf-8"))
    return {(r["task"], r["target"], r.get("stage") or "final"): r for r in document["comparisons"]}


def main(before: str, after: str) -> int:
    old, new = rows(Path(before)), rows(Path(after))
    differences = 0
    for key in sorted(old.keys() | new.keys()):
        if key not in old or key not in new:
            print(f"{key}: only in {'after' if key in new else 'before'}")
            differences += 1
            continue
        changed = [f for f in FIELDS if old[key].get(f) != new[key].get(f)]
        verdict = "PASS" if new[key]["passed"] else "FAIL"
        scores = f"{new[key]['source_score']:.4f} -> {new[key]['compressed_score']:.4f}"
        print(f"{'/'.join(map(str, key)):40s} {verdict:4s} {new[key].get('outcome', ''):12s} {scores}  "
              + ("same verdict, scores, interval and p-value" if not changed else f"DIFFERS: {', '.join(changed)}"))
        differences += bool(changed)
    print(f"{len(new)} rows, {differences} differing")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
