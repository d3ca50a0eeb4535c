"""pytest-compressgate: a pytest plugin and CI quality gate for compressed models.

Importing this package is cheap: torch, transformers and onnxruntime are imported only when a model
is built or scored.
"""

from __future__ import annotations

__version__ = "0.1.0"

_LAZY = {
    "assert_no_regression": "pytest_compressgate.assertions",
    "assert_scores_no_regression": "pytest_compressgate.assertions",
    "GateSession": "pytest_compressgate.gate",
    "GateResult": "pytest_compressgate.result",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'pytest_compressgate' has no attribute {name!r}")


__all__ = ["__version__", *_LAZY]
