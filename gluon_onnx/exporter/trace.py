"""Trace a Gluon HybridBlock (or take an MXNet Symbol) into a graph the translations walk.

The block is run once on the sample inputs (this resolves deferred parameter shapes and
gives the reference outputs), then called with ``mx.sym.var`` inputs to get its symbol.
The symbol's JSON gives the nodes; MXNet's own shape and type inference on
``sym.get_internals()`` gives every entry's shape and dtype. When some input dimensions
are declared dynamic, shape inference runs a second time with those dimensions doubled
(doubling keeps every divisibility constraint of the network intact): an entry dimension
that changes is dynamic, one that does not is a constant of the network.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np

from ..errors import ExportError
from .attrs import Attrs

Entry = tuple  # (node index, output index)


@dataclass
class MxNode:
    """One node of the symbol's JSON."""

    index: int
    op: str  # "null" for variables
    name: str
    attrs: Attrs
    inputs: list[Entry]
    output_names: list[str] = field(default_factory=list)  # MXNet names of the visible outputs
    first_entry: int = 0  # position of output 0 in ``internals.list_outputs()``

    @property
    def is_variable(self) -> bool:
        return self.op == "null"

    @property
    def num_outputs(self) -> int:
        return len(self.output_names)


@dataclass
class EntryInfo:
    shape: tuple[int, ...] | None
    dtype: np.dtype | None
    dynamic: tuple[bool, ...] | None  # per dimension: does it follow a dynamic input axis
    alt_shape: tuple[int, ...] | None = None  # the shape with the dynamic input axes doubled


@dataclass
class TracedGraph:
    """A symbol graph with the facts translations need."""

    symbol: mx.sym.Symbol
    internals: mx.sym.Symbol
    nodes: list[MxNode]
    heads: list[Entry]
    inputs: list[str]
    input_shapes: dict[str, tuple[int, ...]]
    input_dtypes: dict[str, np.dtype]
    params: dict[str, mx.nd.NDArray]
    infos: dict[Entry, EntryInfo]
    depends_on_input: list[bool]

    def info(self, entry: Entry) -> EntryInfo:
        return self.infos.get(tuple(entry)) or EntryInfo(None, None, None)

    def evaluate(self, entry: Entry) -> np.ndarray:
        """Value of an entry that depends only on parameters and constants (run by MXNet)."""
        node = self.nodes[entry[0]]
        if node.is_variable:
            if node.name not in self.params:
                raise ExportError(f"variable {node.name!r} has no value at export time")
            return self.params[node.name].asnumpy()
        sym = self.internals[node.first_entry + entry[1]]
        args = {}
        for name in sym.list_arguments():
            if name not in self.params:
                raise ExportError(f"entry {node.name!r} depends on {name!r}, which has no value at export time")
            args[name] = self.params[name]
        aux = {name: self.params[name] for name in sym.list_auxiliary_states()}
        try:
            executor = sym.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
            executor.forward(is_train=False)
            return executor.outputs[0].asnumpy()
        except mx.base.MXNetError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise ExportError(f"cannot evaluate {node.name!r} at export time: {lines[-1] if lines else exc}") from None


def flatten_outputs(out: object) -> list:
    """Outputs of a block call as a flat list (tuples and lists nest)."""
    if isinstance(out, (list, tuple)):
        flat = []
        for item in out:
            flat.extend(flatten_outputs(item))
        return flat
    return [out]


def _visible_outputs(node: MxNode, total: int, cache: dict) -> int:
    """How many outputs of ``node`` a symbol exposes (BatchNorm: 1 of 3, RNN: 1 to 3, ...)."""
    if total <= 1:
        return 1
    key = (node.op, json.dumps(node.attrs.raw, sort_keys=True), len(node.inputs))
    if key not in cache:
        count = len(node.inputs)
        nodes = [{"op": "null", "name": f"in{i}", "inputs": []} for i in range(count)]
        nodes.append({"op": node.op, "name": "probe", "attrs": node.attrs.raw,
                      "inputs": [[i, 0, 0] for i in range(count)]})
        graph = {"nodes": nodes, "arg_nodes": list(range(count)), "heads": [[count, 0, 0]],
                 "attrs": {"mxnet_version": ["int", 10901]}}
        probe = mx.sym.load_json(json.dumps(graph))
        cache[key] = len(probe.get_internals().list_outputs()) - count
    return cache[key]


