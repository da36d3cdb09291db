"""Indexing: Gather, GatherElements, GatherND, Scatter, ScatterElements, ScatterND, TensorScatter,
OneHot, and the data-dependent NonZero, Unique, Compress (imperative only)."""

from __future__ import annotations

import numpy as np

from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..registry import converter
from ._helpers import norm_axis
from .reduce import axis_positions, dim_size

# --- helpers ----------------------------------------------------------------------------------


def _as_int64(cx: NodeContext, index: int, value: object) -> object:
    return value if cx.in_storage(index) == "int64" else cx.F.Cast(value, dtype="int64")


def _wrap_negative(cx: NodeContext, index: object, length: object) -> object:
    """Map in-range negative indices (-length..-1) to length-1..0; int64 ``index``."""
    F = cx.F
    shifted = index + length if isinstance(length, int) else F.broadcast_add(index, length)
    return F.where(index < 0, shifted, index)


def _wrap_index(cx: NodeContext, index: object, length: object) -> object:
    """``index`` modulo ``length`` (Python sign), int64: in-range negative indices map as ONNX says, and
    out-of-range ones (invalid) stay inside the tensor instead of failing inside MXNet's kernels."""
    F = cx.F
    if isinstance(length, int):
        return index % max(length, 1)  # an empty axis: avoid an integer division by zero
    return F.broadcast_mod(index, F.maximum(length, 1))


def _grid(cx: NodeContext, like: object, axis: int, rank: int) -> object:
    """int64 coordinates along ``axis`` of every element of ``like``."""
    return cx.F.broadcast_like(axis_positions(cx, like, axis, rank, "int64"), like)


def _linear_index(cx: NodeContext, coords: list, dims: list, data: object) -> object:
    """Row-major linear index of coordinate tensors ``coords`` into the leading ``dims`` of ``data``."""
    F = cx.F
    linear = coords[0]
    for axis in range(1, len(coords)):
        size = dim_size(cx, data, dims[axis], axis)
        linear = linear * size if isinstance(size, int) else F.broadcast_mul(linear, size)
        linear = linear + coords[axis]
    return linear


def _product(dims: list) -> object:
    total: object = 1
    for d in dims:
        total = total * d
    return total


# --- Gather family ------------------------------------------------------------------------------


@converter("Gather", since=1)
@converter("Gather", since=11)
@converter("Gather", since=13)
def gather(cx: NodeContext, data: object, indices: object, *, axis: int = 0) -> object:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    # 'wrap' maps in-range negative indices -n..-1 to n-1..0 as ONNX requires
    return cx.F.take(data, indices, axis=axis, mode="wrap")


@converter("GatherElements", since=11)
@converter("GatherElements", since=13)
def gather_elements(cx: NodeContext, data: object, indices: object, *, axis: int = 0) -> object:
    F = cx.F
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    data_shape, index_shape = cx.in_shape(0), cx.in_shape(1)
    if len(index_shape) != rank:
        raise cx.fail(f"indices have rank {len(index_shape)}, data rank {rank}")
    for i, (d, n) in enumerate(zip(data_shape, index_shape)):
        if i != axis and isinstance(d, int) and isinstance(n, int) and n > d:
            raise cx.fail(f"indices of shape {tuple(index_shape)} do not fit data of shape {tuple(data_shape)}")
    index = _wrap_index(cx, _as_int64(cx, 1, indices), dim_size(cx, data, data_shape[axis], axis))
    coords = [index if i == axis else _grid(cx, index, i, rank) for i in range(rank)]
    return F.gather_nd(data, F.stack(*coords, axis=0))


def _index_tuples_first(cx: NodeContext, indices: object, batch_dims: int) -> object:
    """ONNX (..., k) index tuples -> MXNet gather_nd layout (batch_dims + k, ...), batch coordinates first."""
    F = cx.F
    rank = cx.rank(1)
    index = _as_int64(cx, 1, indices)
    tuples = F.transpose(index, axes=(rank - 1,) + tuple(range(rank - 1)))
    if not batch_dims:
        return tuples
    first = F.slice_axis(tuples, axis=0, begin=0, end=1)
    batch = [_grid(cx, first, 1 + i, rank) for i in range(batch_dims)]
    return F.concat(*batch, tuples, dim=0)


