"""LSTM, GRU and RNN beyond the official node tests, checked against onnxruntime in both modes."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet import autograd, gluon
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from tests.importer.ops.oracle import check_model, make_model, reference_outputs

FLOAT, INT32 = TensorProto.FLOAT, TensorProto.INT32
GATES = {"LSTM": 4, "GRU": 3, "RNN": 1}
BACKENDS = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}


def _weights(rng: np.random.Generator, op: str, dirs: int, inputs: int, hidden: int, prefix: str,
             peepholes: bool = False) -> list[onnx.TensorProto]:
    gates = GATES[op]
    arrays = {
        "W": rng.uniform(-0.5, 0.5, (dirs, gates * hidden, inputs)),
        "R": rng.uniform(-0.5, 0.5, (dirs, gates * hidden, hidden)),
        "B": rng.uniform(-0.5, 0.5, (dirs, 2 * gates * hidden)),
    }
    if peepholes:
        arrays["P"] = rng.uniform(-0.5, 0.5, (dirs, 3 * hidden))
    return [numpy_helper.from_array(a.astype(np.float32), f"{prefix}{k}") for k, a in arrays.items()]


def _rnn_node(op: str, x: str, prefix: str, outputs: list[str], *, seq_lens: str = "", initial_h: str = "",
              initial_c: str = "", peepholes: bool = False, **attrs: object) -> onnx.NodeProto:
    inputs = [x, f"{prefix}W", f"{prefix}R", f"{prefix}B", seq_lens, initial_h]
    if op == "LSTM":
        inputs += [initial_c, f"{prefix}P" if peepholes else ""]
    while inputs and not inputs[-1]:
        inputs.pop()
    return helper.make_node(op, inputs, outputs, name=f"{prefix}node", **attrs)


def _stacked_model(op: str, hidden: int = 6, features: int = 5, **attrs: object) -> onnx.ModelProto:
    """Two bidirectional layers as two nodes (a PyTorch-style export), dynamic time and batch."""
    rng = np.random.default_rng(7)
    nodes, inits = [], []
    x = "x"
    for layer in range(2):
        prefix = f"l{layer}_"
        size = features if layer == 0 else 2 * hidden
        inits += _weights(rng, op, 2, size, hidden, prefix)
        outs = [f"{prefix}y", f"{prefix}h"] + ([f"{prefix}c"] if op == "LSTM" else [])
        nodes.append(_rnn_node(op, x, prefix, outs, direction="bidirectional", hidden_size=hidden, **attrs))
        nodes.append(helper.make_node("Transpose", [f"{prefix}y"], [f"{prefix}yt"], perm=[0, 2, 1, 3]))
        nodes.append(helper.make_node("Reshape", [f"{prefix}yt", "merge"], [f"{prefix}out"]))
        x = f"{prefix}out"
    inits.append(numpy_helper.from_array(np.array([0, 0, -1], dtype=np.int64), "merge"))
    outputs = [helper.make_tensor_value_info("l1_out", FLOAT, ["T", "N", 2 * hidden]),
               helper.make_tensor_value_info("l1_h", FLOAT, [2, "N", hidden])]
    if op == "LSTM":
        outputs.append(helper.make_tensor_value_info("l1_c", FLOAT, [2, "N", hidden]))
    return make_model(nodes, [helper.make_tensor_value_info("x", FLOAT, ["T", "N", features])], outputs, inits,
                      opset=14)


def _assert_close(ours: list, refs: list, mode: str, rtol: float = 1e-4, atol: float = 1e-5) -> None:
    assert len(ours) == len(refs)
    for a, b in zip(ours, refs):
        assert a.shape == b.shape, f"{mode}: {a.shape} != {b.shape}"
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=mode)


@pytest.mark.parametrize("op,attrs", [
    ("LSTM", {}),
    ("GRU", {"linear_before_reset": 1}),
    ("GRU", {}),
    ("RNN", {"activations": ["Relu", "Relu"]}),
])
def test_stacked_bidirectional_layers_with_dynamic_time_and_batch(op: str, attrs: dict) -> None:
    model = _stacked_model(op, **attrs)
    rng = np.random.default_rng(3)
    for mode, backend in BACKENDS.items():
        rep = backend.prepare(model, "CPU")  # one block, several sequence lengths and batches
        for steps, batch in ((5, 2), (9, 2), (5, 3), (1, 1)):
            x = rng.standard_normal((steps, batch, 5)).astype(np.float32)
            _assert_close(list(rep.run([x])), reference_outputs(model, {"x": x}), mode)


def _single_node_model(op: str, *, dirs: int = 1, hidden: int = 4, features: int = 3, batch: int = 3,
                       steps: int = 5, with_lengths: bool = False, with_initial: bool = False,
                       peepholes: bool = False, opset: int = 14, layout: int = 0,
                       **attrs: object) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    rng = np.random.default_rng(11)
    inits = _weights(rng, op, dirs, features, hidden, "", peepholes)
    x_shape = [batch, steps, features] if layout else [steps, batch, features]
    state_shape = [batch, dirs, hidden] if layout else [dirs, batch, hidden]
    inputs = [helper.make_tensor_value_info("x", FLOAT, x_shape)]
    feeds = {"x": rng.standard_normal(x_shape).astype(np.float32)}
    if with_lengths:
        inputs.append(helper.make_tensor_value_info("lens", INT32, [batch]))
        feeds["lens"] = rng.integers(1, steps + 1, batch).astype(np.int32)
        feeds["lens"][0] = steps
    if with_initial:
        inputs.append(helper.make_tensor_value_info("h0", FLOAT, state_shape))
        feeds["h0"] = rng.standard_normal(state_shape).astype(np.float32)
        if op == "LSTM":
            inputs.append(helper.make_tensor_value_info("c0", FLOAT, state_shape))
            feeds["c0"] = rng.standard_normal(state_shape).astype(np.float32)
    outs = ["y", "y_h"] + (["y_c"] if op == "LSTM" else [])
    if layout:
        attrs["layout"] = layout
    node = _rnn_node(op, "x", "", outs, seq_lens="lens" if with_lengths else "",
                     initial_h="h0" if with_initial else "", initial_c="c0" if with_initial and op == "LSTM" else "",
                     peepholes=peepholes, hidden_size=hidden,
                     direction={1: "forward", 2: "bidirectional"}[dirs] if "direction" not in attrs else attrs.pop(
                         "direction"), **attrs)
    y_shape = [batch, steps, dirs, hidden] if layout else [steps, dirs, batch, hidden]
    outputs = [helper.make_tensor_value_info("y", FLOAT, y_shape),
               helper.make_tensor_value_info("y_h", FLOAT, state_shape)]
    if op == "LSTM":
        outputs.append(helper.make_tensor_value_info("y_c", FLOAT, state_shape))
    return make_model([node], inputs, outputs, inits, opset=opset), feeds


@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_sequence_lens(op: str, direction: str) -> None:
    model, feeds = _single_node_model(op, dirs=2 if direction == "bidirectional" else 1, with_lengths=True,
                                      with_initial=True, direction=direction)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op,attrs", [
    ("LSTM", {"clip": 0.7}),
    ("LSTM", {"input_forget": 1}),
    ("LSTM", {"activations": ["HardSigmoid", "LeakyRelu", "Softplus"], "activation_alpha": [0.3, 0.05],
              "activation_beta": [0.4]}),
    ("GRU", {"clip": 0.5, "linear_before_reset": 1}),
    ("GRU", {"activations": ["Sigmoid", "Relu", "HardSigmoid", "Tanh"], "activation_alpha": [0.25],
             "activation_beta": [0.6], "direction": "bidirectional"}),
    ("RNN", {"activations": ["Relu"]}),
    ("RNN", {"activations": ["Sigmoid"], "clip": 0.4}),
])
def test_attributes_that_need_the_unrolled_cell(op: str, attrs: dict) -> None:
    dirs = 2 if attrs.get("direction") == "bidirectional" else 1
    model, feeds = _single_node_model(op, dirs=dirs, with_initial=True, **attrs)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


def test_lstm_peepholes_layout_1_and_initial_states() -> None:
    model, feeds = _single_node_model("LSTM", dirs=2, with_initial=True, peepholes=True, layout=1)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("opset", [7, 14, 22])
@pytest.mark.parametrize("op", ["LSTM", "GRU", "RNN"])
def test_opset_versions(op: str, opset: int) -> None:
    model, feeds = _single_node_model(op, dirs=2, with_initial=True, opset=opset)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


def _text_classifier() -> onnx.ModelProto:
    """Embedding -> LSTM -> last hidden state -> dense: the shape of a small exported text model."""
    rng = np.random.default_rng(5)
    vocab, emb, hidden = 20, 6, 5
    inits = [numpy_helper.from_array(rng.standard_normal((vocab, emb)).astype(np.float32), "embedding"),
             numpy_helper.from_array(rng.standard_normal((hidden, 3)).astype(np.float32), "dense"),
             numpy_helper.from_array(np.array([1, 0, 2], dtype=np.int64), "to_tnc")]
    inits += _weights(rng, "LSTM", 1, emb, hidden, "lstm_")
    nodes = [helper.make_node("Gather", ["embedding", "tokens"], ["embedded"]),
             helper.make_node("Transpose", ["embedded"], ["tnc"], perm=[1, 0, 2]),
             _rnn_node("LSTM", "tnc", "lstm_", ["", "h", "c"], hidden_size=hidden),
             helper.make_node("Squeeze", ["h", "zero_axis"], ["last"]),
             helper.make_node("MatMul", ["last", "dense"], ["logits"])]
    inits.append(numpy_helper.from_array(np.array([0], dtype=np.int64), "zero_axis"))
    return make_model(nodes, [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["N", "T"])],
                      [helper.make_tensor_value_info("logits", FLOAT, ["N", 3])], inits, opset=14)


def test_text_classifier_dynamic_batch_and_length() -> None:
    model = _text_classifier()
    rng = np.random.default_rng(1)
    for mode, backend in BACKENDS.items():
        rep = backend.prepare(model, "CPU")
        for batch, steps in ((1, 7), (4, 3)):
            tokens = rng.integers(0, 20, (batch, steps)).astype(np.int64)
            _assert_close(list(rep.run([tokens])), reference_outputs(model, {"tokens": tokens}), mode)


def _train_steps(block: gluon_onnx.OnnxBlock, x: mx.nd.NDArray, steps: int = 2) -> dict[str, np.ndarray]:
    before = {name: p.data().asnumpy().copy() for name, p in block.onnx_params.items()}
    trainer = gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 0.1})
    for _ in range(steps):
        with autograd.record():
            outputs = block(x)
            loss = sum((o ** 2).sum() for o in (outputs if isinstance(outputs, (list, tuple)) else (outputs,)))
        loss.backward()
        trainer.step(1)
    return {name: p.data().asnumpy() - before[name] for name, p in block.onnx_params.items()}


@pytest.mark.parametrize("hybridize", [False, True])
@pytest.mark.parametrize("peepholes", [False, True])  # fused F.RNN / unrolled cells
def test_training_updates_the_onnx_weights(hybridize: bool, peepholes: bool) -> None:
    model, feeds = _single_node_model("LSTM", dirs=2, peepholes=peepholes)
    block = gluon_onnx.load_block(model)
    assert {"W", "R", "B"} <= set(block.onnx_params)
    if hybridize:
        block.hybridize()
    changes = _train_steps(block, mx.nd.array(feeds["x"]))
    for name in ("W", "R", "B") + (("P",) if peepholes else ()):
        assert np.abs(changes[name]).max() > 1e-6, f"{name} did not change"


def test_fused_and_unrolled_gradients_agree() -> None:
    """Zero peepholes as a Parameter force the unrolled cell; the function (and its gradient) is the same."""
    fused_model, feeds = _single_node_model("LSTM", dirs=2)
    unrolled_model, _ = _single_node_model("LSTM", dirs=2, peepholes=True)
    for init in unrolled_model.graph.initializer:
        if init.name == "P":
            init.CopyFrom(numpy_helper.from_array(np.zeros((2, 12), dtype=np.float32), "P"))
    grads = []
    for model in (fused_model, unrolled_model):
        block = gluon_onnx.load_block(model)
        with autograd.record():
            loss = sum((o ** 2).sum() for o in block(mx.nd.array(feeds["x"])))
        loss.backward()
        grads.append({name: block.onnx_params[name].grad().asnumpy() for name in ("W", "R", "B")})
    for name in ("W", "R", "B"):
        np.testing.assert_allclose(grads[0][name], grads[1][name], rtol=1e-4, atol=1e-5, err_msg=name)
