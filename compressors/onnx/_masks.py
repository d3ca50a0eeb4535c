"""Attention masks the TorchScript tracer can follow, for transformers 4.5x.

transformers 4.53-4.57 build causal-LM attention masks with ``torch.vmap`` over the mask functions,
which ``torch.jit.trace`` cannot record ("unordered_map::at"). The same masks come out of plain
broadcasting of the same mask functions over index tensors; that is what transformers 5 does by
default, so there nothing is patched. (optimum-onnx patches the same two functions the same way.)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any, cast


@contextlib.contextmanager
def traceable_masks() -> Iterator[None]:
    """Within the block, the "sdpa" and "eager" mask builders broadcast instead of using vmap."""
    import torch

    try:
        from transformers import masking_utils as mu
    except ImportError:  # older transformers had no masking_utils and no vmap
        yield
        return
    if not hasattr(mu, "sdpa_mask_recent_torch"):  # transformers 5: masks are built without vmap already
        yield
        return

    def sdpa(batch_size, cache_position, kv_length, kv_offset=0, mask_function=None, attention_mask=None,
             local_size=None, allow_is_causal_skip=True, **kwargs):
        mask_function = mask_function or mu.causal_mask_function
        q_length = cache_position.shape[0]
        padding = mu.prepare_padding_mask(attention_mask, kv_length, kv_offset, _slice=False)
        if allow_is_causal_skip and mu._ignore_causal_mask_sdpa(padding, q_length, kv_length, kv_offset, local_size):
            return None
        if padding is not None:
            mask_function = mu.and_masks(mask_function, mu.padding_mask_function(padding))
        device = cache_position.device
        mask = mask_function(torch.arange(batch_size, device=device)[:, None, None, None],
                             torch.zeros(1, dtype=torch.long, device=device)[None, :, None, None],
                             cache_position[None, None, :, None],
                             torch.arange(kv_length, device=device)[None, None, None, :] + kv_offset)
        return mask.expand(batch_size, -1, q_length, kv_length)

    def eager(*args, dtype=torch.float32, **kwargs):
        kwargs.pop("allow_is_causal_skip", None)
        mask = sdpa(*args, allow_is_causal_skip=False, **kwargs)
        return torch.where(mask, torch.tensor(0.0, device=mask.device, dtype=dtype), torch.finfo(dtype).min)

    registry = mu.ALL_MASK_ATTENTION_FUNCTIONS
    # a dict literal of several functions in transformers, which mypy types as builtins.function, not Callable
    mapping = cast("dict[str, Callable[..., Any]]", registry._global_mapping)
    saved = {name: mapping[name] for name in ("sdpa", "eager")}
    registry.register("sdpa", sdpa)
    registry.register("eager", eager)
    try:
        yield
    finally:
        for name, function in saved.items():
            registry.register(name, function)
