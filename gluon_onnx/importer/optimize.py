"""Inference-only graph rewrites applied by ``load_block(..., optimize=True)``.

They work on a copy of the ONNX graph before planning, so every later stage (folding,
converters, hybridization) sees the simpler graph:

* BatchNormalization after a Conv with constant weights is folded into the Conv weights;
* the exact GELU ``x * 0.5 * (1 + erf(x / sqrt(2)))`` becomes one fused GELU operator;
* a LayerNorm written out as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add becomes one
  LayerNorm operator.

Fused operators live in the private domain ``gluon_onnx.fused`` (converters in
``ops/fused.py``). The rewrites change trainability (BatchNorm statistics disappear), so they
are only applied when the user asks for an inference block.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..dtypes import elem_type_of
from ..model import IN_MEMORY_LOCATION, LoadedModel, resolve_opsets

FUSED_DOMAIN = "gluon_onnx.fused"


class _Graph:
    """Index of a graph's producers/consumers and constant values, edited in place."""

    def __init__(self, model: LoadedModel, graph: onnx.GraphProto):
        self.model = model
        self.graph = graph
        self.initializers = {t.name: t for t in graph.initializer}
        self.outputs = {o.name for o in graph.output}
        self.removed: set[int] = set()
        self.replacements: dict[int, list[onnx.NodeProto]] = {}
        self.new_initializers: list[onnx.TensorProto] = []
        self.producer: dict[str, onnx.NodeProto] = {}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in graph.node:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers[inp].append(node)

    def constant(self, name: str) -> np.ndarray | None:
        if name in self.initializers:  # read-only view of the file: rewrites only compute from it
            return np.asarray(self.model.tensor_array(self.initializers[name], mapped=True))
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant" and node.attribute:
            attr = node.attribute[0]
            if attr.name == "value":
                return numpy_helper.to_array(attr.t)
            if attr.name == "value_float":
                return np.array(attr.f, np.float32)
        return None

    def scalar(self, name: str) -> float | None:
        value = self.constant(name)
        if value is None or value.size != 1:
            return None
        return float(value.reshape(-1)[0])

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        if len(users) != 1 or name in self.outputs:
            return None
        return users[0]

    def consumed_once(self, *names: str) -> bool:
        return all(len(self.consumers.get(n, [])) == 1 and n not in self.outputs for n in names)

    def add_initializer(self, name: str, value: np.ndarray) -> str:
        """A new initializer whose value stays a numpy array (never serialized into the graph)."""
        self.new_initializers.append(in_memory_initializer(self.model, name, value))
        return name

    def replace(self, matched: list[onnx.NodeProto], new_nodes: list[onnx.NodeProto]) -> None:
        first = matched[0]
        for node in matched:
            self.removed.add(id(node))
        self.replacements[id(first)] = new_nodes

    def rebuilt_nodes(self) -> list[onnx.NodeProto]:
        nodes = []
        for node in self.graph.node:
            if id(node) in self.replacements:
                nodes.extend(self.replacements[id(node)])
            elif id(node) not in self.removed:
                nodes.append(node)
        return nodes

    def is_free(self, node: onnx.NodeProto) -> bool:
        return id(node) not in self.removed


def in_memory_initializer(model: LoadedModel, name: str, value: np.ndarray) -> onnx.TensorProto:
    """An initializer of ``model`` whose bytes stay in ``model.arrays`` (no serialized copy)."""
    tensor = onnx.TensorProto()
    tensor.name = name
    tensor.data_type = elem_type_of(value.dtype)
    tensor.dims.extend(value.shape)
    tensor.data_location = onnx.TensorProto.EXTERNAL
    entry = tensor.external_data.add()
    entry.key, entry.value = "location", IN_MEMORY_LOCATION
    model.arrays[name] = value
    return tensor


