"""Decoding speed: greedy decoding of ``new_tokens`` tokens after a prompt, one token per step into a static
KV cache, the step compiled by torch.compile where asked and captured as one CUDA graph replayed per token.

What decides a causal language model's serving cost on a GPU is decoding, one token at a time with the
weights read once per token, not the prefill forward ``performance.measure_timings`` times for every model.
``measure_decode_timings`` times decoding through ``measure_timings`` itself (its interleaved rounds,
speedup interval and contention checks): each call it makes decodes ``new_tokens`` tokens at the batch of
the input it passes (``GateDecode``), so its batch-1 latency is the time of that many decoding steps and its
throughput is sequences of that many tokens per second at ``batch_size``.

torch and transformers are imported inside functions: importing this module stays cheap.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from .performance import ROUNDS, measure_timings

PROMPT, CHECK_STEPS = 128, 8  # prompt tokens before decoding; steps compared with the eager model
# Tokens per timed call: 32 steps of a 7B on one GPU take tens of milliseconds (steady against the launch
# overhead of a call), of a tiny model on CPU a few milliseconds.
NEW_TOKENS = 32
DECODE_BATCH = 16  # the throughput batch: a server decodes many sequences per step
DECODE_METHOD = 2  # part of the decode timings' cache key: bump when the decoder changes what it times


def configure_compile() -> None:
    """Inductor settings of torchao's and gpt-fast's decoding benchmarks, and room for one compiled entry
    per model and batch (every model shares the forward's code object). Global: called only to compile."""
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


def static_cache(config: Any, batch: int, length: int, device: str, dtype: Any = None) -> Any:
    import torch
    from transformers import StaticCache

    try:  # transformers 5: batch size, device and dtype are taken from the first update
        return StaticCache(config=config, max_cache_len=length)
    except TypeError:  # transformers 4.57
        return StaticCache(config=config, max_batch_size=batch, max_cache_len=length, device=device,
                           dtype=dtype or torch.bfloat16)


def capture(step: Any, device: str) -> Any:
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


def synchronizes_not(step: Any, device: str) -> None:
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


def rewind(cache: Any, length: int) -> None:
    """Set a static cache's own count of cached tokens (newer transformers keep one per layer, as a tensor
    a captured graph reads) back to ``length``, so decoding resumes there without a new prefill."""
    import torch

    for layer in getattr(cache, "layers", []):
        count = getattr(layer, "cumulative_length", None)
        if isinstance(count, torch.Tensor):
            count.fill_(length)
        elif isinstance(count, int):
            layer.cumulative_length = length


def cache_argument(model: Any) -> str:
    """The forward's name for the KV cache: ``cache`` in newer transformers 5 (which warn on the old one),
    ``past_key_values`` before."""
    import inspect

    try:
        return "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
    except (TypeError, ValueError):
        return "past_key_values"


def compiled_graphs() -> int:
    """How many graphs torch.compile has made in this process so far."""
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


def reason(exc: Exception) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"


class Decoder:
    """Greedy decoding of ``new_tokens`` after a prompt, one token per step into a static cache, as a replayed
    CUDA graph where capture works, else step by step (``path`` says which, and why). ``compile_mode``
    other than "none" compiles the step's forward first (eagerly where compiling fails, which ``path``
    says too); the prompt always runs eagerly."""

    def __init__(self, model: Any, batch: int, new_tokens: int, compile_mode: str = "none") -> None:
        import torch

        self.model, self.batch, self.new = model, batch, new_tokens
        self.device, self.cache_arg = str(model.device), cache_argument(model)
        if compile_mode != "none":
            configure_compile()
        self.forward = model if compile_mode == "none" else torch.compile(model, mode=compile_mode, dynamic=False)
        self.prompt = torch.randint(0, model.config.vocab_size, (batch, PROMPT), device=self.device,
                                    generator=torch.Generator(device=self.device).manual_seed(batch))
        self.cache = static_cache(model.config, batch, PROMPT + new_tokens + CHECK_STEPS, self.device,
                                  getattr(model, "dtype", None))
        self.token = torch.zeros(batch, 1, dtype=torch.long, device=self.device)
        self.position = torch.zeros(1, dtype=torch.long, device=self.device)
        self.graph, self.path, self.compile_s = None, "eager", 0.0
        self.prefill()
        step_name = "compiled step" if compile_mode != "none" else "step"
        started = time.perf_counter()
        try:
            self.step()  # compiles (and tunes) outside the sync check and the capture
            if compile_mode != "none":
                graphs = compiled_graphs()
                self.step()
                self.step()
                if compiled_graphs() != graphs:  # each step's compile would then be timed, token by token
                    raise RuntimeError("it compiles anew each token (the step depends on a value that changes)")
        except Exception as exc:  # noqa: BLE001 - the reason is in the path, and the eager step is timed
            if compile_mode == "none":
                raise
            self.forward, step_name = model, f"step, not compiled ({reason(exc)})"
            self.prefill()
            self.step()
        synchronize(self.device)
        self.compile_s = time.perf_counter() - started
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
            logits = self.model(input_ids=self.prompt, **{self.cache_arg: self.cache}, use_cache=True,
                                cache_position=torch.arange(PROMPT, device=self.device)).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.fill_(PROMPT)

    def step(self, eager: bool = False) -> None:
        import torch

        with torch.inference_mode():
            logits = (self.model if eager else self.forward)(input_ids=self.token, **{self.cache_arg: self.cache},
                                                             use_cache=True, cache_position=self.position).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.add_(1)

    def _advance(self, eager: bool = False) -> None:
        if eager:
            self.step(eager=True)
        elif self.graph is not None:
            self.graph.replay()
        else:
            self.step()

    def tokens(self, eager: bool) -> list[list[int]]:
        self.prefill()
        out = []
        for _ in range(CHECK_STEPS):
            self._advance(eager)
            out.append(self.token.flatten().tolist())
        return out

    def greedy(self, count: int) -> list[list[int]]:
        """Each sequence's first ``count`` greedy tokens after the prompt, by the timed path (graph,
        compiled): what ``generate(do_sample=False)`` gives for ``self.prompt``."""
        if not 0 < count <= self.new + CHECK_STEPS:
            raise ValueError(f"count must be 1 to {self.new + CHECK_STEPS}, the cache's room")
        self.prefill()
        steps = [self.token.flatten().tolist()]
        for _ in range(count - 1):
            self._advance()
            steps.append(self.token.flatten().tolist())
        return [list(sequence) for sequence in zip(*steps)]

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
            self._advance()
        synchronize(self.device)

    def seconds(self) -> float:
        started = time.perf_counter()
        self.run()
        return time.perf_counter() - started


class GateDecode:
    """Decoders called the way ``measure_timings`` calls a model: ``model(**tokenized)``, on the host; each
    call decodes ``new`` tokens with the decoder of the input's batch size. A batch without a decoder in
    ``decoders`` gets one built from ``model`` on first use (the untimed warm-up)."""

    def __init__(self, decoders: dict[int, Decoder] | None, tokenizer: Any, *, model: Any = None,
                 new_tokens: int = NEW_TOKENS, compile_mode: str = "none",
                 say: Callable[[str], None] = lambda line: None) -> None:
        self.decoders, self.tokenizer = dict(decoders or {}), tokenizer
        self.model, self.new_tokens, self.compile_mode, self.say = model, new_tokens, compile_mode, say

    def decoder(self, batch: int) -> Decoder:
        if batch not in self.decoders:
            if self.model is None:
                raise KeyError(f"no decoder for batch {batch}, and no model to build one")
            import torch

            with torch.inference_mode(False):  # measure_timings calls in inference mode; built as outside it
                decoder = self.decoders[batch] = Decoder(self.model, batch, self.new_tokens, self.compile_mode)
            self.say(f"batch {batch}: {decoder.path}, ready in {decoder.compile_s:.1f} s")
        return self.decoders[batch]

    def __call__(self, **inputs: Any) -> None:
        self.decoder(int(inputs["input_ids"].shape[0])).run()


def count_texts(texts: str | Sequence[str], **_: Any) -> dict[str, Any]:
    """A tokenizer for ``GateDecode`` that gives only the batch size: the decoder decodes from its own prompt,
    so the texts' tokens are never read (and a tokenizer without a padding token pads nothing)."""
    import torch

    return {"input_ids": torch.zeros(1 if isinstance(texts, str) else len(texts), 1, dtype=torch.long)}


def not_decodable(loaded: Any) -> str | None:
    """Why a loaded model is not timed decoding (an ONNX Runtime session, a model left on the CPU), or None."""
    import torch

    model = loaded.model
    if not isinstance(model, torch.nn.Module) or not hasattr(model, "config"):
        return f"{loaded.label} is no transformers torch model ({type(model).__name__})"
    if not str(model.device).startswith("cuda"):
        return f"{loaded.label} runs on {model.device}, not a CUDA GPU"
    return None


def decode_parameters(*, new_tokens: int = NEW_TOKENS, batch_size: int = DECODE_BATCH,
                      compile_mode: str = "default") -> dict[str, Any]:
    """What decode timings depend on beyond the models and the machine: part of their cache key."""
    return {"method": DECODE_METHOD, "prompt_tokens": PROMPT, "new_tokens": new_tokens,
            "batch_sizes": [1, batch_size], "compile_mode": compile_mode}


def copy_bandwidth(device: str, gib: float = 1.0) -> float:
    """Bytes per second a copy on ``device`` moves, read plus written (median of 10 after 3 warm-ups): the
    memory's practical bandwidth, against which a decoding step's weight reads are set."""
    import torch

    src = torch.randint(0, 255, (int(gib * 2**30),), dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    cuda = device.startswith("cuda")
    samples = []
    for i in range(13):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            dst.copy_(src)
            end.record()
            torch.cuda.synchronize()
            seconds = start.elapsed_time(end) / 1000
        else:
            began = time.perf_counter()
            dst.copy_(src)
            seconds = time.perf_counter() - began
        if i >= 3:
            samples.append(seconds)
    del src, dst
    samples.sort()
    return 2 * gib * 2**30 / samples[len(samples) // 2]


# the buffers that hold a weight in Int4Linear, Int4CudaLinear and MarlinLinear (compressors.kernels)
WEIGHT_BUFFERS = ("words", "weight", "scale", "zero_point", "scale_zero")


def weight_bytes_read(model: Any) -> int:
    """Bytes of weights one decoding step reads: every parameter as resident on the device (a quantized
    weight's values and scales, also the buffers of the INT4 kernels' layers: ``WEIGHT_BUFFERS``), less the input
    embedding table, of which a step reads only its tokens' rows (unless the head shares it)."""
    total, seen = 0, set()
    head = model.get_output_embeddings()
    for module_name, module in model.named_modules():
        tensors = [*module.parameters(recurse=False), *(b for n, b in module.named_buffers(recurse=False)
                                                         if n in WEIGHT_BUFFERS)]
        for p in tensors:
            if id(p) in seen:
                continue
            seen.add(id(p))
            names = list(getattr(p, "tensor_data_names", [])) + list(getattr(p, "optional_tensor_data_names", []))
            parts = [getattr(p, n) for n in names if getattr(p, n, None) is not None] or [p]
            tied = head is not None and getattr(head, "weight", None) is p
            if "embed_tokens" not in module_name or tied:
                total += sum(t.numel() * t.element_size() for t in parts)
    return total


def measure_decode_timings(source: Any, compressed: Any, texts: Sequence[str], *, new_tokens: int = NEW_TOKENS,
                           batch_size: int = DECODE_BATCH, compile_mode: str = "default", repeats: int = 15,
                           warmup: int = 2, rounds: int = ROUNDS,
                           say: Callable[[str], None] = lambda line: None) -> dict[str, Any]:
    """``measure_timings`` of greedy decoding for two loaded models (``.model``, a transformers causal LM):
    batch-1 latency is the time of ``new_tokens`` decoding steps after a ``PROMPT``-token prompt, throughput
    is sequences of ``new_tokens`` tokens per second at ``batch_size``. The document gains a ``decode``
    block: the parameters, the path each model took, tokens per second at each batch, compile seconds, and
    beside the rates their weight-bandwidth bounds (batch x the copy bandwidth measured here / the bytes
    of weights a step reads).
    ``texts`` only count: the prompt is the decoder's own (random tokens, the same for both models).
    ``say`` gets a line as each decoder is ready (its path and the seconds its compile took) and when the
    timing ends: a slow compile or an uncompiled step shows while it runs."""
    started = time.perf_counter()

    def saying(name: str) -> Callable[[str], None]:
        return lambda line: say(f"{name} {line}")

    adapters = {name: GateDecode(None, count_texts, model=loaded.model, new_tokens=new_tokens,
                                 compile_mode=compile_mode, say=saying(name))
                for name, loaded in (("source", source), ("compressed", compressed))}
    given = list(texts) or ["decode"]  # as many as the throughput batch, so that it is batch_size sequences
    texts = [given[i % len(given)] for i in range(max(batch_size, len(given)))]
    timings = measure_timings(adapters["source"], adapters["compressed"], texts, repeats=repeats, warmup=warmup,
                              batch_size=batch_size, max_length=8, rounds=rounds)
    params = decode_parameters(new_tokens=new_tokens, batch_size=batch_size, compile_mode=compile_mode)
    batches = params["batch_sizes"]

    def path(adapter: GateDecode) -> str:
        paths = {b: adapter.decoders[b].path for b in batches if b in adapter.decoders}
        if len(set(paths.values())) == 1:
            return next(iter(paths.values()))
        return "; ".join(f"batch {b}: {p}" for b, p in paths.items())

    timings["decode"] = {
        **{k: v for k, v in params.items() if k != "method"},
        "paths": {name: path(a) for name, a in adapters.items()},
        "tokens_per_s": {name: {str(batches[0]): new_tokens * 1000 / timings[name]["latency_ms_median"],
                                str(batches[1]): new_tokens * timings[name]["throughput"]}
                         for name in adapters},
        "compile_s": {name: sum(d.compile_s for d in a.decoders.values()) for name, a in adapters.items()},
    }
    device = str(source.model.device)
    bandwidth = copy_bandwidth(device, gib=1.0 if device.startswith("cuda") else 0.25)
    reads = {name: weight_bytes_read(loaded.model) for name, loaded in (("source", source), ("compressed", compressed))}
    timings["decode"].update(copy_bandwidth=bandwidth, weight_bytes_per_step=reads,
                             bound_tokens_per_s={name: {str(b): b * bandwidth / reads[name] for b in batches}
                                                 for name in reads})
    say(f"decoding timed in {time.perf_counter() - started:.0f} s")
    return timings
