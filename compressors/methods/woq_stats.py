"""Honest size statistics of a weight-only quantized checkpoint, read from its safetensors headers.

A helper module: it registers no method. Nothing here imports torch: a safetensors file starts with an
8-byte length and a JSON header that names every tensor's dtype and shape, which is all the arithmetic
needs. The counts come from what was written to disk, not from what the quantizer says it did.

Effective bits per weight are the stored bits divided by the number of weights the source model had:

* of the quantized layers: every tensor stored under a quantized layer's name (packed ``qweight``,
  ``scales``, ``qzeros``, ``g_idx``, and whatever else the quantizer wrote there, such as a bias) over the
  elements of the layers' original weight matrices;
* of the whole model: every stored tensor over every weight of the source model.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from ..errors import CompressionError

DTYPE_BITS = {
    "F64": 64, "F32": 32, "F16": 16, "BF16": 16, "F8_E4M3": 8, "F8_E5M2": 8, "F8_E8M0": 8,
    "I64": 64, "I32": 32, "I16": 16, "I8": 8, "U64": 64, "U32": 32, "U16": 16, "U8": 8, "BOOL": 8,
}
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
PACKED = ".qweight"


def tensor_headers(directory: Path) -> dict[str, tuple[str, tuple[int, ...]]]:
    """``name -> (dtype, shape)`` for every tensor in the directory's ``*.safetensors`` files."""
    out: dict[str, tuple[str, tuple[int, ...]]] = {}
    for file in sorted(Path(directory).glob("*.safetensors")):
        with file.open("rb") as handle:
            (length,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(length))
        for name, info in header.items():
            if name != "__metadata__":
                out[name] = (info["dtype"], tuple(info["shape"]))
    return out


def numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def tensor_bits(dtype: str, shape: tuple[int, ...]) -> int:
    if dtype not in DTYPE_BITS:
        raise CompressionError(f"unknown safetensors dtype {dtype!r}: cannot count its bits honestly")
    return DTYPE_BITS[dtype] * numel(shape)


def assert_pickle_free(directory: Path) -> None:
    """An artifact holds safetensors only: a pickle file could run code when someone loads it."""
    found = sorted(p.name for p in Path(directory).rglob("*") if p.suffix.lower() in PICKLE_SUFFIXES)
    if found:
        raise CompressionError(f"the quantizer wrote pickle files ({', '.join(found)}); "
                               "compressgate artifacts must hold safetensors only")
    if not any(Path(directory).glob("*.safetensors")):
        raise CompressionError(f"the quantizer wrote no safetensors weights into {directory}")


def original_weights(prefix: str, packed: tuple[str, tuple[int, ...]], bits: int,
                     source: dict[str, tuple[str, tuple[int, ...]]]) -> int:
    """Elements of a quantized layer's original weight: from the source checkpoint when it has the
    layer, else from the packed shape (``qweight`` packs ``in_features * bits`` bits into each column)."""
    if f"{prefix}.weight" in source:
        return numel(source[f"{prefix}.weight"][1])
    dtype, shape = packed
    rows, cols = shape
    return rows * DTYPE_BITS[dtype] // bits * cols


def weight_only_stats(artifact_dir: Path, source_dir: Path | None, *, bits: int) -> dict[str, Any]:
    """Layer counts, weight share and effective bits of the checkpoint in ``artifact_dir``.

    Raises CompressionError when no layer is quantized: such an artifact would be scored as if it
    were compressed while it is not.
    """
    stored = tensor_headers(artifact_dir)
    source = tensor_headers(source_dir) if source_dir is not None else {}
    prefixes = sorted(name[: -len(PACKED)] for name in stored if name.endswith(PACKED))
    if not prefixes:
        raise CompressionError(
            f"no quantized layer in {artifact_dir}: no '*{PACKED}' tensor was written, so the model "
            "would be scored unquantized. Check that the architecture has torch.nn.Linear layers."
        )
    owner = {}
    for name in stored:
        for prefix in prefixes:
            if name.startswith(prefix + "."):
                owner[name] = prefix
    q_bits = sum(tensor_bits(*stored[name]) for name in owner)
    q_weights = sum(original_weights(p, stored[p + PACKED], bits, source) for p in prefixes)
    all_bits = sum(tensor_bits(*v) for v in stored.values())
    if source:
        all_weights = sum(numel(shape) for _, shape in source.values())
    else:  # no safetensors source: count unquantized tensors as stored, quantized ones as before packing
        all_weights = q_weights + sum(numel(shape) for n, (_, shape) in stored.items() if n not in owner)
    stats: dict[str, Any] = {
        "quantized_layers": len(prefixes),
        "quantized_weight_share": round(q_weights / max(all_weights, 1), 4),
        "weight_bytes": all_bits // 8,
        "effective_bits_quantized_layers": round(q_bits / max(q_weights, 1), 4),
        "effective_bits_model": round(all_bits / max(all_weights, 1), 4),
    }
    if source:
        stats["source_weight_bytes"] = sum(tensor_bits(*v) for v in source.values()) // 8
        stats["source_bits_model"] = round(8 * stats["source_weight_bytes"] / max(all_weights, 1), 4)
    return stats
