"""ONNX Runtime INT8 quantization through optimum: export to ONNX, then quantize for an x86/arm64 preset."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, ConfigError, require
from ..modelio import copy_tokenizer, ort_class

QUANTIZED_FILE = "model_quantized.onnx"


class OrtPreset(str, Enum):
    """optimum's ``AutoQuantizationConfig`` presets, one per instruction set."""

    AVX512_VNNI = "avx512_vnni"
    AVX512 = "avx512"
    AVX2 = "avx2"
    ARM64 = "arm64"


# The preset a hardware target implies when the step does not name one.
HARDWARE_PRESET = {
    "x86-avx512-vnni": OrtPreset.AVX512_VNNI,
    "x86-amx": OrtPreset.AVX512_VNNI,
    "x86-avx2": OrtPreset.AVX2,
    "arm64": OrtPreset.ARM64,
}


@dataclass(frozen=True)
class OnnxDynamicInt8Config(StepConfig):
    """INT8 weights, activations quantized on the fly; no calibration data needed."""

    per_channel: bool = True  # one scale per output channel: more accurate, same speed on VNNI
    preset: OrtPreset | None = None  # default: implied by the target's hardware, else avx512_vnni
    reduce_range: bool = False  # 7-bit weights, for AVX2/AVX-512 CPUs without VNNI that may saturate
    fuse: bool = False  # ONNX Runtime's transformer fusions (attention, layer norm, GELU) before quantizing


def resolve_preset(preset: OrtPreset | None, hardware: str | None) -> OrtPreset:
    return preset or HARDWARE_PRESET.get(hardware or "", OrtPreset.AVX512_VNNI)


def reduce_range_kwargs(config: OnnxDynamicInt8Config, preset: OrtPreset) -> dict:
    """Only the avx2/avx512 presets take reduce_range; asking it of another preset is an error."""
    if preset in (OrtPreset.AVX2, OrtPreset.AVX512):
        return {"reduce_range": config.reduce_range}
    if config.reduce_range:
        raise ConfigError(f"reduce_range = true applies to the avx2 and avx512 presets, not {preset.value!r}")
    return {}


def export_onnx(model_dir: Path, out_dir: Path, context: Context):
    """Export a transformers model to ONNX with optimum; returns the ORTModel."""
    import warnings

    with warnings.catch_warnings():  # the exporter's deprecation and tracer chatter is not the user's concern
        warnings.simplefilter("ignore")
        model = ort_class(context.task).from_pretrained(
            str(model_dir), export=True, trust_remote_code=context.trust_remote_code
        )
    model.save_pretrained(str(out_dir))
    return model


INTEGER_OPS = {"MatMulInteger", "QLinearMatMul", "ConvInteger", "QLinearConv", "DynamicQuantizeMatMul",
               "MatMulIntegerToFloat", "QAttention", "QGemm"}
_PASS_THROUGH = {"Transpose", "Reshape", "Identity", "Cast"}  # ops a weight may pass between DQ and MatMul


def onnx_quant_stats(onnx_path: Path) -> dict:
    """Count what was really quantized: integer matmul nodes (QOperator format) plus MatMul/Gemm nodes
    whose weight is an int8 initializer behind a DequantizeLinear (QDQ format), and the share of weight
    elements stored as 8-bit integers."""
    import onnx
    from onnx import TensorProto, helper

    graph = onnx.load(str(onnx_path), load_external_data=True).graph
    initializers = {init.name: init for init in graph.initializer}
    producer = {out: node for node in graph.node for out in node.output}
    int_types = (TensorProto.INT8, TensorProto.UINT8)

    def int8_weight_behind(name: str) -> bool:
        node = producer.get(name)
        while node is not None and node.op_type in _PASS_THROUGH:
            node = producer.get(node.input[0])
        if node is None or node.op_type != "DequantizeLinear":
            return False
        init = initializers.get(node.input[0])
        return init is not None and init.data_type in int_types

    qdq = sum(n.op_type in ("MatMul", "Gemm") and any(int8_weight_behind(i) for i in n.input) for n in graph.node)
    float_matmuls = sum(n.op_type in ("MatMul", "Gemm") for n in graph.node) - qdq
    quantized = sum(n.op_type in INTEGER_OPS for n in graph.node) + qdq
    elems = {"int": 0, "all": 0}
    weight_bytes = 0
    for init in graph.initializer:
        n = 1
        for d in init.dims:
            n *= d
        elems["all"] += n
        weight_bytes += n * helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        if init.data_type in int_types:
            elems["int"] += n
    return {
        "quantized_layers": quantized,
        "float_matmuls_left": float_matmuls,
        "quantized_weight_share": round(elems["int"] / max(elems["all"], 1), 4),
        "weight_bytes": weight_bytes,
        "onnx_file": onnx_path.name,
    }


