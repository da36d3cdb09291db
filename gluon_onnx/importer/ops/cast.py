"""Cast, CastLike and BitCast.

Narrow float types (bfloat16, float8 e4m3fn/e4m3fnuz/e5m2/e5m2fnuz/e8m0, float6, float4) are
stored as float32 inside the block. A Cast to one of them rounds the value to the nearest value
the narrow type represents (round half to even, with the saturation, infinity and NaN rules of
the ONNX specification; :mod:`._float_formats`) while staying float32, so later operators see
exactly the values the narrow type holds and the conversion at the block's boundary is exact.
The rounding uses only MXNet arithmetic, so it works imperatively and hybridized.

MXNet has no bit reinterpretation; BitCast between floats and integers decodes / encodes the IEEE
fields arithmetically (NaN payloads become the canonical quiet NaN).
"""

from __future__ import annotations

from dataclasses import dataclass

import mxnet as mx
import numpy as np
import onnx

from ...dtypes import storage_dtype, to_storage
from ..context import NodeContext
from ..mxops import npi
from ..registry import converter
from ._float_formats import emulated_format, round_to_format
from ._numeric import (
    INTEGER_TYPES,
    NARROW_INTS,
    bitwise_and_mask,
    dtype_name,
    host_values,
    is_string_type,
    uint64_to_float,
    where,
    wrap_integer,
)

_E8M0 = "float8_e8m0fnu"


def _floor_log2(cx: NodeContext, magnitude: object) -> object:
    """Exact floor(log2(magnitude)) for finite positive values (log2 alone can be off by one)."""
    F = cx.F
    exponent = F.floor(F.log2(magnitude))
    power = 2.0 ** exponent
    return exponent - (power > magnitude) + (power * 2.0 <= magnitude)


def _to_e8m0(cx: NodeContext, x32: object, saturate: bool, round_mode: str) -> object:
    """Power-of-two E8M0 value of float32 values (sign ignored), as the reference computes it from
    the float32 exponent field; 2**-127 for zero and the smallest subnormals.

    Computed in float32: MXNet parses scalar parameters as doubles with up to an ulp of error,
    which float32 arithmetic rounds away.
    """
    F = cx.F
    magnitude = F.abs(x32)
    field = F.maximum(_floor_log2(cx, magnitude) + 127.0, 0.0)  # float32 biased exponent, 0 for subnormals
    normal = field > 0
    base = 2.0 ** (field - 127.0)
    if round_mode == "up":
        up = where(cx, normal, magnitude > base, magnitude > 0)
    elif round_mode == "nearest":
        up = where(cx, normal, magnitude >= base * 1.5, magnitude > 2.0**-127)
    elif round_mode == "down":
        up = F.zeros_like(magnitude)
    else:
        raise cx.fail(f"unknown round_mode {round_mode!r}")
    if saturate:
        up = up * (field < 254)
    field = field + up
    value = 2.0 ** (F.minimum(field, 254.0) - 127.0)
    valid = (field <= 254) * F.Cast(npi(F, "isfinite", magnitude), dtype="float32")
    return where(cx, valid, value, cx.scalar(np.nan, "float32"))


def _float_value(cx: NodeContext, x: object, source: np.dtype, work: str) -> object:
    if dtype_name(source) == "uint64":
        return uint64_to_float(cx, x, work)
    return x if cx.in_storage(0) == work else cx.F.Cast(x, dtype=work)


def cast_value(cx: NodeContext, x: object, source: np.dtype | None, target: np.dtype, *, saturate: bool = True,
               round_mode: str = "up") -> object:
    """``x`` (storage of ONNX type ``source``) converted to the storage of ONNX type ``target``."""
    F = cx.F
    if source is None:
        raise cx.fail("the input type is unknown")
    if is_string_type(source) or is_string_type(target):
        return _host_string_cast(cx, x, source, target)
    source_name, target_name = dtype_name(source), dtype_name(target)
    storage = storage_dtype(target)
    if storage is None:
        raise cx.fail(f"MXNet cannot hold tensors of type {target_name}")
    if source_name == target_name:
        return F.identity(x)
    if target_name == _E8M0:
        x32 = _float_value(cx, x, source, "float32")
        return _to_e8m0(cx, x32, saturate, round_mode)
    if emulated_format(target) is not None:
        # from float32, like the reference (ml_dtypes converts float64 through float32 too)
        # `saturate` only concerns the float8 types (bfloat16 overflows to inf, float4/6 always saturate)
        saturating = saturate and target_name.startswith("float8")
        return round_to_format(F, _float_value(cx, x, source, "float32"), target, saturate=saturating)
    narrow = NARROW_INTS.get(target_name)
    if narrow is not None:
        wide = "int64" if narrow[0] == 32 else "int32"
        value = x if cx.in_storage(0) == wide else F.Cast(x, dtype=wide)
        value = wrap_integer(F, value, target)
        return value if storage == wide else F.Cast(value, dtype=storage)
    if target_name == "uint64" and cx.in_storage(0) in ("float32", "float64"):
        return _float_to_uint64(cx, x)
    if source_name == "uint64" and storage.startswith("float"):
        return F.Cast(uint64_to_float(cx, x, "float64"), dtype=storage)
    if cx.in_storage(0) == storage:
        return F.identity(x)
    return F.Cast(x, dtype=storage)


