"""Shape manipulation, indexing, creation and identity-like operators."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..convert import INT64_MAX, INT64_MIN, NodeTranslator
from ..registry import translation


# --- identity --------------------------------------------------------------------------------
@translation(["_copy", "identity", "BlockGrad", "stop_gradient", "Dropout", "make_loss", "MakeLoss",
              "cast_storage", "_CrossDeviceCopy", "_npi_copy", "_npx_dropout", "_npx_stop_gradient"])
def identity(tx: NodeTranslator) -> str:
    # Inference graph: these are no-ops; the entry simply aliases the input tensor.
    return tx.input(0)


@translation(["Cast", "amp_cast", "_npi_cast", "_npx_cast"])
def cast(tx: NodeTranslator) -> str:
    dtype = tx.out_dtype(0)
    if dtype == tx.in_dtype(0):
        return tx.input(0)
    return tx.cast(tx.input(0), dtype)


@translation("amp_multicast")
def amp_multicast(tx: NodeTranslator) -> list[str]:
    outputs = []
    for i in range(tx.num_inputs):
        x = tx.input(i)
        outputs.append(x if tx.out_dtype(i) == tx.in_dtype(i) else tx.cast(x, tx.out_dtype(i)))
    return outputs


# --- reshape -------------------------------------------------------------------------------------
@dataclass
class _Dim:
    """One output dimension of MXNet's Reshape: const * prod(input axes) / divisor, or inferred."""

    const: int = 1
    axes: list[int] = field(default_factory=list)
    divisor: int = 1
    inferred: bool = False


def _mx_reshape(rank: int, codes: tuple[int, ...], reverse: bool) -> list[_Dim]:
    """MXNet's reshape rules (0 copy, -1 infer, -2 copy rest, -3 merge two, -4 split one)."""
    axes = list(range(rank))
    codes = list(codes)
    if reverse:
        axes.reverse()
        codes.reverse()
    out: list[_Dim] = []
    src = 0
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            out.append(_Dim(axes=[axes[src]]))
            src += 1
        elif code == -1:
            out.append(_Dim(inferred=True))
            src += 1
        elif code == -2:
            out.extend(_Dim(axes=[a]) for a in axes[src:])
            src = rank
        elif code == -3:
            out.append(_Dim(axes=[axes[src], axes[src + 1]]))
            src += 2
        elif code == -4:
            first, second = codes[i + 1], codes[i + 2]
            source = axes[src]
            src += 1
            i += 2
            if first == -1:
                out.extend([_Dim(axes=[source], divisor=second), _Dim(const=second)])
            elif second == -1:
                out.extend([_Dim(const=first), _Dim(axes=[source], divisor=first)])
            else:
                out.extend([_Dim(const=first), _Dim(const=second)])
        else:
            out.append(_Dim(const=code))
            src += 1
        i += 1
    if reverse:
        out.reverse()
    return out


def _dim_tensor(tx: NodeTranslator, x: str, dim: _Dim) -> str:
    value = None
    for axis in dim.axes:
        part = tx.dim_of(x, axis)
        value = part if value is None else tx.node("Mul", [value, part])
    if value is None:
        return tx.ints([dim.const], "dim")
    if dim.const != 1:
        value = tx.node("Mul", [value, tx.ints([dim.const], "factor")])
    if dim.divisor != 1:
        value = tx.node("Div", [value, tx.ints([dim.divisor], "divisor")])
    return value


def _check_fixed_target(tx: NodeTranslator) -> None:
    if any(tx.in_dynamic(0)) and not any(tx.out_dynamic(0)):
        raise tx.fail(
            f"reshapes an input with dynamic dimensions to the fixed shape {tx.out_shape(0)}: the network only "
            "works for the sample's sizes on those axes; remove them from dynamic_axes"
        )


