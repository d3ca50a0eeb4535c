from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no hub on CI machines: every model and data set is local
pytest.register_assert_rewrite("tests.tinymodels")


@pytest.fixture(scope="session")
def tiny_classifier_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained tiny BERT classifier on disk, built once per test session."""
    from tests.tinymodels import tiny_classifier

    return tiny_classifier(tmp_path_factory.mktemp("models") / "tiny-classifier")


@pytest.fixture(scope="session")
def tiny_test_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.tinymodels import make_rows, write_jsonl

    return write_jsonl(tmp_path_factory.mktemp("data") / "test.jsonl", make_rows(150, seed=99))
