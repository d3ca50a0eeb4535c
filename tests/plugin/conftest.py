from __future__ import annotations

from pathlib import Path

import pytest

# In-process pytester runs restore sys.modules after each run; libraries that register global state
# on import (datasets registers pyarrow extension types) must therefore be imported once, out here.
import datasets  # noqa: E402,F401
import onnx  # noqa: E402,F401  (protobuf registrations abort the process when imported twice)
import onnxruntime  # noqa: E402,F401
import onnxruntime.quantization  # noqa: E402,F401  (its classes are compared by identity)
import scipy.stats  # noqa: E402,F401
import sklearn.metrics  # noqa: E402,F401
import torch  # noqa: E402,F401

# The same holds for this project's own registries: a method module first imported inside an in-process
# run would vanish from sys.modules afterwards while its registration stayed. Import them all up front.
import compressors.base  # noqa: E402
import compressors.onnx  # noqa: E402,F401
import pytest_compressgate.registry  # noqa: E402,F401
import pytest_compressgate.gate  # noqa: E402,F401

from tests.tinymodels import gate_toml  # noqa: E402

compressors.base._ensure_builtin_methods()



@pytest.fixture
def gate_project(pytester: pytest.Pytester, tiny_classifier_dir: Path, tiny_test_data: Path, tmp_path_factory):
    """Write a pyproject.toml declaring a gate on the tiny classifier; returns a function to rewrite it.

    The cache is shared across these tests so the ONNX artifact is built once per session.
    """
    cache = tmp_path_factory.getbasetemp() / "shared-gate-cache"

    def write(max_drop: float = 0.05, extra: str = "", **overrides: str) -> Path:
        text = gate_toml(model=tiny_classifier_dir, cache=cache, data=tiny_test_data, max_drop=max_drop,
                         extra=extra)
        for old, new in overrides.items():
            text = text.replace(old, new)
        return pytester.makepyprojecttoml(text)

    return write
