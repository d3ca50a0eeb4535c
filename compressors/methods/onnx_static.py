"""ONNX Runtime static INT8: activation ranges calibrated on the team's own texts.

``onnxruntime.quantization.quantize_static`` with the settings of optimum's static presets (QDQ format,
uint8 activations, see ``onnx_quant.preset_settings``) and the calibrators of optimum's
``AutoCalibrationConfig`` with its defaults (min/max without moving average; percentile over 2048
bins; entropy over 128 bins, which are ONNX Runtime's own defaults too).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, ConfigError, did_you_mean
from ..typed import path_field
from ._calibration import check_suffix, texts_for
from .onnx_quant import METHOD_VERSION, OrtPreset, has_subgraphs, preset_settings, quantize_with, resolve_preset


# ``Where`` selects the attention mask's -3.4e38 fill: quantizing it gains nothing, and its range overflows
# ONNX Runtime's histogram calibrators ("Too many bins for data range") for the percentile/entropy methods.
SKIPPED_OPS = frozenset({"Where"})


class CalibrationMethod(str, Enum):
    """How activation ranges are read from the calibration run (optimum's ``AutoCalibrationConfig``)."""

    MINMAX = "minmax"  # observed min/max: fast, sensitive to outliers
    PERCENTILE = "percentile"  # clip the tails at ``percentile``: robust to a few extreme activations
    ENTROPY = "entropy"  # KL-divergence threshold: slowest, often best for skewed activations


@dataclass(frozen=True)
class OnnxStaticInt8Config(StepConfig):
    """INT8 weights and activations; activation scales fixed ahead of time from calibration texts."""

    calibration: str | None = path_field()  # JSONL/JSON/CSV/TSV/TXT of your texts; required to build
    text_column: str = "text"  # the column holding the text in a JSONL/JSON/CSV file
    num_samples: int = 128  # how many texts to calibrate on (the first ones in the file)
    # Not named ``method``: that key of a recipe step names the compression method itself.
    calibration_method: CalibrationMethod = CalibrationMethod.MINMAX
    percentile: float = 99.999  # only for calibration_method = "percentile"
    max_length: int = 128  # calibration texts are truncated to this many tokens
    batch_size: int = 8  # calibration batch size; bigger is faster and uses more memory
    per_channel: bool = True  # one weight scale per output channel
    preset: OrtPreset | None = None  # default: implied by the target's hardware, else avx512_vnni
    reduce_range: bool = False  # 7-bit weights, for avx2/avx512 presets on CPUs without VNNI
    # ONNX op types whose inputs get fixed INT8 scales. The default keeps LayerNormalization, Add and the
    # other ops optimum's presets also list in float: quantizing those too took all-MiniLM-L6-v2's mean
    # cosine to the source from 0.95 to 0.87 (benchmarks/quantize_minilm.py). [] means the preset's list.
    operators: tuple[str, ...] = ("MatMul", "Gemm", "Gather")

    def __post_init__(self) -> None:
        for name in ("num_samples", "max_length", "batch_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} = {getattr(self, name)} must be at least 1")
        if not 0.0 < self.percentile <= 100.0:
            raise ValueError(f"percentile = {self.percentile} must be in (0, 100]")
        if self.calibration is not None:
            check_suffix(self.calibration, "calibration")


def _ort_method(method: CalibrationMethod):
    from onnxruntime.quantization import CalibrationMethod as OrtMethod

    return {CalibrationMethod.MINMAX: OrtMethod.MinMax, CalibrationMethod.PERCENTILE: OrtMethod.Percentile,
            CalibrationMethod.ENTROPY: OrtMethod.Entropy}[method]


def calibration_batches(model_dir: Path, input_names: list[str], texts: list[str], config: OnnxStaticInt8Config):
    """The calibration texts as the graph's input arrays, padded to one length (as optimum padded them)
    and cut into batches of ``batch_size``."""
    import numpy as np
    from transformers import AutoTokenizer

    from ..onnx.runtime import graph_feed

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:  # GPT-style tokenizers: pad with EOS, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=config.max_length)
    arrays = {name: np.asarray(encoded[name], dtype=np.int64) for name in encoded if name in input_names}
    return [graph_feed(input_names, {name: a[i:i + config.batch_size] for name, a in arrays.items()})
            for i in range(0, len(texts), config.batch_size)]


def _reader(batches: list[dict]):
    """An ONNX Runtime CalibrationDataReader over prepared batches."""
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self.batches = iter(batches)

        def get_next(self):
            return next(self.batches, None)

    return Batches()


def _check_operators(operators: list[str]) -> None:
    """Every op type must be one ONNX Runtime can quantize statically: an unknown one would be ignored."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    known = sorted(set(QDQRegistry) | set(QLinearOpsRegistry))
    for op in operators:
        if op not in known:
            raise ConfigError(f"operators: {op!r} is not an op type ONNX Runtime quantizes statically."
                              f"{did_you_mean(op, known)} Valid: {', '.join(known)}")


@register("onnx-static-int8", OnnxStaticInt8Config, produces=ModelFormat.ONNX, version=METHOD_VERSION,
          requires=("onnx", "onnxruntime"))
def onnx_static_int8(model_dir: Path, config: OnnxStaticInt8Config, out_dir: Path, context: Context) -> Result:
    """ONNX Runtime static INT8 (QDQ), calibrated on local texts."""
    from onnxruntime.quantization.registry import QDQRegistry

    texts = texts_for(config.calibration, text_column=config.text_column, num_samples=config.num_samples,
                      where="calibration")
    preset = resolve_preset(config.preset, context.hardware)
    settings = preset_settings(preset, static=True, per_channel=config.per_channel, reduce_range=config.reduce_range)
    operators = list(config.operators) or list(QDQRegistry)  # [] = optimum's preset list for static QDQ
    _check_operators(operators)
    operators = [op for op in operators if op not in SKIPPED_OPS]
    if config.calibration_method is CalibrationMethod.PERCENTILE:
        settings["extra_options"]["CalibPercentile"] = config.percentile

    def quantize(source: Path, target: Path) -> None:
        import onnx
        from onnxruntime.quantization import quantize_static

        if has_subgraphs(source):
            raise CompressionError("onnx-static-int8: ONNX Runtime cannot quantize a graph with subgraphs "
                                   "(If/Loop/Scan) statically; use onnx-dynamic-int8")
        graph = onnx.load(str(source), load_external_data=False).graph
        batches = calibration_batches(model_dir, [i.name for i in graph.input], texts, config)
        quantize_static(source, target, _reader(batches), op_types_to_quantize=operators,
                        nodes_to_exclude=[n.name for n in graph.node if n.op_type in SKIPPED_OPS],
                        calibrate_method=_ort_method(config.calibration_method), **settings)

    result = quantize_with(model_dir, out_dir, context, quantize)
    result.stats.update(preset=preset.value, calibration_samples=len(texts), operators=operators,
                        calibration_method=config.calibration_method.value)
    return result
