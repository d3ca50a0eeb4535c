"""The ``torch-quantized`` artifact format: PyTorch modules rebuilt from safetensors, never unpickled.

Several methods write PyTorch models whose modules transformers cannot rebuild by itself (dynamically
quantized Linear layers) or whose dtype ``from_pretrained`` would silently upcast (a float16 cast).
Each writes a ``compressgate-torch.json`` naming its scheme; the one loader registered for the format
reads that file and hands over to the scheme's own loader.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..base import ModelFormat
from ..errors import CompressionError
from ..loaders import LOADERS
from ..registry import Registry

LAYOUT_FILE = "compressgate-torch.json"

SchemeLoader = Callable[[Path, str, dict[str, Any], bool, str], Any]  # ..., trust_remote_code, device
SCHEMES: Registry[SchemeLoader] = Registry("torch artifact scheme")


def write_layout(out_dir: Path, scheme: str, **layout: Any) -> None:
    import torch

    layout = {"scheme": scheme, "torch": torch.__version__, **layout}
    (out_dir / LAYOUT_FILE).write_text(json.dumps(layout, indent=2, sort_keys=True))


def _load(path: Path, task: str, stats: dict[str, Any], trust_remote_code: bool, device: str) -> Any:
    file = path / LAYOUT_FILE
    if not file.is_file():
        raise CompressionError(f"{path} is a torch-quantized artifact without {LAYOUT_FILE}; rebuild it")
    layout = json.loads(file.read_text())
    return SCHEMES.get(layout["scheme"])(path, task, layout, trust_remote_code, device)


LOADERS.register(ModelFormat.TORCH_QUANTIZED.value, _load)


def tied_weight_modules(model) -> set[str]:
    """Modules whose ``weight`` is also registered under another name (an LM head tied to the input
    embedding): quantizing such a layer adds an int8 copy while the float original stays, saving nothing."""
    owners: dict[int, list[str]] = {}
    for name, param in model.named_parameters(remove_duplicate=False):
        owners.setdefault(id(param), []).append(name)
    return {n.removesuffix(".weight") for names in owners.values() if len(names) > 1
            for n in names if n.endswith(".weight")}


def tensor_bytes(tensors: dict[str, Any]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors.values())


def parameter_elements(model) -> int:
    return sum(p.numel() for p in model.parameters())
