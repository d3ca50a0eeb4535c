"""PyTorch dynamic INT8 (``torch.ao.quantization.quantize_dynamic`` on nn.Linear): the no-extra baseline.

Saved without pickle: each quantized layer's int8 weight, scales and zero points go to safetensors;
the loader builds the architecture from ``config.json``, runs the same ``quantize_dynamic`` and packs
the stored int8 weights back into the quantized modules.

torch marks ``torch.ao.quantization`` and quantized tensors deprecated in favour of torchao; they work in
the pinned torch 2.13. The two known deprecation warnings are silenced here (``_quiet``) so that every
gate run does not repeat them; moving to torchao's ``quantize_`` is the follow-up when torch moves.
"""

from __future__ import annotations

import fnmatch
import json
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError
from ..modelio import auto_class, copy_tokenizer, load_model_dir
from ._torch_format import LAYOUT_FILE, SCHEMES, parameter_elements, tensor_bytes, tied_weight_modules, write_layout
from .attention_heads import recorded_heads, remove_heads

SCHEME = "torch-dynamic-int8"
WEIGHTS_FILE = "model.int8.safetensors"


@dataclass(frozen=True)
class TorchDynamicInt8Config(StepConfig):
    """INT8 weights for every nn.Linear, activations quantized per batch at run time (CPU only)."""

    per_channel: bool = True  # one weight scale per output channel; more accurate at the same speed
    exclude: tuple[str, ...] = ()  # module-name patterns kept in float, e.g. ["classifier", "*.output.dense"]

    def __post_init__(self) -> None:
        for pattern in self.exclude:
            if not pattern.strip():
                raise ValueError("exclude: an empty module-name pattern would match nothing")


@contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="torch.ao.quantization is deprecated")
        warnings.filterwarnings("ignore", message="torch.quantize_per_tensor, torch.quantize_per_channel")
        yield


def _qconfig(per_channel: bool):
    from torch.ao.quantization import default_dynamic_qconfig, per_channel_dynamic_qconfig

    return per_channel_dynamic_qconfig if per_channel else default_dynamic_qconfig


def _targets(model, config: TorchDynamicInt8Config) -> tuple[set[str], dict[str, Any]]:
    """The nn.Linear layers to quantize, and a note of why any weight layer is left out."""
    import torch

    tied = tied_weight_modules(model)
    linears = {name for name, m in model.named_modules() if type(m) is torch.nn.Linear}
    excluded = {n for n in linears if any(fnmatch.fnmatchcase(n, p) or n.endswith("." + p) or n == p
                                          for p in config.exclude)}
    conv1d = [name for name, m in model.named_modules() if type(m).__name__ == "Conv1D"]
    notes = {"float_linear_layers": len(linears & (tied | excluded)), "tied_linear_skipped": sorted(linears & tied),
             "conv1d_layers_unsupported": len(conv1d)}
    return linears - tied - excluded, notes


def _refusal(notes: dict[str, Any], config: TorchDynamicInt8Config) -> CompressionError:
    why = []
    if notes["conv1d_layers_unsupported"]:
        why.append(f"its {notes['conv1d_layers_unsupported']} weight layers are transformers' Conv1D "
                   "(GPT-2 style), not nn.Linear")
    if notes["tied_linear_skipped"]:
        why.append(f"{', '.join(notes['tied_linear_skipped'])} shares its weight with the input embedding")
    if config.exclude:
        why.append(f"exclude = {list(config.exclude)} removed the rest")
    return CompressionError(
        "torch-dynamic-int8 would quantize nothing: " + ("; ".join(why) or "the model has no nn.Linear layer")
        + ". Use onnx-dynamic-int8 or gptq instead.")


def _stored_tensors(qmodel, quantized: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """Plain tensors for safetensors: int8 weights with their scales, plus every float tensor left."""
    import torch

    tensors: dict[str, Any] = {}
    layers: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple[int, Any, Any], str] = {}  # (data pointer, shape, dtype) -> the first key holding it
    for name in quantized:
        weight, bias = qmodel.get_submodule(name)._weight_bias()
        per_channel = weight.qscheme() in (torch.per_channel_affine, torch.per_channel_symmetric)
        tensors[f"{name}.weight"] = weight.int_repr().contiguous()
        if per_channel:
            scale, zero = weight.q_per_channel_scales(), weight.q_per_channel_zero_points()
            layers[name] = {"per_channel": True, "axis": weight.q_per_channel_axis()}
        else:
            scale, zero = torch.tensor(weight.q_scale()), torch.tensor(weight.q_zero_point())
            layers[name] = {"per_channel": False}
        # torch computes the scales in float32 and keeps qint8 zero points in [-128, 127]: both lossless
        tensors[f"{name}.weight_scale"] = scale.to(torch.float32).contiguous()
        tensors[f"{name}.weight_zero_point"] = zero.to(torch.int8).contiguous()
        if bias is not None:
            tensors[f"{name}.bias"] = bias.detach().contiguous()
    prefixes = tuple(f"{name}." for name in quantized)
    for key, value in qmodel.state_dict().items():
        if key.startswith(prefixes) or not isinstance(value, torch.Tensor):
            continue
        ptr = (value.data_ptr(), value.shape, value.dtype)
        if ptr in seen:  # tied tensors are stored once; the loader restores the alias
            aliases[key] = seen[ptr]
            continue
        seen[ptr] = key
        tensors[key] = value.detach().contiguous()
    return tensors, layers, aliases