def _attr(node: onnx.NodeProto, name: str, default: object = None) -> object:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _fold_batchnorm(g: _Graph) -> int:
    count = 0
    for bn in list(g.graph.node):
        if bn.op_type != "BatchNormalization" or not g.is_free(bn) or len(bn.output) > 1 and any(bn.output[1:]):
            continue
        if _attr(bn, "training_mode", 0) or not _attr(bn, "spatial", 1):
            continue
        conv = g.producer.get(bn.input[0])
        if conv is None or conv.op_type != "Conv" or not g.is_free(conv) or not g.consumed_once(conv.output[0]):
            continue
        weight = g.constant(conv.input[1])
        params = [g.constant(n) for n in bn.input[1:5]]
        bias = g.constant(conv.input[2]) if len(conv.input) > 2 and conv.input[2] else None
        if weight is None or any(p is None for p in params) or (len(conv.input) > 2 and conv.input[2] and bias is None):
            continue
        gamma, beta, mean, var = (p.astype(np.float64) for p in params)
        eps = float(_attr(bn, "epsilon", 1e-5))
        factor = gamma / np.sqrt(var + eps)
        # one new array of the weight's type: float64 weight temporaries would double the peak memory
        new_weight = np.multiply(weight, factor.astype(weight.dtype).reshape((-1,) + (1,) * (weight.ndim - 1)))
        old_bias = bias.astype(np.float64) if bias is not None else np.zeros_like(mean)
        new_bias = ((old_bias - mean) * factor + beta).astype(weight.dtype)
        w_name = g.add_initializer(f"{conv.input[1]}__bn_folded", new_weight)
        b_name = g.add_initializer(f"{bn.output[0]}__bn_folded_bias", new_bias)
        fused = onnx.NodeProto()
        fused.CopyFrom(conv)
        del fused.input[:]
        fused.input.extend([conv.input[0], w_name, b_name])
        del fused.output[:]
        fused.output.append(bn.output[0])
        g.replace([conv, bn], [fused])
        count += 1
    return count


def _match_erf_gelu(g: _Graph, erf: onnx.NodeProto) -> tuple[str, list[onnx.NodeProto], str] | None:
    """x * 0.5 * (1 + erf(x / sqrt 2)) in the orders exporters emit; returns (x, nodes, output)."""
    scale_node = g.producer.get(erf.input[0])
    if scale_node is None or not g.consumed_once(erf.input[0]):
        return None
    if scale_node.op_type == "Div" and _close(g.scalar(scale_node.input[1]), math.sqrt(2.0)):
        x = scale_node.input[0]
    elif scale_node.op_type == "Mul":
        for a, b in ((0, 1), (1, 0)):
            if _close(g.scalar(scale_node.input[b]), 1 / math.sqrt(2.0)):
                x = scale_node.input[a]
                break
        else:
            return None
    else:
        return None
    add = g.only_consumer(erf.output[0])
    if add is None or add.op_type != "Add" or not _close(g.scalar(_other(add, erf.output[0])), 1.0):
        return None
    mul1 = g.only_consumer(add.output[0])
    if mul1 is None or mul1.op_type != "Mul":
        return None
    other = _other(mul1, add.output[0])
    if other == x:  # x * (1 + erf) then * 0.5
        mul2 = g.only_consumer(mul1.output[0])
        if mul2 is None or mul2.op_type != "Mul" or not _close(g.scalar(_other(mul2, mul1.output[0])), 0.5):
            return None
        return x, [scale_node, erf, add, mul1, mul2], mul2.output[0]
    half = g.producer.get(other)  # (x * 0.5) * (1 + erf)
    if half is not None and half.op_type == "Mul" and g.consumed_once(other):
        for a, b in ((0, 1), (1, 0)):
            if half.input[a] == x and _close(g.scalar(half.input[b]), 0.5):
                return x, [half, scale_node, erf, add, mul1], mul1.output[0]
    return None


def _other(node: onnx.NodeProto, name: str) -> str:
    return node.input[1] if node.input[0] == name else node.input[0]


def _close(value: float | None, target: float, tol: float = 1e-4) -> bool:
    return value is not None and abs(value - target) <= tol * max(1.0, abs(target))


def _fuse_gelu(g: _Graph) -> int:
    count = 0
    for erf in list(g.graph.node):
        if erf.op_type != "Erf" or not g.is_free(erf):
            continue
        match = _match_erf_gelu(g, erf)
        if match is None or not all(g.is_free(n) for n in match[1]):
            continue
        x, nodes, out = match
        fused = helper.make_node("Gelu", [x], [out], name=f"{erf.name}__fused_gelu", domain=FUSED_DOMAIN)
        g.replace(nodes, [fused])
        count += 1
    return count


