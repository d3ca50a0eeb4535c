"""Size and speed of a compressed model, measured side by side with its source in the same process.

Timings interleave the two models in blocks (source, artifact, source, ...) after warm-up, so drift on a
noisy machine hits both alike, with an untimed pause between turns so one runtime's still-spinning
worker threads never steal the cores from the other. Sizes count weight files only; effective bits divide them by the source's
parameter count (read from safetensors headers, no model load needed).
"""

from __future__ import annotations

import json
import statistics
import struct
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

PAUSE_S = 0.3  # untimed pause between models' turns: OpenMP / ONNX Runtime threads spin after a run
SPEED_METHOD = 2  # part of the timings' cache key: bump when measure_speed changes, so old timings are redone
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

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


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


def measure_speed(source: Any, compressed: Any, texts: Sequence[str], *, repeats: int = 30, warmup: int = 3,
                  batch_size: int = 32, max_length: int = 128) -> tuple[Timing, Timing]:
    """Batch-1 latency (median, p95) and batch throughput of both models, interleaved."""
    texts = list(texts) or ["hello"]
    one = [source.tokenizer(texts[i % len(texts)], truncation=True, max_length=max_length, return_tensors="pt")
           for i in range(repeats)]
    many = source.tokenizer(texts[:batch_size], padding=True, truncation=True, max_length=max_length,
                            return_tensors="pt")
    models = {"source": source, "compressed": compressed}
    lat: dict[str, list[float]] = {name: [] for name in models}
    thr: dict[str, list[float]] = {name: [] for name in models}
    for model in models.values():
        for i in range(warmup):
            _call(model, one[i % len(one)])
        _call(model, many)
    block = max(1, repeats // 3)
    for start_index in range(0, repeats, block):  # blocks of calls, models taking turns
        for name, model in models.items():
            time.sleep(PAUSE_S)  # the previous model's runtime threads stop spinning first
            _call(model, one[start_index])  # untimed: wakes this model's runtime threads after the pause
            for i in range(start_index, min(start_index + block, repeats)):
                start = time.perf_counter()
                _call(model, one[i])
                lat[name].append((time.perf_counter() - start) * 1000)
    for _ in range(3):
        for name, model in models.items():
            time.sleep(PAUSE_S)
            _call(model, one[0])
            start = time.perf_counter()
            _call(model, many)
            thr[name].append(len(texts[:batch_size]) / (time.perf_counter() - start))

    def timing(name: str) -> Timing:
        ordered = sorted(lat[name])
        return Timing(statistics.median(ordered), ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
                      statistics.median(thr[name]))

    return timing("source"), timing("compressed")


def check_gates(perf: Performance, *, min_size_ratio: float | None, min_speedup: float | None,
                max_latency_ms: float | None, speed_representative: str | None) -> tuple[list[str], list[str]]:
    """Failures and notes for the target's optional performance gates."""
    failures, notes = [], []
    if min_size_ratio is not None and not perf.size_ratio >= min_size_ratio:
        failures.append(f"size ratio {perf.size_ratio:.2f}x is below min_size_ratio = {min_size_ratio}")
    speed_gated = min_speedup is not None or max_latency_ms is not None
    if speed_gated and speed_representative:
        notes.append(f"speed gates not checked: {speed_representative}")
        return failures, notes
    if min_speedup is not None and perf.speedup is not None and perf.speedup < min_speedup:
        failures.append(f"speedup {perf.speedup:.2f}x (batch 1, median) is below min_speedup = {min_speedup}")
    if max_latency_ms is not None and perf.compressed is not None \
            and perf.compressed.latency_ms_median > max_latency_ms:
        failures.append(f"median latency {perf.compressed.latency_ms_median:.2f} ms is above "
                        f"max_latency_ms = {max_latency_ms}")
    return failures, notes
