"""load_block(optimize=True): the inference rewrites keep outputs, and only apply where allowed."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import samples
from gluon_onnx.importer.optimize import FUSED_DOMAIN, optimize_for_inference
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
