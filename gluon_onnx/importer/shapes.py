"""Import-time evaluation of shape computations over symbolic sizes.

Values known at import time are either plain numpy arrays (constants) or
:class:`SymArray` (small integer/float tensors some of whose entries are symbolic
:class:`~gluon_onnx.importer.symdim.Dim` sizes). The evaluators here implement the ONNX
ops that shape subgraphs use, on numpy object arrays.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np

from . import symdim
from .symdim import Dim, NotStatic

ShapeTuple = tuple  # of int | Dim


class SymArray:
    """A small tensor whose entries are ints/floats or symbolic sizes."""

    __slots__ = ("values", "dtype")

    def __init__(self, values: np.ndarray, dtype: np.dtype):
        self.values = values
        self.dtype = np.dtype(dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.values.shape

    @property
    def ndim(self) -> int:
        return self.values.ndim

    def tolist(self) -> list:
        return self.values.tolist()

    def symbols(self) -> set[str]:
        found: set[str] = set()
        for v in self.values.flat:
            if isinstance(v, Dim):
                found |= v.symbols
        return found

    def concrete(self, size_of: Callable[[str], int]) -> np.ndarray:
        """Evaluate every symbolic entry with the sizes ``size_of(symbol)``."""
        out = np.empty(self.values.shape, dtype=object)
        for idx, v in np.ndenumerate(self.values):
            out[idx] = v.evaluate(size_of) if isinstance(v, Dim) else v
        return _to_numeric(out, self.dtype)

    def __repr__(self) -> str:
        return f"SymArray({self.values.tolist()!r}, {self.dtype})"


def _require_numpy_type(dtype: np.dtype) -> None:
    """The evaluators compute with exact ints/Fractions and numpy's own types; ml_dtypes types
    (bfloat16, float8, int4, ...; kind 'V') are left to the reference implementation, which
    rounds and saturates them as ONNX specifies."""
    if np.dtype(dtype).kind == "V":
        raise NotStatic(f"{np.dtype(dtype).name} values are folded by the reference implementation")


def _to_numeric(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    _require_numpy_type(dtype)
    if dtype.kind == "f":
        return np.array([float(v) for v in values.flat], dtype=dtype).reshape(values.shape)
    if dtype.kind == "b":
        return np.array([bool(v) for v in values.flat], dtype=dtype).reshape(values.shape)
    return np.array([int(v) for v in values.flat], dtype=dtype).reshape(values.shape)


def make_static(values: np.ndarray, dtype: np.dtype) -> np.ndarray | SymArray:
    """A numpy array when every entry is concrete, else a SymArray."""
    values = np.asarray(values, dtype=object)
    flat = [symdim.Dim.simplify(v) for v in values.flat]
    arr = np.empty(len(flat), dtype=object)
    arr[:] = flat
    arr = arr.reshape(values.shape)
    if any(isinstance(v, Dim) for v in flat):
        return SymArray(arr, dtype)
    return _to_numeric(arr, np.dtype(dtype))


def as_object(value: np.ndarray | SymArray) -> np.ndarray:
    if isinstance(value, SymArray):
        return value.values
    arr = np.asarray(value)
    _require_numpy_type(arr.dtype)
    out = np.empty(arr.shape, dtype=object)
    for idx, v in np.ndenumerate(arr):
        if arr.dtype.kind == "f":
            out[idx] = Fraction(float(v)) if math.isfinite(v) else float(v)
        elif arr.dtype.kind == "b":
            out[idx] = bool(v)
        else:
            out[idx] = int(v)
    return out


def dtype_of(value: np.ndarray | SymArray) -> np.dtype:
    return value.dtype if isinstance(value, SymArray) else np.asarray(value).dtype


# --- elementwise helpers --------------------------------------------------------------


def _trunc_div(a: object, b: object) -> object:
    if isinstance(a, Dim) or isinstance(b, Dim):
        if isinstance(b, Dim):
            return a // b  # exact quotients only (NotStatic otherwise), so floor == trunc
        if b > 0:
            return a // b  # sizes are non-negative: floor == trunc
        raise NotStatic("division of a size by a non-positive number")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _fmod(a: object, b: object) -> object:
    if isinstance(a, Dim) or isinstance(b, Dim):
        return a % b
    return math.fmod(a, b)


def _pymod(a: object, b: object) -> object:
    if isinstance(a, Dim) or isinstance(b, Dim):
        return a % b
    return a % b


def _equal(a: object, b: object) -> bool:
    if isinstance(a, Dim) or isinstance(b, Dim):
        if isinstance(a, Dim) and isinstance(b, Dim) and a == b:
            return True
        order = Dim.lift(a).compare(b)
        if order is None:
            # a size is never negative: comparing with -1 (PyTorch's Expand idiom) is False
            other = b if isinstance(a, Dim) else a
            size = a if isinstance(a, Dim) else b
            if not isinstance(other, Dim) and other < 0 and size.nonnegative():
                return False
            raise NotStatic("equality of symbolic sizes")
        return order == 0
    return a == b


def _less(a: object, b: object) -> bool:
    if isinstance(a, Dim) or isinstance(b, Dim):
        order = Dim.lift(a).compare(b)
        if order is None:
            raise NotStatic("ordering of symbolic sizes")
        return order < 0
    return a < b


def _elementwise(fn: Callable[..., object], *arrays: np.ndarray) -> np.ndarray:
    ufunc = np.frompyfunc(fn, len(arrays), 1)
    result = ufunc(*arrays)
    if not isinstance(result, np.ndarray):
        out = np.empty((), dtype=object)
        out[()] = result
        return out
    return result


def _cast_value(v: object, dtype: np.dtype) -> object:
    if dtype.kind == "f":
        if isinstance(v, Dim):
            return v
        return Fraction(v) if not isinstance(v, float) or math.isfinite(v) else v
    if dtype.kind == "b":
        if isinstance(v, Dim):
            if v.compare(0) == 1:
                return True
            raise NotStatic("truth value of a symbolic size")
        return bool(v)
    if isinstance(v, Dim):
        return symdim.floor(v) if not v.is_integral() else v  # sizes >= 0: trunc == floor
    if isinstance(v, float) and not math.isfinite(v):
        raise NotStatic("cast of a non-finite value")
    return int(v) if v >= 0 else -int(-v)


# --- evaluators -----------------------------------------------------------------------
# Each takes (inputs, attrs, info) and returns a list of outputs. ``info`` gives
# ``info.shape_of(i)`` (tuple of int | Dim or None), ``info.opset`` and
# ``info.out_dtype(i)``.

Evaluator = Callable[..., list]
EVALUATORS: dict[str, Evaluator] = {}


def evaluator(*op_types: str) -> Callable[[Evaluator], Evaluator]:
    def register(fn: Evaluator) -> Evaluator:
        for op in op_types:
            EVALUATORS[op] = fn
        return fn

    return register


def _norm_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < max(rank, 1):
        raise NotStatic(f"axis {axis} out of range")
    return axis + rank if axis < 0 else axis


@evaluator("Shape")
def _shape(inputs: Sequence, attrs: dict, info: object) -> list:
    shape = info.shape_of(0)
    if shape is None:
        raise NotStatic("rank unknown")
    rank = len(shape)
    start = attrs.get("start", 0)
    end = attrs.get("end", rank)
    start = min(max(start + rank if start < 0 else start, 0), rank)
    end = min(max(end + rank if end < 0 else end, 0), rank)
    values = np.empty(max(end - start, 0), dtype=object)
    values[:] = list(shape[start:end])
    return [make_static(values, np.dtype(np.int64))]


@evaluator("Size")
def _size(inputs: Sequence, attrs: dict, info: object) -> list:
    shape = info.shape_of(0)
    if shape is None:
        raise NotStatic("rank unknown")
    total: object = 1
    for d in shape:
        total = total * d
    values = np.empty((), dtype=object)
    values[()] = total
    return [make_static(values, np.dtype(np.int64))]


@evaluator("Identity")
def _identity(inputs: Sequence, attrs: dict, info: object) -> list:
    return [inputs[0]]


@evaluator("Cast")
def _cast(inputs: Sequence, attrs: dict, info: object) -> list:
    dtype = info.out_dtype(0)
    if dtype is None:
        raise NotStatic("unknown cast target")
    _require_numpy_type(dtype)
    values = _elementwise(lambda v: _cast_value(v, dtype), as_object(inputs[0]))
    return [make_static(values, dtype)]


@evaluator("CastLike")
def _cast_like(inputs: Sequence, attrs: dict, info: object) -> list:
    return _cast(inputs[:1], attrs, info)


@evaluator("Gather")
def _gather(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    indices = np.asarray(inputs[1]) if not isinstance(inputs[1], SymArray) else None
    if indices is None:
        raise NotStatic("symbolic gather indices")
    axis = _norm_axis(attrs.get("axis", 0), data.ndim)
    size = data.shape[axis]
    idx = np.where(indices < 0, indices + size, indices).astype(np.int64)
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise NotStatic("gather index out of range")
    return [make_static(np.take(data, idx, axis=axis), dtype_of(inputs[0]))]


def _int_list(value: object) -> list[int]:
    if isinstance(value, SymArray):
        raise NotStatic("symbolic slice parameters")
    return [int(v) for v in np.asarray(value).reshape(-1)]


@evaluator("Slice")
def _slice(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    if info.opset < 10:
        starts, ends = attrs["starts"], attrs["ends"]
        axes = attrs.get("axes") or list(range(len(starts)))
        steps = [1] * len(starts)
    else:
        starts = _int_list(inputs[1])
        ends = _int_list(inputs[2])
        axes = _int_list(inputs[3]) if len(inputs) > 3 and inputs[3] is not None else list(range(len(starts)))
        steps = _int_list(inputs[4]) if len(inputs) > 4 and inputs[4] is not None else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for start, end, axis, step in zip(starts, ends, axes, steps):
        axis = _norm_axis(axis, data.ndim)
        index[axis] = slice(start, end, step)  # numpy clamps as ONNX does
    return [make_static(data[tuple(index)], dtype_of(inputs[0]))]


@evaluator("Concat")
def _concat(inputs: Sequence, attrs: dict, info: object) -> list:
    arrays = [as_object(v) for v in inputs if v is not None]
    axis = _norm_axis(attrs.get("axis", 0), arrays[0].ndim)
    return [make_static(np.concatenate(arrays, axis=axis), dtype_of(inputs[0]))]


def _axes_arg(inputs: Sequence, attrs: dict, info: object, since: int) -> list[int] | None:
    if info.opset >= since:
        return _int_list(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
    return attrs.get("axes")


@evaluator("Unsqueeze")
def _unsqueeze(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    axes = _axes_arg(inputs, attrs, info, 13) or []
    rank = data.ndim + len(axes)
    shape = list(data.shape)
    for axis in sorted(_norm_axis(a, rank) for a in axes):
        shape.insert(axis, 1)
    return [make_static(data.reshape(shape), dtype_of(inputs[0]))]


@evaluator("Squeeze")
def _squeeze(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    axes = _axes_arg(inputs, attrs, info, 13)
    if axes is None:
        axes = [i for i, d in enumerate(data.shape) if d == 1]
    axes = [_norm_axis(a, data.ndim) for a in axes]
    shape = [d for i, d in enumerate(data.shape) if i not in axes]
    return [make_static(data.reshape(shape), dtype_of(inputs[0]))]


@evaluator("Reshape")
def _reshape(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    if info.opset < 5:
        shape = list(attrs["shape"])
    else:
        shape = _int_list(inputs[1])
    shape = [data.shape[i] if s == 0 and not attrs.get("allowzero", 0) else s for i, s in enumerate(shape)]
    return [make_static(data.reshape(shape), dtype_of(inputs[0]))]


@evaluator("Flatten")
def _flatten(inputs: Sequence, attrs: dict, info: object) -> list:
    data = as_object(inputs[0])
    axis = _norm_axis(attrs.get("axis", 1), data.ndim + 1) if data.ndim else 0
    outer = int(np.prod(data.shape[:axis], dtype=np.int64))
    return [make_static(data.reshape(outer, -1), dtype_of(inputs[0]))]


def _binary(fn: Callable[[object, object], object], out_dtype: np.dtype | None = None) -> Evaluator:
    def evaluate(inputs: Sequence, attrs: dict, info: object) -> list:
        if inputs[0] is None or inputs[1] is None:
            raise NotStatic("missing operand")
        dtype = out_dtype or info.out_dtype(0) or dtype_of(inputs[0])
        return [make_static(_elementwise(fn, as_object(inputs[0]), as_object(inputs[1])), dtype)]

    return evaluate


def _div(a: object, b: object) -> object:
    return a / b


def _add(a: object, b: object) -> object:
    return a + b


def _sub(a: object, b: object) -> object:
    return a - b


def _mul(a: object, b: object) -> object:
    return a * b


EVALUATORS["Add"] = _binary(_add)
EVALUATORS["Sub"] = _binary(_sub)
EVALUATORS["Mul"] = _binary(_mul)
EVALUATORS["Equal"] = _binary(_equal, np.dtype(bool))
EVALUATORS["Less"] = _binary(_less, np.dtype(bool))
EVALUATORS["Greater"] = _binary(lambda a, b: _less(b, a), np.dtype(bool))
EVALUATORS["LessOrEqual"] = _binary(lambda a, b: not _less(b, a), np.dtype(bool))
EVALUATORS["GreaterOrEqual"] = _binary(lambda a, b: not _less(a, b), np.dtype(bool))


@evaluator("Div")
def _div_eval(inputs: Sequence, attrs: dict, info: object) -> list:
    dtype = info.out_dtype(0) or dtype_of(inputs[0])
    fn = _div if dtype.kind == "f" else _trunc_div
    return [make_static(_elementwise(fn, as_object(inputs[0]), as_object(inputs[1])), dtype)]


@evaluator("Mod")
def _mod_eval(inputs: Sequence, attrs: dict, info: object) -> list:
    dtype = info.out_dtype(0) or dtype_of(inputs[0])
    fn = _fmod if attrs.get("fmod", 0) else _pymod
    return [make_static(_elementwise(fn, as_object(inputs[0]), as_object(inputs[1])), dtype)]


def _variadic(fn: Callable[[object, object], object]) -> Evaluator:
    def evaluate(inputs: Sequence, attrs: dict, info: object) -> list:
        arrays = [as_object(v) for v in inputs if v is not None]
        result = arrays[0]
        for arr in arrays[1:]:
            result = _elementwise(fn, result, arr)
        return [make_static(result, info.out_dtype(0) or dtype_of(inputs[0]))]

    return evaluate


EVALUATORS["Max"] = _variadic(symdim.maximum)
EVALUATORS["Min"] = _variadic(symdim.minimum)
EVALUATORS["Sum"] = _variadic(_add)


def _unary(fn: Callable[[object], object]) -> Evaluator:
    def evaluate(inputs: Sequence, attrs: dict, info: object) -> list:
        dtype = info.out_dtype(0) or dtype_of(inputs[0])
        return [make_static(_elementwise(fn, as_object(inputs[0])), dtype)]

    return evaluate


def _abs(v: object) -> object:
    if isinstance(v, Dim):
        if v.nonnegative():
            return v
        raise NotStatic("abs of a symbolic value")
    return abs(v)


EVALUATORS["Neg"] = _unary(lambda v: -v)
EVALUATORS["Abs"] = _unary(_abs)
EVALUATORS["Floor"] = _unary(symdim.floor)
EVALUATORS["Ceil"] = _unary(symdim.ceil)
EVALUATORS["Not"] = _unary(lambda v: not v)


@evaluator("Where")
def _where(inputs: Sequence, attrs: dict, info: object) -> list:
    if isinstance(inputs[0], SymArray):
        raise NotStatic("symbolic condition")
    cond = np.asarray(inputs[0]).astype(bool)
    x, y = as_object(inputs[1]), as_object(inputs[2])
    return [make_static(np.where(cond, x, y), info.out_dtype(0) or dtype_of(inputs[1]))]


def _reduce(fn: Callable[[object, object], object], since_input: int) -> Evaluator:
    def evaluate(inputs: Sequence, attrs: dict, info: object) -> list:
        data = as_object(inputs[0])
        if info.opset >= since_input:
            axes = _int_list(inputs[1]) if len(inputs) > 1 and inputs[1] is not None else None
        else:
            axes = attrs.get("axes")
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [inputs[0]]
            axes = list(range(data.ndim))
        axes = sorted(_norm_axis(a, data.ndim) for a in axes)
        result = data
        for axis in reversed(axes):
            parts = [np.take(result, i, axis=axis) for i in range(result.shape[axis])]
            acc = parts[0]
            for p in parts[1:]:
                acc = _elementwise(fn, acc, p)
            result = np.asarray(acc, dtype=object)
            if attrs.get("keepdims", 1):
                result = np.expand_dims(result, axis)
        return [make_static(result, info.out_dtype(0) or dtype_of(inputs[0]))]

    return evaluate


EVALUATORS["ReduceProd"] = _reduce(_mul, 18)
EVALUATORS["ReduceSum"] = _reduce(_add, 13)
EVALUATORS["ReduceMax"] = _reduce(symdim.maximum, 18)
EVALUATORS["ReduceMin"] = _reduce(symdim.minimum, 18)


# --- output shapes of runtime nodes ----------------------------------------------------------
# ONNX shape inference cannot size a Reshape whose target comes from shape arithmetic it does
# not propagate (e.g. Gather with a scalar index): the rank of the result is then unknown.
# These functions give output shapes (tuples of int | Dim | None for an unknown size) from the
# static inputs the plan computed; same (inputs, attrs, info) signature as the evaluators.

OUTPUT_SHAPES: dict[str, Evaluator] = {}


def output_shape(*op_types: str) -> Callable[[Evaluator], Evaluator]:
    def register(fn: Evaluator) -> Evaluator:
        for op in op_types:
            OUTPUT_SHAPES[op] = fn
        return fn

    return register


def _static_dims(value: object) -> list:
    if value is None:
        raise NotStatic("shape input not static")
    return list(as_object(value).reshape(-1))


@output_shape("Reshape")
def _reshape_output(inputs: Sequence, attrs: dict, info: object) -> list:
    target = attrs.get("shape") if info.opset < 5 else _static_dims(inputs[1] if len(inputs) > 1 else None)
    if target is None:
        raise NotStatic("no target shape")
    in_shape = info.shape_of(0)
    dims: list[object] = []
    for i, d in enumerate(target):
        if not isinstance(d, Dim) and d == 0 and not attrs.get("allowzero", 0):
            dims.append(in_shape[i] if in_shape is not None and i < len(in_shape) else None)
        elif not isinstance(d, Dim) and d == -1:
            dims.append(None)
        else:
            dims.append(d)
    if dims.count(None) == 1 and in_shape is not None and None not in in_shape:
        inferred = inferred_size(list(in_shape), [d for d in dims if d is not None])
        if inferred is not None:
            dims[dims.index(None)] = inferred
    return [tuple(dims)]


def inferred_size(in_shape: list, known: list) -> object:
    """The size a Reshape's -1 stands for (int or Dim), or None when it cannot be proven."""
    total: object = 1
    for d in in_shape:
        total = total * d
    rest: object = 1
    for d in known:
        rest = rest * d
    if not isinstance(rest, Dim) and rest == 0:
        return None
    try:
        quotient = Dim.simplify(Dim.lift(total) / rest)
    except NotStatic:
        return None
    if isinstance(quotient, Dim):
        return quotient if quotient.is_integral() else None
    return int(quotient) if Fraction(quotient).denominator == 1 else None


