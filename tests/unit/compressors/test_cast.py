"""cast-fp16 / cast-bf16: half-precision weights that come back from disk in half precision."""

from __future__ import annotations

from pathlib import Path

import pytest

from compressors import CompressionError, ConfigError, compress, parse_step
from compressors.loaders import load_model


@pytest.mark.parametrize(("method", "dtype"), [("cast-fp16", "float16"), ("cast-bf16", "bfloat16")])
def test_cast_reloads_in_its_dtype(method, dtype, tiny_classifier_dir: Path, tmp_path, assert_close_to_source,
                                   pickle_free) -> None:
    import torch

    artifact = compress(tiny_classifier_dir, {"method": method}, tmp_path / "art")
    assert artifact.stats["cast_share"] == 1.0 and artifact.stats["dtype"] == dtype
    model = load_model(artifact.path, task="text-classification")
    assert {p.dtype for p in model.parameters()} == {getattr(torch, dtype)}
    assert_close_to_source(model, min_cosine=0.98)
    pickle_free(artifact.path)
    source_bytes = (tiny_classifier_dir / "model.safetensors").stat().st_size
    assert (artifact.path / "model.safetensors").stat().st_size < source_bytes * 0.55


def test_a_model_already_in_the_dtype_is_refused(tiny_classifier_dir: Path, tmp_path) -> None:
    from compressors.modelio import copy_tokenizer, load_transformers

    half = tmp_path / "half"
    load_transformers(tiny_classifier_dir, "text-classification").half().save_pretrained(str(half))
    copy_tokenizer(tiny_classifier_dir, half)
    with pytest.raises(CompressionError, match="change nothing"):
        compress(half, {"method": "cast-fp16"}, tmp_path / "art")


def test_cast_takes_no_parameters() -> None:
    with pytest.raises(ConfigError, match="dtype"):
        parse_step({"method": "cast-fp16", "dtype": "int8"})
