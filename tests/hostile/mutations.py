"""Mutations of valid ONNX models: byte-level damage and structured ModelProto edits.

A mutation is ``(kind, seed)``; :func:`mutate` applies a list of them deterministically, so a
hypothesis example (corpus entry + mutation list) always rebuilds the same bytes and shrinks
well. Structured edits run first on the parsed proto, byte edits last on its serialization.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

Rng = np.random.Generator

#: attribute names real operators use (a node gets one it may not expect)
ATTRIBUTE_NAMES = (
    "axis", "axes", "perm", "shape", "kernel_shape", "pads", "strides", "dilations", "group", "to", "keepdims",
    "mode", "alpha", "beta", "value", "body", "then_branch", "else_branch", "batch_dims", "epsilon", "direction",
    "hidden_size", "transA", "transB", "ceil_mode", "auto_pad", "output_shape", "blocksize", "k", "largest",
    "sorted", "split", "starts", "ends", "detect_negative", "coordinate_transformation_mode", "scales",
)

INTERESTING_INTS = (0, 1, -1, 2, 3, -2, 7, 2**31 - 1, -(2**31), 2**31, 2**40, 2**62, -(2**63), 2**63 - 1)
INTERESTING_FLOATS = (0.0, -0.0, 1.0, -1.0, 0.5, 1e-30, 1e30, 3.4e38, -3.4e38, float("inf"), float("-inf"),
                      float("nan"), 2.0**40)
ELEM_TYPES = tuple(range(0, 27)) + (99, -1)


@functools.lru_cache(maxsize=None)
def onnx_op_types() -> tuple[str, ...]:
    """Every default-domain operator name onnx knows, plus names no schema has."""
    names = sorted({s.name for s in onnx.defs.get_all_schemas_with_history() if s.domain == ""})
    return tuple(names) + ("NoSuchOp", "")


def _graphs(graph: onnx.GraphProto) -> Iterator[onnx.GraphProto]:
    yield graph
    for node in graph.node:
        for attr in node.attribute:
            if attr.type == AttributeProto.GRAPH:
                yield from _graphs(attr.g)
            elif attr.type == AttributeProto.GRAPHS:
                for g in attr.graphs:
                    yield from _graphs(g)


def _pick_graph(model: onnx.ModelProto, rng: Rng) -> onnx.GraphProto:
    graphs = list(_graphs(model.graph))
    # mostly the main graph; subgraphs when there are some
    return graphs[0] if len(graphs) == 1 or rng.random() < 0.6 else graphs[int(rng.integers(1, len(graphs)))]


def _pick(rng: Rng, items: Sequence) -> object:
    return items[int(rng.integers(len(items)))] if len(items) else None


def _tensor_names(graph: onnx.GraphProto) -> list[str]:
    names = [i.name for i in graph.input] + [t.name for t in graph.initializer]
    for node in graph.node:
        names.extend(o for o in node.output if o)
    return names


def _value_infos(graph: onnx.GraphProto) -> list[onnx.ValueInfoProto]:
    return list(graph.input) + list(graph.output) + list(graph.value_info)


def _interesting_int(rng: Rng) -> int:
    return int(_pick(rng, INTERESTING_INTS)) if rng.random() < 0.6 else int(rng.integers(-20, 20))


# --- structured mutations --------------------------------------------------------------------------------
def m_op_type(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    node = _pick(rng, graph.node)
    if node is not None:
        node.op_type = _pick(rng, onnx_op_types())


def _set_attribute(attr: AttributeProto, kind: int, rng: Rng) -> None:
    name = attr.name
    attr.Clear()
    attr.name = name
    attr.type = kind
    if kind == AttributeProto.INT:
        attr.i = _interesting_int(rng)
    elif kind == AttributeProto.FLOAT:
        attr.f = float(_pick(rng, INTERESTING_FLOATS))
    elif kind == AttributeProto.STRING:
        attr.s = _pick(rng, (b"", b"constant", b"NOTSET", b"\xff\xfe", b"linear", b"x" * 300))
    elif kind == AttributeProto.INTS:
        attr.ints.extend(_interesting_int(rng) for _ in range(int(rng.integers(0, 6))))
    elif kind == AttributeProto.FLOATS:
        attr.floats.extend(float(_pick(rng, INTERESTING_FLOATS)) for _ in range(int(rng.integers(0, 6))))
    elif kind == AttributeProto.STRINGS:
        attr.strings.extend([b"a", b""][: int(rng.integers(0, 3))])
    elif kind == AttributeProto.TENSOR:
        attr.t.CopyFrom(_random_tensor(rng, "t"))
    elif kind == AttributeProto.GRAPH:
        attr.g.CopyFrom(_tiny_graph(rng))
    elif kind == AttributeProto.GRAPHS:
        attr.graphs.add().CopyFrom(_tiny_graph(rng))
    elif kind == AttributeProto.TENSORS:
        attr.tensors.add().CopyFrom(_random_tensor(rng, "t"))
    # other kinds (UNDEFINED, SPARSE_TENSOR, TYPE_PROTO, unknown numbers) keep no value at all


def m_attr_type(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    nodes = [n for n in graph.node if n.attribute]
    node = _pick(rng, nodes)
    if node is None:
        return
    attr = _pick(rng, node.attribute)
    kinds = [AttributeProto.FLOAT, AttributeProto.INT, AttributeProto.STRING, AttributeProto.TENSOR,
             AttributeProto.GRAPH, AttributeProto.FLOATS, AttributeProto.INTS, AttributeProto.STRINGS,
             AttributeProto.TENSORS, AttributeProto.GRAPHS, AttributeProto.SPARSE_TENSOR, AttributeProto.TYPE_PROTO, 0]
    if rng.random() < 0.3:
        attr.type = int(_pick(rng, kinds))  # only the tag: the value fields stay as they were
    else:
        _set_attribute(attr, int(_pick(rng, kinds)), rng)


def m_attr_value(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    nodes = [n for n in graph.node if n.attribute]
    node = _pick(rng, nodes)
    if node is None:
        return
    attr = _pick(rng, node.attribute)
    if attr.type in (AttributeProto.INT, AttributeProto.FLOAT, AttributeProto.STRING, AttributeProto.INTS,
                     AttributeProto.FLOATS, AttributeProto.TENSOR):
        if attr.type == AttributeProto.INTS and len(attr.ints) and rng.random() < 0.6:
            attr.ints[int(rng.integers(len(attr.ints)))] = _interesting_int(rng)
        elif attr.type == AttributeProto.TENSOR and rng.random() < 0.7:
            _mutate_tensor_values(attr.t, rng)
        else:
            _set_attribute(attr, attr.type, rng)


def m_add_attr(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    node = _pick(rng, graph.node)
    if node is None:
        return
    attr = node.attribute.add()
    attr.name = _pick(rng, ATTRIBUTE_NAMES)
    _set_attribute(attr, int(_pick(rng, (AttributeProto.INT, AttributeProto.INTS, AttributeProto.FLOAT,
                                         AttributeProto.STRING, AttributeProto.TENSOR))), rng)


def m_del_attr(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    node = _pick(rng, [n for n in graph.node if n.attribute])
    if node is not None:
        del node.attribute[int(rng.integers(len(node.attribute)))]


def m_dims(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    vi = _pick(rng, [v for v in _value_infos(graph) if v.type.HasField("tensor_type")])
    if vi is None:
        return
    shape = vi.type.tensor_type.shape
    choice = rng.random()
    if choice < 0.4 and len(shape.dim):
        dim = shape.dim[int(rng.integers(len(shape.dim)))]
        if rng.random() < 0.8:
            dim.dim_value = _pick(rng, (0, 1, 2, 5, 2**40, 2**62, 10**6))
        else:
            dim.dim_param = _pick(rng, ("N", "S", "other", ""))
    elif choice < 0.7:
        shape.dim.add().dim_value = int(rng.integers(1, 4))
    elif choice < 0.85 and len(shape.dim):
        del shape.dim[int(rng.integers(len(shape.dim)))]
    else:
        vi.type.tensor_type.ClearField("shape")


def m_elem_type(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    vi = _pick(rng, _value_infos(graph))
    if vi is None:
        return
    if rng.random() < 0.15:
        vi.type.ClearField("tensor_type")
        vi.type.sequence_type.elem_type.tensor_type.elem_type = TensorProto.FLOAT
    else:
        vi.type.tensor_type.elem_type = int(_pick(rng, ELEM_TYPES))


def _random_tensor(rng: Rng, name: str) -> TensorProto:
    kind = rng.random()
    if kind < 0.4:
        values = np.array([_interesting_int(rng) for _ in range(int(rng.integers(0, 5)))], dtype=np.int64)
    elif kind < 0.7:
        values = rng.standard_normal(tuple(int(d) for d in rng.integers(0, 4, int(rng.integers(0, 3))))).astype(
            np.float32)
    else:
        values = np.array(float(_pick(rng, INTERESTING_FLOATS)), dtype=np.float32)
    return numpy_helper.from_array(values, name)


def _mutate_tensor_values(tensor: TensorProto, rng: Rng) -> None:
    choice = rng.random()
    if choice < 0.5:
        # new values in the same type and shape (ints: extreme ones; indices and shapes out of range)
        try:
            array = numpy_helper.to_array(tensor)
        except Exception:  # noqa: BLE001 - already damaged
            return
        if array.dtype.kind in "iu" and array.size:
            flat = array.reshape(-1).copy()
            for _ in range(int(rng.integers(1, 3))):
                value = _interesting_int(rng)
                info = np.iinfo(array.dtype)
                flat[int(rng.integers(flat.size))] = min(max(value, info.min), info.max)
            array = flat.reshape(array.shape)
        elif array.dtype.kind == "f" and array.size:
            flat = array.reshape(-1).copy()
            flat[int(rng.integers(flat.size))] = _pick(rng, INTERESTING_FLOATS)
            array = flat.reshape(array.shape)
        else:
            return
        replacement = numpy_helper.from_array(array, tensor.name)
        tensor.CopyFrom(replacement)
    elif choice < 0.7 and tensor.raw_data:
        data = bytearray(tensor.raw_data)
        cut = int(rng.integers(0, len(data)))
        tensor.raw_data = bytes(data[:cut]) if rng.random() < 0.5 else bytes(data) + bytes(int(rng.integers(1, 9)))
    elif choice < 0.85:
        if len(tensor.dims) and rng.random() < 0.7:
            tensor.dims[int(rng.integers(len(tensor.dims)))] = _pick(rng, (0, 1, 3, 2**31, 2**40, -1))
        else:
            tensor.dims.append(int(rng.integers(1, 3)))
    else:
        tensor.data_type = int(_pick(rng, ELEM_TYPES))


def m_init_values(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    tensors = list(graph.initializer)
    for node in graph.node:
        if node.op_type == "Constant":
            tensors.extend(a.t for a in node.attribute if a.type == AttributeProto.TENSOR)
    tensor = _pick(rng, tensors)
    if tensor is not None:
        _mutate_tensor_values(tensor, rng)


def m_rename(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    node = _pick(rng, graph.node)
    if node is None:
        return
    names = _tensor_names(graph)
    fields = [f for f in (node.input, node.output) if len(f)]
    if not fields:
        return
    field = _pick(rng, fields)
    index = int(rng.integers(len(field)))
    field[index] = _pick(rng, names + ["", "ghost", node.output[0] if node.output else "x"])


def m_arity(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    node = _pick(rng, graph.node)
    if node is None:
        return
    names = _tensor_names(graph)
    which = rng.random()
    if which < 0.35 and len(node.input):
        del node.input[int(rng.integers(len(node.input)))]
    elif which < 0.7:
        node.input.append(_pick(rng, names + [""]))
    elif which < 0.85 and len(node.output) > 1:
        del node.output[-1]
    else:
        node.output.append(f"extra_{int(rng.integers(1000))}")


def m_graph_io(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    names = _tensor_names(graph)
    which = rng.random()
    if which < 0.25 and len(graph.output):
        graph.output[int(rng.integers(len(graph.output)))].name = _pick(rng, names + ["ghost"])
    elif which < 0.4:
        del graph.output[:]
    elif which < 0.6 and names:
        graph.output.append(helper.make_tensor_value_info(_pick(rng, names), TensorProto.FLOAT, None))
    elif which < 0.75 and len(graph.input):
        graph.input.append(graph.input[int(rng.integers(len(graph.input)))])
    elif which < 0.9 and len(graph.input):
        del graph.input[int(rng.integers(len(graph.input)))]
    else:
        graph.input.append(helper.make_tensor_value_info("unused_input", int(_pick(rng, ELEM_TYPES)) % 27,
                                                         [2, "N"]))


def m_opset(model: onnx.ModelProto, rng: Rng) -> None:
    which = rng.random()
    if which < 0.5 and len(model.opset_import):
        model.opset_import[int(rng.integers(len(model.opset_import)))].version = _pick(
            rng, (0, -1, 1, 6, 7, 9, 10, 11, 13, 16, 18, 21, 27, 28, 29, 10**6))
    elif which < 0.65:
        del model.opset_import[:]
    elif which < 0.8:
        model.opset_import.append(helper.make_opsetid(_pick(rng, ("com.microsoft", "ai.onnx.ml", "x.y", "")),
                                                      int(rng.integers(1, 30))))
    else:
        model.ir_version = _pick(rng, (0, 1, 2, 3, 4, 7, 10, 11, 12, 999))


def m_remove_init(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    if len(graph.initializer):
        del graph.initializer[int(rng.integers(len(graph.initializer)))]


def m_dup_node(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    if not len(graph.node):
        return
    index = int(rng.integers(len(graph.node)))
    copy = onnx.NodeProto()
    copy.CopyFrom(graph.node[index])
    if rng.random() < 0.5:
        for i, out in enumerate(copy.output):
            copy.output[i] = out + "_dup"
    graph.node.insert(int(rng.integers(len(graph.node) + 1)), copy)


def m_del_node(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    if len(graph.node):
        del graph.node[int(rng.integers(len(graph.node)))]


def m_cycle(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    if len(graph.node) < 2:
        return
    early, late = sorted(int(i) for i in rng.choice(len(graph.node), 2, replace=False))
    node, later = graph.node[early], graph.node[late]
    if node.input and later.output:
        node.input[int(rng.integers(len(node.input)))] = later.output[0]


def m_value_info(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    names = [o for n in graph.node for o in n.output if o]
    if not names:
        return
    rank = int(rng.integers(0, 5))
    dims = [_pick(rng, (1, 2, 3, 0, "N", 2**40)) for _ in range(rank)]
    graph.value_info.append(helper.make_tensor_value_info(_pick(rng, names), int(_pick(rng, (1, 7, 9, 10))), dims))


def m_external(model: onnx.ModelProto, rng: Rng) -> None:
    graph = _pick_graph(model, rng)
    tensor = _pick(rng, graph.initializer)
    if tensor is None:
        return
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    del tensor.external_data[:]
    entries = {"location": _pick(rng, ("../outside.bin", "/etc/passwd", "missing.bin", "", "a/../../b",
                                       "/dev/zero", "nul", "link_out"))}
    if rng.random() < 0.5:
        entries["offset"] = str(_pick(rng, (0, -5, 2**62, "x")))
    if rng.random() < 0.5:
        entries["length"] = str(_pick(rng, (0, 4, -1, 2**62, "1e3")))
    for key, value in entries.items():
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def _tiny_graph(rng: Rng) -> onnx.GraphProto:
    return helper.make_graph(
        [helper.make_node("Identity", ["outer_x" if rng.random() < 0.5 else "c"], ["r"])], "tiny",
        [], [helper.make_tensor_value_info("r", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.ones(2, np.float32), "c")])


def _const(graph: onnx.GraphProto, name: str, value: np.ndarray) -> str:
    graph.node.insert(0, helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
    return name


def bomb_nodes(kind: str, rng: Rng, tag: str = "bomb", big: int | None = None) -> tuple[list[onnx.NodeProto], str]:
    """Nodes computing a tensor of absurd size (about ``big**2`` elements) from small constants;
    returns (nodes, output name)."""
    big = int(_pick(rng, (2**20, 2**31, 10**6))) if big is None else big
    nodes = []

    def const(suffix: str, value: np.ndarray) -> str:
        name = f"{tag}_{suffix}"
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name)))
        return name

    out = f"{tag}_out"
    if kind == "ConstantOfShape":
        nodes.append(helper.make_node("ConstantOfShape", [const("shape", np.array([big, big], np.int64))], [out]))
    elif kind == "Expand":
        nodes.append(helper.make_node("Expand", [const("x", np.ones(1, np.float32)),
                                                 const("shape", np.array([big, big, 1], np.int64))], [out]))
    elif kind == "Tile":
        nodes.append(helper.make_node("Tile", [const("x", np.ones((2, 2), np.float32)),
                                               const("reps", np.array([big, big], np.int64))], [out]))
    elif kind == "Range":
        nodes.append(helper.make_node("Range", [const("a", np.array(0.0, np.float32)),
                                                const("b", np.array(float(big) * big, np.float32)),
                                                const("d", np.array(1.0, np.float32))], [out]))
    elif kind == "Resize":
        nodes.append(helper.make_node("Resize", [const("x", np.ones((1, 1, 2, 2), np.float32)), "",
                                                 const("s", np.array([1, 1, big, big], np.float32))], [out]))
    elif kind == "Upsample":
        nodes.append(helper.make_node("Upsample", [const("x", np.ones((1, 1, 2, 2), np.float32)),
                                                   const("s", np.array([1, 1, big, big], np.float32))], [out]))
    elif kind == "Pad":
        nodes.append(helper.make_node("Pad", [const("x", np.ones((2, 2), np.float32)),
                                              const("p", np.array([big, big, big, big], np.int64))], [out]))
    elif kind == "OneHot":
        nodes.append(helper.make_node("OneHot", [const("i", np.arange(4, dtype=np.int64)),
                                                 const("d", np.array([min(big * big, 2**62)], np.int64)),
                                                 const("v", np.array([0, 1], np.float32))], [out]))
    elif kind == "Loop":
        body = helper.make_graph(
            [helper.make_node("Add", ["v_in", "one"], ["v_out"]),
             helper.make_node("Identity", ["cond_in"], ["cond_out"])],
            "body",
            [helper.make_tensor_value_info("i", TensorProto.INT64, []),
             helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [])],
            [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
             helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [])],
            [numpy_helper.from_array(np.array(1.0, np.float32), "one")])
        nodes.append(helper.make_node("Loop", [const("m", np.array(min(big * big, 2**62), np.int64)),
                                               const("c", np.array(True)),
                                               const("v", np.array(0.0, np.float32))], [out], body=body))
    elif kind == "Mul":
        # a runtime-sized bomb: (Shape(x) * big) -> ConstantOfShape
        shape = f"{tag}_shape"
        nodes.append(helper.make_node("Mul", [const("a", np.array([big, big], np.int64)),
                                              const("b", np.array([big, 1], np.int64))], [shape]))
        nodes.append(helper.make_node("ConstantOfShape", [shape], [out]))
    else:
        raise ValueError(kind)
    return nodes, out


BOMB_KINDS = ("ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "Pad", "OneHot", "Loop", "Mul")


def m_bomb(model: onnx.ModelProto, rng: Rng) -> None:
    graph = model.graph
    nodes, out = bomb_nodes(_pick(rng, BOMB_KINDS), rng, tag=f"bomb{int(rng.integers(1000))}")
    for node in reversed(nodes):
        graph.node.insert(0, node)
    graph.output.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))


def nested_if_graph(depth: int, leaf: onnx.GraphProto | None = None) -> onnx.GraphProto:
    """A graph that is ``depth`` nested If nodes around ``leaf`` (default: Identity of the outer 'x')."""
    graph = leaf or helper.make_graph([helper.make_node("Identity", ["x"], ["leaf_out"])], "leaf", [],
                                      [helper.make_tensor_value_info("leaf_out", TensorProto.FLOAT, None)])
    shallow = graph
    for level in range(depth):
        out = f"if_out_{level}"
        cond = f"cond_{level}"
        # only one branch nests further: the model grows linearly with the depth
        node = helper.make_node("If", [cond], [out], then_branch=graph, else_branch=shallow)
        graph = helper.make_graph(
            [helper.make_node("Constant", [], [cond], value=numpy_helper.from_array(np.array(level % 2 == 0), cond)),
             node], f"level{level}", [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)])
    return graph


def m_nest(model: onnx.ModelProto, rng: Rng) -> None:
    graph = model.graph
    if not len(graph.input) or not len(graph.output):
        return
    depth = int(_pick(rng, (3, 20, 40, 100)))
    source = graph.input[0].name
    leaf = helper.make_graph([helper.make_node("Identity", [source], ["leaf_out"])], "leaf", [],
                             [helper.make_tensor_value_info("leaf_out", TensorProto.FLOAT, None)])
    try:
        nested = nested_if_graph(depth, leaf)
    except Exception:  # noqa: BLE001 - protobuf refuses to copy messages nested past its recursion limit
        nested = nested_if_graph(20, leaf)
    graph.node.extend(nested.node)
    graph.output.append(helper.make_tensor_value_info(nested.output[0].name, graph.input[0].type.tensor_type.elem_type,
                                                      None))


def m_function(model: onnx.ModelProto, rng: Rng) -> None:
    """A model-local function that calls itself (or a missing function)."""
    graph = model.graph
    if not len(graph.node):
        return
    node = graph.node[int(rng.integers(len(graph.node)))]
    body = [helper.make_node("Self" if rng.random() < 0.7 else "Missing", ["a"], ["b"], domain="local.fn")]
    function = helper.make_function("local.fn", "Self", ["a"], ["b"], body,
                                    [helper.make_opsetid("", 17), helper.make_opsetid("local.fn", 1)])
    model.functions.append(function)
    model.opset_import.append(helper.make_opsetid("local.fn", 1))
    node.op_type, node.domain = "Self", "local.fn"
    del node.attribute[:]


STRUCTURED: dict[str, Callable[[onnx.ModelProto, Rng], None]] = {
    "op_type": m_op_type, "attr_type": m_attr_type, "attr_value": m_attr_value, "add_attr": m_add_attr,
    "del_attr": m_del_attr, "dims": m_dims, "elem_type": m_elem_type, "init_values": m_init_values,
    "rename": m_rename, "arity": m_arity, "graph_io": m_graph_io, "opset": m_opset, "remove_init": m_remove_init,
    "dup_node": m_dup_node, "del_node": m_del_node, "cycle": m_cycle, "value_info": m_value_info,
    "external": m_external, "bomb": m_bomb, "nest": m_nest, "function": m_function,
}


# --- byte mutations ----------------------------------------------------------------------------------------
def b_flip(data: bytes, rng: Rng, other: bytes) -> bytes:
    buf = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        if buf:
            buf[int(rng.integers(len(buf)))] ^= 1 << int(rng.integers(8))
    return bytes(buf)


def b_truncate(data: bytes, rng: Rng, other: bytes) -> bytes:
    return data[: int(rng.integers(0, max(len(data), 1)))]


def b_splice(data: bytes, rng: Rng, other: bytes) -> bytes:
    cut = int(rng.integers(0, len(data) + 1))
    start = int(rng.integers(0, len(other) + 1))
    return data[:cut] + other[start:]


def b_insert(data: bytes, rng: Rng, other: bytes) -> bytes:
    cut = int(rng.integers(0, len(data) + 1))
    return data[:cut] + rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes() + data[cut:]


def b_duplicate(data: bytes, rng: Rng, other: bytes) -> bytes:
    a = int(rng.integers(0, len(data) + 1))
    b = min(len(data), a + int(rng.integers(1, 256)))
    return data[:b] + data[a:b] + data[b:]


BYTES: dict[str, Callable[[bytes, Rng, bytes], bytes]] = {
    "flip": b_flip, "truncate": b_truncate, "splice": b_splice, "insert": b_insert, "duplicate": b_duplicate,
}

KINDS = tuple(STRUCTURED) + tuple(BYTES)


def mutate(data: bytes, mutations: Sequence[tuple[str, int]], other: bytes = b"") -> bytes:
    """Apply ``mutations`` ((kind, seed) pairs) to a serialized valid model."""
    structured = [(k, s) for k, s in mutations if k in STRUCTURED]
    raw = [(k, s) for k, s in mutations if k in BYTES]
    if structured:
        model = onnx.ModelProto()
        model.ParseFromString(data)
        for kind, seed in structured:
            STRUCTURED[kind](model, np.random.default_rng(seed))
        data = model.SerializeToString()
    for kind, seed in raw:
        data = BYTES[kind](data, np.random.default_rng(seed), other)
    return data
