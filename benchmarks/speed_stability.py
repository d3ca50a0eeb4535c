"""Does a speed gate ever act on a wrong number? The example's cpu-int8 speedup, timed quiet and under load.

The gate's own ``measure_timings`` (interleaved rounds, contention checks, one redo) times the example
project's ``cpu-int8`` artifact beside its source ``--repeats`` times on the machine as it is, then as
many times beside ``--busy`` processes that spin on the CPU (started and stopped by this script). Each
measurement must either land within 10% of the quiet measurements' median or be reported as unreliable;
a reliable number more than 10% off is a wrong number a gate would have acted on, and exits 1.

Run it on a machine nobody else is using (the quiet rows are only quiet if the machine is):

    HF_HUB_OFFLINE=1 python benchmarks/speed_stability.py [--project example_suite] [--target cpu-int8]
        [--repeats 3] [--busy 2]

The first run builds the example's source model and artifact into its ``.compressgate`` cache.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOLERANCE = 0.10


def spin() -> None:
    """A busy neighbour: one core's worth of pure-Python work until terminated."""
    x = 0
    while True:
        x = (x * 31 + 7) % 1_000_003


def measure(session, target: str, count: int) -> list[dict]:
    from pytest_compressgate.performance import measure_timings

    final = session.build(target).final
    source = session.load(session.source_dir, "source")
    compressed = session.load(final.artifact.path, target)
    task = next(iter(session.config.tasks))
    texts = [t for t in session.examples(task).inputs if isinstance(t, str)][:64]
    return [measure_timings(source, compressed, texts) for _ in range(count)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", default=str(ROOT / "example_suite"))
    parser.add_argument("--target", default="cpu-int8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=2, help="spinning processes beside the busy measurements")
    args = parser.parse_args(argv)
    project = Path(args.project).resolve()
    sys.path.insert(0, str(project))
    from conftest import pytest_compressgate_build_source  # the project's own hook builds its source

    from pytest_compressgate.config import load_config
    from pytest_compressgate.gate import GateSession

    session = GateSession(load_config(project / "pyproject.toml"), build_source=pytest_compressgate_build_source)
    rows = [("quiet", t) for t in measure(session, args.target, args.repeats)]
    neighbours = [multiprocessing.Process(target=spin, daemon=True) for _ in range(args.busy)]
    for p in neighbours:
        p.start()
    try:
        time.sleep(5.0)  # let the load average see them
        rows += [(f"beside {args.busy} busy", t) for t in measure(session, args.target, args.repeats)]
    finally:
        for p in neighbours:
            p.terminate()
            p.join()
    quiet = [t["speedup"] for condition, t in rows if condition == "quiet" and not t["unreliable"]]
    reference = statistics.median(quiet) if quiet else None
    print(f"{args.target} of {project.name}: speedup over the source, batch 1, "
          f"{len(rows[0][1]['rounds'])} rounds per measurement; quiet median "
          f"{'n/a (no reliable quiet run)' if reference is None else f'{reference:.2f}x'}")
    print(f"{'condition':<16} {'speedup':>8} {'95% interval':>16} {'vs quiet':>9}  status")
    wrong = False
    for condition, t in rows:
        low, high = t["speedup_interval"]
        off = None if reference is None else t["speedup"] / reference - 1
        if t["unreliable"]:
            status = f"reported unreliable: {t['unreliable']}"
        elif off is not None and abs(off) <= TOLERANCE:
            status = "OK (within 10%)"
        else:
            status = "WRONG NUMBER (reliable, but more than 10% off)" if off is not None else "no reference"
            wrong |= off is not None
        shown = "-" if off is None else f"{off:+.1%}"
        print(f"{condition:<16} {t['speedup']:>7.2f}x {f'[{low:.2f}, {high:.2f}]':>16} {shown:>9}  {status}")
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
