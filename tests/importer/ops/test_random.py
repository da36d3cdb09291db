"""Random generators: statistical checks (fixed MXNet seed), imperative and hybridized."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gluon_onnx import load_block
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend

from .oracle import make_model

BACKENDS = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}


def _vi(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _run(model: onnx.ModelProto, mode: str, feeds: list[np.ndarray]) -> list[np.ndarray]:
    mx.random.seed(1234)
    rep = BACKENDS[mode].prepare(model, "CPU")
    return list(rep.run(feeds))


@pytest.mark.parametrize("mode", list(BACKENDS))
@pytest.mark.parametrize("opset", [17, 22])
def test_random_normal_like_mean_and_std(mode: str, opset: int) -> None:
    node = helper.make_node("RandomNormalLike", ["x"], ["y"], mean=2.0, scale=3.0, seed=5.0)
    model = make_model([node], [_vi("x", TensorProto.FLOAT, [200, 100])], [_vi("y", TensorProto.FLOAT, [200, 100])],
                       opset=opset)
    (y,) = _run(model, mode, [np.zeros((200, 100), np.float32)])
    assert y.shape == (200, 100) and y.dtype == np.float32
    assert abs(y.mean() - 2.0) < 0.1
    assert abs(y.std() - 3.0) < 0.1


@pytest.mark.parametrize("mode", list(BACKENDS))
def test_random_uniform_like_from_int_input_with_dtype(mode: str) -> None:
    node = helper.make_node("RandomUniformLike", ["x"], ["y"], low=-1.0, high=3.0, dtype=TensorProto.DOUBLE)
    model = make_model([node], [_vi("x", TensorProto.INT64, [100, 100])], [_vi("y", TensorProto.DOUBLE, [100, 100])])
    (y,) = _run(model, mode, [np.zeros((100, 100), np.int64)])
    assert y.dtype == np.float64
    assert y.min() >= -1.0 and y.max() < 3.0
    assert abs(y.mean() - 1.0) < 0.05
    assert abs(y.var() - 16.0 / 12.0) < 0.1


def test_random_like_keeps_dynamic_batch_after_hybridize() -> None:
    node = helper.make_node("RandomUniformLike", ["x"], ["y"])
    model = make_model([node], [_vi("x", TensorProto.FLOAT, ["N", 4])], [_vi("y", TensorProto.FLOAT, ["N", 4])])
    block = load_block(model)
    block.hybridize()
    shapes = [block(mx.nd.zeros((batch, 4))).shape for batch in (1, 3)]
    assert shapes == [(1, 4), (3, 4)]


def _constant_shape_model(op: str, dtype: int, **attrs: object) -> onnx.ModelProto:
    # one graph input so that the hybridized block has something to trace with
    rnd = helper.make_node(op, [], ["r"], shape=[300, 100], dtype=dtype, **attrs)
    add = helper.make_node("Add", ["r", "x"], ["y"])
    return make_model([rnd, add], [_vi("x", dtype, [1])], [_vi("y", dtype, [300, 100])])


@pytest.mark.parametrize("mode", list(BACKENDS))
@pytest.mark.parametrize("dtype", [TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.DOUBLE])
def test_random_normal_with_static_shape(mode: str, dtype: int) -> None:
    model = _constant_shape_model("RandomNormal", dtype, mean=-1.0, scale=0.5)
    np_type = helper.tensor_dtype_to_np_dtype(dtype)
    (y,) = _run(model, mode, [np.zeros(1, np_type)])
    assert y.dtype == np_type and y.shape == (300, 100)
    assert abs(float(y.astype(np.float64).mean()) + 1.0) < 0.02
    assert abs(float(y.astype(np.float64).std()) - 0.5) < 0.02


@pytest.mark.parametrize("mode", list(BACKENDS))
def test_random_uniform_range_and_fresh_draws_per_call(mode: str) -> None:
    model = _constant_shape_model("RandomUniform", TensorProto.FLOAT, low=2.0, high=5.0)
    rep = BACKENDS[mode].prepare(model, "CPU")
    first = rep.run([np.zeros(1, np.float32)])[0]
    second = rep.run([np.zeros(1, np.float32)])[0]
    assert first.min() >= 2.0 and first.max() < 5.0
    assert abs(first.mean() - 3.5) < 0.05
    assert not np.array_equal(first, second)


def test_random_normal_is_never_folded_at_import() -> None:
    node = helper.make_node("RandomNormal", [], ["y"], shape=[4])
    model = make_model([node], [], [_vi("y", TensorProto.FLOAT, [4])])
    block = load_block(model)
    assert [step.op_type for step in block.plan.steps] == ["RandomNormal"]
    assert not np.array_equal(block().asnumpy(), block().asnumpy())


@pytest.mark.parametrize("mode", list(BACKENDS))
@pytest.mark.parametrize("out_type", [TensorProto.FLOAT, TensorProto.INT32, TensorProto.BOOL])
def test_bernoulli_frequencies_and_degenerate_probabilities(mode: str, out_type: int) -> None:
    node = helper.make_node("Bernoulli", ["p"], ["y"], dtype=out_type)
    model = make_model([node], [_vi("p", TensorProto.FLOAT, [4, 20000])], [_vi("y", out_type, [4, 20000])],
                       opset=15)
    p = np.repeat(np.array([[0.0], [1.0], [0.25], [0.8]], np.float32), 20000, axis=1)
    (y,) = _run(model, mode, [p])
    assert y.dtype == helper.tensor_dtype_to_np_dtype(out_type)
    rates = y.astype(np.float64).mean(axis=1)
    assert rates[0] == 0.0 and rates[1] == 1.0
    assert abs(rates[2] - 0.25) < 0.02 and abs(rates[3] - 0.8) < 0.02


@pytest.mark.parametrize("mode", list(BACKENDS))
@pytest.mark.parametrize("out_type", [TensorProto.INT32, TensorProto.INT64])
def test_multinomial_frequencies(mode: str, out_type: int) -> None:
    node = helper.make_node("Multinomial", ["x"], ["y"], sample_size=20000, dtype=out_type)
    model = make_model([node], [_vi("x", TensorProto.FLOAT, [2, 3])], [_vi("y", out_type, [2, 20000])])
    probs = np.array([[0.2, 0.3, 0.5], [0.0, 1.0, 0.0]], np.float32)
    with np.errstate(divide="ignore"):
        logits = np.log(probs) + 1.5  # unnormalized log-probabilities
    (y,) = _run(model, mode, [logits.astype(np.float32)])
    assert y.dtype == helper.tensor_dtype_to_np_dtype(out_type) and y.shape == (2, 20000)
    counts = np.stack([np.bincount(row, minlength=3) / row.size for row in y])
    np.testing.assert_allclose(counts[0], probs[0], atol=0.02)
    np.testing.assert_array_equal(counts[1], probs[1])
