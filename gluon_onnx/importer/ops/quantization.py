"""Linear quantization: QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear, QLinearConv,
QLinearMatMul, ConvInteger, MatMulInteger.

Quantized values keep their MXNet storage types (int8/uint8 natively, int16/uint16 in int32,
int4/int2 in int8, uint4/uint2 in uint8, float8/float4 in float32 rounded to the format).
Rounding is to nearest, ties to even (numpy's ``around``; MXNet's ``rint``/``round`` do not tie
to even). Integer products are accumulated in float32 only when the sums provably stay below
2**24, else in float64, so that they are exact.
"""

from __future__ import annotations

import math

import numpy as np

from ...dtypes import np_dtype, storage_dtype
from ..context import NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..registry import converter
from ._float_formats import emulated_format, round_to_format
from ._helpers import norm_axis, onnx_pads_to_pairs, pad_array

#: saturation range of each integer quantized type
_INTEGER_RANGES = {
    "uint8": (0, 255),
    "int8": (-128, 127),
    "uint16": (0, 65535),
    "int16": (-32768, 32767),
    "uint4": (0, 15),
    "int4": (-8, 7),
    "uint2": (0, 3),
    "int2": (-2, 1),
}

#: float sums of integers are exact below this magnitude
_FLOAT32_EXACT = 2**24


def _round_half_even(F: object, x: object) -> object:
    return npi(F, "around", x, decimals=0)


def _align(cx: NodeContext, value: object, index: int, rank: int, axis: int, block_size: int,
           x: object) -> object:
    """Scale or zero point ``value`` (input ``index``) made broadcastable against ``x``.

    Per-tensor (a scalar or one element), per-axis (1-D along ``axis``) or blocked (the shape
    of ``x`` with ``ceil(D / block_size)`` along ``axis``).
    """
    F = cx.F
    shape = cx.in_shape(index)
    if shape is None:
        raise cx.fail(f"the shape of input {index} (scale/zero point) is unknown")
    if len(shape) == 0 or (len(shape) == 1 and shape[0] == 1):
        return F.reshape(value, shape=(1,) * max(rank, 1)) if rank else np_reshape(F, value, ())
    axis = norm_axis(cx, axis, rank)
    if block_size:
        if len(shape) != rank:
            raise cx.fail(f"blocked quantization needs a scale of rank {rank}, got shape {shape}")
        repeated = F.repeat(value, repeats=block_size, axis=axis)
        return F.slice_like(repeated, x, axes=(axis,))
    if len(shape) != 1:
        raise cx.fail(f"the scale must be a scalar or a 1-D tensor without block_size, got shape {shape}")
    return F.reshape(value, shape=(1,) * axis + (-1,) + (1,) * (rank - axis - 1))


def _compute_dtype(*dtypes: object) -> str:
    """Storage float type numpy would compute ``x / scale`` in (float64 for int32 inputs)."""
    names = [np.dtype(d).name for d in dtypes if d is not None]
    if any(n in ("float64", "int32", "int64") for n in names):
        return "float64"
    if names and all(n == "float16" for n in names):
        return "float16"
    return "float32"


def _quantize(cx: NodeContext, x: object, scale: object, zero_point: object, *, axis: int,
              saturate: int, block_size: int, precision: int) -> object:
    F = cx.F
    out_dtype = cx.out_dtype(0)
    if out_dtype is None:
        raise cx.fail("the output type is unknown")
    rank = cx.rank(0)
    if precision:
        compute = storage_dtype(np_dtype(precision)) or "float32"
    else:
        compute = _compute_dtype(cx.in_dtype(0), cx.in_dtype(1))
    scaled = F.broadcast_div(F.Cast(x, dtype=compute),
                             F.Cast(_align(cx, scale, 1, rank, axis, block_size, x), dtype=compute))
    name = np.dtype(out_dtype).name
    zp = None
    if zero_point is not None:
        zp = _align(cx, zero_point, 2, rank, axis, block_size, x)
    if name in _INTEGER_RANGES:
        wide = "float64" if compute == "float64" else "float32"
        # (the quotient is rounded in its own type first; around has no float16 kernel)
        q = _round_half_even(F, F.Cast(scaled, dtype=wide))
        if zp is not None:
            q = F.broadcast_add(q, F.Cast(zp, dtype=wide))
        low, high = _INTEGER_RANGES[name]
        return F.Cast(F.clip(q, a_min=low, a_max=high), dtype=cx.out_storage(0))
    fmt = emulated_format(out_dtype)
    if fmt is None:
        raise cx.fail(f"quantization to {name} is not supported")
    scaled = F.Cast(scaled, dtype="float32")
    if zp is not None and fmt.saturates_always:
        # float4/float6: the zero point takes part in the formula (it is 0 in practice)
        scaled = F.broadcast_add(scaled, zp)
    return round_to_format(F, scaled, out_dtype, saturate=bool(saturate))


