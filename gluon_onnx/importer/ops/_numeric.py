"""Numeric helpers of the elementwise, activation, logic and cast converters (no converters here).

Integer types MXNet lacks live in a wider storage type inside the block (int16 -> int32,
uint32 -> int64, int4 -> int8, ...); the helpers here keep such values inside the range of
their ONNX type (two's complement wrap-around) and keep unsigned 64-bit values, stored as
int64 bit patterns, correctly ordered.
"""

from __future__ import annotations

import numpy as np

from ...dtypes import from_storage
from ..context import NodeContext
from ..mxops import npi

#: ONNX integer types whose storage type is wider: name -> (bits, signed)
NARROW_INTS: dict[str, tuple[int, bool]] = {
    "int16": (16, True),
    "uint16": (16, False),
    "uint32": (32, False),
    "int4": (4, True),
    "uint4": (4, False),
    "int2": (2, True),
    "uint2": (2, False),
}

#: every ONNX integer type: name -> (bits, signed)
INTEGER_TYPES: dict[str, tuple[int, bool]] = {
    "int8": (8, True),
    "uint8": (8, False),
    "int32": (32, True),
    "int64": (64, True),
    "uint64": (64, False),
    **NARROW_INTS,
}

_INT64_SIGN_BIT = -(2**63)


def dtype_name(dtype: np.dtype | str | None) -> str | None:
    return None if dtype is None else np.dtype(dtype).name


def is_integer_type(dtype: np.dtype | str | None) -> bool:
    return dtype_name(dtype) in INTEGER_TYPES


def is_unsigned_type(dtype: np.dtype | str | None) -> bool:
    info = INTEGER_TYPES.get(dtype_name(dtype) or "")
    return info is not None and not info[1]


def is_string_type(dtype: np.dtype | str | None) -> bool:
    return dtype is not None and np.dtype(dtype).kind in "OSU"


def wrap_integer(F: object, x: object, dtype: np.dtype | str | None) -> object:
    """Reduce integers held in a wider storage type to the range of ``dtype`` (modulo 2**bits).

    A no-op for types stored at their own width, whose MXNet arithmetic already wraps.
    """
    info = NARROW_INTS.get(dtype_name(dtype) or "")
    if info is None:
        return x
    bits, signed = info
    mask = (1 << bits) - 1
    if not signed:
        return npi(F, "bitwise_and_scalar", x, scalar=mask)
    half = 1 << (bits - 1)
    return npi(F, "bitwise_and_scalar", x + half, scalar=mask) - half


def bitwise_and_mask(cx: NodeContext, x: object, mask: int, storage: str = "int64") -> object:
    """``x & mask``; masks beyond 2**53 go through a tensor (MXNet passes scalars as doubles)."""
    if abs(mask) < 2**53:
        return npi(cx.F, "bitwise_and_scalar", x, scalar=mask)
    return npi(cx.F, "bitwise_and", x, cx.scalar(mask, storage))


def wrap_output(cx: NodeContext, x: object, index: int = 0) -> object:
    """``x`` wrapped to the range of output ``index``'s ONNX type."""
    return wrap_integer(cx.F, x, cx.out_dtype(index))


def flip_uint64(cx: NodeContext, x: object, dtype: np.dtype | str | None) -> object:
    """Map uint64 bit patterns (held in int64) to int64 values with the same order; an involution.

    Identity for every other type.
    """
    if dtype_name(dtype) != "uint64":
        return x
    return npi(cx.F, "bitwise_xor_scalar", x, scalar=_INT64_SIGN_BIT)


def uint64_to_float(cx: NodeContext, x: object, dtype: str = "float64") -> object:
    """Float value of uint64 bit patterns held in int64 (patterns with the top bit set are >= 2**63)."""
    F = cx.F
    value = F.Cast(x, dtype=dtype)
    negative = F.Cast(x < 0, dtype=dtype)
    return value + F.broadcast_mul(negative, cx.scalar(2.0**64, dtype))


def truncating_divide(cx: NodeContext, a: object, b: object, dtype: np.dtype | str | None) -> object:
    """Integer division rounding toward zero, like C, without MXNet's SIGFPE on x/0 and MIN/-1.

    A zero divisor yields ``a`` (ONNX leaves it undefined); ``-1`` yields ``-a`` with wrap-around.
    """
    F = cx.F
    name = dtype_name(dtype)
    if name == "uint64":
        return _uint64_divide(cx, a, b + (b == 0))
    if is_unsigned_type(dtype):
        return F.broadcast_div(a, b + (b == 0))
    minus_one = b == -1
    safe = b + (b == 0) + 2 * minus_one
    quotient = F.broadcast_div(a, safe)
    return F.broadcast_mul(quotient, 1 - 2 * minus_one)


def _uint64_divide(cx: NodeContext, a: object, b: object) -> object:
    """Unsigned division of uint64 bit patterns held in int64 (``b`` non-zero) with signed operators."""
    F = cx.F

    def unsigned_ge(x: object, y: object) -> object:
        return npi(F, "greater_equal", flip_uint64(cx, x, "uint64"), flip_uint64(cx, y, "uint64"))

    # a divisor >= 2**63 goes at most once
    huge_divisor = b < 0
    huge_quotient = F.Cast(unsigned_ge(a, b), dtype="int64")
    divisor = b + (1 - b) * huge_divisor  # 1 where huge: keeps the other branch harmless
    # a dividend >= 2**63: halve it (a logical shift), divide, double, then correct by one
    halved = bitwise_and_mask(cx, a, 2**63 - 1) / 2 + F.broadcast_mul(a < 0, cx.scalar(2**62, "int64"))
    doubled = F.broadcast_mul(F.broadcast_div(halved, divisor), cx.scalar(2, "int64"))
    remainder = F.broadcast_sub(a, F.broadcast_mul(doubled, divisor))
    top_quotient = doubled + F.Cast(unsigned_ge(remainder, divisor), dtype="int64")
    small = F.broadcast_div(a, divisor)
    quotient = where(cx, a < 0, top_quotient, small)
    return where(cx, huge_divisor, huge_quotient, quotient)


def host_values(cx: NodeContext, value: object, dtype: np.dtype | None, what: str) -> np.ndarray:
    """numpy values of ``value`` for an operator on strings, which run on the host.

    String tensors are numpy object arrays (MXNet arrays cannot hold them), which exist only in
    imperative mode; a numeric NDArray is copied to the host in its ONNX type.
    """
    if cx.symbolic:
        raise cx.not_hybridizable(f"{what} involves string tensors, which MXNet graphs cannot hold")
    if isinstance(value, np.ndarray):
        return value
    array = value.asnumpy()
    return from_storage(array, dtype) if dtype is not None else array


def where(cx: NodeContext, condition: object, x: object, y: object) -> object:
    """numpy ``where`` with broadcasting; ``condition`` may be bool or 0/1 of any type."""
    return npi(cx.F, "where", condition, x, y)
