"""Small graphs reproducing node patterns of real exporters that the model corpus
(tests/corpus) found broken, checked against onnxruntime in both modes."""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

from tests.importer.ops.oracle import check_model, make_model

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64


def _const(name: str, value: object, dtype: type = np.int64) -> object:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, dtype=dtype)))


def test_torch_pad_reverses_its_pads_with_a_negative_step_slice():
    """torch.onnx's F.pad: [pads] + zeros -> Reshape(-1, 2) -> Slice(step -1) -> Transpose -> flat.

    The reversed pads are computed at import time from shapes; a negative-step Slice over
    constants must keep ONNX's clamping (end below -dim means "before the first element")."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        _const("two", [2]),
        helper.make_node("Gather", ["shape", "two"], ["width"], axis=0),
        _const("eight", [8]),
        helper.make_node("Mod", ["width", "eight"], ["rest"]),
        helper.make_node("Sub", ["eight", "rest"], ["pad_w"]),
        _const("zero", [0]),
        helper.make_node("Concat", ["zero", "zero", "zero", "pad_w"], ["given"], axis=0),
        _const("four", [4]),
        helper.make_node("ConstantOfShape", ["four"], ["fill"], value=numpy_helper.from_array(np.zeros(1, np.int64))),
        helper.make_node("Concat", ["given", "fill"], ["all"], axis=0),
        _const("pairs_shape", [-1, 2]),
        helper.make_node("Reshape", ["all", "pairs_shape"], ["pairs"]),
        _const("start", [-1]),
        _const("end", [-9223372036854775807]),
        _const("axis", [0]),
        _const("step", [-1]),
        helper.make_node("Slice", ["pairs", "start", "end", "axis", "step"], ["reversed"]),
        helper.make_node("Transpose", ["reversed"], ["columns"], perm=[1, 0]),
        _const("flat", [-1]),
        helper.make_node("Reshape", ["columns", "flat"], ["pads"]),
        helper.make_node("Pad", ["x", "pads"], ["y"], mode="constant"),
    ]
    model = make_model(nodes, [helper.make_tensor_value_info("x", F32, ["N", 3, "W", 2])],
                       [helper.make_tensor_value_info("y", F32, None)], opset=17)
    rng = np.random.default_rng(0)
    for width in (5, 8, 11):
        check_model(model, {"x": rng.standard_normal((2, 3, width, 2)).astype(np.float32)})


def test_expand_a_scalar_to_a_computed_shape():
    """torch.zeros_like(ids) in the dynamo exporter: Expand(scalar initializer, Shape(ids))."""
    nodes = [
        helper.make_node("Shape", ["ids"], ["shape"]),
        helper.make_node("Expand", ["zero", "shape"], ["zeros"]),
        helper.make_node("Add", ["ids", "zeros"], ["y"]),
    ]
    zero = numpy_helper.from_array(np.array(0, dtype=np.int64), "zero")
    model = make_model(nodes, [helper.make_tensor_value_info("ids", I64, ["batch", "seq"])],
                       [helper.make_tensor_value_info("y", I64, ["batch", "seq"])], [zero], opset=20)
    for shape in ((1, 7), (3, 12)):
        check_model(model, {"ids": np.arange(np.prod(shape), dtype=np.int64).reshape(shape)})


def test_reshape_an_empty_tensor_with_an_inferred_dim():
    """RoI merging in torchvision: Reshape(empty selection, [-1, 1, 1, 1]) -> (0, 1, 1, 1)."""
    nodes = [
        helper.make_node("Greater", ["x", "threshold"], ["keep"]),
        helper.make_node("NonZero", ["keep"], ["where"]),
        _const("target", [-1, 1, 1, 1]),
        helper.make_node("Reshape", ["where", "target"], ["y"]),
    ]
    threshold = numpy_helper.from_array(np.array(10.0, dtype=np.float32), "threshold")
    model = make_model(nodes, [helper.make_tensor_value_info("x", F32, [6])],
                       [helper.make_tensor_value_info("y", I64, None)], [threshold], opset=17)
    check_model(model, {"x": np.linspace(0, 1, 6, dtype=np.float32)}, modes=("imperative",))


def test_roi_align_and_scatter_elements_without_any_region():
    """An FPN level that receives no RoI: RoiAlign over zero boxes, then ScatterElements of nothing."""
    nodes = [
        helper.make_node("RoiAlign", ["features", "rois", "batch_indices"], ["pooled"], output_height=2,
                         output_width=2, sampling_ratio=2, spatial_scale=0.5, mode="avg"),
        helper.make_node("ScatterElements", ["base", "indices", "updates"], ["merged"], axis=0),
    ]
    model = make_model(nodes, [
        helper.make_tensor_value_info("features", F32, [1, 3, 8, 8]),
        helper.make_tensor_value_info("rois", F32, ["R", 4]),
        helper.make_tensor_value_info("batch_indices", I64, ["R"]),
        helper.make_tensor_value_info("base", F32, [4, 3]),
        helper.make_tensor_value_info("indices", I64, ["K", 3]),
        helper.make_tensor_value_info("updates", F32, ["K", 3]),
    ], [helper.make_tensor_value_info("pooled", F32, None), helper.make_tensor_value_info("merged", F32, None)],
        opset=17)
    rng = np.random.default_rng(0)
    feeds = {
        "features": rng.standard_normal((1, 3, 8, 8)).astype(np.float32),
        "rois": np.zeros((0, 4), np.float32),
        "batch_indices": np.zeros(0, np.int64),
        "base": rng.standard_normal((4, 3)).astype(np.float32),
        "indices": np.zeros((0, 3), np.int64),
        "updates": np.zeros((0, 3), np.float32),
    }
    # imperative only: a cached (hybridized) MXNet graph cannot hold zero-size intermediate values of
    # rank <= 2; in exported detectors the empty selections come from NonZero, which never hybridizes
    check_model(model, feeds, modes=("imperative",))
    feeds.update(rois=np.array([[1, 1, 9, 12], [0, 2, 6, 5]], np.float32), batch_indices=np.zeros(2, np.int64),
                 indices=np.array([[3, 0, 1]], np.int64), updates=np.ones((1, 3), np.float32))
    check_model(model, feeds)
