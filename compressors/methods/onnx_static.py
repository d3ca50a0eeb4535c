"""ONNX Runtime static INT8 through optimum: activation ranges calibrated on the team's own texts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import ConfigError, did_you_mean, require
from ._calibration import check_suffix, texts_for
from .onnx_quant import OrtPreset, quantize_with, reduce_range_kwargs, resolve_preset


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

    calibration: str | None = None  # JSONL/JSON/CSV/TSV/TXT of texts; default: the gate's calibration set
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


def calibration_config(optimum_ort, config: OnnxStaticInt8Config, dataset):
    factory = optimum_ort.AutoCalibrationConfig
    if config.calibration_method is CalibrationMethod.PERCENTILE:
        return factory.percentiles(dataset, percentile=config.percentile)
    if config.calibration_method is CalibrationMethod.ENTROPY:
        return factory.entropy(dataset)
    return factory.minmax(dataset)


def calibration_dataset(quantizer, model_dir: Path, texts: list[str], max_length: int):
    """Tokenize ``texts`` into the columns the exported graph takes, padded to one length."""
    import onnx
    from datasets import Dataset
    from transformers import AutoTokenizer

    graph_inputs = [i.name for i in onnx.load(str(quantizer.onnx_model_path), load_external_data=False).graph.input]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    if tokenizer.pad_token is None:  # GPT-style tokenizers: pad with EOS, masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    encoded = tokenizer(texts, padding=True, truncation=True, max_length=max_length)
    missing = [name for name in graph_inputs if name not in encoded]
    if missing:
        raise ConfigError(f"the exported model needs inputs {missing} that the tokenizer does not produce; "
                          "static calibration supports encoder models (use onnx-dynamic-int8 otherwise)")
    return Dataset.from_dict({name: encoded[name] for name in graph_inputs})


def _check_operators(operators: list[str]) -> None:
    """Every op type must be one ONNX Runtime can quantize statically: an unknown one would be ignored."""
    from onnxruntime.quantization.registry import QDQRegistry, QLinearOpsRegistry

    known = sorted(set(QDQRegistry) | set(QLinearOpsRegistry))
    for op in operators:
        if op not in known:
            raise ConfigError(f"operators: {op!r} is not an op type ONNX Runtime quantizes statically."
                              f"{did_you_mean(op, known)} Valid: {', '.join(known)}")


@register("onnx-static-int8", OnnxStaticInt8Config, produces=ModelFormat.ONNX)
def onnx_static_int8(model_dir: Path, config: OnnxStaticInt8Config, out_dir: Path, context: Context) -> Result:
    """ONNX Runtime static INT8 through optimum, calibrated on local texts."""
    optimum_ort = require("optimum.onnxruntime", extra="onnx", purpose="ONNX Runtime quantization")
    texts = texts_for(config.calibration, text_column=config.text_column, num_samples=config.num_samples,
                      fallback=context.calibration_texts, where="calibration")
    preset = resolve_preset(config.preset, context.hardware)
    factory = getattr(optimum_ort.AutoQuantizationConfig, preset.value)
    operators = list(config.operators) or factory(is_static=True).operators_to_quantize
    _check_operators(operators)
    qconfig = factory(is_static=True, per_channel=config.per_channel, **reduce_range_kwargs(config, preset),
                      operators_to_quantize=[op for op in operators if op not in SKIPPED_OPS])

    def fit(quantizer):
        dataset = calibration_dataset(quantizer, model_dir, texts, config.max_length)
        augmented = Path(quantizer.onnx_model_path).parent / "augmented_model.onnx"  # not the working dir
        return quantizer.fit(dataset=dataset, calibration_config=calibration_config(optimum_ort, config, dataset),
                             onnx_augmented_model_name=augmented, batch_size=config.batch_size,
                             operators_to_quantize=qconfig.operators_to_quantize)

    result = quantize_with(model_dir, out_dir, context, qconfig, fit=fit)
    result.stats.update(preset=preset.value, calibration_samples=len(texts), operators=qconfig.operators_to_quantize,
                        calibration_method=config.calibration_method.value)
    return result
