"""GPU figures for the torchao methods: a Llama-shaped 7B as bf16 beside each torchao artifact, every model
loaded the way the gate loads it (``load_model(..., device="cuda")``), on one GPU, side by side.

The model is built from a config with random weights (no hub here), so the figures are sizes and speeds
only: quality is measured in tests and on the docs_lm example, on trained models. Printed for each model:
bytes stored and bits per quantized weight (from the manifest), the matmul op a profiled forward ran,
prefill timed by the gate's own ``measure_speed`` (batch-1 latency of a <=128-token text, batch-16
throughput; models taking turns), and greedy decoding at batch 1 and 16 from a 128-token prompt into a
static KV cache. Decoding replays one captured CUDA graph per token where capture works (it removes the
per-kernel launch cost that dominates eager decoding) and falls back to eager with the reason printed;
graph and eager tokens are compared first. Beside each figure: the weight-bandwidth bound, bytes of
weights one forward reads over the copy bandwidth measured here.

    python benchmarks/torchao_gpu.py [--layers 32 --hidden 4096 --intermediate 11008 --heads 32 --vocab 32000]
                                     [--methods torchao-int4-weight-only --compile default]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

METHODS = ("torchao-int4-weight-only", "torchao-int8-weight-only", "torchao-int8-dynamic",
           "torchao-fp8-weight-only", "torchao-fp8-dynamic")
PROMPT, CHECK_STEPS = 128, 8


def copy_bandwidth(gib: float = 4.0) -> float:
    """Bytes per second of a device-to-device copy, counting bytes read plus bytes written (median of 10)."""
    import torch

    src = torch.randint(0, 255, (int(gib * 2**30),), dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    samples = []
    for i in range(13):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        dst.copy_(src)
        end.record()
        torch.cuda.synchronize()
        if i >= 3:
            samples.append(start.elapsed_time(end) / 1000)
    del src, dst
    return 2 * gib * 2**30 / statistics.median(samples)


def forward_bytes(model) -> int:
    """Bytes of weights one forward pass reads: every parameter as resident on the GPU (a quantized
    weight's values and scales), less the input embedding table, of which only the tokens' rows are read."""
    total, seen = 0, set()
    for name, p in model.named_parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        names = list(getattr(p, "tensor_data_names", [])) + list(getattr(p, "optional_tensor_data_names", []))
        parts = [getattr(p, n) for n in names if getattr(p, n, None) is not None] or [p]
        size = sum(t.numel() * t.element_size() for t in parts)
        tied = model.get_output_embeddings() is not None and model.get_output_embeddings().weight is p
        total += 0 if ("embed_tokens" in name and not tied) else size
    return total


def static_cache(config, batch: int, length: int):
    import torch
    from transformers import StaticCache

    try:  # transformers 5: batch size, device and dtype are taken from the first update
        return StaticCache(config=config, max_cache_len=length)
    except TypeError:  # transformers 4.57
        return StaticCache(config=config, max_batch_size=batch, max_cache_len=length, device="cuda",
                           dtype=torch.bfloat16)


class Decoder:
    """Greedy decoding of ``new_tokens`` after a prompt, one token per step into a static cache, as a replayed
    CUDA graph where capture works, else eagerly (``path`` says which, and why)."""

    def __init__(self, model, batch: int, new_tokens: int, compile_mode: str = "none") -> None:
        import torch

        self.model, self.batch, self.new = model, batch, new_tokens
        # --compile: inductor fuses the small kernels between the matmuls; the graph then replays fused code
        self.decode_forward = model if compile_mode == "none" else torch.compile(model, mode=compile_mode,
                                                                                 dynamic=False)
        self.prompt = torch.randint(0, model.config.vocab_size, (batch, PROMPT), device="cuda",
                                    generator=torch.Generator(device="cuda").manual_seed(batch))
        self.cache = static_cache(model.config, batch, PROMPT + new_tokens + CHECK_STEPS)
        self.token = torch.zeros(batch, 1, dtype=torch.long, device="cuda")
        self.position = torch.zeros(1, dtype=torch.long, device="cuda")
        self.graph, self.path = None, "eager"
        self.prefill()
        try:
            if compile_mode != "none":
                self.step()  # compiles (and autotunes) outside the sync check and the capture
            self.synchronizes_not()
            self.graph = self.capture()
            self.path = "cuda-graph"
        except Exception as exc:  # noqa: BLE001 - the reason is printed and the eager path timed instead
            self.path = f"eager ({type(exc).__name__}: {str(exc).splitlines()[0][:100]})"
            torch.cuda.synchronize()

    def synchronizes_not(self) -> None:
        """Raise if a step waits for the GPU (a ``.item()``, a copy to the host): a graph cannot be captured
        then, and a failed capture can leave the stream unusable for the models after it."""
        import torch

        torch.cuda.set_sync_debug_mode("error")
        try:
            self.step()
        finally:
            torch.cuda.set_sync_debug_mode(0)

    def prefill(self) -> None:
        import torch

        with torch.inference_mode():
            self.cache.reset()  # in place: transformers 5 counts the cached length inside the cache itself
            logits = self.model(input_ids=self.prompt, past_key_values=self.cache, use_cache=True,
                                cache_position=torch.arange(PROMPT, device="cuda")).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.fill_(PROMPT)

    def step(self) -> None:
        import torch

        with torch.inference_mode():
            logits = self.decode_forward(input_ids=self.token, past_key_values=self.cache, use_cache=True,
                                         cache_position=self.position).logits
            self.token.copy_(logits[:, -1:].argmax(-1))
            self.position.add_(1)

    def capture(self):
        import torch

        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):  # warm-up off the default stream, as capture wants
            for _ in range(2):
                self.step()
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.inference_mode(), torch.cuda.graph(graph):
            self.step()
        return graph

    def tokens(self, graph: bool) -> list[list[int]]:
        self.prefill()
        out = []
        for _ in range(CHECK_STEPS):
            self.graph.replay() if graph else self.step()
            out.append(self.token.flatten().tolist())
        return out

    def agreement(self) -> str:
        """Steps at which the graph path picks the eager path's tokens, from the same prompt (same kernels)."""
        if self.graph is None:
            return "-"
        same = sum(a == b for a, b in zip(self.tokens(graph=True), self.tokens(graph=False)))
        return f"{same}/{CHECK_STEPS}"

    def seconds(self) -> float:
        import torch

        self.prefill()
        torch.cuda.synchronize()
        start = time.perf_counter()
        for _ in range(self.new):
            self.graph.replay() if self.graph is not None else self.step()
        torch.cuda.synchronize()
        return time.perf_counter() - start


def build_source(work: Path, args) -> Path:
    import torch
    from transformers import AutoModelForCausalLM, LlamaConfig

    from tests.tinymodels import tiny_tokenizer

    path = work / "bf16"
    tokenizer = tiny_tokenizer(path, vocab_size=1024)  # real text for the gate's timing inputs
    config = LlamaConfig(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.intermediate,
                         num_hidden_layers=args.layers, num_attention_heads=args.heads,
                         num_key_value_heads=args.kv_heads, max_position_embeddings=4096,
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=tokenizer.bos_token_id,
                         eos_token_id=tokenizer.eos_token_id, tie_word_embeddings=False)
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(str(path))
    del model
    torch.cuda.empty_cache()
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--intermediate", type=int, default=11008)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--compile", default="none", choices=("none", "default", "max-autotune-no-cudagraphs"),
                        help="torch.compile each decoding step before capturing it (minutes per model and batch; "
                             "not part of the recorded H200 run)")
    parser.add_argument("--budget-s", type=float, default=1e9, help="skip the prefill timings after this long")
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("needs a CUDA GPU: run it on a GPU machine")
        return 2
    from compressors import Context, compress
    from compressors.loaders import load_model, load_tokenizer
    from compressors.methods.torchao_gpu import kernels_used
    from pytest_compressgate.performance import PAUSE_S, Timing, measure_speed, parameter_count, weight_bytes
    from pytest_compressgate.tasks.base import LoadedModel
    from tests.tinymodels import docstring_texts

    begun = time.monotonic()
    deadline = begun + args.budget_s

    def say(message: str) -> None:
        print(f"[{time.monotonic() - begun:5.0f} s] {message}", flush=True)

    bandwidth = copy_bandwidth()
    work = Path(tempfile.mkdtemp(prefix="torchao-gpu-bench-"))
    started = time.perf_counter()
    source = build_source(work, args)
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; copy bandwidth {bandwidth / 1e12:.2f} TB/s; "
          f"random {parameter_count(source) / 1e9:.2f}B-parameter Llama written in "
          f"{time.perf_counter() - started:.0f} s",
          flush=True)
    dirs, stats = {"bf16": source}, {"bf16": {}}
    for method in args.methods.split(","):
        started = time.perf_counter()
        label = method.removeprefix("torchao-")
        try:
            artifact = compress(source, {"method": method}, work / method,
                                context=Context(task="causal-lm", hardware="cuda-sm90"))
        except Exception as exc:  # noqa: BLE001 - one method failing leaves the others' figures
            print(f"{label}: not built ({type(exc).__name__}: {exc})", flush=True)
            continue
        dirs[label], stats[label] = artifact.path, artifact.stats
        say(f"built {label} in {time.perf_counter() - started:.0f} s: kernel {artifact.stats['kernel']}")
    tokenizer = load_tokenizer(source)
    models = {}
    for label, path in dirs.items():
        models[label] = LoadedModel(load_model(path, task="causal-lm", device="cuda"), tokenizer, label, str(path))
        say(f"loaded {label} ({next(models[label].model.parameters()).dtype} outside the quantized weights)")
    decode: dict[tuple[str, int], list[float]] = {}
    paths, checks, steps = {}, {}, {}
    for batch in (1, 16):  # decoding first: the figure the gate's users pay for
        decoders = {}
        for label, m in models.items():
            decoders[label] = d = Decoder(m.model, batch, args.new_tokens, args.compile)
            paths[(label, batch)], checks[(label, batch)] = d.path, d.agreement()
            if d.graph is None:  # eager decoding is slow here: a quarter of the tokens bound its cost
                d.new = max(8, args.new_tokens // 4)
            steps[(label, batch)] = d.new
            d.seconds()  # warm-up
        for _ in range(args.rounds):  # models take turns, with the gate's pause between turns
            for label, d in decoders.items():
                time.sleep(PAUSE_S)
                decode.setdefault((label, batch), []).append(d.seconds())
        say(f"decoded at batch {batch}: " + ", ".join(
            f"{label} {batch * steps[(label, batch)] / statistics.median(decode[(label, batch)]):.1f} tok/s "
            f"({paths[(label, batch)].split(' ')[0]})" for label in decoders))
        del decoders
        torch.cuda.empty_cache()
    texts = docstring_texts()[:64]
    prefill = {}
    for label, model in models.items():  # the gate's own timing, each artifact beside the bf16 source
        if label != "bf16" and time.monotonic() < deadline:
            prefill["bf16"], prefill[label] = measure_speed(models["bf16"], model, texts, batch_size=16,
                                                            max_length=128)
            say(f"prefill timed for {label}")

    ids = {"input_ids": torch.randint(0, args.vocab, (1, PROMPT), device="cuda")}
    head = (f"{'model':<18}{'GB':>6}{'bits/qw':>8}{'prefill ms':>11}{'floor':>7}{'x bf16':>7}{'b16 seq/s':>10}"
            f"{'x bf16':>7}{'dec b1 tok/s':>13}{'bound':>8}{'x bf16':>7}{'dec b16 tok/s':>14}{'bound':>8}{'x bf16':>7}"
            f"  kernel")
    lines = [f"median of {args.rounds} rounds after a warm-up; prefill: the gate's measure_speed (batch-1 latency "
             f"of a <=128-token text, batch-16 throughput); decode: {args.new_tokens} greedy tokens (eager: a quarter) "
             f"after a "
             f"{PROMPT}-token prompt into a static cache; bound = weight bytes one forward reads / "
             f"{bandwidth / 1e12:.2f} TB/s (tokens/s, or ms for prefill's floor)", head]
    tok = {key: key[1] * steps[key] / statistics.median(v) for key, v in decode.items()}
    none = Timing(float("nan"), float("nan"), float("nan"))
    for label, model in models.items():
        read = forward_bytes(model.model)
        bound1, bound16 = bandwidth / read, 16 * bandwidth / read
        pre, pre_bf16 = prefill.get(label, none), prefill.get("bf16", none)
        ran = kernels_used(model.model, ids)["kernel"]
        bits = stats[label].get("effective_bits_quantized_layers", 16.0)
        lines.append(
            f"{label:<18}{weight_bytes(dirs[label]) / 1e9:>6.2f}{bits:>8.2f}{pre.latency_ms_median:>11.2f}"
            f"{read / bandwidth * 1000:>7.2f}{pre_bf16.latency_ms_median / pre.latency_ms_median:>7.2f}"
            f"{pre.throughput:>10.1f}{pre.throughput / pre_bf16.throughput:>7.2f}"
            f"{tok[(label, 1)]:>13.1f}{bound1:>8.0f}{tok[(label, 1)] / tok[('bf16', 1)]:>7.2f}"
            f"{tok[(label, 16)]:>14.1f}{bound16:>8.0f}{tok[(label, 16)] / tok[('bf16', 16)]:>7.2f}  {ran}")
    lines.append("decode path (graph vs eager tokens over the first 8 steps):")
    for (label, batch), path in paths.items():
        lines.append(f"  {label:<18} batch {batch:>2}: {path}, tokens equal {checks[(label, batch)]}")
    for label in dirs:
        if stats[label].get("gpu_kernels"):
            lines.append(f"  {label:<18} costliest GPU kernels of a forward: {'; '.join(stats[label]['gpu_kernels'])}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
