"""Control flow: If, Loop, Scan.

Subgraphs are planned at import time (``cx.subgraph``) and run with ``cx.run_subgraph``; they
read tensors of the enclosing graphs directly.

* Imperative mode interprets them: If reads its condition, Loop iterates while its condition
  holds (one host read per iteration when the body computes the condition).
* Hybridized mode folds what is known while tracing: an If whose condition is static runs only
  its branch; a runtime condition becomes ``F.contrib.cond``, or, when the branches cannot share
  one (different shapes, sequences of other lengths, empty optionals), asks for a trace per input
  shape (conditions on sizes then fold); a Loop whose trip count is known
  and whose condition never changes is unrolled (bodies that need the iteration number as a value
  are re-planned per iteration so that it folds), a Loop whose body computes its condition and
  has no scan outputs becomes ``F.contrib.while_loop``, a Scan is unrolled over its (traced)
  length. Everything else raises a HybridizationError.
"""

from __future__ import annotations

import numpy as np
import onnx

from ... import limits
from ...dtypes import storage_dtype
from ...errors import ResourceLimitError
from ..context import NeedsSpecialization, NodeContext
from ..mxops import npi
from ..mxops import reshape as np_reshape
from ..plan import Plan, Subgraph
from ..registry import converter
from ..shapes import SymArray
from ..symdim import Dim
from ._helpers import norm_axis

#: the most iterations a hybridized Loop or Scan is unrolled to
MAX_UNROLL = 4096


def _is_tensor(value: object) -> bool:
    return value is not None and not isinstance(value, list)


def _host_bool(cx: NodeContext, value: object) -> bool:
    array = np.asarray(value.asnumpy() if hasattr(value, "asnumpy") else value).reshape(-1)
    if array.size != 1:
        raise cx.fail(f"a condition must hold one element, got {array.size}")
    return bool(array[0])


# --- If ------------------------------------------------------------------------------------


@converter("If", since=1)
@converter("If", since=11)
@converter("If", since=13)
@converter("If", since=16)
@converter("If", since=19)
@converter("If", since=21)
@converter("If", since=23)
@converter("If", since=24)
@converter("If", since=25)
def if_(cx: NodeContext, cond: object, *, then_branch: onnx.GraphProto | None = None,
        else_branch: onnx.GraphProto | None = None) -> tuple:
    then_graph, else_graph = cx.subgraph("then_branch"), cx.subgraph("else_branch")
    if then_graph is None or else_graph is None:  # the condition was known at import time
        return tuple(cx.run_subgraph(then_graph or else_graph))
    known = cx.static(0)
    if known is not None:
        taken = _host_bool(cx, known)
    elif not cx.symbolic:
        taken = _host_bool(cx, cond)
    elif isinstance(cx.executor.plan.statics.get(cx.step.inputs[0]), SymArray):
        # the condition only depends on input sizes: a trace per size runs one branch
        raise NeedsSpecialization(f"If node {cx.name!r} tests input sizes")
    else:
        return _symbolic_if(cx, cond, then_graph, else_graph)
    return tuple(cx.run_subgraph(then_graph if taken else else_graph))


def _cannot_branch(cx: NodeContext, why: str) -> NeedsSpecialization:
    """MXNet's cond cannot hold these branches: a trace for fixed inputs may know the condition
    (it often only tests input sizes); if not, the block reports this reason."""
    return NeedsSpecialization(f"If node {cx.name!r}: {why} under a condition computed at run time "
                               "(MXNet's cond needs branches returning tensors of equal shapes)")


def _lengths_differ(a: tuple, b: tuple) -> bool:
    """Shapes that differ only in a first size that one branch computes at run time (torchvision
    returns an empty tensor when there are no boxes, else the kept boxes)."""
    return len(a) == len(b) > 0 and a[1:] == b[1:] and (isinstance(a[0], Dim) or isinstance(b[0], Dim))


