"""Every model of mxnet.gluon.model_zoo.vision exports, passes onnx.checker and matches MXNet
under onnxruntime (random weights, non-trivial BatchNorm statistics, dynamic batch)."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet.gluon.model_zoo import vision

from gluon_onnx import export_block
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close, mxnet_outputs, randomize

#: smallest input each architecture accepts (fixed final pooling windows need more)
SIZES = {"alexnet": 64, "inceptionv3": 299, "squeezenet1.0": 224, "squeezenet1.1": 224,
         "densenet121": 224, "densenet161": 224, "densenet169": 224, "densenet201": 224}
MODELS = [
    "resnet18_v1", "resnet34_v1", "resnet50_v1", "resnet101_v1", "resnet152_v1",
    "resnet18_v2", "resnet34_v2", "resnet50_v2", "resnet101_v2", "resnet152_v2",
    "vgg11", "vgg13", "vgg16", "vgg19", "vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn",
    "alexnet", "densenet121", "densenet161", "densenet169", "densenet201",
    "squeezenet1.0", "squeezenet1.1", "inceptionv3",
    "mobilenet1.0", "mobilenet0.75", "mobilenet0.5", "mobilenet0.25",
    "mobilenetv2_1.0", "mobilenetv2_0.75", "mobilenetv2_0.5", "mobilenetv2_0.25",
]


def test_the_list_is_the_whole_zoo():
    import inspect  # noqa: PLC0415

    source = inspect.getsource(vision.get_model)
    names = {line.split("'")[1] for line in source.splitlines() if "':" in line}
    assert names == set(MODELS)


@pytest.mark.parametrize("name", MODELS)
def test_vision_model(name, tmp_path):
    size = SIZES.get(name, 32)
    net = vision.get_model(name)
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (1, 3, size, size)).astype(np.float32))
    randomize(net, [x])
    path = tmp_path / "model.onnx"
    model = export_block(net, x, path, input_names=["data"], output_names=["prob"],
                         dynamic_axes={"data": {0: "N"}}, check=True)
    assert path.exists()
    assert [d.dim_param or d.dim_value for d in model.graph.output[0].type.tensor_type.shape.dim] == ["N", 1000]
    if name in ("resnet18_v1", "mobilenetv2_0.25", "squeezenet1.1"):
        batch = mx.nd.array(np.random.RandomState(1).uniform(-1, 1, (3, 3, size, size)).astype(np.float32))
        assert_close(run_onnxruntime(model, {"data": batch.asnumpy()}), mxnet_outputs(net, [batch]))


def test_structure_names_and_raw_initializers(tmp_path):
    net = vision.resnet18_v1()
    x = mx.nd.zeros((1, 3, 32, 32))
    randomize(net, [x])
    model = export_block(net, x, tmp_path / "r18.onnx", opset=17)
    graph = model.graph
    prefix = net.prefix  # resnetv10_ unless other networks were built before
    inits = {t.name for t in graph.initializer}
    assert [i.name for i in graph.input] == ["data"]  # weights are not graph inputs
    assert f"{prefix}conv0_weight" in inits and f"{prefix}batchnorm0_running_var" in inits
    assert graph.node[0].name == f"{prefix}conv0_fwd" and graph.node[0].op_type == "Conv"
    assert all(t.HasField("raw_data") and not t.float_data for t in graph.initializer if t.data_type == 1)
    assert model.opset_import[0].version == 17
    weight = next(t for t in graph.initializer if t.name == f"{prefix}conv0_weight")
    expected = net.collect_params()[f"{prefix}conv0_weight"].data().asnumpy()
    np.testing.assert_array_equal(onnx.numpy_helper.to_array(weight), expected)
    onnx.checker.check_model(model, full_check=True)
