"""Bad input gives a typed gluon_onnx error with a one-line cause, never a bare MXNet traceback."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import errors
from gluon_onnx.importer.registry import converter
from gluon_onnx.samples import tiny_cnn


def _model(nodes, inputs=None, outputs=None, inits=(), opset=17, domain_opsets=()):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])]
    outputs = outputs or [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])]
    graph = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in domain_opsets]
    return helper.make_model(graph, opset_imports=opsets)


def test_truncated_file(tmp_path):
    data = tiny_cnn().SerializeToString()
    path = tmp_path / "truncated.onnx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(errors.InvalidModelError) as info:
        gluon_onnx.load_block(path)
    assert "truncated.onnx" in str(info.value)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes(seed):
    data = np.random.default_rng(seed).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    with pytest.raises(errors.InvalidModelError):
        gluon_onnx.load_block(data)


def test_missing_file():
    with pytest.raises(errors.InvalidModelError, match="does not exist"):
        gluon_onnx.load_block("/nonexistent/model.onnx")


def test_wrong_source_type():
    with pytest.raises(TypeError, match="expects a path"):
        gluon_onnx.load_block(12345)


def test_empty_graph():
    with pytest.raises(errors.InvalidModelError, match="empty graph"):
        gluon_onnx.load_block(onnx.ModelProto())


def test_cycle():
    nodes = [helper.make_node("Relu", ["x", ], ["a"], name="first"),
             helper.make_node("Add", ["a", "c"], ["b"], name="second"),
             helper.make_node("Relu", ["b"], ["c"], name="third"),
             helper.make_node("Identity", ["c"], ["y"], name="last")]
    with pytest.raises(errors.InvalidModelError, match="cycle") as info:
        gluon_onnx.load_block(_model(nodes))
    assert "second" in str(info.value) or "third" in str(info.value)


def test_missing_input_tensor():
    nodes = [helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")]
    with pytest.raises(errors.InvalidModelError, match="'ghost'") as info:
        gluon_onnx.load_block(_model(nodes))
    assert "adder" in str(info.value)


def test_duplicate_tensor_names():
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="a"), helper.make_node("Relu", ["x"], ["y"], name="b")]
    with pytest.raises(errors.InvalidModelError, match="unique"):
        gluon_onnx.load_block(_model(nodes))


def test_all_unknown_operators_are_reported_at_once():
    nodes = [
        helper.make_node("FancyOp", ["x"], ["a"], name="fancy1"),
        helper.make_node("FancyOp", ["a"], ["b"], name="fancy2"),
        helper.make_node("Wobble", ["b"], ["c"], name="wobble", domain="com.example"),
        helper.make_node("Relu", ["c"], ["y"], name="relu"),
    ]
    model = _model(nodes, domain_opsets=[("com.example", 1)])
    with pytest.raises(errors.UnsupportedOperatorError) as info:
        gluon_onnx.load_block(model)
    message = str(info.value)
    assert "FancyOp (opset 17)" in message and "'fancy1'" in message and "'fancy2'" in message
    assert "com.example::Wobble (opset 1)" in message
    assert {m[1] for m in info.value.missing} == {"FancyOp", "Wobble"}


def test_unknown_domain_without_opset_import():
    nodes = [helper.make_node("Wobble", ["x"], ["y"], domain="com.example")]
    with pytest.raises(errors.UnsupportedOperatorError, match="Wobble"):
        gluon_onnx.load_block(_model(nodes))


def test_opset_newer_than_supported():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], opset=gluon_onnx.model.MAX_OPSET + 1)
    with pytest.raises(errors.UnsupportedOpsetError, match="supports opsets"):
        gluon_onnx.load_block(model)


def test_missing_default_opset():
    model = _model([helper.make_node("Relu", ["x"], ["y"])])
    del model.opset_import[:]
    with pytest.raises(errors.UnsupportedOpsetError, match="no opset"):
        gluon_onnx.load_block(model)


def test_attribute_of_wrong_type():
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="leaky", alpha="not a number")
    with pytest.raises(errors.ConversionError, match="LeakyRelu node 'leaky'.*alpha"):
        gluon_onnx.load_block(_model([node]))


@converter("StrictScale", since=1, domain="test.gluon_onnx")
def _strict_scale(cx, x, *, alpha: float = 1.0):
    return x * alpha


def test_undeclared_attribute_is_named():
    node = helper.make_node("StrictScale", ["x"], ["y"], name="s", domain="test.gluon_onnx", alpha=2.0, bogus=3)
    model = _model([node], domain_opsets=[("test.gluon_onnx", 1)])
    with pytest.raises(errors.ConversionError, match="StrictScale node 's'.*bogus"):
        gluon_onnx.load_block(model)


def test_external_data_outside_model_directory_is_refused(tmp_path):
    weights = np.ones((2, 3), np.float32)
    secret = tmp_path / "secret.bin"
    secret.write_bytes(weights.tobytes())
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    tensor = numpy_helper.from_array(weights, "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "../secret.bin"), ("offset", "0"), ("length", str(weights.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[tensor])
    path = model_dir / "m.onnx"
    path.write_bytes(model.SerializeToString())
    with pytest.raises(errors.ExternalDataError, match="outside the model directory"):
        gluon_onnx.load_block(path)
    tensor.external_data[0].value = str(secret)
    path.write_bytes(_model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[tensor]).SerializeToString())
    with pytest.raises(errors.ExternalDataError, match="absolute path"):
        gluon_onnx.load_block(path)


def test_external_data_loads_and_past_end_is_refused(tmp_path):
    weights = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "w.bin").write_bytes(b"\0" * 16 + weights.tobytes())
    tensor = numpy_helper.from_array(weights, "w")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", "w.bin"), ("offset", "16"), ("length", str(weights.nbytes))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    path = tmp_path / "m.onnx"
    path.write_bytes(_model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[tensor]).SerializeToString())
    net = gluon_onnx.load_block(path)
    import mxnet as mx

    out = net(mx.nd.ones((2, 3))).asnumpy()
    np.testing.assert_array_equal(out, weights + 1)
    tensor.external_data[1].value = str(os.path.getsize(tmp_path / "w.bin"))
    path.write_bytes(_model([helper.make_node("Add", ["x", "w"], ["y"])], inits=[tensor]).SerializeToString())
    with pytest.raises(errors.ExternalDataError, match="past the end"):
        gluon_onnx.load_block(path)


def test_every_error_is_a_gluon_onnx_error():
    for name in ("InvalidModelError", "UnsupportedOpsetError", "ExternalDataError", "UnsupportedOperatorError",
                 "ConversionError", "HybridizationError", "ResourceLimitError", "ExportMismatchError", "ChecksumError"):
        assert issubclass(getattr(errors, name), errors.GluonOnnxError)
