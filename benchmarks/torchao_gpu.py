"""GPU figures for the torchao methods: a Llama-shaped 7B as bf16 beside each torchao artifact, every model
loaded the way the gate loads it (``load_model(..., device="cuda")``), on one GPU, side by side.

The model is built from a config with random weights (no hub here), so the figures are sizes and speeds
only: quality is measured in tests and on the docs_lm example, on trained models. For each model: bytes
stored and bits per quantized weight (from the manifest); greedy decoding from a 128-token prompt into a
static KV cache, each step compiled by torch.compile (``--compile``; the same settings for every model)
and replayed as one captured CUDA graph per token; at batch 1 timed by the gate's own
``performance.measure_timings`` (its rounds, speedup interval and contention checks; each call it makes
decodes ``--new-tokens`` tokens), at batch 16 by turns of the models; the GPU kernels one compiled step
ran (profiled); and prefill of a ``--prefill``-token prompt at batch 1 and 16 (eager kernels replayed as
a CUDA graph). Beside each figure: the weight-bandwidth bound, bytes of weights one forward reads over
the copy bandwidth measured here, and for prefill the bf16 matrix-rate floor.

    python benchmarks/torchao_gpu.py [--layers 32 --hidden 4096 --intermediate 11008 --heads 32 --vocab 32000]
                                     [--methods torchao-int4-weight-only:64 --compile none]
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

from torchao_gpu_decode import PROMPT  # noqa: E402 - beside this script

from pytest_compressgate.decoding import copy_bandwidth, weight_bytes_read  # noqa: E402

METHODS = ("torchao-int4-weight-only", "torchao-int4-weight-only:kernel=tinygemm", "torchao-fp8-dynamic",
           "torchao-int8-weight-only", "torchao-fp8-weight-only", "torchao-int8-dynamic")
BF16_FLOPS = 790e12  # bf16 matrix rate on random data measured on an H200 here (8192^3 products)


def matmul_flops(model, tokens: int) -> float:
    """2 x tokens x the weights of every linear layer (the head included): a forward's matrix work."""
    import torch

    return 2.0 * tokens * sum(m.in_features * m.out_features for m in model.modules()
                              if isinstance(m, torch.nn.Linear) or type(m).__name__ in ("Int4Linear", "MarlinLinear"))


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
    with torch.device(args.device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(str(path))
    del model
    torch.cuda.empty_cache()
    return path


def parse_methods(spec: str) -> list[tuple[str, dict]]:
    """"method[:group_size][:key=value]...,..." as (label, recipe step), e.g. torchao-int4-weight-only:64 or
    torchao-int4-weight-only:kernel=tinygemm."""
    out = []
    for item in filter(None, spec.split(",")):
        method, *options = item.split(":")
        step: dict = {"method": method}
        label = method.removeprefix("torchao-")
        for option in options:
            key, _, value = option.rpartition("=")
            step[key or "group_size"] = int(value) if value.isdigit() else value
            label += f"-{value}" if key else f"-g{value}"
        out.append((label, step))
    return out


def free(device: str) -> None:
    import gc

    import torch

    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=4096)
    parser.add_argument("--intermediate", type=int, default=11008)
    parser.add_argument("--layers", type=int, default=32)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=32)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=9, help="the gate's measure_timings repeats (batch 1)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--prefill", type=int, default=512, help="prompt tokens of the prefill timing")
    parser.add_argument("--methods", default=",".join(METHODS), help="method[:group_size], comma-separated")
    parser.add_argument("--compile", default="default", choices=("none", "default", "max-autotune-no-cudagraphs"),
                        help="torch.compile mode of each decoding step, the same for every model")
    parser.add_argument("--compile16", default=None, help="torch.compile mode at batch 16 (default: --compile's)")
    parser.add_argument("--prefill-models", default="bf16,fp8-dynamic,fp8-weight-only,int8-weight-only,int8-dynamic,"
                        "int4-weight-only", help="labels to time prefill for")
    parser.add_argument("--phases", default="b1,prefill,b16", help="which of b1 (decoding at batch 1, always), "
                        "prefill and b16 to run")
    parser.add_argument("--model-s", type=float, default=0.0, help="start no batch-1 model later than this many "
                        "seconds before --budget-s (one model's compile and timing)")
    parser.add_argument("--device", default="cuda", help="cuda, or cpu to try the script's logic on a tiny shape")
    parser.add_argument("--kernels", type=int, default=10, help="how many of a step's costliest kernels to list")
    parser.add_argument("--budget-s", type=float, default=1e9,
                        help="start no model's batch-1 decoding past 50%% of this, no prefill past 70%%, no batch-16 "
                             "decoding past 80%%")
    args = parser.parse_args()
    args.compile16 = args.compile16 or args.compile

    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("needs a CUDA GPU: run it on a GPU machine, or pass --device cpu for a logic check")
        return 2
    from torchao_gpu_decode import Decoder, GateDecode, Prefill, configure_compile, step_kernels, turns
    from compressors import Context, compress
    from compressors.loaders import load_model, load_tokenizer
    from pytest_compressgate.performance import PAUSE_S, measure_timings, parameter_count

    begun = time.monotonic()

    def say(message: str) -> None:
        print(f"[{time.monotonic() - begun:5.0f} s] {message}", flush=True)

    def within(share: float) -> bool:
        return time.monotonic() - begun < share * args.budget_s

    if args.compile != "none":
        configure_compile()
    device = args.device
    bandwidth = copy_bandwidth(device, gib=4.0)
    work = Path(tempfile.mkdtemp(prefix="torchao-gpu-bench-"))
    source = build_source(work, args)
    name = torch.cuda.get_device_name() if device.startswith("cuda") else "CPU"
    say(f"{name}, torch {torch.__version__}; copy bandwidth {bandwidth / 1e12:.2f} TB/s; random "
        f"{parameter_count(source) / 1e9:.2f}B-parameter Llama written")
    dirs: dict[str, Path] = {"bf16": source}
    stats: dict[str, dict] = {"bf16": {}}
    for label, step in parse_methods(args.methods):
        started = time.perf_counter()
        try:
            artifact = compress(source, step, work / label,
                                context=Context(model_task="causal-lm", hardware="cuda-sm90"))
        except Exception as exc:  # noqa: BLE001 - one method failing leaves the others' figures
            say(f"{label}: not built ({type(exc).__name__}: {exc})")
            continue
        dirs[label], stats[label] = artifact.path, artifact.stats
        say(f"built {label} in {time.perf_counter() - started:.0f} s: eager kernel {artifact.stats['kernel']}")
    tokenizer = load_tokenizer(source)
    models = {label: load_model(path, task="causal-lm", device=device) for label, path in dirs.items()}
    say("loaded " + ", ".join(models))

    notes: dict[tuple[str, int], str] = {}

    def decoder(label: str, batch: int, mode: str) -> Decoder:
        d = Decoder(models[label], batch, args.new_tokens, mode)
        if d.graph is None and device.startswith("cuda"):
            d.new = max(8, args.new_tokens // 4)  # step by step is slow: a quarter of the tokens
        notes[(label, batch)] = f"{d.path}; tokens as eager {d.agreement()}"
        say(f"batch {batch}: {label} ready in {d.compile_s:.0f} s ({notes[(label, batch)]})")
        return d

    # batch 1 first, the figure the must-show is about: each model beside bf16 in the gate's measure_timings
    ref = decoder("bf16", 1, args.compile)
    kernels, gate = {"bf16": step_kernels(ref, args.kernels)}, {}
    for label in models:
        if label == "bf16" or not within(0.5) or time.monotonic() - begun + args.model_s > args.budget_s:
            continue
        d = decoder(label, 1, args.compile)
        kernels[label] = step_kernels(d, args.kernels)
        g = gate[label] = measure_timings(GateDecode({1: ref}, tokenizer), GateDecode({1: d}, tokenizer),
                                          ["decode"] * 64, repeats=args.repeats, batch_size=1, max_length=8,
                                          rounds=args.rounds)
        say(f"batch 1 timed for {label}: {args.new_tokens * 1000 / g['compressed']['latency_ms_median']:.1f} tok/s "
            f"vs bf16 {args.new_tokens * 1000 / g['source']['latency_ms_median']:.1f}: {g['speedup']:.2f}x "
            f"[{g['speedup_interval'][0]:.2f}, {g['speedup_interval'][1]:.2f}]; {kernels[label][:2]}"
            f"{'; unreliable: ' + g['unreliable'] if g['unreliable'] else ''}")
        del d
    del ref
    free(device)
    prefill: dict[tuple[str, int], float] = {}
    for batch in (1, 16) if "prefill" in args.phases else ():
        timers = {}
        for label in args.prefill_models.split(","):
            if label in models and within(0.7):
                timers[label] = Prefill(models[label], batch, args.prefill)
                notes[(label, -batch)] = timers[label].path
        prefill.update({(label, batch): s for label, s in turns(timers, args.rounds, PAUSE_S).items()})
        del timers
        free(device)
        say(f"prefill timed at batch {batch}: " + ", ".join(f"{label} {prefill[(label, batch)] * 1000:.1f} ms"
                                                            for label in models if (label, batch) in prefill))
    b16, timers16 = {}, {}
    for label in models if "b16" in args.phases else ():
        if within(0.8):
            timers16[label] = decoder(label, 16, args.compile16)
    if "bf16" in timers16:
        b16 = turns(timers16, args.rounds, PAUSE_S)
    del timers16
    say("batch 16 timed: " + ", ".join(f"{label} {16 * args.new_tokens / t:.0f} tok/s" for label, t in b16.items()))
    print_table(args, models, dirs, stats, gate, b16, prefill, notes, kernels, bandwidth)
    return 0


def print_table(args, models, dirs, stats, gate, b16, prefill, notes, kernels, bandwidth) -> None:
    from pytest_compressgate.performance import weight_bytes

    nan = float("nan")
    n = args.new_tokens
    bf16_ms = statistics.median([g["source"]["latency_ms_median"] for g in gate.values()]) if gate else nan
    print(f"decode: {n} greedy tokens after a {PROMPT}-token prompt into a static cache, torch.compile mode "
          f"'{args.compile}' per step, one CUDA graph replayed per token; batch 1 by the gate's measure_timings "
          f"({args.rounds} interleaved rounds beside bf16; speedup = exp(mean log round ratio), one-sided 95% "
          f"bounds), batch 16 (compile mode '{args.compile16}') median of {args.rounds} turns; "
          f"prefill: {args.prefill}-token prompt, last logits, eager kernels as a CUDA graph, median of {args.rounds} "
          f"turns; bound = weight bytes one forward "
          f"reads / {bandwidth / 1e12:.2f} TB/s; flops floor = matmul work / {BF16_FLOPS / 1e12:.0f} TFLOP/s (bf16)")
    print(f"{'model':<20}{'GB':>6}{'bits/qw':>8}{'b1 tok/s':>9}{'bound':>7}{'x bf16':>7}{'95% int':>13}"
          f"{'b16 tok/s':>10}{'bound':>7}{'x bf16':>7}{'pre b1 ms':>10}{'floor':>6}{'x bf16':>7}"
          f"{'pre b16 ms':>11}{'floor':>6}{'x bf16':>7}")
    for label, model in models.items():
        g = gate.get(label)
        ms1 = g["compressed"]["latency_ms_median"] if g else (bf16_ms if label == "bf16" else nan)
        tok1 = n * 1000 / ms1
        ratio, lo_hi = (g["speedup"], g["speedup_interval"]) if g else ((1.0, [1.0, 1.0]) if label == "bf16"
                                                                        else (nan, [nan, nan]))
        tok16 = 16 * n / b16[label] if label in b16 else nan
        ratio16 = tok16 / (16 * n / b16["bf16"]) if "bf16" in b16 else nan
        read = weight_bytes_read(model)  # a decoding step reads every weight once, at any batch
        flops1, flops16 = matmul_flops(model, args.prefill), matmul_flops(model, 16 * args.prefill)
        p1, p16 = (prefill.get((label, b), nan) * 1000 for b in (1, 16))
        q1, q16 = (prefill.get(("bf16", b), nan) * 1000 for b in (1, 16))
        bits = stats[label].get("effective_bits_quantized_layers", 16.0)
        print(f"{label:<20}{weight_bytes(dirs[label]) / 1e9:>6.2f}{bits:>8.2f}{tok1:>9.1f}{bandwidth / read:>7.0f}"
              f"{ratio:>7.2f}{f'[{lo_hi[0]:.2f},{lo_hi[1]:.2f}]':>13}{tok16:>10.1f}{16 * bandwidth / read:>7.0f}"
              f"{ratio16:>7.2f}{p1:>10.2f}{max(read / bandwidth, flops1 / BF16_FLOPS) * 1000:>6.1f}"
              f"{q1 / p1:>7.2f}{p16:>11.2f}{max(read / bandwidth, flops16 / BF16_FLOPS) * 1000:>6.1f}"
              f"{q16 / p16:>7.2f}")
    print("paths (b1/b16: decode; p1/p16: prefill) and contention:")
    for (label, batch), note in notes.items():
        print(f"  {label:<20} {'b' if batch > 0 else 'p'}{abs(batch):<3} {note}")
    for label, g in gate.items():
        print(f"  {label:<20} batch-1 rounds {', '.join(f'{r:.3f}' for r in g['rounds'])}; "
              f"unreliable: {g['unreliable']}")
    print("GPU kernels of one compiled batch-1 decoding step, costliest first (share of its GPU time):")
    for label, names in kernels.items():
        print(f"  {label:<20} {'; '.join(names)}")
    for label in dirs:
        if stats[label].get("kernel"):
            print(f"  {label:<20} eager forward (manifest): {stats[label]['kernel']}")


if __name__ == "__main__":
    raise SystemExit(main())
