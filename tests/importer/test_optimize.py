"""load_block(optimize=True): the inference rewrites keep outputs, and only apply where allowed."""

from __future__ import annotations

import json

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet import gluon
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import samples
from gluon_onnx.importer.optimize import FUSED_DOMAIN, optimize_for_inference
from gluon_onnx.importer.symfold import fold_constant_subgraphs
from gluon_onnx.model import read_model


def _image(batch: int, size: int) -> list[mx.nd.NDArray]:
    x = np.random.default_rng(batch).standard_normal((batch, 3, size, size)).astype(np.float32)
    return [mx.nd.array(x)]


def _tokens(batch: int, seq: int = 12) -> list[mx.nd.NDArray]:
    rng = np.random.default_rng(batch)
    ids = rng.integers(0, 30522, (batch, seq))
    mask = np.ones((batch, seq), np.int64)
    mask[0, seq // 2:] = 0  # padding must reach the attention scores
    return [mx.nd.array(ids, dtype="int64"), mx.nd.array(mask, dtype="int64")]


def _lstm_tokens(batch: int) -> list[mx.nd.NDArray]:
    return [mx.nd.array(np.random.default_rng(batch).integers(0, 10000, (9, batch)), dtype="int64")]


CASES = {
    "resnet": (lambda: samples.resnet(50, width=16, num_classes=20, image_size=32), lambda b: _image(b, 32)),
    "mobilenet": (lambda: samples.mobilenet_v2(num_classes=20, image_size=32, fold_bn=False), lambda b: _image(b, 32)),
    "bert": (lambda: samples.bert_encoder(layers=2, hidden=64, heads=4, intermediate=128, vocab=30522,
                                          max_positions=64), _tokens),
    "bert_decomposed_layernorm": (lambda: samples.bert_encoder(layers=1, hidden=64, heads=4, intermediate=128,
                                                               max_positions=64, fused_layernorm=False), _tokens),
    "lstm": (lambda: samples.lstm_classifier(vocab=10000, embed=32, hidden=24), _lstm_tokens),
}


def _outputs(net: gluon_onnx.OnnxBlock, args: list) -> list[np.ndarray]:
    out = net(*args)
    return [o.asnumpy() for o in (out if isinstance(out, tuple) else (out,))]


@pytest.mark.parametrize("name", sorted(CASES))
def test_optimized_outputs_equal_the_plain_import(name):
    build, inputs = CASES[name]
    model = build()
    plain = gluon_onnx.load_block(model)
    fast = gluon_onnx.load_block(model, optimize=True)
    fast.hybridize(static_alloc=True, static_shape=True)
    for batch in (1, 3):  # the same hybridized block serves several batch sizes
        args = inputs(batch)
        for ref, ours in zip(_outputs(plain, args), _outputs(fast, args)):
            assert ours.shape == ref.shape
            scale = float(np.abs(ref).max())
            assert float(np.abs(ours - ref).max()) <= 1e-5 * scale, name


@pytest.mark.parametrize("name,expected", [
    ("resnet", {"fold_batchnorm": 53, "fuse_dense": 1}),
    ("bert", {"fuse_gelu": 2, "fuse_dense": 13}),
    ("bert_decomposed_layernorm", {"fuse_layernorm": 3, "fuse_gelu": 1, "fuse_dense": 7}),
])
def test_rewrites_fire_on_exporter_patterns(name, expected):
    _, counts = optimize_for_inference(read_model(CASES[name][0]()))
    for key, count in expected.items():
        assert counts[key] == count, (key, counts)


def test_training_import_keeps_batchnorm_trainable():
    model = samples.resnet(18, width=8, num_classes=10, image_size=32)
    net = gluon_onnx.load_block(model)
    running = [p for n, p in net.onnx_params.items() if n.endswith("running_mean")]
    assert running and all(p.grad_req == "null" for p in running)
    assert any(n.endswith("bn1.weight") and p.grad_req == "write" for n, p in net.onnx_params.items())
    steps = [s.op_type for s in net.plan.steps]
    assert steps.count("BatchNormalization") == 20
    optimized = gluon_onnx.load_block(model, optimize=True)
    assert "BatchNormalization" not in [s.op_type for s in optimized.plan.steps]
    assert not optimized.onnx_params  # an inference block: every weight is a constant


def _dense_model(weight: np.ndarray, bias: np.ndarray | None, bias_first: bool) -> onnx.ModelProto:
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y" if bias is None else "mm"])]
    inits = [numpy_helper.from_array(weight, "w")]
    if bias is not None:
        inits.append(numpy_helper.from_array(bias, "b"))
        nodes.append(helper.make_node("Add", ["b", "mm"] if bias_first else ["mm", "b"], ["y"]))
    graph = helper.make_graph(nodes, "dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("x_shape", [(5,), (4, 5), (2, 3, 5), (2, 2, 3, 5)])
@pytest.mark.parametrize("bias", ["none", "after", "before"])
def test_matmul_bias_becomes_one_dense(x_shape, bias):
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((5, 7)).astype(np.float32)
    b = rng.standard_normal(7).astype(np.float32) if bias != "none" else None
    model = _dense_model(weight, b, bias == "before")
    _, counts = optimize_for_inference(read_model(model))
    assert counts["fuse_dense"] == 1
    x = rng.standard_normal(x_shape).astype(np.float32)
    expected = x @ weight + (b if b is not None else 0)
    net = gluon_onnx.load_block(model, optimize=True)
    for hybridize in (False, True):
        if hybridize:
            net.hybridize()
        np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), expected, rtol=1e-5, atol=1e-5)


