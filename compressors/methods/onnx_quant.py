"""ONNX Runtime INT8 quantization: export with torch.onnx, optionally fuse, quantize for an x86/arm64 preset.

The graph comes from the project's own exporter (``compressors.onnx``) and is quantized by
``onnxruntime.quantization``; nothing needs optimum. The presets reproduce what optimum-onnx's
``AutoQuantizationConfig`` factories set (optimum/onnxruntime/configuration.py) and what its
``ORTQuantizer.quantize`` hands ONNX Runtime (quantization.py), so a recipe keeps its meaning: uint8
activations, symmetric int8 weights (uint8 for avx2), asymmetric activations, QOperator format for
dynamic and QDQ for static quantization, MatMul weights per output channel (axis 1).
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError, ConfigError
from ..modelio import copy_tokenizer

QUANTIZED_FILE = "model_quantized.onnx"
METHOD_VERSION = 2  # 2: exported by torch.onnx and quantized by onnxruntime.quantization (1: through optimum)


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

# config.model_type -> the model type ONNX Runtime's transformer optimizer fuses it as (optimum's
# ORTConfigManager, restricted to the text models whose ORT type the optimizer fuses: bert and gpt2)
FUSION_MODEL_TYPES = {
    **dict.fromkeys(("albert", "bert", "big_bird", "camembert", "deberta", "deberta-v2", "distilbert", "electra",
                     "modernbert", "mpnet", "nystromformer", "roberta", "xlm-roberta"), "bert"),
    **dict.fromkeys(("bloom", "codegen", "gpt2", "gpt_bigcode", "gpt_neo", "gpt_neox", "gptj", "granite", "llama",
                     "mistral"), "gpt2"),
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


def preset_settings(preset: OrtPreset, *, static: bool, per_channel: bool, reduce_range: bool) -> dict:
    """Keyword arguments of ``quantize_dynamic`` / ``quantize_static`` for one of optimum's presets. Only
    the avx2 and avx512 presets take reduce_range; asking it of another is an error, as in optimum."""
    from onnxruntime.quantization import QuantFormat, QuantType

    if reduce_range and preset not in (OrtPreset.AVX2, OrtPreset.AVX512):
        raise ConfigError(f"reduce_range = true applies to the avx2 and avx512 presets, not {preset.value!r}")
    extra = {"WeightSymmetric": True, "ActivationSymmetric": False, "AddQDQPairToWeight": False,
             "DedicatedQDQPair": False, "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}}
    settings = {"per_channel": per_channel, "reduce_range": reduce_range, "extra_options": extra,
                "weight_type": QuantType.QUInt8 if preset is OrtPreset.AVX2 else QuantType.QInt8}
    if static:
        settings.update(quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8)
    else:
        # optimum builds ONNX Runtime's quantizer itself, whose default also quantizes activation x activation
        # MatMuls (attention scores and context); quantize_dynamic's own default would leave them float
        extra["MatMulConstBOnly"] = False
    return settings


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


def fuse_graph(onnx_path: Path, out_path: Path) -> int:
    """ONNX Runtime's transformer fusions as optimum's optimization level 2 applies them (Attention,
    SkipLayerNormalization, BiasGelu; EmbedLayerNormalization off, as optimum's default), then symbolic
    shape inference so the quantizer knows the type of every tensor the fused contrib ops produce.

    On decoder graphs exported without past key values (Llama), level 2's own C++ fusions leave a graph
    that symbolic shape inference cannot follow and the Python fusions then find less to fuse; there
    level 1 is used. Returns the level applied."""
    import onnx
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(onnx_path.parent))
    model_type = FUSION_MODEL_TYPES.get(config.model_type)
    if model_type is None:
        raise CompressionError(f"fuse = true: ONNX Runtime has no transformer fusions for model type "
                               f"{config.model_type!r} (it fuses {', '.join(sorted(FUSION_MODEL_TYPES))}); "
                               "set fuse = false")
    options = FusionOptions(model_type)
    options.enable_embed_layer_norm = False
    for level in (2, 1):
        optimizer = optimize_model(str(onnx_path), model_type, num_heads=config.num_attention_heads,
                                   hidden_size=config.hidden_size, opt_level=level, optimization_options=options,
                                   use_gpu=False, only_onnxruntime=False)
        try:
            onnx.save(SymbolicShapeInference.infer_shapes(optimizer.model, auto_merge=True), str(out_path))
            return level
        except AssertionError:  # the inference's way of saying it cannot evaluate a shape
            continue
    raise CompressionError(f"fuse = true: symbolic shape inference fails on the fused {config.model_type} graph; "
                           "set fuse = false")


def has_subgraphs(onnx_path: Path) -> bool:
    import onnx

    nodes = onnx.load(str(onnx_path), load_external_data=False).graph.node
    return any(node.op_type in ("If", "Loop", "Scan", "SequenceMap") for node in nodes)


@contextlib.contextmanager
def quiet_preprocess_hint() -> Iterator[None]:
    """quantize_dynamic/static log "Please consider to run pre-processing" to the root logger on every
    call; the hint (shape inference and graph optimization first) is no action for a gate's user."""
    def drop(record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Please consider")

    root = logging.getLogger()
    root.addFilter(drop)
    try:
        yield
    finally:
        root.removeFilter(drop)


# (the float graph to read, where to write the quantized graph) -> None
Quantize = Callable[[Path, Path], None]


def quantize_with(model_dir: Path, out_dir: Path, context: Context, quantize: Quantize, *,
                  fuse: bool = False) -> Result:
    """Export (fused if asked), quantize with ``quantize`` and verify that integer kernels are in the graph."""
    from ..onnx import export_pretrained

    with tempfile.TemporaryDirectory(prefix="compressgate-onnx-") as tmp:
        export_dir = Path(tmp) / "export"
        path = export_pretrained(model_dir, export_dir, task=context.model_task,
                                 trust_remote_code=context.trust_remote_code, eager_attention=fuse)
        fusion = {}
        if fuse:
            fused = export_dir / "model_optimized.onnx"
            fusion["fusion_level"] = fuse_graph(path, fused)
            path = fused
        with quiet_preprocess_hint():
            quantize(path, out_dir / QUANTIZED_FILE)
        for name in ("config.json", "generation_config.json"):
            if (export_dir / name).is_file():
                shutil.copy2(export_dir / name, out_dir / name)
    copy_tokenizer(model_dir, out_dir)
    stats = onnx_quant_stats(out_dir / QUANTIZED_FILE)
    if stats["quantized_layers"] == 0:
        raise CompressionError(
            "ONNX Runtime quantization produced no integer operators: the model would be scored "
            "uncompressed. Check that the architecture has MatMul/Gemm layers, or use another method."
        )
    return Result(ModelFormat.ONNX, {**stats, **fusion})


@register("onnx-dynamic-int8", OnnxDynamicInt8Config, produces=ModelFormat.ONNX, version=METHOD_VERSION,
          requires=("onnx", "onnxruntime"))
def onnx_dynamic_int8(model_dir: Path, config: OnnxDynamicInt8Config, out_dir: Path, context: Context) -> Result:
    """ONNX Runtime dynamic INT8 (x86 VNNI/AVX2 and arm64 presets), optionally on the fused graph."""
    preset = resolve_preset(config.preset, context.hardware)
    settings = preset_settings(preset, static=False, per_channel=config.per_channel, reduce_range=config.reduce_range)

    def quantize(source: Path, target: Path) -> None:
        from onnxruntime.quantization import quantize_dynamic
        from onnxruntime.quantization.registry import IntegerOpsRegistry

        settings["extra_options"]["EnableSubgraph"] = has_subgraphs(source)
        quantize_dynamic(source, target, op_types_to_quantize=list(IntegerOpsRegistry), **settings)

    result = quantize_with(model_dir, out_dir, context, quantize, fuse=config.fuse)
    result.stats.update(preset=preset.value, fused=config.fuse)
    return result
