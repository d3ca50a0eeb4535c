"""Prefill timers and helpers for benchmarks/torchao_gpu.py; the decoder itself (greedy decoding into a static
KV cache, one captured CUDA graph per token, the step compiled by torch.compile first where asked) is the
gate's own, ``pytest_compressgate.decoding``, and is re-exported here under the names the script imports.

``GateDecode`` wraps decoders so that the gate's own ``performance.measure_timings`` times them: each call
it makes decodes ``new_tokens`` tokens at the batch of the input it passes, so its batch-1 latency is the
time of that many decoding steps and its speedup, interval and contention checks are the gate's.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

from pytest_compressgate.decoding import (
    PROMPT,
    Decoder,
    GateDecode,
    capture,
    configure_compile,
    reason,
    synchronize,
    synchronizes_not,
)

__all__ = ["PROMPT", "Decoder", "GateDecode", "Prefill", "configure_compile", "step_kernels", "turns"]


class Prefill:
    """One forward of a ``batch`` x ``length`` prompt (the last position's logits only, as generation asks),
    captured as a CUDA graph where capture works."""

    def __init__(self, model, batch: int, length: int) -> None:
        import torch

        self.model, self.device = model, str(model.device)
        self.ids = torch.randint(0, model.config.vocab_size, (batch, length), device=self.device,
                                 generator=torch.Generator(device=self.device).manual_seed(length + batch))
        self.graph, self.path = None, "eager"
        try:
            synchronizes_not(self.step, self.device)
            self.graph = capture(self.step, self.device)
            self.path = "cuda-graph" if self.graph is not None else "eager"
        except Exception as exc:  # noqa: BLE001 - reported; timed eagerly instead
            self.path = f"eager ({reason(exc)})"
            synchronize(self.device)

    def step(self) -> None:
        import torch

        with torch.inference_mode():
            self.model(input_ids=self.ids, use_cache=False, logits_to_keep=1)

    def seconds(self) -> float:
        synchronize(self.device)
        started = time.perf_counter()
        self.graph.replay() if self.graph is not None else self.step()
        synchronize(self.device)
        return time.perf_counter() - started


def turns(timers: dict[str, Any], rounds: int, pause_s: float) -> dict[str, float]:
    """Median seconds of each timer's ``seconds()`` over ``rounds``, the timers taking turns after a warm-up."""
    samples: dict[str, list[float]] = {label: [] for label in timers}
    for timer in timers.values():
        timer.seconds()
    for _ in range(rounds):
        for label, timer in timers.items():
            time.sleep(pause_s)
            samples[label].append(timer.seconds())
    return {label: statistics.median(v) for label, v in samples.items()}


def step_kernels(decoder: Decoder, top: int = 10) -> list[str]:
    """The GPU kernels of one decoding step (run step by step, compiled where the decoder compiles),
    costliest first, then how many launches the step makes in all."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    from compressors.methods.torchao_gpu_tensors import gpu_kernels

    if not decoder.device.startswith("cuda"):
        return []
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        decoder.step()
        torch.cuda.synchronize()

    kernels = gpu_kernels(prof.key_averages())
    total = sum(t for _, t in kernels) or 1.0
    launches = sum(e.count for e, _ in kernels)
    return [f"{e.key[:70]} ({t / total:.0%}, x{e.count})" for e, t in kernels[:top]] + [f"{launches} launches"]