@register(SCHEME, TorchDynamicInt8Config, produces=ModelFormat.TORCH_QUANTIZED)
def torch_dynamic_int8(model_dir: Path, config: TorchDynamicInt8Config, out_dir: Path, context: Context) -> Result:
    """PyTorch dynamic INT8 on nn.Linear (no extra dependency; CPU inference)."""
    import torch
    from safetensors.torch import save_file
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    model = load_model_dir(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    targets, notes = _targets(model, config)
    if not targets:
        raise _refusal(notes, config)
    total = parameter_elements(model)
    qconfig = _qconfig(config.per_channel)
    with _quiet():
        qmodel = torch.ao.quantization.quantize_dynamic(model, {n: qconfig for n in targets}, dtype=torch.qint8)
    quantized = sorted(n for n, m in qmodel.named_modules() if isinstance(m, DynamicLinear))
    if not quantized:
        raise _refusal(notes, config)
    tensors, layers, aliases = _stored_tensors(qmodel, quantized)
    save_file(tensors, str(out_dir / WEIGHTS_FILE), metadata={"format": "pt"})
    model.config.save_pretrained(str(out_dir))
    copy_tokenizer(model_dir, out_dir)
    write_layout(out_dir, SCHEME, weights_file=WEIGHTS_FILE, layers=layers, aliases=aliases)
    _check_reload(out_dir, context, qmodel)
    int8_elems = sum(tensors[f"{n}.weight"].numel() for n in quantized)
    return Result(ModelFormat.TORCH_QUANTIZED, {
        "quantized_layers": len(quantized),
        "quantized_weight_share": round(int8_elems / max(total, 1), 4),
        "weight_bytes": tensor_bytes(tensors),
        "per_channel": config.per_channel,
        **notes,
    })


def _probe_inputs(config) -> dict[str, Any]:
    import torch

    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, max(int(getattr(config, "vocab_size", 2)), 2), (2, 8), generator=generator)
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if getattr(config, "is_encoder_decoder", False):
        inputs["decoder_input_ids"] = ids[:, :4]
    return inputs


def _check_reload(out_dir: Path, context: Context, qmodel) -> None:
    """The stored copy must compute what the in-memory quantized model computes."""
    import torch

    layout = json.loads((out_dir / LAYOUT_FILE).read_text())
    reloaded = _load(out_dir, context.model_task, layout, context.trust_remote_code)
    inputs = _probe_inputs(qmodel.config)
    with torch.no_grad():
        want, got = qmodel(**inputs)[0], reloaded(**inputs)[0]
    if not torch.allclose(want, got, atol=1e-5, rtol=1e-4):
        raise CompressionError(f"the saved torch-dynamic-int8 model does not reproduce the quantized model "
                               f"(max difference {(want - got).abs().max().item():.3g})")


def _load(path: Path, task: str, layout: dict[str, Any], trust_remote_code: bool, device: str = "cpu"):
    """Rebuild the architecture, quantize the same layers, and pack the stored int8 weights into them.
    On CPU whatever ``device`` asks: PyTorch's dynamic INT8 kernels are CPU kernels."""
    import torch
    from safetensors.torch import load_file
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(path), trust_remote_code=trust_remote_code)
    model = auto_class(task).from_config(config, trust_remote_code=trust_remote_code).eval()
    remove_heads(model, recorded_heads(config))  # a head-pruned source keeps its smaller attention
    layers: dict[str, dict] = layout["layers"]
    spec = {name: _qconfig(info["per_channel"]) for name, info in layers.items()}
    with _quiet():
        model = torch.ao.quantization.quantize_dynamic(model, spec, dtype=torch.qint8, inplace=True)
    state = load_file(str(path / layout["weights_file"]))
    for name, info in layers.items():
        int8, scale = state.pop(f"{name}.weight"), state.pop(f"{name}.weight_scale")
        zero, bias = state.pop(f"{name}.weight_zero_point"), state.pop(f"{name}.bias", None)
        with _quiet():
            if info["per_channel"]:
                weight = torch._make_per_channel_quantized_tensor(int8, scale.double(), zero.long(), info["axis"])
            else:
                weight = torch._make_per_tensor_quantized_tensor(int8, scale.item(), int(zero.item()))
            model.get_submodule(name).set_weight_bias(weight, bias)
    for alias, source in layout.get("aliases", {}).items():
        state[alias] = state[source]
    _assign(model, state, skip=tuple(f"{n}." for n in layers), where=path)
    return model.eval()


def _assign(model, state: dict[str, Any], *, skip: tuple[str, ...], where: Path) -> None:
    """Copy the float tensors into place; quantized modules refuse ``load_state_dict`` without packed params."""
    import torch

    targets = dict(model.named_parameters(remove_duplicate=False)) | dict(model.named_buffers(remove_duplicate=False))
    wanted = {k for k in model.state_dict() if not k.startswith(skip)}
    unexpected = sorted(k for k in state if k not in targets)
    missing = sorted(wanted - set(state))
    if missing or unexpected:
        raise CompressionError(f"{where}: stored tensors do not fit the architecture "
                               f"(missing {missing[:5]}, unexpected {unexpected[:5]})")
    with torch.no_grad():
        for key, value in state.items():
            targets[key].copy_(value)


SCHEMES.register(SCHEME, _load)
