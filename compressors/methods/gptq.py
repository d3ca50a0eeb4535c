"""GPTQ weight-only quantization of causal LMs through gptqmodel, on CUDA when present, else on CPU.

The artifact is a standard GPTQ checkpoint (safetensors: int32-packed ``qweight``/``qzeros``, fp16
``scales``, ``g_idx``; ``quantize_config.json``) plus the tokenizer. This module also owns the loader of
the GPTQ format: it reloads a checkpoint still quantized, with the reader its writer names in the stats
(``loader``: gptqmodel here, neural-compressor for the INC methods).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import ConfigError, require
from ..loaders import LOADERS
from ..modelio import copy_tokenizer
from ..registry import Registry
from ..typed import path_field
from ._calibration import check_suffix, texts_for
from .scratch import scratch_cwd
from .woq_stats import assert_pickle_free, weight_only_stats

CAUSAL_TASKS = ("causal-lm", "text-generation")
GPTQ_BITS = (2, 3, 4, 8)


class GptqBackend(str, Enum):
    """Which library runs GPTQ. auto-gptq is archived upstream and quantizes on CUDA only."""

    AUTO = "auto"  # gptqmodel, the maintained successor of auto-gptq
    GPTQMODEL = "gptqmodel"
    AUTO_GPTQ = "auto-gptq"


def check_field(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise ConfigError(f"{key} = {value!r} is invalid: expected {expected}")


def check_weight_only(method: str, *, bits: int, allowed_bits: tuple[int, ...], group_size: int) -> None:
    check_field(bits in allowed_bits, f"{method}.bits", bits, "one of " + ", ".join(map(str, allowed_bits)))
    check_field(group_size == -1 or group_size > 0, f"{method}.group_size", group_size,
                "a positive group size such as 32 or 128, or -1 for one scale per output channel")


def check_calibration(method: str, *, calibration: str | None, num_samples: int, max_length: int,
                      damp_percent: float) -> None:
    if calibration is not None:
        check_suffix(calibration, f"{method}.calibration")
    check_field(num_samples >= 1, f"{method}.num_samples", num_samples, "at least 1")
    check_field(max_length >= 16, f"{method}.max_length", max_length, "at least 16 tokens")
    check_field(0 < damp_percent < 1, f"{method}.damp_percent", damp_percent, "a fraction between 0 and 1")


def check_causal(task: str, what: str) -> None:
    if task not in CAUSAL_TASKS:
        raise ConfigError(f"{what} serves causal language models (task 'causal-lm' or 'text-generation'), "
                          f"not task {task!r}")


@dataclass(frozen=True)
class GptqConfig(StepConfig):
    """GPTQ: quantize each linear layer's weights to ``bits`` while correcting the error it causes on
    calibration activations. Embeddings, norms and the LM head stay in floating point."""

    bits: int = 4  # 2, 3, 4 or 8
    group_size: int = 128  # weights sharing one scale and zero point along the input dim; -1 = per channel
    desc_act: bool = False  # quantize columns by decreasing activation size: a little more accurate, slower
    sym: bool = True  # symmetric weights (no stored zero point offset)
    damp_percent: float = 0.05  # Hessian dampening, a fraction of its mean diagonal (gptqmodel's default)
    calibration: str | None = path_field()  # local JSONL/CSV/TXT file of your texts; required to build
    text_column: str = "text"  # column holding the text in a JSONL or CSV calibration file
    num_samples: int = 128  # calibration texts used
    max_length: int = 256  # tokens kept per calibration text
    backend: GptqBackend = GptqBackend.AUTO

    def __post_init__(self) -> None:
        check_weight_only("gptq", bits=self.bits, allowed_bits=GPTQ_BITS, group_size=self.group_size)
        check_calibration("gptq", calibration=self.calibration, num_samples=self.num_samples,
                          max_length=self.max_length, damp_percent=self.damp_percent)


def resolve_backend(choice: GptqBackend, *, cuda: bool, auto_gptq_installed: bool) -> GptqBackend:
    """The library that will run; asking for auto-gptq where it cannot quantize is a ConfigError."""
    if choice is not GptqBackend.AUTO_GPTQ:
        return GptqBackend.GPTQMODEL
    why = []
    if not auto_gptq_installed:
        why.append("the auto-gptq package is not installed")
    if not cuda:
        why.append("no CUDA GPU is visible (torch.cuda.is_available() is False)")
    if why:
        raise ConfigError(
            f"gptq.backend = 'auto-gptq' cannot run here: {' and '.join(why)}. auto-gptq is archived "
            "upstream and cannot quantize without CUDA. Use backend = 'gptqmodel' (or 'auto'): its "
            "maintained successor, which quantizes on CPU and CUDA."
        )
    return GptqBackend.AUTO_GPTQ


def calibration_rows(tokenizer, texts: list[str], max_length: int) -> list[dict[str, list[int]]]:
    rows = []
    for text in texts:
        enc = tokenizer(text, truncation=True, max_length=max_length)
        rows.append({"input_ids": list(enc["input_ids"]), "attention_mask": list(enc["attention_mask"])})
    return rows


def _quantize_gptqmodel(src: Path, config: GptqConfig, rows: list, out: Path, device: str,
                        scratch: Path, context: Context) -> None:
    gptqmodel = require("gptqmodel", extra="gptq", purpose="GPTQ quantization")
    qconfig = gptqmodel.QuantizeConfig(bits=config.bits, group_size=config.group_size, desc_act=config.desc_act,
                                       sym=config.sym, damp_percent=config.damp_percent,
                                       offload_to_disk_path=str(scratch / "offload"))
    model = gptqmodel.GPTQModel.load(str(src), qconfig, device=device, trust_remote_code=context.trust_remote_code)
    model.quantize(rows)
    model.save(str(out))


def _quantize_auto_gptq(src: Path, config: GptqConfig, rows: list, out: Path, context: Context) -> None:
    """auto-gptq's own API (CUDA only). Not exercised by this project's tests: neither auto-gptq nor a
    GPU is on the CI machines."""
    import torch

    auto_gptq = importlib.import_module("auto_gptq")  # resolve_backend made sure it is installed
    qconfig = auto_gptq.BaseQuantizeConfig(bits=config.bits, group_size=config.group_size,
                                           desc_act=config.desc_act, sym=config.sym,
                                           damp_percent=config.damp_percent)
    model = auto_gptq.AutoGPTQForCausalLM.from_pretrained(str(src), qconfig,
                                                          trust_remote_code=context.trust_remote_code)
    model.quantize([{k: torch.tensor([v]) for k, v in row.items()} for row in rows])
    model.save_quantized(str(out), use_safetensors=True)


@register("gptq", GptqConfig, produces=ModelFormat.GPTQ, requires=("gptqmodel",))
def gptq(model_dir: Path, config: GptqConfig, out_dir: Path, context: Context) -> Result:
    """GPTQ weight-only INT2/3/4/8 for causal LMs (gptqmodel; CUDA when present, else CPU)."""
    check_causal(context.model_task, "method 'gptq'")
    import torch
    from transformers import AutoTokenizer

    cuda = torch.cuda.is_available()
    backend = resolve_backend(config.backend, cuda=cuda,
                              auto_gptq_installed=importlib.util.find_spec("auto_gptq") is not None)
    texts = texts_for(config.calibration, text_column=config.text_column, num_samples=config.num_samples,
                      where="gptq.calibration")
    model_dir, out_dir = Path(model_dir).resolve(), Path(out_dir).resolve()  # before the chdir below
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), trust_remote_code=context.trust_remote_code)
    rows = calibration_rows(tokenizer, texts, config.max_length)
    device = "cuda" if cuda else "cpu"
    started = time.perf_counter()
    with scratch_cwd("compressgate-gptq-") as scratch:  # gptqmodel writes logs and offloads into the cwd
        if backend is GptqBackend.AUTO_GPTQ:
            _quantize_auto_gptq(model_dir, config, rows, out_dir, context)
        else:
            _quantize_gptqmodel(model_dir, config, rows, out_dir, device, scratch, context)
    seconds = time.perf_counter() - started
    copy_tokenizer(model_dir, out_dir)
    assert_pickle_free(out_dir)
    stats = weight_only_stats(out_dir, model_dir, bits=config.bits)
    stats.update(backend=backend.value, device=device, loader="gptqmodel", calibration_samples=len(rows),
                 quantize_seconds=round(seconds, 2), **kernels_loaded(out_dir, device, context.trust_remote_code))
    return Result(ModelFormat.GPTQ, stats)


def kernels_loaded(path: Path, device: str, trust_remote_code: bool) -> dict[str, str]:
    """Which of gptqmodel's kernels (its QuantLinear classes: Torch, Triton, Marlin, ...) the checkpoint
    loads with on ``device``, counted, for the manifest and the report. gptqmodel picks per device and
    per what it could build, so a scoring device may differ: this is the build device's answer."""
    from collections import Counter

    model = read_with_gptqmodel(path, trust_remote_code, device=device)
    kinds = Counter(type(m).__name__ for m in model.modules() if hasattr(m, "qweight"))
    return {"kernel": ", ".join(f"{kind} x{n}" for kind, n in kinds.most_common()), "kernel_device": device}


