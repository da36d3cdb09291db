"""ONNX -> load_block -> export_block: the original graph with the block's current weights."""

from __future__ import annotations

import glob
import os

import mxnet as mx
import numpy as np
import onnx
import pytest
from mxnet.gluon import rnn
from mxnet.gluon.model_zoo import vision

import gluon_onnx
from gluon_onnx import export_block, load_block
from gluon_onnx.errors import UnsupportedOperatorError
from gluon_onnx.verify import random_inputs, run_onnxruntime

from .blocks import EncoderBlock
from .util import assert_close, randomize

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT = sorted(glob.glob(os.path.join(LIGHT_DIR, "*.onnx")))


def test_all_nine_light_models_are_found():
    assert len(LIGHT) == 9


@pytest.mark.parametrize("path", LIGHT, ids=[os.path.basename(p)[:-5] for p in LIGHT])
def test_light_model_roundtrip(path, tmp_path):
    original = onnx.load(path)
    net = load_block(path)
    out = tmp_path / "roundtrip.onnx"
    exported = export_block(net, None, out)
    assert [n.op_type for n in exported.graph.node] == [n.op_type for n in original.graph.node]
    assert [n.name for n in exported.graph.node] == [n.name for n in net.onnx_model.graph.node]
    assert exported.opset_import == original.opset_import
    feeds = random_inputs(original, seed=0)
    assert_close(run_onnxruntime(onnx.load(str(out)), feeds), run_onnxruntime(original, feeds), rtol=1e-6)


def _gluon_export(tmp_path, name):
    """A Gluon network exported to ONNX, with sample feeds."""
    rng = np.random.RandomState(0)
    if name == "resnet18_v1":
        net = vision.resnet18_v1()
        args = [mx.nd.array(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))]
        randomize(net, args)
        axes = {"data": {0: "N"}}
    elif name == "mobilenetv2_0.25":
        net = vision.get_model(name)
        args = [mx.nd.array(rng.uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))]
        randomize(net, args)
        axes = {"data": {0: "N"}}
    elif name == "lstm":
        net = rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=5)
        net.initialize(mx.init.Uniform(0.5))
        args = [mx.nd.array(rng.uniform(-1, 1, (6, 2, 5)).astype(np.float32))]
        axes = {"data": {0: "T", 1: "N"}}
    else:
        net = EncoderBlock()
        net.initialize(mx.init.Xavier())
        args = [mx.nd.array(rng.normal(size=(2, 5, 32)).astype(np.float32)), mx.nd.ones((2, 5))]
        axes = {"data0": {0: "N"}, "data1": {0: "N"}}
    path = tmp_path / f"{name}.onnx"
    model = export_block(net, args, path, dynamic_axes=axes)
    feeds = {vi.name: a.asnumpy() for vi, a in zip(model.graph.input, args)}
    return path, model, feeds


@pytest.mark.parametrize("name", ["resnet18_v1", "mobilenetv2_0.25", "lstm", "transformer"])
def test_exported_model_roundtrip(name, tmp_path):
    path, first, feeds = _gluon_export(tmp_path, name)
    try:
        block = load_block(str(path))
    except UnsupportedOperatorError as exc:
        pytest.skip(f"the importer cannot load this export yet: {exc}")
    second = export_block(block, None, tmp_path / "again.onnx")
    assert [n.name for n in second.graph.node] == [n.name for n in first.graph.node]
    assert second.opset_import == first.opset_import
    assert_close(run_onnxruntime(second, feeds), run_onnxruntime(first, feeds), rtol=1e-6)


GLUONCV_ROUNDTRIP = [
    pytest.param("se_resnet18_v1", 32, id="se_resnet18_v1"),
    pytest.param("mobilenetv3_small", 32, id="mobilenetv3_small"),
    pytest.param("simple_pose_resnet18_v1b", 64, id="simple_pose"),
    pytest.param("ssd_512_mobilenet1.0_voc", 128, id="ssd", marks=pytest.mark.slow),
    pytest.param("yolo3_mobilenet1.0_voc", 128, id="yolo3", marks=pytest.mark.slow),
    pytest.param("center_net_resnet18_v1b_voc", 128, id="center_net", marks=pytest.mark.slow),
    pytest.param("faster_rcnn_resnet50_v1b_voc", 128, id="faster_rcnn", marks=pytest.mark.slow),
    pytest.param("psp_resnet50_ade", 64, id="psp", marks=pytest.mark.slow),
]


