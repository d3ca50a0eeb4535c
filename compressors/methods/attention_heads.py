"""Attention heads of a transformers model: masking them, removing them, and loading a model that lost some.

A helper module: it registers no method. transformers 5 removed ``head_mask``, ``prune_heads`` and
``config.pruned_heads``, so the project does all three itself, in one code path for 4.57 and 5.x:

- a head's importance mask scales that head's slice of the attention context where it enters the output
  projection (a forward pre-hook), which is what ``head_mask`` did and works with any attention kernel;
- removing a head drops its rows from q/k/v and its columns from the output projection and updates the
  counters the attention's forward reads (their names differ by family and by transformers version);
- the removed heads are written into ``config.json`` under ``PRUNED_HEADS_KEY``; a loader builds the model
  from its config, removes the same heads, then reads the safetensors weights, since ``from_pretrained``
  alone rebuilds the full shapes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import CompressionError, ConfigError
from ..model_classes import auto_class
from .modelparts import block_list, read_saved_weights, replace_module, shrink_linear

PRUNED_HEADS_KEY = "compressgate_pruned_heads"  # {"layer": [original head indices]} in config.json


@dataclass(frozen=True)
class AttentionLayout:
    """Where one model family keeps a block's attention projections, relative to the block."""

    owner: str  # the attention module whose counters the forward reads
    head_size: str  # owner attribute holding the width of one head
    heads: tuple[str, ...]  # owner attributes holding the head count (only those present are updated)
    widths: tuple[str, ...]  # owner attributes holding heads x head_size
    inputs: tuple[str, ...]  # q, k, v projections, separate (outputs are heads) ...
    fused: str | None  # ... or one fused q|k|v projection (GPT-2's c_attn)
    output: str  # the projection back to the hidden size (inputs are heads)


LAYOUTS = (
    AttentionLayout(  # BERT, RoBERTa, ELECTRA, MiniLM, XLM-R ...
        owner="attention.self", head_size="attention_head_size", heads=("num_attention_heads",),
        widths=("all_head_size",), inputs=("attention.self.query", "attention.self.key", "attention.self.value"),
        fused=None, output="attention.output.dense"),
    AttentionLayout(  # DistilBERT
        owner="attention", head_size="attention_head_size", heads=("n_heads",), widths=("dim",),
        inputs=("attention.q_lin", "attention.k_lin", "attention.v_lin"), fused=None, output="attention.out_lin"),
    AttentionLayout(  # GPT-2
        owner="attn", head_size="head_dim", heads=("num_heads",), widths=("split_size",), inputs=(),
        fused="attn.c_attn", output="attn.c_proj"),
)


def _has(module: Any, name: str) -> bool:
    try:
        module.get_submodule(name)
    except AttributeError:
        return False
    return True


def layout_of(block: Any) -> AttentionLayout | None:
    """The layout whose modules all exist in ``block``; None for families this module does not know."""
    if _has(block, "crossattention") or _has(block, "attn.q_attn"):  # cross-attention heads are not masked
        return None
    for layout in LAYOUTS:
        names = (layout.owner, *layout.inputs, *([layout.fused] if layout.fused else []), layout.output)
        if all(_has(block, n) for n in names) and hasattr(block.get_submodule(layout.owner), layout.head_size):
            return layout
    return None


def attention_blocks(model: Any) -> list[tuple[Any, AttentionLayout]]:
    """Every transformer block with its layout; a ConfigError names the model when one is unknown."""
    _, blocks = block_list(model)
    layouts = [(block, layout_of(block)) for block in blocks]
    found = [(block, layout) for block, layout in layouts if layout is not None]
    if not found or len(found) < len(layouts):
        families = "BERT-style (attention.self.query), DistilBERT (attention.q_lin) and GPT-2 (attn.c_attn)"
        raise ConfigError(f"prune-heads: cannot find the attention heads of {type(model).__name__}; "
                          f"supported are {families} encoders and decoders without cross-attention")
    return found


def head_counts(model: Any) -> list[tuple[int, int]]:
    """(heads, head size) of every block as the model is now."""
    out = []
    for block, layout in attention_blocks(model):
        owner = block.get_submodule(layout.owner)
        out.append((getattr(owner, layout.heads[0]), getattr(owner, layout.head_size)))
    return out


