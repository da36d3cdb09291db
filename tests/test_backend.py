"""gluon_onnx.backend as an onnx.backend.base.Backend: prepare, run_model, run_node, devices."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import gluon_onnx.backend as backend
from gluon_onnx.samples import tiny_cnn
from gluon_onnx.verify import random_inputs, run_onnxruntime


def test_run_node_matches_the_operator_definition():
    node = helper.make_node("Gemm", ["a", "b", "c"], ["y"], transB=1, alpha=0.5)
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((4, 3)), rng.standard_normal((4,))
    a, b, c = (v.astype(np.float32) for v in (a, b, c))
    (y,) = backend.run_node(node, [a, b, c])
    np.testing.assert_allclose(y, 0.5 * a @ b.T + c, rtol=1e-5)
    (y_hybrid,) = backend.run_node(node, [a, b, c], hybridize=True)
    np.testing.assert_allclose(y_hybrid, y, rtol=1e-6)


def test_run_node_keeps_dtypes_and_scalars():
    node = helper.make_node("ReduceSum", ["x"], ["y"], keepdims=0)
    (y,) = backend.run_node(node, [np.arange(6, dtype=np.int64).reshape(2, 3)], opset_version=11)
    assert y.dtype == np.int64 and y.shape == () and int(y) == 15


@pytest.mark.parametrize("hybridize", [False, True])
def test_prepare_and_run_model_with_list_and_dict_inputs(hybridize):
    model = tiny_cnn(seed=4)
    feeds = random_inputs(model, seed=0, sizes={"N": 3})
    refs = run_onnxruntime(model, feeds)
    rep = backend.prepare(model, "CPU", hybridize=hybridize)
    for outputs in (rep.run([feeds["input"]]), rep.run(feeds), backend.run_model(model, [feeds["input"]])):
        assert len(outputs) == 2
        for ours, ref in zip(outputs, refs):
            np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)
    assert rep.block._active is hybridize


def test_supports_device():
    assert backend.supports_device("CPU")
    assert backend.supports_device("CUDA") == (mx.context.num_gpus() > 0)


@pytest.mark.skipif(mx.context.num_gpus() == 0, reason="needs a GPU and a CUDA build of MXNet")
def test_cuda_device_runs_on_the_gpu():
    model = tiny_cnn(seed=5)
    feeds = random_inputs(model, seed=1, sizes={"N": 2})
    rep = backend.prepare(model, "CUDA:0")
    assert rep.ctx == mx.gpu(0)
    outputs = rep.run([feeds["input"]])
    np.testing.assert_allclose(outputs[0], run_onnxruntime(model, feeds)[0], rtol=1e-4, atol=1e-5)


def test_model_without_inputs():
    node = helper.make_node("Constant", [], ["y"], value=onnx.numpy_helper.from_array(np.arange(3, dtype=np.float32)))
    graph = helper.make_graph([node], "c", [], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    for hybridize in (False, True):
        (y,) = backend.prepare(model, hybridize=hybridize).run([])
        np.testing.assert_array_equal(y, [0, 1, 2])
