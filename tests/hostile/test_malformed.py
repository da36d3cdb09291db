"""Malformed models and hostile values: typed errors that name the node or tensor and the cause.

Complements tests/importer/test_errors.py (truncated/random bytes, cycles, dangling and duplicate
names, unknown operators and domains, missing/newer opsets, attribute types, external paths).
Models whose values used to crash MXNet run in the crash-isolated worker.
"""

from __future__ import annotations

import subprocess
import sys

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import backend, errors
from gluon_onnx.samples import tiny_cnn

from .harness import ROOT, WorkerFailure, shared_worker

F32 = TensorProto.FLOAT


def _vi(name, elem=F32, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def _model(nodes, inputs, outputs, inits=(), opset=17):
    return helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                             opset_imports=[helper.make_opsetid("", opset)])


# --- bytes and protobuf structure ---------------------------------------------------------------------
@pytest.mark.parametrize("data", [
    b"",
    numpy_helper.from_array(np.ones(3, np.float32), "t").SerializeToString(),  # another message type
    helper.make_node("Relu", ["a"], ["b"]).SerializeToString(),
    helper.make_graph([], "g", [], []).SerializeToString(),
], ids=["empty", "tensor", "node", "graph"])
def test_other_protobuf_messages(data, tmp_path):
    with pytest.raises(errors.InvalidModelError):
        gluon_onnx.load_block(data)
    path = tmp_path / "m.onnx"
    path.write_bytes(data)
    with pytest.raises(errors.InvalidModelError):
        gluon_onnx.load_block(path)


def test_invalid_utf8_name_is_named():
    model = _model([helper.make_node("Relu", ["x"], ["y"], name="NODENAME")], [_vi("x", F32, [2])], [_vi("y")])
    data = model.SerializeToString().replace(b"NODENAME", b"NODE\xffAME")
    with pytest.raises(errors.InvalidModelError, match="'name'.*NodeProto.*UTF-8"):
        gluon_onnx.load_block(data)


@pytest.mark.parametrize("where", ["input", "initializer", "output"])
def test_unknown_element_types(where):
    inputs, outputs = [_vi("x", F32, [2])], [_vi("y", F32, [2])]
    inits = [numpy_helper.from_array(np.ones(2, np.float32), "w")]
    if where == "input":
        inputs = [_vi("x", 99, [2])]
    elif where == "initializer":
        inits[0].data_type = 0
    else:
        outputs = [_vi("y", 99, [2])]
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], inputs, outputs, inits)
    with pytest.raises(errors.InvalidModelError, match="element type|elem"):
        gluon_onnx.load_block(model)


# --- inconsistent declarations ------------------------------------------------------------------------
def test_declared_input_contradicting_its_initializer():
    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", F32, [2, 2]), _vi("w", F32, [3, 3])],
                   [_vi("y", F32, [2, 2])], [weight])
    with pytest.raises(errors.InvalidModelError, match="'w'.*declared with shape \\[3, 3\\].*\\[2, 2\\]"):
        gluon_onnx.load_block(model)
    model.graph.input[1].CopyFrom(_vi("w", TensorProto.INT64, [2, 2]))
    with pytest.raises(errors.InvalidModelError, match="'w'.*element type 7.*1"):
        gluon_onnx.load_block(model)


@pytest.mark.parametrize("declared, cause", [
    (_vi("y", F32, [2, 2, 5]), "differ in rank"),
    (_vi("y", TensorProto.INT64, [2, 2]), "elem type differs"),
])
def test_graph_output_contradicting_the_graph(declared, cause):
    model = _model([helper.make_node("Add", ["x", "x"], ["y"], name="adder")], [_vi("x", F32, [2, 2])], [declared])
    with pytest.raises(errors.InvalidModelError, match=f"adder.*{cause}"):
        gluon_onnx.load_block(model)


def test_initializer_bytes_not_matching_its_dims():
    weight = numpy_helper.from_array(np.ones((2, 2), np.float32), "w")
    weight.raw_data = weight.raw_data[:10]
    model = _model([helper.make_node("Add", ["x", "w"], ["y"])], [_vi("x", F32, [2, 2])], [_vi("y")], [weight])
    with pytest.raises(errors.InvalidModelError, match="'w'.*inconsistent data"):
        gluon_onnx.load_block(model)


def test_missing_initializer_of_a_real_model_is_named():
    model = tiny_cnn()
    removed = model.graph.initializer[3].name
    del model.graph.initializer[3]
    with pytest.raises(errors.InvalidModelError, match=f"uses tensor {removed!r}"):
        gluon_onnx.load_block(model)


def test_graph_output_nothing_produces():
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F32, [2])], [_vi("nowhere")])
    with pytest.raises(errors.InvalidModelError, match="'nowhere'"):
        gluon_onnx.load_block(model)


