"""Attention-head pruning by measured importance (Michel et al., 2019, "Are Sixteen Heads Really Better
than One?").

Each head gets a mask variable fixed at 1, applied to its slice of the attention context; its importance
is |d loss / d mask| summed over calibration data, normalised per layer. The least important heads are
removed from the q/k/v and output projections (``attention_heads``: transformers 5 has no ``head_mask``
or ``prune_heads``), recorded in config.json and the manifest, and the step reloads its own output the
way the gate will, to prove the smaller shapes come back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, ConfigError
from ..typed import path_field
from ..modelio import load_model_dir
from .attention_heads import head_counts, head_mask, load_head_pruned, record_heads, recorded_heads, remove_heads
from .modelparts import count_parameters, save_model
from .textdata import batches, labels_of, pick_device, read_rows, seed_everything, texts_of

DEFAULT_FRACTION = 0.25
METHOD_VERSION = 2  # 2: heads removed and recorded by the project itself (config key compressgate_pruned_heads)
SUPPORTED_TASKS = ("text-classification", "token-classification", "causal-lm", "text-generation")


@dataclass(frozen=True)
class HeadPruningConfig(StepConfig):
    """Remove the attention heads whose masking changes the loss least on calibration data."""

    fraction: float | None = None  # share of all heads to remove, in (0, 1); 0.25 when heads_per_layer is unset
    heads_per_layer: int | None = None  # instead of fraction: remove this many heads from every layer
    calibration: str | None = path_field()  # local JSONL/JSON/CSV file of your texts; required to build
    text_column: str = "text"
    label_column: str | None = "label"  # used when present (classification); else the model's own predictions
    num_samples: int = 128  # calibration examples read from the start of the file
    batch_size: int = 16
    max_length: int = 128  # tokens per example

    def __post_init__(self) -> None:
        if self.fraction is not None and self.heads_per_layer is not None:
            raise ValueError("give fraction or heads_per_layer, not both")
        if self.fraction is not None and not 0.0 < self.fraction < 1.0:
            raise ValueError(f"fraction = {self.fraction!r} is invalid: expected a number between 0 and 1, exclusive")
        if self.heads_per_layer is not None and self.heads_per_layer < 1:
            raise ValueError(f"heads_per_layer = {self.heads_per_layer!r} is invalid: expected at least 1")
        for key in ("num_samples", "batch_size", "max_length"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} = {getattr(self, key)!r} is invalid: expected a positive integer")


def calibration_data(config: HeadPruningConfig, label2id: dict) -> tuple[list[str], list | None]:
    if config.calibration is None:
        raise ConfigError(
            "prune-heads needs calibration data to measure head importance: "
            "set calibration = \"data/calib.jsonl\" (a local JSONL/CSV file with a text column)"
        )
    rows = read_rows(config.calibration, where="calibration")[: config.num_samples]
    texts = texts_of(rows, config.text_column, where="text_column")
    labels = labels_of(rows, config.label_column, label2id, where="label_column") if label2id else None
    return texts, labels


def task_loss(task: str, model: Any, enc: dict, labels):
    """The loss whose gradient ranks heads: true labels when given, else the model's own predictions."""
    import torch.nn.functional as F

    if task in ("causal-lm", "text-generation"):
        targets = enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)
        return model(**enc, labels=targets).loss
    logits = model(**enc).logits
    if task == "token-classification":
        own = logits.argmax(-1).masked_fill(enc["attention_mask"] == 0, -100)
        return F.cross_entropy(logits.flatten(0, 1), own.flatten(), ignore_index=-100)
    return F.cross_entropy(logits, labels if labels is not None else logits.argmax(-1))


