"""Size and speed of a compressed model, measured side by side with its source in the same process.

Timings run in ``ROUNDS`` interleaved rounds after warm-up; each round times a block of calls of each model
(in ABBA order across rounds, so a steady drift hits both alike), with an untimed pause between turns so
one runtime's still-spinning worker threads never steal the cores from the other. Each round gives one
speedup; their log-mean and a one-sided Student-t bound across rounds give the speedup and its interval,
and a speed gate checks the *lower* bound, not a lucky round.

Contention is detected, not assumed away: the one-minute load average beyond this process, CPU steal
time (``/proc/stat``) and the spread between rounds. A contended measurement is redone once; if it is
still contended, it is reported as unreliable, never cached, and no speed gate is checked on it.

Sizes count weight files only; effective bits divide them by the source's parameter count (read from
safetensors headers, no model load needed).
"""

from __future__ import annotations

import json
import math
import os
import statistics
import struct
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PAUSE_S = 0.3  # untimed pause between models' turns: OpenMP / ONNX Runtime threads spin after a run
SPEED_METHOD = 3  # part of the timings' cache key: bump when measure_speed changes, so old timings are redone
ROUNDS = 5  # interleaved rounds, each giving one speedup
CONFIDENCE = 0.95  # one-sided, for the speedup's bounds
MAX_SPREAD = 1.10  # rounds' speedups further apart than this ratio (max / min) mean the machine was not steady
MAX_BUSY_CORES = 0.5  # load beyond this process above this share of the cores means others compete
MAX_STEAL = 0.05  # share of CPU time stolen by the hypervisor
WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".onnx_data", ".data")


def weight_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))


def parameter_count(path: Path) -> int:
    """Elements of every tensor in a directory's safetensors files, read from their JSON headers."""
    total = 0
    for file in Path(path).glob("*.safetensors"):
        with open(file, "rb") as fh:
            (size,) = struct.unpack("<Q", fh.read(8))
            header = json.loads(fh.read(size))
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info["shape"]:
                    count *= dim
                total += count
    return total


@dataclass
class Timing:
    latency_ms_median: float
    latency_ms_p95: float
    throughput: float  # examples per second at the throughput batch size
    rounds_ms: list[float] = field(default_factory=list)  # median batch-1 latency of each round


class UnreliableTiming(Exception):
    """Raised inside a cache build so a contended measurement is never stored (``timings`` carries it)."""

    def __init__(self, timings: dict[str, Any]) -> None:
        super().__init__(timings.get("unreliable"))
        self.timings = timings


@dataclass
class Performance:
    source_weight_bytes: int
    weight_bytes: int
    size_ratio: float
    bits_per_weight: float | None
    source: Timing | None = None
    compressed: Timing | None = None
    speedup: float | None = None  # source median latency / compressed median latency (batch 1)
    throughput_ratio: float | None = None
    devices: dict[str, str] = field(default_factory=dict)  # where each model was timed ("cpu", "cuda:0")
    speedup_interval: list[float] | None = None  # one-sided bounds at CONFIDENCE each, across rounds
    unreliable: str | None = None  # why the timings cannot be trusted (contention), or None
    off_target: str | None = None  # timed on hardware other than the target's: what this machine lacks
    decode: dict[str, Any] | None = None  # decoding was timed, not a forward (decoding.measure_decode_timings)

    @property
    def speed_caveat(self) -> str | None:
        """What a reader of a speedup must know: unreliable, or timed on other hardware, or both."""
        parts = [f"unreliable: {self.unreliable}" if self.unreliable else None,
                 f"timed on other hardware than the target's ({self.off_target})" if self.off_target else None]
        return "; ".join(p for p in parts if p) or None

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "speed_caveat": self.speed_caveat}

    def set_timings(self, timings: dict[str, Any]) -> None:
        """Fill the speed fields from ``measure_speed``'s document (fresh or cached)."""
        self.source, self.compressed = Timing(**timings["source"]), Timing(**timings["compressed"])
        self.devices = timings.get("devices", {})
        self.speedup, self.speedup_interval = timings["speedup"], timings["speedup_interval"]
        self.throughput_ratio = self.compressed.throughput / self.source.throughput
        self.unreliable = timings.get("unreliable")
        self.decode = timings.get("decode")  # absent from prefill timings and from older documents


