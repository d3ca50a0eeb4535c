"""Load a model or artifact for inference, by format. Whoever writes a format knows how to read it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import MANIFEST, ModelFormat
from .modelio import load_transformers
from .registry import Registry

# (path, task, manifest stats, trust_remote_code, device) -> model. ``device`` is where the caller wants it
# ("cpu", "cuda", or "auto" for accelerate's device_map over every GPU, which formats other than plain
# transformers read as "cuda"); a format whose kernels run only on CPU loads there, and the model's
# ``device`` says where it landed.
Loader = Callable[[Path, str, dict[str, Any], bool, str], Any]
LOADERS: Registry[Loader] = Registry("model format")


def _transformers(path: Path, task: str, stats: dict[str, Any], trust_remote_code: bool, device: str) -> Any:
    if device == "auto":  # accelerate places the layers over every GPU (and CPU memory if they run out)
        return load_transformers(path, task, trust_remote_code=trust_remote_code, device_map="auto")
    return load_transformers(path, task, trust_remote_code=trust_remote_code).to(device)


def _onnx(path: Path, task: str, stats: dict[str, Any], trust_remote_code: bool, device: str) -> Any:
    import onnxruntime

    file_name = stats.get("onnx_file") or next(p.name for p in sorted(path.glob("*.onnx")))
    cuda = device == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers()
    provider = "CUDAExecutionProvider" if cuda else "CPUExecutionProvider"  # onnxruntime-gpu has the former
    from .onnx import OrtModel

    return OrtModel.from_pretrained(path, file_name=file_name, provider=provider, task=task,
                                    trust_remote_code=trust_remote_code)


LOADERS.register(ModelFormat.TRANSFORMERS.value, _transformers)
LOADERS.register(ModelFormat.ONNX.value, _onnx)


def manifest_of(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    return json.loads(file.read_text()) if file.is_file() else {}


def load_model(path: str | Path, *, task: str, trust_remote_code: bool = False, device: str = "cpu") -> Any:
    """The model in ``path`` (a plain transformers directory or an artifact), ready for inference on
    ``device`` where its format has kernels there (its ``device`` attribute tells), else on CPU."""
    from .base import _ensure_builtin_methods

    _ensure_builtin_methods()  # methods register loaders for the formats they write
    path = Path(path)
    manifest = manifest_of(path)
    fmt = manifest.get("format", ModelFormat.TRANSFORMERS.value)
    if device == "auto" and fmt != ModelFormat.TRANSFORMERS.value:
        device = "cuda"
    return LOADERS.get(fmt)(path, task, manifest.get("stats", {}), trust_remote_code, device)


def load_tokenizer(path: str | Path, *, trust_remote_code: bool = False) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), trust_remote_code=trust_remote_code)
