"""Imported blocks train like native Gluon blocks: autograd, gluon.Trainer, BatchNorm train mode."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon
from mxnet.gluon import nn
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx.samples import tiny_cnn


class FeaturesWithHead(gluon.HybridBlock):
    def __init__(self, features: gluon.HybridBlock, classes: int):
        super().__init__()
        self.features = features
        self.head = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.head(self.features(x))


def _digits():
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None, :, :]
    y = digits.target.astype(np.float32)
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return (x[:1400], y[:1400]), (x[1400:], y[1400:])


def _accuracy(net: gluon.Block, x: np.ndarray, y: np.ndarray) -> float:
    pred = net(mx.nd.array(x)).argmax(axis=1).asnumpy()
    return float((pred == y).mean())


@pytest.mark.parametrize("hybridize", [False, True])
def test_fine_tune_cut_cnn_with_new_dense_head_on_digits(hybridize):
    (x_train, y_train), (x_test, y_test) = _digits()
    model = tiny_cnn(seed=1, in_channels=1, image_size=8, channels=8)
    features = gluon_onnx.load_block(model, outputs=["/Reshape"])
    net = FeaturesWithHead(features, 10)
    net.head.initialize(mx.init.Xavier())
    if hybridize:
        net.hybridize()
    stem = features.onnx_params["stem.weight"]
    stem_before = stem.data().asnumpy().copy()
    mean_before = features.onnx_params["stem.bn.running_mean"].data().asnumpy().copy()
    accuracy_before = _accuracy(net, x_test, y_test)

    trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01})
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    epoch_losses = []
    for _epoch in range(4):
        losses = []
        for start in range(0, len(x_train), 64):
            xb = mx.nd.array(x_train[start:start + 64])
            yb = mx.nd.array(y_train[start:start + 64])
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(xb.shape[0])
            losses.append(float(loss.mean().asnumpy()))
        epoch_losses.append(np.mean(losses))

    accuracy_after = _accuracy(net, x_test, y_test)
    assert epoch_losses[-1] < 0.5 * epoch_losses[0], epoch_losses
    assert accuracy_after > 0.8, accuracy_after
    assert accuracy_after > accuracy_before + 0.3
    # gradients reached the imported convolution, and BatchNorm updated its running statistics
    assert not np.allclose(stem.data().asnumpy(), stem_before)
    assert not np.allclose(features.onnx_params["stem.bn.running_mean"].data().asnumpy(), mean_before)


def test_frozen_imported_parameters_do_not_change():
    (x_train, y_train), _ = _digits()
    model = tiny_cnn(seed=2, in_channels=1, image_size=8, channels=8)
    features = gluon_onnx.load_block(model, outputs=["/Reshape"])
    for param in features.collect_params().values():
        param.grad_req = "null"
    net = FeaturesWithHead(features, 10)
    net.head.initialize()
    before = {k: p.data().asnumpy().copy() for k, p in features.onnx_params.items()}
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1})
    xb, yb = mx.nd.array(x_train[:32]), mx.nd.array(y_train[:32])
    head_before = None
    for _ in range(3):
        with autograd.record(train_mode=False):
            loss = gluon.loss.SoftmaxCrossEntropyLoss()(net(xb), yb)
        loss.backward()
        if head_before is None:
            head_before = net.head.weight.data().asnumpy().copy()
        trainer.step(32)
    for key, value in before.items():
        np.testing.assert_array_equal(features.onnx_params[key].data().asnumpy(), value, err_msg=key)
    assert not np.allclose(net.head.weight.data().asnumpy(), head_before)


def _bn_model(gamma, beta, mean, var, eps, momentum) -> object:
    inits = [numpy_helper.from_array(v.astype(np.float32), n)
             for n, v in (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))]
    node = helper.make_node("BatchNormalization", ["x", "gamma", "beta", "mean", "var"], ["y"],
                            epsilon=eps, momentum=momentum)
    graph = helper.make_graph([node], "bn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 5, 5])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4, 5, 5])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])


@pytest.mark.parametrize("hybridize", [False, True])
def test_batchnorm_train_mode_matches_gluon_batchnorm(hybridize):
    rng = np.random.default_rng(0)
    gamma, beta = rng.uniform(0.5, 1.5, 4), rng.standard_normal(4)
    mean, var = rng.standard_normal(4), rng.uniform(0.5, 2, 4)
    net = gluon_onnx.load_block(_bn_model(gamma, beta, mean, var, 1e-3, 0.9))
    ref = nn.BatchNorm(in_channels=4, epsilon=1e-3, momentum=0.9)
    ref.initialize()
    for name, value in (("gamma", gamma), ("beta", beta), ("running_mean", mean), ("running_var", var)):
        getattr(ref, name).set_data(mx.nd.array(value))
    if hybridize:
        net.hybridize()
        ref.hybridize()
    x = mx.nd.array(rng.standard_normal((8, 4, 5, 5)) * 3 + 1)

    # inference: running statistics
    np.testing.assert_allclose(net(x).asnumpy(), ref(x).asnumpy(), rtol=1e-5, atol=1e-5)
    # training: batch statistics; like gluon.nn.BatchNorm, MXNet updates the running statistics
    # (momentum 0.9) in the backward pass
    for _ in range(2):
        with autograd.record(train_mode=True):
            ours = net(x)
        ours.backward()
        with autograd.record(train_mode=True):
            theirs = ref(x)
        theirs.backward()
        np.testing.assert_allclose(ours.asnumpy(), theirs.asnumpy(), rtol=1e-4, atol=1e-4)
        batch_mean = x.asnumpy().mean(axis=(0, 2, 3))
        assert np.abs(ours.asnumpy().mean(axis=(0, 2, 3)) - beta).max() < 1e-3  # normalized by batch stats
    np.testing.assert_allclose(net.onnx_params["mean"].data().asnumpy(), ref.running_mean.data().asnumpy(), rtol=1e-5)
    np.testing.assert_allclose(net.onnx_params["var"].data().asnumpy(), ref.running_var.data().asnumpy(), rtol=1e-4)
    expected_mean = mean
    for _ in range(2):
        expected_mean = 0.9 * expected_mean + 0.1 * batch_mean
    np.testing.assert_allclose(net.onnx_params["mean"].data().asnumpy(), expected_mean, rtol=1e-4, atol=1e-5)
