"""ONNX export and an ONNX Runtime model wrapper of the project's own, so no ONNX path needs optimum.

``export`` writes a transformers model as one ONNX graph per task head; ``runtime`` loads such a graph
and answers like the transformers model (same output field names, ``config``, ``device``, ``generate``).
Both import torch, transformers and onnxruntime only inside their functions.
"""

from __future__ import annotations

from .export import OUTPUTS, export_model, export_pretrained
from .runtime import OrtModel

__all__ = ["OUTPUTS", "OrtModel", "export_model", "export_pretrained"]