def measure_sizes(source_dir: Path, artifact_dir: Path, stats: dict[str, Any]) -> Performance:
    src, art = weight_bytes(source_dir), weight_bytes(artifact_dir)
    params = parameter_count(source_dir)
    bits = stats.get("effective_bits_model") or (art * 8 / params if params else None)
    return Performance(source_weight_bytes=src, weight_bytes=art, size_ratio=src / art if art else float("nan"),
                       bits_per_weight=bits)


def _call(model: Any, batch: dict[str, Any]) -> None:
    import torch

    with torch.inference_mode():
        model(**batch)


def measure_speed(source: Any, compressed: Any, texts: Sequence[str], **options: Any) -> tuple[Timing, Timing]:
    """Both models' timings alone (for benchmarks); ``measure_timings`` has the speedup's interval too."""
    timings = measure_timings(source, compressed, texts, **options)
    return Timing(**timings["source"]), Timing(**timings["compressed"])


def measure_timings(source: Any, compressed: Any, texts: Sequence[str], *, repeats: int = 30, warmup: int = 3,
                    batch_size: int = 32, max_length: int = 128, rounds: int = ROUNDS) -> dict[str, Any]:
    """Batch-1 latency and batch throughput of both models over interleaved rounds, redone once if the
    machine was contended; the document has both timings, the speedup, its interval and ``unreliable``."""
    first = _measure_once(source, compressed, texts, repeats, warmup, batch_size, max_length, rounds)
    if not first["unreliable"]:
        return first
    time.sleep(2.0)
    second = _measure_once(source, compressed, texts, repeats, warmup, batch_size, max_length, rounds)
    if second["unreliable"]:
        second["unreliable"] = f"{second['unreliable']} (measured twice)"
    return second


