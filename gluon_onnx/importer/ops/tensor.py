"""Shape and layout manipulation: Reshape, Flatten, Transpose, Concat, Squeeze, Unsqueeze,
Identity, Cast, Shape, Gather, Slice, ConstantOfShape, Expand, Pad, Split, Tile, Dropout."""

from __future__ import annotations

import numpy as np

from ...dtypes import storage_dtype
from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..registry import converter
from ..symdim import Dim
from ._helpers import broadcast_shape, norm_axes, norm_axis, pad_array

_INT64_MAX = np.iinfo(np.int64).max


# --- reshape family -----------------------------------------------------------------------


def reshape_to(cx: NodeContext, x: object, dims: list, allowzero: int = 0) -> object:
    """Reshape ``x`` to ONNX target ``dims`` (ints incl. 0/-1 codes, and symbolic Dims)."""
    F = cx.F
    if not any(isinstance(d, Dim) for d in dims):
        if allowzero and 0 in dims:
            return np_reshape(F, x, dims)
        if not dims:
            return np_reshape(F, x, ())
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
    if -1 in target:
        raise NeedsSpecialization("Reshape with -1 and several symbolic sizes")
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
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.fail("the rank of the input is unknown")
    rank = len(shape)
    if not -rank <= axis <= rank:
        raise cx.fail(f"axis {axis} is out of range for a tensor of rank {rank}")
    axis = axis + rank if axis < 0 else axis
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
def transpose(cx: NodeContext, x: object, *, perm: list[int] | None = None) -> object:
    rank = cx.rank(0)
    axes = tuple(perm) if perm else tuple(range(rank - 1, -1, -1))
    if axes == tuple(range(rank)):
        return cx.F.identity(x)
    return cx.F.transpose(x, axes=axes)


@converter("Concat", since=1)
@converter("Concat", since=4)
@converter("Concat", since=11)
@converter("Concat", since=13)
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
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.fail("the rank of the input is unknown")
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


@converter("Cast", since=1)
@converter("Cast", since=6)
@converter("Cast", since=9)
@converter("Cast", since=13)
@converter("Cast", since=19)
@converter("Cast", since=21)
@converter("Cast", since=23)
def cast(cx: NodeContext, x: object, *, to: int = 1, saturate: int = 1, round_mode: str = "up") -> object:
    target = cx.out_storage(0)
    if target is None:
        raise cx.fail(f"cannot cast to ONNX type {to}: MXNet has no such tensor type")
    if cx.in_storage(0) == target:
        return cx.F.identity(x)
    return cx.F.Cast(x, dtype=target)


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


@converter("Gather", since=1)
@converter("Gather", since=11)
@converter("Gather", since=13)
def gather(cx: NodeContext, data: object, indices: object, *, axis: int = 0) -> object:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    return cx.F.take(data, indices, axis=axis, mode="wrap")


def _slice(cx: NodeContext, x: object, starts: list[int], ends: list[int], axes: list[int] | None,
           steps: list[int] | None) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.fail("the rank of the input is unknown")
    rank = len(shape)
    axes = norm_axes(cx, axes if axes is not None else list(range(len(starts))), rank)
    steps = steps if steps is not None else [1] * len(starts)
    begin: list[object] = [None] * rank
    end: list[object] = [None] * rank
    step: list[object] = [None] * rank
    for s, e, a, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise cx.fail("slice step cannot be 0")
        dim = shape[a]
        if isinstance(dim, int):
            b_, e_, st_ = slice(s, e, st).indices(dim)
            if st_ < 0 and e_ < 0:
                e_ = None
            begin[a], end[a], step[a] = b_, e_, st_
            if st_ > 0 and e_ is not None and e_ < b_:
                end[a] = b_
        else:
            big = abs(e) >= 2**31
            if st > 0:
                begin[a] = s
                end[a] = None if big else e
            else:
                begin[a] = None if s >= 2**31 else s
                end[a] = None if big else e
            step[a] = st
    return F.slice(x, begin=tuple(begin), end=tuple(end), step=tuple(step))


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
        cx, x, list(cx.concrete(starts)), list(cx.concrete(ends)),
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
    template = cx.shape_template(dims, dtype=dtype)
    return template + scalar if scalar else template


@converter("Expand", since=8, static=("shape",))
@converter("Expand", since=13, static=("shape",))
def expand(cx: NodeContext, x: object, shape: object) -> object:
    F = cx.F
    dims = cx.dims(shape)
    in_shape = cx.in_shape(0)
    if in_shape is None:
        raise cx.fail("the rank of the input is unknown")
    out_shape = broadcast_shape(in_shape, dims)
    cx.check_elements(out_shape)
    rank = len(out_shape)
    if len(in_shape) < rank:
        x = F.reshape(x, shape=(1,) * (rank - len(in_shape)) + tuple(0 for _ in in_shape)) if in_shape else \
            np_reshape(F, x, (1,) * rank)
    if not any(isinstance(d, Dim) for d in out_shape):
        return F.broadcast_to(x, shape=tuple(int(d) for d in out_shape))
    return F.broadcast_like(x, cx.shape_template(out_shape))


