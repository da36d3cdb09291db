"""GluonCV networks: classification, detection (compared as sets after NMS), segmentation, pose."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from gluon_onnx import export_block
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close, assert_same_detections, mxnet_outputs, randomize

gluoncv = pytest.importorskip("gluoncv")
from gluoncv.model_zoo import get_model  # noqa: E402

CLASSIFICATION = [
    ("resnet18_v1b", 32), ("resnet50_v1c", 32), ("resnet50_v1d", 32), ("resnext50_32x4d", 32),
    ("se_resnet18_v1", 32), ("se_resnet18_v2", 32), ("mobilenetv3_small", 32), ("mobilenetv3_large", 32),
    ("darknet53", 32), ("resnest14", 64),
]


def _image(batch: int, height: int, width: int | None = None, seed: int = 0) -> mx.nd.NDArray:
    rng = np.random.RandomState(seed)
    return mx.nd.array(rng.uniform(0, 1, (batch, 3, height, width or height)).astype(np.float32))


@pytest.mark.parametrize("name,size", CLASSIFICATION)
def test_classification(name, size, tmp_path):
    net = get_model(name, pretrained=False)
    x = _image(1, size)
    randomize(net, [x])
    model = export_block(net, x, tmp_path / "m.onnx", dynamic_axes={"data": {0: "N"}}, check=True)
    batch = _image(2, size, seed=1)
    assert_close(run_onnxruntime(model, {"data": batch.asnumpy()}), mxnet_outputs(net, [batch]))


def _detector(name: str) -> mx.gluon.HybridBlock:
    net = get_model(name, pretrained=False, pretrained_base=False)
    if "rcnn" in name:
        # fewer proposals keep the test fast; the graph is the same
        net.rpn._test_pre_nms = 200
        net.rpn._test_post_nms = 50
        net._rpn_test_post_nms = 50
    return net


DETECTION = [
    ("ssd_512_mobilenet1.0_voc", 128, True),
    ("yolo3_mobilenet1.0_voc", 128, True),
    ("center_net_resnet18_v1b_voc", 128, True),
    ("faster_rcnn_resnet50_v1b_voc", 128, False),  # its graph is built for batch 1
]


@pytest.mark.slow
@pytest.mark.parametrize("name,size,dynamic", DETECTION)
def test_detection(name, size, dynamic, tmp_path):
    net = _detector(name)
    x = _image(1, size)
    randomize(net, [x])
    axes = {"data": {0: "N"}} if dynamic else None
    model = export_block(net, x, tmp_path / "det.onnx", dynamic_axes=axes)
    ops = {n.op_type for n in model.graph.node}
    assert "NonMaxSuppression" in ops or name.startswith("center_net")
    ours = run_onnxruntime(model, {"data": x.asnumpy()})
    assert_same_detections(ours, mxnet_outputs(net, [x]), min_count=10)
    if dynamic:
        batch = _image(2, size, seed=3)
        assert_same_detections(run_onnxruntime(model, {"data": batch.asnumpy()}), mxnet_outputs(net, [batch]),
                               min_count=10)


def test_class_aware_nms_uses_the_class_dimension():
    """A class-aware box_nms keeps overlapping boxes of different classes (mx2onnx did not)."""
    from gluon_onnx.exporter import export_symbol  # noqa: PLC0415

    data = mx.sym.var("data")
    sym = mx.sym.contrib.box_nms(data, overlap_thresh=0.5, valid_thresh=0.01, topk=-1, coord_start=2,
                                 score_index=1, id_index=0, force_suppress=False)
    boxes = np.array([[[0, 0.9, 0, 0, 10, 10], [1, 0.8, 0, 0, 10, 10], [0, 0.7, 1, 1, 10, 10],
                       [2, 0.6, 50, 50, 60, 60]]], np.float32)
    model = export_symbol(sym, {}, {"data": boxes.shape}, opset=17)
    out = run_onnxruntime(model, {"data": boxes})[0]
    ref = mx.nd.contrib.box_nms(mx.nd.array(boxes), overlap_thresh=0.5, valid_thresh=0.01, topk=-1, coord_start=2,
                                score_index=1, id_index=0, force_suppress=False).asnumpy()
    np.testing.assert_array_equal(out, ref)
    assert sorted(out[0, :, 0].tolist()) == [-1, 0, 1, 2]  # class 1 survives next to class 0


SEGMENTATION = ["fcn_resnet50_voc", "psp_resnet50_ade", "deeplab_resnet50_ade"]


@pytest.mark.slow
@pytest.mark.parametrize("name", SEGMENTATION)
def test_segmentation(name, tmp_path):
    net = get_model(name, pretrained=False, pretrained_base=False, crop_size=64, base_size=64)
    x = _image(1, 64)
    randomize(net, [x])
    model = export_block(net, x, tmp_path / "seg.onnx", dynamic_axes={"data": {0: "N"}}, check=True)
    if name.startswith("psp"):
        # adaptive pooling to 3x3 and 6x6 bins over an 8x8 map (sizes that do not divide)
        assert any(n.op_type == "MatMul" for n in model.graph.node)
    batch = _image(2, 64, seed=1)
    assert_close(run_onnxruntime(model, {"data": batch.asnumpy()}), mxnet_outputs(net, [batch]))


def test_simple_pose(tmp_path):
    net = get_model("simple_pose_resnet18_v1b", pretrained=False, pretrained_base=False)
    x = _image(1, 64, 48)
    randomize(net, [x])
    model = export_block(net, x, tmp_path / "pose.onnx", dynamic_axes={"data": {0: "N"}}, check=True)
    assert any(n.op_type == "ConvTranspose" for n in model.graph.node)
