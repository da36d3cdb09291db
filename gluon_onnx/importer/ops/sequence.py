"""Sequences and optionals: SequenceConstruct, SequenceEmpty, SequenceAt, SequenceInsert, SequenceErase,
SequenceLength, SplitToSequence, ConcatFromSequence, SequenceMap, Optional, OptionalHasElement,
OptionalGetElement.

Inside a block a sequence is a Python list of tensors and an optional is its value or None, in
both modes: the list's length is fixed while a graph is traced, positions are static inputs.
A converter returns a list as its outputs, so a sequence output is returned as a 1-tuple.
"""

from __future__ import annotations

import numpy as np
import onnx

from ..context import NeedsSpecialization, NodeContext
from ..mxops import reshape as np_reshape
from ..registry import converter
from ._helpers import norm_axis


def copy_value(cx: NodeContext, value: object) -> object:
    """A fresh F value (tensor, sequence or empty optional) equal to ``value``."""
    if value is None:
        return None
    if isinstance(value, list):
        return [cx.F.identity(v) for v in value]
    return cx.F.identity(value)


def _as_list(cx: NodeContext, seq: object, what: str = "input sequence") -> list:
    if not isinstance(seq, list):
        raise cx.fail(f"the {what} is not a sequence (got {type(seq).__name__})")
    return seq


def _position(cx: NodeContext, position: object, length: int, *, allow_end: bool) -> int:
    """Normalized sequence position; ``allow_end`` accepts ``length`` (insertion at the back)."""
    (pos,) = cx.concrete(position) if position is not None else (length if allow_end else length - 1,)
    upper = length if allow_end else length - 1
    if not -length <= pos <= upper:
        raise cx.fail(f"position {pos} is out of range for a sequence of length {length}")
    return pos + length if pos < 0 else pos


@converter("SequenceEmpty", since=11)
def sequence_empty(cx: NodeContext, *, dtype: int = onnx.TensorProto.FLOAT) -> tuple:
    return ([],)


@converter("SequenceConstruct", since=11)
def sequence_construct(cx: NodeContext, *inputs: object) -> tuple:
    return (list(inputs),)


@converter("SequenceAt", since=11, static=("position",))
def sequence_at(cx: NodeContext, input_sequence: object, position: object) -> object:
    seq = _as_list(cx, input_sequence)
    return seq[_position(cx, position, len(seq), allow_end=False)]


@converter("SequenceInsert", since=11, static=("position",))
def sequence_insert(cx: NodeContext, input_sequence: object, tensor: object, position: object = None) -> tuple:
    seq = list(_as_list(cx, input_sequence))
    seq.insert(_position(cx, position, len(seq), allow_end=True), tensor)
    return (seq,)


@converter("SequenceErase", since=11, static=("position",))
def sequence_erase(cx: NodeContext, input_sequence: object, position: object = None) -> tuple:
    seq = list(_as_list(cx, input_sequence))
    if not seq:
        raise cx.fail("cannot erase from an empty sequence")
    del seq[_position(cx, position, len(seq), allow_end=False)]
    return (seq,)


@converter("SequenceLength", since=11)
def sequence_length(cx: NodeContext, input_sequence: object) -> object:
    # known while tracing: a Loop may use it as its trip count
    return np.array(len(_as_list(cx, input_sequence)), dtype=np.int64)


@converter("SplitToSequence", since=11, static=("split",))
@converter("SplitToSequence", since=24, static=("split",))
def split_to_sequence(cx: NodeContext, input: object, split: object = None, *, axis: int = 0,
                      keepdims: int = 1) -> tuple:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    axis = norm_axis(cx, axis, len(shape))
    total = shape[axis]
    if not isinstance(total, int):
        raise NeedsSpecialization(f"SplitToSequence node {cx.name!r} needs the size of axis {axis}")
    if split is None:
        pieces = [F.slice_axis(input, axis=axis, begin=i, end=i + 1) for i in range(total)]
        if not keepdims:
            pieces = [_drop_axis(cx, p, shape, axis) for p in pieces]
        return (pieces,)
    sizes = [int(v) for v in np.asarray(split).reshape(-1)] if np.ndim(split) == 1 else None
    if sizes is None:
        (chunk,) = cx.concrete(split)
        if chunk <= 0:
            raise cx.fail(f"split must be positive, got {chunk}")
        sizes = [min(chunk, total - start) for start in range(0, total, chunk)]
    if sum(sizes) != total or any(s < 0 for s in sizes):
        raise cx.fail(f"split sizes {sizes} do not add up to the axis size {total}")
    pieces, start = [], 0
    for size in sizes:
        pieces.append(F.slice_axis(input, axis=axis, begin=start, end=start + size))
        start += size
    return (pieces,)


def _drop_axis(cx: NodeContext, x: object, shape: tuple, axis: int) -> object:
    if len(shape) == 1:
        return np_reshape(cx.F, x, ())
    return cx.F.squeeze(x, axis=axis)


@converter("ConcatFromSequence", since=11)
def concat_from_sequence(cx: NodeContext, input_sequence: object, *, axis: int = 0, new_axis: int = 0) -> object:
    seq = _as_list(cx, input_sequence)
    if not seq:
        raise cx.fail("cannot concatenate an empty sequence")
    rank = cx.out_shape(0)
    rank = len(rank) if rank is not None else None
    if new_axis:
        if rank is None:
            raise cx.fail("the rank of the sequence elements is unknown")
        axis = norm_axis(cx, axis, rank)
        if len(seq) == 1:
            return cx.F.expand_dims(seq[0], axis=axis)
        return cx.F.stack(*seq, axis=axis)
    if rank is None:
        raise cx.fail("the rank of the sequence elements is unknown")
    axis = norm_axis(cx, axis, rank)
    if len(seq) == 1:
        return cx.F.identity(seq[0])
    return cx.F.concat(*seq, dim=axis)


@converter("SequenceMap", since=17)
def sequence_map(cx: NodeContext, input_sequence: object, *additional_inputs: object,
                 body: onnx.GraphProto | None = None) -> tuple:
    graph = cx.subgraph("body")
    inputs = [input_sequence, *additional_inputs]
    length = len(_as_list(cx, input_sequence))
    for value in inputs:
        if isinstance(value, list) and len(value) != length:
            raise cx.fail(f"input sequences have different lengths ({len(value)} and {length})")
    results: list[list] = [[] for _ in graph.output_names]
    for i in range(length):
        args = [value[i] if isinstance(value, list) else value for value in inputs]
        for collected, value in zip(results, cx.run_subgraph(graph, args)):
            collected.append(value)
    return tuple(results)


@converter("Optional", since=15)
@converter("Optional", since=28)
def optional(cx: NodeContext, input: object = None, *, type: object = None) -> tuple:
    return (copy_value(cx, input),)


@converter("OptionalHasElement", since=15)
@converter("OptionalHasElement", since=18)
@converter("OptionalHasElement", since=28)
def optional_has_element(cx: NodeContext, input: object = None) -> object:
    # known while tracing: an If on it runs one branch
    return np.array(input is not None)


@converter("OptionalGetElement", since=15)
@converter("OptionalGetElement", since=18)
@converter("OptionalGetElement", since=28)
def optional_get_element(cx: NodeContext, input: object) -> tuple:
    if input is None:
        raise cx.fail("the optional input is empty")
    return (copy_value(cx, input),)