def test_dense_leaves_non_constant_and_broadcast_biases_alone():
    rng = np.random.default_rng(0)
    model = _dense_model(rng.standard_normal((5, 7)).astype(np.float32),
                         rng.standard_normal((3, 7)).astype(np.float32), False)  # a (3, 7) bias broadcasts rows
    optimized, counts = optimize_for_inference(read_model(model))
    assert counts["fuse_dense"] == 1
    ops = [(n.domain, n.op_type) for n in optimized.proto.graph.node]
    assert ops == [(FUSED_DOMAIN, "Dense"), ("", "Add")]
    x = rng.standard_normal((3, 5)).astype(np.float32)
    expected = gluon_onnx.load_block(model)(mx.nd.array(x)).asnumpy()
    np.testing.assert_allclose(gluon_onnx.load_block(model, optimize=True)(mx.nd.array(x)).asnumpy(), expected,
                               rtol=1e-5, atol=1e-6)


def test_lstm_weight_packing_is_folded_into_one_constant():
    model = samples.lstm_classifier(vocab=100, embed=8, hidden=6)
    net = gluon_onnx.load_block(model, optimize=True)
    net.hybridize(static_alloc=True, static_shape=True)
    args = _lstm_tokens(2)
    expected = _outputs(gluon_onnx.load_block(model), args)[0]
    np.testing.assert_allclose(_outputs(net, args)[0], expected, rtol=1e-5, atol=1e-6)
    ops = [node["op"] for node in json.loads(net._cached_graph[1].tojson())["nodes"]]
    # gate reordering (take) and packing (Concat) happened once; the one take left is the embedding
    assert "RNN" in ops and ops.count("take") == 1 and "Concat" not in ops


def _fold(outputs, constants, max_elements=1 << 20):
    made = {}

    def new_constant(value):
        name = f"folded{len(made)}"
        made[name] = value
        return name

    return fold_constant_subgraphs(outputs, constants, new_constant, max_elements), made


def _evaluate(symbols, arrays):
    return [s.eval(ctx=mx.cpu(), **{n: arrays[n] for n in s.list_arguments()})[0].asnumpy() for s in symbols]


def test_constant_subgraphs_are_evaluated_once_and_the_rest_kept():
    x, w, b = mx.sym.var("x"), mx.sym.var("w"), mx.sym.var("b")
    parts = mx.sym.split(mx.sym.transpose(w), num_outputs=2, axis=0)  # a multi-output constant op
    y = mx.sym.broadcast_add(mx.sym.dot(x, parts[1]), mx.sym.reshape(b * 2, shape=(1, -1)))
    z = mx.sym.relu(x)  # untouched: depends on the input only
    rng = np.random.default_rng(0)
    constants = {"w": mx.nd.array(rng.standard_normal((3, 4))), "b": mx.nd.array(rng.standard_normal(3))}
    folded, made = _fold([y, z], constants)
    assert folded is not None and len(made) == 2
    assert set(folded[0].list_arguments()) == {"x", "folded0", "folded1"}
    arrays = {"x": mx.nd.array(rng.standard_normal((5, 2))), **constants, **made}
    for ours, ref in zip(_evaluate(folded, arrays), _evaluate([y, z], arrays)):
        np.testing.assert_allclose(ours, ref, rtol=1e-6)


def test_random_and_oversized_constant_values_stay_in_the_graph():
    c = mx.sym.var("c")
    noisy = mx.sym.random.uniform(shape=(3,)) + c
    assert _fold([noisy], {"c": mx.nd.ones(3)})[0] is None
    huge = mx.sym.tile(c, reps=(1000,))  # 3000 elements from 3
    assert _fold([huge + 1], {"c": mx.nd.ones(3)}, max_elements=100)[0] is None


def test_deep_constant_chains_fold_without_recursion():
    x, c = mx.sym.var("x"), mx.sym.var("c")
    value = c
    for _ in range(3000):
        value = value + 1
    out = x * 0 + value
    for _ in range(3000):
        out = out + x
    folded, made = _fold([out], {"c": mx.nd.zeros(2)})
    assert folded is not None and len(made) == 1
    np.testing.assert_array_equal(list(made.values())[0].asnumpy(), [3000, 3000])