@converter("GatherND", since=11)
@converter("GatherND", since=12)
@converter("GatherND", since=13)
def gather_nd(cx: NodeContext, data: object, indices: object, *, batch_dims: int = 0) -> object:
    F = cx.F
    rank = cx.rank(1)
    if rank < 1:
        raise cx.fail("GatherND indices must have rank >= 1")
    depth = cx.in_shape(1)[-1]
    if not isinstance(depth, int):
        raise NeedsSpecialization("GatherND with a symbolic index depth")
    data_shape = cx.in_shape(0)
    count = batch_dims + depth
    if batch_dims < 0 or count > len(data_shape) or batch_dims >= rank:
        raise cx.fail(f"batch_dims {batch_dims} and index tuples of length {depth} do not fit data of rank "
                      f"{len(data_shape)}")
    tuples = _index_tuples_first(cx, indices, batch_dims)
    # every coordinate modulo its axis length (see _wrap_index)
    sizes = [dim_size(cx, data, data_shape[i], i) for i in range(count)]
    layout = (count,) + (1,) * (rank - 1)
    if all(isinstance(s, int) for s in sizes):
        modulus = cx.const(np.maximum(np.array(sizes, dtype=np.int64), 1).reshape(layout))
    else:
        parts = [F.full(shape=(1,), val=s, dtype="int64") if isinstance(s, int) else s for s in sizes]
        modulus = F.reshape(F.maximum(F.concat(*parts, dim=0), 1), shape=layout)
    return F.gather_nd(data, F.broadcast_mod(tuples, modulus))


# --- Scatter family -----------------------------------------------------------------------------


def _scatter_rows(cx: NodeContext, data: object, rows: object, updates: object, row_count: object,
                  row_size: object, reduction: str) -> object:
    """Write/combine ``updates`` (U, row_size) into the rows ``rows`` (U,) of ``data`` viewed as
    (row_count, row_size); returns the (row_count, row_size) result."""
    F = cx.F
    if isinstance(row_size, int):
        table = F.reshape(data, shape=(-1, row_size))
    elif isinstance(row_count, int):
        table = F.reshape(data, shape=(row_count, -1))
    else:
        raise NeedsSpecialization("scatter over a tensor with symbolic sizes on both sides")
    storage = cx.in_storage(0) or "float32"
    if storage == "bool":  # MXNet's scatter kernels have no bool version
        table, updates = F.Cast(table, dtype="uint8"), F.Cast(updates, dtype="uint8")
        return F.Cast(_combine_rows(cx, table, rows, updates, row_count, row_size, reduction, "uint8"), dtype="bool")
    return _combine_rows(cx, table, rows, updates, row_count, row_size, reduction, storage)