def _host_string_cast(cx: NodeContext, x: object, source: np.dtype, target: np.dtype) -> object:
    """Cast from or to STRING on the host (imperative mode only): string tensors are numpy object
    arrays, which MXNet arrays cannot hold. Follows the reference: numbers print in numpy's
    shortest form, strings parse as numpy does (including "INF", "-inf", "NaN")."""
    values = host_values(cx, x, source, "Cast from or to STRING")
    if is_string_type(target):
        return values.astype(np.str_).astype(object)
    text = values.astype(np.str_)
    try:
        numbers = text.astype(target)
    except (ValueError, TypeError):  # "2.5" to an integer type, or a type numpy does not parse
        numbers = text.astype(np.float64).astype(target)
    return mx.nd.array(to_storage(numbers), ctx=cx.ctx, dtype=storage_dtype(target))


def _float_to_uint64(cx: NodeContext, x: object) -> object:
    """uint64 bit patterns (int64 storage) of float values: C casts to int64 overflow at 2**63."""
    F = cx.F
    work = cx.in_storage(0)
    high = F.broadcast_greater_equal(x, cx.scalar(2.0**63, work))
    upper = F.Cast(F.broadcast_sub(x, cx.scalar(2.0**64, work)), dtype="int64")
    return F.where(high, upper, F.Cast(x, dtype="int64"))


def _onnx_type(cx: NodeContext, to: int | str) -> np.dtype:
    if isinstance(to, str):  # Cast-1 names the type
        try:
            to = onnx.TensorProto.DataType.Value(to.upper())
        except ValueError:
            raise cx.fail(f"unknown type name {to!r}") from None
    if int(to) == onnx.TensorProto.STRING:
        return np.dtype(object)
    try:
        return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(int(to)))
    except (KeyError, ValueError, TypeError):
        raise cx.fail(f"unknown ONNX type {to}") from None


@converter("Cast", since=1)
def cast_v1(cx: NodeContext, x: object, *, to: str = "") -> object:
    return cast_value(cx, x, cx.in_dtype(0), _onnx_type(cx, to))


@converter("Cast", since=6)
@converter("Cast", since=9)
@converter("Cast", since=13)
@converter("Cast", since=19)
@converter("Cast", since=21)
@converter("Cast", since=23)
@converter("Cast", since=24)
@converter("Cast", since=25)
@converter("Cast", since=28)
def cast(cx: NodeContext, x: object, *, to: int = 1, saturate: int = 1, round_mode: str = "up") -> object:
    return cast_value(cx, x, cx.in_dtype(0), _onnx_type(cx, to), saturate=bool(saturate), round_mode=round_mode)


@converter("CastLike", since=15)
@converter("CastLike", since=19)
@converter("CastLike", since=21)
@converter("CastLike", since=23)
@converter("CastLike", since=24)
@converter("CastLike", since=25)
def cast_like(cx: NodeContext, x: object, target_type: object, *, saturate: int = 1, round_mode: str = "up") -> object:
    target = cx.in_dtype(1)
    if target is None:
        raise cx.fail("the type of CastLike's second input is unknown")
    return cast_value(cx, x, cx.in_dtype(0), target, saturate=bool(saturate), round_mode=round_mode)


