"""Carry a PT2E-quantized graph's decisions into an eager model that exports to an ONNX QDQ graph.

Intel Neural Compressor's torch API returns a ``torch.export`` graph in Q/DQ form. The only way
torch persists that graph is a ``.pt2`` archive, which stores its example inputs with pickle and whose
loader falls back to ``torch.load(weights_only=False)``, so it cannot be an artifact here. This module
reads, for every ``aten.linear`` in the converted graph, the weight's int8 scales and zero points and
the activation's quantization (static scale and zero point, or computed per batch), and rebuilds the
same arithmetic as eager modules whose ``symbolic`` methods export as ONNX QuantizeLinear /
DequantizeLinear / DynamicQuantizeLinear. The weights are stored as int8 initializers.
"""

from __future__ import annotations

import functools
import operator
from dataclasses import dataclass
from typing import Any

from ..errors import CompressionError

# (qmin, qmax) of the integer types ONNX QuantizeLinear saturates to; other ranges cannot be expressed.
FULL_RANGE = {"torch.uint8": (0, 255), "torch.int8": (-128, 127)}


@dataclass(frozen=True)
class ActQuant:
    """How a linear layer's input is quantized: ``scale`` None means per batch at run time (dynamic)."""

    dtype: str  # "torch.uint8" or "torch.int8"
    scale: float | None = None
    zero_point: int | None = None


@dataclass(frozen=True)
class LinearPlan:
    module: str  # dotted name of the nn.Linear in the eager model
    weight_int8: Any  # torch.int8 tensor, [out, in]
    weight_scale: Any  # float32 tensor, [out] (per channel) or [] (per tensor)
    weight_zero_point: Any  # int8 tensor, same shape as the scale
    activation: ActQuant | None  # None: weight-only quantization


def _ops():
    import torch

    qd = torch.ops.quantized_decomposed
    return qd, {
        "dq_weight": {qd.dequantize_per_channel.default, qd.dequantize_per_tensor.default},
        "q_weight": {qd.quantize_per_channel.default, qd.quantize_per_tensor.default},
        "dq_static": {qd.dequantize_per_tensor.default},
        "dq_dynamic": {qd.dequantize_per_tensor.tensor},
    }


def _literal(graph_module, arg):
    """A graph argument's value: a literal, or the tensor a ``get_attr`` node names."""
    if hasattr(arg, "op"):
        if arg.op != "get_attr":
            raise CompressionError(f"unexpected computed quantization parameter {arg.format_node()}")
        return operator.attrgetter(arg.target)(graph_module)
    return arg


def _check_range(qmin: int, qmax: int, dtype: Any, where: str) -> str:
    name = str(dtype)
    if FULL_RANGE.get(name) != (qmin, qmax):
        raise CompressionError(f"{where}: quantization range [{qmin}, {qmax}] of {name} cannot be written as "
                               "ONNX QuantizeLinear, which saturates to the full 8-bit range")
    return name


def linear_plans(graph_module, prefix: str = "") -> tuple[list[LinearPlan], int]:
    """Every quantized ``aten.linear`` of a converted PT2E graph, and how many linears stayed float."""
    import torch

    qd, ops = _ops()
    plans, float_linears = [], 0
    for node in graph_module.graph.nodes:
        if node.op != "call_function" or node.target is not torch.ops.aten.linear.default:
            continue
        x, w = node.args[0], node.args[1]
        if getattr(w, "target", None) not in ops["dq_weight"] or w.args[0].target not in ops["q_weight"]:
            float_linears += 1
            continue
        quant = w.args[0]
        weight = _literal(graph_module, quant.args[0])
        if quant.target is qd.quantize_per_channel.default:
            _, scale, zp, axis, qmin, qmax, dtype = quant.args[:7]
            if axis != 0:
                raise CompressionError(f"{node.name}: weight quantized along axis {axis}, expected 0")
            scale, zp = _literal(graph_module, scale), _literal(graph_module, zp)
            q = qd.quantize_per_channel(weight, scale, zp, 0, qmin, qmax, dtype)
        else:
            _, scale, zp, qmin, qmax, dtype = quant.args[:6]
            q = qd.quantize_per_tensor(weight, scale, zp, qmin, qmax, dtype)
            scale, zp = torch.tensor(float(scale)), torch.tensor(int(zp))
        if _check_range(qmin, qmax, dtype, node.name) != "torch.int8":
            raise CompressionError(f"{node.name}: weights quantized to {dtype}, expected torch.int8")
        name = quant.args[0].target.removeprefix(prefix).removesuffix(".weight")
        plans.append(LinearPlan(name, q.to(torch.int8), scale.to(torch.float32), zp.to(torch.int8),
                                _activation(x, ops, node.name)))
    return plans, float_linears