def _dynamic_length(F: object, value: object) -> object:
    """``value`` with its first size data-dependent for MXNet: cond then accepts branches whose
    first sizes differ (its shape inference leaves them to run time)."""
    if not _is_tensor(value):
        return value
    positions = F.contrib.arange_like(F.Cast(value, dtype="float32"), axis=0)
    chosen = F.reshape(npi(F, "nonzero", F.ones_like(positions)), shape=(-1,))
    return F.take(value, chosen, axis=0)


def _symbolic_if(cx: NodeContext, cond: object, then_graph: Subgraph, else_graph: Subgraph) -> tuple:
    F = cx.F
    gated: set[int] = set()
    for index, (a, b) in enumerate(zip(then_graph.output_names, else_graph.output_names)):
        shape_a, shape_b = then_graph.plan.info(a).shape, else_graph.plan.info(b).shape
        if shape_a is not None and shape_b is not None and tuple(shape_a) != tuple(shape_b):
            if not _lengths_differ(tuple(shape_a), tuple(shape_b)):
                raise _cannot_branch(cx, f"the branches return tensors of different shapes ({shape_a} and {shape_b})")
            gated.add(index)
    layouts: list[list] = []

    def branch(graph: Subgraph) -> object:
        def run() -> list:
            outputs = cx.run_subgraph(graph)
            if any(v is None or (isinstance(v, list) and not all(_is_tensor(e) for e in v)) for v in outputs):
                raise _cannot_branch(cx, "a branch returns an empty optional")
            layouts.append([len(v) if isinstance(v, list) else None for v in outputs])
            if len(layouts) == 2 and layouts[0] != layouts[1]:
                raise _cannot_branch(cx, "the branches return sequences of different lengths")
            outputs = [_dynamic_length(F, v) if i in gated else v for i, v in enumerate(outputs)]
            flat = [e for v in outputs for e in (v if isinstance(v, list) else [v])]
            return [F.identity(v) for v in flat]

        return run

    pred = F.reshape(F.Cast(cond, dtype="float32"), shape=(1,))
    flat = F.contrib.cond(pred, branch(then_graph), branch(else_graph))
    if not isinstance(flat, (list, tuple)):
        flat = [flat]
    outputs, position = [], 0
    for length in layouts[0]:
        if length is None:
            outputs.append(flat[position])
            position += 1
        else:
            outputs.append(list(flat[position:position + length]))
            position += length
    return tuple(outputs)


# --- Loop ----------------------------------------------------------------------------------


def _passes_through(plan: Plan, output: str, source: str) -> bool:
    """``output`` of ``plan`` is ``source`` itself or an Identity chain of it."""
    producers = {out: step for step in plan.steps for out in step.outputs}
    name = output
    for _ in range(len(plan.steps) + 1):
        if name == source:
            return True
        step = producers.get(name)
        if step is None or step.op_type != "Identity":
            return False
        name = step.inputs[0]
    return False


def _condition_invariant(body: Subgraph) -> bool:
    """The body's condition output always equals its condition input (or is constant true)."""
    plan = body.plan
    out = plan.outputs[0]
    static = plan.statics.get(out)
    if isinstance(static, np.ndarray) and static.size == 1 and bool(static.reshape(-1)[0]):
        return True
    return len(plan.inputs) > 1 and _passes_through(plan, out, plan.inputs[1])


def _stack(cx: NodeContext, items: list, out_index: int, axis: int = 0, element: tuple | None = None) -> object:
    """Stack per-iteration values on a new ``axis``; an empty loop gives a 0-length tensor
    (``element``: the shape of one item, from the body's plan)."""
    F = cx.F
    if not items:
        if element is None:
            raise cx.fail("the loop ran zero times and the shape of its scan output is unknown")
        shape = list(element)
        shape.insert(axis, 0)
        return cx.shape_template(shape, cx.out_storage(out_index) or "float32")
    if any(not _is_tensor(v) for v in items):
        raise cx.fail("scan outputs must be tensors")
    if not cx.symbolic and len({tuple(v.shape) for v in items}) > 1:
        # MXNet's stack checks this only while running (an asynchronous failure)
        raise cx.fail(f"scan output {out_index} changes shape across iterations: "
                      f"{sorted({tuple(v.shape) for v in items})}")
    if len(items) == 1:
        return F.expand_dims(items[0], axis=axis)
    return F.stack(*items, axis=axis)