def _fuse_layernorm(g: _Graph) -> int:
    count = 0
    for mean in list(g.graph.node):
        if mean.op_type != "ReduceMean" or not g.is_free(mean):
            continue
        axes = _attr(mean, "axes")
        if axes is None and len(mean.input) > 1:
            value = g.constant(mean.input[1])
            axes = None if value is None else [int(a) for a in value.reshape(-1)]
        if axes != [-1]:
            continue
        x = mean.input[0]
        sub = next((n for n in g.consumers.get(mean.output[0], [])
                    if n.op_type == "Sub" and list(n.input) == [x, mean.output[0]]), None)
        if sub is None or len(g.consumers[mean.output[0]]) != 1:
            continue
        users = g.consumers.get(sub.output[0], [])
        pow_ = next((n for n in users if n.op_type == "Pow" and _close(g.scalar(n.input[1]), 2.0)), None)
        div = next((n for n in users if n.op_type == "Div" and n.input[0] == sub.output[0]), None)
        if pow_ is None or div is None or len(users) != 2:
            continue
        var = g.only_consumer(pow_.output[0])
        if var is None or var.op_type != "ReduceMean":
            continue
        add = g.only_consumer(var.output[0])
        eps = g.scalar(_other(add, var.output[0])) if add is not None and add.op_type == "Add" else None
        sqrt = g.only_consumer(add.output[0]) if eps is not None else None
        if sqrt is None or sqrt.op_type != "Sqrt" or g.only_consumer(sqrt.output[0]) is not div:
            continue
        mul = g.only_consumer(div.output[0])
        if mul is None or mul.op_type != "Mul":
            continue
        gamma = _other(mul, div.output[0])
        shift = g.only_consumer(mul.output[0])
        if shift is None or shift.op_type != "Add":
            continue
        beta = _other(shift, mul.output[0])
        if g.constant(gamma) is None or g.constant(beta) is None:
            continue
        nodes = [mean, sub, pow_, var, add, sqrt, div, mul, shift]
        if not all(g.is_free(n) for n in nodes):
            continue
        fused = helper.make_node("LayerNorm", [x, gamma, beta], [shift.output[0]], name=f"{mean.name}__fused_layernorm",
                                 domain=FUSED_DOMAIN, epsilon=float(eps))
        g.replace(nodes, [fused])
        count += 1
    return count


def _transposed(g: _Graph, name: str, weight: np.ndarray) -> str:
    """A (shared) initializer holding ``weight.T``: FullyConnected's (units, inputs) layout."""
    key = f"{name}__transposed"
    if key not in g.model.arrays:
        g.add_initializer(key, np.ascontiguousarray(weight.T))
    return key


def _dense_bias(g: _Graph, out: str, units: int) -> tuple[onnx.NodeProto, str] | None:
    """The Add that adds a constant (units,) bias to ``out``, if it is its only consumer."""
    add = g.only_consumer(out)
    if add is None or add.op_type != "Add" or not g.is_free(add):
        return None
    bias = _other(add, out)
    value = g.constant(bias)
    if value is None or value.shape != (units,) or value.dtype != np.float32:
        return None
    return add, bias


def _fuse_dense(g: _Graph) -> int:
    """MatMul by a constant 2-D float32 weight (plus a bias Add), and Gemm with a constant B, as one
    FullyConnected with the weight stored transposed once (oneDNN fuses it with GELU/tanh)."""
    count = 0
    for node in list(g.graph.node):
        if not g.is_free(node) or node.op_type not in ("MatMul", "Gemm") or len(node.input) < 2:
            continue
        if g.constant(node.input[0]) is not None:
            continue
        weight = g.constant(node.input[1])
        if weight is None or weight.ndim != 2 or weight.dtype != np.float32:
            continue
        matched = [node]
        if node.op_type == "Gemm":
            if _attr(node, "transA", 0) or _attr(node, "alpha", 1.0) != 1.0:
                continue
            trans_b = bool(_attr(node, "transB", 0))
            units = weight.shape[0] if trans_b else weight.shape[1]
            bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
            if bias is not None:
                value = g.constant(bias)
                if value is None or value.shape != (units,) or value.dtype != np.float32 or \
                        _attr(node, "beta", 1.0) != 1.0:
                    continue
            w_name = node.input[1] if trans_b else _transposed(g, node.input[1], weight)
            out = node.output[0]
        else:
            units = weight.shape[1]
            w_name = _transposed(g, node.input[1], weight)
            found = _dense_bias(g, node.output[0], units)
            bias, out = None, node.output[0]
            if found is not None:
                add, bias = found
                matched.append(add)
                out = add.output[0]
        inputs = [node.input[0], w_name] + ([bias] if bias is not None else [])
        fused = helper.make_node("Dense", inputs, [out], name=f"{node.name}__fused_dense", domain=FUSED_DOMAIN)
        g.replace(matched, [fused])
        count += 1
    return count


#: operators a constant factor passes through unchanged (the product scales with its first operand)
_LINEAR_IN_FIRST = frozenset({"Transpose", "Reshape", "MatMul", "Squeeze", "Unsqueeze", "Flatten"})


