"""ONNX Runtime INT4 weight-only: each MatMul's weight as 4-bit integers in blocks, read by MatMulNBits.

Weight-only, no calibration: activations stay float; every MatMul whose weight is a constant is rewritten
by ``onnxruntime.quantization.matmul_nbits_quantizer`` into ONNX Runtime's ``MatMulNBits`` contrib op,
which stores the weight as packed 4-bit integers with one scale (and, when asymmetric, one zero point)
per ``block_size`` input channels. ``accuracy_level = 4`` lets the CPU kernel compute in int8 (the fast
path on AVX2, AVX-512 VNNI and arm64); 0 leaves the choice to ONNX Runtime. Embedding lookups (Gather) and
layers exported as Gemm (a classification head on 2-D inputs) stay float, so the artifact is not 8x smaller
than float32; the stats say how much was quantized (``float_matmuls_left``, ``quantized_weight_share``).
"""

from __future__ import annotations

import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..base import Context, ModelFormat, Result, StepConfig, register
from ..errors import CompressionError
from ..model_classes import copy_tokenizer

INT4_FILE = "model_int4.onnx"
ACCURACY_LEVELS = (0, 1, 2, 3, 4)  # unset, fp32, fp16, bf16, int8: MatMulNBits' compute type


@dataclass(frozen=True)
class OnnxInt4WeightOnlyConfig(StepConfig):
    """INT4 weights in blocks (MatMulNBits), float activations; no calibration data needed."""

    block_size: int = 32  # input channels sharing one scale: a power of two from 16 to 256 (smaller: closer)
    symmetric: bool = True  # false: a zero point per block too (closer to skewed weights, a little larger)
    accuracy_level: int = 4  # 4: int8 compute on CPU (fast); 0: ONNX Runtime's default; 1-3: fp32, fp16, bf16

    def __post_init__(self) -> None:
        size = self.block_size
        if size < 16 or size > 256 or size & (size - 1):
            raise ValueError(f"block_size = {size} is invalid: expected 16, 32, 64, 128 or 256")
        if self.accuracy_level not in ACCURACY_LEVELS:
            raise ValueError(f"accuracy_level = {self.accuracy_level} is invalid: expected 0, 1, 2, 3 or 4")


def int4_stats(onnx_path: Path, block_size: int) -> dict[str, Any]:
    """MatMulNBits nodes, float MatMuls left, and the share of weight elements stored as 4-bit integers."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=True).graph
    ops = Counter(node.op_type for node in graph.node)
    initializers = {init.name: init for init in graph.initializer}
    int4_elems = total = weight_bytes = 0
    for node in graph.node:
        if node.op_type == "MatMulNBits":
            attrs = {a.name: a.i for a in node.attribute}
            int4_elems += attrs["K"] * attrs["N"]
    for init in graph.initializer:
        count = 1
        for dim in init.dims:
            count *= dim
        weight_bytes += count * onnx.helper.tensor_dtype_to_np_dtype(init.data_type).itemsize
        if init.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16):
            total += count
    float_matmuls = sum(1 for node in graph.node if node.op_type in ("MatMul", "Gemm")
                        and any(name in initializers for name in node.input[1:2]))
    return {
        "quantized_layers": ops["MatMulNBits"],
        "float_matmuls_left": float_matmuls,
        "quantized_weight_share": round(int4_elems / max(int4_elems + total, 1), 4),
        "weight_bytes": weight_bytes,
        "bits": 4,
        "block_size": block_size,
        "onnx_file": onnx_path.name,
    }


@register("onnx-int4-weight-only", OnnxInt4WeightOnlyConfig, produces=ModelFormat.ONNX,
          requires=("onnx", "onnxruntime"))
def onnx_int4_weight_only(model_dir: Path, config: OnnxInt4WeightOnlyConfig, out_dir: Path,
                          context: Context) -> Result:
    """ONNX Runtime INT4 weight-only (MatMulNBits blocks) for CPUs; no calibration data needed."""
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    from ..onnx import export_pretrained

    with tempfile.TemporaryDirectory(prefix="compressgate-onnx-int4-") as tmp:
        export_dir = Path(tmp) / "export"
        graph = export_pretrained(model_dir, export_dir, task=context.model_task,
                                  trust_remote_code=context.trust_remote_code)
        quantizer = MatMulNBitsQuantizer(str(graph), bits=4, block_size=config.block_size,
                                         is_symmetric=config.symmetric,
                                         accuracy_level=config.accuracy_level or None)
        quantizer.process()
        quantizer.model.save_model_to_file(str(out_dir / INT4_FILE), use_external_data_format=False)
        for name in ("config.json", "generation_config.json"):
            if (export_dir / name).is_file():
                shutil.copy2(export_dir / name, out_dir / name)
    copy_tokenizer(model_dir, out_dir)
    stats = int4_stats(out_dir / INT4_FILE, config.block_size)
    if stats["quantized_layers"] == 0:
        raise CompressionError("MatMulNBits quantization found no MatMul with a constant weight: the model would "
                               "be scored uncompressed; use another method for this architecture")
    return Result(ModelFormat.ONNX, {**stats, "symmetric": config.symmetric,
                                     "accuracy_level": config.accuracy_level})