@converter("Loop", since=1, static=("M", "cond"))
@converter("Loop", since=11, static=("M", "cond"))
@converter("Loop", since=13, static=("M", "cond"))
@converter("Loop", since=16, static=("M", "cond"))
@converter("Loop", since=19, static=("M", "cond"))
@converter("Loop", since=21, static=("M", "cond"))
@converter("Loop", since=23, static=("M", "cond"))
@converter("Loop", since=24, static=("M", "cond"))
@converter("Loop", since=25, static=("M", "cond"))
def loop(cx: NodeContext, M: object = None, cond: object = None, *v_initial: object,
         body: onnx.GraphProto | None = None) -> tuple:
    graph = cx.subgraph("body")
    trip_count = None if M is None else cx.concrete(M)[0]
    keep_going = True if cond is None else bool(cx.concrete(np.asarray(cond).astype(np.int64))[0])
    num_states = len(v_initial)
    num_scans = len(graph.output_names) - 1 - num_states
    if num_scans < 0:
        raise cx.fail(f"the body returns {len(graph.output_names)} values for {num_states} loop-carried values")
    invariant = _condition_invariant(graph)
    if not keep_going:
        iterations = 0
    elif invariant:
        if trip_count is None:
            raise cx.fail("the loop has neither a trip count nor a condition that can become false")
        iterations = max(int(trip_count), 0)
        if iterations > limits.MAX_LOOP_ITERATIONS:  # refused before the first iteration runs
            raise ResourceLimitError(
                f"Loop node {cx.name!r} would run {iterations} iterations, over "
                f"gluon_onnx.limits.MAX_LOOP_ITERATIONS = {limits.MAX_LOOP_ITERATIONS}"
            )
    else:
        iterations = None  # decided by the body
    if cx.symbolic:
        if iterations is None:
            return _while_loop(cx, graph, trip_count, list(v_initial), num_scans)
        if iterations > MAX_UNROLL:
            raise cx.not_hybridizable(f"a Loop of {iterations} iterations is over the unroll limit {MAX_UNROLL}")
    return _run_loop(cx, graph, trip_count, iterations, list(v_initial), num_scans)


def _run_loop(cx: NodeContext, graph: Subgraph, trip_count: int | None, iterations: int | None,
              states: list, num_scans: int) -> tuple:
    """Iterate the body in Python: imperative mode, or unrolling while tracing."""
    iter_name, cond_name = graph.input_names[0], graph.input_names[1]
    formal = set(graph.input_names[:2])
    # a body that needs the iteration number as a value (Slice bounds, SequenceAt positions, ...)
    specialize = cx.symbolic and bool(graph.plan.static_needs & formal)
    scans: list[list] = [[] for _ in range(num_scans)]
    i = 0
    while (iterations is None or i < iterations) and (trip_count is None or i < trip_count):
        iteration = np.array(i, dtype=np.int64)
        if specialize:
            plan = graph.specialize({iter_name: iteration, cond_name: np.array(True)})
            outputs = cx.run_subgraph(plan, {**dict(zip(graph.input_names[2:], states))})
        else:
            outputs = cx.run_subgraph(graph, [cx.const(iteration), cx.const(np.array(True)), *states])
        states = list(outputs[1:1 + len(states)])
        for collected, value in zip(scans, outputs[1 + len(states):]):
            collected.append(value)
            if not cx.symbolic and hasattr(value, "shape"):  # the stacked scan output grows every iteration
                cx.check_elements([len(collected), *value.shape])
        i += 1
        if iterations is None and not _host_bool(cx, outputs[0]):
            break
    body_outputs = graph.output_names[1 + len(states):]
    stacked = [_stack(cx, items, len(states) + k, element=graph.plan.info(body_outputs[k]).shape)
               for k, items in enumerate(scans)]
    return tuple(states + stacked)


