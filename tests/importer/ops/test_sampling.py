"""GridSample, AffineGrid, RoiAlign, MaxRoiPool, losses and NonMaxSuppression against onnxruntime / the reference."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from gluon_onnx import load_block
from tests.importer.ops.nn_helpers import check_dynamic_batch, single_node_model, value_info
from tests.importer.ops.oracle import check_model, make_model

RNG = np.random.RandomState(13)


@pytest.mark.parametrize("mode", ["linear", "nearest", "cubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [0, 1])
def test_grid_sample_2d(mode: str, padding_mode: str, align_corners: int) -> None:
    feeds = {"x": RNG.randn(2, 3, 5, 4).astype("float32"),
             "grid": RNG.uniform(-1.6, 1.6, size=(2, 3, 6, 2)).astype("float32")}
    model = single_node_model("GridSample", feeds, [("y", "float32")], opset=20, mode=mode,
                              padding_mode=padding_mode, align_corners=align_corners)
    # cubic + border: onnxruntime clamps every tap like PyTorch; the ONNX reference (which made the
    # official suite) clamps only the sampling coordinate, and only when it leaves the borders
    expected = ReferenceEvaluator(model).run(None, feeds) if (mode, padding_mode) == ("cubic", "border") else None
    check_model(model, feeds, rtol=1e-4, atol=1e-5, expected=expected)


def test_grid_sample_opset16_bicubic_name() -> None:
    feeds = {"x": RNG.randn(1, 2, 4, 4).astype("float32"),
             "grid": RNG.uniform(-1.2, 1.2, size=(1, 3, 3, 2)).astype("float32")}
    model = single_node_model("GridSample", feeds, [("y", "float32")], opset=16, mode="bicubic",
                              padding_mode="border")
    # the reference implementation knows the opset-20 names only: 'bicubic' is 'cubic' there
    renamed = single_node_model("GridSample", feeds, [("y", "float32")], opset=20, mode="cubic",
                                padding_mode="border")
    check_model(model, feeds, rtol=1e-4, atol=1e-5, expected=ReferenceEvaluator(renamed).run(None, feeds))


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_grid_sample_volumetric_reflection(mode: str) -> None:
    feeds = {"x": RNG.randn(1, 2, 3, 4, 5).astype("float32"),
             "grid": RNG.uniform(-1.5, 1.5, size=(1, 2, 3, 2, 3)).astype("float32")}
    model = single_node_model("GridSample", feeds, [("y", "float32")], opset=22, mode=mode,
                              padding_mode="reflection")
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


def test_grid_sample_dynamic_batch() -> None:
    def make(n: int) -> dict:
        return {"x": RNG.randn(n, 2, 5, 5).astype("float32"),
                "grid": RNG.uniform(-1, 1, size=(n, 4, 4, 2)).astype("float32")}

    model = single_node_model("GridSample", make(1), [("y", "float32")], opset=20, batch_free=True)
    check_dynamic_batch(model, make, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("size, align_corners", [([2, 3, 4, 5], 0), ([2, 3, 4, 5], 1), ([2, 1, 3, 2, 4], 0)])
def test_affine_grid(size: list, align_corners: int) -> None:
    n = len(size) - 2
    theta = RNG.randn(2, n, n + 1).astype("float32")
    node = helper.make_node("AffineGrid", ["theta", "size"], ["grid"], align_corners=align_corners)
    size_t = helper.make_tensor("size", 7, [len(size)], size)
    model = make_model([node], [value_info("theta", theta)], [value_info("grid", "float32", None)], [size_t],
                       opset=20)
    check_model(model, {"theta": theta}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode, ratio, transform", [("avg", 2, "half_pixel"), ("max", 3, "output_half_pixel"),
                                                     ("avg", 0, "half_pixel"), ("avg", 0, "output_half_pixel")])
def test_roi_align(mode: str, ratio: int, transform: str) -> None:
    feeds = {"x": RNG.randn(2, 3, 8, 9).astype("float32"),
             "rois": np.array([[0.5, 1.2, 6.1, 7.3], [2.0, 0.0, 4.0, 3.5], [-1.0, 2.5, 9.5, 9.0]], dtype="float32"),
             "idx": np.array([1, 0, 1], dtype=np.int64)}
    model = single_node_model("RoiAlign", feeds, [("y", "float32")], opset=16, mode=mode, sampling_ratio=ratio,
                              coordinate_transformation_mode=transform, output_height=3, output_width=2,
                              spatial_scale=0.9)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


def test_max_roi_pool() -> None:
    feeds = {"x": RNG.randn(2, 3, 8, 8).astype("float32"),
             "rois": np.array([[0, 1, 1, 6, 5], [1, 0, 2, 7, 7]], dtype="float32")}
    model = single_node_model("MaxRoiPool", feeds, [("y", "float32")], opset=1, pooled_shape=[2, 3],
                              spatial_scale=1.0)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op_type", ["NegativeLogLikelihoodLoss", "SoftmaxCrossEntropyLoss"])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("ignore_index", [None, -1, 2])
def test_losses(op_type: str, reduction: str, ignore_index: int | None) -> None:
    scores = RNG.randn(4, 5, 3).astype("float32")
    labels = RNG.randint(0, 5, size=(4, 3)).astype(np.int64)
    labels[0, 0] = -1 if ignore_index == -1 else labels[0, 0]
    feeds = {"x": scores, "t": labels, "w": RNG.rand(5).astype("float32")}
    attrs = {"reduction": reduction}
    if ignore_index is not None:
        attrs["ignore_index"] = ignore_index
    outputs = [("loss", "float32")] + ([("log_prob", "float32")] if op_type == "SoftmaxCrossEntropyLoss" else [])
    model = single_node_model(op_type, feeds, outputs, opset=13, **attrs)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


def test_loss_dynamic_batch() -> None:
    def make(n: int) -> dict:
        return {"x": RNG.randn(n, 4).astype("float32"), "t": RNG.randint(0, 4, size=(n,)).astype(np.int64)}

    model = single_node_model("SoftmaxCrossEntropyLoss", make(1), [("loss", "float32")], opset=13, batch_free=True)
    check_dynamic_batch(model, make)


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_non_max_suppression(center_point_box: int) -> None:
    boxes = RNG.uniform(0, 10, size=(2, 12, 4)).astype("float32")
    if center_point_box:
        boxes[..., 2:] = RNG.uniform(1, 5, size=(2, 12, 2))
    feeds = {"boxes": boxes, "scores": RNG.rand(2, 3, 12).astype("float32")}
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", "max", "iou", "score"], ["selected"],
                            center_point_box=center_point_box)
    consts = [helper.make_tensor("max", 7, [1], [3]), helper.make_tensor("iou", 1, [1], [0.3]),
              helper.make_tensor("score", 1, [1], [0.2])]
    model = make_model([node], [value_info(n, a) for n, a in feeds.items()], [value_info("selected", "int64", None)],
                       consts, opset=11)
    check_model(model, feeds)


def _nms_model(inputs: list[str], consts: list, **attrs: object) -> object:
    node = helper.make_node("NonMaxSuppression", ["boxes", "scores", *inputs], ["selected"], **attrs)
    boxes = helper.make_tensor_value_info("boxes", 1, ["batch", "boxes", 4])
    scores = helper.make_tensor_value_info("scores", 1, ["batch", "classes", "boxes"])
    return make_model([node], [boxes, scores], [value_info("selected", "int64", None)], consts, opset=11)


def _reference_nms(model: object, feeds: dict) -> np.ndarray:
    return ReferenceEvaluator(model).run(None, feeds)[0]


@pytest.mark.parametrize("center_point_box", [0, 1])
def test_non_max_suppression_one_graph_for_every_count(center_point_box: int) -> None:
    """One hybridized block, never re-traced, for other batch, class and box counts; swapped corners,
    many equal scores (ties keep the lower box index first) and no score threshold."""
    consts = [helper.make_tensor("max", 7, [1], [4]), helper.make_tensor("iou", 1, [1], [0.4])]
    model = _nms_model(["max", "iou"], consts, center_point_box=center_point_box)
    block = load_block(model)
    block.hybridize(static_alloc=True, static_shape=True)
    rng = np.random.RandomState(5)
    for batch, classes, count in [(1, 1, 6), (2, 3, 40), (3, 2, 17)]:
        boxes = rng.uniform(0, 8, size=(batch, count, 4)).astype("float32")
        if center_point_box:
            boxes[..., 2:] = rng.uniform(0.5, 4, size=(batch, count, 2))
        scores = np.round(rng.uniform(-1, 1, size=(batch, classes, count)), 1).astype("float32")  # ties
        feeds = {"boxes": boxes, "scores": scores}
        ours = block(mx.nd.array(boxes), mx.nd.array(scores)).asnumpy()
        np.testing.assert_array_equal(ours, _reference_nms(model, feeds))
    assert not block.is_shape_specialized, block.specialization_reason


@pytest.mark.parametrize("max_boxes", [None, 0])
def test_non_max_suppression_selects_nothing_without_a_box_budget(max_boxes: int | None) -> None:
    consts = [] if max_boxes is None else [helper.make_tensor("max", 7, [1], [max_boxes])]
    model = _nms_model([] if max_boxes is None else ["max"], consts)
    feeds = {"boxes": RNG.uniform(0, 5, size=(1, 5, 4)).astype("float32"),
             "scores": RNG.rand(1, 2, 5).astype("float32")}
    for hybridize in (False, True):
        block = load_block(model)
        if hybridize:
            block.hybridize()
        out = block(mx.nd.array(feeds["boxes"]), mx.nd.array(feeds["scores"]))
        assert out.shape == (0, 3) and out.dtype == np.int64


def test_non_max_suppression_iou_equal_to_the_threshold_keeps_the_box() -> None:
    """ONNX suppresses a box when its IoU with a kept box is above the threshold, not equal to it."""
    consts = [helper.make_tensor("max", 7, [1], [10]), helper.make_tensor("iou", 1, [1], [0.5]),
              helper.make_tensor("score", 1, [1], [0.25])]
    model = _nms_model(["max", "iou", "score"], consts)
    boxes = np.array([[[0, 0, 1, 1], [0, 0, 1, 2], [0, 0, 1, 1.1], [3, 3, 4, 4], [5, 5, 6, 6]]], "float32")
    scores = np.array([[[0.9, 0.8, 0.7, 0.25, 0.3]]], "float32")  # 0.25 is not above the score threshold
    feeds = {"boxes": boxes, "scores": scores}
    expected = _reference_nms(model, feeds)
    assert expected[:, 2].tolist() == [0, 1, 4]
    check_model(model, feeds, expected=[expected])
