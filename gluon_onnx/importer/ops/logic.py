"""Comparisons, boolean logic, Where, bitwise operators and float classification:
Equal, Greater, GreaterOrEqual, Less, LessOrEqual, And, Or, Xor, Not, Where, BitShift,
BitwiseAnd, BitwiseOr, BitwiseXor, BitwiseNot, IsNaN, IsInf."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ..context import NodeContext
from ..mxops import npi
from ..registry import converter
from ._numeric import (
    INTEGER_TYPES,
    bitwise_and_mask,
    dtype_name,
    flip_uint64,
    host_values,
    is_string_type,
    where,
    wrap_output,
)


def _legacy_align(cx: NodeContext, b: object, broadcast: int, axis: int | None) -> object:
    """Opset 1 ``broadcast=1`` with ``axis``: B is aligned with A from ``axis`` on."""
    if not broadcast or axis is None:
        return b
    rank_a, rank_b = cx.rank(0), cx.rank(1)
    trailing = rank_a - (axis + rank_a if axis < 0 else axis) - rank_b
    if trailing > 0:
        b = cx.F.reshape(b, shape=(0,) * rank_b + (1,) * trailing)
    return b


# --- comparisons ----------------------------------------------------------------------------
def _compare(cx: NodeContext, a: object, b: object, op: str, broadcast: int = 0, axis: int | None = None) -> object:
    dtype = cx.in_dtype(0)
    if is_string_type(dtype):
        # strings are numpy object arrays on the host (imperative mode)
        left = host_values(cx, a, dtype, op)
        right = host_values(cx, b, dtype, op)
        return mx.nd.array(getattr(np, op)(left, right), ctx=cx.ctx, dtype="bool")
    b = _legacy_align(cx, b, broadcast, axis)
    return npi(cx.F, op, flip_uint64(cx, a, dtype), flip_uint64(cx, b, dtype))


@converter("Equal", since=1)
@converter("Equal", since=7)
@converter("Equal", since=11)
@converter("Equal", since=13)
@converter("Equal", since=19)
def equal(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return _compare(cx, a, b, "equal", broadcast, axis)


@converter("Greater", since=1)
@converter("Greater", since=7)
@converter("Greater", since=9)
@converter("Greater", since=13)
def greater(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return _compare(cx, a, b, "greater", broadcast, axis)


@converter("Less", since=1)
@converter("Less", since=7)
@converter("Less", since=9)
@converter("Less", since=13)
def less(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return _compare(cx, a, b, "less", broadcast, axis)


@converter("GreaterOrEqual", since=12)
@converter("GreaterOrEqual", since=16)
def greater_or_equal(cx: NodeContext, a: object, b: object) -> object:
    return _compare(cx, a, b, "greater_equal")


@converter("LessOrEqual", since=12)
@converter("LessOrEqual", since=16)
def less_or_equal(cx: NodeContext, a: object, b: object) -> object:
    return _compare(cx, a, b, "less_equal")


# --- boolean logic --------------------------------------------------------------------------
# npi's bitwise operators reject broadcasting bool operands; where / not_equal accept them
@converter("And", since=1)
@converter("And", since=7)
def and_(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return where(cx, a, _legacy_align(cx, b, broadcast, axis), a)


@converter("Or", since=1)
@converter("Or", since=7)
def or_(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return where(cx, a, a, _legacy_align(cx, b, broadcast, axis))


@converter("Xor", since=1)
@converter("Xor", since=7)
def xor(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    return npi(cx.F, "not_equal", a, _legacy_align(cx, b, broadcast, axis))


@converter("Not", since=1)
def not_(cx: NodeContext, x: object) -> object:
    return npi(cx.F, "logical_not", x)


@converter("Where", since=9)
@converter("Where", since=16)
def where_(cx: NodeContext, condition: object, x: object, y: object) -> object:
    if is_string_type(cx.in_dtype(1)):
        # strings are numpy object arrays on the host (imperative mode)
        chosen = host_values(cx, condition, np.dtype(bool), "Where")
        return np.where(chosen, host_values(cx, x, None, "Where"), host_values(cx, y, None, "Where"))
    return where(cx, condition, x, y)


# --- bitwise ----------------------------------------------------------------------------------
@converter("BitwiseAnd", since=18)
def bitwise_and(cx: NodeContext, a: object, b: object) -> object:
    return npi(cx.F, "bitwise_and", a, b)


@converter("BitwiseOr", since=18)
def bitwise_or(cx: NodeContext, a: object, b: object) -> object:
    return npi(cx.F, "bitwise_or", a, b)


@converter("BitwiseXor", since=18)
def bitwise_xor(cx: NodeContext, a: object, b: object) -> object:
    return npi(cx.F, "bitwise_xor", a, b)


@converter("BitwiseNot", since=18)
def bitwise_not(cx: NodeContext, x: object) -> object:
    return wrap_output(cx, npi(cx.F, "bitwise_not", x))


@converter("BitShift", since=11)
@converter("BitShift", since=28)
def bit_shift(cx: NodeContext, x: object, y: object, *, direction: str = "") -> object:
    """Shifts as multiplication / floor division by a power of two (MXNet has no shift operator).

    Shifts by a negative amount or by the bit width or more give the sign fill: 0, or -1 for a
    right shift of a negative signed value (opset 28; earlier opsets left them undefined).
    """
    F = cx.F
    name = dtype_name(cx.in_dtype(0))
    if name not in INTEGER_TYPES:
        raise cx.fail(f"BitShift needs an integer type, got {name}")
    if direction not in ("LEFT", "RIGHT"):
        raise cx.fail(f"BitShift direction must be LEFT or RIGHT, got {direction!r}")
    bits, signed = INTEGER_TYPES[name]
    storage = cx.in_storage(0)
    # shift amounts that move a bit: [0, bits - 1]; for a signed right shift, bits - 1 only leaves the sign fill
    limit = bits - 2 if signed and direction == "RIGHT" else bits - 1
    in_range = (y >= 0) * (y <= limit)
    amount = F.clip(y, a_min=0, a_max=limit)
    powers = cx.const(np.array([1 << i for i in range(limit + 1)], dtype=np.uint64).astype(storage))
    factor = F.take(powers, amount)
    if direction == "LEFT":
        shifted = wrap_output(cx, F.broadcast_mul(x, factor))
        return where(cx, in_range, shifted, 0 * shifted)
    if name == "uint64":
        shifted = _uint64_right_shift(cx, x, amount, factor)
    else:
        quotient = F.broadcast_div(x, factor)
        if signed:
            # floor division: a negative value with a remainder rounds one further down
            inexact = F.broadcast_not_equal(F.broadcast_mul(quotient, factor), x)
            quotient = quotient - F.broadcast_mul(inexact, x < 0)
        shifted = quotient
    fill = (x < 0) * -1 if signed else 0 * x
    return where(cx, in_range, shifted, fill)


def _uint64_right_shift(cx: NodeContext, x: object, amount: object, factor: object) -> object:
    """Logical right shift of uint64 bit patterns held in int64 (top bit set means negative)."""
    F = cx.F
    low = bitwise_and_mask(cx, x, 2**63 - 1)
    shifted = F.broadcast_div(low, factor)
    # the top bit, shifted right by `amount` (>= 1), lands on bit 63 - amount
    top = F.take(cx.const(np.array([0] + [1 << (63 - i) for i in range(1, 64)], dtype=np.int64)), amount)
    top_bit = F.broadcast_mul(top, x < 0)
    return where(cx, amount == 0, x, shifted + top_bit)


# --- float classification ---------------------------------------------------------------------
@converter("IsNaN", since=9)
@converter("IsNaN", since=13)
@converter("IsNaN", since=20)
def is_nan(cx: NodeContext, x: object) -> object:
    return npi(cx.F, "isnan", x)


@converter("IsInf", since=10)
@converter("IsInf", since=20)
def is_inf(cx: NodeContext, x: object, *, detect_negative: int = 1, detect_positive: int = 1) -> object:
    F = cx.F
    if detect_negative and detect_positive:
        return npi(F, "isinf", x)
    if detect_positive:
        return npi(F, "isposinf", x)
    if detect_negative:
        return npi(F, "isneginf", x)
    return F.Cast(F.zeros_like(x), dtype="bool")
