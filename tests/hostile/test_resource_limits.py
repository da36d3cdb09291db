"""Resource bombs: refused with ResourceLimitError before anything large is allocated.

Models that would allocate run in the crash-isolated worker (its address space is limited), so a
regression fails the test instead of exhausting the machine.
"""

from __future__ import annotations

import time

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import errors, limits
from gluon_onnx.importer import plan as plan_module
from gluon_onnx.importer.registry import lookup

from .harness import WorkerFailure, shared_worker
from .mutations import bomb_nodes, nested_if_graph

STATIC_BOMBS = ("ConstantOfShape", "Expand", "Tile", "Range", "Resize", "Upsample", "Pad", "OneHot", "Mul")


def _model(nodes, inputs, outputs, inits=(), opset=17):
    graph = helper.make_graph(nodes, "bomb", inputs, outputs, list(inits))
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])


def _in_worker(model: onnx.ModelProto, *, hybridize: bool = False) -> dict:
    try:
        return shared_worker().request({"model": model.SerializeToString(), "seed": 0, "hybridize": hybridize})
    except WorkerFailure as failure:
        pytest.fail(f"the worker {failure.kind}ed: {failure}", pytrace=False)


@pytest.mark.parametrize("kind", STATIC_BOMBS)
def test_static_bombs_are_refused_at_import(kind):
    nodes, out = bomb_nodes(kind, np.random.default_rng(0), tag=kind.lower(), big=2**20)
    opset = 9 if kind == "Upsample" else 17  # Upsample is deprecated from opset 10 on
    model = _model(nodes, [], [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], opset=opset)
    start = time.monotonic()
    reply = _in_worker(model)
    assert reply["status"] == "rejected", reply
    assert reply["phase"] == "load" and reply["exc_type"] == "ResourceLimitError", reply
    assert "MAX_TENSOR_ELEMENTS" in reply["message"]
    assert time.monotonic() - start < 30


def test_runtime_sized_bomb_is_refused_when_called():
    # the size depends on the input: ConstantOfShape(Shape(x) * 2**20)
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Mul", ["s", "k"], ["t"]),
             helper.make_node("ConstantOfShape", ["t"], ["y"], name="bomb")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                   [numpy_helper.from_array(np.array([2**20, 2**20], np.int64), "k")])
    for hybridize in (False, True):
        reply = _in_worker(model, hybridize=hybridize)
        assert reply["status"] == "rejected" and reply["exc_type"] == "ResourceLimitError", reply
        assert reply["phase"] == "imperative" and "'bomb'" in reply["message"], reply


def test_hybridized_graph_rechecks_sizes_for_new_input_shapes(monkeypatch):
    """A cached graph is reused for other input shapes: the sizes checked while tracing are checked
    again for every new input shape."""
    monkeypatch.setattr(limits, "MAX_TENSOR_ELEMENTS", 1 << 20)
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Mul", ["s", "k"], ["t"]),
             helper.make_node("ConstantOfShape", ["t"], ["y"], name="grow")]
    model = _model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                   [numpy_helper.from_array(np.array([16, 1024], np.int64), "k")])
    net = gluon_onnx.load_block(model)
    net.hybridize()
    assert net(mx.nd.ones((2, 4))).shape == (32, 4096)
    with pytest.raises(errors.ResourceLimitError, match="'grow'.*1024, 4096"):
        net(mx.nd.ones((64, 4)))
    assert net(mx.nd.ones((4, 4))).shape == (64, 4096)


def test_enormous_declared_dims():
    model = _model([helper.make_node("Relu", ["x"], ["y"])],
                   [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2**40, 2**40])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    with pytest.raises(errors.ResourceLimitError, match="'x'.*declared"):
        gluon_onnx.load_block(model)
    # an initializer that claims 2**40 elements but carries none
    weight = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2**20, 2**20])
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [helper.make_tensor_value_info("x", 1, [1])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [weight])
    with pytest.raises((errors.ResourceLimitError, errors.InvalidModelError), match="'w'"):
        gluon_onnx.load_block(model)