@converter("Tile", since=1, static=("repeats",))
@converter("Tile", since=6, static=("repeats",))
@converter("Tile", since=13, static=("repeats",))
def tile(cx: NodeContext, x: object, repeats: object, *extra: object) -> object:
    reps = cx.concrete(repeats)
    shape = cx.in_shape(0)
    if shape is not None:
        cx.check_elements([d * r if isinstance(d, int) else d for d, r in zip(shape, reps)])
    return cx.F.tile(x, reps=reps)


def _split_sizes(cx: NodeContext, dim: object, split: list[int] | None, count: int) -> list[int]:
    if split:
        return [int(s) for s in split]
    if not isinstance(dim, int):
        dim = cx.concrete([dim])[0]
    chunk = -(-dim // count)
    sizes = [chunk] * (count - 1)
    sizes.append(dim - chunk * (count - 1))
    return sizes


def _split(cx: NodeContext, x: object, axis: int, sizes: list[int]) -> list[object]:
    F = cx.F
    outs = []
    offset = 0
    for s in sizes:
        if s > 0:
            outs.append(F.slice_axis(x, axis=axis, begin=offset, end=offset + s))
        else:  # zero-size piece: slice_axis refuses begin == end
            edge = tuple([None] * axis + [offset])
            outs.append(npi(F, "slice", x, begin=edge, end=edge, step=tuple([None] * axis + [1])))
        offset += s
    return outs


@converter("Split", since=1)
@converter("Split", since=2)
@converter("Split", since=11)
def split_v2(cx: NodeContext, x: object, *extra: object, axis: int = 0, split: list[int] | None = None) -> list:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    sizes = _split_sizes(cx, cx.in_shape(0)[axis], split, cx.num_outputs)
    return _split(cx, x, axis, sizes)


@converter("Split", since=13, static=("split",))
@converter("Split", since=18, static=("split",))
def split(cx: NodeContext, x: object, split: object = None, *, axis: int = 0, num_outputs: int | None = None) -> list:
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    sizes = list(cx.concrete(split)) if split is not None else None
    count = num_outputs or cx.num_outputs
    sizes = _split_sizes(cx, cx.in_shape(0)[axis], sizes, count)
    return _split(cx, x, axis, sizes)


def _pad(cx: NodeContext, x: object, pads: list[int], mode: str, value: float, axes: list[int] | None) -> object:
    F = cx.F
    rank = cx.rank(0)
    axes = norm_axes(cx, axes, rank) if axes is not None else list(range(rank))
    n = len(axes)
    if len(pads) != 2 * n:
        raise cx.fail(f"pads has {len(pads)} entries, expected {2 * n}")
    pairs = [(0, 0)] * rank
    for i, a in enumerate(axes):
        pairs[a] = (int(pads[i]), int(pads[i + n]))
    # negative pads crop
    if any(b < 0 or e < 0 for b, e in pairs):
        begin = tuple(-b if b < 0 else None for b, _ in pairs)
        end = tuple(e if e < 0 else None for _, e in pairs)
        x = F.slice(x, begin=begin, end=end)
        pairs = [(max(b, 0), max(e, 0)) for b, e in pairs]
    np_mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}.get(mode)
    if np_mode is None:
        raise cx.fail(f"pad mode {mode!r} is not supported")
    return pad_array(cx, x, pairs, np_mode, value)


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


@converter("Dropout", since=12, static=("ratio", "training_mode"))
@converter("Dropout", since=13, static=("ratio", "training_mode"))
@converter("Dropout", since=22, static=("ratio", "training_mode"))
def dropout(cx: NodeContext, x: object, ratio: object = None, training_mode: object = None, *,
            seed: int | None = None) -> object:
    if training_mode is not None and bool(np.asarray(training_mode).reshape(-1)[0]):
        raise cx.fail("Dropout with training_mode=True in the graph is not supported (random masks)")
    p = 0.5 if ratio is None else float(np.asarray(ratio).reshape(-1)[0])
    return _dropout(cx, x, p)


def _dropout(cx: NodeContext, x: object, ratio: float) -> object:
    F = cx.F
    # Gluon semantics: active only under autograd.record(train_mode=True)
    y = F.Dropout(x, p=ratio) if ratio > 0 else F.identity(x)
    if cx.output_used(1):
        return y, F.ones_like(x).astype("bool") if not cx.symbolic else F.Cast(F.ones_like(x), dtype="bool")
    return y
