"""Fixtures shared by the compression-method tests: calibration texts, a held-out batch scored by the
source model, a tiny GPT-2, and checks every artifact must pass (closeness to the source, no pickle)."""

from __future__ import annotations

from pathlib import Path

import pytest

ALLOWED_SUFFIXES = {".json", ".safetensors", ".onnx", ".txt", ".model"}
PICKLE_MAGIC = {b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05"}  # protocols 2 to 5


@pytest.fixture(scope="session")
def calibration_jsonl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import make_rows, write_jsonl

    return write_jsonl(tmp_path_factory.mktemp("calibration") / "calib.jsonl", make_rows(48, seed=5))


@pytest.fixture(scope="session")
def eval_batch(tiny_classifier_dir: Path) -> dict:
    """Held-out texts, tokenized, with the source model's logits on them."""
    import torch

    from compressors.loaders import load_model, load_tokenizer
    from tests.tinymodels import make_rows

    tokenizer = load_tokenizer(tiny_classifier_dir)
    encoding = tokenizer([r["text"] for r in make_rows(45, seed=123)], padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = load_model(tiny_classifier_dir, task="text-classification")(**encoding).logits
    return {"encoding": encoding, "logits": logits}


@pytest.fixture(scope="session")
def tiny_gpt2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import tiny_gpt2

    return tiny_gpt2(tmp_path_factory.mktemp("models") / "tiny-gpt2")


@pytest.fixture
def assert_close_to_source(eval_batch: dict):
    """Check a reloaded classifier against the source: argmax agreement and mean cosine of the logits."""

    def check(model, *, min_agreement: float = 0.95, min_cosine: float = 0.99) -> None:
        import torch

        with torch.no_grad():
            logits = model(**eval_batch["encoding"]).logits.float()
        source = eval_batch["logits"]
        agreement = (logits.argmax(-1) == source.argmax(-1)).float().mean().item()
        cosine = torch.nn.functional.cosine_similarity(logits, source, dim=-1).mean().item()
        assert agreement >= min_agreement, f"argmax agreement with the source {agreement:.3f} < {min_agreement}"
        assert cosine >= min_cosine, f"mean logit cosine to the source {cosine:.4f} < {min_cosine}"

    return check


def assert_pickle_free(path: Path) -> None:
    """Every file is JSON, safetensors, ONNX or text: no pickle, no zip archive (.pt, .bin, .pt2)."""
    for file in path.rglob("*"):
        if file.is_file():
            assert file.suffix in ALLOWED_SUFFIXES, f"{file.name}: unexpected file type in an artifact"
            if file.suffix != ".safetensors":  # its first 8 bytes are a length, which may start with 0x80
                head = file.read_bytes()[:2]
                assert head != b"PK" and head not in PICKLE_MAGIC, f"{file.name} looks like a zip or a pickle"


@pytest.fixture
def pickle_free():
    return assert_pickle_free
