"""Spatial sampling: GridSample, AffineGrid, RoiAlign, MaxRoiPool.

Interpolation gathers rows of the input laid out as (N * spatial, C) with ``take``: one
gather per interpolation tap, every channel at once.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..context import NodeContext
from ..registry import converter
from ._precision import compute_dtype
from .tensor import empty_tensor

_MODES = {"bilinear": "linear", "linear": "linear", "nearest": "nearest", "bicubic": "cubic", "cubic": "cubic"}
_CUBIC_A = -0.75

_ROI_ALIGN_NOTES = "max mode needs sampling_ratio > 0"


def _static_dims(cx: NodeContext, dims: tuple) -> tuple[int, ...]:
    return tuple(dims) if all(isinstance(d, int) for d in dims) else cx.concrete(dims)


def _rows(cx: NodeContext, x: object, channels: int) -> object:
    """(N, C, *S) -> (N * prod(S), C)."""
    F = cx.F
    rank = cx.rank(0)
    return F.reshape(F.transpose(x, axes=(0,) + tuple(range(2, rank)) + (1,)), shape=(-1, channels))


def _half_even(F: object, x: object) -> object:
    """Round half to even (MXNet's rint rounds n.5 down)."""
    up = F.floor(x + 0.5)
    tie = (up - x) == 0.5
    odd = F.abs(up - 2 * F.floor(up / 2)) == 1
    return up - tie * odd


def _reflect(F: object, x: object, low: float, high: float) -> object:
    """Reflect coordinates by the nearest border until they lie in [low, high] (ONNX GridSample)."""
    span = high - low
    if span <= 0:
        return F.zeros_like(x) + low
    below = low - x
    times = F.floor(below / span)
    rest = below - times * span
    even = (times - 2 * F.floor(times / 2)) == 0
    from_below = F.where(even, low + rest, high - rest)
    above = x - high
    times = F.floor(above / span)
    rest = above - times * span
    even = (times - 2 * F.floor(times / 2)) == 0
    from_above = F.where(even, high - rest, low + rest)
    return F.where(x < low, from_below, F.where(x > high, from_above, x))


def _cubic_weights(F: object, t: object) -> list:
    a = _CUBIC_A
    t1, t2 = t + 1, 1 - t
    t3 = 2 - t
    return [
        ((a * t1 - 5 * a) * t1 + 8 * a) * t1 - 4 * a,
        ((a + 2) * t - (a + 3)) * t * t + 1,
        ((a + 2) * t2 - (a + 3)) * t2 * t2 + 1,
        ((a * t3 - 5 * a) * t3 + 8 * a) * t3 - 4 * a,
    ]


def _axis_taps(F: object, coord: object, size: int, mode: str, padding_mode: str, low: float,
               high: float) -> list[tuple[object, object]]:
    """(index as float, weight) per interpolation tap along one axis; weight is None for 1."""
    if mode == "nearest":
        base = F.trunc(coord)
        taps = [(base, None)]
    else:
        base = F.floor(coord)
        t = coord - base
        if mode == "linear":
            taps = [(base, 1 - t), (base + 1, t)]
        else:
            taps = [(base + (k - 1), w) for k, w in enumerate(_cubic_weights(F, t))]
    out = []
    for index, weight in taps:
        if padding_mode == "zeros":
            inside = (index >= 0) * (index <= size - 1)
            weight = inside if weight is None else weight * inside
        elif padding_mode == "reflection":
            index = F.trunc(_reflect(F, index, low, high))
        out.append((F.clip(index, 0, size - 1), weight))
    return out


def _grid_sample(cx: NodeContext, x: object, grid: object, mode: str, padding_mode: str,
                 align_corners: int) -> object:
    F = cx.F
    x_shape = _static_dims(cx, cx.in_shape(0)[1:])
    grid_shape = _static_dims(cx, cx.in_shape(1)[1:])
    channels, spatial = x_shape[0], x_shape[1:]
    n = len(spatial)
    if grid_shape[-1] != n:
        raise cx.fail(f"grid's last axis has {grid_shape[-1]} coordinates for {n} spatial axes")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise cx.fail(f"unknown padding_mode {padding_mode!r}")
    out_spatial = grid_shape[:-1]
    positions = int(np.prod(out_spatial))
    storage = cx.in_storage(0)
    ct = compute_dtype(cx.in_storage(1))
    if storage != ct:
        x = F.Cast(x, dtype=ct)
    if cx.in_storage(1) != ct:
        grid = F.Cast(grid, dtype=ct)
    rows = _rows(cx, x, channels)
    flat_grid = F.reshape(grid, shape=(-1, positions, n))
    per_axis = []
    for axis, size in enumerate(spatial):
        # grid coordinates come innermost axis first: (x, y, z)
        g = F.slice_axis(flat_grid, axis=2, begin=n - 1 - axis, end=n - axis)
        coord = (g + 1) / 2 * (size - 1) if align_corners else ((g + 1) * size - 1) / 2
        low, high = (0.0, size - 1.0) if align_corners else (-0.5, size - 0.5)
        if mode == "nearest":
            coord = _half_even(F, coord)
        if padding_mode == "border":
            # ONNX clamps only coordinates beyond the sampling borders (matters for cubic taps)
            outside = (coord < low) + (coord > high)
            coord = F.where(outside, F.clip(coord, 0, size - 1), coord)
        elif padding_mode == "reflection":
            coord = _reflect(F, coord, low, high)
        per_axis.append(_axis_taps(F, coord, size, mode, padding_mode, low, high))
    plane = int(np.prod(spatial))
    batch = F.reshape(F.Cast(F.contrib.arange_like(flat_grid, axis=0), dtype=ct), shape=(-1, 1, 1)) * plane
    strides = [int(np.prod(spatial[a + 1:])) for a in range(n)]
    total = None
    for combo in itertools.product(*per_axis):
        index = batch
        weight = None
        for (tap_index, tap_weight), stride in zip(combo, strides):
            index = F.broadcast_add(index, tap_index * stride)
            if tap_weight is not None:
                weight = tap_weight if weight is None else weight * tap_weight
        picked = F.take(rows, F.Cast(F.reshape(index, shape=(-1,)), dtype="int64"), axis=0)
        if weight is not None:
            picked = F.broadcast_mul(picked, F.reshape(weight, shape=(-1, 1)))
        total = picked if total is None else total + picked
    y = F.transpose(F.reshape(total, shape=(-1, positions, channels)), axes=(0, 2, 1))
    y = F.reshape(y, shape=(0, 0) + tuple(out_spatial))
    out_storage = cx.out_storage(0) or storage
    return y if out_storage == ct else F.Cast(y, dtype=out_storage)


@converter("GridSample", since=16)
def grid_sample_v16(cx: NodeContext, x: object, grid: object, *, align_corners: int = 0, mode: str = "bilinear",
                    padding_mode: str = "zeros") -> object:
    if cx.rank(0) != 4:
        raise cx.fail("GridSample-16 takes 4-D inputs")
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise cx.fail(f"unknown mode {mode!r}")
    return _grid_sample(cx, x, grid, _MODES[mode], padding_mode, align_corners)


@converter("GridSample", since=20)
@converter("GridSample", since=22)
def grid_sample(cx: NodeContext, x: object, grid: object, *, align_corners: int = 0, mode: str = "linear",
                padding_mode: str = "zeros") -> object:
    if mode not in ("linear", "nearest", "cubic"):
        raise cx.fail(f"unknown mode {mode!r}")
    if mode == "cubic" and cx.rank(0) != 4:
        raise cx.fail("cubic GridSample is defined for 4-D inputs only")
    return _grid_sample(cx, x, grid, mode, padding_mode, align_corners)


@converter("AffineGrid", since=20, static=("size",))
def affine_grid(cx: NodeContext, theta: object, size: object, *, align_corners: int = 0) -> object:
    F = cx.F
    dims = cx.concrete(size)
    spatial = dims[2:]
    n = len(spatial)
    if n not in (2, 3):
        raise cx.fail(f"AffineGrid makes 2-D or 3-D grids, size has {n} spatial axes")
    axes = []
    for length in spatial:
        if align_corners:
            axes.append(np.linspace(-1.0, 1.0, length) if length > 1 else np.array([-1.0]))
        else:
            axes.append((2 * np.arange(length) + 1) / length - 1)
    mesh = np.meshgrid(*axes, indexing="ij")
    # homogeneous base coordinates, innermost axis first: (x, y[, z], 1)
    base = np.stack([m.reshape(-1) for m in reversed(mesh)] + [np.ones(int(np.prod(spatial)))], axis=1)
    ct = compute_dtype(cx.in_storage(0))
    base_t = cx.const(base.astype(ct))
    if cx.in_storage(0) != ct:
        theta = F.Cast(theta, dtype=ct)
    # (N, P, n+1) x (N, n, n+1)^T -> (N, P, n)
    grid = F.batch_dot(F.broadcast_to(F.expand_dims(base_t, axis=0), shape=(dims[0],) + base.shape), theta,
                       transpose_b=True)
    grid = F.reshape(grid, shape=(dims[0],) + tuple(spatial) + (n,))
    storage = cx.out_storage(0) or ct
    return grid if storage == ct else F.Cast(grid, dtype=storage)


def _roi_samples(cx: NodeContext, start: object, length: object, pooled: int, ratio: int, size: int) -> tuple:
    F = cx.F
    offsets = np.array([p + (i + 0.5) / ratio for p in range(pooled) for i in range(ratio)], dtype=np.float32)
    bin_size = length / pooled
    coord = F.broadcast_add(start, F.broadcast_mul(bin_size, cx.const(offsets.reshape(1, -1))))
    valid = (coord >= -1.0) * (coord <= size)
    coord = F.relu(coord)
    low = F.floor(coord)
    at_edge = low >= size - 1
    low = F.where(at_edge, F.zeros_like(low) + (size - 1), low)
    coord = F.where(at_edge, low, coord)
    high = F.where(at_edge, low, low + 1)
    frac = coord - low
    return low, high, (1 - frac) * valid, frac * valid


@converter("RoiAlign", since=10, notes=_ROI_ALIGN_NOTES)
def roi_align_v10(cx: NodeContext, x: object, rois: object, batch_indices: object, *, mode: str = "avg",
                  output_height: int = 1, output_width: int = 1, sampling_ratio: int = 0,
                  spatial_scale: float = 1.0) -> object:
    # opset 10 has no coordinate_transformation_mode and behaves like 'output_half_pixel'
    return _roi_align(cx, x, rois, batch_indices, mode, output_height, output_width, sampling_ratio,
                      spatial_scale, half_pixel=False)


@converter("RoiAlign", since=16, notes=_ROI_ALIGN_NOTES)
@converter("RoiAlign", since=22, notes=_ROI_ALIGN_NOTES)
def roi_align(cx: NodeContext, x: object, rois: object, batch_indices: object, *,
              coordinate_transformation_mode: str = "half_pixel", mode: str = "avg", output_height: int = 1,
              output_width: int = 1, sampling_ratio: int = 0, spatial_scale: float = 1.0) -> object:
    if coordinate_transformation_mode not in ("half_pixel", "output_half_pixel"):
        raise cx.fail(f"unknown coordinate_transformation_mode {coordinate_transformation_mode!r}")
    return _roi_align(cx, x, rois, batch_indices, mode, output_height, output_width, sampling_ratio,
                      spatial_scale, half_pixel=coordinate_transformation_mode == "half_pixel")


def _roi_align(cx: NodeContext, x: object, rois: object, batch_indices: object, mode: str, pooled_h: int,
               pooled_w: int, ratio: int, scale: float, half_pixel: bool) -> object:
    F = cx.F
    if mode not in ("avg", "max"):
        raise cx.fail(f"unknown mode {mode!r}")
    x_shape, rois_shape = cx.in_shape(0), cx.in_shape(1)
    if rois_shape is not None and isinstance(rois_shape[0], int) and rois_shape[0] == 0 \
            and all(isinstance(d, int) for d in x_shape):
        # no region (e.g. an empty FPN level): MXNet kernels leave the engine broken on zero-size results
        return empty_tensor(cx, x, (0, x_shape[1], pooled_h, pooled_w))

    if pooled_h < 1 or pooled_w < 1:
        raise cx.fail(f"output_height/output_width must be positive, got ({pooled_h}, {pooled_w})")
    storage = cx.in_storage(0)
    ct = compute_dtype(storage)
    batch_indices = _clamp_batch(cx, x, F.Cast(batch_indices, dtype=ct), ct)
    if storage != ct:
        x = F.Cast(x, dtype=ct)
    if cx.in_storage(1) != ct:
        rois = F.Cast(rois, dtype=ct)
    if ratio <= 0:
        if mode == "max":
            raise cx.fail("RoiAlign max mode needs sampling_ratio > 0 (the adaptive sample count is data-dependent)")
        if half_pixel:
            # MXNet's aligned ROIAlign aborts the process on an empty or NaN box (a check inside an
            # OpenMP loop): scale the boxes here and keep every one non-empty
            rois, scale = _non_empty_boxes(cx, rois * scale), 1.0
        boxes = F.concat(F.reshape(F.Cast(batch_indices, dtype=ct), shape=(-1, 1)), rois, dim=1)
        y = F.contrib.ROIAlign(x, boxes, pooled_size=(pooled_h, pooled_w), spatial_scale=scale, sample_ratio=-1,
                               aligned=half_pixel)
        return y if storage == ct else F.Cast(y, dtype=storage)
    x_shape = _static_dims(cx, cx.in_shape(0))
    channels, height, width = x_shape[1], x_shape[2], x_shape[3]
    offset = 0.5 if half_pixel else 0.0
    corner = [F.slice_axis(rois, axis=1, begin=i, end=i + 1) * scale - offset for i in range(4)]
    roi_w = corner[2] - corner[0]
    roi_h = corner[3] - corner[1]
    if not half_pixel:
        roi_w = F.maximum(roi_w, F.ones_like(roi_w))
        roi_h = F.maximum(roi_h, F.ones_like(roi_h))
    y_low, y_high, wy_low, wy_high = _roi_samples(cx, corner[1], roi_h, pooled_h, ratio, height)
    x_low, x_high, wx_low, wx_high = _roi_samples(cx, corner[0], roi_w, pooled_w, ratio, width)
    rows = _rows(cx, x, channels)
    base = F.reshape(F.Cast(batch_indices, dtype=ct), shape=(-1, 1, 1)) * (height * width)
    terms = []
    for yi, wy in ((y_low, wy_low), (y_high, wy_high)):
        for xi, wx in ((x_low, wx_low), (x_high, wx_high)):
            index = F.broadcast_add(F.broadcast_add(base, F.expand_dims(yi * width, axis=2)), F.expand_dims(xi, axis=1))
            weight = F.broadcast_mul(F.expand_dims(wy, axis=2), F.expand_dims(wx, axis=1))
            picked = F.take(rows, F.Cast(F.reshape(index, shape=(-1,)), dtype="int64"), axis=0)
            terms.append(F.broadcast_mul(picked, F.reshape(weight, shape=(-1, 1))))
    if mode == "avg":
        values = F.add_n(*terms)
    else:
        values = terms[0]
        for term in terms[1:]:
            values = F.maximum(values, term)
    values = F.reshape(values, shape=(-1, pooled_h, ratio, pooled_w, ratio, channels))
    pooled = F.mean(values, axis=(2, 4)) if mode == "avg" else F.max(values, axis=(2, 4))
    y = F.transpose(pooled, axes=(0, 3, 1, 2))
    return y if storage == ct else F.Cast(y, dtype=storage)


@converter("MaxRoiPool", since=1)
@converter("MaxRoiPool", since=22)
def max_roi_pool(cx: NodeContext, x: object, rois: object, *, pooled_shape: list[int] | None = None,
                 spatial_scale: float = 1.0) -> object:
    if not pooled_shape or len(pooled_shape) != 2 or min(pooled_shape) < 1:
        raise cx.fail(f"pooled_shape must hold a positive (height, width), got {pooled_shape}")
    F = cx.F
    batch = _clamp_batch(cx, x, F.slice_axis(rois, axis=1, begin=0, end=1), cx.in_storage(1) or "float32")
    rois = F.concat(batch, F.slice_axis(rois, axis=1, begin=1, end=None), dim=1)
    return F.ROIPooling(x, rois, pooled_size=tuple(pooled_shape), spatial_scale=spatial_scale)


def _non_empty_boxes(cx: NodeContext, boxes: object) -> object:
    """(R, 4) boxes x1, y1, x2, y2 with NaN as 0, within +-1e30, and x2 > x1, y2 > y1 (valid boxes
    are unchanged)."""
    F = cx.F
    boxes = F.clip(F.where(boxes == boxes, boxes, F.zeros_like(boxes)), -1e30, 1e30)
    start = F.slice_axis(boxes, axis=1, begin=0, end=2)
    end = F.slice_axis(boxes, axis=1, begin=2, end=4)
    end = F.maximum(end, start + (F.abs(start) + 1.0) * 1e-5)
    return F.concat(start, end, dim=1)


def _clamp_batch(cx: NodeContext, x: object, batch: object, dtype: str) -> object:
    """Batch indices (``dtype`` floats) clamped into [0, N-1]: others are invalid, and MXNet's ROI
    kernels read memory out of bounds with them."""
    F = cx.F
    last = F.slice_axis(F.shape_array(x), axis=0, begin=0, end=1) - 1
    return F.broadcast_minimum(F.relu(batch), F.Cast(last, dtype=dtype))
