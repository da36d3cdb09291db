"""The model writer: streamed raw initializers, external data, atomic replacement, memory."""

from __future__ import annotations

import os
import tracemalloc

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet.gluon import nn

from gluon_onnx import export_block
from gluon_onnx.exporter import graph as graph_module
from gluon_onnx.exporter import max_opset
from gluon_onnx.exporter.graph import Initializer, write_model
from gluon_onnx.verify import run_onnxruntime


def _mlp(units: int = 16, features: int = 8) -> tuple[nn.HybridBlock, mx.nd.NDArray]:
    net = nn.HybridSequential(prefix="mlp_")
    with net.name_scope():
        net.add(nn.Dense(units, activation="relu"), nn.Dense(4))
    net.initialize(mx.init.Xavier())
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, features)).astype(np.float32))
    net(x)
    return net, x


def test_streamed_model_parses_like_a_normal_one(tmp_path):
    import io  # noqa: PLC0415

    model = onnx.helper.make_model(onnx.helper.make_graph([], "g", [], []))
    values = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3), "i64": np.array([3, -1], np.int64),
              "flag": np.array([True, False, True]), "half": np.ones((2, 2), np.float16), "empty": np.zeros((0, 3),
                                                                                                           np.float32),
              "scalar": np.array(2.5, np.float64)}
    inits = [Initializer(k, v.dtype, v.shape, lambda v=v: v) for k, v in values.items()]
    buffer = io.BytesIO()
    write_model(model, inits, buffer)
    parsed = onnx.load_from_string(buffer.getvalue())
    assert [t.name for t in parsed.graph.initializer] == list(values)
    for tensor in parsed.graph.initializer:
        array = onnx.numpy_helper.to_array(tensor)
        np.testing.assert_array_equal(array, values[tensor.name])
        assert array.dtype == values[tensor.name].dtype
        assert not tensor.float_data and not tensor.int64_data and not tensor.int32_data


def test_external_data(tmp_path):
    net, x = _mlp()
    path = tmp_path / "ext.onnx"
    export_block(net, x, path, external_data=True, check=True)
    assert sorted(os.listdir(tmp_path)) == ["ext.onnx", "ext.onnx.data"]
    light = onnx.load(str(path), load_external_data=False)
    assert all(t.data_location == onnx.TensorProto.EXTERNAL for t in light.graph.initializer)
    assert all(dict((e.key, e.value) for e in t.external_data)["location"] == "ext.onnx.data"
               for t in light.graph.initializer)
    ours = run_onnxruntime(onnx.load(str(path)), {"data": x.asnumpy()})
    np.testing.assert_allclose(ours[0], net(x).asnumpy(), rtol=1e-5, atol=1e-6)


def test_large_models_switch_to_external_data(tmp_path, monkeypatch):
    monkeypatch.setattr(graph_module, "EXTERNAL_DATA_THRESHOLD", 100)
    from gluon_onnx.exporter import export as export_module  # noqa: PLC0415

    monkeypatch.setattr(export_module, "EXTERNAL_DATA_THRESHOLD", 100)
    net, x = _mlp()
    export_block(net, x, tmp_path / "big.onnx")
    assert (tmp_path / "big.onnx.data").exists()
    with pytest.raises(Exception, match="external data file"):
        export_block(net, x)  # in memory only: no place for the data


def test_atomic_replace(tmp_path):
    net, x = _mlp()
    path = tmp_path / "m.onnx"
    path.write_bytes(b"old")
    export_block(net, x, path)
    assert onnx.load(str(path)).graph.node
    assert os.listdir(tmp_path) == ["m.onnx"]  # no temporary files remain


def test_names_and_default_opset(tmp_path):
    net, x = _mlp()
    model = export_block(net, x)
    assert model.opset_import[0].version == max_opset()
    assert [n.name for n in model.graph.node] == ["mlp_dense0_fwd", "mlp_dense0_relu_fwd", "mlp_dense1_fwd"]
    assert {t.name for t in model.graph.initializer} == {"mlp_dense0_weight", "mlp_dense0_bias",
                                                          "mlp_dense1_weight", "mlp_dense1_bias"}
    assert model.graph.output[0].name == "mlp_dense1_fwd"


def test_export_holds_one_tensor_copy_at_a_time(tmp_path):
    """Python-side peak while exporting stays near the largest tensor, not the model size."""
    net = nn.HybridSequential()
    with net.name_scope():
        for _ in range(4):
            net.add(nn.Dense(1024, in_units=1024))
    net.initialize()
    x = mx.nd.ones((1, 1024))
    net(x)
    tensor_bytes = 1024 * 1024 * 4
    peaks = {}
    for where in ("file", "memory"):
        tracemalloc.start()
        try:
            model = export_block(net, x, tmp_path / "m.onnx" if where == "file" else None)
            _, peaks[where] = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert len(model.graph.initializer) == 8
    assert peaks["file"] < 1.5 * tensor_bytes  # streamed to disk, parsed back from a memory map
    assert peaks["memory"] < 4 * tensor_bytes + 2 * tensor_bytes  # the serialized model itself, plus slack


class _Duplicates(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        y = x * 2
        return y, y, x


def test_repeated_and_passthrough_outputs():
    x = mx.nd.array([[1.0, -2.0, 3.0]])
    model = export_block(_Duplicates(), x, output_names=["a", "b", "c"], check=True)
    assert [o.name for o in model.graph.output] == ["a", "b", "c"]
    assert [n.op_type for n in model.graph.node] == ["Mul", "Identity", "Identity"]
    a, b, c = run_onnxruntime(model, {"data": x.asnumpy()})
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(c, x.asnumpy())