def _scaled_dense(g: _Graph, name: str) -> onnx.NodeProto | None:
    """The fused Dense whose output reaches ``name`` only through operators linear in their first
    input, every intermediate used once; None otherwise."""
    for _ in range(16):
        node = g.producer.get(name)
        if node is None or not g.is_free(node) or name in g.outputs:
            return None
        if len([c for c in g.consumers.get(name, []) if c.op_type not in ("Shape", "Size")]) != 1:
            return None  # another reader would see the scaled values (Shape only reads sizes)
        if node.domain == FUSED_DOMAIN and node.op_type == "Dense":
            return node
        if node.op_type not in _LINEAR_IN_FIRST or g.constant(node.input[0]) is not None:
            return None
        name = node.input[0]
    return None


def _fold_scales(g: _Graph) -> int:
    """A multiplication or division by a constant scalar after a Dense (through reshapes,
    transposes and matmuls, e.g. attention scores divided by sqrt(head size)) goes into the
    Dense's weight and bias: one pass over the (batch, heads, seq, seq) scores less."""
    count = 0
    for node in list(g.graph.node):
        if node.op_type not in ("Mul", "Div") or not g.is_free(node) or len(node.input) != 2:
            continue
        sides = ((0, 1), (1, 0)) if node.op_type == "Mul" else ((0, 1),)
        for x_index, c_index in sides:
            value = g.constant(node.input[c_index])
            if value is None or value.size != 1 or value.dtype != np.float32:
                continue
            factor = float(value.reshape(-1)[0])
            scale = factor if node.op_type == "Mul" else (1.0 / factor if factor else 0.0)
            if not np.isfinite(scale) or scale == 0.0:
                continue
            dense = _scaled_dense(g, node.input[x_index])
            source = g.producer.get(node.input[x_index])
            if dense is None or not g.consumed_once(node.input[x_index]):
                continue  # (a Shape reading the renamed tensor would lose it)
            weight = g.constant(dense.input[1])
            bias = g.constant(dense.input[2]) if len(dense.input) > 2 else None
            if weight is None or (len(dense.input) > 2 and bias is None):
                continue
            scaled = onnx.NodeProto()
            scaled.CopyFrom(dense)
            scaled.input[1] = g.add_initializer(f"{dense.input[1]}__scaled{count}",
                                                (weight * np.float32(scale)).astype(weight.dtype))
            if bias is not None:
                scaled.input[2] = g.add_initializer(f"{dense.input[2]}__scaled{count}",
                                                    (bias * np.float32(scale)).astype(bias.dtype))
            # the scaled value now arrives at the Mul/Div's input: its consumers read it directly
            if source is dense:
                scaled.output[0] = node.output[0]
                g.replace([dense, node], [scaled])
            else:
                g.replace([dense], [scaled])
                renamed = onnx.NodeProto()
                renamed.CopyFrom(source)
                renamed.output[list(source.output).index(node.input[x_index])] = node.output[0]
                g.replace([source, node], [renamed])
            count += 1
            break
    return count


PASSES: list[tuple[str, Callable[[_Graph], int]]] = [
    ("fold_batchnorm", _fold_batchnorm),
    ("fuse_gelu", _fuse_gelu),
    ("fuse_layernorm", _fuse_layernorm),
    ("fuse_dense", _fuse_dense),
    ("fold_scales", _fold_scales),
]


def optimize_for_inference(model: LoadedModel) -> tuple[LoadedModel, dict[str, int]]:
    """A rewritten copy of ``model`` and how often each pass fired."""
    proto = onnx.ModelProto()
    proto.CopyFrom(model.proto)  # cheap: large weights are not inside a proto read from a file
    optimized = LoadedModel(proto, model.base_dir, dict(model.opsets), shape_source=model.shape_source or model.proto,
                            model_file=model.model_file, arrays=dict(model.arrays))
    counts = {}
    for name, rewrite in PASSES:
        g = _Graph(optimized, proto.graph)
        counts[name] = rewrite(g)
        if counts[name]:
            nodes = g.rebuilt_nodes()
            del proto.graph.node[:]
            proto.graph.node.extend(nodes)
            proto.graph.initializer.extend(g.new_initializers)
    used = {i for node in proto.graph.node for i in node.input} | {o.name for o in proto.graph.output}
    kept = [t for t in proto.graph.initializer if t.name in used]
    del proto.graph.initializer[:]
    proto.graph.initializer.extend(kept)
    kept_names = {t.name for t in kept}
    optimized.arrays = {n: v for n, v in optimized.arrays.items() if n in kept_names}
    if any(counts.values()) and not any(o.domain == FUSED_DOMAIN for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid(FUSED_DOMAIN, 1))
    optimized.opsets = resolve_opsets(proto)
    return optimized, counts
