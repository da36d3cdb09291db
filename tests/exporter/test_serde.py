"""gluon_onnx.serde: symbol-level import (for Module users) and export."""

from __future__ import annotations

import mxnet as mx
import numpy as np
from mxnet.gluon.model_zoo import vision

from gluon_onnx import export_block, serde
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close, randomize


def _resnet(tmp_path):
    net = vision.resnet18_v1()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32))
    randomize(net, [x])
    path = tmp_path / "r18.onnx"
    export_block(net, x, path, dynamic_axes={"data": {0: "N"}})
    return net, x, path


def test_import_model_runs_in_a_module(tmp_path):
    net, x, path = _resnet(tmp_path)
    sym, arg_params, aux_params = serde.import_model(str(path))
    assert sym.list_arguments()[0] == "data"
    assert aux_params or arg_params
    assert set(arg_params) | set(aux_params) == (set(sym.list_arguments()) - {"data"}) | set(
        sym.list_auxiliary_states())
    module = mx.mod.Module(sym, data_names=["data"], label_names=None)
    module.bind(data_shapes=[("data", x.shape)], for_training=False)
    module.set_params(arg_params, aux_params)
    module.forward(mx.io.DataBatch([x]), is_train=False)
    assert_close([module.get_outputs()[0].asnumpy()], [net(x).asnumpy()])


def test_export_model_from_symbol_and_params(tmp_path):
    net, x, _ = _resnet(tmp_path)
    net.hybridize()
    net(x)
    net.export(str(tmp_path / "ckpt"), epoch=3)
    model = serde.export_model(str(tmp_path / "ckpt-symbol.json"), str(tmp_path / "ckpt-0003.params"),
                               [x.shape], np.float32, str(tmp_path / "from_ckpt.onnx"), opset=17, check=True,
                               dynamic_axes={"data": {0: "N"}})
    assert model.opset_import[0].version == 17
    assert [i.name for i in model.graph.input] == ["data"]
    assert_close(run_onnxruntime(model, {"data": x.asnumpy()}), [net(x).asnumpy()])


def test_import_then_export_roundtrip(tmp_path):
    net, x, path = _resnet(tmp_path)
    sym, arg_params, aux_params = serde.import_model(str(path))
    model = serde.export_model(sym, {**arg_params, **aux_params}, [x.shape], np.float32, None, check=True)
    assert_close(run_onnxruntime(model, {"data": x.asnumpy()}), [net(x).asnumpy()])
