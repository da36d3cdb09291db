"""Fold the parts of a traced MXNet graph that only depend on constants.

Converters express weight preparation with MXNet operators (an LSTM's gate reordering and
packing, a transposed weight, a reshaped bias); with frozen weights (``optimize=True``) those
operators would recompute the same values on every call. :func:`fold_constant_subgraphs`
evaluates every maximal constant subgraph once and replaces it by a new constant input.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence

import mxnet as mx

#: operators never evaluated ahead of time (random or stateful)
_VOLATILE = ("random", "sample", "shuffle", "Dropout", "_contrib_quantize")


def _foldable(op: str) -> bool:
    return not any(word in op for word in _VOLATILE)


def fold_constant_subgraphs(
    outputs: Sequence[mx.sym.Symbol],
    constants: Mapping[str, mx.nd.NDArray],
    new_constant: Callable[[mx.nd.NDArray], str],
    max_elements: int,
) -> list[mx.sym.Symbol] | None:
    """``outputs`` with each constant subgraph replaced by a variable; None when nothing folds.

    Parameters
    ----------
    outputs : list of Symbol
        The traced graph.
    constants : dict
        Variable name -> value of the variables that are constants.
    new_constant : callable
        Registers a folded value and returns the name of its variable.
    max_elements : int
        Values larger than this (and than the constants they come from) stay computed.
    """
    graph = json.loads(mx.sym.Group(list(outputs)).tojson())
    nodes = graph["nodes"]
    constant = []
    for node in nodes:
        if node["op"] == "null":
            constant.append(node["name"] in constants)
        else:
            constant.append(bool(node["inputs"]) and _foldable(node["op"])
                            and all(constant[i] for i, _, _ in node["inputs"]))
    frontier: list[tuple[int, int]] = []
    for index, node in enumerate(nodes):
        if constant[index]:
            continue
        for source, output, _ in node["inputs"]:
            if constant[source] and nodes[source]["op"] != "null" and (source, output) not in frontier:
                frontier.append((source, output))
    for source, output, _ in graph["heads"]:
        if constant[source] and nodes[source]["op"] != "null" and (source, output) not in frontier:
            frontier.append((source, output))
    if not frontier:
        return None
    values = _evaluate(graph, frontier, constants, max_elements)
    if not values:
        return None
    names = {entry: new_constant(value) for entry, value in values.items()}
    return _rebuild(graph, names)


def _subgraph(graph: dict, heads: Sequence[tuple[int, int]]) -> dict:
    """A graph JSON with the nodes ``heads`` depend on (topological order kept) and those heads."""
    nodes = graph["nodes"]
    needed: set[int] = set()
    stack = [source for source, _ in heads]
    while stack:
        index = stack.pop()
        if index in needed:
            continue
        needed.add(index)
        stack.extend(i for i, _, _ in nodes[index]["inputs"])
    order = sorted(needed)
    position = {old: new for new, old in enumerate(order)}
    new_nodes = []
    for old in order:
        node = dict(nodes[old])
        node["inputs"] = [[position[i], j, v] for i, j, v in node["inputs"]]
        new_nodes.append(node)
    return {
        "nodes": new_nodes,
        "arg_nodes": [k for k, node in enumerate(new_nodes) if node["op"] == "null"],
        "heads": [[position[i], j, 0] for i, j in heads],
        "attrs": graph.get("attrs", {}),
    }


def _evaluate(graph: dict, frontier: list[tuple[int, int]], constants: Mapping[str, mx.nd.NDArray],
              max_elements: int) -> dict[tuple[int, int], mx.nd.NDArray]:
    symbol = mx.sym.load_json(json.dumps(_subgraph(graph, frontier)))
    if symbol.list_auxiliary_states():
        return {}
    args = {name: constants[name] for name in symbol.list_arguments()}
    _, out_shapes, _ = symbol.infer_shape(**{name: value.shape for name, value in args.items()})
    if out_shapes is None:
        return {}
    limit = max(max_elements, sum(value.size for value in args.values()))
    kept = [entry for entry, shape in zip(frontier, out_shapes) if _size(shape) <= limit]
    if not kept:
        return {}
    if len(kept) != len(frontier):
        symbol = mx.sym.load_json(json.dumps(_subgraph(graph, kept)))
        args = {name: constants[name] for name in symbol.list_arguments()}
    with mx.autograd.pause():
        results = symbol.eval(ctx=mx.cpu(), **args)
    return dict(zip(kept, results))


def _size(shape: Sequence[int]) -> int:
    total = 1
    for d in shape:
        total *= int(d)
    return total


def _rebuild(graph: dict, names: Mapping[tuple[int, int], str]) -> list[mx.sym.Symbol]:
    """The graph with the folded entries read from new variables, unreachable nodes dropped."""
    nodes = graph["nodes"]
    new_nodes: list[dict] = []
    placed: dict[int, int] = {}
    variables: dict[tuple[int, int], int] = {}

    def entry(source: int, output: int) -> list[int]:
        key = (source, output)
        if key in names:
            if key not in variables:
                variables[key] = len(new_nodes)
                new_nodes.append({"op": "null", "name": names[key], "inputs": []})
            return [variables[key], 0, 0]
        return [place(source), output, 0]

    def place(index: int) -> int:
        # iterative post-order: graphs can be deeper than Python's recursion limit
        stack = [(index, False)]
        while stack:
            current, expanded = stack.pop()
            if current in placed:
                continue
            inputs = nodes[current]["inputs"]
            pending = [i for i, j, _ in inputs if (i, j) not in names and i not in placed]
            if not expanded and pending:
                stack.append((current, True))
                stack.extend((i, False) for i in reversed(pending))
                continue
            node = dict(nodes[current])
            node["inputs"] = [entry(i, j) for i, j, _ in inputs]
            placed[current] = len(new_nodes)
            new_nodes.append(node)
        return placed[index]

    heads = [entry(i, j) for i, j, _ in graph["heads"]]
    rebuilt = {
        "nodes": new_nodes,
        "arg_nodes": [k for k, node in enumerate(new_nodes) if node["op"] == "null"],
        "heads": heads,
        "attrs": graph.get("attrs", {}),
    }
    group = mx.sym.load_json(json.dumps(rebuilt))
    return [group[k] for k in range(len(heads))]