def _combine_rows(cx: NodeContext, table: object, rows: object, updates: object, row_count: object,
                  row_size: object, reduction: str, storage: str) -> object:
    F = cx.F
    if reduction in ("none", "add"):
        # these MXNet kernels do not check bounds: keep invalid (out-of-range) indices inside the table
        if isinstance(row_count, int):
            rows = F.clip(rows, 0, max(row_count - 1, 0))
        else:
            last_row = F.slice_axis(F.shape_array(table), axis=0, begin=0, end=1) - 1
            rows = F.broadcast_minimum(F.relu(rows), last_row)
    if reduction == "none":
        return F.contrib.index_copy(table, rows, updates)
    if reduction == "add":
        shape = cx.concrete([row_count, row_size])
        added = F._internal._backward_gather_nd(updates, F.reshape(rows, shape=(1, -1)), shape=shape)
        return table + added
    if reduction not in ("mul", "max", "min"):
        raise cx.fail(f"reduction {reduction!r} is not supported")
    # No MXNet operator combines duplicate targets by product/max/min: compare every update with
    # every row (U x rows x row_size values) and reduce over the updates.
    update_shape = cx.in_shape(2)
    if all(isinstance(d, int) for d in (*update_shape, row_count)):
        cx.check_elements([int(np.prod(update_shape, dtype=np.int64)), row_count])
    targets = F.reshape(axis_positions(cx, table, 0, 2, storage), shape=(1, -1))
    hits = F.broadcast_equal(F.reshape(rows, shape=(-1, 1)), targets)
    hits = F.Cast(F.expand_dims(hits, axis=2), dtype="bool")
    if reduction == "mul":
        neutral: object = 1
    elif storage.startswith("float"):
        neutral = -np.inf if reduction == "max" else np.inf
    else:
        info = np.iinfo(np.dtype(storage))
        neutral = info.min if reduction == "max" else info.max
    neutral_value = cx.const(np.array(neutral, dtype=storage))
    candidates = npi(F, "where", hits, F.expand_dims(updates, axis=1), neutral_value)
    if reduction == "mul":
        return table * F.prod(candidates, axis=0)
    if reduction == "max":
        return F.broadcast_maximum(table, F.max(candidates, axis=0))
    return F.broadcast_minimum(table, F.min(candidates, axis=0))


def _check_updates(cx: NodeContext, expected: tuple) -> None:
    """``updates`` (input 2) must have the shape the indices imply: MXNet's kernels index it by that
    shape (a mismatch corrupted memory)."""
    actual = cx.in_shape(2)
    if actual is None:
        return
    if len(actual) != len(expected) or any(isinstance(a, int) and isinstance(e, int) and a != e
                                           for a, e in zip(actual, expected)):
        raise cx.fail(f"updates of shape {tuple(actual)} do not match the indices (expected {tuple(expected)})")


def _scatter_elements(cx: NodeContext, data: object, indices: object, updates: object, axis: int,
                      reduction: str) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if any(isinstance(d, int) and d == 0 for d in cx.in_shape(1)):
        return data  # nothing to scatter; MXNet kernels leave the engine broken on zero-size results
    rank = len(shape)
    axis = norm_axis(cx, axis, rank)
    index_shape = cx.in_shape(1)
    if index_shape is not None:
        if len(index_shape) != rank:
            raise cx.fail(f"indices of rank {len(index_shape)} for data of rank {rank}")
        _check_updates(cx, tuple(index_shape))
    index = _wrap_negative(cx, _as_int64(cx, 1, indices), dim_size(cx, data, shape[axis], axis))
    coords = [index if i == axis else _grid(cx, index, i, rank) for i in range(rank)]
    rows = F.reshape(_linear_index(cx, coords, list(shape), data), shape=(-1,))
    values = F.reshape(updates, shape=(-1, 1))
    table = _scatter_rows(cx, data, rows, values, _product(shape), 1, reduction)
    return F.reshape_like(table, data)


@converter("Scatter", since=9)
@converter("Scatter", since=11)
def scatter(cx: NodeContext, data: object, indices: object, updates: object, *, axis: int = 0) -> object:
    return _scatter_elements(cx, data, indices, updates, axis, "none")


@converter("ScatterElements", since=11)
@converter("ScatterElements", since=13)
@converter("ScatterElements", since=16)
@converter("ScatterElements", since=18)
def scatter_elements(cx: NodeContext, data: object, indices: object, updates: object, *, axis: int = 0,
                     reduction: str = "none") -> object:
    return _scatter_elements(cx, data, indices, updates, axis, reduction)


