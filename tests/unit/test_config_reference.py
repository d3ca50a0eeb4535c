"""docs/configuration.md is generated from the config schema; this fails while the committed file is stale."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_configuration_reference_is_current():
    # A fresh process: tests register their own metrics and scorers, which must not leak into the reference.
    done = subprocess.run([sys.executable, "scripts/gen_config_reference.py", "--check"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr or done.stdout


def test_the_reference_lists_every_key_the_loader_accepts():
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    from compressors.base import METHODS, _ensure_builtin_methods
    from pytest_compressgate.config import loading
    from pytest_compressgate.tasks import TASK_TYPES

    _ensure_builtin_methods()
    keys = set(loading.TOP_KEYS + loading.TASK_KEYS + loading.TARGET_KEYS + loading.THRESHOLD_KEYS) - {"targets"}
    for name in TASK_TYPES.names():
        keys |= set(TASK_TYPES.get(name).options_fields())
        assert f'`type = "{name}"`' in text
    for name in METHODS.names():
        assert f"### `{name}`" in text
    missing = sorted(k for k in keys if f"| `{k}` |" not in text)
    assert not missing, f"keys the loader accepts but the reference lacks: {missing}"