@translation(["Reshape", "reshape"])
def reshape(tx: NodeTranslator) -> str:
    x = tx.input(0)
    _check_fixed_target(tx)
    out_dynamic = tx.out_dynamic(0)
    if sum(out_dynamic) <= 1:
        return tx.node("Reshape", [x, tx.target_shape(0)])
    codes = tx.attrs.ints("shape", ()) or ()
    dims = _mx_reshape(tx.in_rank(0), codes, tx.attrs.bool("reverse", False))
    if len(dims) != tx.out_rank(0):
        raise tx.fail(f"cannot follow reshape codes {codes} over dynamic dimensions")
    out_shape = tx.out_shape(0)
    parts: list[object] = []
    for k, (dim, dynamic) in enumerate(zip(dims, out_dynamic)):
        if not dynamic:
            parts.append(out_shape[k])
        elif dim.inferred:
            parts.append(-1)
        else:
            parts.append(_dim_tensor(tx, x, dim))
    return tx.node("Reshape", [x, tx.shape_tensor(parts)])


@translation(["_np_reshape", "_npx_reshape"])
def np_reshape(tx: NodeTranslator) -> str:
    x = tx.input(0)
    _check_fixed_target(tx)
    if sum(tx.out_dynamic(0)) <= 1:
        return tx.node("Reshape", [x, tx.target_shape(0)])
    raise tx.fail("numpy reshape with several dynamic dimensions is not supported")


@translation("reshape_like")
def reshape_like(tx: NodeTranslator) -> str:
    if any(tx.attrs.get(k) is not None for k in ("lhs_begin", "lhs_end", "rhs_begin", "rhs_end")):
        if sum(tx.out_dynamic(0)) > 1:
            raise tx.fail("reshape_like with partial ranges over several dynamic dimensions is not supported")
        return tx.node("Reshape", [tx.input(0), tx.target_shape(0)])
    return tx.node("Reshape", [tx.input(0), tx.shape_of(tx.input(1))])


@translation(["Flatten", "flatten"])
def flatten(tx: NodeTranslator) -> str:
    return tx.node("Flatten", [tx.input(0)], axis=1)


