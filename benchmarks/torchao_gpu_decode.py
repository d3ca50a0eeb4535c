"""Decoding and prefill timers for benchmarks/torchao_gpu.py: greedy decoding into a static KV cache, one
captured CUDA graph per token (the decoding step compiled by torch.compile first, where asked), and a
prefill forward captured the same way.

``GateDecode`` wraps decoders so that the gate's own ``performance.measure_timings`` times them: each call
it makes decodes ``new_tokens`` tokens at the batch of the input it passes, so its batch-1 latency is the
time of that many decoding steps and its speedup, interval and contention checks are the gate's.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

PROMPT, CHECK_STEPS = 128, 8


def configure_compile() -> None:
    """Inductor settings of torchao's and gpt-fast's decoding benchmarks, and room for one compiled entry
    per model and batch (every model shares the forward's code object)."""
    import torch

    torch._inductor.config.coordinate_descent_tuning = True  # one-row matmuls become tuned reductions
    torch._inductor.config.triton.unique_kernel_names = True  # kernel names in profiles say what they fuse
    torch._inductor.config.fx_graph_cache = True
    for name in ("cache_size_limit", "recompile_limit", "accumulated_cache_size_limit",
                 "accumulated_recompile_limit"):
        if hasattr(torch._dynamo.config, name):
            setattr(torch._dynamo.config, name, 1024)


def synchronize(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.synchronize()


def static_cache(config, batch: int, length: int, device: str):
    import torch
    from transformers import StaticCache

    try:  # transformers 5: batch size, device and dtype are taken from the first update
        return StaticCache(config=config, max_cache_len=length)
    except TypeError:  # transformers 4.57
        return StaticCache(config=config, max_batch_size=batch, max_cache_len=length, device=device,
                           dtype=torch.bfloat16)


def capture(step, device: str):
    """``step`` (no arguments) as a replayable CUDA graph after two warm-up calls, or None on a CPU."""
    import torch

    if not device.startswith("cuda"):
        return None
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):  # warm-up off the default stream, as capture wants
        for _ in range(2):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.inference_mode(), torch.cuda.graph(graph):
        step()
    return graph


def synchronizes_not(step, device: str) -> None:
    """Raise if ``step`` waits for the GPU (``.item()``, a copy to the host): no graph can be captured then,
    and a failed capture can leave the stream unusable for the models after it."""
    import torch

    if not device.startswith("cuda"):
        return
    torch.cuda.set_sync_debug_mode("error")
    try:
        step()
    finally:
        torch.cuda.set_sync_debug_mode(0)


def rewind(cache, length: int) -> None:
    """Set a static cache's own count of cached tokens (newer transformers keep one per layer, as a tensor
    a captured graph reads) back to ``length``, so decoding resumes there without a new prefill."""
    import torch

    for layer in getattr(cache, "layers", []):
        count = getattr(layer, "cumulative_length", None)
        if isinstance(count, torch.Tensor):
            count.fill_(length)
        elif isinstance(count, int):
            layer.cumulative_length = length


def reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"


class Decoder:
    """Greedy decoding of ``new_tokens`` after a prompt, one token per step into a static cache, as a replayed
    CUDA graph where capture works, else step by step (``path`` says which, and why). ``compile_mode``
    other than "none" compiles the step's forward first; the prompt always runs eagerly."""

    def __init__(self, model, batch: int, new_tokens: int, compile_mode: str = "none") -> None:
        import torch

        self.model, self.batch, self.new = model, batch, new_tokens
        self.device = str(model.device)
        self.forward = model if compile_mode == "none" else torch.compile(model, mode=compile_mode, dynamic=False)
        self.prompt = torch.randint(0, model.config.vocab_size, (batch, PROMPT), device=self.device,
                                    generator=torch.Generator(device=self.device).manual_seed(batch))
        self.cache = static_cache(model.config, batch, PROMPT + new_tokens + CHECK_STEPS, self.device)
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=self.device)
        self.position = torch.zeros(1, dtype=torch.long, device=self.device)
        self.graph, self.path, self.compile_s = None, "eager", 0.0
        self.prefill()
        started = time.perf_counter()
        self.step()  # compiles (and tunes) outside the sync check and the capture
        synchronize(self.device)
        self.compile_s = time.perf_counter() - started
        step_name = "compiled step" if compile_mode != "none" else "step"
        try:
            synchronizes_not(self.step, self.device)
            self.graph = capture(self.step, self.device)
            self.path = f"cuda-graph of the {step_name}" if self.graph is not None else step_name
        except Exception as exc:  # noqa: BLE001 - the reason is printed and the step-by-step path timed instead
            self.path = f"{step_name}, no graph ({reason(exc)})"
            synchronize(self.device)

    def prefill(self) -> None:
        import torch

        with torch.inference_mode():
            self.cache.reset()  # in place: transformers 5 counts the cached length inside the cache itself
            logits = self.model(input_ids=self.prompt, past_key_values=self.cache, use_cache=True,
                                cache_position=torch.arange(PROMPT, device=self.device)).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.fill_(PROMPT)

    def step(self, eager: bool = False) -> None:
        import torch

        with torch.inference_mode():
            logits = (self.model if eager else self.forward)(input_ids=self.token, past_key_values=self.cache,
                                                             use_cache=True, cache_position=self.position).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.add_(1)

    def tokens(self, eager: bool) -> list[list[int]]:
        self.prefill()
        out = []
        for _ in range(CHECK_STEPS):
            if eager:
                self.step(eager=True)
            else:
                self.graph.replay() if self.graph is not None else self.step()
            out.append(self.token.flatten().tolist())
        return out

    def agreement(self) -> str:
        """Steps at which the timed path (graph, compiled) picks the tokens of the plain eager model, from the
        same prompt."""
        same = sum(a == b for a, b in zip(self.tokens(eager=False), self.tokens(eager=True)))
        return f"{same}/{CHECK_STEPS}"

    def run(self) -> None:
        """``new`` decoding steps from the prompt's end (the cache past it is overwritten as they go)."""
        import torch

        with torch.inference_mode():  # the cache's tensors were made in inference mode
            self.position.fill_(PROMPT)
            rewind(self.cache, PROMPT)
        for _ in range(self.new):
            self.graph.replay() if self.graph is not None else self.step()
        synchronize(self.device)

    def seconds(self) -> float:
        started = time.perf_counter()
        self.run()
        return time.perf_counter() - started