# --- BitCast -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _IeeeLayout:
    exponent_bits: int
    mantissa_bits: int

    @property
    def bias(self) -> int:
        return (1 << (self.exponent_bits - 1)) - 1

    @property
    def width(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits


_IEEE: dict[str, _IeeeLayout] = {
    "float16": _IeeeLayout(5, 10),
    "bfloat16": _IeeeLayout(8, 7),
    "float32": _IeeeLayout(8, 23),
    "float64": _IeeeLayout(11, 52),
}


def _float_to_bits(cx: NodeContext, value: object, layout: _IeeeLayout) -> object:
    """Bit pattern of float64 ``value`` (exactly representable in ``layout``) as int64: unsigned for
    layouts narrower than 64 bits, two's complement for 64."""
    F = cx.F
    magnitude = F.abs(value)
    # a tensor, not a scalar parameter: MXNet parses those with up to an ulp of error
    min_normal = cx.scalar(2.0 ** (1 - layout.bias), "float64")
    scale = float(1 << layout.mantissa_bits)
    exponent = _floor_log2(cx, F.broadcast_maximum(magnitude, min_normal))
    normal = F.broadcast_greater_equal(magnitude, min_normal)
    field = F.where(normal, exponent + layout.bias, F.zeros_like(magnitude))
    normal_mantissa = (magnitude / 2.0**exponent - 1.0) * scale
    mantissa = F.where(normal, normal_mantissa, F.broadcast_div(magnitude, min_normal) * scale)
    is_nan = npi(F, "isnan", value)
    finite = npi(F, "isfinite", value)
    field = where(cx, finite, field, cx.scalar(float((1 << layout.exponent_bits) - 1), "float64"))
    quiet_nan = cx.scalar(float(1 << (layout.mantissa_bits - 1)), "float64")
    mantissa = where(cx, finite, mantissa, where(cx, is_nan, quiet_nan, cx.scalar(0.0, "float64")))
    bits = F.Cast(field, dtype="int64") * (1 << layout.mantissa_bits) + F.Cast(mantissa, dtype="int64")
    # the sign bit, also of -0 (1/-0 is -inf); MXNet's copysign ignores the sign of zero. NaN: positive
    negative = F.Cast(((value < 0) + (F.reciprocal(value) < 0)) > 0, dtype="int64")
    sign_bit = -(2**63) if layout.width == 64 else 1 << (layout.width - 1)
    return bits + negative * sign_bit


def _bits_to_float(cx: NodeContext, bits: object, layout: _IeeeLayout) -> object:
    """float64 value of bit patterns held in int64 (unsigned below 64 bits, two's complement at 64)."""
    F = cx.F
    scale = 1 << layout.mantissa_bits
    sign_bit = 1 << (layout.width - 1)
    negative = bits < 0 if layout.width == 64 else bits >= sign_bit
    body = bitwise_and_mask(cx, bits, (1 << (layout.width - 1)) - 1)
    field_bits = body / scale  # integer division: body is int64 and non-negative
    mantissa = F.Cast(body - field_bits * scale, dtype="float64")
    field = F.Cast(field_bits, dtype="float64")
    normal = (1.0 + mantissa / float(scale)) * 2.0 ** (field - layout.bias)
    subnormal = F.broadcast_mul(mantissa / float(scale), cx.scalar(2.0 ** (1 - layout.bias), "float64"))
    value = F.where(field > 0, normal, subnormal)
    special = where(cx, mantissa > 0, cx.scalar(np.nan, "float64"), cx.scalar(np.inf, "float64"))
    value = where(cx, field == float((1 << layout.exponent_bits) - 1), special, value)
    return where(cx, negative, F.negative(value), value)


def _bits_to_int(cx: NodeContext, bits: object, target: np.dtype) -> object:
    """Integer of ``target`` type whose pattern is ``bits`` (int64 as from :func:`_float_to_bits`)."""
    F = cx.F
    storage = storage_dtype(target)
    width, signed = INTEGER_TYPES[target.name]
    if signed and width < 64:
        half = 1 << (width - 1)
        bits = npi(F, "bitwise_and_scalar", bits + half, scalar=(1 << width) - 1) - half
    return bits if storage == "int64" else F.Cast(bits, dtype=storage)


@converter("BitCast", since=26)
def bit_cast(cx: NodeContext, x: object, *, to: int = 0) -> object:
    F = cx.F
    source, target = cx.in_dtype(0), _onnx_type(cx, to)
    if source is None:
        raise cx.fail("the input type is unknown")
    if is_string_type(source):
        raise cx.fail("BitCast from STRING is not defined")
    if _bit_width(source) != _bit_width(target):
        raise cx.fail(f"BitCast needs types of the same width, got {source.name} and {target.name}")
    if source.name == target.name:
        return F.identity(x)
    source_float, target_float = _IEEE.get(source.name), _IEEE.get(target.name)
    for dtype in (source, target):
        if emulated_format(dtype) is not None or dtype.name == _E8M0:
            raise cx.fail(f"BitCast of {dtype.name} is not supported: MXNet cannot reinterpret bits, and its "
                          "encoding is not rebuilt arithmetically")
    if source_float is None and target_float is None:
        # integers (and bool) of one width: Cast's modular conversion keeps the bit pattern
        return cast_value(cx, x, source, target)
    if source_float is not None:
        bits = _float_to_bits(cx, F.Cast(x, dtype="float64"), source_float)
    else:
        width = _bit_width(source)
        bits = F.Cast(x, dtype="int64")
        if width < 64:
            bits = npi(F, "bitwise_and_scalar", bits, scalar=(1 << width) - 1)
    if target_float is not None:
        return F.Cast(_bits_to_float(cx, bits, target_float), dtype=storage_dtype(target))
    return _bits_to_int(cx, bits, target)


def _bit_width(dtype: np.dtype) -> int:
    name = dtype.name
    if name in INTEGER_TYPES:
        return INTEGER_TYPES[name][0]
    if name == "float4_e2m1fn":
        return 4
    if name in ("float6_e2m3fn", "float6_e3m2fn"):
        return 6
    return dtype.itemsize * 8