def fuse_graph(model, save_dir: Path) -> Path:
    """ONNX Runtime's transformer fusions through optimum (optimization level 2: Attention,
    SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), then symbolic shape inference so the
    quantizer knows the type of every tensor the fused contrib ops produce."""
    import onnx

    optimum_ort = require("optimum.onnxruntime", extra="onnx", purpose="ONNX Runtime graph fusion")
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    optimizer = optimum_ort.ORTOptimizer.from_pretrained(model)
    try:
        optimizer.optimize(save_dir=str(save_dir),
                           optimization_config=optimum_ort.OptimizationConfig(optimization_level=2))
    except (KeyError, NotImplementedError) as exc:  # optimum's answer for a model type it cannot fuse
        raise CompressionError(f"fuse = true: ONNX Runtime has no transformer fusions for this model "
                               f"({exc}); set fuse = false") from exc
    path = save_dir / "model_optimized.onnx"
    onnx.save(SymbolicShapeInference.infer_shapes(onnx.load(str(path)), auto_merge=True), str(path))
    return path


def quantize_with(model_dir: Path, out_dir: Path, context: Context, qconfig, *, fuse: bool = False,
                  **quantize_kwargs) -> Result:
    """Export (fused if asked), quantize with ``qconfig`` and verify that integer kernels are in the graph."""
    optimum_ort = require("optimum.onnxruntime", extra="onnx", purpose="ONNX Runtime quantization")
    with tempfile.TemporaryDirectory(prefix="compressgate-onnx-") as tmp:
        model = export_onnx(model_dir, Path(tmp) / "export", context)
        if fuse:
            fused = fuse_graph(model, Path(tmp) / "fused")
            quantizer = optimum_ort.ORTQuantizer.from_pretrained(str(fused.parent), file_name=fused.name)
        else:
            quantizer = optimum_ort.ORTQuantizer.from_pretrained(model)
        qconfig_fit = quantize_kwargs.pop("fit", None)
        if qconfig_fit is not None:
            quantize_kwargs["calibration_tensors_range"] = qconfig_fit(quantizer)
        quantizer.quantize(save_dir=str(out_dir), quantization_config=qconfig, **quantize_kwargs)
    copy_tokenizer(model_dir, out_dir)
    onnx_files = sorted(out_dir.glob("*quantized*.onnx"))
    if not onnx_files:
        raise CompressionError(f"optimum wrote no quantized ONNX file into {out_dir}")
    stats = onnx_quant_stats(onnx_files[0])
    if stats["quantized_layers"] == 0:
        raise CompressionError(
            "ONNX Runtime quantization produced no integer operators: the model would be scored "
            "uncompressed. Check that the architecture has MatMul/Gemm layers, or use another method."
        )
    return Result(ModelFormat.ONNX, stats)


@register("onnx-dynamic-int8", OnnxDynamicInt8Config, produces=ModelFormat.ONNX)
def onnx_dynamic_int8(model_dir: Path, config: OnnxDynamicInt8Config, out_dir: Path, context: Context) -> Result:
    """ONNX Runtime dynamic INT8 through optimum (x86 VNNI/AVX2 and arm64 presets)."""
    optimum_ort = require("optimum.onnxruntime", extra="onnx", purpose="ONNX Runtime quantization")
    preset = resolve_preset(config.preset, context.hardware)
    factory = getattr(optimum_ort.AutoQuantizationConfig, preset.value)
    qconfig = factory(is_static=False, per_channel=config.per_channel, **reduce_range_kwargs(config, preset))
    result = quantize_with(model_dir, out_dir, context, qconfig, fuse=config.fuse)
    result.stats.update(preset=preset.value, fused=config.fuse)
    return result
