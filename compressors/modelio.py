"""Loading a transformers model directory for a recipe step or for scoring (a head-pruned one included)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .model_classes import TASK_CLASSES, auto_class, copy_tokenizer

__all__ = ["TASK_CLASSES", "auto_class", "copy_tokenizer", "load_model_dir", "load_transformers"]


def load_transformers(model_dir: Path, task: str, *, trust_remote_code: bool = False, **kwargs):
    """Load a transformers model for ``task`` in eval mode on CPU, never running remote code unasked.

    A prune-heads stage is rebuilt by its own loader: ``from_pretrained`` alone would make the full shapes."""
    from .methods.attention_heads import load_head_pruned, records_pruned_heads

    if records_pruned_heads(model_dir):  # one device is enough for such a model: device_map="auto" means a GPU
        device = "auto" if kwargs.get("device_map") == "auto" else "cpu"
        return load_head_pruned(model_dir, task, trust_remote_code=trust_remote_code, device=device,
                                dtype=kwargs.get("dtype"), attn_implementation=kwargs.get("attn_implementation"))
    model = auto_class(task).from_pretrained(str(model_dir), trust_remote_code=trust_remote_code, **kwargs)
    return model.eval()


def load_model_dir(model_dir: str | Path, task: str, *, trust_remote_code: bool = False, dtype: Any = None) -> Any:
    """A recipe step's input, on CPU (``dtype``: as stored with "auto", else the default)."""
    extra = {"dtype": dtype} if dtype is not None else {}
    return load_transformers(Path(model_dir), task, trust_remote_code=trust_remote_code, **extra)