# --- node structure and types ---------------------------------------------------------------------------
@pytest.mark.parametrize("node, opset, match", [
    (helper.make_node("Relu", ["x", "x"], ["y"], name="two"), 17, "'two' has 2 inputs"),
    (helper.make_node("Split", ["x"], ["y", "z", "extra"], name="s", axis=0, num_outputs=2), 18,
     "'s' has 3 outputs but num_outputs=2"),
    (helper.make_node("Sigmoid", ["i"], ["y"], name="sig"), 17, "'sig'.*tensor\\(int64\\)"),
    (helper.make_node("Add", ["x", "i"], ["y"], name="mixed"), 17, "'mixed'.*same type"),
])
def test_malformed_nodes(node, opset, match):
    outputs = [helper.make_empty_tensor_value_info(name) for name in node.output]
    model = _model([node], [_vi("x", F32, [4]), _vi("i", TensorProto.INT64, [4])], outputs, opset=opset)
    with pytest.raises(errors.InvalidModelError, match=match):
        gluon_onnx.load_block(model)


@pytest.mark.parametrize("equation", ["a-b", "ab->a>b", "\xff"])
def test_einsum_equations_that_hang_onnx_inference(equation):
    """onnx's Einsum shape inference loops forever on some equations: refused before it runs
    (in the worker, so that a regression is a timeout, not a stuck test run)."""
    model = _model([helper.make_node("Einsum", ["x"], ["y"], name="e", equation=equation)], [_vi("x", F32, [2, 2])],
                   [helper.make_empty_tensor_value_info("y")])
    try:
        reply = shared_worker().request({"model": model.SerializeToString(), "seed": 0})
    except WorkerFailure as failure:
        pytest.fail(f"the worker {failure.kind}ed: {failure}", pytrace=False)
    assert reply["status"] == "rejected" and reply["exc_type"] == "InvalidModelError", reply
    assert "'e': invalid equation" in reply["message"]


@pytest.mark.parametrize("kind", [onnx.AttributeProto.GRAPH, onnx.AttributeProto.UNDEFINED, onnx.AttributeProto.INTS])
def test_attribute_of_an_impossible_type(kind):
    node = helper.make_node("LeakyRelu", ["x"], ["y"], name="leaky")
    attr = node.attribute.add(name="alpha", type=kind)
    if kind == onnx.AttributeProto.INTS:
        attr.ints.extend([1, 2])
    model = _model([node], [_vi("x", F32, [4])], [_vi("y")])
    with pytest.raises(errors.GluonOnnxError, match="leaky"):
        gluon_onnx.load_block(model)


@pytest.mark.parametrize("version", [0, -1, 10**6])
def test_impossible_opset_versions(version):
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F32, [4])], [_vi("y")], opset=version)
    with pytest.raises(errors.UnsupportedOpsetError):
        gluon_onnx.load_block(model)


@pytest.mark.parametrize("shape, match", [([-2, 3], "negative size other than -1"), ([5, 5], "cannot reshape"),
                                          ([-1, -1], "more than one -1"), ([0, 0, 0, 5], "copies axis")])
def test_reshape_targets_that_do_not_fit(shape, match):
    model = _model([helper.make_node("Reshape", ["x", "s"], ["y"], name="r")], [_vi("x", F32, [2, 3])], [_vi("y")],
                   [numpy_helper.from_array(np.array(shape, np.int64), "s")])
    with pytest.raises(errors.GluonOnnxError, match=match):
        net = gluon_onnx.load_block(model)
        net(mx.nd.ones((2, 3))).asnumpy()