def _measure_once(source: Any, compressed: Any, texts: Sequence[str], repeats: int, warmup: int,
                  batch_size: int, max_length: int, rounds: int) -> dict[str, Any]:
    texts = list(texts) or ["hello"]
    per_round = max(3, repeats // 3)
    one = [source.tokenizer(texts[i % len(texts)], truncation=True, max_length=max_length, return_tensors="pt")
           for i in range(per_round)]
    many = source.tokenizer(texts[:batch_size], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
    models = {"source": source, "compressed": compressed}
    for model in models.values():
        for i in range(warmup):
            _call(model, one[i % len(one)])
        _call(model, many)
    load_before, steal_before = _load(), _cpu_times()
    lat: dict[str, list[list[float]]] = {name: [] for name in models}
    thr: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds):
        order = list(models.items()) if r % 2 == 0 else list(reversed(models.items()))  # ABBA across rounds
        for name, model in order:
            time.sleep(PAUSE_S)  # the previous model's runtime threads stop spinning first
            _call(model, one[0])  # untimed: wakes this model's runtime threads after the pause
            block = []
            for inputs in one:
                start = time.perf_counter()
                _call(model, inputs)
                block.append((time.perf_counter() - start) * 1000)
            lat[name].append(block)
            if r < 3:
                start = time.perf_counter()
                _call(model, many)
                thr[name].append(len(texts[:batch_size]) / (time.perf_counter() - start))
    speedups = [statistics.median(s) / statistics.median(c) for s, c in zip(lat["source"], lat["compressed"])]
    logs = [math.log(x) for x in speedups]
    centre = statistics.fmean(logs)
    half = _t_quantile(len(logs) - 1) * statistics.stdev(logs) / math.sqrt(len(logs)) if len(logs) > 1 else math.inf
    reasons = _contention(loads=[load_before, _load()], steal=_steal_share(steal_before, _cpu_times()),
                          speedups=speedups)

    def timing(name: str) -> dict[str, Any]:
        pooled = sorted(x for block in lat[name] for x in block)
        return asdict(Timing(statistics.median(pooled), pooled[min(len(pooled) - 1, int(0.95 * len(pooled)))],
                             statistics.median(thr[name]), [statistics.median(b) for b in lat[name]]))

    return {"source": timing("source"), "compressed": timing("compressed"), "speedup": math.exp(centre),
            "speedup_interval": [math.exp(centre - half), math.exp(centre + half)], "rounds": speedups,
            "unreliable": "; ".join(reasons) or None}


def _t_quantile(df: int) -> float:
    from scipy import stats as sps

    return float(sps.t.ppf(CONFIDENCE, df))


def _load() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def _cpu_times() -> tuple[int, int] | None:
    """(steal, total) jiffies from /proc/stat, or None where there is no such file."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = [int(x) for x in fh.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return (fields[7] if len(fields) > 7 else 0), sum(fields)


def _steal_share(before: tuple[int, int] | None, after: tuple[int, int] | None) -> float | None:
    if not before or not after or after[1] <= before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1])


def _contention(*, loads: list[float | None], steal: float | None, speedups: list[float],
                cores: int | None = None) -> list[str]:
    """Why this measurement cannot be trusted: other work on the cores, stolen CPU, unsteady rounds."""
    reasons = []
    cores = cores or os.cpu_count() or 1
    known = [x for x in loads if x is not None]
    if known and max(known) - 1.0 > MAX_BUSY_CORES * cores:  # this process itself accounts for about 1
        reasons.append(f"load average {max(known):.1f} on {cores} core(s): other processes competed")
    if steal is not None and steal > MAX_STEAL:
        reasons.append(f"{steal:.0%} of CPU time stolen by the hypervisor")
    spread = max(speedups) / min(speedups)
    if spread > MAX_SPREAD:
        reasons.append(f"rounds' speedups spread {min(speedups):.2f}x-{max(speedups):.2f}x")
    return reasons


def check_gates(perf: Performance, *, min_size_ratio: float | None, min_speedup: float | None,
                max_latency_ms: float | None, speed_representative: str | None,
                ) -> tuple[list[tuple[str, str]], list[str]]:
    """Failures, as (check name, message) pairs, and notes for the target's optional performance gates.

    ``min_speedup`` is checked against the speedup's lower bound across rounds (the point value where no
    interval exists, as for timings cached by an older method); unreliable timings check no speed gate.
    """
    failures: list[tuple[str, str]] = []
    notes: list[str] = []
    if min_size_ratio is not None and not perf.size_ratio >= min_size_ratio:
        failures.append(("size", f"size ratio {perf.size_ratio:.2f}x is below min_size_ratio = {min_size_ratio}"))
    speed_gated = min_speedup is not None or max_latency_ms is not None
    if speed_gated and speed_representative:
        notes.append(f"speed gates not checked: {speed_representative}")
        return failures, notes
    if speed_gated and perf.unreliable:
        notes.append(f"speed gates not checked: the timings are unreliable ({perf.unreliable}); rerun on a quiet "
                     "machine")
        return failures, notes
    bound = perf.speedup_interval[0] if perf.speedup_interval else perf.speedup
    if min_speedup is not None and bound is not None and bound < min_speedup:
        shown = f"lower {CONFIDENCE:.0%} bound {bound:.2f}x of the speedup {perf.speedup:.2f}x" \
            if perf.speedup_interval else f"speedup {perf.speedup:.2f}x"
        timed = "decoding at batch 1" if perf.decode else "batch 1"
        failures.append(("speed", f"{shown} ({timed}, {ROUNDS} rounds) is below min_speedup = {min_speedup}"))
    if max_latency_ms is not None and perf.compressed is not None \
            and perf.compressed.latency_ms_median > max_latency_ms:
        timed = f" ({perf.decode['new_tokens']} decoding steps)" if perf.decode else ""
        failures.append(("latency", f"median latency {perf.compressed.latency_ms_median:.2f} ms{timed} is above "
                                    f"max_latency_ms = {max_latency_ms}"))
    return failures, notes