@contextmanager
def head_mask(model: Any, mask) -> Iterator[None]:
    """While inside, each head's context is multiplied by ``mask[layer, head]`` before the output projection:
    the gradient of the loss with respect to ``mask`` is each head's importance (Michel et al., 2019)."""
    handles = []
    for layer, ((block, layout), (heads, size)) in enumerate(zip(attention_blocks(model), head_counts(model))):
        def scale(module, args, layer=layer, heads=heads, size=size):
            x = args[0]
            weights = mask[layer].to(x.dtype).repeat_interleave(size)  # one factor per context feature
            return (x * weights, *args[1:])

        handles.append(block.get_submodule(layout.output).register_forward_pre_hook(scale))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def remove_heads(model: Any, removal: dict[int, list[int]]) -> None:
    """Remove ``removal[layer]`` (original head indices) from each layer's projections, in place."""
    import torch

    blocks = attention_blocks(model)
    for layer, doomed in sorted(removal.items()):
        if not 0 <= layer < len(blocks):
            raise CompressionError(f"pruned heads name layer {layer}; the model has {len(blocks)} blocks")
        block, layout = blocks[layer]
        owner = block.get_submodule(layout.owner)
        heads, size = getattr(owner, layout.heads[0]), getattr(owner, layout.head_size)
        keep = [h for h in range(heads) if h not in set(doomed)]
        if not keep or len(keep) + len(set(doomed)) != heads:
            raise CompressionError(f"cannot remove heads {doomed} of layer {layer}: it has heads 0..{heads - 1}")
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in keep])
        if layout.fused:
            width = heads * size
            fused = torch.cat([index, index + width, index + 2 * width])
            replace_module(block, layout.fused, shrink_linear(block.get_submodule(layout.fused), fused, outputs=True))
        for name in layout.inputs:
            replace_module(block, name, shrink_linear(block.get_submodule(name), index, outputs=True))
        replace_module(block, layout.output, shrink_linear(block.get_submodule(layout.output), index, outputs=False))
        for attr in layout.heads:
            if hasattr(owner, attr):
                setattr(owner, attr, len(keep))
        for attr in layout.widths:
            if hasattr(owner, attr):
                setattr(owner, attr, len(keep) * size)


def recorded_heads(config: Any) -> dict[int, list[int]]:
    """The heads a config says were removed, by layer (transformers 4's own ``pruned_heads`` is not read:
    4.57 removes those itself while building the model)."""
    raw = getattr(config, PRUNED_HEADS_KEY, None) or {}
    return {int(layer): sorted(int(h) for h in heads) for layer, heads in dict(raw).items() if heads}


def record_heads(config: Any, removal: dict[int, list[int]]) -> None:
    """Write ``removal`` into the config under the project's key (JSON keys are strings); none: no key."""
    removal = {layer: heads for layer, heads in removal.items() if heads}
    if removal:
        setattr(config, PRUNED_HEADS_KEY, {str(layer): sorted(heads) for layer, heads in sorted(removal.items())})
    elif hasattr(config, PRUNED_HEADS_KEY):
        delattr(config, PRUNED_HEADS_KEY)


def records_pruned_heads(path: str | Path) -> bool:
    """Whether the directory's config.json names removed heads (cheap: no transformers import)."""
    file = Path(path) / "config.json"
    return file.is_file() and bool(json.loads(file.read_text()).get(PRUNED_HEADS_KEY))


def load_head_pruned(path: str | Path, task: str, *, trust_remote_code: bool = False, device: str = "cpu",
                     dtype: Any = None, attn_implementation: str | None = None) -> Any:
    """A head-pruned checkpoint: built from its config, the recorded heads removed, then its safetensors
    weights read in (every tensor must fit; only weights tied to a stored one may be absent)."""
    import torch
    from transformers import AutoConfig, GenerationConfig

    path = Path(path)
    config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = auto_class(task).from_config(config, trust_remote_code=trust_remote_code, **extra)
    model.tie_weights()  # 4.57 skips tying once gptqmodel has switched its global _init_weights off
    remove_heads(model, recorded_heads(config))
    state = read_saved_weights(path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    loaded = {id(p) for name, p in model.named_parameters(remove_duplicate=False) if name in state}
    params = dict(model.named_parameters(remove_duplicate=False))
    untied = [k for k in missing if k not in params or id(params[k]) not in loaded]
    if untied or unexpected:
        raise CompressionError(f"{path}: the stored weights do not fit the head-pruned architecture "
                               f"(missing {untied[:5]}, unexpected {list(unexpected)[:5]})")
    if (path / "generation_config.json").is_file():
        model.generation_config = GenerationConfig.from_pretrained(str(path))
    if dtype == "auto":
        dtype = next(t.dtype for t in state.values() if t.is_floating_point())
    if dtype is not None:
        model.to(getattr(torch, dtype) if isinstance(dtype, str) else dtype)
    if device == "auto":  # one device is enough for what this loader serves; accelerate is not needed
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return model.to(device).eval()

