"""gptq: GPTQ weight-only quantization through gptqmodel, its honest size statistics and its loader.

One quantization for the whole module (gptqmodel compiles a C++ extension on its first quantize in a
process, ~20 s): the slow tests share it through a module-scoped fixture. The rest are fast.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, Context, ModelFormat, compress, parse_step
from compressors.methods.gptq import GptqBackend, load_gptq, resolve_backend
from compressors.methods.woq_stats import assert_pickle_free, weight_only_stats

CAUSAL = Context(model_task="causal-lm")
REPO_ROOT = Path(__file__).resolve().parents[3]
LAYERS = 2
HIDDEN, INTERMEDIATE = 256, 1024  # every in_features a multiple of 128, out_features >= 256


def litter(directory: Path) -> list[str]:
    """What gptqmodel and neural-compressor leave in a working directory when nobody stops them."""
    return sorted(p.name for p in directory.iterdir()
                  if p.name in ("gptqmodel_offload", "nc_workspace") or p.name.startswith("gptq_log_"))


def expected_bits_g128() -> float:
    """4-bit codes, an fp16 scale and a 4-bit zero point per 128 weights of an output channel, and a
    32-bit g_idx entry per input column, over the weights of q, k, v, o (256x256), gate, up (256->1024),
    down (1024->256)."""
    weights = 4 * HIDDEN * HIDDEN + 3 * HIDDEN * INTERMEDIATE
    g_idx_bits = 32 * (6 * HIDDEN + INTERMEDIATE)
    return 4 + 16 / 128 + 4 / 128 + g_idx_bits / weights


@pytest.fixture(scope="module")
def llama_g128(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import tiny_llama

    return tiny_llama(tmp_path_factory.mktemp("gptq-src") / "llama", hidden=HIDDEN, intermediate=INTERMEDIATE,
                      layers=LAYERS, heads=4, kv_heads=4, train_steps=20)


@pytest.fixture(scope="module")
def gptq_run(llama_g128: Path, tmp_path_factory: pytest.TempPathFactory):
    """One gptq INT4 g128 quantization, run from an empty working directory that must stay empty."""
    from tests.tinymodels import write_calibration

    calibration = write_calibration(tmp_path_factory.mktemp("gptq-calib") / "calib.jsonl", n=32)
    cwd = tmp_path_factory.mktemp("gptq-cwd")
    root_before = litter(REPO_ROOT)
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        step = {"method": "gptq", "bits": 4, "group_size": 128, "calibration": str(calibration),
                "num_samples": 32, "max_length": 128}
        artifact = compress(llama_g128, step, tmp_path_factory.mktemp("gptq-out") / "gptq", context=CAUSAL)
    finally:
        os.chdir(previous)
    return artifact, cwd, root_before


@pytest.mark.slow
def test_writes_a_pickle_free_gptq_checkpoint_with_packed_int4_layers(gptq_run) -> None:
    from safetensors import safe_open

    artifact, _, _ = gptq_run
    assert artifact.format is ModelFormat.GPTQ and artifact.method == "gptq"
    assert_pickle_free(artifact.path)
    assert not list(artifact.path.glob("*.bin")) and not list(artifact.path.glob("*.pt"))
    assert (artifact.path / "tokenizer.json").is_file()  # self-contained: the tokenizer travels along
    qconfig = json.loads((artifact.path / "quantize_config.json").read_text())
    assert (qconfig["bits"], qconfig["group_size"], qconfig["desc_act"], qconfig["sym"]) == (4, 128, False, True)
    with safe_open(str(artifact.path / "model.safetensors"), "pt") as f:
        names = f.keys()  # a safe_open handle has keys() but is not iterable itself
        packed = [k for k in names if k.endswith(".qweight")]
        assert len(packed) == 7 * LAYERS
        assert {str(f.get_tensor(k).dtype) for k in packed} == {"torch.int32"}
        assert not [k for k in names if k.endswith("_proj.weight")]  # no float copy left behind
    assert artifact.stats["quantized_layers"] == 7 * LAYERS
    assert artifact.stats["backend"] == "gptqmodel" and artifact.stats["device"] in ("cpu", "cuda")
    kernel, count = artifact.stats["kernel"].rsplit(" x", 1)  # one QuantLinear kind for every layer, named
    assert kernel.endswith("QuantLinear") and int(count) == 7 * LAYERS, artifact.stats["kernel"]
    assert artifact.stats["kernel_device"] == artifact.stats["device"]


@pytest.mark.slow
def test_int4_g128_costs_at_most_4_25_bits_per_quantized_weight(gptq_run) -> None:
    stats = gptq_run[0].stats
    assert stats["effective_bits_quantized_layers"] == pytest.approx(expected_bits_g128(), abs=1e-4)
    assert stats["effective_bits_quantized_layers"] <= 4.25
    # embeddings and LM head stay 16-bit: the whole model is far above 4 bits but far below fp32
    assert 4.25 < stats["effective_bits_model"] < 16 < stats["source_bits_model"] == 32
    assert 0.5 < stats["quantized_weight_share"] < 1
    assert stats["weight_bytes"] < stats["source_weight_bytes"] / 4


@pytest.mark.slow
def test_reloads_still_quantized_and_scores_close_to_the_source(gptq_run, llama_g128: Path) -> None:
    import torch

    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import causal_lm_perplexity, heldout_texts

    model = load_model(gptq_run[0].path, task="causal-lm")
    source = load_model(llama_g128, task="causal-lm")
    quantized = [m for m in model.modules() if hasattr(m, "qweight")]
    assert len(quantized) == 7 * LAYERS
    assert all(m.qweight.dtype == torch.int32 for m in quantized)
    assert [n for n, m in model.named_modules() if type(m) is torch.nn.Linear] == ["lm_head"]
    tokenizer = load_tokenizer(gptq_run[0].path)
    texts = heldout_texts(32)
    ppl_source = causal_lm_perplexity(source, tokenizer, texts)
    ppl_quantized = causal_lm_perplexity(model, tokenizer, texts)
    assert ppl_quantized <= 1.05 * ppl_source, (ppl_source, ppl_quantized)
    ids = tokenizer(texts[0], return_tensors="pt").input_ids[:, :64]
    with torch.no_grad():
        a, b = source(input_ids=ids).logits.float(), model(input_ids=ids).logits.float()
    relative = ((a - b).norm() / a.norm()).item()
    assert 0 < relative < 0.1  # changed (really quantized), but not by much


@pytest.mark.slow
def test_leaves_nothing_in_the_working_directory_or_the_repo(gptq_run) -> None:
    from compressors.loaders import load_model

    artifact, cwd, root_before = gptq_run
    load_model(artifact.path, task="causal-lm")  # gptqmodel's loader may write there too
    assert litter(cwd) == [] and list(cwd.iterdir()) == []
    assert litter(REPO_ROOT) == root_before


# --- fast: configuration, backend choice, statistics -----------------------------------------------


@pytest.mark.parametrize(("params", "key"), [
    ({"bits": 5}, "gptq.bits"),
    ({"group_size": 0}, "gptq.group_size"),
    ({"damp_percent": 1.5}, "gptq.damp_percent"),
    ({"damp_percent": 0}, "gptq.damp_percent"),
    ({"num_samples": 0}, "gptq.num_samples"),
    ({"max_length": 4}, "gptq.max_length"),
    ({"calibration": "calib.parquet"}, "gptq.calibration"),
    ({"backend": "autogptq"}, "backend"),
    ({"group": 128}, "group"),
])
def test_bad_params_raise_config_errors_naming_the_key(params: dict, key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        parse_step({"method": "gptq", **params})


def test_defaults_are_int4_group_128() -> None:
    _, config = parse_step({"method": "gptq", "calibration": "c.jsonl"})
    assert (config.bits, config.group_size, config.desc_act, config.sym) == (4, 128, False, True)
    assert config.backend is GptqBackend.AUTO and (config.num_samples, config.max_length) == (128, 256)
    assert parse_step({"method": "gptq", "group_size": -1, "bits": 8})[1].group_size == -1


def test_backend_auto_is_gptqmodel_everywhere() -> None:
    for cuda in (False, True):
        assert resolve_backend(GptqBackend.AUTO, cuda=cuda, auto_gptq_installed=True) is GptqBackend.GPTQMODEL


@pytest.mark.parametrize(("cuda", "installed", "why"), [
    (False, True, "no CUDA GPU"),
    (True, False, "not installed"),
    (False, False, "not installed and no CUDA GPU"),
])
def test_auto_gptq_needs_its_package_and_a_gpu(cuda: bool, installed: bool, why: str) -> None:
    with pytest.raises(ConfigError, match=f"auto-gptq.*{why}.*archived.*without CUDA.*gptqmodel"):
        resolve_backend(GptqBackend.AUTO_GPTQ, cuda=cuda, auto_gptq_installed=installed)
    assert resolve_backend(GptqBackend.AUTO_GPTQ, cuda=True, auto_gptq_installed=True) is GptqBackend.AUTO_GPTQ


def test_auto_gptq_backend_fails_fast_on_this_machine(tmp_path: Path) -> None:
    import importlib.util

    import torch

    if torch.cuda.is_available() and importlib.util.find_spec("auto_gptq"):
        pytest.skip("auto-gptq can run here")
    step = {"method": "gptq", "backend": "auto-gptq", "calibration": "c.jsonl"}
    with pytest.raises(ConfigError, match="auto-gptq' cannot run here"):
        compress(tmp_path / "no-model-needed", step, tmp_path / "out", context=CAUSAL)
    assert not (tmp_path / "out").exists()


def test_calibration_is_required_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gptq.calibration is required"):
        compress(tmp_path, {"method": "gptq"}, tmp_path / "a", context=CAUSAL)
    with pytest.raises(ConfigError, match="gptq.calibration.*no such file"):
        compress(tmp_path, {"method": "gptq", "calibration": str(tmp_path / "nope.jsonl")}, tmp_path / "b",
                 context=CAUSAL)


def test_serves_causal_lms_only(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="causal language models"):
        compress(tmp_path, {"method": "gptq", "calibration": "c.jsonl"}, tmp_path / "a",
                 context=Context(model_task="text-classification"))
    with pytest.raises(ConfigError, match="causal language models"):
        load_gptq(tmp_path, "text-classification", {}, False, "cpu")


def _write(path: Path, tensors: dict) -> Path:
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path / "model.safetensors"))
    return path


def test_effective_bits_count_every_stored_tensor(tmp_path: Path) -> None:
    """A 512 -> 256 layer at 4 bits, group 128, next to a 1000 x 64 fp16 embedding."""
    import torch

    source = _write(tmp_path / "src", {"emb.weight": torch.zeros(1000, 64), "fc.weight": torch.zeros(256, 512)})
    packed = _write(tmp_path / "q", {
        "emb.weight": torch.zeros(1000, 64, dtype=torch.float16),
        "fc.qweight": torch.zeros(512 // 8, 256, dtype=torch.int32),
        "fc.scales": torch.zeros(512 // 128, 256, dtype=torch.float16),
        "fc.qzeros": torch.zeros(512 // 128, 256 // 8, dtype=torch.int32),
        "fc.g_idx": torch.zeros(512, dtype=torch.int32),
    })
    layer_bits = 512 * 256 * 4 + 4 * 256 * 16 + 4 * 32 * 32 + 512 * 32
    for source_dir in (source, None):  # from the source's shapes, and from the packed shape alone
        stats = weight_only_stats(packed, source_dir, bits=4)
        assert stats["quantized_layers"] == 1
        assert stats["effective_bits_quantized_layers"] == pytest.approx(layer_bits / (512 * 256), abs=1e-4)
        total = layer_bits + 1000 * 64 * 16
        assert stats["weight_bytes"] == total // 8
        assert stats["effective_bits_model"] == pytest.approx(total / (512 * 256 + 64000), abs=1e-4)
        assert stats["quantized_weight_share"] == pytest.approx(512 * 256 / (512 * 256 + 64000), abs=1e-4)
    assert weight_only_stats(packed, source, bits=4)["source_bits_model"] == 32


def test_a_checkpoint_without_quantized_layers_is_an_error(tmp_path: Path) -> None:
    import torch

    plain = _write(tmp_path / "plain", {"fc.weight": torch.zeros(8, 8)})
    with pytest.raises(CompressionError, match="no quantized layer"):
        weight_only_stats(plain, None, bits=4)


def test_pickle_files_are_refused(tmp_path: Path) -> None:
    import torch

    directory = _write(tmp_path / "a", {"fc.qweight": torch.zeros(1, 8, dtype=torch.int32)})
    (directory / "pytorch_model.bin").write_bytes(b"\x80\x04")
    with pytest.raises(CompressionError, match="pickle"):
        assert_pickle_free(directory)
