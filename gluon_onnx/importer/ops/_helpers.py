"""Helpers shared by converter modules (no converters are registered here)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..context import NodeContext
from ..mxops import npi
from ..symdim import Dim


def norm_axis(cx: NodeContext, axis: int, rank: int) -> int:
    """Non-negative axis; a clear error when out of range."""
    if not -rank <= axis < max(rank, 1) and not (rank == 0 and axis in (0, -1)):
        raise cx.fail(f"axis {axis} is out of range for a tensor of rank {rank}")
    return axis + rank if axis < 0 else axis


def norm_axes(cx: NodeContext, axes: Sequence[int], rank: int) -> list[int]:
    return [norm_axis(cx, int(a), rank) for a in axes]


def same_shape(a: tuple | None, b: tuple | None) -> bool:
    """Both shapes known and provably equal."""
    return a is not None and b is not None and len(a) == len(b) and all(x == y for x, y in zip(a, b))


def is_float_input(cx: NodeContext, index: int = 0) -> bool:
    storage = cx.in_storage(index)
    return storage is None or storage.startswith("float")


def broadcast_shape(a: Sequence[object], b: Sequence[object]) -> list[object]:
    """numpy broadcast of two shapes of ints/Dims (unknown pairs keep the non-1 side)."""
    out: list[object] = []
    ra, rb = len(a), len(b)
    for i in range(max(ra, rb)):
        x = a[ra - 1 - i] if i < ra else 1
        y = b[rb - 1 - i] if i < rb else 1
        if isinstance(x, int) and x == 1:
            out.append(y)
        elif isinstance(y, int) and y == 1:
            out.append(x)
        else:
            out.append(x)
    return out[::-1]


def pad_array(cx: NodeContext, x: object, pads: Sequence[tuple[int, int]], mode: str = "constant",
              value: float = 0.0) -> object:
    """numpy-style pad on any rank (``pads`` per axis as (before, after), both >= 0)."""
    if all(b == 0 and a == 0 for b, a in pads):
        return x
    width = tuple((int(b), int(a)) for b, a in pads)
    if len(width) == 1:
        # MXNet's numpy pad fails on every 1-D input ("index = 1 must be in range [0, 1)"): pad a (1, n) view
        F = cx.F
        padded = npi(F, "pad", F.reshape(x, shape=(1, -1)), pad_width=((0, 0),) + width, mode=mode,
                     constant_value=float(value))
        return F.reshape(padded, shape=(-1,))
    return npi(cx.F, "pad", x, pad_width=width, mode=mode, constant_value=float(value))


def has_symbolic(dims: Sequence[object]) -> bool:
    return any(isinstance(d, Dim) for d in dims)


def onnx_pads_to_pairs(pads: Sequence[int], spatial: int) -> list[tuple[int, int]]:
    """ONNX [x1_begin, x2_begin, ..., x1_end, x2_end] -> [(x1_begin, x1_end), ...]."""
    if not pads:
        return [(0, 0)] * spatial
    return [(int(pads[i]), int(pads[i + spatial])) for i in range(spatial)]


def as_float(value: np.ndarray | float) -> float:
    return float(np.asarray(value).reshape(-1)[0])