@converter("QuantizeLinear", since=10)
@converter("QuantizeLinear", since=13)
@converter("QuantizeLinear", since=19)
@converter("QuantizeLinear", since=21)
@converter("QuantizeLinear", since=23)
@converter("QuantizeLinear", since=24)
@converter("QuantizeLinear", since=25)
def quantize_linear(cx: NodeContext, x: object, y_scale: object, y_zero_point: object = None, *, axis: int = 1,
                    saturate: int = 1, block_size: int = 0, output_dtype: int = 0, precision: int = 0) -> object:
    return _quantize(cx, x, y_scale, y_zero_point, axis=axis, saturate=saturate, block_size=block_size,
                     precision=precision)


@converter("DequantizeLinear", since=10)
@converter("DequantizeLinear", since=13)
@converter("DequantizeLinear", since=19)
@converter("DequantizeLinear", since=21)
@converter("DequantizeLinear", since=23)
@converter("DequantizeLinear", since=24)
@converter("DequantizeLinear", since=25)
def dequantize_linear(cx: NodeContext, x: object, x_scale: object, x_zero_point: object = None, *, axis: int = 1,
                      block_size: int = 0, output_dtype: int = 0) -> object:
    F = cx.F
    rank = cx.rank(0)
    values = F.Cast(x, dtype="float32")
    # float8/float4 inputs have no zero point in the formula (it must be 0)
    if x_zero_point is not None and emulated_format(cx.in_dtype(0)) is None:
        zp = _align(cx, x_zero_point, 2, rank, axis, block_size, x)
        values = F.broadcast_sub(values, F.Cast(zp, dtype="float32"))
    scale = F.Cast(_align(cx, x_scale, 1, rank, axis, block_size, x), dtype="float32")
    out = F.broadcast_mul(values, scale)
    out_dtype = cx.out_dtype(0)
    if emulated_format(out_dtype) is not None:
        return round_to_format(F, out, out_dtype)
    return F.Cast(out, dtype=cx.out_storage(0) or "float32")


@converter("DynamicQuantizeLinear", since=11)
def dynamic_quantize_linear(cx: NodeContext, x: object) -> tuple[object, object, object]:
    F = cx.F
    rank = cx.rank(0)
    flat = F.reshape(x, shape=(-1,)) if rank != 1 else x
    # the range always includes 0 so that 0 is exactly representable
    high = F.maximum(F.max(flat), 0.0)
    low = F.minimum(F.min(flat), 0.0)
    span = high - low
    # an all-zero input gets scale 1 (onnxruntime's rule; the onnx reference uses 1/255)
    scale = F.where(span == 0.0, F.ones_like(span) * 255.0, span) / 255.0
    zero_point = _round_half_even(F, F.clip(0.0 - low / scale, a_min=0.0, a_max=255.0))
    shape = (1,) * rank if rank else ()
    scale_b = F.reshape(scale, shape=shape) if rank else np_reshape(F, scale, ())
    zp_b = F.reshape(zero_point, shape=shape) if rank else np_reshape(F, zero_point, ())
    q = F.broadcast_add(_round_half_even(F, F.broadcast_div(x, scale_b)), zp_b)
    y = F.Cast(F.clip(q, a_min=0.0, a_max=255.0), dtype="uint8")
    return y, np_reshape(F, scale, ()), F.Cast(np_reshape(F, zero_point, ()), dtype="uint8")


# --- integer matrix products and convolutions ----------------------------------------------


def _accumulator(bound: float) -> str:
    """float32 when integer sums up to ``bound`` are exact in it, else float64."""
    return "float32" if bound < _FLOAT32_EXACT else "float64"


def _shifted(cx: NodeContext, value: object, zero_point: object, dtype: str, zp_shape: tuple | None = None) -> object:
    F = cx.F
    out = F.Cast(value, dtype=dtype)
    if zero_point is None:
        return out
    zp = F.Cast(zero_point, dtype=dtype)
    if zp_shape is not None:
        zp = F.reshape(zp, shape=zp_shape)
    return F.broadcast_sub(out, zp)


def _matmul_zero_point_shape(cx: NodeContext, index: int, operand_rank: int, is_b: bool) -> tuple | None:
    """Reshape of a per-row (A) / per-column (B) 1-D zero point or scale for broadcasting."""
    shape = cx.in_shape(index)
    if shape is None or len(shape) == 0:
        return None
    if len(shape) == 1:
        if shape[0] == 1:
            return None
        # per row of A: (M,) -> (M, 1); per column of B: (N,) -> (N,)
        return (-1,) if is_b else (-1, 1)
    return None


