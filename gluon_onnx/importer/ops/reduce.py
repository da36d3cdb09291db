"""Reductions and scans: ReduceSum/Mean/Max/Min/Prod/L1/L2/LogSum/LogSumExp/SumSquare,
ArgMax, ArgMin, CumSum, CumProd, TopK, Hardmax."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ...dtypes import to_storage
from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..registry import converter
from ..symdim import Dim
from ._helpers import norm_axes, norm_axis

# --- Reduce* --------------------------------------------------------------------------------


def _float_compute(cx: NodeContext, x: object, fn: Callable[[object], object]) -> object:
    """Apply ``fn`` in float64 when the input is an integer type (sqrt/log/exp), cast back after."""
    storage = cx.in_storage(0) or "float32"
    if storage.startswith("float"):
        return fn(x)
    F = cx.F
    return F.Cast(fn(F.Cast(x, dtype="float64")), dtype=storage)


def _log_sum_exp(cx: NodeContext, x: object, axes: tuple[int, ...], keepdims: bool) -> object:
    def compute(v: object) -> object:
        F = cx.F
        peak = F.max(v, axis=axes, keepdims=True)
        # all -inf (or inf) slices: shift by 0 so exp() stays defined
        peak = F.where(F.abs(peak) < np.inf, peak, F.zeros_like(peak))
        total = F.sum(F.exp(F.broadcast_sub(v, peak)), axis=axes, keepdims=True)
        out = F.log(total) + peak
        return out if keepdims else F.squeeze(out, axis=axes)

    return _float_compute(cx, x, compute)


#: kind -> fn(cx, x, normalized axes, keepdims)
_REDUCERS: dict[str, Callable[[NodeContext, object, tuple[int, ...], bool], object]] = {
    "sum": lambda cx, x, axes, keep: cx.F.sum(x, axis=axes, keepdims=keep),
    "mean": lambda cx, x, axes, keep: cx.F.mean(x, axis=axes, keepdims=keep),
    "max": lambda cx, x, axes, keep: cx.F.max(x, axis=axes, keepdims=keep),
    "min": lambda cx, x, axes, keep: cx.F.min(x, axis=axes, keepdims=keep),
    "prod": lambda cx, x, axes, keep: cx.F.prod(x, axis=axes, keepdims=keep),
    "l1": lambda cx, x, axes, keep: cx.F.sum(cx.F.abs(x), axis=axes, keepdims=keep),
    "l2": lambda cx, x, axes, keep: _float_compute(
        cx, x, lambda v: cx.F.sqrt(cx.F.sum(cx.F.square(v), axis=axes, keepdims=keep))),
    "sum_square": lambda cx, x, axes, keep: cx.F.sum(cx.F.square(x), axis=axes, keepdims=keep),
    "log_sum": lambda cx, x, axes, keep: _float_compute(
        cx, x, lambda v: cx.F.log(cx.F.sum(v, axis=axes, keepdims=keep))),
    "log_sum_exp": _log_sum_exp,
}


def _empty_value(kind: str, dtype: np.dtype) -> object:
    """The value a reduction over zero elements produces (the reduction's identity)."""
    if kind in ("sum", "sum_square", "l1", "l2"):
        return 0
    if kind == "prod":
        return 1
    if kind in ("log_sum", "log_sum_exp"):
        return -np.inf
    if kind == "mean":
        return np.nan
    if dtype.kind == "b":
        return kind == "min"
    if dtype.kind in "iu":
        info = np.iinfo(dtype)
        return info.min if kind == "max" else info.max
    return -np.inf if kind == "max" else np.inf


def full_like(cx: NodeContext, template: object, value: object, storage: str) -> object:
    """A tensor shaped like ``template`` holding ``value`` (exactly, also for int64 extremes)."""
    F = cx.F
    if storage == "int64" and int(value) == np.iinfo(np.int64).max:  # not representable in the double parameter
        lowest = npi(F, "full_like", template, fill_value=float(np.iinfo(np.int64).min), dtype="int64")
        return npi(F, "bitwise_not", lowest)
    return npi(F, "full_like", template, fill_value=float(value), dtype=storage)


def _reduce(cx: NodeContext, kind: str, x: object, axes: list[int] | None, keepdims: int,
            noop_with_empty_axes: int = 0) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    rank = len(shape)
    if not axes:
        if noop_with_empty_axes:
            return F.identity(x)
        axes = list(range(rank))
    reduced = tuple(sorted(set(norm_axes(cx, axes, rank))))
    out_dims = [1 if i in reduced else d for i, d in enumerate(shape) if keepdims or i not in reduced]
    storage = cx.out_storage(0) or "float32"
    if any(isinstance(d, int) and d == 0 for d in out_dims):
        # MXNet's reduction kernels fail on zero-size outputs; the result holds no values anyway
        if any(isinstance(d, Dim) for d in out_dims):
            raise NeedsSpecialization("zero-size reduction output with symbolic sizes")
        out = np_reshape(F, x, out_dims)
        return out if cx.in_storage(0) == storage else F.Cast(out, dtype=storage)
    if any(isinstance(shape[i], int) and shape[i] == 0 for i in reduced):
        onnx_dtype = cx.out_dtype(0) or np.dtype(np.float32)
        value = to_storage(np.array(_empty_value(kind, onnx_dtype), dtype=onnx_dtype)).item()
        template = F.sum(x, axis=reduced, keepdims=bool(keepdims))  # sums nothing: only its shape is used
        out = full_like(cx, template, value, storage)
        return out if out_dims else np_reshape(F, out, ())
    if rank == 0:
        return np_reshape(F, _REDUCERS[kind](cx, np_reshape(F, x, (1,)), (0,), False), ())
    out = _REDUCERS[kind](cx, x, reduced, bool(keepdims))
    if not out_dims:
        return np_reshape(F, out, ())
    return out


def _register_reduce(op_type: str, kind: str, attribute_versions: tuple[int, ...],
                     input_versions: tuple[int, ...]) -> None:
    """Register the axes-attribute and the axes-input forms of one Reduce* operator."""

    def reduce_with_axes_attribute(cx: NodeContext, data: object, *, axes: list[int] | None = None,
                                   keepdims: int = 1) -> object:
        return _reduce(cx, kind, data, axes, keepdims)

    def reduce_with_axes_input(cx: NodeContext, data: object, axes: object = None, *, keepdims: int = 1,
                               noop_with_empty_axes: int = 0) -> object:
        axes_list = list(cx.concrete(axes)) if axes is not None else None
        return _reduce(cx, kind, data, axes_list, keepdims, noop_with_empty_axes)

    name = op_type[len("Reduce"):].lower()
    reduce_with_axes_attribute.__name__ = f"reduce_{name}_axes_attribute"
    reduce_with_axes_input.__name__ = f"reduce_{name}_axes_input"
    for version in attribute_versions:
        converter(op_type, since=version)(reduce_with_axes_attribute)
    for version in input_versions:
        converter(op_type, since=version, static=("axes",))(reduce_with_axes_input)


_register_reduce("ReduceSum", "sum", (1, 11), (13,))
_register_reduce("ReduceMean", "mean", (1, 11, 13), (18,))
_register_reduce("ReduceMax", "max", (1, 11, 12, 13), (18, 20))
_register_reduce("ReduceMin", "min", (1, 11, 12, 13), (18, 20))
_register_reduce("ReduceProd", "prod", (1, 11, 13), (18,))
_register_reduce("ReduceL1", "l1", (1, 11, 13), (18,))
_register_reduce("ReduceL2", "l2", (1, 11, 13), (18,))
_register_reduce("ReduceSumSquare", "sum_square", (1, 11, 13), (18,))
_register_reduce("ReduceLogSum", "log_sum", (1, 11, 13), (18, 28))
_register_reduce("ReduceLogSumExp", "log_sum_exp", (1, 11, 13), (18, 28))


# --- ArgMax / ArgMin --------------------------------------------------------------------------


def dim_size(cx: NodeContext, x: object, dim: object, axis: int) -> object:
    """``dim``, the size of ``x`` along ``axis``: as an int when known, else as a (1,) int64 tensor."""
    if isinstance(dim, int):
        return dim
    F = cx.F
    return F.slice_axis(F.shape_array(x), axis=0, begin=axis, end=axis + 1)


def _arg_extreme(cx: NodeContext, x: object, op: str, axis: int, keepdims: int, select_last_index: int) -> object:
    F = cx.F
    rank = cx.rank(0)
    if rank == 0:
        return F.zeros_like(F.Cast(x, dtype="int64"))
    axis = norm_axis(cx, axis, rank)
    source = F.reverse(x, axis=axis) if select_last_index else x
    index = npi(F, op, source, axis=axis, keepdims=bool(keepdims))
    if select_last_index:
        length = dim_size(cx, x, cx.in_shape(0)[axis], axis)
        if isinstance(length, int):
            index = (length - 1) - index
        else:
            index = F.broadcast_sub(length - 1, index)
    return index


@converter("ArgMax", since=1)
@converter("ArgMax", since=11)
@converter("ArgMax", since=12)
@converter("ArgMax", since=13)
def argmax(cx: NodeContext, data: object, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> object:
    return _arg_extreme(cx, data, "argmax", axis, keepdims, select_last_index)


@converter("ArgMin", since=1)
@converter("ArgMin", since=11)
@converter("ArgMin", since=12)
@converter("ArgMin", since=13)
def argmin(cx: NodeContext, data: object, *, axis: int = 0, keepdims: int = 1, select_last_index: int = 0) -> object:
    return _arg_extreme(cx, data, "argmin", axis, keepdims, select_last_index)


def axis_positions(cx: NodeContext, x: object, axis: int, rank: int, storage: str | None) -> object:
    """int64 tensor of shape (1, .., n, .., 1) holding 0..n-1 along ``axis`` (n = size of ``x`` there).

    ``storage`` is the MXNet dtype of ``x``.
    """
    F = cx.F
    source = x
    if storage not in ("float32", "float64", "int32", "int64"):
        # arange_like counts in the dtype of its input: use a float32 copy of one line instead
        for i in range(rank):
            if i != axis:
                source = F.slice_axis(source, axis=i, begin=0, end=1)
        source = F.Cast(source, dtype="float32")
    line = F.Cast(F.contrib.arange_like(source, axis=axis), dtype="int64")
    return F.reshape(line, shape=(1,) * axis + (-1,) + (1,) * (rank - axis - 1))


# --- CumSum / CumProd -------------------------------------------------------------------------


def _shift_forward(cx: NodeContext, x: object, axis: int, length: object, identity: int) -> object:
    """``x`` moved one step along ``axis``, the first slot holding ``identity`` (exclusive scans)."""
    F = cx.F
    first = F.slice_axis(x, axis=axis, begin=0, end=1)
    fill = F.ones_like(first) if identity else F.zeros_like(first)
    if isinstance(length, int) and length == 1:
        return fill
    return F.concat(fill, F.slice_axis(x, axis=axis, begin=0, end=-1), dim=axis)


def _cumprod(cx: NodeContext, x: object, axis: int, length: int) -> object:
    """Inclusive product scan in log2(length) steps (Hillis-Steele), exact for integers."""
    F = cx.F
    out = x
    step = 1
    while step < length:
        head = F.ones_like(F.slice_axis(out, axis=axis, begin=0, end=step))
        shifted = F.concat(head, F.slice_axis(out, axis=axis, begin=0, end=length - step), dim=axis)
        out = out * shifted
        step *= 2
    return out


def _scan(cx: NodeContext, x: object, axis_value: object, exclusive: int, reverse: int, product: bool) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    rank = len(shape)
    axis = norm_axis(cx, int(cx.concrete(axis_value)[0]), rank)
    length = shape[axis]
    if isinstance(length, int) and length == 0:
        return F.identity(x)
    if reverse:
        x = F.reverse(x, axis=axis)
    if product:
        out = _cumprod(cx, x, axis, cx.concrete([length])[0])
    else:
        out = F.cumsum(x, axis=axis, dtype=cx.in_storage(0))
    if exclusive:
        out = _shift_forward(cx, out, axis, length, 1 if product else 0)
    if reverse:
        out = F.reverse(out, axis=axis)
    return out


@converter("CumSum", since=11, static=("axis",))
@converter("CumSum", since=14, static=("axis",))
def cumsum(cx: NodeContext, x: object, axis: object, *, exclusive: int = 0, reverse: int = 0) -> object:
    return _scan(cx, x, axis, exclusive, reverse, product=False)


@converter("CumProd", since=26, static=("axis",))
def cumprod(cx: NodeContext, x: object, axis: object, *, exclusive: int = 0, reverse: int = 0) -> object:
    return _scan(cx, x, axis, exclusive, reverse, product=True)


# --- TopK -------------------------------------------------------------------------------------

_GROUP_STRIDE = 2**32  # > any index along one axis


def _top_k(cx: NodeContext, x: object, k: int | Dim, axis: int, largest: int) -> tuple[object, object]:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    rank = len(shape)
    axis = norm_axis(cx, axis, rank)
    length = shape[axis]
    if not isinstance(k, Dim) and (k < 0 or (isinstance(length, int) and k > length)):
        raise cx.fail(f"k = {k} is out of range for an axis of size {length}")
    # MXNet sorts ties in no particular order; ONNX wants the lower index first. A full sort
    # (k=0) gives the values in order; then indices are re-sorted within runs of equal values.
    values, order = F.topk(x, axis=axis, k=0, ret_typ="both", dtype="int64", is_ascend=not largest)
    if not (isinstance(length, int) and length <= 1):
        changed = F.slice_axis(values, axis=axis, begin=1, end=None) != F.slice_axis(values, axis=axis, begin=0, end=-1)
        changed = F.Cast(changed, dtype="int64")
        run = F.cumsum(F.concat(F.zeros_like(F.slice_axis(changed, axis=axis, begin=0, end=1)), changed, dim=axis),
                       axis=axis, dtype="int64")
        run = run * _GROUP_STRIDE
        order = F.sort(order + run, axis=axis, is_ascend=True) - run
    if isinstance(k, Dim):
        if k != length:
            # k computed from sizes known at run time only (e.g. min(100, boxes)): slice like a template
            template = cx.length_tensor(k)
            for _ in range(axis):
                template = F.expand_dims(template, axis=0)
            for _ in range(rank - axis - 1):
                template = F.expand_dims(template, axis=-1)
            values = F.slice_like(values, template, axes=(axis,))
            order = F.slice_like(order, template, axes=(axis,))
    elif not (isinstance(length, int) and k == length):
        values = F.slice_axis(values, axis=axis, begin=0, end=k)
        order = F.slice_axis(order, axis=axis, begin=0, end=k)
    return values, order


@converter("TopK", since=1)
def top_k_v1(cx: NodeContext, x: object, *, k: int = 1, axis: int = -1) -> tuple[object, object]:
    return _top_k(cx, x, k, axis, 1)


@converter("TopK", since=10, static=("k",))
@converter("TopK", since=11, static=("k",))
@converter("TopK", since=24, static=("k",))
def top_k(cx: NodeContext, x: object, k: object, *, axis: int = -1, largest: int = 1,
          sorted: int = 1) -> tuple[object, object]:  # noqa: A002 - the ONNX attribute name
    # sorted=0 leaves the order unspecified: sorted output is valid
    counts = cx.dims(k)
    if len(counts) != 1:
        raise cx.fail(f"k must hold one value, got {len(counts)}")
    return _top_k(cx, x, counts[0], axis, largest)


# --- Hardmax ----------------------------------------------------------------------------------


def _hardmax_along(cx: NodeContext, x: object, axis: int, rank: int) -> object:
    F = cx.F
    first_max = npi(F, "argmax", x, axis=axis, keepdims=True)
    positions = axis_positions(cx, x, axis, rank, cx.in_storage(0))
    return F.Cast(F.broadcast_equal(positions, first_max), dtype=cx.out_storage(0))


@converter("Hardmax", since=1)
@converter("Hardmax", since=11)
def hardmax_v11(cx: NodeContext, x: object, *, axis: int = 1) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    rank = len(shape)
    axis = norm_axis(cx, axis, rank)
    # opset < 13: the input is viewed as a matrix [prod(shape[:axis]), prod(shape[axis:])]
    inner = shape[axis:]
    if all(isinstance(d, int) for d in inner):
        matrix = F.reshape(x, shape=(-1, int(np.prod(inner, dtype=np.int64))))
    elif all(isinstance(d, int) for d in shape[:axis]):
        matrix = F.reshape(x, shape=(int(np.prod(shape[:axis], dtype=np.int64)), -1))
    else:
        raise NeedsSpecialization("Hardmax-11 over symbolic sizes on both sides of the axis")
    return F.reshape_like(_hardmax_along(cx, matrix, 1, 2), x)


@converter("Hardmax", since=13)
def hardmax(cx: NodeContext, x: object, *, axis: int = -1) -> object:
    rank = cx.rank(0)
    return _hardmax_along(cx, x, norm_axis(cx, axis, rank), rank)
