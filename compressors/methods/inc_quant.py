"""Intel Neural Compressor 3.x INT8 (torch API, PT2E path), persisted as an ONNX QDQ graph.

INC quantizes: ``neural_compressor.torch.export.export`` traces the model, ``prepare`` inserts
observers, calibration batches run, ``convert`` yields a Q/DQ ``torch.export`` graph. INC's own
``save`` writes that graph with ``torch.export.save``, a ``.pt2`` archive that pickles its example
inputs and loads with a ``weights_only=False`` fallback; no pickle may enter an artifact, so the
handler carries INC's per-layer decisions (int8 weights, scales, zero points, activation scales) into
an ONNX QDQ graph (see ``_qdq``), reloads that file and refuses the result unless the reloaded copy
reproduces INC's in-memory quantized model.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, require
from ..modelio import copy_tokenizer, load_transformers
from ..typed import path_field
from ._calibration import check_suffix, read_texts, texts_for
from ._qdq import linear_plans, transplant
from ._torch_format import tied_weight_modules
from .onnx_quant import onnx_quant_stats

ONNX_FILE = "model.onnx"
METHOD_VERSION = 2  # 2: the ONNX graph is written by compressors.onnx (1: by optimum's exporter)
MIN_PARITY_COSINE = 0.99  # the reloaded ONNX copy against INC's in-memory model, worst row
# Dynamic quantization computes activation scales per batch: these texts only drive the trace and the check.
TRACE_TEXTS = ["Please help me with my account today.", "Where is the parcel I ordered last week?",
               "The invoice shows a charge I do not recognise.", "Can you reset my password?"]


@dataclass(frozen=True)
class IncCalibration(StepConfig):
    """Fields both INC methods share; not registered itself."""

    calibration: str | None = path_field()  # JSONL/JSON/CSV/TSV/TXT of your texts; required by inc-int8-static
    text_column: str = "text"  # the column holding the text in a JSONL/JSON/CSV file
    num_samples: int = 64  # how many texts run through the observers (the first ones in the file)
    batch_size: int = 8  # calibration batch size
    max_length: int = 128  # calibration texts are truncated to this many tokens

    def __post_init__(self) -> None:
        for name in ("num_samples", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} must be at least 1")
        if self.calibration is not None:
            check_suffix(self.calibration, "calibration")


@dataclass(frozen=True)
class IncInt8StaticConfig(IncCalibration):
    """INT8 weights (per channel) and activations (per tensor, scales fixed by calibration)."""


@dataclass(frozen=True)
class IncInt8DynamicConfig(IncCalibration):
    """INT8 weights (per tensor), activations quantized per batch at run time; calibration texts optional."""

    num_samples: int = 8  # texts run once through the prepared model (INC needs a run) and the parity check


def _positional(model, names: list[str]):
    """Wrap a transformers model so torch.export sees positional tensors and every output is used
    (an unused output, such as BertModel's pooler, makes INC's export fail)."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors):
            out = self.model(**dict(zip(names, tensors)), return_dict=True)
            return tuple(v for v in out.values() if isinstance(v, torch.Tensor))

    return Positional()


def _batches(model_dir: Path, texts: list[str], config: IncCalibration, model) -> tuple[list[str], list[tuple]]:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    accepted = set(inspect.signature(model.forward).parameters)
    size = max(2, config.batch_size)  # a batch of one would let torch.export specialise the batch dimension
    texts = texts if len(texts) > 1 else texts * 2
    encoded = [tokenizer(texts[i:i + size], padding=True, truncation=True, max_length=config.max_length,
                         return_tensors="pt") for i in range(0, len(texts), size)]
    names = [name for name in encoded[0] if name in accepted]
    return names, [tuple(e[name] for name in names) for e in encoded if e["input_ids"].shape[0] > 1]


def _quantize_with_inc(model, names: list[str], batches: list[tuple], static: bool):
    """Run INC's export -> prepare -> calibration -> convert; returns the converted graph and its outputs."""
    import torch

    inc_export = require("neural_compressor.torch.export", extra="inc", purpose="Intel Neural Compressor")
    inc = require("neural_compressor.torch.quantization", extra="inc", purpose="Intel Neural Compressor")
    auto = torch.export.Dim.AUTO
    try:
        with torch.no_grad():
            graph = inc_export.export(_positional(model, names), batches[0],
                                      dynamic_shapes=(tuple({0: auto, 1: auto} for _ in names),))
            prepared = inc.prepare(graph, inc.StaticQuantConfig() if static else inc.DynamicQuantConfig())
            for batch in batches:  # never convert without a calibration run: INC would only warn
                prepared(*batch)
            converted = inc.convert(prepared)
            return converted, converted(*batches[0])[0]
    except Exception as exc:  # INC's export/prepare fail in many architecture-specific ways
        first_line = (str(exc).splitlines() or [""])[0].rstrip(".")
        raise CompressionError(
            f"Intel Neural Compressor could not quantize this {type(model).__name__} "
            f"({type(exc).__name__}: {first_line}). Use onnx-dynamic-int8 or onnx-static-int8 "
            "instead (gptq for decoder language models).") from exc


def _parity(ort_model, names: list[str], batch: tuple, expected) -> dict:
    """How closely the reloaded ONNX copy reproduces INC's quantized model on one calibration batch."""
    import torch

    out = ort_model(**dict(zip(names, batch)))
    got = next(v for v in out.values() if isinstance(v, torch.Tensor))
    got, expected = got.reshape(got.shape[0], -1).float(), expected.reshape(expected.shape[0], -1).float()
    cosine = torch.nn.functional.cosine_similarity(got, expected, dim=-1).min().item()
    return {"inc_parity_min_cosine": round(cosine, 5),
            "inc_parity_max_abs_diff": round((got - expected).abs().max().item(), 6)}