def _integer_matmul(cx: NodeContext, a: object, a_zp: object, a_zp_index: int, b: object, b_zp: object,
                    b_zp_index: int, a_index: int, b_index: int) -> tuple[object, str]:
    """Exact ``(a - a_zp) @ (b - b_zp)`` as a float tensor; returns (product, float dtype)."""
    F = cx.F
    a_shape, b_shape = cx.in_shape(a_index), cx.in_shape(b_index)
    if a_shape is None or b_shape is None:
        raise cx.fail("the ranks of the matrix product inputs are unknown")
    k = a_shape[-1]
    k_bound = k if isinstance(k, int) else None
    dtype = _accumulator(k_bound * 255 * 255) if k_bound is not None else "float64"
    lhs = _shifted(cx, a, a_zp, dtype, _matmul_zero_point_shape(cx, a_zp_index, len(a_shape), False)
                   if a_zp is not None else None)
    rhs = _shifted(cx, b, b_zp, dtype, _matmul_zero_point_shape(cx, b_zp_index, len(b_shape), True)
                   if b_zp is not None else None)
    if len(b_shape) == 2 and len(a_shape) >= 2:
        return F.dot(lhs, rhs), dtype
    return npi(F, "matmul", lhs, rhs), dtype


@converter("MatMulInteger", since=10)
def matmul_integer(cx: NodeContext, a: object, b: object, a_zero_point: object = None,
                   b_zero_point: object = None) -> object:
    product, _ = _integer_matmul(cx, a, a_zero_point, 2, b, b_zero_point, 3, 0, 1)
    return cx.F.Cast(product, dtype="int32")


def _requantize(cx: NodeContext, accumulated: object, factor: object, y_zero_point: object) -> object:
    """saturate(round(accumulated * factor + y_zero_point)) in the output's 8-bit type.

    ``accumulated`` is float64 (exact integers); ``factor`` was computed in the scales' type.
    """
    F = cx.F
    dtype = "float64"
    scaled = F.broadcast_mul(accumulated, F.Cast(factor, dtype=dtype))
    out_dtype = cx.out_dtype(0)
    name = np.dtype(out_dtype).name if out_dtype is not None else "uint8"
    if name not in ("uint8", "int8"):
        raise cx.fail(f"quantized output type {name} is not supported (int8/uint8 are)")
    if y_zero_point is not None:
        scaled = F.broadcast_add(scaled, F.Cast(y_zero_point, dtype=dtype))
    low, high = _INTEGER_RANGES[name]
    return F.Cast(F.clip(_round_half_even(F, scaled), a_min=low, a_max=high), dtype=name)


def _scale_product(cx: NodeContext, a_scale: object, b_scale: object, y_scale: object,
                   b_scale_shape: tuple | None = None, a_scale_shape: tuple | None = None) -> object:
    """``a_scale * b_scale / y_scale`` computed in the scales' own type, like the reference."""
    F = cx.F
    if a_scale_shape is not None:
        a_scale = F.reshape(a_scale, shape=a_scale_shape)
    if b_scale_shape is not None:
        b_scale = F.reshape(b_scale, shape=b_scale_shape)
    return F.broadcast_div(F.broadcast_mul(a_scale, b_scale), y_scale)


@converter("QLinearMatMul", since=10)
@converter("QLinearMatMul", since=21)
def qlinear_matmul(cx: NodeContext, a: object, a_scale: object, a_zero_point: object, b: object, b_scale: object,
                   b_zero_point: object, y_scale: object, y_zero_point: object) -> object:
    for index in (0, 3):
        if emulated_format(cx.in_dtype(index)) is not None:
            raise cx.fail("QLinearMatMul on float8 inputs is not supported (int8/uint8 are)")
    product, _ = _integer_matmul(cx, a, a_zero_point, 2, b, b_zero_point, 5, 0, 3)
    a_rank = cx.rank(0)
    factor = _scale_product(
        cx, a_scale, b_scale, y_scale,
        b_scale_shape=_matmul_zero_point_shape(cx, 4, cx.rank(3), True),
        a_scale_shape=_matmul_zero_point_shape(cx, 1, a_rank, False),
    )
    return _requantize(cx, cx.F.Cast(product, dtype="float64"), factor, y_zero_point)


