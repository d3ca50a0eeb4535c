"""Session-wide tiny models for the task-type tests, loaded the way the gate loads them."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_compressgate.tasks import LoadedModel

from . import tiny_task_models as tiny


def _load(path: Path, task: str) -> LoadedModel:
    from compressors.loaders import load_model, load_tokenizer

    return LoadedModel(load_model(path, task=task), load_tokenizer(path), "source", str(path))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("task-models")


@pytest.fixture(scope="session")
def ner_model(models_dir: Path) -> LoadedModel:
    return _load(tiny.tiny_bert(models_dir / "ner", "token-classification"), "token-classification")


@pytest.fixture(scope="session")
def qa_model(models_dir: Path) -> LoadedModel:
    return _load(tiny.tiny_bert(models_dir / "qa", "question-answering"), "question-answering")


@pytest.fixture(scope="session")
def encoder(models_dir: Path) -> LoadedModel:
    return _load(tiny.tiny_bert(models_dir / "encoder", "feature-extraction"), "feature-extraction")


@pytest.fixture(scope="session")
def gpt2(models_dir: Path) -> LoadedModel:
    return _load(tiny.tiny_gpt2(models_dir / "gpt2"), "causal-lm")


@pytest.fixture(scope="session")
def t5(models_dir: Path) -> LoadedModel:
    return _load(tiny.tiny_t5(models_dir / "t5"), "summarization")
