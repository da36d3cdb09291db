"""Import holds every weight once: payloads stay in the model file until their parameter is
made, gradient buffers wait until training needs them, rewrites keep new weights as arrays."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet import autograd, gluon
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx import wire
from gluon_onnx.errors import ExternalDataError, InvalidModelError
from gluon_onnx.model import MODEL_FILE_LOCATION, read_model
from gluon_onnx.samples import resnet, tiny_cnn
from gluon_onnx.verify import random_inputs, run_onnxruntime

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cnn() -> onnx.ModelProto:
    return tiny_cnn(seed=5, channels=32)


@pytest.fixture()
def cnn_path(tmp_path, cnn) -> Path:
    path = tmp_path / "cnn.onnx"
    onnx.save(cnn, path)
    return path


def _matmul_model(weight: np.ndarray) -> onnx.ModelProto:
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "mm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", weight.shape[0]])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", weight.shape[1]])],
        [numpy_helper.from_array(weight, "w")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_file_payloads_stay_out_of_the_parsed_model(cnn_path, cnn):
    loaded = read_model(cnn_path)
    stripped = [t for t in loaded.proto.graph.initializer if t.data_location == TensorProto.EXTERNAL]
    big = [t for t in cnn.graph.initializer if len(t.raw_data) >= wire.MIN_FLOAT_PAYLOAD]
    assert big and {t.name for t in stripped} == {t.name for t in big}
    assert all(not t.raw_data for t in stripped)
    assert {e.value for t in stripped for e in t.external_data if e.key == "location"} == {MODEL_FILE_LOCATION}
    # small tensors (shapes, scalars) stay inline for shape inference
    assert all(t.raw_data or t.int64_data or t.float_data for t in loaded.proto.graph.initializer if t not in stripped)
    for tensor in cnn.graph.initializer:
        ours = next(t for t in loaded.proto.graph.initializer if t.name == tensor.name)
        np.testing.assert_array_equal(loaded.tensor_array(ours), numpy_helper.to_array(tensor))


def test_self_contained_model_equals_the_file(cnn_path, cnn):
    full = read_model(cnn_path).self_contained()
    assert full == onnx.load(cnn_path)


def test_block_from_path_matches_onnxruntime_and_keeps_no_weight_bytes(cnn_path, cnn):
    net = gluon_onnx.load_block(cnn_path)
    assert net._onnx_model.proto.ByteSize() < os.path.getsize(cnn_path) / 4
    x = random_inputs(cnn, seed=2, sizes={"N": 3})["input"]
    refs = run_onnxruntime(cnn, {"input": x})
    for mode in ("imperative", "hybridized"):
        if mode == "hybridized":
            net.hybridize(static_alloc=True, static_shape=True)
        outs = net(mx.nd.array(x))
        for ours, ref in zip(outs, refs):
            np.testing.assert_allclose(ours.asnumpy(), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())
    assert net.onnx_model == cnn


@pytest.mark.parametrize("damage", ["truncated", "bad_length", "garbage"])
def test_damaged_files_still_get_the_parse_error(tmp_path, cnn, damage):
    data = bytearray(cnn.SerializeToString())
    if damage == "truncated":
        data = data[: len(data) * 2 // 3]
    elif damage == "bad_length":
        # the graph field's length prefix claims more bytes than the file has
        start = data.index(b"\x3a")  # ModelProto.graph key (field 7, length-delimited)
        data[start + 1:start + 1] = b"\xff\xff\xff\x7f"
    else:
        data = bytearray(b"\x00\x01\x02 not a model " * 100)
    path = tmp_path / "bad.onnx"
    path.write_bytes(bytes(data))
    with pytest.raises(InvalidModelError):
        gluon_onnx.load_block(path)


def test_rewritten_file_is_refused_not_misread(tmp_path):
    weight = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    path = tmp_path / "mm.onnx"
    onnx.save(_matmul_model(weight), path)
    net = gluon_onnx.load_block(path)
    np.testing.assert_array_equal(net.onnx_params["w"].data().asnumpy(), weight)  # copied at import
    onnx.save(_matmul_model(weight[::-1].copy()), path)
    os.utime(path, ns=(1, 1))  # a different modification time, whatever the clock resolution
    with pytest.raises(ExternalDataError, match="changed"):
        net.onnx_model  # noqa: B018 - reading the property reads the weights back


def test_inference_never_allocates_gradient_buffers(cnn_path, cnn):
    net = gluon_onnx.load_block(cnn_path)
    params = list(net.onnx_params.values())
    assert all(p._lazy_grad for p in params if p.grad_req != "null")
    x = mx.nd.array(random_inputs(cnn, seed=0, sizes={"N": 2})["input"])
    net(x)
    net.hybridize()
    net(x)
    assert all(p.__dict__.get("_grad_arrays") is None for p in params)


def _reference_grad(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    # d(sum(x @ w)) / dw = x^T @ ones
    return x.T @ np.ones((x.shape[0], weight.shape[1]), np.float32)


@pytest.mark.parametrize("hybridize", [False, True])
def test_gradients_appear_when_recording(tmp_path, hybridize):
    weight = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    path = tmp_path / "mm.onnx"
    onnx.save(_matmul_model(weight), path)
    net = gluon_onnx.load_block(path)
    if hybridize:
        net.hybridize()
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    net(mx.nd.array(x))  # an inference call first: still no gradient buffers
    with autograd.record():
        loss = net(mx.nd.array(x)).sum()
    loss.backward()
    np.testing.assert_allclose(net.onnx_params["w"].grad().asnumpy(), _reference_grad(x, weight), rtol=1e-5)


def test_gradients_inside_a_hybridized_parent(tmp_path):
    weight = np.random.default_rng(0).standard_normal((16, 8)).astype(np.float32)
    path = tmp_path / "mm.onnx"
    onnx.save(_matmul_model(weight), path)
    parent = gluon.nn.HybridSequential()
    parent.add(gluon_onnx.load_block(path))
    parent.hybridize()
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    parent(mx.nd.array(x))  # the parent's cached graph reads the parameters directly from now on
    with autograd.record():
        loss = parent(mx.nd.array(x)).sum()
    loss.backward()
    grad = parent[0].onnx_params["w"].grad().asnumpy()
    np.testing.assert_allclose(grad, _reference_grad(x, weight), rtol=1e-5)


def test_trainer_steps_an_imported_block(tmp_path):
    weight = np.zeros((16, 8), np.float32)
    path = tmp_path / "mm.onnx"
    onnx.save(_matmul_model(weight), path)
    net = gluon_onnx.load_block(path)
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.5})
    x = np.random.default_rng(1).standard_normal((4, 16)).astype(np.float32)
    with autograd.record():
        loss = net(mx.nd.array(x)).sum()
    loss.backward()
    trainer.step(1)
    np.testing.assert_allclose(net.onnx_params["w"].data().asnumpy(), -0.5 * _reference_grad(x, weight), rtol=1e-5)


def test_optimized_block_exports_a_self_contained_model(tmp_path):
    model = resnet(18, width=8, num_classes=10, image_size=32)
    path = tmp_path / "r18.onnx"
    onnx.save(model, path)
    net = gluon_onnx.load_block(path, optimize=True)
    rewritten = net.onnx_model
    assert not any(t.data_location == TensorProto.EXTERNAL for t in rewritten.graph.initializer)
    assert not any(n.op_type == "BatchNormalization" for n in rewritten.graph.node)
    assert any(t.name.endswith("__bn_folded") for t in rewritten.graph.initializer)
    x = random_inputs(model, seed=0, sizes={"N": 2})["input"]
    ref = run_onnxruntime(model, {"input": x})[0]
    np.testing.assert_allclose(net(mx.nd.array(x)).asnumpy(), ref, rtol=1e-4, atol=1e-5 * np.abs(ref).max())


_PEAK_SCRIPT = textwrap.dedent("""
    import sys
    import gluon_onnx
    from gluon_onnx.importer import registry
    registry._ensure_loaded()

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    with open("/proc/self/clear_refs", "w") as handle:
        handle.write("5")
    base = status("VmRSS")
    net = gluon_onnx.load_block(sys.argv[1], optimize=sys.argv[2] == "1")
    print(status("VmHWM") - base)
""")


@pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"), reason="needs Linux /proc peak-RSS reset")
@pytest.mark.parametrize("optimize", [False, True])
def test_peak_import_memory_is_close_to_the_weights(tmp_path, optimize):
    model = resnet(50, image_size=64)  # full-size weights (100 MB): fixed costs do not hide a copy
    path = tmp_path / "r50.onnx"
    onnx.save(model, path)
    weights = sum(len(t.raw_data) for t in model.graph.initializer)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(path), "1" if optimize else "0"],
                            capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    peak = int(result.stdout.split()[-1])
    assert peak < 1.2 * weights, f"peak extra RSS {peak} bytes for {weights} bytes of weights"
