"""Normalization layers against onnxruntime / the reference, and BatchNormalization's Gluon training behaviour."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet import autograd
from onnx import helper

from gluon_onnx import load_block
from tests.importer.ops.nn_helpers import check_dynamic_batch, single_node_model, value_info
from tests.importer.ops.oracle import check_model, make_model

RNG = np.random.RandomState(3)
C = 3


def bn_model(opset: int = 15, batch_free: bool = False, **attrs: object) -> tuple:
    stats = {
        "scale": (RNG.rand(C) + 0.5).astype("float32"),
        "bias": RNG.randn(C).astype("float32"),
        "mean": RNG.randn(C).astype("float32"),  # non-trivial running statistics
        "var": (RNG.rand(C) + 0.5).astype("float32"),
    }
    x = RNG.randn(4, C, 5, 6).astype("float32")
    model = single_node_model("BatchNormalization", {"x": x}, [("y", "float32")], initializers=stats,
                              batch_free=batch_free, opset=opset, **attrs)
    return model, x, stats


@pytest.mark.parametrize("opset", [7, 9, 15])
def test_batch_norm_uses_running_statistics(opset: int) -> None:
    model, x, _ = bn_model(opset=opset, epsilon=1e-3)
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-5)


def test_batch_norm_dynamic_batch() -> None:
    model, _, _ = bn_model(batch_free=True)
    check_dynamic_batch(model, lambda n: {"x": RNG.randn(n, C, 5, 6).astype("float32")})


def test_batch_norm_training_mode_outputs() -> None:
    x = RNG.randn(4, C, 3, 2).astype("float32")
    feeds = {"x": x, "scale": (RNG.rand(C) + 0.5).astype("float32"), "bias": RNG.randn(C).astype("float32"),
             "mean": RNG.randn(C).astype("float32"), "var": (RNG.rand(C) + 0.5).astype("float32")}
    model = single_node_model("BatchNormalization", feeds, [("y", "float32"), ("rm", "float32"), ("rv", "float32")],
                              opset=15, training_mode=1, momentum=0.7)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("hybridize", [False, True])
def test_batch_norm_trains_like_gluon(hybridize: bool) -> None:
    """Under autograd.record(train_mode=True): batch statistics, running statistics updated
    with the node's momentum exactly like gluon.nn.BatchNorm (biased batch variance)."""
    momentum, eps = 0.9, 1e-3
    model, x, stats = bn_model(batch_free=True, epsilon=eps, momentum=momentum)
    block = load_block(model, dynamic_batch=True)
    reference = mx.gluon.nn.BatchNorm(in_channels=C, momentum=momentum, epsilon=eps)
    reference.initialize()
    for name, param in (("scale", reference.gamma), ("bias", reference.beta), ("mean", reference.running_mean),
                        ("var", reference.running_var)):
        param.set_data(mx.nd.array(stats[name]))
    if hybridize:
        block.hybridize()
        reference.hybridize()
    data = mx.nd.array(x)
    trained = []
    for net in (block, reference):
        with autograd.record(train_mode=True):
            out = net(data)
        out.backward()  # MXNet writes the running statistics back during the backward pass
        trained.append(out.asnumpy())
    ours, theirs = trained
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
    batch_mean, batch_var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = (x - batch_mean[None, :, None, None]) / np.sqrt(batch_var[None, :, None, None] + eps)
    expected = expected * stats["scale"][None, :, None, None] + stats["bias"][None, :, None, None]
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)
    params = block.onnx_params
    running_mean = stats["mean"] * momentum + batch_mean * (1 - momentum)
    running_var = stats["var"] * momentum + batch_var * (1 - momentum)
    np.testing.assert_allclose(params["mean"].data().asnumpy(), running_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["var"].data().asnumpy(), running_var, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(params["mean"].data().asnumpy(), reference.running_mean.data().asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(params["var"].data().asnumpy(), reference.running_var.data().asnumpy(), rtol=1e-6)
    # outside autograd.record the updated running statistics are used
    inference = block(data).asnumpy()
    expected = (x - running_mean[None, :, None, None]) / np.sqrt(running_var[None, :, None, None] + eps)
    expected = expected * stats["scale"][None, :, None, None] + stats["bias"][None, :, None, None]
    np.testing.assert_allclose(inference, expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("axis", [-1, 1, -2, 0])
def test_layer_norm_outputs(axis: int) -> None:
    x = RNG.randn(2, 3, 4).astype("float32")
    norm_shape = x.shape[axis:]
    inits = {"scale": RNG.randn(*norm_shape).astype("float32"), "bias": RNG.randn(*norm_shape).astype("float32")}
    model = single_node_model("LayerNormalization", {"x": x}, [("y", "float32"), ("mean", "float32"),
                                                                ("inv", "float32")], initializers=inits, axis=axis,
                              epsilon=1e-3)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_layer_norm_float16_without_bias() -> None:
    x = RNG.randn(2, 5, 8).astype("float16")
    model = single_node_model("LayerNormalization", {"x": x}, [("y", "float16")],
                              initializers={"scale": RNG.randn(8).astype("float16")})
    check_model(model, {"x": x}, rtol=2e-3, atol=2e-3)


def test_layer_norm_dynamic_batch() -> None:
    inits = {"scale": RNG.randn(8).astype("float32"), "bias": RNG.randn(8).astype("float32")}
    model = single_node_model("LayerNormalization", {"x": RNG.randn(1, 5, 8).astype("float32")},
                              [("y", "float32")], initializers=inits, batch_free=True)
    check_dynamic_batch(model, lambda n: {"x": RNG.randn(n, 5, 8).astype("float32")}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", [-1, 1])
def test_rms_norm(axis: int) -> None:
    x = RNG.randn(2, 3, 4).astype("float32")
    model = single_node_model("RMSNormalization", {"x": x}, [("y", "float32")], opset=23, axis=axis,
                              initializers={"scale": RNG.randn(*x.shape[axis:]).astype("float32")})
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_norm_scale_per_group_then_per_channel(opset: int) -> None:
    x = RNG.randn(2, 6, 3, 2).astype("float32")
    count = 3 if opset == 18 else 6  # opset 18: one scale per group; 21: per channel
    inits = {"scale": RNG.randn(count).astype("float32"), "bias": RNG.randn(count).astype("float32")}
    model = single_node_model("GroupNormalization", {"x": x}, [("y", "float32")], opset=opset, num_groups=3,
                              initializers=inits)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


def test_instance_norm_and_lrn() -> None:
    x = RNG.randn(2, 5, 4, 3).astype("float32")
    inits = {"scale": RNG.randn(5).astype("float32"), "bias": RNG.randn(5).astype("float32")}
    model = single_node_model("InstanceNormalization", {"x": x}, [("y", "float32")], initializers=inits,
                              epsilon=1e-2)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)
    model = single_node_model("LRN", {"x": x}, [("y", "float32")], size=3, alpha=1e-2, beta=0.5, bias=2.0)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axes", [None, [1], [2, 3]])
def test_mean_variance_normalization(axes: list | None) -> None:
    x = RNG.randn(2, 3, 4, 5).astype("float32")
    attrs = {} if axes is None else {"axes": axes}
    model = single_node_model("MeanVarianceNormalization", {"x": x}, [("y", "float32")], opset=13, **attrs)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p, axis", [(1, 0), (2, -1), (2, 1)])
def test_lp_normalization(p: int, axis: int) -> None:
    x = RNG.randn(3, 4, 2).astype("float32")
    x[0, :, 0] = 0  # a zero norm stays zero
    model = single_node_model("LpNormalization", {"x": x}, [("y", "float32")], p=p, axis=axis)
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "float64"])
def test_normalization_dtypes(dtype: str) -> None:
    x = RNG.randn(2, C, 4, 5).astype(dtype)
    tol = 3e-3 if dtype == "float16" else 1e-6
    stats = {"scale": (RNG.rand(C) + 0.5).astype(dtype), "bias": RNG.randn(C).astype(dtype),
             "mean": RNG.randn(C).astype(dtype), "var": (RNG.rand(C) + 0.5).astype(dtype)}
    model = single_node_model("BatchNormalization", {"x": x}, [("y", dtype)], initializers=stats)
    check_model(model, {"x": x}, rtol=tol, atol=tol)
    model = single_node_model("InstanceNormalization", {"x": x}, [("y", dtype)],
                              initializers={"scale": stats["scale"], "bias": stats["bias"]})
    check_model(model, {"x": x}, rtol=tol, atol=tol)
    model = single_node_model("LRN", {"x": x}, [("y", dtype)], size=3, alpha=0.1)
    # onnxruntime has no float64 LRN and the reference implementation's channel loop runs over the batch
    squares = np.pad(x.astype("float64") ** 2, ((0, 0), (1, 1), (0, 0), (0, 0)))
    window = squares[:, :-2] + squares[:, 1:-1] + squares[:, 2:]
    expected = (x / (1.0 + 0.1 / 3 * window) ** 0.75).astype(dtype)
    check_model(model, {"x": x}, rtol=max(tol, 1e-5), atol=max(tol, 1e-5), expected=[expected])


def test_batch_norm_per_activation_statistics() -> None:
    x = RNG.randn(2, C, 4).astype("float32")
    stats = {"scale": RNG.randn(C, 4).astype("float32"), "bias": RNG.randn(C, 4).astype("float32"),
             "mean": RNG.randn(C, 4).astype("float32"), "var": (RNG.rand(C, 4) + 0.5).astype("float32")}
    model = single_node_model("BatchNormalization", {"x": x}, [("y", "float32")], initializers=stats, opset=7,
                              spatial=0, epsilon=1e-3)
    expected = (x - stats["mean"]) / np.sqrt(stats["var"] + 1e-3) * stats["scale"] + stats["bias"]
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-5, expected=[expected])


def test_batch_norm_with_computed_statistics() -> None:
    """Statistics produced by other nodes cannot be updated in place: normalize with them as given."""
    x = RNG.randn(2, C, 3, 3).astype("float32")
    feeds = {"x": x, "m": RNG.randn(C).astype("float32"), "v": (RNG.rand(C) + 0.5).astype("float32")}
    nodes = [helper.make_node("Abs", ["v"], ["v_abs"]), helper.make_node("Neg", ["m"], ["m_neg"]),
             helper.make_node("BatchNormalization", ["x", "s", "b", "m_neg", "v_abs"], ["y"])]
    inits = [onnx.numpy_helper.from_array(RNG.randn(C).astype("float32"), "s"),
             onnx.numpy_helper.from_array(RNG.randn(C).astype("float32"), "b")]
    model = make_model(nodes, [value_info(n, a) for n, a in feeds.items()], [value_info("y", "float32", None)],
                       inits, opset=15)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)
