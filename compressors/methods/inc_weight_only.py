"""Weight-only INT4 through Intel Neural Compressor 3.x: round-to-nearest (RTN) and GPTQ, for causal LMs.

INC's "huggingface" save format is pickle-free (safetensors, int32-packed ``qweight``/``qzeros``, fp16
``scales``, the quantization config in config.json) but its loader only rebuilds ``torch.nn.Linear``
layers, and on some architectures the round trip silently loses the quantization or breaks (GPT-2,
whose layers are ``Conv1D``). So every artifact is reloaded here, before it is accepted, and must come
back with as many quantized layers as were written and the same logits as the in-memory model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, require
from ..modelio import auto_class, copy_tokenizer
from ..typed import path_field
from ._calibration import texts_for
from .gptq import READERS, check_calibration, check_causal, check_weight_only
from .scratch import scratch_cwd
from .woq_stats import assert_pickle_free, weight_only_stats

BITS = 4
LOADER = "neural-compressor"


@dataclass(frozen=True)
class IncRtnInt4Config(StepConfig):
    """Round each weight to the nearest of 16 levels per group: no calibration data, seconds to run."""

    group_size: int = 32  # weights sharing one scale along the input dim (INC's default); -1 = per channel
    sym: bool = True  # symmetric levels around zero

    def __post_init__(self) -> None:
        check_weight_only("inc-rtn-int4", bits=BITS, allowed_bits=(BITS,), group_size=self.group_size)


@dataclass(frozen=True)
class IncGptqInt4Config(StepConfig):
    """GPTQ through INC: like RTN, but each layer's rounding error is corrected on calibration activations."""

    group_size: int = 32  # as for inc-rtn-int4
    sym: bool = True
    desc_act: bool = False  # INC's act_order: quantize columns by decreasing activation size
    damp_percent: float = 0.01  # Hessian dampening (INC's percdamp default)
    calibration: str | None = path_field()  # local JSONL/CSV/TXT file of your texts; required to build
    text_column: str = "text"
    num_samples: int = 128
    max_length: int = 256

    def __post_init__(self) -> None:
        check_weight_only("inc-gptq-int4", bits=BITS, allowed_bits=(BITS,), group_size=self.group_size)
        check_calibration("inc-gptq-int4", calibration=self.calibration, num_samples=self.num_samples,
                          max_length=self.max_length, damp_percent=self.damp_percent)


def read_with_inc(path: Path, trust_remote_code: bool = False, *, device: str = "cpu") -> Any:
    """INC's own reader of its "huggingface" format: ``INCWeightOnlyLinear`` layers, on CPU (whatever
    ``device`` asks: the unpacking kernels INC ships for this format are CPU kernels)."""
    inc = require("neural_compressor.torch.quantization", extra="inc", purpose="Loading an INC checkpoint")
    path = Path(path).resolve()
    with scratch_cwd("compressgate-inc-load-"):
        model = inc.load(str(path), format="huggingface", device="cpu", trust_remote_code=trust_remote_code)
    return model.eval()


READERS.register(LOADER, read_with_inc)


def linear_layers(model) -> int:
    """torch.nn.Linear layers INC may quantize (it leaves the LM head alone)."""
    import torch

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return sum(isinstance(m, torch.nn.Linear) and m is not head for m in model.modules())


def quantized_modules(model) -> int:
    return sum(type(m).__name__.endswith("WeightOnlyLinear") for m in model.modules())


def probe_logits(model, vocab_size: int):
    import torch

    ids = (torch.arange(1, 9) * 7).remainder(vocab_size).unsqueeze(0)
    with torch.no_grad():
        return model(input_ids=ids).logits.float()


def verify_reload(out_dir: Path, written: int, expected_logits, context: Context, *, arch: str,
                  vocab_size: int) -> None:
    """The artifact must reload with its quantized layers and compute what the in-memory model computed."""
    import torch

    try:
        reloaded = read_with_inc(out_dir, context.trust_remote_code)
    except Exception as exc:  # INC leaves layers it cannot rebuild on the meta device, then fails to move them
        raise CompressionError(
            f"neural-compressor wrote {arch}'s checkpoint but cannot load it back ({type(exc).__name__}: {exc}). "
            "Its pickle-free format only rebuilds torch.nn.Linear layers; use method 'gptq' instead."
        ) from exc
    found = quantized_modules(reloaded)
    if found != written:
        raise CompressionError(
            f"neural-compressor's checkpoint reloads with {found} quantized layers instead of {written}: "
            "the round trip loses the quantization. Use method 'gptq' instead."
        )
    got = probe_logits(reloaded, vocab_size)
    if not torch.allclose(got, expected_logits, atol=1e-4, rtol=1e-4):
        diff = (got - expected_logits).abs().max().item()
        raise CompressionError(f"neural-compressor's checkpoint reloads with different logits (max diff {diff:.3g})")