def _while_loop(cx: NodeContext, graph: Subgraph, trip_count: int | None, states: list, num_scans: int) -> tuple:
    """A Loop whose body computes its condition, as ``F.contrib.while_loop`` (no scan outputs)."""
    F = cx.F
    if num_scans:
        raise cx.not_hybridizable("a Loop whose condition is computed by its body has scan outputs of "
                                  "data-dependent length")
    if trip_count is None or trip_count > MAX_UNROLL * 256:
        raise cx.not_hybridizable("a Loop whose condition is computed by its body needs a moderate trip count "
                                  f"(got {trip_count}) to become MXNet's while_loop")
    if not all(_is_tensor(v) for v in states):
        raise cx.not_hybridizable("a Loop whose condition is computed by its body carries sequences")
    if graph.plan.static_needs & set(graph.input_names):
        raise cx.not_hybridizable("the body of a Loop whose condition it computes needs loop values while the "
                                  "graph is built")
    cond_storage = storage_dtype(np.dtype(bool))

    def keep_going(i: object, c: object, *_: object) -> object:
        return c

    def step(i: object, c: object, *values: object) -> tuple:
        condition = F.Cast(np_reshape(F, c, ()), dtype=cond_storage)
        outputs = cx.run_subgraph(graph, [np_reshape(F, i, ()), condition, *values])
        # MXNet wants every loop variable used by the step: c (read by keep_going) joins in
        cond_out = F.reshape(F.Cast(outputs[0], dtype="float32"), shape=(1,)) + c * 0
        new_values = [F.identity(new) if new is old else new for new, old in zip(outputs[1:], values)]
        return [], [i + 1, cond_out, *new_values]

    start = [F.zeros(shape=(1,), dtype="int64"), F.ones(shape=(1,), dtype="float32")]
    _, final = F.contrib.while_loop(keep_going, step, start + list(states), max_iterations=int(trip_count))
    return tuple(final[2:])


# --- Scan ----------------------------------------------------------------------------------


def _scan_slices(cx: NodeContext, x: object, axis: int, length: int, rank: int, reverse: bool) -> list:
    """The ``length`` slices of ``x`` along ``axis`` (the axis dropped), in scan order."""
    F = cx.F
    out_shape = None if rank > 1 else ()
    pieces = []
    for t in range(length):
        index = length - 1 - t if reverse else t
        piece = F.slice_axis(x, axis=axis, begin=index, end=index + 1)
        pieces.append(np_reshape(F, piece, out_shape) if out_shape is not None else F.squeeze(piece, axis=axis))
    return pieces


def _run_scan(cx: NodeContext, graph: Subgraph, states: list, scan_inputs: list, input_shapes: list,
              *, input_directions: list[int], output_directions: list[int], input_axes: list[int],
              output_axes: list[int]) -> tuple:
    num_states = len(states)
    lengths = set()
    sliced = []
    for k, x in enumerate(scan_inputs):
        shape = input_shapes[k]
        if shape is None:
            raise cx.fail(f"the rank of scan input {k} is unknown")
        axis = norm_axis(cx, input_axes[k], len(shape))
        length = shape[axis]
        if not isinstance(length, int):
            raise NeedsSpecialization(f"Scan node {cx.name!r} needs the sequence length")
        lengths.add(length)
        sliced.append((x, axis, length, len(shape), bool(input_directions[k])))
    if len(lengths) != 1:
        raise cx.fail(f"scan inputs have different lengths {sorted(lengths)}")
    (length,) = lengths
    if cx.symbolic and length > MAX_UNROLL:
        raise cx.not_hybridizable(f"a Scan of {length} steps is over the unroll limit {MAX_UNROLL}")
    slices = [_scan_slices(cx, x, axis, n, rank, rev) for x, axis, n, rank, rev in sliced]
    num_outputs = len(graph.output_names) - num_states
    collected: list[list] = [[] for _ in range(num_outputs)]
    for t in range(length):
        outputs = cx.run_subgraph(graph, [*states, *(s[t] for s in slices)])
        states = list(outputs[:num_states])
        for items, value in zip(collected, outputs[num_states:]):
            items.append(value)
    results = list(states)
    for k, items in enumerate(collected):
        if output_directions[k]:
            items = items[::-1]
        out_rank = cx.out_shape(num_states + k)
        rank = len(out_rank) if out_rank is not None else None
        axis = output_axes[k]
        if axis < 0:
            if rank is None:
                raise cx.fail(f"the rank of scan output {k} is unknown")
            axis += rank
        element = graph.plan.info(graph.output_names[num_states + k]).shape
        results.append(_stack(cx, items, num_states + k, axis=axis, element=element))
    return tuple(results)