# --- Reading GPTQ checkpoints back -------------------------------------------------------------------

Reader = Callable[..., Any]  # (path, trust_remote_code, *, device) -> model
READERS: Registry[Reader] = Registry("GPTQ checkpoint reader")


def read_with_gptqmodel(path: Path, trust_remote_code: bool = False, *, device: str = "cpu") -> Any:
    """The quantized transformers model (its linear layers replaced by gptqmodel's quantized kernels).

    CPU by default; ``device="cuda"`` picks gptqmodel's GPU kernels (Triton, Marlin).
    """
    gptqmodel = require("gptqmodel", extra="gptq", purpose="Loading a GPTQ checkpoint")
    path = Path(path).resolve()
    with scratch_cwd("compressgate-gptq-load-"):
        qmodel = gptqmodel.GPTQModel.load(str(path), device=device, trust_remote_code=trust_remote_code)
    return qmodel.model.eval()


def load_gptq(path: Path, task: str, stats: dict[str, Any], trust_remote_code: bool, device: str) -> Any:
    check_causal(task, "a GPTQ checkpoint")
    return READERS.get(stats.get("loader", "gptqmodel"))(Path(path), trust_remote_code, device=device)


READERS.register("gptqmodel", read_with_gptqmodel)
LOADERS.register(ModelFormat.GPTQ.value, load_gptq)
