"""Softmax-style activations: Softmax, LogSoftmax."""

from __future__ import annotations

from ..context import NodeContext
from ..registry import converter
from ._helpers import norm_axis


def _softmax_2d_semantics(cx: NodeContext, x: object, axis: int, log: bool) -> object:
    """opset < 13: softmax over all dimensions from ``axis`` on (input coerced to 2-D)."""
    F = cx.F
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    if axis == rank - 1:
        return F.log_softmax(x, axis=-1) if log else F.softmax(x, axis=-1)
    axes = tuple(range(axis, rank))
    shifted = F.broadcast_sub(x, F.max(x, axis=axes, keepdims=True))
    exp = F.exp(shifted)
    total = F.sum(exp, axis=axes, keepdims=True)
    if log:
        return F.broadcast_sub(shifted, F.log(total))
    return F.broadcast_div(exp, total)


@converter("Softmax", since=1)
@converter("Softmax", since=11)
def softmax_v11(cx: NodeContext, x: object, *, axis: int = 1) -> object:
    return _softmax_2d_semantics(cx, x, axis, log=False)


@converter("Softmax", since=13)
def softmax(cx: NodeContext, x: object, *, axis: int = -1) -> object:
    if cx.in_storage(0) == "float16":
        return _softmax_float16(cx, x, axis)
    return cx.F.softmax(x, axis=axis)


def _softmax_float16(cx: NodeContext, x: object, axis: int) -> object:
    """ONNX's float16 Softmax rounds to float16 after each step (max-shift, exp, sum, divide);
    MXNet's float16 softmax accumulates in float16 without those roundings and drifts further."""
    F = cx.F

    def half(v: object) -> object:
        return F.Cast(F.Cast(v, dtype="float16"), dtype="float32")

    x32 = F.Cast(x, dtype="float32")
    shifted = half(F.broadcast_sub(x32, F.max(x32, axis=axis, keepdims=True)))
    exp = half(F.exp(shifted))
    total = half(F.sum(exp, axis=axis, keepdims=True))
    return F.Cast(F.broadcast_div(exp, total), dtype="float16")


@converter("LogSoftmax", since=1)
@converter("LogSoftmax", since=11)
def log_softmax_v11(cx: NodeContext, x: object, *, axis: int = 1) -> object:
    return _softmax_2d_semantics(cx, x, axis, log=True)


@converter("LogSoftmax", since=13)
def log_softmax(cx: NodeContext, x: object, *, axis: int = -1) -> object:
    return cx.F.log_softmax(x, axis=axis)


@converter("SwiGLU", since=28)
def swiglu(cx: NodeContext, a: object, b: object, *, alpha: float = 1.0) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    if storage == "float16":
        # ONNX computes Swish through float16 intermediates; float32 then one rounding stays within them
        a, b = F.Cast(a, dtype="float32"), F.Cast(b, dtype="float32")
    gate = a * F.sigmoid(a * alpha) if alpha != 1.0 else a * F.sigmoid(a)
    y = gate * b
    return F.Cast(y, dtype=storage) if storage == "float16" else y
