"""Weight pruning that keeps shapes: global magnitude pruning and semi-structured 2:4 sparsity.

Both write ordinary dense safetensors with the zeros in them (the masks are made permanent first), so
the artifact reloads with plain ``from_pretrained`` and stacks before quantization. Every figure they
report is measured from the saved file, and a save that lost the zeros fails the step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError
from ..modelio import load_model_dir
from .modelparts import (
    LinearScope, all_linear_names, measured_sparsity, read_saved_weights, save_model, saved_weight,
    select_linears, weight_out_in,
)

GROUP, KEEP = 4, 2  # 2:4 — keep the 2 largest of every 4 consecutive weights along the input dimension


@dataclass(frozen=True)
class MagnitudeConfig(StepConfig):
    """Zero the smallest-magnitude weights across all selected Linear layers at once (one global threshold)."""

    sparsity: float = 0.5  # fraction of the selected weights set to zero, in (0, 1)
    scope: LinearScope = LinearScope.ALL_LINEAR  # all-linear, or encoder-only (the repeated blocks)
    skip_head: bool = True  # leave the task head (classifier / LM head) dense: it is small and sensitive

    def __post_init__(self) -> None:
        if not 0.0 < self.sparsity < 1.0:
            raise ValueError(f"sparsity = {self.sparsity!r} is invalid: expected a number between 0 and 1, exclusive")


@dataclass(frozen=True)
class SemiStructuredConfig(StepConfig):
    """2:4 sparsity: in every group of 4 consecutive input weights of a row, the 2 smallest become zero."""

    scope: LinearScope = LinearScope.ALL_LINEAR  # all-linear, or encoder-only (the repeated blocks)
    skip_head: bool = True  # leave the task head dense


@register("prune-magnitude", MagnitudeConfig, produces=ModelFormat.TRANSFORMERS)
def prune_magnitude(model_dir: Path, config: MagnitudeConfig, out_dir: Path, context: Context) -> Result:
    """Global unstructured magnitude pruning of Linear weights (torch.nn.utils.prune), zeros saved."""
    import torch
    from torch.nn.utils import prune

    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    chosen = select_linears(model, config.scope, skip_head=config.skip_head)
    targets = [(module, "weight") for _, module in chosen]
    with torch.no_grad():
        prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=config.sparsity)
    for module, name in targets:
        prune.remove(module, name)  # fold the mask into the weight so the zeros are what gets saved
    save_model(model, model_dir, out_dir)
    stats = measured_sparsity(out_dir, [n for n, _ in chosen], all_linear_names(model))
    if stats["sparsity"] < config.sparsity - 0.01:
        raise CompressionError(
            f"asked for sparsity {config.sparsity} but the saved weights measure {stats['sparsity']}: "
            "the zeros did not survive save_pretrained"
        )
    return Result(ModelFormat.TRANSFORMERS, {**stats, "target_sparsity": config.sparsity})


def two_four_mask(weight):
    """Boolean keep-mask for a (out, in) weight whose ``in`` is a multiple of 4."""
    import torch

    rows, cols = weight.shape
    groups = weight.detach().abs().reshape(rows, cols // GROUP, GROUP)
    keep = groups.topk(KEEP, dim=-1).indices
    mask = torch.zeros_like(groups, dtype=torch.bool).scatter_(-1, keep, True)
    return mask.reshape(rows, cols)


def two_four_violations(weight) -> int:
    """How many groups of 4 hold more than 2 non-zeros (0 when the pattern holds)."""
    rows, cols = weight.shape
    nonzero = (weight.reshape(rows, cols // GROUP, GROUP) != 0).sum(-1)
    return int((nonzero > KEEP).sum())


@register("prune-2:4", SemiStructuredConfig, produces=ModelFormat.TRANSFORMERS)
def prune_two_four(model_dir: Path, config: SemiStructuredConfig, out_dir: Path, context: Context) -> Result:
    """Semi-structured 2:4 sparsity on Linear weights, pattern verified in the saved weights."""
    import torch
    from torch import nn

    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    chosen: list[tuple[str, Any]] = []
    skipped: list[tuple[str, Any]] = []
    for name, module in select_linears(model, config.scope, skip_head=config.skip_head):
        weight = weight_out_in(module)
        (chosen if weight.shape[1] % GROUP == 0 else skipped).append((name, module))
    if not chosen:
        raise CompressionError(f"no selected Linear layer has an input size divisible by {GROUP}")
    with torch.no_grad():
        for _, module in chosen:
            weight = weight_out_in(module)  # a view: Conv1D stores (in, out)
            weight.mul_(two_four_mask(weight))
    save_model(model, model_dir, out_dir)

    saved = read_saved_weights(out_dir)
    violations = 0
    for name, module in chosen:
        tensor = saved_weight(saved, name)
        violations += two_four_violations(tensor if isinstance(module, nn.Linear) else tensor.t())
    if violations:
        raise CompressionError(f"{violations} groups of {GROUP} in the saved weights break the 2:4 pattern")
    stats = measured_sparsity(out_dir, [n for n, _ in chosen], all_linear_names(model))
    stats.update(pattern="2:4", pattern_verified=True, layers_skipped=[n for n, _ in skipped])
    return Result(ModelFormat.TRANSFORMERS, stats)