def _map_entries(nodes: list[MxNode], node_row_ptr: Sequence[int], names: list[str]) -> None:
    """Assign each node its visible outputs in ``internals.list_outputs()`` order."""
    pos = 0
    cache: dict = {}
    for i, node in enumerate(nodes):
        node.first_entry = pos
        if node.is_variable:
            count = 1
        else:
            total = node_row_ptr[i + 1] - node_row_ptr[i] if node_row_ptr else 1
            count = _visible_outputs(node, total, cache)
        node.output_names = names[pos:pos + count]
        if len(node.output_names) != count or (node.is_variable and node.output_names[0] != node.name):
            raise ExportError(f"cannot align symbol internals with node {node.name!r}")
        pos += count
    if pos != len(names):
        raise ExportError("cannot align symbol internals with the symbol's nodes")


def parse_symbol(symbol: mx.sym.Symbol) -> tuple[list[MxNode], list[Entry], mx.sym.Symbol]:
    """Nodes and heads of a symbol's JSON, aligned with its internals."""
    # keep amp_cast/amp_multicast nodes: get_internals() has them, and so must the node list
    graph = json.loads(symbol.tojson(remove_amp_cast=False))
    nodes = []
    for index, raw in enumerate(graph["nodes"]):
        attrs = raw.get("attrs", raw.get("attr", raw.get("param", {}))) or {}
        nodes.append(MxNode(index, raw["op"], raw["name"], Attrs(attrs), [(e[0], e[1]) for e in raw["inputs"]]))
    heads = [(h[0], h[1]) for h in graph["heads"]]
    internals = symbol.get_internals()
    _map_entries(nodes, graph.get("node_row_ptr", []), internals.list_outputs())
    return nodes, heads, internals


def _infer_shapes(internals: mx.sym.Symbol, arg_shapes: Mapping[str, tuple]) -> list[tuple | None]:
    known = set(internals.list_arguments())
    kwargs = {k: tuple(v) for k, v in arg_shapes.items() if k in known}
    try:
        _, out_shapes, _ = internals.infer_shape_partial(**kwargs)
    except mx.base.MXNetError as exc:
        lines = [line for line in str(exc).splitlines() if line.strip() and "Stack trace" not in line]
        raise ExportError("MXNet shape inference failed: " + (lines[-1] if lines else str(exc))) from None
    result = []
    for shape in out_shapes or []:
        if shape is None or (len(shape) and any(d <= 0 for d in shape)):
            result.append(None if shape is None or any(d < 0 for d in shape) else tuple(shape))
        else:
            result.append(tuple(shape))
    return result


def _infer_dtypes(internals: mx.sym.Symbol, arg_dtypes: Mapping[str, np.dtype]) -> list[np.dtype | None]:
    known = set(internals.list_arguments())
    kwargs = {k: np.dtype(v) for k, v in arg_dtypes.items() if k in known}
    try:
        _, out_types, _ = internals.infer_type_partial(**kwargs)
    except mx.base.MXNetError:
        return [None] * len(internals.list_outputs())
    return [None if t is None else np.dtype(t) for t in out_types]