# --- hostile values at run time -------------------------------------------------------------------------
def _index_model(op: str, **attrs) -> tuple[onnx.ModelProto, list[np.ndarray]]:
    data = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    if op == "Gather":
        idx = np.array([[5, -9], [100, 2]], np.int64)
        return _model([helper.make_node(op, ["d", "i"], ["y"], axis=1)],
                      [_vi("d", F32, [2, 3, 4]), _vi("i", TensorProto.INT64, [2, 2])], [_vi("y")]), [data, idx]
    if op == "GatherElements":
        idx = np.full((2, 3, 4), 7, np.int64)
        idx[0, 0, 0] = -100
        return _model([helper.make_node(op, ["d", "i"], ["y"], axis=2)],
                      [_vi("d", F32, [2, 3, 4]), _vi("i", TensorProto.INT64, [2, 3, 4])], [_vi("y")]), [data, idx]
    if op == "GatherND":
        idx = np.array([[5, 9], [-7, 1]], np.int64)
        return _model([helper.make_node(op, ["d", "i"], ["y"])],
                      [_vi("d", F32, [2, 3, 4]), _vi("i", TensorProto.INT64, [2, 2])], [_vi("y")]), [data, idx]
    if op == "ScatterND":
        idx = np.array([[9], [-40]], np.int64)
        upd = np.ones((2, 3, 4), np.float32)
        return _model([helper.make_node(op, ["d", "i", "u"], ["y"])],
                      [_vi("d", F32, [2, 3, 4]), _vi("i", TensorProto.INT64, [2, 1]), _vi("u", F32, [2, 3, 4])],
                      [_vi("y")]), [data, idx, upd]
    if op == "ReverseSequence":
        lens = np.array([100, -3], np.int64)
        return _model([helper.make_node(op, ["d", "l"], ["y"], batch_axis=0, time_axis=1)],
                      [_vi("d", F32, [2, 3, 4]), _vi("l", TensorProto.INT64, [2])], [_vi("y")]), [data, lens]
    if op == "MaxUnpool":
        x = np.ones((1, 1, 2, 2), np.float32)
        idx = np.array([1000, -5, 3, 2**40], np.int64).reshape(1, 1, 2, 2)
        return _model([helper.make_node(op, ["x", "i"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
                      [_vi("x", F32, [1, 1, 2, 2]), _vi("i", TensorProto.INT64, [1, 1, 2, 2])], [_vi("y")]), [x, idx]
    if op == "RoiAlign":
        x = np.ones((1, 1, 5, 5), np.float32)
        rois = np.array([[1, 1, 0.5, 3], [np.nan, 1, 3, 3], [1, 1, 1, 1]], np.float32)
        batch = np.array([7, -1, 0], np.int64)
        node = helper.make_node(op, ["x", "r", "b"], ["y"], coordinate_transformation_mode="half_pixel",
                                output_height=2, output_width=2)
        return _model([node], [_vi("x", F32, [1, 1, 5, 5]), _vi("r", F32, [3, 4]), _vi("b", TensorProto.INT64, [3])],
                      [_vi("y")]), [x, rois, batch]
    if op == "Pad":
        x = np.ones(3, np.float32)
        return _model([helper.make_node(op, ["x", "p"], ["y"], mode="reflect")],
                      [_vi("x", F32, [3]), _vi("p", TensorProto.INT64, [2])], [_vi("y")]), [x, np.array([-3, 2])]
    raise ValueError(op)


@pytest.mark.parametrize("op", ["Gather", "GatherElements", "GatherND", "ScatterND", "ReverseSequence", "MaxUnpool",
                                "RoiAlign", "Pad"])
def test_out_of_range_values_never_crash(op):
    """Indices, lengths and boxes outside the tensor are invalid ONNX; MXNet's kernels read or wrote out of
    bounds, aborted or failed asynchronously on them. Now: a result or a typed error, in both modes."""
    model, inputs = _index_model(op)
    try:
        reply = shared_worker().request({"model": model.SerializeToString(), "inputs": inputs, "hybridize": True})
    except WorkerFailure as failure:
        pytest.fail(f"{op}: the worker {failure.kind}ed: {failure}", pytrace=False)
    assert reply["status"] in ("ok", "rejected"), reply
    if reply["status"] == "rejected":
        assert reply["exc_type"] in ("ConversionError", "InvalidModelError"), reply


# --- backend and command line ---------------------------------------------------------------------------
def test_backend_prepare_and_run():
    with pytest.raises(errors.InvalidModelError):
        backend.prepare(onnx.ModelProto())
    model = _model([helper.make_node("Relu", ["x"], ["y"])], [_vi("x", F32, [2])], [_vi("y", F32, [2])])
    with pytest.raises(ValueError, match="unknown device 'XPU'"):
        backend.prepare(model, device="XPU")
    assert backend.supports_device("XPU") is False and backend.supports_device("CUDA:x") is False
    rep = backend.prepare(model)
    with pytest.raises(TypeError, match="takes 1 input"):
        rep.run([])
    np.testing.assert_array_equal(rep.run([np.array([-1.0, 2.0], np.float32)])[0], [0.0, 2.0])


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gluon_onnx", *args], capture_output=True, text=True, timeout=300,
                          cwd=str(ROOT))


def test_cli_reports_bad_models_in_one_line(tmp_path):
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(tiny_cnn().SerializeToString()[:500])
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["y"], name="bomb")]
    bomb = tmp_path / "bomb.onnx"
    bomb.write_bytes(_model(nodes, [], [_vi("y")], [numpy_helper.from_array(np.array([2**40, 2**40]), "s")])
                     .SerializeToString())
    for args, error in ((("info", str(truncated)), "InvalidModelError"), (("info", str(tmp_path)), "InvalidModelError"),
                        (("check", str(bomb)), "ResourceLimitError")):
        result = _cli(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert f"error: {error}" in result.stderr and "Traceback" not in result.stderr, result.stderr