def quantize_inc(model_dir: Path, out_dir: Path, context: Context, qconfig, *, method: str,
                 texts: list[str] | None = None, max_length: int = 256) -> Result:
    """Load, prepare, (calibrate,) convert, save pickle-free, then prove the artifact reloads quantized."""
    check_causal(context.model_task, f"method {method!r}")
    inc = require("neural_compressor.torch.quantization", extra="inc", purpose=f"method {method!r}")
    import torch
    from transformers import AutoTokenizer

    model_dir, out_dir = Path(model_dir).resolve(), Path(out_dir).resolve()  # before the chdir below
    model = auto_class(context.model_task).from_pretrained(str(model_dir), trust_remote_code=context.trust_remote_code)
    model.eval()
    if linear_layers(model) == 0:
        raise CompressionError(
            f"{type(model).__name__} has no torch.nn.Linear layer besides its LM head (GPT-2 style models use "
            f"Conv1D): {method} would quantize nothing that reloads. Use method 'gptq' instead."
        )
    vocab_size, arch = model.config.vocab_size, type(model).__name__
    with scratch_cwd("compressgate-inc-"), torch.no_grad():  # INC writes nc_workspace/ into the cwd
        model = inc.prepare(model, qconfig)
        if texts:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=context.trust_remote_code)
            for text in texts:
                model(**tokenizer(text, truncation=True, max_length=max_length, return_tensors="pt"))
        model = inc.convert(model)
        written = quantized_modules(model)
        expected = probe_logits(model, vocab_size)
        inc.save(model, str(out_dir), format="huggingface")
    copy_tokenizer(model_dir, out_dir)
    assert_pickle_free(out_dir)
    stats = weight_only_stats(out_dir, model_dir, bits=BITS)
    verify_reload(out_dir, written, expected, context, arch=arch, vocab_size=vocab_size)
    stats.update(backend="neural-compressor", device="cpu", loader=LOADER)
    if texts:
        stats["calibration_samples"] = len(texts)
    return Result(ModelFormat.GPTQ, stats)


@register("inc-rtn-int4", IncRtnInt4Config, produces=ModelFormat.GPTQ, requires=("neural_compressor",))
def inc_rtn_int4(model_dir: Path, config: IncRtnInt4Config, out_dir: Path, context: Context) -> Result:
    """INT4 weight-only round-to-nearest through Intel Neural Compressor (CPU, no calibration)."""
    inc = require("neural_compressor.torch.quantization", extra="inc", purpose="method 'inc-rtn-int4'")
    qconfig = inc.RTNConfig(bits=BITS, group_size=config.group_size, use_sym=config.sym, use_layer_wise=False)
    return quantize_inc(model_dir, out_dir, context, qconfig, method="inc-rtn-int4")


@register("inc-gptq-int4", IncGptqInt4Config, produces=ModelFormat.GPTQ, requires=("neural_compressor",))
def inc_gptq_int4(model_dir: Path, config: IncGptqInt4Config, out_dir: Path, context: Context) -> Result:
    """INT4 weight-only GPTQ through Intel Neural Compressor (CPU, calibrated)."""
    inc = require("neural_compressor.torch.quantization", extra="inc", purpose="method 'inc-gptq-int4'")
    texts = texts_for(config.calibration, text_column=config.text_column, num_samples=config.num_samples,
                      where="inc-gptq-int4.calibration")
    qconfig = inc.GPTQConfig(bits=BITS, group_size=config.group_size, use_sym=config.sym,
                             act_order=config.desc_act, percdamp=config.damp_percent,
                             model_path=str(Path(model_dir).resolve()), use_layer_wise=False)
    return quantize_inc(model_dir, out_dir, context, qconfig, method="inc-gptq-int4", texts=texts,
                        max_length=config.max_length)
