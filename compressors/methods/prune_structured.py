"""Structured FFN pruning: remove whole feed-forward neurons, so parameters and FLOPs really go.

Neuron ``j`` of a block's FFN is row ``j`` of each layer that expands to the intermediate size and column
``j`` of the layer that projects back. Its importance is the L2 norm of its incoming weights times the L2
norm of its outgoing weights (a neuron with either side near zero contributes little). The config has a
single intermediate size, so every block keeps the same number of neurons and the new size is written
into the config: the artifact reloads with plain ``from_pretrained``, which the step checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, ConfigError
from ..modelio import load_model_dir
from .modelparts import (count_parameters, is_linear, iter_blocks, replace_module, save_model, shrink_linear,
                         weight_out_in)

# Config attributes that hold the FFN width, by architecture family (BERT/Llama, DistilBERT, GPT-2, T5, OPT).
FFN_SIZE_KEYS = ("intermediate_size", "hidden_dim", "n_inner", "d_ff", "ffn_dim")


@dataclass(frozen=True)
class StructuredConfig(StepConfig):
    """Remove the same share of FFN neurons from every transformer block."""

    fraction: float = 0.25  # share of each block's FFN neurons to remove, in (0, 1)
    multiple_of: int = 1  # keep a neuron count divisible by this (e.g. 8 or 64 for fast matmul kernels)

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"fraction = {self.fraction!r} is invalid: expected a number between 0 and 1, exclusive")
        if self.multiple_of < 1:
            raise ValueError(f"multiple_of = {self.multiple_of!r} is invalid: expected a positive integer")


def ffn_size(config: Any) -> tuple[str, int]:
    """The config key holding the FFN width and its value (GPT-2's ``n_inner = None`` means 4 x hidden)."""
    for key in FFN_SIZE_KEYS:
        if hasattr(config, key):
            value = getattr(config, key)
            if value is None and key == "n_inner":
                value = 4 * config.hidden_size
            if isinstance(value, int):
                return key, value
    raise ConfigError(
        f"prune-structured: {config.model_type} configs name no FFN size ({', '.join(FFN_SIZE_KEYS)}); "
        "this architecture is not supported"
    )


def ffn_layers(block: Any, size: int) -> tuple[list[tuple[str, Any]], list[tuple[str, Any]]]:
    """The block's Linear layers into (``out == size``) and out of (``in == size``) the FFN."""
    up, down = [], []
    for name, module in block.named_modules():
        if is_linear(module):
            out_features, in_features = weight_out_in(module).shape
            if out_features == size:
                up.append((name, module))
            if in_features == size:
                down.append((name, module))
    if not up or not down:
        raise CompressionError("cannot find the FFN layers of a transformer block (no layer of the FFN size)")
    return up, down


def keep_count(size: int, config: StructuredConfig) -> int:
    keep = size - round(config.fraction * size)
    keep -= keep % config.multiple_of
    if keep < 1 or keep >= size:
        raise ConfigError(
            f"fraction = {config.fraction} with multiple_of = {config.multiple_of} leaves {keep} of {size} "
            "FFN neurons; choose values that remove some but not all"
        )
    return keep


def neuron_importance(up, down):
    """Per neuron: L2 norm of its incoming rows (all up layers) x L2 norm of its outgoing column."""
    incoming = sum(weight_out_in(m).detach().pow(2).sum(1) for _, m in up).sqrt()
    outgoing = sum(weight_out_in(m).detach().pow(2).sum(0) for _, m in down).sqrt()
    return incoming * outgoing


def reload_check(out_dir: Path, context: Context, expected: int) -> int:
    """Reload the artifact with from_pretrained and run it once: shapes, count and forward must all hold."""
    import torch

    model = load_model_dir(out_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    found = count_parameters(model)
    if found != expected:
        raise CompressionError(f"the saved model reloads with {found} parameters, not the {expected} it was saved with")
    with torch.no_grad():
        model(input_ids=torch.ones(1, 8, dtype=torch.long), attention_mask=torch.ones(1, 8, dtype=torch.long))
    return found


@register("prune-structured", StructuredConfig, produces=ModelFormat.TRANSFORMERS)
def prune_structured(model_dir: Path, config: StructuredConfig, out_dir: Path, context: Context) -> Result:
    """Structured FFN neuron pruning (L2 importance), same width in every block, config updated."""
    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    key, size = ffn_size(model.config)
    if size == model.config.hidden_size:
        raise ConfigError("prune-structured: the FFN width equals the hidden size, so its layers cannot be told apart")
    keep = keep_count(size, config)
    before = count_parameters(model)
    blocks = 0
    for _, block in iter_blocks(model):
        up, down = ffn_layers(block, size)
        index = neuron_importance(up, down).argsort(descending=True)[:keep].sort().values
        for name, module in up:
            replace_module(block, name, shrink_linear(module, index, outputs=True))
        for name, module in down:
            replace_module(block, name, shrink_linear(module, index, outputs=False))
        blocks += 1
    setattr(model.config, key, keep)
    after = count_parameters(model)
    save_model(model, model_dir, out_dir)
    return Result(ModelFormat.TRANSFORMERS, {
        "parameters_before": before, "parameters_after": reload_check(out_dir, context, after),
        "parameter_ratio": round(after / before, 4), f"{key}_before": size, f"{key}_after": keep,
        "neurons_removed_per_block": size - keep, "blocks": blocks,
    })