def _activation(x, ops, where: str) -> ActQuant | None:
    target = getattr(x, "target", None)
    if target in ops["dq_static"]:
        _, scale, zp, qmin, qmax, dtype = x.args[:6]
        return ActQuant(_check_range(qmin, qmax, dtype, where), float(scale), int(zp))
    if target in ops["dq_dynamic"]:
        _, _, _, qmin, qmax, dtype = x.args[:6]
        name = _check_range(qmin, qmax, dtype, where)
        if name != "torch.uint8":  # ONNX DynamicQuantizeLinear is uint8 only
            raise CompressionError(f"{where}: dynamic {name} activations cannot be written as ONNX")
        return ActQuant(name)
    return None


@functools.cache
def _fake_quant_functions():
    """autograd Functions whose forward matches PT2E's decomposed ops and whose symbolic is ONNX QDQ."""
    import torch

    qd = torch.ops.quantized_decomposed

    class StaticAct(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x, scale: float, zp: int, signed: bool):
            lo, hi, dtype = (-128, 127, torch.int8) if signed else (0, 255, torch.uint8)
            return qd.dequantize_per_tensor(qd.quantize_per_tensor(x, scale, zp, lo, hi, dtype),
                                            scale, zp, lo, hi, dtype)

        @staticmethod
        def symbolic(g, x, scale, zp, signed):
            s = g.op("Constant", value_t=torch.tensor(scale, dtype=torch.float32))
            z = g.op("Constant", value_t=torch.tensor(zp, dtype=torch.int8 if signed else torch.uint8))
            return g.op("DequantizeLinear", g.op("QuantizeLinear", x, s, z), s, z)

    class DynamicAct(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            eps = torch.finfo(torch.float32).eps
            scale, zp = qd.choose_qparams.tensor(x, 0, 255, eps, torch.uint8)
            return qd.dequantize_per_tensor.tensor(qd.quantize_per_tensor.tensor(x, scale, zp, 0, 255, torch.uint8),
                                                   scale, zp, 0, 255, torch.uint8)

        @staticmethod
        def symbolic(g, x):
            y, s, z = g.op("DynamicQuantizeLinear", x, outputs=3)
            return g.op("DequantizeLinear", y, s, z)

    class DequantWeight(torch.autograd.Function):
        @staticmethod
        def forward(ctx, w, scale, zp, per_channel: bool):  # w is [in, out]: the scales run along axis 1
            if not per_channel:
                return (w.float() - zp.float()) * scale
            return (w.float() - zp.float()[None, :]) * scale[None, :]

        @staticmethod
        def symbolic(g, w, scale, zp, per_channel):
            return g.op("DequantizeLinear", w, scale, zp, **({"axis_i": 1} if per_channel else {}))

    return StaticAct, DynamicAct, DequantWeight


def qdq_linear(linear, plan: LinearPlan):
    """A module computing what PT2E's converted graph computes for ``linear``, exportable as ONNX QDQ."""
    import torch

    static_act, dynamic_act, dequant_weight = _fake_quant_functions()

    class QDQLinear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.register_buffer("weight_t_int8", plan.weight_int8.t().contiguous())  # [in, out], as MatMul wants
            self.register_buffer("weight_scale", plan.weight_scale.clone())
            self.register_buffer("weight_zero_point", plan.weight_zero_point.clone())
            self.bias = None if linear.bias is None else torch.nn.Parameter(linear.bias.detach().clone())
            self.act = plan.activation

        def forward(self, x):
            if self.act is not None and self.act.scale is None:
                x = dynamic_act.apply(x)
            elif self.act is not None:
                x = static_act.apply(x, self.act.scale, self.act.zero_point, self.act.dtype == "torch.int8")
            y = torch.matmul(x, dequant_weight.apply(
                self.weight_t_int8, self.weight_scale, self.weight_zero_point, self.weight_scale.dim() == 1))
            return y if self.bias is None else y + self.bias

    return QDQLinear()


def transplant(model, plans: list[LinearPlan]) -> None:
    """Replace each planned nn.Linear of ``model`` (in place) by its QDQ twin."""
    import torch

    for plan in plans:
        parent_name, _, child = plan.module.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        linear = getattr(parent, child)
        if not isinstance(linear, torch.nn.Linear) or tuple(linear.weight.shape) != tuple(plan.weight_int8.shape):
            raise CompressionError(f"quantized graph names {plan.module!r}, which is not a matching nn.Linear")
        setattr(parent, child, qdq_linear(linear, plan))
