"""On a machine with a CUDA GPU, a CUDA target's artifact is scored and timed on the GPU (the source is
scored on CPU, the reference for every target, and timed beside the artifact on the GPU).

These run on a GPU machine; on a machine without one they are skipped with that reason (the skip and
the build-only path there are tested in test_require_hardware_option.py).
"""

from __future__ import annotations

import json

import pytest

from pytest_compressgate.targets import PRESETS, detect_machine
from tests.tinymodels import target_toml

pytestmark = pytest.mark.skipif(bool(PRESETS.get("cuda").missing(detect_machine())),
                                reason="needs a CUDA GPU: run this file on a GPU machine")

GPU_TARGET = target_toml("gpu-fp16", "cuda", "cast-fp16")


def test_cuda_target_is_scored_and_timed_on_the_gpu(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.05, extra=GPU_TARGET)
    result = pytester.runpytest("--compress-gate", "--compress-gate-require-hardware",
                                "--compress-gate-targets=gpu-fp16", "--compress-gate-report=reports", "-s")
    result.assert_outcomes(passed=1)
    (comparison,) = json.loads((pytester.path / "reports" / "compressgate.json").read_text())["comparisons"]
    performance = comparison["performance"]
    assert performance["device"].startswith("cuda")  # where its predictions really ran
    assert performance["devices"]["compressed"].startswith("cuda")
    assert performance["devices"]["source"].startswith("cuda")  # timed side by side on the same GPU
    assert performance["size_ratio"] == pytest.approx(2.0, rel=0.05)  # fp16 halves the weights
    assert comparison["drop"] <= 0.05


def test_source_spread_by_accelerate_is_scored_on_the_gpu(pytester: pytest.Pytester, gate_project) -> None:
    gate_project(max_drop=0.05, extra=GPU_TARGET,
                 **{'task = "text-classification" }': 'task = "text-classification", device = "auto" }'})
    result = pytester.runpytest("--compress-gate", "--compress-gate-require-hardware",
                                "--compress-gate-targets=gpu-fp16", "--compress-gate-report=reports")
    result.assert_outcomes(passed=1)
    (comparison,) = json.loads((pytester.path / "reports" / "compressgate.json").read_text())["comparisons"]
    assert comparison["performance"]["source_device"].startswith("cuda")
    assert comparison["performance"]["device"].startswith("cuda")


def test_loaded_model_moves_inputs_to_the_gpu_and_outputs_back(tiny_classifier_dir) -> None:
    from compressors.loaders import load_model, load_tokenizer
    from pytest_compressgate.tasks.base import LoadedModel

    model = LoadedModel(load_model(tiny_classifier_dir, task="text-classification", device="cuda"),
                        load_tokenizer(tiny_classifier_dir), "source")
    assert model.device.startswith("cuda")
    logits = model(**model.tokenizer(["a short text"], return_tensors="pt")).logits
    assert logits.device.type == "cpu" and logits.shape[0] == 1


def test_gptq_artifact_is_quantized_on_the_gpu_and_runs_there(tmp_path) -> None:
    import torch

    pytest.importorskip("gptqmodel", reason="the gptq extra is not installed")
    from compressors import Context, compress
    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import causal_lm_perplexity, heldout_texts, tiny_llama, write_calibration

    source_dir = tiny_llama(tmp_path / "llama", hidden=256, intermediate=1024, layers=2, heads=4, kv_heads=4,
                            train_steps=20)
    step = {"method": "gptq", "bits": 4, "group_size": 128, "num_samples": 32, "max_length": 128,
            "calibration": str(write_calibration(tmp_path / "calib.jsonl", n=32))}
    artifact = compress(source_dir, step, tmp_path / "gptq", context=Context(model_task="causal-lm", hardware="cuda"))
    assert artifact.stats["device"] == "cuda"
    model = load_model(artifact.path, task="causal-lm", device="cuda")
    source = load_model(source_dir, task="causal-lm", device="cuda")
    assert model.device.type == "cuda"
    kernels = sorted({type(m).__name__ for m in model.modules() if hasattr(m, "qweight")})
    print(f"gptq kernels on {torch.cuda.get_device_name()}: {kernels}")
    assert kernels and all(m.qweight.is_cuda for m in model.modules() if hasattr(m, "qweight"))
    texts, tokenizer = heldout_texts(32), load_tokenizer(artifact.path)
    ppl_source = causal_lm_perplexity(source, tokenizer, texts)
    ppl_quantized = causal_lm_perplexity(model, tokenizer, texts)
    print(f"perplexity on the GPU: source {ppl_source:.3f} -> gptq int4 g128 {ppl_quantized:.3f}")
    assert ppl_quantized <= 1.05 * ppl_source


def test_device_map_auto_places_the_model_on_the_gpus(tiny_classifier_dir) -> None:
    import torch

    from compressors.loaders import load_model, load_tokenizer
    from pytest_compressgate.tasks.base import LoadedModel

    model = LoadedModel(load_model(tiny_classifier_dir, task="text-classification", device="auto"),
                        load_tokenizer(tiny_classifier_dir), "source")
    # transformers 4.57 records accelerate's placement in hf_device_map; 5.x sets it only for a model spread
    # over several devices, so the parameters' own devices are what is checked
    placed = {p.device for p in model.model.parameters()}
    print(f"device_map over {torch.cuda.device_count()} GPU(s): "
          f"{getattr(model.model, 'hf_device_map', None) or sorted(map(str, placed))}")
    # every part on a GPU, none on CPU or disk; accelerate spreads a model over several GPUs only when it
    # does not fit one (on two H200s this tiny one stays whole on GPU 0)
    assert placed and all(d.type == "cuda" for d in placed)
    logits = model(**model.tokenizer(["a short text", "another one"], padding=True, return_tensors="pt")).logits
    reference = load_model(tiny_classifier_dir, task="text-classification")(
        **model.tokenizer(["a short text", "another one"], padding=True, return_tensors="pt")).logits
    assert torch.allclose(logits, reference.detach(), atol=1e-4)