def _integer_conv(cx: NodeContext, x: object, w: object, x_zp: object, w_zp: object, bias: object, *,
                  w_index: int, w_zp_index: int, auto_pad: str, dilations: list[int] | None, group: int,
                  kernel_shape: list[int] | None, pads: list[int] | None,
                  strides: list[int] | None) -> tuple[object, str]:
    """Exact integer convolution (plus int32 bias) as a float tensor; returns (result, dtype)."""
    F = cx.F
    w_shape = cx.in_shape(w_index)
    if w_shape is None or any(not isinstance(d, int) for d in w_shape):
        w_shape = cx.concrete(w_shape or ())
    kernel = tuple(kernel_shape) if kernel_shape else tuple(w_shape[2:])
    n = len(kernel)
    if n not in (1, 2, 3):
        raise cx.fail(f"{n}-D convolution is not supported by MXNet (1-D, 2-D and 3-D are)")
    terms = int(w_shape[1]) * math.prod(kernel)
    dtype = _accumulator(terms * 255 * 255 + (2**31 if bias is not None else 0))
    stride_t = tuple(strides) if strides else (1,) * n
    dilate_t = tuple(dilations) if dilations else (1,) * n
    x_shape = cx.in_shape(0)
    spatial = tuple(x_shape[2:]) if x_shape is not None else (0,) * n
    pairs = _conv_pads(cx, spatial, kernel, stride_t, dilate_t, pads, auto_pad)
    lhs = _shifted(cx, x, x_zp, dtype)
    w_zp_shape = None
    if w_zp is not None:
        zp_shape = cx.in_shape(w_zp_index)
        if zp_shape is not None and len(zp_shape) == 1 and zp_shape[0] != 1:
            w_zp_shape = (-1,) + (1,) * (n + 1)
        elif zp_shape is not None and len(zp_shape) <= 1:
            w_zp_shape = (1,) * (n + 2)
    rhs = _shifted(cx, w, w_zp, dtype, w_zp_shape)
    # zero padding must pad the shifted values (x - x_zp), so pad after the shift
    symmetric = tuple(min(b, e) for b, e in pairs)
    rest = [(b - s, e - s) for (b, e), s in zip(pairs, symmetric)]
    if any(b or e for b, e in rest):
        lhs = pad_array(cx, lhs, [(0, 0), (0, 0)] + rest)
    out = F.Convolution(
        lhs, rhs, F.Cast(bias, dtype=dtype) if bias is not None else None, kernel=kernel, stride=stride_t,
        dilate=dilate_t, pad=symmetric, num_filter=int(w_shape[0]), num_group=group, no_bias=bias is None,
    )
    return out, dtype


def _conv_pads(cx: NodeContext, spatial_in: tuple, kernel: tuple[int, ...], strides: tuple[int, ...],
               dilations: tuple[int, ...], pads: list[int] | None, auto_pad: str) -> list[tuple[int, int]]:
    """Per-axis (begin, end) padding, resolving ``auto_pad`` from the input size."""
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = cx.concrete(spatial_in) if any(not isinstance(d, int) for d in spatial_in) else spatial_in
        result = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            result.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
        return result
    if auto_pad == "VALID":
        return [(0, 0)] * len(kernel)
    if auto_pad not in ("NOTSET", ""):
        raise cx.fail(f"unknown auto_pad value {auto_pad!r}")
    return onnx_pads_to_pairs(pads or [], len(kernel))


@converter("ConvInteger", since=10)
def conv_integer(cx: NodeContext, x: object, w: object, x_zero_point: object = None, w_zero_point: object = None,
                 *, auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                 kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                 strides: list[int] | None = None) -> object:
    out, _ = _integer_conv(cx, x, w, x_zero_point, w_zero_point, None, w_index=1, w_zp_index=3,
                           auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                           pads=pads, strides=strides)
    return cx.F.Cast(out, dtype="int32")


@converter("QLinearConv", since=10)
def qlinear_conv(cx: NodeContext, x: object, x_scale: object, x_zero_point: object, w: object, w_scale: object,
                 w_zero_point: object, y_scale: object, y_zero_point: object, B: object = None, *,  # noqa: N803
                 auto_pad: str = "NOTSET", dilations: list[int] | None = None, group: int = 1,
                 kernel_shape: list[int] | None = None, pads: list[int] | None = None,
                 strides: list[int] | None = None) -> object:
    out, _ = _integer_conv(cx, x, w, x_zero_point, w_zero_point, B, w_index=3, w_zp_index=5,
                           auto_pad=auto_pad, dilations=dilations, group=group, kernel_shape=kernel_shape,
                           pads=pads, strides=strides)
    rank = cx.rank(0)
    w_scale_shape = cx.in_shape(4)
    per_channel = w_scale_shape is not None and len(w_scale_shape) == 1 and w_scale_shape[0] != 1
    factor = _scale_product(cx, x_scale, w_scale, y_scale)
    factor = cx.F.reshape(factor, shape=(1, -1) + (1,) * (rank - 2) if per_channel else (1,) * rank)
    return _requantize(cx, cx.F.Cast(out, dtype="float64"), factor, y_zero_point)