class GateDecode:
    """Decoders called the way the gate's ``measure_timings`` calls a model: ``model(**tokenized)``, on the
    host; each call decodes ``new`` tokens with the decoder of the input's batch size."""

    def __init__(self, decoders: dict[int, Decoder], tokenizer: Any) -> None:
        self.decoders, self.tokenizer = decoders, tokenizer

    def __call__(self, **inputs: Any) -> None:
        self.decoders[int(inputs["input_ids"].shape[0])].run()


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


def step_kernels(decoder: Decoder, top: int = 4) -> list[str]:
    """The GPU kernels of one decoding step (run step by step, compiled where the decoder compiles),
    costliest first."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    if not decoder.device.startswith("cuda"):
        return []
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        decoder.step()
        torch.cuda.synchronize()

    def gpu_time(e) -> float:
        return float(getattr(e, "self_device_time_total", 0) or getattr(e, "self_cuda_time_total", 0) or 0)

    events = sorted((e for e in prof.key_averages() if gpu_time(e) > 0 and not e.key.startswith("aten::")),
                    key=gpu_time, reverse=True)
    total = sum(gpu_time(e) for e in events) or 1.0
    return [f"{e.key[:90]} ({gpu_time(e) / total:.0%}, x{e.count})" for e in events[:top]]
