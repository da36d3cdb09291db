"""Elementwise arithmetic and math: Add, Sub, Mul, Div, Pow, Mod, Sum, Max, Min, Mean, Clip and the
unary math functions (Abs ... Atanh, Round, Sign, Erf)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..context import NodeContext
from ..mxops import npi
from ..registry import converter
from ._helpers import is_float_input, same_shape
from ._numeric import (
    flip_uint64,
    is_integer_type,
    is_unsigned_type,
    truncating_divide,
    uint64_to_float,
    where,
    wrap_output,
)


# --- binary arithmetic ---------------------------------------------------------------------
def _legacy_broadcast(cx: NodeContext, b: object, axis: int) -> object:
    """Opset < 7 ``broadcast=1``: B is aligned with A from ``axis`` on, not from the right."""
    rank_a, rank_b = cx.rank(0), cx.rank(1)
    start = axis + rank_a if axis < 0 else axis
    trailing = rank_a - start - rank_b
    if trailing > 0:
        b = cx.F.reshape(b, shape=(0,) * rank_b + (1,) * trailing)
    return b


def _legacy_axis_of(broadcast: int, axis: int | None) -> int | None:
    """Start axis of B in A for opset < 7 broadcasting (None: shapes are equal or B is aligned right)."""
    if not broadcast or axis is None:
        return None
    return axis


def _arith(cx: NodeContext, a: object, b: object, same: str, broadcast: str, axis: int | None) -> object:
    F = cx.F
    if axis is not None:
        b = _legacy_broadcast(cx, b, axis)
    elif same_shape(cx.in_shape(0), cx.in_shape(1)) and is_float_input(cx, 0):
        # same-shape float ops stay elemwise_* so oneDNN can fuse them
        return getattr(F, same)(a, b)
    return wrap_output(cx, getattr(F, broadcast)(a, b))


@converter("Add", since=1)
@converter("Add", since=6)
def add_v1(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
           consumed_inputs: list[int] | None = None) -> object:
    return _arith(cx, a, b, "elemwise_add", "broadcast_add", _legacy_axis_of(broadcast, axis))


@converter("Add", since=7)
@converter("Add", since=13)
@converter("Add", since=14)
def add(cx: NodeContext, a: object, b: object) -> object:
    return _arith(cx, a, b, "elemwise_add", "broadcast_add", None)


@converter("Sub", since=1)
@converter("Sub", since=6)
def sub_v1(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
           consumed_inputs: list[int] | None = None) -> object:
    return _arith(cx, a, b, "elemwise_sub", "broadcast_sub", _legacy_axis_of(broadcast, axis))


@converter("Sub", since=7)
@converter("Sub", since=13)
@converter("Sub", since=14)
def sub(cx: NodeContext, a: object, b: object) -> object:
    return _arith(cx, a, b, "elemwise_sub", "broadcast_sub", None)


@converter("Mul", since=1)
@converter("Mul", since=6)
def mul_v1(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
           consumed_inputs: list[int] | None = None) -> object:
    return _arith(cx, a, b, "elemwise_mul", "broadcast_mul", _legacy_axis_of(broadcast, axis))


@converter("Mul", since=7)
@converter("Mul", since=13)
@converter("Mul", since=14)
def mul(cx: NodeContext, a: object, b: object) -> object:
    return _arith(cx, a, b, "elemwise_mul", "broadcast_mul", None)


def _divide(cx: NodeContext, a: object, b: object, axis: int | None) -> object:
    dtype = cx.in_dtype(0)
    if not is_integer_type(dtype):
        return _arith(cx, a, b, "elemwise_div", "broadcast_div", axis)
    if axis is not None:
        b = _legacy_broadcast(cx, b, axis)
    return wrap_output(cx, truncating_divide(cx, a, b, dtype))


@converter("Div", since=1)
@converter("Div", since=6)
def div_v1(cx: NodeContext, a: object, b: object, *, broadcast: int = 0, axis: int | None = None,
           consumed_inputs: list[int] | None = None) -> object:
    return _divide(cx, a, b, _legacy_axis_of(broadcast, axis))


@converter("Div", since=7)
@converter("Div", since=13)
@converter("Div", since=14)
def div(cx: NodeContext, a: object, b: object) -> object:
    return _divide(cx, a, b, None)


def _to_float(cx: NodeContext, x: object, index: int, dtype: str) -> object:
    if cx.in_dtype(index) is not None and cx.in_dtype(index).name == "uint64":
        return uint64_to_float(cx, x, dtype)
    return cx.F.Cast(x, dtype=dtype)


@converter("Pow", since=1)
@converter("Pow", since=7)
@converter("Pow", since=12)
@converter("Pow", since=13)
@converter("Pow", since=15)
def pow_(cx: NodeContext, x: object, y: object, *, broadcast: int = 0, axis: int | None = None) -> object:
    F = cx.F
    legacy = _legacy_axis_of(broadcast, axis)  # attributes of Pow-1 only
    if legacy is not None:
        y = _legacy_broadcast(cx, y, legacy)
    base_storage, exp_storage = cx.in_storage(0), cx.in_storage(1)
    if is_integer_type(cx.in_dtype(0)):
        # C++ std::pow on doubles, truncated back to the base type (what onnxruntime computes)
        result = F.broadcast_power(_to_float(cx, x, 0, "float64"), _to_float(cx, y, 1, "float64"))
        return wrap_output(cx, F.Cast(result, dtype=cx.out_storage(0)))
    if base_storage == exp_storage:
        return F.broadcast_power(x, y)
    if base_storage == "float16":
        result = F.broadcast_power(F.Cast(x, dtype="float32"), _to_float(cx, y, 1, "float32"))
        return F.Cast(result, dtype="float16")
    return F.broadcast_power(x, _to_float(cx, y, 1, base_storage))


@converter("Mod", since=10)
@converter("Mod", since=13)
@converter("Mod", since=28)
def mod(cx: NodeContext, a: object, b: object, *, fmod: int = 0) -> object:
    F = cx.F
    dtype = cx.in_dtype(0)
    if is_integer_type(dtype):
        signed = not is_unsigned_type(dtype)
        remainder = F.broadcast_sub(a, F.broadcast_mul(truncating_divide(cx, a, b, dtype), b))
        if fmod or not signed:
            return remainder
        # floor modulo: move a non-zero remainder whose sign differs from b's onto b's side
        differ = npi(F, "bitwise_xor", remainder, b) < 0
        return remainder + where(cx, differ * (remainder != 0), b, 0 * b)
    nan = cx.scalar(np.nan, cx.in_storage(0))
    zero_divisor = npi(F, "equal_scalar", b, scalar=0.0)
    if fmod:
        # C fmod is exact; MXNet's floor mod of magnitudes is C fmod, the sign comes from a
        magnitude = F.broadcast_mod(F.abs(a), F.abs(b))
        result = npi(F, "copysign", magnitude, a)
    else:
        result = F.broadcast_mod(a, b)
        # a zero result takes the sign of the divisor
        result = where(cx, npi(F, "equal_scalar", result, scalar=0.0), npi(F, "copysign", result, b), result)
    return where(cx, zero_divisor, nan, result)


# --- variadic --------------------------------------------------------------------------------
def _fold(cx: NodeContext, inputs: tuple, same: str | None, broadcast: str) -> object:
    F = cx.F
    out = inputs[0]
    shape = cx.in_shape(0)
    for index, value in enumerate(inputs[1:], start=1):
        if same and same_shape(shape, cx.in_shape(index)) and is_float_input(cx, 0):
            out = getattr(F, same)(out, value)
        else:
            out = getattr(F, broadcast)(out, value)
            shape = None
    return out


@converter("Sum", since=1)
@converter("Sum", since=6)
@converter("Sum", since=8)
@converter("Sum", since=13)
def sum_(cx: NodeContext, *inputs: object, consumed_inputs: list[int] | None = None) -> object:
    if len(inputs) == 1:
        return cx.F.identity(inputs[0])
    if len(inputs) > 2 and all(same_shape(cx.in_shape(0), cx.in_shape(i)) for i in range(len(inputs))):
        return wrap_output(cx, cx.F.add_n(*inputs))
    return wrap_output(cx, _fold(cx, inputs, "elemwise_add", "broadcast_add"))


def _extremum(cx: NodeContext, inputs: tuple, broadcast: str) -> object:
    if len(inputs) == 1:
        return cx.F.identity(inputs[0])
    dtype = cx.in_dtype(0)
    ordered = tuple(flip_uint64(cx, v, dtype) for v in inputs)
    return flip_uint64(cx, _fold(cx, ordered, None, broadcast), dtype)


@converter("Max", since=1)
@converter("Max", since=6)
@converter("Max", since=8)
@converter("Max", since=12)
@converter("Max", since=13)
def max_(cx: NodeContext, *inputs: object, consumed_inputs: list[int] | None = None) -> object:
    return _extremum(cx, inputs, "broadcast_maximum")


@converter("Min", since=1)
@converter("Min", since=6)
@converter("Min", since=8)
@converter("Min", since=12)
@converter("Min", since=13)
def min_(cx: NodeContext, *inputs: object, consumed_inputs: list[int] | None = None) -> object:
    return _extremum(cx, inputs, "broadcast_minimum")


@converter("Mean", since=1)
@converter("Mean", since=6)
@converter("Mean", since=8)
@converter("Mean", since=13)
def mean(cx: NodeContext, *inputs: object, consumed_inputs: list[int] | None = None) -> object:
    if len(inputs) == 1:
        return cx.F.identity(inputs[0])
    return _fold(cx, inputs, "elemwise_add", "broadcast_add") / len(inputs)


# --- Clip ------------------------------------------------------------------------------------
_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _clip_parameters_exact(storage: str | None, *bounds: float) -> bool:
    """Whether MXNet's ``clip`` holds ``bounds`` exactly: its a_min/a_max are float32 parameters
    (and it rejects float32 subnormals)."""
    if storage in ("float32", "float16"):
        return all(b == 0 or not np.isfinite(b) or abs(b) >= np.finfo(np.float32).tiny for b in bounds)
    if storage is not None and not storage.startswith("float"):
        return all(abs(b) <= 2**24 for b in bounds)
    return False


def _clip_to_constants(cx: NodeContext, x: object, lo: float | None, hi: float | None) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    if lo is not None and hi is not None and lo > hi:
        lo = hi
    if _clip_parameters_exact(storage, *(b for b in (lo, hi) if b is not None)):
        if lo == 0.0 and hi is None and is_float_input(cx):
            return F.Activation(x, act_type="relu")
        return F.clip(x, a_min=-np.inf if lo is None else lo, a_max=np.inf if hi is None else hi)
    dtype = cx.in_dtype(0)
    out = flip_uint64(cx, x, dtype)
    if lo is not None:
        out = F.broadcast_maximum(out, flip_uint64(cx, cx.const(np.array(lo, dtype=dtype)), dtype))
    if hi is not None:
        out = F.broadcast_minimum(out, flip_uint64(cx, cx.const(np.array(hi, dtype=dtype)), dtype))
    return flip_uint64(cx, out, dtype)


@converter("Clip", since=1)
@converter("Clip", since=6)
def clip_v6(cx: NodeContext, x: object, *, min: float = -_FLOAT32_MAX, max: float = _FLOAT32_MAX,  # noqa: A002
            consumed_inputs: list[int] | None = None) -> object:
    return _clip_to_constants(cx, x, min, max)


@converter("Clip", since=11)
@converter("Clip", since=12)
@converter("Clip", since=13)
def clip(cx: NodeContext, x: object, lo: object = None, hi: object = None) -> object:
    F = cx.F
    if lo is None and hi is None:
        return F.identity(x)
    lo_value = None if lo is None else cx.static(1)
    hi_value = None if hi is None else cx.static(2)
    if (lo is None or lo_value is not None) and (hi is None or hi_value is not None):
        # integer bounds stay Python ints: 64-bit values do not fit a float
        return _clip_to_constants(cx, x, None if lo is None else _scalar_of(lo_value),
                                  None if hi is None else _scalar_of(hi_value))
    dtype = cx.in_dtype(0)
    out = flip_uint64(cx, x, dtype)
    if lo is not None:
        out = F.broadcast_maximum(out, flip_uint64(cx, lo, dtype))
    if hi is not None:
        out = F.broadcast_minimum(out, flip_uint64(cx, hi, dtype))
    return flip_uint64(cx, out, dtype)


def _scalar_of(value: object) -> float | int:
    item = np.asarray(value).reshape(-1)[0]
    return int(item) if np.asarray(value).dtype.kind in "iub" else float(item)


# --- unary math ------------------------------------------------------------------------------
def _unary(op_type: str, since: tuple[int, ...], fn: Callable[[NodeContext, object], object]) -> None:
    def convert(cx: NodeContext, x: object, *, consumed_inputs: list[int] | None = None) -> object:
        return fn(cx, x)

    convert.__name__ = op_type.lower()
    convert.__qualname__ = op_type.lower()
    for version in since:
        converter(op_type, since=version)(convert)


def _abs(cx: NodeContext, x: object) -> object:
    if is_unsigned_type(cx.in_dtype(0)):
        return cx.F.identity(x)
    return wrap_output(cx, cx.F.abs(x))


def _neg(cx: NodeContext, x: object) -> object:
    return wrap_output(cx, cx.F.negative(x))


def _sign(cx: NodeContext, x: object) -> object:
    F = cx.F
    dtype = cx.in_dtype(0)
    if is_unsigned_type(dtype):
        return x != 0
    if is_integer_type(dtype):
        return F.sign(x)
    # MXNet's sign(NaN) is 0; ONNX (numpy) keeps NaN
    return where(cx, npi(F, "isnan", x), x, F.sign(x))


def _round(cx: NodeContext, x: object) -> object:
    """Round half to even (numpy ``around``; MXNet's ``round``/``rint`` round half away / down)."""
    F = cx.F
    if cx.in_storage(0) == "float16":
        return F.Cast(npi(F, "around", F.Cast(x, dtype="float32"), decimals=0), dtype="float16")
    return npi(F, "around", x, decimals=0)


_unary("Abs", (1, 6, 13), _abs)
_unary("Neg", (1, 6, 13), _neg)
_unary("Exp", (1, 6, 13), lambda cx, x: cx.F.exp(x))
_unary("Log", (1, 6, 13), lambda cx, x: cx.F.log(x))
_unary("Sqrt", (1, 6, 13), lambda cx, x: cx.F.sqrt(x))
_unary("Reciprocal", (1, 6, 13), lambda cx, x: cx.F.reciprocal(x))
_unary("Floor", (1, 6, 13), lambda cx, x: cx.F.floor(x))
_unary("Ceil", (1, 6, 13), lambda cx, x: cx.F.ceil(x))
_unary("Round", (11, 22), _round)
_unary("Sign", (9, 13), _sign)
_unary("Sin", (7, 22), lambda cx, x: cx.F.sin(x))
_unary("Cos", (7, 22), lambda cx, x: cx.F.cos(x))
_unary("Tan", (7, 22), lambda cx, x: cx.F.tan(x))
_unary("Asin", (7, 22), lambda cx, x: cx.F.arcsin(x))
_unary("Acos", (7, 22), lambda cx, x: cx.F.arccos(x))
_unary("Atan", (7, 22), lambda cx, x: cx.F.arctan(x))
_unary("Sinh", (9, 22), lambda cx, x: cx.F.sinh(x))
_unary("Cosh", (9, 22), lambda cx, x: cx.F.cosh(x))
_unary("Asinh", (9, 22), lambda cx, x: cx.F.arcsinh(x))
_unary("Acosh", (9, 22), lambda cx, x: cx.F.arccosh(x))
_unary("Atanh", (9, 22), lambda cx, x: cx.F.arctanh(x))
_unary("Erf", (9, 13), lambda cx, x: cx.F.erf(x))