@translation(["transpose", "_npi_transpose", "_np_transpose"])
def transpose(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    axes = tx.attrs.ints("axes", ()) or ()
    perm = [a % rank for a in axes] if axes else list(range(rank))[::-1]
    return tx.node("Transpose", [tx.input(0)], perm=perm)


@translation(["SwapAxis", "swapaxes", "_npi_swapaxes"])
def swap_axis(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    first = tx.attrs.int("dim1", tx.attrs.int("axis1", 0)) % rank
    second = tx.attrs.int("dim2", tx.attrs.int("axis2", 0)) % rank
    perm = list(range(rank))
    perm[first], perm[second] = perm[second], perm[first]
    return tx.node("Transpose", [tx.input(0)], perm=perm)


@translation(["expand_dims", "_npi_expand_dims"])
def expand_dims(tx: NodeTranslator) -> str:
    axis = tx.attrs.int("axis") % (tx.in_rank(0) + 1)
    return tx.unsqueeze(tx.input(0), [axis])


@translation(["squeeze", "_npi_squeeze", "_np_squeeze"])
def squeeze(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    axes = tx.attrs.ints("axis")
    if axes is None:
        shape, dynamic = tx.in_shape(0), tx.in_dynamic(0)
        axes = tuple(k for k in range(rank) if shape[k] == 1 and not dynamic[k])
    if not axes:
        return tx.input(0)
    return tx.squeeze(tx.input(0), sorted(a % rank for a in axes))


# --- joining and splitting -----------------------------------------------------------------------
@translation(["Concat", "concat", "_rnn_param_concat", "_npi_concatenate"])
def concat(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    default_axis = 0 if tx.op == "_npi_concatenate" else 1
    axis = tx.attrs.int("dim", tx.attrs.int("axis", default_axis)) % rank
    inputs = tx.inputs()
    if len(inputs) == 1:
        return inputs[0]
    return tx.node("Concat", inputs, axis=axis)


@translation(["stack", "_npi_stack"])
def stack(tx: NodeTranslator) -> str:
    axis = tx.attrs.int("axis", 0) % (tx.in_rank(0) + 1)
    parts = [tx.unsqueeze(x, [axis]) for x in tx.inputs()]
    return tx.concat(parts, axis)


def _split_outputs(tx: NodeTranslator, pieces: list[str], axis: int) -> list[str]:
    if tx.attrs.bool("squeeze_axis", False):
        return [tx.squeeze(p, [axis]) for p in pieces]
    return pieces


@translation(["SliceChannel", "split"])
def slice_channel(tx: NodeTranslator) -> list[str]:
    count = tx.attrs.int("num_outputs")
    axis = tx.attrs.int("axis", 1) % tx.in_rank(0)
    if count == 1:
        return _split_outputs(tx, [tx.input(0)], axis)
    return _split_outputs(tx, tx.node("Split", [tx.input(0)], count, axis=axis), axis)


@translation(["SliceChannel", "split"], since=18)
def slice_channel_18(tx: NodeTranslator) -> list[str]:
    count = tx.attrs.int("num_outputs")
    axis = tx.attrs.int("axis", 1) % tx.in_rank(0)
    if count == 1:
        return _split_outputs(tx, [tx.input(0)], axis)
    return _split_outputs(tx, tx.node("Split", [tx.input(0)], count, axis=axis, num_outputs=count), axis)


@translation("_split_v2")
def split_v2(tx: NodeTranslator) -> list[str]:
    x = tx.input(0)
    rank = tx.in_rank(0)
    axis = tx.attrs.int("axis", 0) % rank
    sections = tx.attrs.int("sections", 0)
    if sections > 0:
        if tx.in_dynamic(0)[axis]:
            raise tx.fail("splitting a dynamic axis into sections is not supported")
        size = tx.in_shape(0)[axis] // sections
        bounds = [(k * size, (k + 1) * size) for k in range(sections)]
    else:
        indices = list(tx.attrs.ints("indices", ()) or ())
        ends = indices[1:] + [INT64_MAX]
        bounds = list(zip(indices, ends))
    pieces = [tx.slice(x, [b], [e], [axis]) for b, e in bounds]
    return _split_outputs(tx, pieces, axis)


# --- slicing -----------------------------------------------------------------------------------------
@translation(["slice", "crop", "_npi_slice"])
def slice_(tx: NodeTranslator) -> str:
    begin = tx.attrs.ints("begin", ()) or ()
    end = tx.attrs.ints("end", ()) or ()
    step = tx.attrs.ints("step", ()) or ()
    starts, ends, axes, steps = [], [], [], []
    for axis in range(len(begin)):
        s = step[axis] if axis < len(step) and step[axis] is not None else 1
        b = begin[axis]
        e = end[axis] if axis < len(end) else None
        if b is None:
            b = 0 if s > 0 else INT64_MAX
        if e is None:
            e = INT64_MAX if s > 0 else INT64_MIN
        if (b, e, s) == (0, INT64_MAX, 1):
            continue
        starts.append(b)
        ends.append(e)
        axes.append(axis)
        steps.append(s)
    if not axes:
        return tx.input(0)
    return tx.slice(tx.input(0), starts, ends, axes, steps)


@translation("slice_axis")
def slice_axis(tx: NodeTranslator) -> str:
    axis = tx.attrs.int("axis") % tx.in_rank(0)
    begin = tx.attrs.int("begin", 0)
    end = tx.attrs.int("end")
    return tx.slice(tx.input(0), [begin], [INT64_MAX if end is None else end], [axis])


@translation("slice_like")
def slice_like(tx: NodeTranslator) -> str:
    x, like = tx.input(0), tx.input(1)
    rank = tx.in_rank(0)
    axes = tx.attrs.ints("axes", ()) or ()
    axes = sorted({a % rank for a in axes}) if axes else list(range(min(rank, tx.in_rank(1))))
    out_shape, out_dynamic = tx.out_shape(0), tx.out_dynamic(0)
    in_shape, in_dynamic = tx.in_shape(0), tx.in_dynamic(0)
    axes = [a for a in axes if out_dynamic[a] or in_dynamic[a] or out_shape[a] != in_shape[a]]
    if not axes:
        return x
    if not any(out_dynamic[a] for a in axes):
        return tx.slice(x, [0] * len(axes), [out_shape[a] for a in axes], axes)
    like_axes = tx.ints(axes, "like_axes")
    ends = tx.node("Gather", [tx.shape_of(like), like_axes], axis=0)
    return tx.node("Slice", [x, tx.ints([0] * len(axes), "starts"), ends, tx.ints(axes, "axes")])


@translation(["reverse", "flip", "_npi_flip"])
def reverse(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    axes = sorted({a % rank for a in (tx.attrs.ints("axis", ()) or ())})
    if not axes:
        return tx.input(0)
    n = len(axes)
    return tx.slice(tx.input(0), [-1] * n, [INT64_MIN] * n, axes, [-1] * n)


# --- broadcasting and repetition -----------------------------------------------------------------
@translation(["tile", "_npi_tile"])
def tile(tx: NodeTranslator) -> str:
    x = tx.input(0)
    rank = tx.in_rank(0)
    reps = list(tx.attrs.ints("reps", ()) or ())
    if len(reps) < rank:
        reps = [1] * (rank - len(reps)) + reps
    elif len(reps) > rank:
        x = tx.unsqueeze(x, list(range(len(reps) - rank)))
    return tx.node("Tile", [x, tx.ints(reps, "reps")])


@translation(["repeat", "_npi_repeat", "_npi_repeats"])
def repeat(tx: NodeTranslator) -> str:
    x = tx.input(0)
    repeats = tx.attrs.int("repeats")
    axis = tx.attrs.get("axis")
    if axis is None:
        x = tx.node("Reshape", [x, tx.ints([-1], "flat")])
        rank, axis = 1, 0
    else:
        rank = tx.in_rank(0)
        axis = int(axis) % rank
    expanded = tx.unsqueeze(x, [axis + 1])
    reps = [1] * (rank + 1)
    reps[axis + 1] = repeats
    tiled = tx.node("Tile", [expanded, tx.ints(reps, "reps")])
    source = tx.input(0)

    def dynamic_dim(k: int) -> str:
        if k == axis:
            return tx.node("Mul", [tx.dim_of(source, k), tx.ints([repeats], "repeats")])
        return tx.dim_of(source, k)

    return tx.node("Reshape", [tiled, tx.target_shape(0, dynamic_dim)])


@translation(["broadcast_to", "_npi_broadcast_to"])
def broadcast_to(tx: NodeTranslator) -> str:
    shape = tx.attrs.ints("shape")
    # Expand keeps an input dimension where the target says 1, which is what MXNet's 0 means.
    return tx.node("Expand", [tx.input(0), tx.ints([s if s != 0 else 1 for s in shape], "shape")])


@translation("broadcast_like")
def broadcast_like(tx: NodeTranslator) -> str:
    x, like = tx.input(0), tx.input(1)
    lhs_axes = tx.attrs.ints("lhs_axes")
    rhs_axes = tx.attrs.ints("rhs_axes")
    if not lhs_axes:
        return tx.node("Expand", [x, tx.shape_of(like)])
    rank = tx.in_rank(0)
    parts: list[object] = [1] * rank
    for la, ra in zip(lhs_axes, rhs_axes):
        parts[la % rank] = tx.dim_of(like, ra % tx.in_rank(1))
    return tx.node("Expand", [x, tx.shape_tensor(parts)])


@translation(["broadcast_axis", "broadcast_axes"])
def broadcast_axis(tx: NodeTranslator) -> str:
    rank = tx.in_rank(0)
    axes = tx.attrs.ints("axis", ()) or ()
    sizes = tx.attrs.ints("size", ()) or ()
    target = [1] * rank
    for axis, size in zip(axes, sizes):
        target[axis % rank] = size
    return tx.node("Expand", [tx.input(0), tx.ints(target, "shape")])


# --- creation ---------------------------------------------------------------------------------------
def _fill_like(tx: NodeTranslator, value: float) -> str:
    dtype = tx.out_dtype(0)
    tensor = np.array([value]).astype(dtype)
    from onnx import numpy_helper  # noqa: PLC0415

    return tx.node("ConstantOfShape", [tx.shape_of(tx.input(0))], value=numpy_helper.from_array(tensor))


@translation(["zeros_like", "_npi_zeros_like"])
def zeros_like(tx: NodeTranslator) -> str:
    return _fill_like(tx, 0)


@translation(["ones_like", "_npi_ones_like"])
def ones_like(tx: NodeTranslator) -> str:
    return _fill_like(tx, 1)


@translation(["_npi_full_like", "full_like"])
def full_like(tx: NodeTranslator) -> str:
    return _fill_like(tx, tx.attrs.float("fill_value", 0.0))


@translation(["_zeros", "_ones", "_full", "_zeros_without_dtype", "_arange", "_linspace", "_eye",
              "_npi_zeros", "_npi_ones", "_npi_full", "_npi_arange", "_npi_identity", "_npi_eye"])
def generator(tx: NodeTranslator) -> str:
    """Operators without inputs: their value is computed by MXNet at export time."""
    if any(tx.out_dynamic(0)):
        raise tx.fail("the shape of this constant follows a dynamic input dimension")
    shape, dtype = tx.out_shape(0), tx.out_dtype(0)
    fill = {"_zeros": 0.0, "_zeros_without_dtype": 0.0, "_npi_zeros": 0.0, "_ones": 1.0, "_npi_ones": 1.0}
    if tx.op in fill:
        # shapes with unknown (0) entries are only known after inference
        return tx.const(np.full(shape, fill[tx.op], dtype=dtype), "value")
    if tx.op in ("_full", "_npi_full"):
        return tx.const(np.full(shape, tx.attrs.float("value", tx.attrs.float("fill_value", 0.0)), dtype=dtype),
                        "value")
    value = tx.session.traced.evaluate((tx.mx.index, 0))
    return tx.const(value.astype(dtype).reshape(shape), "value")


@translation("_contrib_arange_like")
def arange_like(tx: NodeTranslator) -> str:
    x = tx.input(0)
    axis = tx.attrs.get("axis")
    start = tx.attrs.float("start", 0.0)
    step = tx.attrs.float("step", 1.0)
    repeat_count = tx.attrs.int("repeat", 1)
    dtype = tx.out_dtype(0)
    if not any(tx.out_dynamic(0)):
        n = int(np.prod(tx.out_shape(0)))
        values = start + np.floor(np.arange(n) / repeat_count) * step
        return tx.const(values.astype(dtype).reshape(tx.out_shape(0)), "value")
    count = tx.dim_of(x, int(axis) % tx.in_rank(0)) if axis is not None else tx.node("Size", [x])
    count = tx.cast(tx.node("Reshape", [count, tx.ints([], "scalar_shape")]), np.float32)
    index = tx.node("Range", [tx.scalar(0.0, np.float32, "zero"), count, tx.scalar(1.0, np.float32, "one")])
    if repeat_count != 1:
        index = tx.node("Floor", [tx.node("Div", [index, tx.scalar(float(repeat_count), np.float32, "repeat")])])
    values = tx.node("Add", [tx.node("Mul", [index, tx.scalar(step, np.float32, "step")]),
                             tx.scalar(start, np.float32, "start")])
    if dtype != np.float32:
        values = tx.cast(values, dtype)
    if axis is None:
        values = tx.node("Reshape", [values, tx.shape_of(x)])
    return values


@translation(["shape_array", "_npi_shape"])
def shape_array(tx: NodeTranslator) -> str:
    shape = tx.shape_of(tx.input(0))
    return shape if tx.out_dtype(0) == np.int64 else tx.cast(shape, tx.out_dtype(0))


@translation("size_array")
def size_array(tx: NodeTranslator) -> str:
    size = tx.node("Reshape", [tx.node("Size", [tx.input(0)]), tx.ints([1], "one")])
    return size if tx.out_dtype(0) == np.int64 else tx.cast(size, tx.out_dtype(0))


# --- selection and indexing --------------------------------------------------------------------------
@translation(["where", "_npi_where"])
def where(tx: NodeTranslator) -> str:
    cond, x, y = tx.input(0), tx.input(1), tx.input(2)
    if tx.in_dtype(0).kind != "b":
        cond = tx.cast(cond, np.bool_)
    if tx.op == "where" and tx.in_rank(0) == 1 and tx.in_rank(1) > 1:
        # MXNet: a 1-D condition selects along the first axis
        cond = tx.unsqueeze(cond, list(range(1, tx.in_rank(1))))
    return tx.node("Where", [cond, x, y])


def _clip_indices(tx: NodeTranslator, indices: str, data: str, axis: int, mode: str) -> str:
    if mode == "raise":
        return indices
    if tx.in_dynamic(0)[axis]:
        size = tx.node("Reshape", [tx.dim_of(data, axis), tx.ints([], "scalar_shape")])
    else:
        size = tx.scalar(tx.in_shape(0)[axis], np.int64, "size")
    if mode == "wrap":
        return tx.node("Mod", [indices, size], fmod=0)
    upper = tx.node("Sub", [size, tx.scalar(1, np.int64, "one")])
    return tx.node("Clip", [indices, tx.scalar(0, np.int64, "zero"), upper])


@translation(["take", "_npi_take"])
def take(tx: NodeTranslator) -> str:
    data = tx.input(0)
    axis = tx.attrs.int("axis", 0) % tx.in_rank(0)
    indices = tx.cast(tx.input(1), np.int64) if tx.in_dtype(1) != np.int64 else tx.input(1)
    indices = _clip_indices(tx, indices, data, axis, tx.attrs.str("mode", "clip"))
    return tx.node("Gather", [data, indices], axis=axis)


@translation("pick")
def pick(tx: NodeTranslator) -> str:
    data = tx.input(0)
    rank = tx.in_rank(0)
    axis = tx.attrs.get("axis", -1)
    if axis is None:
        raise tx.fail("pick without an axis is not supported")
    axis = int(axis) % rank
    indices = tx.cast(tx.input(1), np.int64) if tx.in_dtype(1) != np.int64 else tx.input(1)
    if tx.in_rank(1) < rank:
        indices = tx.unsqueeze(indices, [axis])
    indices = _clip_indices(tx, indices, data, axis, tx.attrs.str("mode", "clip"))
    picked = tx.node("GatherElements", [data, indices], axis=axis)
    return picked if tx.attrs.bool("keepdims", False) else tx.squeeze(picked, [axis])


@translation("gather_nd")
def gather_nd(tx: NodeTranslator) -> str:
    indices = tx.input(1)
    rank = tx.in_rank(1)
    if rank > 1:
        # MXNet indexes with the first axis of ``indices``; ONNX with the last.
        indices = tx.node("Transpose", [indices], perm=list(range(1, rank)) + [0])
    else:
        indices = tx.unsqueeze(indices, [0])
    indices = tx.cast(indices, np.int64) if tx.in_dtype(1) != np.int64 else indices
    out = tx.node("GatherND", [tx.input(0), indices])
    return tx.squeeze(out, [0]) if rank == 1 else out


@translation(["one_hot", "_npx_one_hot"])
def one_hot(tx: NodeTranslator) -> str:
    dtype = tx.out_dtype(0)
    values = tx.const(np.array([tx.attrs.float("off_value", 0.0), tx.attrs.float("on_value", 1.0)]).astype(dtype),
                      "values")
    depth = tx.scalar(tx.attrs.int("depth"), np.int64, "depth")
    return tx.node("OneHot", [tx.cast(tx.input(0), np.int64), depth, values], axis=-1)


@translation(["SequenceMask", "_npx_sequence_mask"])
def sequence_mask(tx: NodeTranslator) -> str:
    x = tx.input(0)
    if not tx.attrs.bool("use_sequence_length", False):
        return x
    axis = tx.attrs.int("axis", 0)
    rank = tx.in_rank(0)
    size = tx.node("Squeeze", [tx.dim_of(x, axis)])
    positions = tx.node("Range", [tx.scalar(0, np.int64, "start"), size, tx.scalar(1, np.int64, "step")])
    lengths = tx.cast(tx.input(1), np.int64)
    if axis == 0:  # (T, N, ...)
        keep = tx.node("Less", [tx.unsqueeze(positions, [1]), tx.unsqueeze(lengths, [0])])
    else:  # (N, T, ...)
        keep = tx.node("Less", [tx.unsqueeze(positions, [0]), tx.unsqueeze(lengths, [1])])
    if rank > 2:
        keep = tx.unsqueeze(keep, list(range(2, rank)))
    value = tx.scalar(tx.attrs.float("value", 0.0), tx.in_dtype(0), "value")
    return tx.node("Where", [keep, x, value])


# --- sorting ---------------------------------------------------------------------------------------
def _axis_and_input(tx: NodeTranslator) -> tuple[str, int, int]:
    """(input, axis, rank) with axis=None meaning the flattened input."""
    axis = tx.attrs.get("axis", -1)
    x = tx.input(0)
    if axis is None:
        return tx.node("Reshape", [x, tx.ints([-1], "flat")]), 0, 1
    rank = tx.in_rank(0)
    return x, int(axis) % rank, rank


def _axis_size(tx: NodeTranslator, x: str, axis: int, flat: bool) -> str:
    if not flat and not tx.in_dynamic(0)[axis]:
        return tx.ints([tx.in_shape(0)[axis]], "k")
    if flat and not any(tx.in_dynamic(0)):
        return tx.ints([int(np.prod(tx.in_shape(0)))], "k")
    return tx.dim_of(x, axis)


@translation(["topk", "_npx_topk"])
def topk(tx: NodeTranslator) -> str | list[str]:
    x, axis, _ = _axis_and_input(tx)
    flat = tx.attrs.get("axis", -1) is None
    k = tx.attrs.int("k", 1)
    count = tx.ints([k], "k") if k >= 1 else _axis_size(tx, x, axis, flat)
    largest = 0 if tx.attrs.bool("is_ascend", False) else 1
    values, indices = tx.node("TopK", [x, count], 2, axis=axis, largest=largest, sorted=1)
    kind = tx.attrs.str("ret_typ", "indices")
    index_dtype = tx.attrs.dtype("dtype", "float32")
    if kind == "value":
        return values
    if kind == "indices":
        return tx.cast(indices, index_dtype)
    if kind == "both":
        return [values, tx.cast(indices, index_dtype)]
    if kind == "mask":
        dtype = tx.out_dtype(0)
        from onnx import numpy_helper  # noqa: PLC0415

        zeros = tx.node("ConstantOfShape", [tx.shape_of(x)], value=numpy_helper.from_array(np.zeros(1, dtype)))
        ones = tx.node("ConstantOfShape", [tx.shape_of(indices)], value=numpy_helper.from_array(np.ones(1, dtype)))
        return tx.node("ScatterElements", [zeros, indices, ones], axis=axis)
    raise tx.fail(f"ret_typ {kind!r} is not supported")


@translation(["argsort", "_npi_argsort"])
def argsort(tx: NodeTranslator) -> str:
    x, axis, _ = _axis_and_input(tx)
    count = _axis_size(tx, x, axis, tx.attrs.get("axis", -1) is None)
    largest = 0 if tx.attrs.bool("is_ascend", True) else 1
    _, indices = tx.node("TopK", [x, count], 2, axis=axis, largest=largest, sorted=1)
    return tx.cast(indices, tx.out_dtype(0))


@translation(["sort", "_npi_sort"])
def sort(tx: NodeTranslator) -> str:
    x, axis, _ = _axis_and_input(tx)
    count = _axis_size(tx, x, axis, tx.attrs.get("axis", -1) is None)
    largest = 0 if tx.attrs.bool("is_ascend", True) else 1
    values, _ = tx.node("TopK", [x, count], 2, axis=axis, largest=largest, sorted=1)
    return values


@translation(["argmax", "argmin", "_npi_argmax", "_npi_argmin"])
def argmax(tx: NodeTranslator) -> str:
    op_type = "ArgMax" if "argmax" in tx.op else "ArgMin"
    axis = tx.attrs.get("axis")
    keepdims = tx.attrs.bool("keepdims", False)
    x = tx.input(0)
    if axis is None:
        x = tx.node("Reshape", [x, tx.ints([-1], "flat")])
        axis = 0
    else:
        axis = int(axis) % tx.in_rank(0)
    out = tx.node(op_type, [x], axis=axis, keepdims=int(keepdims))
    if tx.out_rank(0) != (tx.in_rank(0) if keepdims else tx.in_rank(0) - 1) or tx.attrs.get("axis") is None:
        out = tx.node("Reshape", [out, tx.target_shape(0)])
    return out if tx.out_dtype(0) == np.int64 else tx.cast(out, tx.out_dtype(0))


# --- products ----------------------------------------------------------------------------------------
def _swap_last(tx: NodeTranslator, x: str, rank: int) -> str:
    perm = list(range(rank))
    perm[-1], perm[-2] = perm[-2], perm[-1]
    return tx.node("Transpose", [x], perm=perm)


@translation(["dot", "_npi_dot", "_np_dot"])
def dot(tx: NodeTranslator) -> str:
    a, b = tx.input(0), tx.input(1)
    ra, rb = tx.in_rank(0), tx.in_rank(1)
    ta, tb = tx.attrs.bool("transpose_a", False), tx.attrs.bool("transpose_b", False)
    if (ta and ra != 2) or (tb and rb != 2):
        raise tx.fail("transpose_a/transpose_b are supported for 2-D operands only")
    if ta:
        a = _swap_last(tx, a, 2)
    if tb:
        b = _swap_last(tx, b, 2)
    if rb <= 2:
        return tx.node("MatMul", [a, b])
    inner = tx.in_shape(1)[0]
    flat_b = tx.node("Reshape", [b, tx.ints([inner, -1], "rhs_2d")])
    product = tx.node("MatMul", [a, flat_b])
    left, right = tx.input(0), tx.input(1)

    def dynamic_dim(k: int) -> str:
        return tx.dim_of(left, k) if k < ra - 1 else tx.dim_of(right, k - (ra - 1) + 1)

    return tx.node("Reshape", [product, tx.target_shape(0, dynamic_dim)])


@translation(["batch_dot", "_npx_batch_dot"])
def batch_dot(tx: NodeTranslator) -> str:
    a, b = tx.input(0), tx.input(1)
    if tx.attrs.bool("transpose_a", False):
        a = _swap_last(tx, a, tx.in_rank(0))
    if tx.attrs.bool("transpose_b", False):
        b = _swap_last(tx, b, tx.in_rank(1))
    return tx.node("MatMul", [a, b])


@translation(["linalg_gemm2", "_linalg_gemm2"])
def gemm2(tx: NodeTranslator) -> str:
    if tx.attrs.int("axis", -3) != -3:
        raise tx.fail("linalg_gemm2 with axis != -3 is not supported")
    a, b = tx.input(0), tx.input(1)
    if tx.attrs.bool("transpose_a", False):
        a = _swap_last(tx, a, tx.in_rank(0))
    if tx.attrs.bool("transpose_b", False):
        b = _swap_last(tx, b, tx.in_rank(1))
    out = tx.node("MatMul", [a, b])
    alpha = tx.attrs.float("alpha", 1.0)
    if alpha != 1.0:
        out = tx.node("Mul", [out, tx.scalar(alpha, tx.in_dtype(0), "alpha")])
    return out

