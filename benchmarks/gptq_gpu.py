"""GPU target figures: a Llama-shaped causal LM as FP32, as the cast-fp16 artifact and as the gptq INT4
artifact, loaded the way the gate loads them (``load_model(..., device="cuda")``) and timed side by side.

The model is built from a config with random weights (no hub here; ~0.85B parameters by default), so
the figures are sizes and speeds only: GPTQ's accuracy is measured in tests and example projects on
trained models. Prints weight bytes, bits per weight, prefill latency at batch 1, prefill throughput at
batch 16 and greedy decode tokens per second, each with its ratio to FP16, models taking turns.

    python benchmarks/gptq_gpu.py [--hidden 2048 --layers 16 --rounds 5]
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


def timed(fn, rounds: int) -> float:
    import torch

    fn()  # warm-up: kernels compile and autotune on first use
    samples = []
    for _ in range(rounds):
        torch.cuda.synchronize()
        start = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def speeds(model, prompt, batch, *, new_tokens: int, pad_token_id, rounds: int) -> tuple[float, float, float]:
    """Prefill seconds at batch 1, prefill tokens/s at the batch's size, greedy decode tokens/s.

    A function of its own so that the timed closures bind this model, not the loop's variable that
    ``main`` deletes before loading the next one.
    """
    import torch

    with torch.inference_mode():
        prefill = timed(lambda: model(input_ids=prompt), rounds)
        throughput = batch.numel() / timed(lambda: model(input_ids=batch), rounds)
        decode = new_tokens / timed(lambda: model.generate(
            prompt, max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
            pad_token_id=pad_token_id), rounds)
    return prefill, throughput, decode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=2048)
    parser.add_argument("--intermediate", type=int, default=5632)
    parser.add_argument("--layers", type=int, default=16)
    parser.add_argument("--heads", type=int, default=16)
    parser.add_argument("--vocab", type=int, default=8192)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    import torch

    if not torch.cuda.is_available():
        print("needs a CUDA GPU: run it on a GPU machine")
        return 2
    from compressors import Context, compress
    from compressors.loaders import load_model, load_tokenizer
    from pytest_compressgate.performance import parameter_count, weight_bytes
    from tests.tinymodels import docstring_texts, tiny_llama, write_calibration

    work = Path(tempfile.mkdtemp(prefix="gptq-gpu-bench-"))
    started = time.perf_counter()
    source = tiny_llama(work / "source", hidden=args.hidden, intermediate=args.intermediate, layers=args.layers,
                        heads=args.heads, kv_heads=args.heads, train_steps=0, vocab_size=args.vocab)
    built_s = time.perf_counter() - started
    print(f"built a random {parameter_count(source) / 1e9:.2f}B-parameter Llama in {built_s:.0f} s")
    context = Context(model_task="causal-lm", hardware="cuda")
    dirs, build_s = {"FP32": source}, {}
    for label, step in (("FP16 (cast-fp16)", {"method": "cast-fp16"}),
                        ("GPTQ INT4 g128", {"method": "gptq", "bits": 4, "group_size": 128, "num_samples": 64,
                                            "max_length": 256,
                                            "calibration": str(write_calibration(work / "calib.jsonl", n=64))})):
        started = time.perf_counter()
        dirs[label] = compress(source, step, work / label.split()[0].lower(), context=context).path
        build_s[label] = time.perf_counter() - started
    tokenizer = load_tokenizer(source)
    text = "\n\n".join(docstring_texts())
    prompt = tokenizer(text, return_tensors="pt").input_ids[:, :128].cuda()
    batch = tokenizer(text, return_tensors="pt").input_ids[:, :16 * 128].view(16, 128).cuda()
    results = {}
    for label, path in dirs.items():  # one model on the GPU at a time; same inputs for all
        model = load_model(path, task="causal-lm", device="cuda")
        kernels = sorted({type(m).__name__ for m in model.modules() if hasattr(m, "qweight")}) or ["torch"]
        prefill, throughput, decode = speeds(model, prompt, batch, new_tokens=args.new_tokens,
                                             pad_token_id=tokenizer.pad_token_id, rounds=args.rounds)
        results[label] = (weight_bytes(path), prefill, throughput, decode, kernels)
        del model
        torch.cuda.empty_cache()

    params = parameter_count(source)
    fp16 = results["FP16 (cast-fp16)"]
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}; median of {args.rounds} runs after a warm-up; "
          f"prefill = one forward pass over 128 tokens; decode = {args.new_tokens} greedy tokens at batch 1")
    print(f"{'model':<18}{'GB':>7}{'bits/w':>8}{'prefill ms':>12}{'x fp16':>8}{'b16 tok/s':>11}{'x fp16':>8}"
          f"{'decode tok/s':>14}{'x fp16':>8}{'build s':>9}  kernels")
    for label, (size, prefill, throughput, decode, kernels) in results.items():
        print(f"{label:<18}{size / 1e9:>7.2f}{size * 8 / params:>8.2f}{prefill * 1000:>12.2f}{fp16[1] / prefill:>8.2f}"
              f"{throughput:>11.0f}{throughput / fp16[2]:>8.2f}{decode:>14.1f}{decode / fp16[3]:>8.2f}"
              f"{build_s.get(label, 0):>9.1f}  {','.join(kernels)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