@converter("ScatterND", since=11)
@converter("ScatterND", since=13)
@converter("ScatterND", since=16)
@converter("ScatterND", since=18)
def scatter_nd(cx: NodeContext, data: object, indices: object, updates: object, *,
               reduction: str = "none") -> object:
    F = cx.F
    shape = list(cx.in_shape(0))
    index_shape = cx.in_shape(1)
    depth = index_shape[-1]
    if not isinstance(depth, int):
        raise NeedsSpecialization("ScatterND with a symbolic index depth")
    if depth == 0 or depth > len(shape):
        raise cx.fail(f"index tuples of length {depth} do not fit data of rank {len(shape)}")
    _check_updates(cx, tuple(index_shape[:-1]) + tuple(shape[depth:]))
    tuples = _index_tuples_first(cx, indices, 0)
    coords = []
    for axis in range(depth):
        component = F.reshape(F.slice_axis(tuples, axis=0, begin=axis, end=axis + 1), shape=(-1,))
        coords.append(_wrap_negative(cx, component, dim_size(cx, data, shape[axis], axis)))
    rows = _linear_index(cx, coords, shape, data)
    row_size = _product(shape[depth:])
    update_count = _product(list(index_shape[:-1]))
    if isinstance(row_size, int):
        values = F.reshape(updates, shape=(-1, row_size))
    elif isinstance(update_count, int):
        values = F.reshape(updates, shape=(update_count, -1))
    else:
        raise NeedsSpecialization("ScatterND with symbolic sizes in both the updates and the rows")
    table = _scatter_rows(cx, data, rows, values, _product(shape[:depth]), row_size, reduction)
    return F.reshape_like(table, data)


@converter("TensorScatter", since=24)
def tensor_scatter(cx: NodeContext, past_cache: object, update: object, write_indices: object = None, *,
                   mode: str = "linear", axis: int = -2) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    rank = len(shape)
    axis = norm_axis(cx, axis, rank)
    if axis == 0:
        raise cx.fail("TensorScatter cannot write along the batch axis 0")
    if mode not in ("linear", "circular"):
        raise cx.fail(f"mode {mode!r} is not supported")
    update_shape = cx.in_shape(1)
    heads, capacity, width = _product(shape[1:axis]), shape[axis], _product(shape[axis + 1:])
    length = update_shape[axis]
    if not all(isinstance(d, int) for d in (heads, capacity, width, length)):
        raise NeedsSpecialization("TensorScatter over symbolic non-batch sizes")
    # view both as (batch, heads, sequence, width): row p of the cache takes update row p - write_index
    cache = F.reshape(past_cache, shape=(0, heads, capacity, width))
    rows = F.reshape(update, shape=(0, heads, length, width))
    # (batch, heads, capacity) template of one coordinate per cache row
    row_template = F.reshape(F.slice_axis(cache, axis=3, begin=0, end=1), shape=(0, 0, -1))
    offset = F.reshape(axis_positions(cx, row_template, 2, 3, cx.in_storage(0)), shape=(1, 1, -1))
    if write_indices is not None:
        start = F.reshape(_as_int64(cx, 2, write_indices), shape=(-1, 1, 1))
        offset = F.broadcast_sub(offset, start)
    offset = F.broadcast_like(offset, row_template)
    if mode == "circular":
        offset = F.where(offset < 0, offset + capacity, offset)
    inside = (offset >= 0) * (offset < length)
    source = F.clip(offset, 0, max(length - 1, 0))
    coords = F.stack(_grid(cx, source, 0, 3), _grid(cx, source, 1, 3), source, axis=0)
    gathered = F.gather_nd(rows, coords)
    keep = F.broadcast_like(F.expand_dims(F.Cast(inside, dtype="bool"), axis=3), cache)
    written = npi(F, "where", keep, gathered, cache)
    return F.reshape_like(written, past_cache)


# --- OneHot -----------------------------------------------------------------------------------