def test_folding_never_runs_the_reference_on_large_outputs(monkeypatch):
    """The shape reaches ConstantOfShape through an op ONNX inference propagates no values through
    (ReduceMax): its size comes from the folded values themselves."""
    folded = []
    original = plan_module._reference_fold
    monkeypatch.setattr(plan_module, "_reference_fold",
                        lambda node, *a, **k: folded.append(node.op_type) or original(node, *a, **k))
    monkeypatch.setattr(limits, "MAX_FOLDED_ELEMENTS", 1000)

    def model(size: int) -> onnx.ModelProto:
        nodes = [helper.make_node("ReduceMax", ["sizes"], ["m"], axes=[0], keepdims=1),
                 helper.make_node("Concat", ["m", "m"], ["shape"], axis=0),
                 helper.make_node("ConstantOfShape", ["shape"], ["big"], name="fill",
                                  value=numpy_helper.from_array(np.array([2.0], np.float32))),
                 helper.make_node("ReduceSum", ["big"], ["y"], keepdims=0)]
        return _model(nodes, [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                      [numpy_helper.from_array(np.array([3, size], np.int64), "sizes")])

    net = gluon_onnx.load_block(model(100))  # 10 000 elements: over the folding budget, runs at run time
    assert "ConstantOfShape" not in folded
    assert float(net().asnumpy()) == 2.0 * 100 * 100
    folded.clear()
    with pytest.raises(errors.ResourceLimitError, match="'fill'"):
        gluon_onnx.load_block(model(2**20))  # 2**40 elements: refused at import, never evaluated
    assert "ConstantOfShape" not in folded


def test_deeply_nested_subgraphs(monkeypatch):
    # built top-down through message references: protobuf's own copies refuse such depths
    model = onnx.ModelProto(ir_version=8)
    model.opset_import.add().version = 17
    graph = model.graph
    for level in range(100):
        graph.name = f"level{level}"
        graph.output.add().name = "out"
        node = graph.node.add(op_type="If", name=f"if{level}")
        node.input.append("cond")
        node.output.append("out")
        graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
        attr = node.attribute.add(name="then_branch", type=onnx.AttributeProto.GRAPH)
        else_attr = node.attribute.add(name="else_branch", type=onnx.AttributeProto.GRAPH)
        else_attr.g.name = "empty"
        graph = attr.g
    with pytest.raises(errors.ResourceLimitError, match="MAX_SUBGRAPH_DEPTH"):
        gluon_onnx.load_block(model)
    with pytest.raises(errors.GluonOnnxError):  # protobuf itself refuses to parse these bytes
        gluon_onnx.load_block(model.SerializeToString())
    monkeypatch.setattr(limits, "MAX_SUBGRAPH_DEPTH", 3)
    shallow = nested_if_graph(5)
    shallow.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]))
    shallow_model = helper.make_model(shallow, opset_imports=[helper.make_opsetid("", 17)])
    with pytest.raises(errors.ResourceLimitError, match="MAX_SUBGRAPH_DEPTH = 3"):
        gluon_onnx.load_block(shallow_model)
    if lookup("", "If", 17) is not None:
        ok = nested_if_graph(3)
        ok.input.append(helper.make_tensor_value_info("x", TensorProto.FLOAT, [2]))
        net = gluon_onnx.load_block(helper.make_model(ok, opset_imports=[helper.make_opsetid("", 17)]))
        np.testing.assert_array_equal(net(mx.nd.array([1.0, 2.0])).asnumpy(), [1.0, 2.0])


def test_too_many_nodes(monkeypatch):
    monkeypatch.setattr(limits, "MAX_NODES", 10)
    nodes = [helper.make_node("Relu", [f"t{i}"], [f"t{i + 1}"]) for i in range(20)]
    model = _model(nodes, [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [2])],
                   [helper.make_tensor_value_info("t20", TensorProto.FLOAT, [2])])
    with pytest.raises(errors.ResourceLimitError, match="20 nodes.*MAX_NODES = 10"):
        gluon_onnx.load_block(model)


@pytest.mark.skipif(lookup("", "Loop", 17) is None, reason="no Loop converter on this branch yet")
def test_loop_with_a_huge_trip_count(monkeypatch):
    monkeypatch.setattr(limits, "MAX_LOOP_ITERATIONS", 50)
    body = helper.make_graph(
        [helper.make_node("Add", ["v_in", "one"], ["v_out"]), helper.make_node("Identity", ["c_in"], ["c_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("c_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("c_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1])],
        [numpy_helper.from_array(np.ones(1, np.float32), "one")])
    loop = helper.make_node("Loop", ["trips", "cond", "x"], ["y"], name="spin", body=body)
    inits = [numpy_helper.from_array(np.array(2**40, np.int64), "trips"),
             numpy_helper.from_array(np.array(True), "cond")]
    model = _model([loop], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                   [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits)
    net = gluon_onnx.load_block(model)
    start = time.monotonic()
    with pytest.raises(errors.ResourceLimitError, match="'spin'.*MAX_LOOP_ITERATIONS = 50"):
        net(mx.nd.zeros(1))  # refused before the first iteration: the condition never changes
    # a condition the body computes (always true): stopped after the budget of iterations
    body.node[1].CopyFrom(helper.make_node("Less", ["i", "forever"], ["c_out"]))
    body.initializer.append(numpy_helper.from_array(np.array(2**62, np.int64), "forever"))
    computed = helper.make_node("Loop", ["trips", "cond", "x"], ["y"], name="spin", body=body)
    net = gluon_onnx.load_block(_model([computed], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits))
    with pytest.raises(errors.ResourceLimitError, match="'spin'.*MAX_LOOP_ITERATIONS = 50"):
        net(mx.nd.zeros(1))
    assert time.monotonic() - start < 30
    monkeypatch.setattr(limits, "MAX_LOOP_ITERATIONS", 100_000)
    inits[0] = numpy_helper.from_array(np.array(7, np.int64), "trips")
    small = gluon_onnx.load_block(_model([loop], [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                                         [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], inits))
    assert float(small(mx.nd.zeros(1)).asnumpy()[0]) == 7.0