@output_shape("Expand")
def _expand_output(inputs: Sequence, attrs: dict, info: object) -> list:
    target = _static_dims(inputs[1])
    in_shape = info.shape_of(0)
    if in_shape is None:
        return [tuple(d if not (isinstance(d, int) and d == 1) else None for d in target)]
    rank = max(len(in_shape), len(target))
    a = [1] * (rank - len(in_shape)) + list(in_shape)
    b = [1] * (rank - len(target)) + list(target)
    dims: list[object] = []
    for x, y in zip(a, b):
        if not isinstance(x, Dim) and x == 1:
            dims.append(y)
        elif not isinstance(y, Dim) and y == 1:
            dims.append(x)
        elif not isinstance(x, Dim):
            dims.append(x)
        elif not isinstance(y, Dim):
            dims.append(y)
        else:
            dims.append(x if x == y else None)
    return [tuple(dims)]


@output_shape("ConstantOfShape")
def _constant_of_shape_output(inputs: Sequence, attrs: dict, info: object) -> list:
    return [tuple(_static_dims(inputs[0]))]


@output_shape("Split")
def _split_output(inputs: Sequence, attrs: dict, info: object) -> list:
    in_shape = info.shape_of(0)
    if in_shape is None:
        raise NotStatic("rank unknown")
    axis = _norm_axis(attrs.get("axis", 0), len(in_shape))
    count = len(info.node.output)
    if info.opset >= 13:
        split = inputs[1] if len(inputs) > 1 else None
        sizes = _int_list(split) if split is not None else None
    else:
        sizes = attrs.get("split") or None
    dim = in_shape[axis]
    if sizes is None:
        count = attrs.get("num_outputs", count)
        if isinstance(dim, int) and count:
            chunk = -(-dim // count)
            sizes = [chunk] * (count - 1) + [dim - chunk * (count - 1)]
        else:
            sizes = [None] * count
    return [tuple(size if a == axis else d for a, d in enumerate(in_shape)) for size in sizes]


@output_shape("Slice")
def _slice_output(inputs: Sequence, attrs: dict, info: object) -> list:
    in_shape = info.shape_of(0)
    if in_shape is None:
        raise NotStatic("rank unknown")
    rank = len(in_shape)
    dims: list[object] = list(in_shape)
    if info.opset < 10:
        starts, ends = attrs.get("starts", []), attrs.get("ends", [])
        axes = attrs.get("axes") or list(range(len(starts)))
        steps: list[int] = [1] * len(starts)
    else:
        axes_value = inputs[3] if len(inputs) > 3 else None
        steps_value = inputs[4] if len(inputs) > 4 else None
        starts = _int_list(inputs[1]) if not isinstance(inputs[1], SymArray) and inputs[1] is not None else None
        ends = _int_list(inputs[2]) if not isinstance(inputs[2], SymArray) and inputs[2] is not None else None
        axes = _int_list(axes_value) if axes_value is not None else None
        steps = _int_list(steps_value) if steps_value is not None else None
        if axes is None:
            count = len(starts) if starts is not None else (len(ends) if ends is not None else 0)
            axes = list(range(count)) if count else list(range(rank))
        if steps is None:
            steps = [1] * len(axes)
    for i, axis in enumerate(axes):
        axis = _norm_axis(axis, rank)
        dim = in_shape[axis]
        if starts is None or ends is None or not isinstance(dim, int):
            dims[axis] = None
        else:
            dims[axis] = len(range(*slice(starts[i], ends[i], steps[i]).indices(dim)))
    return [tuple(dims)]


@output_shape("Resize", "Upsample")
def _resize_output(inputs: Sequence, attrs: dict, info: object) -> list:
    in_shape = info.shape_of(0)
    if in_shape is None:
        raise NotStatic("rank unknown")
    rank = len(in_shape)
    if info.node.op_type == "Upsample" and info.opset < 9:
        scales, sizes = attrs.get("scales"), None
        if scales is None and "height_scale" in attrs:
            scales = [1.0] * (rank - 2) + [attrs.get("height_scale", 1.0), attrs.get("width_scale", 1.0)]
    elif info.opset < 11:
        scales, sizes = inputs[1] if len(inputs) > 1 else None, None
    else:
        scales = inputs[2] if len(inputs) > 2 else None
        sizes = inputs[3] if len(inputs) > 3 else None
    axes = attrs.get("axes") or list(range(rank))
    axes = [_norm_axis(a, rank) for a in axes]
    dims: list[object] = list(in_shape)
    if sizes is not None and as_object(sizes).size:
        if attrs.get("keep_aspect_ratio_policy", "stretch") != "stretch":
            raise NotStatic("keep_aspect_ratio_policy")
        for axis, size in zip(axes, as_object(sizes).reshape(-1)):
            dims[axis] = size
    elif scales is not None:
        values = as_object(scales).reshape(-1) if not isinstance(scales, list) else scales
        if len(values) != len(axes):
            raise NotStatic("scales do not match the axes")
        for axis, scale in zip(axes, values):
            if isinstance(scale, Dim):
                raise NotStatic("symbolic scale")
            scale = Fraction(scale)
            if scale != 1:
                dims[axis] = symdim.floor(Dim.lift(dims[axis]) * scale) if isinstance(dims[axis], Dim) \
                    else math.floor(dims[axis] * float(scale))
    else:
        raise NotStatic("neither scales nor sizes")
    return [tuple(Dim.simplify(d) if isinstance(d, Dim) else int(d) for d in dims)]


# --- shapes of common runtime operators --------------------------------------------------------
# Where inference invented a size (an unknown it could not relate to the input sizes, e.g. after
# a Reshape to a computed shape), these relate it again, so that e.g. the batch size flows
# through a channel shuffle. Spatial sizes of convolutions and pools are left to inference: their
# floor expressions grow with depth, and the sizes it invents are read from the tensors.

_SAME_SHAPE_OPS = (
    "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "BatchNormalization", "Celu", "Ceil", "Clip", "Cos",
    "Cosh", "CumSum", "Dropout", "Elu", "Erf", "Exp", "Floor", "Gelu", "HardSigmoid", "HardSwish", "Hardmax",
    "Identity", "InstanceNormalization", "IsInf", "IsNaN", "LayerNormalization", "LeakyRelu", "Log",
    "LogSoftmax", "LpNormalization", "LRN", "MeanVarianceNormalization", "Mish", "Neg", "Not", "Reciprocal",
    "Relu", "Round", "Selu", "Shrink", "Sigmoid", "Sign", "Sin", "Sinh", "Softmax", "Softplus", "Softsign", "Sqrt",
    "Swish", "Tan", "Tanh", "ThresholdedRelu", "Cast", "CastLike", "GroupNormalization", "RMSNormalization",
    "BitwiseNot", "Trilu",
)


@output_shape(*_SAME_SHAPE_OPS)
def _same_shape_output(inputs: Sequence, attrs: dict, info: object) -> list:
    shape = info.shape_of(0)
    if shape is None:
        raise NotStatic("rank unknown")
    return [tuple(shape)] + [None] * (len(info.node.output) - 1)


def _broadcast_dim(a: object, b: object) -> object:
    if a is None or b is None:
        return None
    if not isinstance(a, Dim) and a == 1:
        return b
    if not isinstance(b, Dim) and b == 1:
        return a
    if not isinstance(a, Dim):
        return a  # the other is a or 1
    if not isinstance(b, Dim):
        return b
    if a == b:
        return a
    # a size inference invented may be 1; a model size of the other operand is the result then too
    if symdim.is_invented(a) and not symdim.is_invented(b):
        return b
    if symdim.is_invented(b) and not symdim.is_invented(a):
        return a
    return None


def broadcast_shapes(shapes: Sequence[tuple]) -> tuple:
    rank = max(len(s) for s in shapes)
    result: list[object] = [1] * rank
    for shape in shapes:
        padded = [1] * (rank - len(shape)) + list(shape)
        result = [_broadcast_dim(a, b) for a, b in zip(result, padded)]
    return tuple(result)


@output_shape("Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "And", "Or", "Xor", "Equal",
              "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "BitShift", "BitwiseAnd", "BitwiseOr",
              "BitwiseXor", "PRelu", "Where")
def _broadcast_output(inputs: Sequence, attrs: dict, info: object) -> list:
    shapes = [info.shape_of(i) for i in range(len(info.node.input)) if info.node.input[i]]
    if not shapes or any(s is None for s in shapes):
        raise NotStatic("rank unknown")
    return [broadcast_shapes(shapes)]


@output_shape("Transpose")
def _transpose_output(inputs: Sequence, attrs: dict, info: object) -> list:
    shape = info.shape_of(0)
    if shape is None:
        raise NotStatic("rank unknown")
    perm = attrs.get("perm") or list(reversed(range(len(shape))))
    return [tuple(shape[p] for p in perm)]


@output_shape("Concat")
def _concat_output(inputs: Sequence, attrs: dict, info: object) -> list:
    shapes = [info.shape_of(i) for i in range(len(info.node.input)) if info.node.input[i]]
    if not shapes or any(s is None for s in shapes) or len({len(s) for s in shapes}) != 1:
        raise NotStatic("ranks unknown")
    axis = _norm_axis(attrs.get("axis", 0), len(shapes[0]))
    dims: list[object] = []
    for a in range(len(shapes[0])):
        column = [s[a] for s in shapes]
        if a == axis:
            total: object = 0
            for d in column:
                total = total + d
            dims.append(total)
        else:
            known = [d for d in column if not symdim.is_invented(d)]
            dims.append(known[0] if known else None)
    return [tuple(dims)]


def _window_sizes(x: tuple, kernel: Sequence[object], attrs: dict, ceil_mode: bool = False) -> tuple:
    """Spatial output sizes of a sliding window (Conv, pools) when the input's are plain ints."""
    spatial = list(x[2:])
    if not all(isinstance(d, int) for d in spatial) or not all(isinstance(k, int) for k in kernel) or ceil_mode:
        return (None,) * len(spatial)
    count = len(spatial)
    strides = attrs.get("strides") or [1] * count
    dilations = attrs.get("dilations") or [1] * count
    pads = attrs.get("pads") or [0] * (2 * count)
    auto_pad = attrs.get("auto_pad", "NOTSET")
    if isinstance(auto_pad, bytes):
        auto_pad = auto_pad.decode()
    sizes = []
    for i, size in enumerate(spatial):
        if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
            sizes.append(-(-size // strides[i]))
            continue
        padded = size if auto_pad == "VALID" else size + pads[i] + pads[i + count]
        sizes.append((padded - dilations[i] * (kernel[i] - 1) - 1) // strides[i] + 1)
    return tuple(sizes)


@output_shape("Conv", "ConvInteger", "QLinearConv", "ConvTranspose")
def _conv_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    w = info.shape_of(3 if info.node.op_type == "QLinearConv" else 1)
    if x is None or w is None:
        raise NotStatic("rank unknown")
    if info.node.op_type == "ConvTranspose":
        channels = w[1] * attrs.get("group", 1) if isinstance(w[1], int) else None
        return [(x[0], channels) + (None,) * (len(x) - 2)]
    kernel = attrs.get("kernel_shape") or list(w[2:])
    return [(x[0], w[0]) + _window_sizes(tuple(x), kernel, attrs)]


@output_shape("MaxPool", "AveragePool", "LpPool")
def _pool_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None:
        raise NotStatic("rank unknown")
    spatial = (None,) * (len(x) - 2)
    if attrs.get("kernel_shape"):
        spatial = _window_sizes(tuple(x), attrs["kernel_shape"], attrs, bool(attrs.get("ceil_mode", 0)))
    return [(x[0], x[1]) + spatial] + [None] * (len(info.node.output) - 1)


@output_shape("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool")
def _global_pool_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None:
        raise NotStatic("rank unknown")
    return [(x[0], x[1]) + (1,) * (len(x) - 2)]


@output_shape("MatMul", "MatMulInteger")
def _matmul_output(inputs: Sequence, attrs: dict, info: object) -> list:
    a, b = info.shape_of(0), info.shape_of(1)
    if a is None or b is None or not a or not b:
        raise NotStatic("rank unknown")
    a_matrix = len(a) >= 2
    b_matrix = len(b) >= 2
    a2 = tuple(a) if a_matrix else (1,) + tuple(a)
    b2 = tuple(b) if b_matrix else tuple(b) + (1,)
    batch = broadcast_shapes([a2[:-2], b2[:-2]]) if len(a2) > 2 or len(b2) > 2 else ()
    dims = list(batch) + ([a2[-2]] if a_matrix else []) + ([b2[-1]] if b_matrix else [])
    return [tuple(dims)]


@output_shape("Gemm")
def _gemm_output(inputs: Sequence, attrs: dict, info: object) -> list:
    a, b = info.shape_of(0), info.shape_of(1)
    if a is None or b is None or len(a) != 2 or len(b) != 2:
        raise NotStatic("rank unknown")
    m = a[1] if attrs.get("transA", 0) else a[0]
    n = b[0] if attrs.get("transB", 0) else b[1]
    return [(m, n)]


@output_shape("Flatten")
def _flatten_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None:
        raise NotStatic("rank unknown")
    axis = _norm_axis(attrs.get("axis", 1), len(x) + 1) if x else 0
    outer: object = 1
    for d in x[:axis]:
        outer = outer * d
    inner: object = 1
    for d in x[axis:]:
        inner = inner * d
    return [(Dim.simplify(outer) if isinstance(outer, Dim) else outer,
             Dim.simplify(inner) if isinstance(inner, Dim) else inner)]


@output_shape("Unsqueeze")
def _unsqueeze_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None:
        raise NotStatic("rank unknown")
    axes = _axes_arg(inputs, attrs, info, 13)
    if axes is None:
        raise NotStatic("axes unknown")
    rank = len(x) + len(axes)
    axes = sorted(_norm_axis(a, rank) for a in axes)
    dims = list(x)
    for axis in axes:
        dims.insert(axis, 1)
    return [tuple(dims)]


@output_shape("Squeeze")
def _squeeze_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None:
        raise NotStatic("rank unknown")
    axes = _axes_arg(inputs, attrs, info, 13)
    if axes is None:
        if any(isinstance(d, Dim) for d in x):
            raise NotStatic("which sizes are 1 is unknown")
        axes = [i for i, d in enumerate(x) if d == 1]
    axes = {_norm_axis(a, len(x)) for a in axes}
    return [tuple(d for i, d in enumerate(x) if i not in axes)]


@output_shape("Gather")
def _gather_output(inputs: Sequence, attrs: dict, info: object) -> list:
    data, indices = info.shape_of(0), info.shape_of(1)
    if data is None or indices is None:
        raise NotStatic("rank unknown")
    axis = _norm_axis(attrs.get("axis", 0), len(data))
    return [tuple(data[:axis]) + tuple(indices) + tuple(data[axis + 1:])]


def _reduce_output(axes_input_since: int) -> Evaluator:
    def evaluate(inputs: Sequence, attrs: dict, info: object) -> list:
        x = info.shape_of(0)
        if x is None:
            raise NotStatic("rank unknown")
        if info.opset >= axes_input_since:
            value = inputs[1] if len(inputs) > 1 else None
            if value is None and len(info.node.input) > 1 and info.node.input[1]:
                raise NotStatic("axes not static")
            axes = _int_list(value) if value is not None else None
        else:
            axes = attrs.get("axes")
        if not axes:
            if attrs.get("noop_with_empty_axes", 0):
                return [tuple(x)]
            axes = list(range(len(x)))
        axes = {_norm_axis(a, len(x)) for a in axes}
        if attrs.get("keepdims", 1):
            return [tuple(1 if i in axes else d for i, d in enumerate(x))]
        return [tuple(d for i, d in enumerate(x) if i not in axes)]

    return evaluate


OUTPUT_SHAPES["ReduceSum"] = _reduce_output(13)
for _op in ("ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceLogSum",
            "ReduceLogSumExp", "ReduceSumSquare"):
    OUTPUT_SHAPES[_op] = _reduce_output(18)


@output_shape("Tile")
def _tile_output(inputs: Sequence, attrs: dict, info: object) -> list:
    x = info.shape_of(0)
    if x is None or inputs[1] is None:
        raise NotStatic("rank or repeats unknown")
    repeats = _static_dims(inputs[1])
    return [tuple(d * r for d, r in zip(x, repeats))]


@output_shape("Range")
def _range_output(inputs: Sequence, attrs: dict, info: object) -> list:
    start, limit, delta = (as_object(v).reshape(()).item() if v is not None else None for v in inputs[:3])
    if start is None or limit is None or delta is None or isinstance(delta, Dim) or delta == 0:
        raise NotStatic("range parameters unknown")
    count = symdim.ceil((Dim.lift(limit) - start) / delta) if isinstance(limit, Dim) or isinstance(start, Dim) \
        else math.ceil((limit - start) / delta)
    if isinstance(count, Dim):
        if not count.nonnegative():
            raise NotStatic("the length may be negative")
        return [(Dim.simplify(count),)]
    return [(max(int(count), 0),)]