@converter("Scan", since=9)
@converter("Scan", since=11)
@converter("Scan", since=16)
@converter("Scan", since=19)
@converter("Scan", since=21)
@converter("Scan", since=23)
@converter("Scan", since=24)
@converter("Scan", since=25)
def scan(cx: NodeContext, *inputs: object, body: onnx.GraphProto | None = None, num_scan_inputs: int = 0,
         scan_input_directions: list[int] | None = None, scan_output_directions: list[int] | None = None,
         scan_input_axes: list[int] | None = None, scan_output_axes: list[int] | None = None) -> tuple:
    graph = cx.subgraph("body")
    num_states = len(inputs) - num_scan_inputs
    num_scan_outputs = len(graph.output_names) - num_states
    if num_states < 0 or num_scan_outputs < 0:
        raise cx.fail("num_scan_inputs does not match the inputs and the body")
    return _run_scan(
        cx, graph, list(inputs[:num_states]), list(inputs[num_states:]),
        [cx.in_shape(i) for i in range(num_states, len(inputs))],
        input_directions=list(scan_input_directions or [0] * num_scan_inputs),
        output_directions=list(scan_output_directions or [0] * num_scan_outputs),
        input_axes=list(scan_input_axes or [0] * num_scan_inputs),
        output_axes=list(scan_output_axes or [0] * num_scan_outputs),
    )


@converter("Scan", since=8)
def scan_v8(cx: NodeContext, sequence_lens: object, *inputs: object, body: onnx.GraphProto | None = None,
            num_scan_inputs: int = 0, directions: list[int] | None = None) -> tuple:
    """Opset 8: every input has a leading batch axis; the body runs per batch element."""
    F = cx.F
    graph = cx.subgraph("body")
    num_states = len(inputs) - num_scan_inputs
    num_scan_outputs = len(graph.output_names) - num_states
    if not 0 <= num_scan_inputs <= len(inputs) or num_scan_outputs < 0:
        raise cx.fail("num_scan_inputs does not match the inputs and the body")
    shapes = [cx.in_shape(1 + i) for i in range(len(inputs))]
    if any(shape is None or not shape for shape in shapes):
        raise cx.fail("the ranks of the inputs are unknown")
    batch = shapes[0][0]
    if not isinstance(batch, int):
        raise NeedsSpecialization(f"Scan node {cx.name!r} needs the batch size")
    if sequence_lens is not None:
        lengths = cx.static(0)
        if lengths is None and not cx.symbolic:
            lengths = sequence_lens.asnumpy()
        if lengths is None or np.any(np.asarray(lengths) != shapes[num_states][1]):
            raise cx.fail("sequence_lens shorter than the sequence are not supported")
    per_batch: list[list] = []
    for b in range(batch):
        picked = []
        for x, shape in zip(inputs, shapes):
            row = F.slice_axis(x, axis=0, begin=b, end=b + 1)
            picked.append(F.squeeze(row, axis=0) if len(shape) > 1 else np_reshape(F, row, ()))
        per_batch.append(list(_run_scan(
            cx, graph, picked[:num_states], picked[num_states:], [shape[1:] for shape in shapes[num_states:]],
            input_directions=list(directions or [0] * num_scan_inputs),
            output_directions=[0] * num_scan_outputs, input_axes=[0] * num_scan_inputs,
            output_axes=[0] * num_scan_outputs,
        )))
    return tuple(_stack(cx, [row[k] for row in per_batch], k) for k in range(len(graph.output_names)))
