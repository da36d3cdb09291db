"""Pooling: MaxPool, AveragePool, LpPool, their Global forms, MaxUnpool.

Windows MXNet's ``Pooling`` expresses exactly run there (fast, oneDNN). Dilated windows,
ceil-mode windows that MXNet's 'full' convention sizes differently, and MaxPool's Indices
output are built from strided slices of the padded input, one slice per kernel tap.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from ..context import NodeContext
from ..registry import converter
from ._helpers import pad_array
from .nn import resolve_pads, split_symmetric

_FLOAT = ("float16", "float32", "float64")


def _onnx_out_size(size: int, k: int, s: int, d: int, pad_b: int, pad_e: int, ceil_mode: bool) -> int:
    span = (k - 1) * d + 1
    if ceil_mode:
        out = math.ceil((size + pad_b + pad_e - span) / s) + 1
        if (out - 1) * s >= size + pad_b:  # the last window would start in the end padding
            out -= 1
        return out
    return (size + pad_b + pad_e - span) // s + 1


class _Window:
    """Geometry of one pooling node."""

    def __init__(self, cx: NodeContext, kernel_shape: list[int] | None, strides: list[int] | None,
                 pads: list[int] | None, auto_pad: str, ceil_mode: int, dilations: list[int] | None):
        if not kernel_shape:
            raise cx.fail("kernel_shape is required")
        self.kernel = tuple(int(k) for k in kernel_shape)
        n = len(self.kernel)
        self.n = n
        self.strides = tuple(strides) if strides else (1,) * n
        self.dilations = tuple(dilations) if dilations else (1,) * n
        shape = cx.in_shape(0)
        if shape is None or len(shape) != n + 2:
            raise cx.fail(f"input must have rank {n + 2} for a {n}-D kernel")
        self.spatial = tuple(shape[2:])
        self.pairs = resolve_pads(cx, self.spatial, self.kernel, self.strides, self.dilations, pads, auto_pad)
        self.ceil_mode = bool(ceil_mode)

    def concrete_spatial(self, cx: NodeContext) -> tuple[int, ...]:
        if all(isinstance(d, int) for d in self.spatial):
            return tuple(self.spatial)
        return cx.concrete(self.spatial)

    def out_sizes(self, cx: NodeContext) -> list[int]:
        return [
            _onnx_out_size(size, k, s, d, b, e, self.ceil_mode)
            for size, k, s, d, (b, e) in zip(self.concrete_spatial(cx), self.kernel, self.strides, self.dilations,
                                             self.pairs)
        ]

    def mxnet_exact(self, cx: NodeContext) -> bool:
        """Whether MXNet's Pooling (pad split symmetric + explicit) yields ONNX's windows."""
        if any(d != 1 for d in self.dilations):
            return False
        if not self.ceil_mode:
            return True
        for size, k, s, (b, e) in zip(self.concrete_spatial(cx), self.kernel, self.strides, self.pairs):
            mx_size = 1 + math.ceil((size + b + e - k) / s)
            if _onnx_out_size(size, k, s, 1, b, e, True) != mx_size:
                return False
        return True


def _mx_pool(cx: NodeContext, x: object, win: _Window, pool_type: str, count_include_pad: bool,
             p: int = 2) -> object:
    F = cx.F
    sym, rest = split_symmetric(win.pairs)
    if any(pad >= k for pad, k in zip(sym, win.kernel)):
        raise cx.fail(f"pads {win.pairs} must be smaller than the kernel {win.kernel}")
    common = dict(kernel=win.kernel, stride=win.strides, pad=sym,
                  pooling_convention="full" if win.ceil_mode else "valid")
    explicit = [(0, 0), (0, 0)] + rest
    if any(b or e for b, e in rest):
        if pool_type == "avg" and not count_include_pad:
            # MXNet pads symmetrically only: divide window sums by the count of real elements
            summed = F.Pooling(pad_array(cx, x, explicit), pool_type="sum", **common)
            counts = F.Pooling(pad_array(cx, F.ones_like(x), explicit), pool_type="sum", **common)
            return summed / counts
        x = pad_array(cx, x, explicit, value=float("-inf") if pool_type == "max" else 0.0)
    if pool_type == "avg":
        common["count_include_pad"] = bool(count_include_pad)
    if pool_type == "lp":
        common["p_value"] = p
    return F.Pooling(x, pool_type=pool_type, **common)


def _taps(cx: NodeContext, win: _Window) -> tuple[list[int], list[tuple[int, int]], list[list[slice]]]:
    """Output sizes, (begin, end) padding of the input, and per-axis slices of each kernel tap."""
    sizes = win.concrete_spatial(cx)
    outs = win.out_sizes(cx)
    padding = []
    per_axis = []
    for size, out, k, s, d, (b, _e) in zip(sizes, outs, win.kernel, win.strides, win.dilations, win.pairs):
        if out <= 0:
            raise cx.fail("the pooling window is larger than the padded input")
        needed = (out - 1) * s + (k - 1) * d + 1
        padding.append((b, max(needed - size - b, 0)))
        per_axis.append([slice(t * d, t * d + (out - 1) * s + 1, s) for t in range(k)])
    return outs, padding, per_axis


def _tap_slice(F: object, x: object, taps: tuple[slice, ...]) -> object:
    return F.slice(x, begin=(None, None) + tuple(t.start for t in taps),
                   end=(None, None) + tuple(t.stop for t in taps), step=(None, None) + tuple(t.step for t in taps))


def _valid_counts(win: _Window, sizes: tuple[int, ...], outs: list[int], padding: list[tuple[int, int]],
                  per_axis: list[list[slice]], include_pad: bool) -> np.ndarray:
    """Number of window elements that count toward an average, shape (1, 1, *outs)."""
    total = np.ones((1, 1) + tuple(outs), dtype=np.float64)
    for axis, (size, (b, e_given), slices) in enumerate(zip(sizes, win.pairs, per_axis)):
        length = size + padding[axis][0] + padding[axis][1]
        coords = np.arange(length) - b
        valid = (coords >= -b) & (coords < size + e_given) if include_pad else (coords >= 0) & (coords < size)
        counts = sum(valid[s].astype(np.float64) for s in slices)
        shape = [1] * (win.n + 2)
        shape[axis + 2] = len(counts)
        total = total * counts.reshape(shape)
    return total


def _sliced_pool(cx: NodeContext, x: object, win: _Window, kind: str, count_include_pad: bool = False,
                 p: int = 2, storage_order: int = 0) -> object:
    """Pooling assembled from one strided slice per kernel tap (any dilation, ONNX ceil rules)."""
    F = cx.F
    sizes = win.concrete_spatial(cx)
    outs, padding, per_axis = _taps(cx, win)
    fill = float("-inf") if kind == "max" else 0.0
    padded = pad_array(cx, x, [(0, 0), (0, 0)] + padding, value=fill)
    tap_list = list(itertools.product(*per_axis))
    if kind == "max":
        best = _tap_slice(F, padded, tap_list[0])
        best_index = None
        index_map = None
        if cx.output_used(1):
            index_map = _index_map(sizes, padding, storage_order)
            best_index = F.broadcast_like(cx.const(index_map[(Ellipsis,) + tap_list[0]]), best)
        for taps in tap_list[1:]:
            value = _tap_slice(F, padded, taps)
            if best_index is not None:
                better = value > best
                best_index = F.where(better, F.broadcast_like(cx.const(index_map[(Ellipsis,) + taps]), value),
                                     best_index)
                best = F.where(better, value, best)
            else:
                best = F.maximum(best, value)
        return best if best_index is None else (best, best_index)
    if kind == "lp":
        padded = F.abs(padded) if p == 1 else F.square(padded) if p == 2 else F.power(F.abs(padded), p)
    pieces = [_tap_slice(F, padded, taps) for taps in tap_list]
    total = pieces[0] if len(pieces) == 1 else F.add_n(*pieces)
    if kind == "lp":
        return F.sqrt(total) if p == 2 else total if p == 1 else F.power(total, 1.0 / p)
    counts = _valid_counts(win, sizes, outs, padding, per_axis, count_include_pad)
    return F.broadcast_div(total, cx.const(counts.astype(cx.in_storage(0))))


def _index_map(sizes: tuple[int, ...], padding: list[tuple[int, int]], storage_order: int) -> np.ndarray:
    """Flat spatial index of each padded position (row-major, or column-major for storage_order=1)."""
    grids = np.meshgrid(*[np.arange(-b, size + e) for size, (b, e) in zip(sizes, padding)], indexing="ij")
    strides_ = []
    step = 1
    order = range(len(sizes)) if storage_order else reversed(range(len(sizes)))
    stride_of = {}
    for axis in order:
        stride_of[axis] = step
        step *= sizes[axis]
    strides_ = [stride_of[a] for a in range(len(sizes))]
    flat = sum(np.clip(g, 0, size - 1) * st for g, size, st in zip(grids, sizes, strides_))
    return flat.astype(np.float64)[None, None]


def _pool(cx: NodeContext, x: object, kind: str, win: _Window, count_include_pad: int = 0, p: int = 2,
          storage_order: int = 0) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    if storage not in _FLOAT:
        x = F.Cast(x, dtype="float32")
    with_indices = kind == "max" and cx.output_used(1)
    if not with_indices and win.mxnet_exact(cx):
        out = _mx_pool(cx, x, win, kind, bool(count_include_pad), p)
    else:
        out = _sliced_pool(cx, x, win, kind, bool(count_include_pad), p, storage_order)
    if with_indices:
        out, flat = out
        out = (out, _add_channel_offsets(cx, flat))
    if storage not in _FLOAT:
        if isinstance(out, tuple):
            return (F.Cast(out[0], dtype=storage), out[1])
        return F.Cast(out, dtype=storage)
    return out


def _add_channel_offsets(cx: NodeContext, flat: object) -> object:
    """Spatial flat indices (float64) -> indices into the whole NC... input, int64."""
    F = cx.F
    shape = cx.in_shape(0)
    channels = shape[1] if isinstance(shape[1], int) else cx.concrete([shape[1]])[0]
    spatial = shape[2:]
    if not all(isinstance(d, int) for d in spatial):
        spatial = cx.concrete(spatial)
    plane = int(np.prod(spatial))
    rank = len(shape)
    batch = F.reshape(F.Cast(F.contrib.arange_like(flat, axis=0), dtype="float64"), shape=(-1, 1) + (1,) * (rank - 2))
    channel = F.reshape(F.Cast(F.contrib.arange_like(flat, axis=1), dtype="float64"), shape=(1, -1) + (1,) * (rank - 2))
    offset = F.broadcast_add(batch * (channels * plane), channel * plane)
    return F.Cast(F.broadcast_add(flat, offset), dtype="int64")


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
    win = _Window(cx, kernel_shape, strides, pads, auto_pad, ceil_mode, dilations)
    return _pool(cx, x, "max", win, storage_order=storage_order)


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
    win = _Window(cx, kernel_shape, strides, pads, auto_pad, ceil_mode, dilations)
    return _pool(cx, x, "avg", win, count_include_pad)


@converter("LpPool", since=1)
@converter("LpPool", since=2)
@converter("LpPool", since=11)
@converter("LpPool", since=18)
@converter("LpPool", since=22)
def lp_pool(
    cx: NodeContext,
    x: object,
    *,
    auto_pad: str = "NOTSET",
    ceil_mode: int = 0,
    dilations: list[int] | None = None,
    kernel_shape: list[int] | None = None,
    p: float = 2,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> object:
    if p != int(p) or p < 1:
        raise cx.fail(f"p must be a positive integer, got {p}")
    win = _Window(cx, kernel_shape, strides, pads, auto_pad, ceil_mode, dilations)
    # MXNet's lp pooling has no padding semantics of its own: always take the tap path
    return _sliced_pool(cx, x, win, "lp", p=int(p))


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
    if cx.in_storage(0) not in _FLOAT:
        return cx.F.Cast(_global(cx, cx.F.Cast(x, dtype="float32"), "max"), dtype=cx.in_storage(0))
    return _global(cx, x, "max")


@converter("GlobalLpPool", since=1)
@converter("GlobalLpPool", since=2)
@converter("GlobalLpPool", since=22)
def global_lp_pool(cx: NodeContext, x: object, *, p: float = 2) -> object:
    F = cx.F
    axes = tuple(range(2, cx.rank(0)))
    if p == 2:
        return F.sqrt(F.sum(F.square(x), axis=axes, keepdims=True))
    if p == 1:
        return F.sum(F.abs(x), axis=axes, keepdims=True)
    return F.power(F.sum(F.power(F.abs(x), p), axis=axes, keepdims=True), 1.0 / p)


@converter("MaxUnpool", since=9, static=("output_shape",))
@converter("MaxUnpool", since=11, static=("output_shape",))
@converter("MaxUnpool", since=22, static=("output_shape",))
def max_unpool(cx: NodeContext, x: object, indices: object, output_shape: object = None, *,
               kernel_shape: list[int] | None = None, pads: list[int] | None = None,
               strides: list[int] | None = None) -> object:
    F = cx.F
    if not kernel_shape:
        raise cx.fail("kernel_shape is required")
    shape = cx.in_shape(0)
    if not all(isinstance(d, int) for d in shape):
        shape = cx.concrete(shape)
    n = len(kernel_shape)
    strides_t = strides or [1] * n
    pads_t = pads or [0] * (2 * n)
    inferred = tuple(shape[:2]) + tuple(
        (size - 1) * s + k - pads_t[i] - pads_t[i + n]
        for i, (size, k, s) in enumerate(zip(shape[2:], kernel_shape, strides_t))
    )
    cx.check_elements(inferred)
    total = int(np.prod(inferred))
    if total <= 0:
        raise cx.fail(f"the unpooled shape {inferred} is empty")
    flat_values = F.reshape(x, shape=(-1,))
    # scatter_nd does not check bounds: invalid indices wrap inside the output instead of corrupting memory
    flat_indices = F.reshape(F.Cast(indices, dtype="int64"), shape=(1, -1)) % total
    out = F.reshape(F.scatter_nd(flat_values, flat_indices, shape=(total,)), shape=inferred)
    if output_shape is None:
        return out
    # indices address the inferred shape; a larger output_shape pads zeros after it
    target = tuple(cx.concrete(output_shape))
    if len(target) != len(inferred) or any(t < i for t, i in zip(target, inferred)):
        raise cx.fail(f"output_shape {target} is smaller than the unpooled shape {inferred}")
    return pad_array(cx, out, [(0, t - i) for t, i in zip(target, inferred)])