def _texts(config: IncCalibration, context: Context, static: bool) -> list[str]:
    if static:  # activation scales come from these texts: they must be the team's own
        return texts_for(config.calibration, text_column=config.text_column, num_samples=config.num_samples,
                         where="calibration")
    if config.calibration is not None:
        return read_texts(config.calibration, text_column=config.text_column, num_samples=config.num_samples)
    return TRACE_TEXTS


def _keep_untied(plans: list, model) -> list:
    tied = tied_weight_modules(model)  # an int8 copy of a tied LM head would add bytes, not save them
    kept = [plan for plan in plans if plan.module not in tied]
    if not kept:
        raise CompressionError(
            "Intel Neural Compressor quantized no nn.Linear layer worth keeping (it quantizes nn.Linear; "
            "GPT-2 style Conv1D layers are not, and a head tied to the input embedding is skipped). "
            "Use onnx-dynamic-int8 or gptq instead.")
    return kept


def _reaching_the_output(model, names: list[str], batch: tuple) -> set[str]:
    """Names of the nn.Linear modules whose weights reach the model's first output: the one the task's
    ONNX graph returns (``last_hidden_state``, ``logits``). INC also quantizes layers that feed only other
    outputs (BertModel's pooler); the export drops those, so they are no part of the artifact."""
    import torch

    linears = {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    with torch.enable_grad():
        out = model(**dict(zip(names, batch)), return_dict=True)
        first = next(v for v in out.values() if isinstance(v, torch.Tensor))
        grads = torch.autograd.grad(first.float().sum(), [m.weight for m in linears.values()], allow_unused=True)
    return {name for name, grad in zip(linears, grads) if grad is not None}


def _export_onnx(eager, out_dir: Path, task: str) -> Path:
    """The transplanted model through the project's exporter: the QDQ modules' ``symbolic`` methods write
    QuantizeLinear/DequantizeLinear, and the graph takes and returns what ``OrtModel`` expects."""
    from ..onnx import export_model

    return export_model(eager, out_dir, task=task, file_name=ONNX_FILE)


def inc_int8(model_dir: Path, config: IncCalibration, out_dir: Path, context: Context, *, static: bool) -> Result:
    texts = _texts(config, context, static)
    model = load_transformers(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    names, batches = _batches(model_dir, texts, config, model)
    converted, expected = _quantize_with_inc(model, names, batches, static)
    plans, float_linears = linear_plans(converted, prefix="model.")
    kept = _keep_untied(plans, model)
    eager = load_transformers(model_dir, context.model_task, trust_remote_code=context.trust_remote_code)
    used = _reaching_the_output(eager, names, batches[0])
    outside = sorted(plan.module for plan in kept if plan.module not in used)
    kept = [plan for plan in kept if plan.module in used]
    if not kept:
        raise CompressionError(f"none of the {len(outside)} layers Intel Neural Compressor quantized reaches the "
                               "model's task output; use onnx-dynamic-int8 instead")
    transplant(eager, kept)
    stats = onnx_quant_stats(_export_onnx(eager, out_dir, context.model_task))
    copy_tokenizer(model_dir, out_dir)
    if stats["quantized_layers"] < len(kept):
        raise CompressionError(f"INC quantized {len(kept)} linear layers but the ONNX graph keeps only "
                               f"{stats['quantized_layers']} int8 weights: the export lost the quantization")
    from ..onnx import OrtModel

    reloaded = OrtModel.from_pretrained(out_dir, file_name=ONNX_FILE, task=context.model_task)
    stats.update(_parity(reloaded, names, batches[0], expected))
    if stats["inc_parity_min_cosine"] < MIN_PARITY_COSINE:
        raise CompressionError(
            f"the ONNX copy does not reproduce INC's quantized model (worst cosine "
            f"{stats['inc_parity_min_cosine']} < {MIN_PARITY_COSINE}); refusing to score a different model")
    stats.update(inc_linear_layers=len(kept),
                 inc_float_linear_layers=float_linears + len(plans) - len(kept) - len(outside),
                 inc_layers_outside_task_output=outside,
                 calibration_samples=len(texts), runtime="onnxruntime (QDQ)")
    return Result(ModelFormat.ONNX, stats)


@register("inc-int8-static", IncInt8StaticConfig, produces=ModelFormat.ONNX, version=METHOD_VERSION,
          requires=("neural_compressor", "onnx", "onnxruntime"))
def inc_int8_static(model_dir: Path, config: IncInt8StaticConfig, out_dir: Path, context: Context) -> Result:
    """Intel Neural Compressor static INT8 (PT2E, calibrated), saved as ONNX QDQ."""
    return inc_int8(model_dir, config, out_dir, context, static=True)


@register("inc-int8-dynamic", IncInt8DynamicConfig, produces=ModelFormat.ONNX, version=METHOD_VERSION,
          requires=("neural_compressor", "onnx", "onnxruntime"))
def inc_int8_dynamic(model_dir: Path, config: IncInt8DynamicConfig, out_dir: Path, context: Context) -> Result:
    """Intel Neural Compressor dynamic INT8 (PT2E), saved as ONNX QDQ."""
    return inc_int8(model_dir, config, out_dir, context, static=False)