def _partitioning_case():
    model = samples.resnet(18, width=8, num_classes=10, image_size=32)
    args = _image(2, 32)
    plain = gluon_onnx.load_block(model)
    plain.hybridize()
    return model, args, _outputs(plain, args)


def test_partitioning_failure_at_build_falls_back_to_the_plain_graph(monkeypatch):
    model, args, expected = _partitioning_case()

    def refuse(*_, **__):
        raise mx.base.MXNetError("partitioner refused the graph")

    monkeypatch.setattr(mx.sym.Symbol, "optimize_for", refuse)
    net = gluon_onnx.load_block(model, optimize=True)
    net.hybridize()  # oneDNN partitioning by default
    with pytest.warns(RuntimeWarning, match="partitioning failed"):
        ours = _outputs(net, args)
    np.testing.assert_allclose(ours[0], expected[0], rtol=1e-4, atol=1e-5)
    assert net._backend is None


def test_partitioning_failure_at_first_run_falls_back_to_the_plain_graph(monkeypatch):
    model, args, expected = _partitioning_case()
    original = gluon.HybridBlock._call_cached_op

    def fail_partitioned(self, *inputs):
        if self._backend:
            raise mx.base.MXNetError("fused kernel refused its inputs")  # as oneDNN does for 7-D tensors
        return original(self, *inputs)

    monkeypatch.setattr(gluon.HybridBlock, "_call_cached_op", fail_partitioned)
    net = gluon_onnx.load_block(model, optimize=True)
    net.hybridize()
    with pytest.warns(RuntimeWarning, match="partitioning failed"):
        ours = _outputs(net, args)
    np.testing.assert_allclose(ours[0], expected[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(_outputs(net, args)[0], expected[0], rtol=1e-4, atol=1e-5)  # and later calls


def test_an_explicit_backend_is_not_silently_dropped(monkeypatch):
    model, args, _ = _partitioning_case()

    def refuse(*_, **__):
        raise mx.base.MXNetError("partitioner refused the graph")

    monkeypatch.setattr(mx.sym.Symbol, "optimize_for", refuse)
    net = gluon_onnx.load_block(model, optimize=True)
    net.hybridize(backend="MKLDNN")
    with pytest.raises(gluon_onnx.errors.ExecutionError, match="refused"):
        _outputs(net, args)


def _scaled_scores_model(where: str) -> onnx.ModelProto:
    """x -> Dense -> Reshape/Transpose -> MatMul with y -> scaled by a constant, as attention scores are."""
    rng = np.random.default_rng(4)
    inits = [numpy_helper.from_array(rng.standard_normal((6, 8)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "b"),
             numpy_helper.from_array(np.array([2, 4, 8], np.int64), "shape"),
             numpy_helper.from_array(np.array(np.sqrt(3.0), np.float32), "c")]
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["h"]),
             helper.make_node("Shape", ["h"], ["h_shape"]),  # reads sizes only: the scale may still move
             helper.make_node("Reshape", ["h", "shape"], ["r"]),
             helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["t", "y"], ["scores"])]
    if where == "div":
        nodes.append(helper.make_node("Div", ["scores", "c"], ["out"]))
    elif where == "mul_left":
        nodes.append(helper.make_node("Mul", ["c", "scores"], ["out"]))
    else:  # the scale on the Dense output itself
        nodes = nodes[:2] + [helper.make_node("Mul", ["h", "c"], ["out"])]
    outputs = [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)]
    if where != "dense":
        outputs.append(helper.make_tensor_value_info("h_shape", TensorProto.INT64, None))
    graph = helper.make_graph(nodes, "scores", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4, 6]),
                                                helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4, 3])],
                              outputs, inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.mark.parametrize("where", ["div", "mul_left", "dense"])
def test_constant_scales_move_into_the_dense_weights(where):
    model = _scaled_scores_model(where)
    _, counts = optimize_for_inference(read_model(model))
    assert counts["fold_scales"] == 1
    rng = np.random.default_rng(5)
    args = [mx.nd.array(rng.standard_normal((2, 4, 6))), mx.nd.array(rng.standard_normal((2, 4, 3)))]
    expected = _outputs(gluon_onnx.load_block(model), args)
    net = gluon_onnx.load_block(model, optimize=True)
    net.hybridize()
    for ours, ref in zip(_outputs(net, args), expected):
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-5)


def test_scales_stay_when_another_node_reads_the_unscaled_values():
    model = _scaled_scores_model("div")
    model.graph.node.append(helper.make_node("Relu", ["t"], ["t_relu"]))  # a second reader of the scaled path
    model.graph.output.append(helper.make_tensor_value_info("t_relu", TensorProto.FLOAT, None))
    _, counts = optimize_for_inference(read_model(model))
    assert counts["fold_scales"] == 0
