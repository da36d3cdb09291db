"""Pooling: MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

from __future__ import annotations

import math

from ..context import NodeContext
from ..registry import converter
from ._helpers import pad_array
from .nn import resolve_pads, split_symmetric


def _onnx_out_size(size: int, k: int, s: int, d: int, pad_b: int, pad_e: int, ceil_mode: bool) -> int:
    span = (k - 1) * d + 1
    if ceil_mode:
        out = math.ceil((size + pad_b + pad_e - span) / s) + 1
        if (out - 1) * s >= size + pad_b:  # last window would start in the end padding
            out -= 1
        return out
    return (size + pad_b + pad_e - span) // s + 1


def _pool(
    cx: NodeContext,
    x: object,
    pool_type: str,
    kernel_shape: list[int],
    strides: list[int] | None,
    pads: list[int] | None,
    auto_pad: str,
    ceil_mode: int,
    dilations: list[int] | None,
    count_include_pad: int,
) -> object:
    F = cx.F
    kernel = tuple(kernel_shape)
    n = len(kernel)
    strides_t = tuple(strides) if strides else (1,) * n
    dil = tuple(dilations) if dilations else (1,) * n
    if any(d != 1 for d in dil):
        raise cx.fail("dilated pooling is not supported by MXNet's Pooling operator")
    shape = cx.in_shape(0)
    spatial = tuple(shape[2:]) if shape is not None else (0,) * n
    pairs = resolve_pads(cx, spatial, kernel, strides_t, dil, pads, auto_pad)
    sym, rest = split_symmetric(pairs)
    convention = "full" if ceil_mode else "valid"
    if ceil_mode and all(isinstance(d, int) for d in spatial):
        # MXNet's 'full' convention keeps windows that start inside the end padding
        for size, k, s, (b, e) in zip(spatial, kernel, strides_t, pairs):
            onnx_size = _onnx_out_size(size, k, s, 1, b, e, True)
            mx_size = 1 + math.ceil((size + 2 * min(b, e) + (b - min(b, e)) + (e - min(b, e)) - k) / s)
            if onnx_size != mx_size:
                raise cx.fail("ceil_mode with windows starting in the padding is not supported")
    explicit = [(0, 0), (0, 0)] + rest
    common = dict(kernel=kernel, stride=strides_t, pad=sym, pooling_convention=convention)
    if any(b or e for b, e in rest):
        if pool_type == "avg" and not count_include_pad:
            # MXNet pads symmetrically only: divide window sums by the count of real elements
            summed = F.Pooling(pad_array(cx, x, explicit), pool_type="sum", **common)
            counts = F.Pooling(pad_array(cx, F.ones_like(x), explicit), pool_type="sum", **common)
            return summed / counts
        fill = float("-inf") if pool_type == "max" else 0.0
        x = pad_array(cx, x, explicit, value=fill)
    if pool_type == "avg":
        common["count_include_pad"] = bool(count_include_pad)
    return F.Pooling(x, pool_type=pool_type, **common)


@converter("MaxPool", since=1)
@converter("MaxPool", since=8)
@converter("MaxPool", since=10)
@converter("MaxPool", since=11)
@converter("MaxPool", since=12)
@converter("MaxPool", since=22)
def max_pool(
    cx: NodeContext,
    x: object,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: list[int] | None = None,
    kernel_shape: list[int] | None = None,
    pads: list[int] | None = None,
    storage_order: int = 0,
    strides: list[int] | None = None,
) -> object:
    if cx.output_used(1):
        raise cx.fail("the Indices output of MaxPool is not supported")
    if kernel_shape is None:
        raise cx.fail("kernel_shape is required")
    return _pool(cx, x, "max", kernel_shape, strides, pads, auto_pad, ceil_mode, dilations, 0)


@converter("AveragePool", since=1)
@converter("AveragePool", since=7)
@converter("AveragePool", since=10)
@converter("AveragePool", since=11)
@converter("AveragePool", since=19)
@converter("AveragePool", since=22)
def average_pool(
    cx: NodeContext,
    x: object,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    count_include_pad: int = 0,
    dilations: list[int] | None = None,
    kernel_shape: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> object:
    if kernel_shape is None:
        raise cx.fail("kernel_shape is required")
    return _pool(cx, x, "avg", kernel_shape, strides, pads, auto_pad, ceil_mode, dilations, count_include_pad)


def _global(cx: NodeContext, x: object, pool_type: str) -> object:
    n = cx.rank(0) - 2
    return cx.F.Pooling(x, kernel=(1,) * n, pool_type=pool_type, global_pool=True)


@converter("GlobalAveragePool", since=1)
@converter("GlobalAveragePool", since=22)
def global_average_pool(cx: NodeContext, x: object) -> object:
    return _global(cx, x, "avg")


@converter("GlobalMaxPool", since=1)
@converter("GlobalMaxPool", since=22)
def global_max_pool(cx: NodeContext, x: object) -> object:
    return _global(cx, x, "max")
