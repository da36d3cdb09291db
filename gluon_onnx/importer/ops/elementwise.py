"""Elementwise arithmetic and activations."""

from __future__ import annotations

from ..context import NodeContext
from ..registry import converter
from ._helpers import is_float_input, same_shape


def _binary(cx: NodeContext, a: object, b: object, same: str, broadcast: str,
            legacy_axis: int | None = None) -> object:
    F = cx.F
    if legacy_axis is not None:
        # opset < 7: B is aligned with A starting at `axis` instead of numpy broadcasting
        rank_a, rank_b = cx.rank(0), cx.rank(1)
        axis = legacy_axis + rank_a if legacy_axis < 0 else legacy_axis
        trailing = rank_a - axis - rank_b
        if trailing > 0:
            b = F.reshape(b, shape=(0,) * rank_b + (1,) * trailing)
        return getattr(F, broadcast)(a, b)
    if same_shape(cx.in_shape(0), cx.in_shape(1)) and is_float_input(cx, 0):
        return getattr(F, same)(a, b)
    return getattr(F, broadcast)(a, b)


@converter("Add", since=1)
@converter("Add", since=7)
def add(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
        consumed_inputs: list[int] | None = None) -> object:
    legacy = axis if broadcast and axis is not None else None
    return _binary(cx, a, b, "elemwise_add", "broadcast_add", legacy)


@converter("Sub", since=1)
@converter("Sub", since=7)
def sub(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
        consumed_inputs: list[int] | None = None) -> object:
    legacy = axis if broadcast and axis is not None else None
    return _binary(cx, a, b, "elemwise_sub", "broadcast_sub", legacy)


@converter("Mul", since=1)
@converter("Mul", since=7)
def mul(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
        consumed_inputs: list[int] | None = None) -> object:
    legacy = axis if broadcast and axis is not None else None
    return _binary(cx, a, b, "elemwise_mul", "broadcast_mul", legacy)


@converter("Div", since=1)
@converter("Div", since=7)
def div(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
        consumed_inputs: list[int] | None = None) -> object:
    legacy = axis if broadcast and axis is not None else None
    return _binary(cx, a, b, "elemwise_div", "broadcast_div", legacy)


def _unary(op_type: str, fn: object, since: tuple[int, ...] = (1,)) -> None:
    def convert(cx: NodeContext, x: object, **_: object) -> object:
        return fn(cx.F, x)

    convert.__name__ = op_type.lower()
    for version in since:
        converter(op_type, since=version)(convert)


_unary("Relu", lambda F, x: F.Activation(x, act_type="relu"), (1, 6, 13, 14))
_unary("Sigmoid", lambda F, x: F.Activation(x, act_type="sigmoid"), (1, 6, 13))
_unary("Tanh", lambda F, x: F.Activation(x, act_type="tanh"), (1, 6, 13))
_unary("Exp", lambda F, x: F.exp(x), (1, 6, 13))
_unary("Log", lambda F, x: F.log(x), (1, 6, 13))
_unary("Sqrt", lambda F, x: F.sqrt(x), (1, 6, 13))
_unary("Reciprocal", lambda F, x: F.reciprocal(x), (1, 6, 13))
_unary("Abs", lambda F, x: F.abs(x), (1, 6, 13))
_unary("Neg", lambda F, x: F.negative(x), (1, 6, 13))
_unary("Floor", lambda F, x: F.floor(x), (1, 6, 13))
_unary("Ceil", lambda F, x: F.ceil(x), (1, 6, 13))
_unary("Erf", lambda F, x: F.erf(x), (9, 13))
_unary("Softsign", lambda F, x: x / (1 + F.abs(x)), (1,))


@converter("LeakyRelu", since=1)
@converter("LeakyRelu", since=6)
@converter("LeakyRelu", since=16)
def leaky_relu(cx: NodeContext, x: object, *, alpha: float = 0.01, **_: object) -> object:
    return cx.F.LeakyReLU(x, act_type="leaky", slope=alpha)


@converter("Elu", since=1)
@converter("Elu", since=6)
def elu(cx: NodeContext, x: object, *, alpha: float = 1.0, **_: object) -> object:
    return cx.F.LeakyReLU(x, act_type="elu", slope=alpha)


@converter("Clip", since=1)
@converter("Clip", since=6)
def clip_v6(cx: NodeContext, x: object, *, min: float = -3.4028234663852886e38, max: float = 3.4028234663852886e38,
            **_: object) -> object:
    return cx.F.clip(x, a_min=min, a_max=max)


@converter("Clip", since=11)
@converter("Clip", since=12)
@converter("Clip", since=13)
def clip(cx: NodeContext, x: object, lo: object = None, hi: object = None) -> object:
    F = cx.F
    lo_value, hi_value = cx.static(1), cx.static(2)
    if (lo is None or lo_value is not None) and (hi is None or hi_value is not None) and is_float_input(cx):
        a_min = float(lo_value) if lo is not None else float("-inf")
        a_max = float(hi_value) if hi is not None else float("inf")
        if a_min == 0.0 and a_max == float("inf"):
            return F.Activation(x, act_type="relu")
        return F.clip(x, a_min=a_min, a_max=a_max)
    out = x
    if lo is not None:
        out = F.broadcast_maximum(out, lo)
    if hi is not None:
        out = F.broadcast_minimum(out, hi)
    return out


def _variadic(cx: NodeContext, inputs: tuple, same: str | None, broadcast: str) -> object:
    F = cx.F
    out = inputs[0]
    for index, value in enumerate(inputs[1:], start=1):
        if same and same_shape(cx.in_shape(0), cx.in_shape(index)) and is_float_input(cx, 0):
            out = getattr(F, same)(out, value)
        else:
            out = getattr(F, broadcast)(out, value)
    return out


@converter("Sum", since=1)
@converter("Sum", since=6)
@converter("Sum", since=8)
@converter("Sum", since=13)
def sum_(cx: NodeContext, *inputs: object, **_: object) -> object:
    if len(inputs) > 2 and all(same_shape(cx.in_shape(0), cx.in_shape(i)) for i in range(len(inputs))):
        return cx.F.add_n(*inputs)
    return _variadic(cx, inputs, "elemwise_add", "broadcast_add")


@converter("Max", since=1)
@converter("Max", since=6)
@converter("Max", since=8)
@converter("Max", since=12)
@converter("Max", since=13)
def max_(cx: NodeContext, *inputs: object, **_: object) -> object:
    return _variadic(cx, inputs, None, "broadcast_maximum")


@converter("Min", since=1)
@converter("Min", since=6)
@converter("Min", since=8)
@converter("Min", since=12)
@converter("Min", since=13)
def min_(cx: NodeContext, *inputs: object, **_: object) -> object:
    return _variadic(cx, inputs, None, "broadcast_minimum")


@converter("Mean", since=1)
@converter("Mean", since=6)
@converter("Mean", since=8)
@converter("Mean", since=13)
def mean(cx: NodeContext, *inputs: object, **_: object) -> object:
    total = _variadic(cx, inputs, "elemwise_add", "broadcast_add")
    return total / len(inputs)
