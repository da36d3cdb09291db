"""Output sizes of nodes computed from their static inputs, before anything is allocated.

Import-time folding evaluates nodes whose inputs are all known. For the operators whose output
size comes from input *values* (ConstantOfShape, Expand, Tile, Range, Pad, Resize, OneHot, ...)
or from broadcasting, ONNX shape inference does not always know the output shape (values
computed by other folded nodes, shapes it does not propagate), so :func:`output_elements`
computes the size from the values themselves. The planner refuses to fold (or to import at
all, over ``limits.MAX_TENSOR_ELEMENTS``) what would be too large.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .shapes import SymArray

#: elementwise operators whose output is the broadcast of their inputs
_BROADCASTING = frozenset({
    "Add", "Sub", "Mul", "Div", "Pow", "Mod", "And", "Or", "Xor", "Equal", "Less", "Greater", "LessOrEqual",
    "GreaterOrEqual", "BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "Max", "Min", "Sum", "Mean", "Where",
    "PRelu",
})


class _Unknown(Exception):
    pass


def _shape(value: object) -> tuple[int, ...]:
    if value is None:
        raise _Unknown
    return tuple(int(d) for d in np.shape(value.values if isinstance(value, SymArray) else value))


def _ints(value: object) -> list[int]:
    if value is None or isinstance(value, SymArray):
        raise _Unknown
    array = np.asarray(value)
    if array.dtype.kind not in "iub":
        raise _Unknown
    return [int(v) for v in array.reshape(-1)]


def _floats(value: object) -> list[float]:
    if value is None or isinstance(value, SymArray):
        raise _Unknown
    array = np.asarray(value)
    if array.dtype.kind not in "iufb":
        raise _Unknown
    return [float(v) for v in array.reshape(-1)]


def _count(dims: Sequence[int]) -> int:
    total = 1
    for d in dims:
        total *= max(int(d), 0)
    return total


def _broadcast(*shapes: Sequence[int]) -> list[int]:
    rank = max((len(s) for s in shapes), default=0)
    out = [1] * rank
    for shape in shapes:
        for axis, d in enumerate(shape, start=rank - len(shape)):
            # a mismatch fails later with a proper message; the larger size is the upper bound
            out[axis] = max(out[axis], int(d)) if out[axis] != 1 else int(d)
    return out


def _scaled(shape: Sequence[int], factors: Sequence[float], axes: Sequence[int] | None = None) -> int:
    dims = [float(d) for d in shape]
    axes = list(range(len(shape))) if axes is None else [a % len(shape) for a in axes] if shape else []
    if len(factors) != len(axes):
        raise _Unknown
    for axis, factor in zip(axes, factors):
        if not math.isfinite(factor):
            raise _Unknown
        dims[axis] = math.floor(dims[axis] * abs(factor))
    return _count(int(d) for d in dims)


def output_elements(op: str, opset: int, values: Sequence[object], attrs: dict) -> int | None:
    """Upper bound of the element count of the largest output of ``op`` on ``values``; None if unknown.

    ``values`` are the static inputs (numpy arrays, SymArrays, None for omitted inputs); attributes
    are plain Python values.
    """
    try:
        return _estimate(op, opset, values, attrs)
    except (_Unknown, IndexError, ValueError, TypeError, OverflowError, ZeroDivisionError):
        return None


def _estimate(op: str, opset: int, values: Sequence[object], attrs: dict) -> int | None:
    def arg(i: int) -> object:
        return values[i] if i < len(values) else None

    if op == "ConstantOfShape":
        return _count(_ints(arg(0)))
    if op == "Expand":
        return _count(_broadcast(_shape(arg(0)), _ints(arg(1))))
    if op == "Tile":
        return _count(d * r for d, r in zip(_shape(arg(0)), _ints(arg(1))))
    if op == "Range":
        start, limit, delta = (_floats(arg(i))[0] for i in range(3))
        if delta == 0 or not all(math.isfinite(v) for v in (start, limit, delta)):
            return None
        return max(math.ceil((limit - start) / delta), 0)
    if op == "OneHot":
        return _count(_shape(arg(0))) * max(int(_floats(arg(1))[0]), 0)
    if op == "Pad":
        shape = _shape(arg(0))
        pads = _ints(arg(1)) if opset >= 11 else list(attrs.get("pads") or attrs.get("paddings") or [])
        axes = _ints(arg(3)) if arg(3) is not None else list(range(len(shape)))
        dims = list(shape)
        for k, axis in enumerate(axes):
            dims[axis % len(dims)] += pads[k] + pads[k + len(axes)]
        return _count(dims)
    if op in ("Resize", "Upsample"):
        shape = _shape(arg(0))
        if op == "Upsample":
            factors = _floats(arg(1)) if opset >= 9 else list(attrs.get("scales") or [])
            return _scaled(shape, factors)
        axes = attrs.get("axes")
        sizes = arg(3)
        if sizes is not None and np.size(sizes):
            dims = list(shape)
            for axis, size in zip(axes or range(len(shape)), _ints(sizes)):
                dims[axis % len(dims)] = size
            return _count(dims)
        scales = arg(2) if opset >= 11 else arg(1)
        return _scaled(shape, _floats(scales), axes)
    if op == "CenterCropPad":
        return _count(_ints(arg(1)) + list(_shape(arg(0)))[len(_ints(arg(1))):])
    if op in ("HannWindow", "HammingWindow", "BlackmanWindow"):
        return max(_ints(arg(0))[0], 0)
    if op == "MaxUnpool" and arg(2) is not None:
        return _count(_ints(arg(2)))
    if op == "Col2Im":
        block = _count(_ints(arg(2)))
        return _count(_shape(arg(0))[:2]) // max(block, 1) * _count(_ints(arg(1)))
    if op == "AffineGrid":
        size = _ints(arg(1))
        return _count(size[:1] + size[2:]) * max(len(size) - 2, 1)
    if op in _BROADCASTING:
        return _count(_broadcast(*(_shape(v) for v in values if v is not None)))
    if op == "Gather":
        shape = list(_shape(arg(0)))
        axis = int(attrs.get("axis", 0)) % max(len(shape), 1)
        return _count(shape[:axis] + list(_shape(arg(1))) + shape[axis + 1:])
    if op == "Concat":
        return sum(_count(_shape(v)) for v in values if v is not None)
    return None