def head_importance(model: Any, tokenizer: Any, texts: list[str], labels: list | None, config, task: str):
    """|d loss / d mask| per head, summed over the data, each layer scaled to unit L2 norm."""
    import inspect

    import torch

    device = pick_device()
    model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    counts = head_counts(model)
    if len({heads for heads, _ in counts}) != 1:
        raise ConfigError("prune-heads: the layers have different head counts; use one prune-heads step per recipe")
    mask = torch.ones(len(counts), counts[0][0], device=device, requires_grad=True)
    importance = torch.zeros_like(mask)
    accepted = inspect.signature(model.forward).parameters
    with head_mask(model, mask):
        for idx in batches(len(texts), config.batch_size):
            enc = tokenizer([texts[i] for i in idx], padding=True, truncation=True,
                            max_length=config.max_length, return_tensors="pt").to(device)
            enc = {k: v for k, v in enc.items() if k in accepted}
            target = torch.tensor([labels[i] for i in idx], device=device) if labels is not None else None
            task_loss(task, model, enc, target).backward()
            if mask.grad is None:  # only when the model never applies the head mask
                raise CompressionError(f"prune-heads: {type(model).__name__} does not apply a head mask, "
                                       "so its heads cannot be scored")
            importance += mask.grad.abs()
            mask.grad = None
    importance /= importance.norm(dim=-1, keepdim=True) + 1e-20
    return importance.detach().cpu()


def heads_to_remove(importance, config: HeadPruningConfig) -> dict[int, list[int]]:
    """The least important heads, never emptying a layer (a layer with no head cannot be saved)."""
    layers, heads = importance.shape
    if config.heads_per_layer is not None:
        if config.heads_per_layer >= heads:
            raise ConfigError(f"heads_per_layer = {config.heads_per_layer} must be below the {heads} heads per layer")
        order = importance.argsort(dim=-1)[:, : config.heads_per_layer]
        return {layer: sorted(order[layer].tolist()) for layer in range(layers)}
    target = round((config.fraction or DEFAULT_FRACTION) * layers * heads)
    if target < 1:
        raise ConfigError(f"fraction = {config.fraction} removes no head of the model's {layers * heads}")
    chosen: dict[int, list[int]] = {}
    for flat in importance.flatten().argsort().tolist():
        layer, head = divmod(flat, heads)
        if len(chosen.get(layer, [])) < heads - 1 and sum(map(len, chosen.values())) < target:
            chosen.setdefault(layer, []).append(head)
    return {layer: sorted(hs) for layer, hs in sorted(chosen.items())}


def check_prunable(model: Any, task: str) -> None:
    if task not in SUPPORTED_TASKS:
        raise ConfigError(f"prune-heads supports the tasks {', '.join(SUPPORTED_TASKS)}, not {task!r}")
    if recorded_heads(model.config) or getattr(model.config, "pruned_heads", None):
        raise ConfigError("prune-heads: this model already has pruned heads; use one prune-heads step per recipe")
    head_counts(model)  # a ConfigError names the model when its attention layout is unknown


@register("prune-heads", HeadPruningConfig, produces=ModelFormat.TRANSFORMERS, version=METHOD_VERSION)
def prune_heads(model_dir: Path, config: HeadPruningConfig, out_dir: Path, context: Context) -> Result:
    """Attention-head pruning ranked by gradient importance on calibration data (Michel et al. 2019)."""
    import torch
    from transformers import AutoTokenizer

    seed_everything(context.seed)
    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    check_prunable(model, context.model_task)
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=context.trust_remote_code)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    label2id = dict(model.config.label2id) if context.model_task == "text-classification" else {}
    texts, labels = calibration_data(config, label2id)
    importance = head_importance(model, tokenizer, texts, labels, config, context.model_task)
    removal = heads_to_remove(importance, config)
    before = count_parameters(model)
    model.to("cpu")
    remove_heads(model, removal)
    record_heads(model.config, removal)
    save_model(model, model_dir, out_dir)

    reloaded = load_head_pruned(out_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    recorded, after = recorded_heads(reloaded.config), count_parameters(reloaded)
    probe = {"input_ids": torch.ones(1, 8, dtype=torch.long), "attention_mask": torch.ones(1, 8, dtype=torch.long)}
    with torch.no_grad():
        same = torch.allclose(model.eval()(**probe).logits, reloaded(**probe).logits, atol=1e-5)
    if recorded != removal or after != count_parameters(model) or after >= before or not same:
        raise CompressionError(
            f"the saved model does not reload pruned: config records {recorded}, expected {removal}; "
            f"parameters {after} after reload vs {before} before; same outputs: {same}"
        )
    total = importance.numel()
    removed = sum(map(len, removal.values()))
    return Result(ModelFormat.TRANSFORMERS, {
        "heads_before": total, "heads_after": total - removed, "heads_removed": removed,
        "pruned_heads": {str(k): v for k, v in removal.items()},
        "parameters_before": before, "parameters_after": after,
        "calibration_examples": len(texts), "used_labels": labels is not None,
    })