def analyse(
    symbol: mx.sym.Symbol,
    inputs: Sequence[str],
    input_shapes: Mapping[str, tuple[int, ...]],
    input_dtypes: Mapping[str, np.dtype],
    params: Mapping[str, mx.nd.NDArray],
    dynamic_axes: Mapping[str, Sequence[int]] | None = None,
) -> TracedGraph:
    """Parse ``symbol`` and infer shapes, dtypes and dynamic dimensions of every entry."""
    nodes, heads, internals = parse_symbol(symbol)
    variables = {n.name for n in nodes if n.is_variable}
    missing = sorted(variables - set(inputs) - set(params))
    if missing:
        raise ExportError(
            f"symbol variable(s) {missing} are neither inputs ({list(inputs)}) nor parameters; "
            "pass them as inputs or provide their values"
        )
    arg_shapes = {name: tuple(p.shape) for name, p in params.items()}
    arg_shapes.update({name: tuple(input_shapes[name]) for name in inputs})
    shapes = _infer_shapes(internals, arg_shapes)
    dtypes = _infer_dtypes(internals, {**{n: p.dtype for n, p in params.items()}, **dict(input_dtypes)})
    dynamic_shapes = None
    dynamic_axes = {k: tuple(v) for k, v in (dynamic_axes or {}).items() if v}
    if dynamic_axes:
        doubled = dict(arg_shapes)
        for name, axes in dynamic_axes.items():
            shape = list(doubled[name])
            for axis in axes:
                shape[axis] = shape[axis] * 2 if shape[axis] > 0 else 2
            doubled[name] = tuple(shape)
        try:
            dynamic_shapes = _infer_shapes(internals, doubled)
        except ExportError as exc:
            raise ExportError(
                f"the network cannot take other sizes on the dynamic axes {dynamic_axes}: {exc}. "
                "Its shapes are fixed along those axes; remove them from dynamic_axes."
            ) from None
    infos: dict[Entry, EntryInfo] = {}
    for node in nodes:
        for k in range(node.num_outputs):
            flat = node.first_entry + k
            shape = shapes[flat] if flat < len(shapes) else None
            dynamic = None
            alt = None
            if shape is not None:
                dynamic = (False,) * len(shape)
                if dynamic_shapes is not None:
                    other = dynamic_shapes[flat]
                    if other is None or len(other) != len(shape):
                        dynamic = (True,) * len(shape)
                    else:
                        dynamic = tuple(a != b for a, b in zip(shape, other))
                        alt = other
            infos[(node.index, k)] = EntryInfo(shape, dtypes[flat] if flat < len(dtypes) else None, dynamic, alt)
    depends = []
    for node in nodes:
        if node.is_variable:
            depends.append(node.name in inputs)
        else:
            depends.append(any(depends[src] for src, _ in node.inputs))
    return TracedGraph(
        symbol=symbol,
        internals=internals,
        nodes=nodes,
        heads=heads,
        inputs=list(inputs),
        input_shapes={k: tuple(v) for k, v in input_shapes.items()},
        input_dtypes={k: np.dtype(v) for k, v in input_dtypes.items()},
        params=dict(params),
        infos=infos,
        depends_on_input=depends,
    )


def block_parameters(block: mx.gluon.Block) -> dict[str, mx.nd.NDArray]:
    """Gluon parameter name -> its current value (first context)."""
    values = {}
    for name, param in block.collect_params().items():
        try:
            data = param.list_data()[0]
        except (RuntimeError, mx.base.MXNetError, AssertionError):
            continue  # not initialized: the graph will report it if it needs it
        if hasattr(data, "as_nd_ndarray"):  # numpy-mode (npx.set_np) parameters
            data = data.as_nd_ndarray()
        values[param.name] = data
        values.setdefault(name, data)
    return values


def trace_block(
    block: mx.gluon.HybridBlock,
    args: Sequence[mx.nd.NDArray],
    input_names: Sequence[str],
) -> tuple[mx.sym.Symbol, list[mx.nd.NDArray]]:
    """Run ``block`` on ``args`` (the reference outputs) and trace it into a symbol."""
    if not isinstance(block, mx.gluon.HybridBlock):
        raise ExportError(
            f"{type(block).__name__} is not a HybridBlock: only HybridBlocks have a symbolic graph to export"
        )
    numpy_mode = mx.util.is_np_array()
    if numpy_mode:  # Gluon 2-style blocks (npx.set_np): numpy arrays and symbols in, _npi_* operators
        args = [a.as_np_ndarray() if hasattr(a, "as_np_ndarray") else a for a in args]
    with mx.autograd.predict_mode():
        outputs = flatten_outputs(block(*args))
    outputs = [o.as_nd_ndarray() if hasattr(o, "as_nd_ndarray") else o for o in outputs]
    for out in outputs:
        if not isinstance(out, mx.nd.NDArray):
            raise ExportError(f"the block returned a {type(out).__name__}; only NDArray outputs can be exported")
    variables = [mx.sym.var(name) for name in input_names]
    if numpy_mode:
        variables = [v.as_np_ndarray() for v in variables]
    with mx.autograd.predict_mode():
        symbols = flatten_outputs(block(*variables))
    symbols = [s.as_nd_ndarray() if hasattr(s, "as_nd_ndarray") else s for s in symbols]
    if len(symbols) != len(outputs):
        raise ExportError(
            f"the block returns {len(outputs)} outputs for NDArrays but {len(symbols)} for Symbols"
        )
    symbol = symbols[0] if len(symbols) == 1 else mx.sym.Group(symbols)
    return symbol, outputs
