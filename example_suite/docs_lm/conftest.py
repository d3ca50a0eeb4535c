"""The docs-lm project's hooks: the model under test is trained here on first use (see train_lm.py)."""

from __future__ import annotations

import os

from train_lm import docs_lm

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local


def pytest_compressgate_build_source(gate_config):
    if gate_config.source.model != "docs-lm":
        return None
    return str(docs_lm(gate_config.cache_dir))