@pytest.mark.parametrize("name,size", GLUONCV_ROUNDTRIP)
def test_gluoncv_export_roundtrip(name, size, tmp_path):
    pytest.importorskip("gluoncv")
    from gluoncv.model_zoo import get_model  # noqa: PLC0415

    kwargs = {} if name.startswith(("se_", "mobilenet")) else {"pretrained_base": False}
    if name.startswith("psp"):
        kwargs.update(crop_size=size, base_size=size)
    net = get_model(name, pretrained=False, **kwargs)
    if "rcnn" in name:
        net.rpn._test_pre_nms, net.rpn._test_post_nms, net._rpn_test_post_nms = 200, 50, 50
    x = mx.nd.array(np.random.RandomState(0).uniform(0, 1, (1, 3, size, size)).astype(np.float32))
    randomize(net, [x])
    first = export_block(net, x, tmp_path / "first.onnx")
    try:
        block = load_block(str(tmp_path / "first.onnx"))
    except UnsupportedOperatorError as exc:
        pytest.skip(f"the importer cannot load this export yet: {exc}")
    second = export_block(block, None, tmp_path / "second.onnx")
    assert [n.name for n in second.graph.node] == [n.name for n in first.graph.node]
    feeds = {"data": x.asnumpy()}
    assert_close(run_onnxruntime(second, feeds), run_onnxruntime(first, feeds), rtol=1e-6)


def test_fine_tuned_weights_are_exported(tmp_path):
    path, original, feeds = _gluon_export(tmp_path, "resnet18_v1")
    block = load_block(str(path), dynamic_batch=True)
    trainer = mx.gluon.Trainer(block.collect_params(), "sgd", {"learning_rate": 0.5})
    x = mx.nd.array(np.random.RandomState(1).uniform(-1, 1, (4, 3, 32, 32)).astype(np.float32))
    for _ in range(2):
        with mx.autograd.record():
            loss = block(x).square().mean()
        loss.backward()
        trainer.step(4)
    tuned = export_block(block, feeds["data"], tmp_path / "tuned.onnx", check=True)
    expected = block(mx.nd.array(feeds["data"])).asnumpy()
    ours = run_onnxruntime(tuned, feeds)
    assert_close(ours, [expected])
    before = run_onnxruntime(original, feeds)[0]
    assert np.abs(ours[0] - before).max() > 1e-3 * np.abs(before).max()  # the weights did change
    # the graph is the original one, parameters keep their ONNX names
    assert [n.name for n in tuned.graph.node] == [n.name for n in original.graph.node]
    assert {t.name for t in tuned.graph.initializer} == {t.name for t in original.graph.initializer}


def test_cut_graph_exports_the_cut(tmp_path):
    path, original, feeds = _gluon_export(tmp_path, "resnet18_v1")
    inner = original.graph.node[len(original.graph.node) // 2].output[0]
    block = load_block(str(path), outputs=[inner])
    exported = export_block(block, feeds["data"], check=True)
    assert [o.name for o in exported.graph.output] == [inner]
    assert len(exported.graph.node) < len(original.graph.node)
    used = {i for n in exported.graph.node for i in n.input}
    assert {t.name for t in exported.graph.initializer} <= used
    assert_close(run_onnxruntime(exported, feeds), [block(mx.nd.array(feeds["data"])).asnumpy()])


def test_dynamic_axes_and_opset_conversion(tmp_path):
    net = vision.resnet18_v1()
    x = mx.nd.array(np.random.RandomState(0).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32))
    randomize(net, [x])
    first = export_block(net, x, tmp_path / "fixed.onnx", opset=13)
    block = load_block(str(tmp_path / "fixed.onnx"))
    converted = export_block(block, x, tmp_path / "dyn.onnx", opset=17, dynamic_axes={"data": {0: "batch"}},
                             check=True)
    assert converted.opset_import[0].version == 17 and first.opset_import[0].version == 13
    assert converted.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "batch"
    batch = np.random.RandomState(2).uniform(-1, 1, (3, 3, 32, 32)).astype(np.float32)
    assert run_onnxruntime(converted, {"data": batch})[0].shape == (3, 1000)


def test_export_block_is_public():
    assert gluon_onnx.export_block is export_block
