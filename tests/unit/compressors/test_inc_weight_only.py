"""inc-rtn-int4 / inc-gptq-int4: Intel Neural Compressor weight-only INT4 on a tiny Llama, saved in INC's
pickle-free GPTQ layout and proven to reload still quantized."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, Context, ModelFormat, compress, parse_step

pytest.importorskip("neural_compressor.torch.quantization")

CAUSAL = Context(model_task="causal-lm")
LAYERS = 2


@pytest.fixture(scope="module")
def llama64(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("inc-src") / "llama", hidden=64, intermediate=128, layers=LAYERS,
                      heads=4, kv_heads=2, train_steps=20)


@pytest.fixture(scope="module")
def inc_runs(llama64: Path, tmp_path_factory: pytest.TempPathFactory):
    """Both methods, run from an empty working directory that must stay empty (INC writes nc_workspace/)."""
    from tests.tinymodels import write_calibration

    calibration = write_calibration(tmp_path_factory.mktemp("inc-calib") / "calib.csv", n=24, kind="csv")
    cwd = tmp_path_factory.mktemp("inc-cwd")
    out = tmp_path_factory.mktemp("inc-out")
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        artifacts = {
            "inc-rtn-int4": compress(llama64, {"method": "inc-rtn-int4"}, out / "rtn", context=CAUSAL),
            "inc-gptq-int4": compress(llama64, {"method": "inc-gptq-int4", "calibration": str(calibration),
                                                "num_samples": 24, "max_length": 96}, out / "gptq", context=CAUSAL),
        }
    finally:
        os.chdir(previous)
    return artifacts, cwd


METHODS = ("inc-rtn-int4", "inc-gptq-int4")


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_writes_packed_int4_safetensors_only(inc_runs, method: str) -> None:
    from safetensors import safe_open

    artifact = inc_runs[0][method]
    assert artifact.format is ModelFormat.GPTQ and artifact.stats["loader"] == "neural-compressor"
    files = {p.suffix for p in artifact.path.iterdir()}
    assert files <= {".json", ".safetensors"}, files
    with safe_open(str(artifact.path / "model.safetensors"), "pt") as f:
        names = f.keys()  # a safe_open handle has keys() but is not iterable itself
        packed = [k for k in names if k.endswith(".qweight")]
        assert len(packed) == 7 * LAYERS and {str(f.get_tensor(k).dtype) for k in packed} == {"torch.int32"}
    stats = artifact.stats
    assert stats["quantized_layers"] == 7 * LAYERS
    # group 32: 4 + 16/32 (fp16 scales) + 4/32 (zero points), plus the zero float32 bias INC stores per layer
    assert 4.625 <= stats["effective_bits_quantized_layers"] < 5.5
    assert stats["effective_bits_model"] < stats["source_bits_model"] == 32


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_reloads_quantized_and_close_to_the_source(inc_runs, llama64: Path, method: str) -> None:
    import torch

    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import causal_lm_perplexity, heldout_texts

    path = inc_runs[0][method].path
    model = load_model(path, task="causal-lm")
    quantized = [m for m in model.modules() if type(m).__name__ == "INCWeightOnlyLinear"]
    assert len(quantized) == 7 * LAYERS and all(m.qweight.dtype == torch.int32 for m in quantized)
    source = load_model(llama64, task="causal-lm")
    tokenizer = load_tokenizer(path)
    texts = heldout_texts(32)
    ppl_source, ppl_quantized = (causal_lm_perplexity(m, tokenizer, texts) for m in (source, model))
    assert ppl_quantized <= 1.05 * ppl_source, (ppl_source, ppl_quantized)
    ids = tokenizer(texts[0], return_tensors="pt").input_ids[:, :64]
    with torch.no_grad():
        a, b = source(input_ids=ids).logits, model(input_ids=ids).logits
    assert 0 < ((a - b).norm() / a.norm()).item() < 0.1


@pytest.mark.slow
def test_rtn_and_gptq_leave_nothing_in_the_working_directory(inc_runs) -> None:
    assert list(inc_runs[1].iterdir()) == []


def test_rtn_refuses_gpt2_with_the_reason(tiny_gpt2_dir: Path, tmp_path: Path) -> None:
    """GPT-2's Conv1D layers do not survive INC's pickle-free round trip: say so, write nothing."""
    with pytest.raises(CompressionError, match="Conv1D.*gptq"):
        compress(tiny_gpt2_dir, {"method": "inc-rtn-int4"}, tmp_path / "out", context=CAUSAL)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("step", "key"), [
    ({"method": "inc-rtn-int4", "group_size": 0}, "inc-rtn-int4.group_size"),
    ({"method": "inc-rtn-int4", "bits": 8}, "bits"),  # the name says int4: there is no bits key
    ({"method": "inc-gptq-int4", "damp_percent": 0}, "inc-gptq-int4.damp_percent"),
    ({"method": "inc-gptq-int4", "num_samples": -1}, "inc-gptq-int4.num_samples"),
    ({"method": "inc-gptq-int4", "calibration": "calib.xlsx"}, "inc-gptq-int4.calibration"),
])
def test_rtn_and_gptq_bad_params_raise_config_errors_naming_the_key(step: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_step(step)


def test_inc_gptq_needs_calibration_text(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="inc-gptq-int4.calibration is required"):
        compress(tmp_path, {"method": "inc-gptq-int4"}, tmp_path / "out", context=CAUSAL)


def test_rtn_serves_causal_lms_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="causal language models"):
        compress(tmp_path, {"method": "inc-rtn-int4"}, tmp_path / "out",
                 context=Context(model_task="text-classification"))
