"""Finding the parts of a transformers model that pruning and distillation act on, and measuring them.

A helper module: it registers no method. Every figure a pruning method reports is measured here from
the tensors written to disk, not from what the method meant to do, so a save that silently drops the
zeros (or a reload that restores the old shapes) shows up in the numbers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum
from pathlib import Path
from typing import Any

from ..errors import CompressionError

# Names under which transformers models keep their repeated blocks: bert.encoder.layer.3, h.3, layers.3 ...
_BLOCK = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


class LinearScope(str, Enum):
    """Which weight matrices a pruning method may touch."""

    ALL_LINEAR = "all-linear"  # every Linear/Conv1D layer (the task head only if skip_head = false)
    ENCODER_ONLY = "encoder-only"  # only layers inside the repeated transformer blocks


def is_linear(module: Any) -> bool:
    """``nn.Linear`` or transformers' GPT-2 style ``Conv1D`` (same matmul, transposed weight)."""
    import torch.nn as nn
    from transformers.pytorch_utils import Conv1D

    return isinstance(module, (nn.Linear, Conv1D))


def weight_out_in(module: Any):
    """The weight as (out_features, in_features), whichever way the layer stores it (a view, not a copy)."""
    import torch.nn as nn

    return module.weight if isinstance(module, nn.Linear) else module.weight.t()


def shrink_linear(layer: Any, index, *, outputs: bool) -> Any:
    """A new layer keeping only the output (``outputs``) or input features in ``index``, for nn.Linear
    and GPT-2's Conv1D (whose weight is stored (in, out); transformers 5 dropped its helper for it)."""
    import torch
    import torch.nn as nn
    from transformers.pytorch_utils import Conv1D, prune_linear_layer

    if isinstance(layer, nn.Linear):
        return prune_linear_layer(layer, index, dim=0 if outputs else 1)
    index = index.to(layer.weight.device)
    weight = layer.weight.index_select(1 if outputs else 0, index)
    bias = layer.bias[index] if outputs else layer.bias
    new = Conv1D(weight.shape[1], weight.shape[0]).to(device=weight.device, dtype=weight.dtype)
    with torch.no_grad():
        new.weight.copy_(weight)
        new.bias.copy_(bias)
    return new


def replace_module(root: Any, name: str, new: Any) -> None:
    """Put ``new`` where ``root.get_submodule(name)`` was."""
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, new)


def head_prefixes(model: Any) -> tuple[str, ...]:
    """Module-name prefixes that belong to the task head: everything outside the base model, plus
    output embeddings (an LM head tied to the input embeddings must never be pruned on its own)."""
    base = getattr(model, "base_model_prefix", "")
    if not base or getattr(model, base, None) is None:
        return ()
    names = [name for name, _ in model.named_children() if name != base]
    out_emb = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    names += [name for name, mod in model.named_modules() if out_emb is not None and mod is out_emb]
    return tuple(names)


def select_linears(model: Any, scope: LinearScope, *, skip_head: bool) -> list[tuple[str, Any]]:
    """``(qualified name, module)`` for every Linear layer in ``scope``."""
    heads = head_prefixes(model)
    owned = set(all_linear_names(model))  # a weight tied to the embeddings is never pruned through the head
    chosen = []
    for name, module in model.named_modules():
        if name not in owned:
            continue
        in_head = any(name == h or name.startswith(h + ".") for h in heads)
        if skip_head and in_head:
            continue
        if scope is LinearScope.ENCODER_ONLY and not _BLOCK.search(name + "."):
            continue
        chosen.append((name, module))
    if not chosen:
        raise CompressionError(f"no Linear layers matched scope {scope.value!r} in {type(model).__name__}")
    return chosen


def all_linear_names(model: Any) -> list[str]:
    """Every Linear layer that owns its weight (an LM head tied to the embeddings is saved as those)."""
    owned = {name for name, _ in model.named_parameters()}  # tied parameters appear once, by first name
    return [name for name, module in model.named_modules() if is_linear(module) and f"{name}.weight" in owned]


def block_list(model: Any) -> tuple[str, Any]:
    """The ``nn.ModuleList`` holding the model's transformer blocks and its qualified name."""
    import torch.nn as nn

    count = getattr(model.config, "num_hidden_layers", None)
    for name, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == count and count:
            return name, module
    raise CompressionError(
        f"cannot find the list of {count} transformer blocks in {type(model).__name__}; "
        "this architecture is not supported by this method"
    )


def count_parameters(model: Any) -> int:
    return sum(p.numel() for p in model.parameters())


def read_saved_weights(directory: Path) -> dict[str, Any]:
    """Every tensor in the directory's safetensors files, read back from disk."""
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if not files:
        raise CompressionError(f"no safetensors weights were written to {directory}")
    tensors: dict[str, Any] = {}
    for file in files:
        tensors.update(load_file(str(file)))
    return tensors


def saved_weight(tensors: dict[str, Any], module_name: str):
    """The saved ``<module>.weight``; a missing key means save_pretrained renamed or dropped it."""
    key = f"{module_name}.weight"
    if key not in tensors:
        raise CompressionError(f"{key} is not in the saved weights; cannot measure what was pruned")
    return tensors[key]


def zero_share(tensors: list[Any]) -> float:
    total = sum(t.numel() for t in tensors)
    zeros = sum(int((t == 0).sum()) for t in tensors)
    return zeros / max(total, 1)


def measured_sparsity(directory: Path, pruned: list[str], linears: list[str]) -> dict[str, Any]:
    """Sparsity of the pruned tensors, of all Linear weights, and parameter counts, read from disk."""
    tensors = read_saved_weights(directory)
    floats = [t for t in tensors.values() if t.is_floating_point()]
    return {
        "sparsity": round(zero_share([saved_weight(tensors, n) for n in pruned]), 6),
        "model_sparsity": round(zero_share([saved_weight(tensors, n) for n in linears]), 6),
        "parameters": sum(t.numel() for t in floats),
        "nonzero_parameters": sum(int(t.count_nonzero()) for t in floats),
        "pruned_tensors": len(pruned),
    }


def iter_blocks(model: Any) -> Iterator[tuple[int, Any]]:
    _, blocks = block_list(model)
    yield from enumerate(blocks)


def save_model(model: Any, model_dir: Path, out_dir: Path) -> None:
    """save_pretrained as safetensors plus the source's tokenizer, so the artifact stands alone."""
    from ..model_classes import copy_tokenizer

    model.save_pretrained(str(out_dir), safe_serialization=True)
    copy_tokenizer(model_dir, out_dir)
