"""Resize (opsets 10-19) and Upsample (opsets 1-10).

Resize is separable: every resized axis is an independent 1-D interpolation. For each axis the
source positions and interpolation weights depend only on the static input and output sizes,
so they are computed here with numpy, following the ONNX definition exactly (coordinate
transformation modes, nearest rounding modes, cubic coefficient, exclude_outside, antialias,
tf_crop_and_resize extrapolation), and applied to the tensor with MXNet operators:

* nearest: one ``take`` of the chosen source indices along the axis (exact for every dtype);
* linear / cubic: one ``take`` of the ``n`` neighbours of every output position, then a
  weighted sum over the neighbours.

Axes whose size is unchanged (scale 1) are skipped, so a symbolic batch size stays symbolic.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from .. import symdim
from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..registry import converter
from ..shapes import SymArray
from ..symdim import Dim
from ._helpers import norm_axes

_COORDINATE_MODES = frozenset({
    "half_pixel", "half_pixel_symmetric", "pytorch_half_pixel", "align_corners", "asymmetric",
    "tf_crop_and_resize", "tf_half_pixel_for_nn",
})
_NEAREST_MODES = frozenset({"round_prefer_floor", "round_prefer_ceil", "floor", "ceil", "simple"})


@dataclass(frozen=True)
class ResizeOptions:
    """How output positions map to input positions and how neighbours are weighted."""

    mode: str = "nearest"
    coordinate_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"
    cubic_coeff_a: float = -0.75
    exclude_outside: bool = False
    antialias: bool = False
    extrapolation_value: float = 0.0


@dataclass
class AxisPlan:
    """Source indices (out, n), weights (out, n) and the extrapolated rows of one axis."""

    indices: np.ndarray
    weights: np.ndarray
    extrapolated: np.ndarray | None


# --- per-axis coefficients (numpy, import time) --------------------------------------------


def _source_positions(options: ResizeOptions, out_size: int, in_size: int, scale: float,
                      roi: tuple[float, float] | None) -> tuple[np.ndarray, np.ndarray | None]:
    """Input coordinate of every output index, and which outputs extrapolate (crop_and_resize)."""
    y = np.arange(out_size, dtype=np.float64)
    length = scale * in_size  # the output length before rounding
    mode = options.coordinate_mode
    if mode == "half_pixel":
        return (y + 0.5) / scale - 0.5, None
    if mode == "tf_half_pixel_for_nn":
        return (y + 0.5) / scale, None
    if mode == "half_pixel_symmetric":
        offset = in_size / 2 * (1 - out_size / length)
        return offset + (y + 0.5) / scale - 0.5, None
    if mode == "pytorch_half_pixel":
        return (np.full(out_size, -0.5) if length == 1 else (y + 0.5) / scale - 0.5), None
    if mode == "align_corners":
        return (np.zeros(out_size) if length == 1 else y * (in_size - 1) / (length - 1)), None
    if mode == "asymmetric":
        return y / scale, None
    # tf_crop_and_resize
    start, end = roi if roi is not None else (0.0, 1.0)
    if length == 1:
        x = np.full(out_size, (end - start) * (in_size - 1) / 2)
    else:
        x = y * (end - start) * (in_size - 1) / (length - 1)
    x = x + start * (in_size - 1)
    return x, (x < 0) | (x > in_size - 1)


def _nearest_weights(ratio: np.ndarray, options: ResizeOptions, scale: float) -> np.ndarray:
    """(out, 2) one-hot weights over the left/right neighbour."""
    mode = options.nearest_mode
    if mode == "simple":  # opset 10 / Upsample behaviour (onnxruntime): floor, ceil when shrinking
        mode = "ceil" if scale < 1 else "floor"
    if mode == "round_prefer_floor":
        right = ratio > 0.5
    elif mode == "round_prefer_ceil":
        right = ratio >= 0.5
    elif mode == "floor":
        right = np.zeros(ratio.shape, bool)
    else:  # ceil
        right = np.ones(ratio.shape, bool)
    right = right | (ratio == 1.0)  # integral source position: the pixel itself
    return np.stack([~right, right], axis=1).astype(np.float64)


def _linear_weights(ratio: np.ndarray, options: ResizeOptions, scale: float) -> np.ndarray:
    if not options.antialias:
        return np.stack([1 - ratio, ratio], axis=1)
    s = min(scale, 1.0)
    first = int(np.floor(-1 / s) + 1)
    taps = np.arange(first, 2 - first)
    distance = (taps[None, :] - ratio[:, None]) * s
    weights = np.clip(1 - np.abs(distance), 0, 1)
    return weights / weights.sum(axis=1, keepdims=True)


def _cubic_kernel(distance: np.ndarray, a: float) -> np.ndarray:
    d = np.abs(distance)
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, np.where(d < 2, far, 0.0))


def _cubic_weights(ratio: np.ndarray, options: ResizeOptions, scale: float) -> np.ndarray:
    a = options.cubic_coeff_a
    if not options.antialias:
        taps = np.array([-1.0, 0.0, 1.0, 2.0])
        return _cubic_kernel(taps[None, :] - ratio[:, None], a)
    s = min(scale, 1.0)
    first = int(np.floor(-2 / s) + 1)
    taps = np.arange(first, 2 - first)
    weights = _cubic_kernel(s * (taps[None, :] - ratio[:, None]), a)
    return weights / weights.sum(axis=1, keepdims=True)


_WEIGHTS = {"nearest": _nearest_weights, "linear": _linear_weights, "cubic": _cubic_weights}


def plan_axis(options: ResizeOptions, in_size: int, out_size: int, scale: float,
              roi: tuple[float, float] | None = None) -> AxisPlan:
    """Neighbour indices and weights that resize one axis from ``in_size`` to ``out_size``."""
    x = _source_positions(options, out_size, in_size, scale, roi)
    positions, extrapolated = x
    left = np.floor(positions)
    # an integral position counts as ratio 1 from the pixel on its left
    ratio = np.where(positions == left, 1.0, positions - left)
    weights = _WEIGHTS[options.mode](ratio, options, scale)
    taps = weights.shape[1]
    # the `taps` input pixels nearest to the position, ties going to the lower index
    pad = math.ceil(taps / 2)
    shifted = positions + pad
    base = np.floor(shifted)
    frac = shifted - base
    if taps % 2 == 0:
        offset = np.where(frac == 0, -(taps // 2), 1 - taps // 2)
    else:
        lowest = -((taps - 1) // 2)
        offset = np.where(frac <= 0.5, lowest, lowest + 1)
    indices = (base + offset - pad).astype(np.int64)[:, None] + np.arange(taps)[None, :]
    if options.exclude_outside:
        weights = np.where((indices < 0) | (indices >= in_size), 0.0, weights)
        total = weights.sum(axis=1, keepdims=True)
        weights = weights / np.where(total == 0, 1.0, total)
    indices = np.clip(indices, 0, in_size - 1)
    return AxisPlan(indices, weights, extrapolated if extrapolated is not None and extrapolated.any() else None)


# --- applying it with MXNet ---------------------------------------------------------------------


def _round_half_even(F: object, x: object) -> object:
    floor = F.floor(x)
    frac = x - floor
    odd = floor - 2 * F.floor(floor * 0.5)
    return floor + (frac > 0.5) + (frac == 0.5) * odd


def _resize_axis(cx: NodeContext, x: object, axis: int, rank: int, plan: AxisPlan, options: ResizeOptions,
                 compute: str) -> object:
    F = cx.F
    out_size, taps = plan.weights.shape
    if options.mode == "nearest":
        chosen = plan.indices[np.arange(out_size), np.argmax(plan.weights, axis=1)]
        y = F.take(x, cx.const(chosen.astype(np.int64)), axis=axis)
    else:
        gathered = F.take(x, cx.const(plan.indices.reshape(-1)), axis=axis)
        split = F.reshape(gathered, shape=(0,) * axis + (-4, out_size, taps, -2))
        weight_shape = (1,) * axis + (out_size, taps) + (1,) * (rank - axis - 1)
        weights = cx.const(plan.weights.reshape(weight_shape).astype(compute))
        y = F.sum(F.broadcast_mul(split, weights), axis=axis + 1)
    if plan.extrapolated is not None:
        keep = cx.const((~plan.extrapolated).reshape((1,) * axis + (out_size,) + (1,) * (rank - axis - 1)))
        y = npi(F, "where_rscalar", keep, y, scalar=float(options.extrapolation_value))
    return y


# --- axes whose sizes are only known at run time (symbolic trace) ------------------------------


def _size_tensor(cx: NodeContext, size: object) -> object:
    """A (1,) float64 tensor holding a size (int or Dim)."""
    if isinstance(size, Dim):
        value = cx.static_tensor(SymArray(np.array([size], dtype=object), np.dtype(np.int64)))
        return cx.F.Cast(value, dtype="float64")
    return cx.const(np.array([size], dtype=np.float64))


def _runtime_positions(cx: NodeContext, options: ResizeOptions, y: object, in_size: object, out_size: object,
                       scale: object) -> object:
    """``_source_positions`` with MXNet float64 operators (same operations in the same order)."""
    F = cx.F
    mode = options.coordinate_mode
    length = F.broadcast_mul(scale, in_size)
    centered = F.broadcast_div(y + 0.5, scale)
    if mode == "half_pixel":
        return centered - 0.5
    if mode == "tf_half_pixel_for_nn":
        return centered
    if mode == "half_pixel_symmetric":
        offset = F.broadcast_mul(in_size / 2, 1 - F.broadcast_div(out_size, length))
        return F.broadcast_add(offset, centered) - 0.5
    if mode == "pytorch_half_pixel":
        single = F.broadcast_like(length == 1, y)
        return F.where(single, F.zeros_like(y) - 0.5, centered - 0.5)
    if mode == "align_corners":
        single = F.broadcast_like(length == 1, y)
        return F.where(single, F.zeros_like(y), F.broadcast_div(F.broadcast_mul(y, in_size - 1), length - 1))
    return F.broadcast_div(y, scale)  # asymmetric


def _runtime_weights(cx: NodeContext, options: ResizeOptions, ratio: object, scale: object) -> list:
    """Weights of each tap (list of (out,) tensors), as ``_WEIGHTS`` computes them."""
    F = cx.F
    if options.mode == "linear":
        return [1 - ratio, ratio]
    if options.mode == "cubic":
        a = options.cubic_coeff_a
        weights = []
        for tap in (-1.0, 0.0, 1.0, 2.0):
            d = F.abs(tap - ratio)
            near = ((a + 2) * d - (a + 3)) * d * d + 1
            far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
            weights.append(F.where(d <= 1, near, F.where(d < 2, far, F.zeros_like(d))))
        return weights
    mode = options.nearest_mode
    if mode == "simple":  # floor, ceil when shrinking
        right = F.broadcast_like(scale < 1, ratio)
    elif mode == "round_prefer_floor":
        right = ratio > 0.5
    elif mode == "round_prefer_ceil":
        right = ratio >= 0.5
    elif mode == "floor":
        right = F.zeros_like(ratio)
    else:
        right = F.ones_like(ratio)
    right = F.broadcast_maximum(right, ratio == 1.0)
    return [1 - right, right]


def _resize_axis_runtime(cx: NodeContext, x: object, axis: int, rank: int, in_dim: object, out_dim: object,
                         scale: float | None, options: ResizeOptions, compute: str) -> object:
    """Resize one axis whose input or output size is symbolic: positions, neighbours and weights
    are computed by the graph (float64, as the import-time plan does) from the run-time sizes."""
    F = cx.F
    if options.antialias or options.coordinate_mode == "tf_crop_and_resize":
        raise NeedsSpecialization(f"Resize node {cx.name!r}: antialias and tf_crop_and_resize need concrete sizes "
                                  f"(axis {axis}: {in_dim} -> {out_dim})")
    y = F.contrib.arange_like(F.Cast(cx.length_tensor(out_dim), dtype="float64"), axis=0)
    in_size = _size_tensor(cx, in_dim)
    out_size = _size_tensor(cx, out_dim)
    scale_t = F.broadcast_div(out_size, in_size) if scale is None else cx.const(np.array([scale], np.float64))
    positions = _runtime_positions(cx, options, y, in_size, out_size, scale_t)
    left = F.floor(positions)
    ratio = F.where(positions == left, F.ones_like(positions), positions - left)
    weights = _runtime_weights(cx, options, ratio, scale_t)
    taps = len(weights)
    pad = math.ceil(taps / 2)
    shifted = positions + pad
    base = F.floor(shifted)
    offset = F.where(shifted - base == 0, F.zeros_like(base) - taps // 2, F.zeros_like(base) + (1 - taps // 2))
    first = base + offset - pad
    last = in_size - 1
    indices = [first + k for k in range(taps)]
    if options.exclude_outside:
        inside = [F.broadcast_lesser_equal(i, last) * (i >= 0) for i in indices]
        weights = [w * keep for w, keep in zip(weights, inside)]
        total = weights[0]
        for w in weights[1:]:
            total = total + w
        total = F.where(total == 0, F.ones_like(total), total)
        weights = [w / total for w in weights]
    indices = [F.broadcast_minimum(F.broadcast_maximum(i, F.zeros_like(in_size)), last) for i in indices]
    if options.mode == "nearest":
        chosen = F.where(weights[1] > weights[0], indices[1], indices[0])  # argmax: ties to the left
        return F.take(x, F.Cast(chosen, dtype="int64"), axis=axis)
    index = F.reshape(F.stack(*indices, axis=1), shape=(-1,))
    gathered = F.take(x, F.Cast(index, dtype="int64"), axis=axis)
    split = F.reshape(gathered, shape=(0,) * axis + (-4, -1, taps, -2))
    weight = F.Cast(F.stack(*weights, axis=1), dtype=compute)
    for _ in range(axis):
        weight = F.expand_dims(weight, axis=0)
    for _ in range(rank - axis - 1):
        weight = F.expand_dims(weight, axis=-1)
    return F.sum(F.broadcast_mul(split, weight), axis=axis + 1)


def _is_same_size(a: object, b: object) -> bool:
    if isinstance(a, Dim) or isinstance(b, Dim):
        return isinstance(a, Dim) and isinstance(b, Dim) and a == b
    return int(a) == int(b)


def _as_int(cx: NodeContext, value: object) -> int:
    if isinstance(value, Dim):
        return cx.concrete(SymArray(np.array([value], dtype=object), np.int64))[0]
    return int(value)


def resize(cx: NodeContext, x: object, options: ResizeOptions, *, scales: Sequence[float] | None = None,
           sizes: Sequence[object] | None = None, roi: Sequence[float] | None = None,
           axes: Sequence[int] | None = None, keep_aspect_ratio_policy: str = "stretch") -> object:
    """Resize ``x`` (input 0 of the node) along ``axes`` to ``sizes`` or by ``scales``."""
    F = cx.F
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    shape = cx.in_shape(0)
    rank = len(shape)
    axes = norm_axes(cx, axes, rank) if axes is not None else list(range(rank))
    if len(set(axes)) != len(axes):
        raise cx.fail(f"axes {axes} repeat an axis")
    if options.mode not in _WEIGHTS:
        raise cx.fail(f"unknown mode {options.mode!r}")
    if options.coordinate_mode not in _COORDINATE_MODES:
        raise cx.fail(f"unknown coordinate_transformation_mode {options.coordinate_mode!r}")
    if options.nearest_mode not in _NEAREST_MODES:
        raise cx.fail(f"unknown nearest_mode {options.nearest_mode!r}")
    count = len(axes)
    rois: list[tuple[float, float] | None] = [None] * count
    if roi is not None and len(roi) and options.coordinate_mode == "tf_crop_and_resize":
        if len(roi) == 2 * rank and count != rank:
            roi = [roi[a] for a in axes] + [roi[rank + a] for a in axes]
        if len(roi) != 2 * count:
            raise cx.fail(f"roi has {len(roi)} values, expected {2 * count}")
        rois = [(float(roi[i]), float(roi[count + i])) for i in range(count)]
    targets: list[tuple[object, float]] = []  # (output size, scale) per entry of axes
    if sizes is not None:
        if len(sizes) != count:
            raise cx.fail(f"sizes has {len(sizes)} values for {count} axes")
        if keep_aspect_ratio_policy not in ("stretch", "not_larger", "not_smaller"):
            raise cx.fail(f"unknown keep_aspect_ratio_policy {keep_aspect_ratio_policy!r}")
        if keep_aspect_ratio_policy != "stretch":
            dims = [_as_int(cx, shape[a]) for a in axes]
            ratios = [_as_int(cx, s) / d for s, d in zip(sizes, dims)]
            common = min(ratios) if keep_aspect_ratio_policy == "not_larger" else max(ratios)
            targets = [(int(common * d + 0.5), common) for d in dims]
        else:
            for a, size in zip(axes, sizes):
                if _is_same_size(size, shape[a]):
                    targets.append((size, 1.0))
                elif isinstance(size, Dim) or isinstance(shape[a], Dim):
                    targets.append((size, None))  # the scale is computed at run time
                else:
                    out, dim = _as_int(cx, size), _as_int(cx, shape[a])
                    targets.append((out, out / dim if dim else 1.0))
    elif scales is not None:
        if len(scales) != count:
            raise cx.fail(f"scales has {len(scales)} values for {count} axes")
        for a, scale in zip(axes, scales):
            scale = float(scale)
            if scale <= 0:
                raise cx.fail(f"scales must be positive, got {list(scales)}")
            if scale == 1.0 and isinstance(shape[a], Dim):
                targets.append((shape[a], 1.0))
            elif isinstance(shape[a], Dim):
                targets.append((symdim.floor(Dim.lift(shape[a]) * Fraction(scale)), scale))
            else:
                targets.append((int(math.floor(scale * _as_int(cx, shape[a]))), scale))
    else:
        raise cx.fail("Resize needs either scales or sizes")
    out_dims = list(shape)
    for axis, (out_size, _) in zip(axes, targets):
        out_dims[axis] = out_size
    cx.check_elements(out_dims)  # per-axis checks alone let every axis grow a little
    storage = cx.in_storage(0) or "float32"
    if any(isinstance(d, int) and d == 0 for d in out_dims):
        # MXNet's resampling kernels cannot produce empty axes
        return cx.shape_template(out_dims, storage)
    compute = "float64" if storage in ("float64", "int64", "int32") else "float32"
    y = x
    is_float = storage.startswith("float")
    cast_back = False
    for i, (axis, (out_size, scale)) in enumerate(zip(axes, targets)):
        dim = shape[axis]
        trivial_roi = rois[i] is None or (math.isclose(rois[i][0], 0.0) and math.isclose(rois[i][1], 1.0))
        if _is_same_size(out_size, dim) and scale is not None and math.isclose(scale, 1.0) and trivial_roi:
            continue
        if options.mode != "nearest" and not cast_back and (storage != compute):
            y = F.Cast(y, dtype=compute)
            cast_back = True
        if isinstance(out_size, Dim) or isinstance(dim, Dim) or scale is None:
            y = _resize_axis_runtime(cx, y, axis, rank, dim, out_size, scale, options, compute)
            continue
        in_size = _as_int(cx, dim)
        cx.check_elements([out_size])
        if in_size == 0:
            raise cx.fail(f"cannot resize the empty axis {axis}")
        plan = plan_axis(options, in_size, int(out_size), scale, rois[i])
        y = _resize_axis(cx, y, axis, rank, plan, options, compute)
    if y is x:
        return F.identity(x)
    if cast_back:
        if not is_float:
            y = _round_half_even(F, y)
            info = np.iinfo(np.dtype(storage))
            y = F.clip(y, float(info.min), float(info.max))
        y = F.Cast(y, dtype=storage)
    return y


# --- converters ------------------------------------------------------------------------------


def _floats(cx: NodeContext, value: object) -> list[float] | None:
    if value is None:
        return None
    if isinstance(value, SymArray):
        return [float(v) for v in cx.concrete(value)]
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    return [float(v) for v in array] if array.size else None


def _sizes(cx: NodeContext, value: object) -> list[object] | None:
    if value is None:
        return None
    dims = cx.dims(value)
    return dims if dims else None


@converter("Resize", since=10, static=("scales",))
def resize_v10(cx: NodeContext, x: object, scales: object, *, mode: str = "nearest") -> object:
    options = ResizeOptions(mode=mode, coordinate_mode="asymmetric", nearest_mode="simple")
    return resize(cx, x, options, scales=_floats(cx, scales))


@converter("Resize", since=11, static=("roi", "scales", "sizes"))
@converter("Resize", since=13, static=("roi", "scales", "sizes"))
@converter("Resize", since=18, static=("roi", "scales", "sizes"))
@converter("Resize", since=19, static=("roi", "scales", "sizes"))
def resize_v11(cx: NodeContext, x: object, roi: object = None, scales: object = None, sizes: object = None, *,
               mode: str = "nearest", coordinate_transformation_mode: str = "half_pixel",
               nearest_mode: str = "round_prefer_floor", cubic_coeff_a: float = -0.75, exclude_outside: int = 0,
               extrapolation_value: float = 0.0, antialias: int = 0, axes: list[int] | None = None,
               keep_aspect_ratio_policy: str = "stretch") -> object:
    if coordinate_transformation_mode == "tf_half_pixel_for_nn" and cx.opset >= 13:
        raise cx.fail("coordinate_transformation_mode 'tf_half_pixel_for_nn' was removed in opset 13")
    if antialias and mode == "nearest":
        raise cx.fail("antialias applies to linear and cubic modes only")
    options = ResizeOptions(
        mode=mode, coordinate_mode=coordinate_transformation_mode, nearest_mode=nearest_mode,
        cubic_coeff_a=cubic_coeff_a, exclude_outside=bool(exclude_outside), antialias=bool(antialias),
        extrapolation_value=extrapolation_value,
    )
    scale_values = _floats(cx, scales)
    size_values = _sizes(cx, sizes)
    if scale_values is not None and size_values is not None:
        raise cx.fail("only one of scales and sizes may be given")
    roi_values = _floats(cx, roi)
    return resize(cx, x, options, scales=scale_values, sizes=size_values, roi=roi_values, axes=axes,
                  keep_aspect_ratio_policy=keep_aspect_ratio_policy)


def _upsample_mode(cx: NodeContext, mode: str) -> str:
    if mode in ("linear", "bilinear"):
        return "linear"
    if mode != "nearest":
        raise cx.fail(f"unknown Upsample mode {mode!r}")
    return mode


@converter("Upsample", since=1)
def upsample_v1(cx: NodeContext, x: object, *, mode: str = "nearest", height_scale: float = 1.0,
                width_scale: float = 1.0) -> object:
    rank = cx.rank(0)
    scales = [1.0] * (rank - 2) + [height_scale, width_scale]
    options = ResizeOptions(mode=_upsample_mode(cx, mode), coordinate_mode="asymmetric", nearest_mode="simple")
    return resize(cx, x, options, scales=scales)


@converter("Upsample", since=7)
def upsample_v7(cx: NodeContext, x: object, *, mode: str = "nearest", scales: list[float] | None = None) -> object:
    options = ResizeOptions(mode=_upsample_mode(cx, mode), coordinate_mode="asymmetric", nearest_mode="simple")
    return resize(cx, x, options, scales=list(scales or []))


@converter("Upsample", since=9, static=("scales",))
@converter("Upsample", since=10, static=("scales",))
def upsample_v9(cx: NodeContext, x: object, scales: object, *, mode: str = "nearest") -> object:
    options = ResizeOptions(mode=_upsample_mode(cx, mode), coordinate_mode="asymmetric", nearest_mode="simple")
    return resize(cx, x, options, scales=_floats(cx, scales))
