"""Shape and layout manipulation: Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze,
Identity, Shape, Slice, ConstantOfShape, Expand, Pad, Split, Tile, Dropout."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import mxnet as mx
import numpy as np

from ...dtypes import storage_dtype
from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..registry import converter
from ..shapes import SymArray, inferred_size
from ..symdim import Dim
from ._helpers import broadcast_shape, norm_axes, norm_axis, pad_array

_INT64_MAX = np.iinfo(np.int64).max


def bool_via_uint8(fn: Callable) -> Callable:
    """Run a converter on uint8 copies when its data input is bool.

    MXNet's legacy layout kernels (transpose, concat, slice_axis, depth_to_space,
    broadcast_like, ...) have no bool implementation; the cast is exact both ways.
    """

    @functools.wraps(fn)
    def run(cx: NodeContext, *args: object, **attrs: object) -> object:
        if cx.in_storage(0) != "bool":
            return fn(cx, *args, **attrs)
        F = cx.F
        tensors = (mx.nd.NDArray, mx.sym.Symbol)
        args = tuple(F.Cast(a, dtype="uint8") if isinstance(a, tensors) else a for a in args)
        out = fn(cx, *args, **attrs)
        if isinstance(out, (list, tuple)):
            return type(out)(F.Cast(o, dtype="bool") for o in out)
        return F.Cast(out, dtype="bool")

    return run



# --- reshape family -----------------------------------------------------------------------


def empty_tensor(cx: NodeContext, x: object, shape: Sequence[int]) -> object:
    """A zero-size tensor of static ``shape`` with the dtype of ``x`` (and depending on it).

    MXNet's slice/reshape/Flatten kernels leave the engine in an error state ("delay_alloc")
    when they produce a zero-size result of rank <= 2; tile with a zero repeat and the
    numpy-semantics reshape of an empty array are safe.
    """
    F = cx.F
    nothing = F.tile(np_reshape(F, x, (-1,)), reps=(0,))
    return np_reshape(F, nothing, tuple(int(d) for d in shape))


def _static_size(dims: Sequence[object]) -> int | None:
    if any(not isinstance(d, int) for d in dims):
        return None
    return int(np.prod(dims, dtype=np.int64))


def _resolve_reshape(cx: NodeContext, in_shape: tuple, dims: list, allowzero: int) -> tuple[int, ...]:
    """The concrete ONNX output shape (0 copies the input size unless allowzero, one -1 is inferred)."""
    out: list[int] = []
    inferred = None
    for i, d in enumerate(dims):
        if d == -1:
            if inferred is not None:
                raise cx.fail(f"shape {dims} has more than one -1")
            inferred = i
            out.append(1)
        elif d == 0 and not allowzero:
            if i >= len(in_shape):
                raise cx.fail(f"shape {dims} copies axis {i} (0) of an input of rank {len(in_shape)}")
            out.append(int(in_shape[i]))
        else:
            out.append(int(d))
    total = int(np.prod(in_shape, dtype=np.int64))
    known = int(np.prod(out, dtype=np.int64))
    if inferred is not None:
        if known == 0 or total % known:
            raise cx.fail(f"cannot infer the -1 of shape {dims} for an input of shape {tuple(in_shape)}")
        out[inferred] = total // known
    elif known != total:
        raise cx.fail(f"cannot reshape an input of shape {tuple(in_shape)} ({total} elements) to {dims}")
    return tuple(out)


def reshape_to(cx: NodeContext, x: object, dims: list, allowzero: int = 0) -> object:
    """Reshape ``x`` to ONNX target ``dims`` (ints incl. 0/-1 codes, and symbolic Dims)."""
    F = cx.F
    if any(isinstance(d, int) and d < -1 for d in dims):
        # MXNet would read -2, -3, -4 as its own special codes
        raise cx.fail(f"shape {dims} has a negative size other than -1")
    in_shape = cx.in_shape(0)
    if in_shape is not None and all(isinstance(d, int) for d in (*in_shape, *dims)):
        target = _resolve_reshape(cx, in_shape, dims, allowzero)
        # explicit sizes; numpy semantics for a real 0 (MXNet's legacy reshape reads 0 as "copy"; empty
        # results) and beyond 6 dimensions (the legacy reshape of oneDNN-laid-out data fails there)
        if 0 in target or not target or len(target) > 6:
            return np_reshape(F, x, target)
        return F.reshape(x, shape=target)
    if not any(isinstance(d, Dim) for d in dims):
        if allowzero and 0 in dims:
            return np_reshape(F, x, dims)
        if in_shape is not None and _static_size(in_shape) == 0:
            resolved = [in_shape[i] if d == 0 and not allowzero else int(d) for i, d in enumerate(dims)]
            if -1 in resolved:
                others = _static_size([d for d in resolved if d != -1])
                if others == 0:
                    raise cx.fail(f"cannot infer -1 in {dims} for an empty tensor")
                resolved = [0 if d == -1 else d for d in resolved]  # numpy's rule: 0 elements / others
            return np_reshape(F, x, resolved)
        if not dims:
            return np_reshape(F, x, ())
        if len(dims) > 6 and in_shape is not None and all(i < len(in_shape) for i, d in enumerate(dims) if d == 0):
            # the legacy reshape of oneDNN-laid-out data fails beyond 6 dimensions
            resolved = [in_shape[i] if d == 0 else int(d) for i, d in enumerate(dims)]
            if all(isinstance(d, int) for d in resolved):
                return np_reshape(F, x, resolved)
        return F.reshape(x, shape=tuple(int(d) for d in dims))
    in_shape = cx.in_shape(0) or ()
    codes = []
    for i, d in enumerate(dims):
        if isinstance(d, Dim):
            codes.append(0 if i < len(in_shape) and in_shape[i] == d else -1)
        else:
            codes.append(int(d))
    if codes.count(-1) <= 1:
        return F.reshape(x, shape=tuple(codes))
    target = [in_shape[i] if isinstance(d, int) and d == 0 and not allowzero else d for i, d in enumerate(dims)]
    if any(not isinstance(d, Dim) and d == -1 for d in target):
        position = next(i for i, d in enumerate(target) if not isinstance(d, Dim) and d == -1)
        others = [d for i, d in enumerate(target) if i != position]
        size = inferred_size(list(in_shape), others) if in_shape and target.count(-1) == 1 else None
        if size is None:
            raise NeedsSpecialization(f"Reshape node {cx.name!r}: the size -1 stands for in {dims} is not "
                                      f"provable from the input shape {in_shape}")
        target[position] = size
    return F.reshape_like(x, cx.shape_template(target))


@converter("Reshape", since=1)
def reshape_v1(cx: NodeContext, x: object, *, shape: list[int] | None = None,
               consumed_inputs: list[int] | None = None) -> object:
    return reshape_to(cx, x, list(shape or []))


@converter("Reshape", since=5, static=("shape",))
@converter("Reshape", since=13, static=("shape",))
@converter("Reshape", since=14, static=("shape",))
@converter("Reshape", since=19, static=("shape",))
@converter("Reshape", since=21, static=("shape",))
@converter("Reshape", since=23, static=("shape",))
def reshape(cx: NodeContext, x: object, shape: object, *, allowzero: int = 0) -> object:
    return reshape_to(cx, x, cx.dims(shape), allowzero)


@converter("Flatten", since=1)
@converter("Flatten", since=9)
@converter("Flatten", since=11)
@converter("Flatten", since=13)
@converter("Flatten", since=21)
@converter("Flatten", since=23)
def flatten(cx: NodeContext, x: object, *, axis: int = 1) -> object:
    F = cx.F
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    shape = cx.in_shape(0)
    rank = len(shape)
    if not -rank <= axis <= rank:
        raise cx.fail(f"axis {axis} is out of range for a tensor of rank {rank}")
    axis = axis + rank if axis < 0 else axis
    if _static_size(shape) == 0:
        outer = int(np.prod(shape[:axis], dtype=np.int64))
        return np_reshape(F, x, (outer, int(np.prod(shape[axis:], dtype=np.int64))))
    if axis == 0:
        return F.reshape(x, shape=(1, -1))
    front, back = shape[:axis], shape[axis:]
    if all(isinstance(d, int) for d in front):
        return F.reshape(x, shape=(int(np.prod(front, dtype=np.int64)), -1))
    if all(isinstance(d, int) for d in back):
        return F.reshape(x, shape=(-1, int(np.prod(back, dtype=np.int64))))
    if axis == 1:
        return F.reshape(x, shape=(0, -1))
    outer: object = 1
    for d in front:
        outer = outer * d
    inner: object = 1
    for d in back:
        inner = inner * d
    return F.reshape_like(x, cx.shape_template([outer, inner]))


@converter("Transpose", since=1)
@converter("Transpose", since=13)
@converter("Transpose", since=21)
@converter("Transpose", since=23)
@bool_via_uint8
def transpose(cx: NodeContext, x: object, *, perm: list[int] | None = None) -> object:
    rank = cx.rank(0)
    axes = tuple(perm) if perm else tuple(range(rank - 1, -1, -1))
    if sorted(axes) != list(range(rank)):
        raise cx.fail(f"perm {list(axes)} is not a permutation of the {rank} axes")
    if axes == tuple(range(rank)):
        return cx.F.identity(x)
    if rank <= 6:
        return cx.F.transpose(x, axes=axes)
    # MXNet's transpose stops at 6 dimensions; swapaxes has no limit: one swap per misplaced axis
    order = list(range(rank))
    out = x
    for target, wanted in enumerate(axes):
        current = order.index(wanted)
        if current != target:
            out = cx.F.swapaxes(out, dim1=target, dim2=current)
            order[target], order[current] = order[current], order[target]
    return out


@converter("Concat", since=1)
@converter("Concat", since=4)
@converter("Concat", since=11)
@converter("Concat", since=13)
@bool_via_uint8
def concat(cx: NodeContext, *inputs: object, axis: int = 1) -> object:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    if len(inputs) == 1:
        return cx.F.identity(inputs[0])
    return cx.F.concat(*inputs, dim=axis)


def _axes(cx: NodeContext, axes_input: object, axes_attr: list[int] | None) -> list[int] | None:
    if axes_input is not None:
        return [int(a) for a in cx.concrete(axes_input)]
    return list(axes_attr) if axes_attr is not None else None


@converter("Squeeze", since=1)
@converter("Squeeze", since=11)
def squeeze_v1(cx: NodeContext, x: object, *, axes: list[int] | None = None) -> object:
    return _squeeze(cx, x, axes)


@converter("Squeeze", since=13, static=("axes",))
@converter("Squeeze", since=21, static=("axes",))
@converter("Squeeze", since=23, static=("axes",))
def squeeze(cx: NodeContext, x: object, axes: object = None) -> object:
    return _squeeze(cx, x, _axes(cx, axes, None))


def _squeeze(cx: NodeContext, x: object, axes: list[int] | None) -> object:
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    shape = cx.in_shape(0)
    rank = len(shape)
    if axes is None:
        axes = [i for i, d in enumerate(shape) if isinstance(d, int) and d == 1]
        if any(not isinstance(d, int) for d in shape):
            raise NeedsSpecialization("Squeeze without axes on an input with symbolic sizes")
    axes = norm_axes(cx, axes, rank)
    if not axes:
        return cx.F.identity(x)
    new_shape = [d for i, d in enumerate(shape) if i not in axes]
    if not new_shape:
        return np_reshape(cx.F, x, ())
    return cx.F.squeeze(x, axis=tuple(axes))


@converter("Unsqueeze", since=1)
@converter("Unsqueeze", since=11)
def unsqueeze_v1(cx: NodeContext, x: object, *, axes: list[int] | None = None) -> object:
    return _unsqueeze(cx, x, axes or [])


@converter("Unsqueeze", since=13, static=("axes",))
@converter("Unsqueeze", since=21, static=("axes",))
@converter("Unsqueeze", since=23, static=("axes",))
def unsqueeze(cx: NodeContext, x: object, axes: object) -> object:
    return _unsqueeze(cx, x, _axes(cx, axes, None) or [])


def _unsqueeze(cx: NodeContext, x: object, axes: list[int]) -> object:
    rank = cx.rank(0)
    out_rank = rank + len(axes)
    axes = sorted(norm_axes(cx, axes, out_rank))
    if rank == 0:
        return np_reshape(cx.F, x, (1,) * out_rank)
    out = x
    for axis in axes:
        out = cx.F.expand_dims(out, axis=axis)
    return out


@converter("Identity", since=1)
@converter("Identity", since=13)
@converter("Identity", since=14)
@converter("Identity", since=16)
@converter("Identity", since=19)
@converter("Identity", since=21)
@converter("Identity", since=23)
def identity(cx: NodeContext, x: object) -> object:
    if x is None:  # an empty optional
        return None
    if isinstance(x, list):  # a sequence (a list return value would mean several outputs)
        return ([cx.F.identity(v) for v in x],)
    return cx.F.identity(x)


@converter("Shape", since=1)
@converter("Shape", since=13)
@converter("Shape", since=15)
@converter("Shape", since=19)
@converter("Shape", since=21)
@converter("Shape", since=23)
def shape(cx: NodeContext, x: object, *, start: int = 0, end: int | None = None) -> object:
    F = cx.F
    out = F.shape_array(x)
    rank = cx.in_rank(0)
    if start != 0 or end is not None:
        if rank is None:
            raise cx.fail("Shape with start/end needs a known input rank")
        s = min(max(start + rank if start < 0 else start, 0), rank)
        e = rank if end is None else min(max(end + rank if end < 0 else end, 0), rank)
        out = F.slice_axis(out, axis=0, begin=s, end=max(e, s))
    return out


@converter("Size", since=1)
@converter("Size", since=13)
@converter("Size", since=19)
@converter("Size", since=21)
@converter("Size", since=23)
def size(cx: NodeContext, x: object) -> object:
    return np_reshape(cx.F, cx.F.size_array(x), ())


_BIG = 2**31  # ONNX uses INT64_MAX/INT64_MIN (or anything huge) for "to the end"


def _constant_offset(value: object, base: object) -> int | None:
    """``value - base`` when it is a known integer (e.g. ``N - 1`` minus ``N``), else None."""
    diff = Dim.simplify(Dim.lift(value) - base) if isinstance(value, Dim) or isinstance(base, Dim) else value - base
    if isinstance(diff, Dim):
        return None
    return int(diff) if diff == int(diff) else None


def _symbolic_bound(value: object, dim: object, is_end: bool, step: int) -> tuple[bool, int | None]:
    """MXNet slice bound for ONNX ``value`` on an axis of symbolic size ``dim``.

    Returns (ok, bound); bound None means "from the start / to the end" in ``step``'s direction.
    MXNet clamps out-of-range ints like numpy does, so plain ints pass through; a symbolic value
    must be ``dim + c`` or ``-dim + c`` for a constant c.
    """
    if not isinstance(value, Dim):
        value = int(value)
        if abs(value) >= _BIG:
            return True, None
        return True, value
    above = _constant_offset(value, dim)  # value == dim + above
    if above is not None:
        if step > 0:
            if is_end:
                return True, None if above >= 0 else above
            return (False, None) if above >= 0 else (True, above)
        if not is_end:
            return True, None if above >= -1 else above
        return (False, None) if above >= -1 else (True, above)
    below = _constant_offset(value, -dim)  # value == -dim + below
    if below is not None:
        if step > 0 and not is_end:
            return True, None if below <= 0 else below
        if step < 0 and is_end:
            return True, None if below < 0 else below
    return False, None


def _strided_slice(cx: NodeContext, x: object, begin: list, end: list, step: list, shape: Sequence[object]) -> object:
    """``F.slice``, which MXNet limits to 6 dimensions; higher ranks are cut one axis at a time."""
    F = cx.F
    if len(begin) <= 6:
        return F.slice(x, begin=tuple(begin), end=tuple(end), step=tuple(step))
    out = x
    for axis, (b, e, s) in enumerate(zip(begin, end, step)):
        s = 1 if s is None else s
        if b is None and e is None and s == 1:
            continue
        if s == 1:
            out = F.slice_axis(out, axis=axis, begin=b or 0, end=e)
            continue
        dim = shape[axis]
        if not isinstance(dim, int):
            raise NeedsSpecialization("strided Slice of a symbolic axis beyond 6 dimensions")
        index = np.arange(dim)[slice(b, e, s)]
        out = F.take(out, cx.const(index.astype(np.int64)), axis=axis)
    return out


def _slice(cx: NodeContext, x: object, starts: list, ends: list, axes: list[int] | None,
           steps: list[int] | None) -> object:
    """ONNX Slice on ``x``; starts/ends may hold symbolic sizes while tracing."""
    F = cx.F
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    shape = cx.in_shape(0)
    rank = len(shape)
    axes = norm_axes(cx, axes if axes is not None else list(range(len(starts))), rank)
    steps = steps if steps is not None else [1] * len(starts)
    if not len(starts) == len(ends) == len(axes) == len(steps):
        raise cx.fail("starts, ends, axes and steps must have the same length")
    begin: list[object] = [None] * rank
    end: list[object] = [None] * rank
    step: list[object] = [None] * rank
    like_ends: list[tuple[int, object]] = []  # (axis, symbolic length) applied with slice_like
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise cx.fail("slice step cannot be 0")
        dim = shape[a]
        concrete = not any(isinstance(v, Dim) for v in (s, e, dim))
        if concrete:
            b_, e_, st_ = slice(int(s), int(e), int(st)).indices(int(dim))
            if st_ < 0 and e_ < 0:
                e_ = None
            if st_ > 0 and e_ is not None and e_ < b_:
                e_ = b_
            begin[a], end[a], step[a] = b_, e_, st_
            continue
        ok_b, b_ = _symbolic_bound(s, dim, False, st)
        ok_e, e_ = _symbolic_bound(e, dim, True, st)
        if not ok_b:
            raise NeedsSpecialization(f"Slice start {s} on an axis of size {dim}")
        if not ok_e:
            if st != 1 or not isinstance(e, Dim) or (b_ is not None and b_ < 0):
                raise NeedsSpecialization(f"Slice end {e} on an axis of size {dim}")
            # x[..., start:e] with e a size of another tensor: cut to that length after slicing
            like_ends.append((a, e - (b_ or 0)))
        begin[a], end[a], step[a] = b_, e_, st
    out_shape = list(shape)
    for a in axes:
        if isinstance(shape[a], int) and begin[a] is not None and isinstance(step[a], int):
            out_shape[a] = len(range(*slice(begin[a], end[a], step[a]).indices(shape[a])))
    if _static_size(out_shape) == 0:
        return empty_tensor(cx, x, out_shape)
    empty_axes = [a for a in axes if out_shape[a] == 0]
    if empty_axes:  # symbolic sizes elsewhere: slice the rest, then repeat zero times
        for a in empty_axes:
            begin[a], end[a], step[a] = None, None, None
        out = _strided_slice(cx, x, begin, end, step, shape)
        return F.tile(out, reps=tuple(0 if a in empty_axes else 1 for a in range(rank)))
    out = _strided_slice(cx, x, begin, end, step, shape)
    for axis, length in like_ends:
        template = cx.shape_template([1] * axis + [length] + [1] * (rank - axis - 1))
        out = F.slice_like(out, template, axes=(axis,))
    return out


@converter("Slice", since=1)
def slice_v1(cx: NodeContext, x: object, *, starts: list[int] | None = None, ends: list[int] | None = None,
             axes: list[int] | None = None) -> object:
    return _slice(cx, x, list(starts or []), list(ends or []), axes, None)


@converter("Slice", since=10, static=("starts", "ends", "axes", "steps"))
@converter("Slice", since=11, static=("starts", "ends", "axes", "steps"))
@converter("Slice", since=13, static=("starts", "ends", "axes", "steps"))
def slice_(cx: NodeContext, x: object, starts: object, ends: object, axes: object = None,
           steps: object = None) -> object:
    return _slice(
        cx, x, cx.dims(starts), cx.dims(ends),
        list(cx.concrete(axes)) if axes is not None else None,
        list(cx.concrete(steps)) if steps is not None else None,
    )


@converter("ConstantOfShape", since=9, static=("shape",))
@converter("ConstantOfShape", since=20, static=("shape",))
@converter("ConstantOfShape", since=21, static=("shape",))
@converter("ConstantOfShape", since=23, static=("shape",))
def constant_of_shape(cx: NodeContext, shape: object, *, value: np.ndarray | None = None) -> object:
    F = cx.F
    fill = np.zeros((1,), np.float32) if value is None else np.asarray(value).reshape(-1)
    dtype = storage_dtype(fill.dtype) or "float32"
    dims = cx.dims(shape)
    cx.check_elements(dims)
    scalar = fill[0].item()
    if not any(isinstance(d, Dim) for d in dims):
        if cx.symbolic:
            return F.full(shape=tuple(dims), val=scalar, dtype=dtype)
        return F.full(shape=tuple(dims), val=scalar, dtype=dtype, ctx=cx.ctx)
    if dtype == "bool":  # MXNet's scalar operators take numbers only
        return F.Cast(cx.shape_template(dims) + float(scalar), dtype="bool")
    template = cx.shape_template(dims, dtype=dtype)
    return template + scalar if scalar else template


@converter("Expand", since=8, static=("shape",))
@converter("Expand", since=13, static=("shape",))
@bool_via_uint8
def expand(cx: NodeContext, x: object, shape: object) -> object:
    F = cx.F
    dims = cx.dims(shape)
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    in_shape = cx.in_shape(0)
    out_shape = broadcast_shape(in_shape, dims)
    cx.check_elements(out_shape)
    rank = len(out_shape)
    if not in_shape:
        x = np_reshape(F, x, (1,) * rank)
    else:
        for _ in range(rank - len(in_shape)):
            x = F.expand_dims(x, axis=0)
    if not any(isinstance(d, Dim) for d in out_shape):
        if _static_size(out_shape) == 0:
            return empty_tensor(cx, x, out_shape)
        return F.broadcast_to(x, shape=tuple(int(d) for d in out_shape))
    return F.broadcast_like(x, cx.shape_template(out_shape))


@converter("Tile", since=1, static=("repeats",))
@converter("Tile", since=6, static=("repeats",))
@converter("Tile", since=13, static=("repeats",))
@bool_via_uint8
def tile(cx: NodeContext, x: object, repeats: object, *extra: object) -> object:
    reps = cx.concrete(repeats)
    shape = cx.in_shape(0)
    if shape is not None:
        if len(reps) != len(shape):
            raise cx.fail(f"repeats has {len(reps)} entries for an input of rank {len(shape)}")
        cx.check_elements([d * r if isinstance(d, int) else d for d, r in zip(shape, reps)])
    if any(r < 0 for r in reps):
        raise cx.fail(f"repeats {reps} must be non-negative")
    if sum(r != 1 for r in reps) <= 2:
        return cx.F.tile(x, reps=reps)
    # MXNet's tile runs out of reduction axes with three repeated axes (it fails while running, e.g.
    # a (2, 2, 2) input tiled (2, 2, 2)): one axis at a time
    out = x
    for axis, r in enumerate(reps):
        if r != 1:
            out = cx.F.tile(out, reps=tuple(r if i == axis else 1 for i in range(len(reps))))
    return out if out is not x else cx.F.identity(x)


def _split_sizes(cx: NodeContext, dim: object, split: list[int] | None, count: int) -> list[int]:
    if split:
        return [int(s) for s in split]
    if count <= 0:
        raise cx.fail("Split needs a positive number of outputs")
    if not isinstance(dim, int):
        dim = cx.concrete([dim])[0]
    chunk = -(-dim // count)
    sizes = [chunk] * (count - 1)
    sizes.append(dim - chunk * (count - 1))
    if sizes[-1] < 0:
        raise cx.fail(f"cannot split an axis of size {dim} into {count} parts")
    return sizes


def _split(cx: NodeContext, x: object, axis: int, sizes: list[int]) -> list[object]:
    F = cx.F
    dim = cx.in_shape(0)[axis]
    if isinstance(dim, int) and sum(sizes) != dim:
        raise cx.fail(f"split sizes {sizes} do not add up to the axis size {dim}")
    outs = []
    offset = 0
    for s in sizes:
        if s > 0:
            outs.append(F.slice_axis(x, axis=axis, begin=offset, end=offset + s))
        else:  # zero-size piece: x repeated zero times along the axis
            outs.append(F.tile(x, reps=tuple(0 if a == axis else 1 for a in range(len(cx.in_shape(0))))))
        offset += s
    return outs


def _split_even(cx: NodeContext, x: object, axis: int, count: int, exact: bool) -> list[object]:
    """Equal parts; on a symbolic axis MXNet's split keeps the graph shape-generic when the
    parts must be equal (``exact``: opsets before 18 require divisibility)."""
    dim = cx.in_shape(0)[axis]
    if isinstance(dim, Dim) and exact:
        if count == 1:
            return [cx.F.identity(x)]
        return list(cx.F.split(x, num_outputs=count, axis=axis))
    return _split(cx, x, axis, _split_sizes(cx, dim, None, count))


@converter("Split", since=1)
@converter("Split", since=2)
@converter("Split", since=11)
@bool_via_uint8
def split_v2(cx: NodeContext, x: object, *extra: object, axis: int = 0, split: list[int] | None = None) -> list:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    if not split:
        return _split_even(cx, x, axis, cx.num_outputs, exact=True)
    return _split(cx, x, axis, [int(s) for s in split])


@converter("Split", since=13, static=("split",))
@bool_via_uint8
def split_v13(cx: NodeContext, x: object, split: object = None, *, axis: int = 0) -> list:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    if split is None or (not isinstance(split, SymArray) and np.asarray(split).size == 0):
        return _split_even(cx, x, axis, cx.num_outputs, exact=True)
    return _split(cx, x, axis, list(cx.concrete(split)))


@converter("Split", since=18, static=("split",))
@bool_via_uint8
def split(cx: NodeContext, x: object, split: object = None, *, axis: int = 0, num_outputs: int | None = None) -> list:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    if split is not None:
        if num_outputs is not None:
            raise cx.fail("Split takes either the 'split' input or the 'num_outputs' attribute, not both")
        return _split(cx, x, axis, list(cx.concrete(split)))
    count = num_outputs if num_outputs is not None else cx.num_outputs
    # uneven parts are allowed from opset 18 on (the last one is smaller)
    return _split_even(cx, x, axis, count, exact=False)


def _wrap_pad_axis(cx: NodeContext, x: object, axis: int, dim: object, before: int, after: int) -> object:
    F = cx.F
    if isinstance(dim, int):
        if dim == 0:
            raise cx.fail("wrap padding of an empty axis")
        index = np.arange(-before, dim + after) % dim
        return F.take(x, cx.const(index.astype(np.int64)), axis=axis)
    pieces = []
    if before:
        pieces.append(F.slice_axis(x, axis=axis, begin=-before, end=None))
    pieces.append(x)
    if after:
        pieces.append(F.slice_axis(x, axis=axis, begin=0, end=after))
    return F.concat(*pieces, dim=axis)


def _pad(cx: NodeContext, x: object, pads: list[int], mode: str, value: float, axes: list[int] | None) -> object:
    F = cx.F
    rank = cx.rank(0)
    axes = norm_axes(cx, axes, rank) if axes is not None else list(range(rank))
    n = len(axes)
    if len(pads) != 2 * n:
        raise cx.fail(f"pads has {len(pads)} entries, expected {2 * n}")
    if mode not in ("constant", "reflect", "edge", "wrap"):
        raise cx.fail(f"pad mode {mode!r} is not supported")
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (int(pads[i]), int(pads[i + n]))
    dims = list(cx.in_shape(0))
    # negative pads crop
    if any(b < 0 or e < 0 for b, e in pairs):
        dims = [d + min(b, 0) + min(e, 0) for d, (b, e) in zip(dims, pairs)]
        begin = tuple(-b if b < 0 else None for b, _ in pairs)
        end = tuple(e if e < 0 else None for _, e in pairs)
        if any(isinstance(d, int) and d < 0 for d in dims):
            raise cx.fail(f"negative pads {pads} crop more than the input of shape {tuple(cx.in_shape(0))} holds")
        if _static_size(dims) == 0:
            x = empty_tensor(cx, x, dims)
        else:
            x = F.slice(x, begin=begin, end=end)
        pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
    cx.check_elements([d + b + e if isinstance(d, int) else d for d, (b, e) in zip(dims, pairs)])
    if mode != "constant" and any(d == 0 and (b or e) for d, (b, e) in zip(dims, pairs)):
        # MXNet's reflect kernel divides by the axis length
        raise cx.fail(f"{mode} padding of an empty axis (input shape {tuple(dims)})")
    if mode == "wrap":
        for axis, (b, e) in enumerate(pairs):
            if b or e:
                x = _wrap_pad_axis(cx, x, axis, dims[axis], b, e)
        return x
    return pad_array(cx, x, pairs, mode, value)


@converter("Pad", since=1)
@converter("Pad", since=2)
def pad_v2(cx: NodeContext, x: object, *, mode: str = "constant", pads: list[int] | None = None,
           paddings: list[int] | None = None, value: float = 0.0) -> object:
    return _pad(cx, x, list(pads if pads is not None else paddings or []), mode, value, None)


@converter("Pad", since=11, static=("pads", "constant_value", "axes"))
@converter("Pad", since=13, static=("pads", "constant_value", "axes"))
@converter("Pad", since=18, static=("pads", "constant_value", "axes"))
@converter("Pad", since=19, static=("pads", "constant_value", "axes"))
@converter("Pad", since=21, static=("pads", "constant_value", "axes"))
@converter("Pad", since=23, static=("pads", "constant_value", "axes"))
def pad(cx: NodeContext, x: object, pads: object, constant_value: object = None, axes: object = None, *,
        mode: str = "constant") -> object:
    value = 0.0 if constant_value is None or np.asarray(constant_value).size == 0 else \
        float(np.asarray(constant_value).reshape(-1)[0])
    return _pad(cx, x, list(cx.concrete(pads)), mode, value,
                list(cx.concrete(axes)) if axes is not None else None)


@converter("Dropout", since=1)
@converter("Dropout", since=6)
@converter("Dropout", since=7)
@converter("Dropout", since=10)
def dropout_v10(cx: NodeContext, x: object, *, ratio: float = 0.5, is_test: int = 0,
                consumed_inputs: list[int] | None = None) -> object:
    return _dropout(cx, x, ratio)


@converter("Dropout", since=12, static=("ratio", "training_mode"), deterministic=False)
@converter("Dropout", since=13, static=("ratio", "training_mode"), deterministic=False)
@converter("Dropout", since=22, static=("ratio", "training_mode"), deterministic=False)
def dropout(cx: NodeContext, x: object, ratio: object = None, training_mode: object = None, *,
            seed: int | None = None) -> object:
    p = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
    if not 0.0 <= p <= 1.0:
        raise cx.fail(f"dropout ratio {p} is outside [0, 1]")
    if training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0]):
        return _training_dropout(cx, x, p)
    return _dropout(cx, x, p)


def _training_dropout(cx: NodeContext, x: object, ratio: float) -> object:
    """training_mode=True: drop with probability ``ratio`` and scale by 1/(1-ratio), every call."""
    F = cx.F
    if ratio == 0.0:
        y = F.identity(x)
        keep = F.ones_like(x)
    else:
        keep = F.random.uniform_like(F.Cast(x, dtype="float32")) >= ratio
        scale = 0.0 if ratio == 1.0 else 1.0 / (1.0 - ratio)
        y = F.broadcast_mul(x, F.Cast(keep * scale, dtype=cx.in_storage(0) or "float32"))
    if cx.output_used(1):
        return y, F.Cast(keep, dtype=cx.out_storage(1) or "bool")
    return y


def _dropout(cx: NodeContext, x: object, ratio: float) -> object:
    F = cx.F
    # Gluon semantics: active only under autograd.record(train_mode=True)
    y = F.Dropout(x, p=ratio) if ratio > 0 else F.identity(x)
    if cx.output_used(1):
        return y, F.Cast(F.ones_like(x), dtype=cx.out_storage(1) or "bool")
    return y


# --- block rearrangement -------------------------------------------------------------------


def _check_rank4(cx: NodeContext) -> None:
    if cx.rank(0) != 4:
        raise cx.fail(f"{cx.op_type} takes a 4-D (N, C, H, W) input, got rank {cx.rank(0)}")


@converter("DepthToSpace", since=1)
@converter("DepthToSpace", since=11)
@converter("DepthToSpace", since=13)
@bool_via_uint8
def depth_to_space(cx: NodeContext, x: object, *, blocksize: int, mode: str = "DCR") -> object:
    _check_rank4(cx)
    F = cx.F
    b = int(blocksize)
    if b <= 0:
        raise cx.fail(f"blocksize must be positive, got {b}")
    channels = cx.in_shape(0)[1]
    if isinstance(channels, int) and channels % (b * b):
        raise cx.fail(f"{channels} channels are not divisible by blocksize^2 = {b * b}")
    if mode == "DCR":
        return F.depth_to_space(x, block_size=b)
    if mode != "CRD":
        raise cx.fail(f"unknown mode {mode!r} (expected 'DCR' or 'CRD')")
    y = F.reshape(x, shape=(0, -4, -1, b * b, -2))  # N, C', b*b, H, W
    y = F.reshape(y, shape=(0, 0, -4, b, b, -2))  # N, C', b, b, H, W
    y = F.transpose(y, axes=(0, 1, 4, 2, 5, 3))  # N, C', H, b, W, b
    return F.reshape(y, shape=(0, 0, -3, -3))


@converter("SpaceToDepth", since=1)
@converter("SpaceToDepth", since=13)
@bool_via_uint8
def space_to_depth(cx: NodeContext, x: object, *, blocksize: int, mode: str = "DCR") -> object:
    _check_rank4(cx)
    F = cx.F
    b = int(blocksize)
    if b <= 0:
        raise cx.fail(f"blocksize must be positive, got {b}")
    for d in cx.in_shape(0)[2:]:
        if isinstance(d, int) and d % b:
            raise cx.fail(f"spatial size {d} is not divisible by blocksize {b}")
    if mode == "DCR":
        return F.space_to_depth(x, block_size=b)
    if mode != "CRD":
        raise cx.fail(f"unknown mode {mode!r} (expected 'DCR' or 'CRD')")
    y = F.reshape(x, shape=(0, 0, -4, -1, b, -4, -1, b))  # N, C, H', b, W', b
    y = F.transpose(y, axes=(0, 1, 3, 5, 2, 4))  # N, C, b, b, H', W'
    y = F.reshape(y, shape=(0, -3, -2))  # N, C*b, b, H', W'
    return F.reshape(y, shape=(0, -3, -2))


# --- triangular and identity matrices -----------------------------------------------------------


def _diagonal_offsets(cx: NodeContext, like: object, rows: object, cols: object, rank: int) -> object:
    """(rows, cols) float tensor of ``col - row`` for the last two axes of ``like``."""
    F = cx.F
    if isinstance(rows, int) and isinstance(cols, int):
        offsets = np.arange(cols)[None, :] - np.arange(rows)[:, None]
        return cx.const(offsets.astype(np.float32))
    row_index = F.reshape(F.contrib.arange_like(like, axis=rank - 2), shape=(-1, 1))
    col_index = F.reshape(F.contrib.arange_like(like, axis=rank - 1), shape=(1, -1))
    return F.broadcast_sub(col_index, row_index)


@converter("Trilu", since=14, static=("k",))
def trilu(cx: NodeContext, x: object, k: object = None, *, upper: int = 1) -> object:
    rank = cx.rank(0)
    if rank < 2:
        raise cx.fail(f"Trilu needs a tensor of rank >= 2, got rank {rank}")
    diagonal = 0 if k is None else int(cx.concrete(k)[0])
    shape = cx.in_shape(0)
    rows, cols = shape[-2], shape[-1]
    if isinstance(rows, int) and isinstance(cols, int):
        ones = np.ones((rows, cols), bool)
        mask = cx.const(np.triu(ones, diagonal) if upper else np.tril(ones, diagonal))
    else:
        offsets = _diagonal_offsets(cx, x, rows, cols, rank)
        mask = offsets >= diagonal if upper else offsets <= diagonal
        mask = cx.F.Cast(mask, dtype="bool")
    return npi(cx.F, "where_rscalar", mask, x, scalar=0.0)


@converter("EyeLike", since=9)
@converter("EyeLike", since=22)
def eye_like(cx: NodeContext, x: object, *, dtype: int | None = None, k: int = 0) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None or len(shape) != 2:
        raise cx.fail("EyeLike takes a 2-D input")
    out_dtype = cx.out_storage(0) or cx.in_storage(0)
    if out_dtype is None:
        raise cx.fail("the output type of EyeLike cannot be held by MXNet")
    rows, cols = shape
    if isinstance(rows, int) and isinstance(cols, int):
        eye = np.eye(rows, cols, k=k, dtype=np.float32)
        return cx.const(eye.astype(out_dtype))
    ones = cx.F.Cast(_diagonal_offsets(cx, x, rows, cols, 2) == k, dtype="float32")
    return F.Cast(ones, dtype=out_dtype)


# --- Range ----------------------------------------------------------------------------------------


def _scalar_value(value: object) -> object:
    """int/float or Dim held by a 0-d (or 1-element) static input."""
    if isinstance(value, SymArray):
        v = value.values.reshape(-1)[0]
        return v
    return np.asarray(value).reshape(-1)[0].item()


@converter("Range", since=11, static=("start", "limit", "delta"))
@converter("Range", since=27, static=("start", "limit", "delta"))
def range_(cx: NodeContext, start: object, limit: object, delta: object, *, stash_type: int = 1) -> object:
    F = cx.F
    dtype = cx.in_dtype(0) or np.dtype(np.float32)
    storage = storage_dtype(dtype) or "float32"
    first, stop, step = (_scalar_value(v) for v in (start, limit, delta))
    if isinstance(step, Dim):
        raise NeedsSpecialization("Range with a symbolic delta")
    if step == 0:
        raise cx.fail("Range delta must not be 0")
    if not isinstance(first, Dim) and not isinstance(stop, Dim):
        if dtype.kind == "f":
            compute = np.float64
            if cx.opset >= 27 and dtype.itemsize < 4 or dtype.name == "bfloat16":
                compute = np.float32 if stash_type == 1 else np.float64
            first, stop, step = compute(first), compute(stop), compute(step)
            count = max(int(np.ceil((stop - first) / step)), 0)
            cx.check_elements([count])
            values = (first + np.arange(count, dtype=compute) * step).astype(dtype)
        else:
            count = max(-(-(int(stop) - int(first)) // int(step)), 0)
            cx.check_elements([count])
            values = int(first) + np.arange(count, dtype=np.int64) * int(step)
        values = np.asarray(values).astype(storage)
        if cx.symbolic:
            return cx.const(values)
        return F.array(values, ctx=cx.ctx, dtype=storage)
    # symbolic bounds (e.g. positions 0..seq-1 while tracing)
    from ..symdim import ceil as dim_ceil  # noqa: PLC0415

    count = dim_ceil((stop - first) / step)
    index = F.contrib.arange_like(cx.length_tensor(count), axis=0)
    index = F.Cast(index, dtype=storage)
    offsets = index * step if step != 1 else index
    if isinstance(first, Dim):
        base = F.Cast(F.reshape(cx.static_tensor(start), shape=(1,)), dtype=storage)
    else:
        base = cx.const(np.array([first], dtype=storage))
    return F.broadcast_add(offsets, base)


# --- linear algebra -----------------------------------------------------------------------------


@converter("Einsum", since=12)
@converter("Einsum", since=28)
def einsum(cx: NodeContext, *inputs: object, equation: str) -> object:
    subscripts = equation.replace(" ", "")
    storage = cx.out_storage(0)
    operands = list(inputs)
    if storage is not None and not storage.startswith("float"):
        # MXNet's einsum accumulates integers fine, but refuses int8/uint8 mixes: use int64
        operands = [cx.F.Cast(v, dtype="int64") for v in operands]
    out = npi(cx.F, "einsum", *operands, subscripts=subscripts, optimize=0)
    if storage is not None and not storage.startswith("float") and storage != "int64":
        out = cx.F.Cast(out, dtype=storage)
    return out


@converter("Det", since=11)
@converter("Det", since=22)
def det(cx: NodeContext, x: object) -> object:
    F = cx.F
    storage = cx.in_storage(0) or "float32"
    if storage not in ("float32", "float64"):
        return F.Cast(npi(F, "det", F.Cast(x, dtype="float32")), dtype=storage)
    return npi(F, "det", x)


# --- sequences -----------------------------------------------------------------------------------


@converter("ReverseSequence", since=10)
@converter("ReverseSequence", since=28)
def reverse_sequence(cx: NodeContext, x: object, sequence_lens: object, *, batch_axis: int = 1,
                     time_axis: int = 0) -> object:
    F = cx.F
    rank = cx.rank(0)
    if rank < 2:
        raise cx.fail("ReverseSequence needs a tensor of rank >= 2")
    pair = (norm_axis(cx, batch_axis, rank), norm_axis(cx, time_axis, rank))
    if pair not in ((1, 0), (0, 1)):
        raise cx.fail(f"batch_axis/time_axis must be (1, 0) or (0, 1), got ({batch_axis}, {time_axis})")
    storage = cx.in_storage(0)
    data = x
    if storage == "bool":
        data = F.Cast(x, dtype="uint8")
    swap = pair == (0, 1)
    axes = (1, 0) + tuple(range(2, rank))
    if swap:
        data = F.transpose(data, axes=axes)
    # lengths outside [0, time] are invalid, and MXNet's kernel would write out of bounds with them
    time_length = F.Cast(F.slice_axis(F.shape_array(data), axis=0, begin=0, end=1), dtype="float32")
    lengths = F.broadcast_minimum(F.relu(F.Cast(sequence_lens, dtype="float32")), time_length)
    out = F.SequenceReverse(data, lengths, use_sequence_length=True, axis=0)
    if swap:
        out = F.transpose(out, axes=axes)
    return F.Cast(out, dtype="bool") if storage == "bool" else out


# --- crop / pad to a size ----------------------------------------------------------------------------


@converter("CenterCropPad", since=18, static=("shape",))
@bool_via_uint8
def center_crop_pad(cx: NodeContext, x: object, shape: object, *, axes: list[int] | None = None) -> object:
    F = cx.F
    cx.rank(0)  # unknown: fails, or asks for a specialized trace
    in_shape = cx.in_shape(0)
    rank = len(in_shape)
    axes = norm_axes(cx, axes, rank) if axes is not None else list(range(rank))
    target = cx.dims(shape)
    if len(target) != len(axes):
        raise cx.fail(f"shape has {len(target)} entries for {len(axes)} axes")
    begin: list[object] = [None] * rank
    end: list[object] = [None] * rank
    pads = [(0, 0)] * rank
    for axis, size in zip(axes, target):
        dim = in_shape[axis]
        if isinstance(size, Dim) or isinstance(dim, Dim):
            if isinstance(size, Dim) and isinstance(dim, Dim) and _constant_offset(size, dim) == 0:
                continue
            size, dim = cx.concrete(SymArray(np.array([size, dim], dtype=object), np.int64))
        if size < 0:
            raise cx.fail(f"target size {size} is negative")
        if size < dim:
            offset = (dim - size) // 2
            begin[axis], end[axis] = offset, offset + size
        elif size > dim:
            extra = size - dim
            pads[axis] = (extra // 2, extra - extra // 2)
    out = x
    if any(b is not None for b in begin):
        out = F.slice(out, begin=tuple(begin), end=tuple(end))
    return pad_array(cx, out, pads, "constant", 0.0) if any(p != (0, 0) for p in pads) else F.identity(out)


# --- Col2Im -------------------------------------------------------------------------------------


@converter("Col2Im", since=18, static=("image_shape", "block_shape"))
def col2im(cx: NodeContext, x: object, image_shape: object, block_shape: object, *,
           dilations: list[int] | None = None, pads: list[int] | None = None,
           strides: list[int] | None = None) -> object:
    """Scatter-add of sliding blocks: a grouped transposed convolution with one-hot kernels."""
    F = cx.F
    image = cx.concrete(image_shape)
    kernel = cx.concrete(block_shape)
    n = len(image)
    if len(kernel) != n or not 1 <= n <= 3:
        raise cx.fail(f"Col2Im supports 1 to 3 spatial dimensions with matching block_shape, got {image} / {kernel}")
    dilations = list(dilations or [1] * n)
    strides = list(strides or [1] * n)
    pads = list(pads or [0] * (2 * n))
    if min(kernel + tuple(dilations) + tuple(strides)) < 1 or min(image) < 1 or min(pads) < 0 or \
            len(dilations) != n or len(strides) != n or len(pads) != 2 * n:
        raise cx.fail(f"invalid Col2Im geometry: image {image}, block {kernel}, dilations {dilations}, "
                      f"strides {strides}, pads {pads}")
    shape = cx.in_shape(0)
    if shape is None or len(shape) != 3:
        raise cx.fail("Col2Im takes a 3-D input (N, C * prod(block_shape), L)")
    block_size = int(np.prod(kernel))
    col_channels = shape[1]
    if isinstance(col_channels, Dim):
        col_channels = cx.concrete(SymArray(np.array([col_channels], dtype=object), np.int64))[0]
    if col_channels % block_size:
        raise cx.fail(f"input channels {col_channels} are not divisible by prod(block_shape) = {block_size}")
    channels = col_channels // block_size
    padded = [image[i] + pads[i] + pads[i + n] for i in range(n)]
    blocks = [(padded[i] - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1 for i in range(n)]
    if any(b <= 0 for b in blocks):
        raise cx.fail(f"no sliding block fits: image {image}, block {kernel}, pads {pads}")
    if isinstance(shape[2], int) and shape[2] != int(np.prod(blocks)):
        raise cx.fail(f"input has {shape[2]} blocks, the geometry gives {int(np.prod(blocks))}")
    adjust = [(padded[i] - dilations[i] * (kernel[i] - 1) - 1) % strides[i] for i in range(n)]
    weight = np.zeros((channels * block_size, 1, *kernel), dtype=np.float32)
    one_hot = np.eye(block_size, dtype=np.float32).reshape(block_size, *kernel)
    for c in range(channels):
        weight[c * block_size:(c + 1) * block_size, 0] = one_hot
    storage = cx.in_storage(0) or "float32"
    data = F.reshape(x, shape=(0, 0) + tuple(blocks))
    if storage != "float32":
        data = F.Cast(data, dtype="float32")
    out = F.Deconvolution(
        data, cx.const(weight), kernel=tuple(kernel), stride=tuple(strides), dilate=tuple(dilations),
        pad=(0,) * n, adj=tuple(adjust), num_filter=channels, num_group=channels, no_bias=True,
    )
    if any(pads):
        begin = (None, None) + tuple(pads[:n])
        end = (None, None) + tuple(pads[i] + image[i] for i in range(n))
        out = F.slice(out, begin=begin, end=end)
    return F.Cast(out, dtype=storage) if storage != "float32" else out
