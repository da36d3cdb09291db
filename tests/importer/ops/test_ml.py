"""ai.onnx.ml (Binarizer, ArrayFeatureExtractor, TreeEnsemble) and ai.onnx.preview.training
optimizers against onnxruntime / the onnx reference, imperative and hybridized."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from .oracle import check_model

RNG = np.random.default_rng(11)


def _vi(name: str, elem: int, shape: list | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes: list, inputs: list, outputs: list, domain: str, version: int, inits: list = ()) -> onnx.ModelProto:
    graph = helper.make_graph(nodes, "test", inputs, outputs, list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid(domain, version)])
    model.ir_version = 10
    return model


@pytest.mark.parametrize("elem", [TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.INT64, TensorProto.INT32])
def test_binarizer_types(elem: int) -> None:
    node = helper.make_node("Binarizer", ["x"], ["y"], domain="ai.onnx.ml", threshold=-0.5)
    model = _model([node], [_vi("x", elem, [3, 4])], [_vi("y", elem, [3, 4])], "ai.onnx.ml", 1)
    x = RNG.integers(-3, 3, (3, 4)).astype(helper.tensor_dtype_to_np_dtype(elem))
    check_model(model, {"x": x})


@pytest.mark.parametrize("shape", [[5], [2, 3, 5]])
def test_array_feature_extractor(shape: list) -> None:
    node = helper.make_node("ArrayFeatureExtractor", ["x", "i"], ["y"], domain="ai.onnx.ml")
    model = _model([node], [_vi("x", TensorProto.FLOAT, shape)], [_vi("y", TensorProto.FLOAT, None)], "ai.onnx.ml", 1,
                   [numpy_helper.from_array(np.array([4, 0, 4], np.int64), "i")])
    check_model(model, {"x": RNG.standard_normal(shape).astype(np.float32)})


def _forest(aggregate: int, post_transform: int, n_targets: int = 3) -> dict:
    """Two trees of depth 3 and 1, a BRANCH_MEMBER node and NaN routing."""
    return dict(
        # tree 0: nodes 0..3; tree 1: node 4
        nodes_featureids=[0, 1, 2, 0, 1],
        nodes_modes=numpy_helper.from_array(np.array([0, 3, 6, 4, 1], np.uint8), "m"),
        nodes_splits=numpy_helper.from_array(np.array([0.5, -1.0, 0.0, 2.0, 0.25], np.float32), "s"),
        nodes_truenodeids=[1, 0, 3, 1, 3], nodes_trueleafs=[0, 1, 0, 1, 1],
        nodes_falsenodeids=[2, 1, 2, 2, 4], nodes_falseleafs=[0, 1, 1, 1, 1],
        nodes_missing_value_tracks_true=[1, 0, 0, 0, 1],
        membership_values=numpy_helper.from_array(np.array([1.0, 3.0, 5.0, np.nan], np.float32), "mv"),
        leaf_targetids=[0, 1, 2, 0, 2], leaf_weights=numpy_helper.from_array(
            np.array([1.5, -2.0, 3.25, 0.5, 7.0], np.float32), "w"),
        tree_roots=[0, 4], n_targets=n_targets, aggregate_function=aggregate, post_transform=post_transform,
    )


def _tree_model(aggregate: int, post_transform: int) -> onnx.ModelProto:
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **_forest(aggregate, post_transform))
    return _model([node], [_vi("x", TensorProto.FLOAT, ["N", 3])], [_vi("y", TensorProto.FLOAT, ["N", 3])],
                  "ai.onnx.ml", 5)


def _tree_inputs() -> np.ndarray:
    return RNG.choice([-2.0, -1.0, 0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, np.nan], size=(40, 3)).astype(np.float32)


@pytest.mark.parametrize("aggregate", [0, 1, 2, 3])
def test_tree_ensemble_aggregates_against_onnxruntime(aggregate: int) -> None:
    check_model(_tree_model(aggregate, 0), {"x": _tree_inputs()}, rtol=1e-5, atol=1e-6)


def _softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _softmax_zero(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max(axis=1, keepdims=True)) * (v != 0)
    return e / e.sum(axis=1, keepdims=True)


def _unscaled_scores(x: np.ndarray) -> np.ndarray:
    from .oracle import reference_outputs

    return reference_outputs(_tree_model(1, 0), {"x": x})[0]


def test_tree_ensemble_single_leaf_tree_and_float64() -> None:
    attrs = dict(nodes_featureids=[0], nodes_modes=numpy_helper.from_array(np.array([0], np.uint8), "m"),
                 nodes_splits=numpy_helper.from_array(np.array([0.0]), "s"), nodes_truenodeids=[0],
                 nodes_trueleafs=[1], nodes_falsenodeids=[0], nodes_falseleafs=[1], leaf_targetids=[0],
                 leaf_weights=numpy_helper.from_array(np.array([4.5]), "w"), tree_roots=[0], n_targets=1)
    node = helper.make_node("TreeEnsemble", ["x"], ["y"], domain="ai.onnx.ml", **attrs)
    model = _model([node], [_vi("x", TensorProto.DOUBLE, [3, 2])], [_vi("y", TensorProto.DOUBLE, [3, 1])],
                   "ai.onnx.ml", 5)
    check_model(model, {"x": RNG.standard_normal((3, 2))}, expected=[np.full((3, 1), 4.5)])


def _training_model(op: str, n_tensors: int, per_tensor: list[str], outputs: list[str], **attrs: object):
    names = ["R", "T"] + [f"{kind}{i}" for kind in per_tensor for i in range(n_tensors)]
    out_names = [f"{kind}{i}_new" for kind in outputs for i in range(n_tensors)]
    node = helper.make_node(op, names, out_names, domain="ai.onnx.preview.training", **attrs)
    inputs = [_vi("R", TensorProto.FLOAT, []), _vi("T", TensorProto.INT64, [])]
    inputs += [_vi(n, TensorProto.FLOAT, [2, 3]) for n in names[2:]]
    return _model([node], inputs, [_vi(n, TensorProto.FLOAT, [2, 3]) for n in out_names],
                  "ai.onnx.preview.training", 1), names


def _training_feeds(names: list[str], step: int) -> dict:
    feeds = {"R": np.array(0.1, np.float32), "T": np.array(step, np.int64)}
    for name in names[2:]:
        values = RNG.standard_normal((2, 3)).astype(np.float32)
        feeds[name] = np.abs(values) if name.startswith("H") else values
    return feeds


@pytest.mark.parametrize("step", [0, 3])
@pytest.mark.parametrize("op,per_tensor,outputs,attrs", [
    ("Adagrad", ["X", "G", "H"], ["X", "H"], dict(decay_factor=0.1, epsilon=1e-5, norm_coefficient=0.01)),
    ("Adam", ["X", "G", "V", "H"], ["X", "V", "H"],
     dict(alpha=0.9, beta=0.99, epsilon=1e-6, norm_coefficient=0.01, norm_coefficient_post=0.02)),
    ("Momentum", ["X", "G", "V"], ["X", "V"], dict(alpha=0.9, beta=0.5, mode="standard", norm_coefficient=0.01)),
    ("Momentum", ["X", "G", "V"], ["X", "V"], dict(alpha=0.9, beta=0.5, mode="nesterov", norm_coefficient=0.01)),
])
def test_training_optimizers_two_tensors(step: int, op: str, per_tensor: list, outputs: list, attrs: dict) -> None:
    from onnx.reference import ReferenceEvaluator

    model, names = _training_model(op, 2, per_tensor, outputs, **attrs)
    feeds = _training_feeds(names, step)
    expected = [np.asarray(v, np.float32) for v in ReferenceEvaluator(model).run(None, feeds)]
    check_model(model, feeds, rtol=1e-5, atol=1e-6, expected=expected)


@pytest.mark.parametrize("post_transform,transform", [
    (1, _softmax), (2, lambda v: 1 / (1 + np.exp(-v))), (3, _softmax_zero)])
def test_tree_ensemble_post_transforms_follow_the_spec_enum(post_transform: int, transform: object) -> None:
    # onnxruntime numbers these transforms differently (its 1 is LOGISTIC); the spec's 1 is SOFTMAX
    x = _tree_inputs()
    scores = _unscaled_scores(x)
    check_model(_tree_model(1, post_transform), {"x": x}, rtol=1e-5, atol=1e-6,
                expected=[transform(scores.astype(np.float64)).astype(np.float32)])


def test_gradient_node_through_matmul_and_tanh() -> None:
    from gluon_onnx.backend import GluonOnnxBackend

    matmul = helper.make_node("MatMul", ["a", "w"], ["h"])
    tanh = helper.make_node("Tanh", ["h"], ["y"])
    grad = helper.make_node("Gradient", ["a", "w"], ["dy_da", "dy_dw"], domain="ai.onnx.preview.training",
                            xs=["a", "w"], y="y")
    model = _model([matmul, tanh, grad], [_vi("a", TensorProto.FLOAT, [2, 3]), _vi("w", TensorProto.FLOAT, [3, 4])],
                   [_vi("y", TensorProto.FLOAT, [2, 4]), _vi("dy_da", TensorProto.FLOAT, [2, 3]),
                    _vi("dy_dw", TensorProto.FLOAT, [3, 4])], "ai.onnx.preview.training", 1)
    a = RNG.standard_normal((2, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 4)).astype(np.float32)
    y, dy_da, dy_dw = GluonOnnxBackend.prepare(model, "CPU").run([a, w])
    slope = 1.0 - np.tanh(a @ w) ** 2  # d(sum y)/dh
    np.testing.assert_allclose(y, np.tanh(a @ w), rtol=1e-5)
    np.testing.assert_allclose(dy_da, slope @ w.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dy_dw, a.T @ slope, rtol=1e-5, atol=1e-6)