@converter("OneHot", since=9, static=("depth",))
@converter("OneHot", since=11, static=("depth",))
@converter("OneHot", since=28, static=("depth",))
def one_hot(cx: NodeContext, indices: object, depth: object, values: object, *, axis: int = -1) -> object:
    F = cx.F
    rank = cx.rank(0)
    count = int(np.asarray(depth).reshape(-1)[0])
    if count < 0:
        raise cx.fail(f"depth must be non-negative, got {count}")
    axis = norm_axis(cx, axis, rank + 1)
    shape = list(cx.in_shape(0))
    cx.check_elements(shape[:axis] + [count] + shape[axis:])
    index = _as_int64(cx, 0, indices)
    index = F.where(index < 0, index + count, index)
    expanded = F.expand_dims(index, axis=axis) if rank else np_reshape(F, index, (1,))
    classes = cx.const(np.arange(count, dtype=np.int64).reshape((1,) * axis + (count,) + (1,) * (rank - axis)))
    hot = F.broadcast_equal(expanded, classes)
    as_bool = cx.out_storage(0) == "bool"
    if as_bool:  # legacy where/broadcast have no bool version
        values = F.Cast(values, dtype="uint8")
    # legacy where (any rank; numpy where stops at 5 dims) on explicitly broadcast values
    off = F.broadcast_like(F.reshape(F.slice_axis(values, axis=0, begin=0, end=1), shape=(1,) * (rank + 1)), hot)
    on = F.broadcast_like(F.reshape(F.slice_axis(values, axis=0, begin=1, end=2), shape=(1,) * (rank + 1)), hot)
    out = F.where(hot, on, off)
    return F.Cast(out, dtype="bool") if as_bool else out


# --- data-dependent shapes (imperative only) ------------------------------------------------------


@converter("NonZero", since=9)
@converter("NonZero", since=13)
def nonzero(cx: NodeContext, x: object) -> object:
    F = cx.F
    if cx.rank(0) == 0:
        x = np_reshape(F, x, (1,))
        return F.zeros_like(np_reshape(F, npi(F, "nonzero", x), (1, -1)))
    return F.transpose(npi(F, "nonzero", x))


@converter("Compress", since=9)
@converter("Compress", since=11)
@converter("Compress", since=28)
def compress(cx: NodeContext, data: object, condition: object, *, axis: int | None = None) -> object:
    F = cx.F
    if axis is None:
        data = F.reshape(data, shape=(-1,))
        length = _product(list(cx.in_shape(0)))
        axis = 0
    else:
        axis = norm_axis(cx, axis, cx.rank(0))
        length = cx.in_shape(0)[axis]
    flags = F.Cast(condition, dtype="bool") if cx.in_storage(1) != "bool" else condition
    limit = cx.in_shape(1)[0]
    if isinstance(limit, int) and isinstance(length, int) and limit > length:  # flags past the end select nothing
        flags = F.slice_axis(flags, axis=0, begin=0, end=length)
    chosen = F.reshape(npi(F, "nonzero", flags), shape=(-1,))
    return F.take(data, chosen, axis=axis)


@converter("Unique", since=11)
@converter("Unique", since=28)
def unique(cx: NodeContext, x: object, *, axis: int | None = None, sorted: int = 1) -> tuple:  # noqa: A002
    F = cx.F
    storage = cx.in_storage(0)
    source = F.Cast(x, dtype="uint8") if storage == "bool" else x
    if axis is None:
        source = F.reshape(source, shape=(-1,))
        axis = 0
    else:
        axis = norm_axis(cx, axis, cx.rank(0))
    values, first, inverse, counts = npi(F, "unique", source, return_index=True, return_inverse=True,
                                         return_counts=True, axis=axis)
    first, inverse, counts = (F.Cast(v, dtype="int64") for v in (first, inverse, counts))
    if not sorted:
        # order of first occurrence: permute the sorted results, renumber the inverse mapping
        order = F.argsort(first, dtype="int64")
        values = F.take(values, order, axis=axis)
        first = F.take(first, order)
        counts = F.take(counts, order)
        inverse = F.take(F.argsort(order, dtype="int64"), inverse)
    if storage == "bool":
        values = F.Cast(values, dtype="bool")
    return values, first, inverse, counts

