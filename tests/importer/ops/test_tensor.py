"""Tensor manipulation and resizing converters beyond the official node tests: graphs that compute
shapes at run time on a dynamic batch (hybridized once, called with several batch sizes), older
and newer opset variants, and dtypes the suite does not cover. References: onnxruntime, or the
onnx reference implementation where onnxruntime lacks the operator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from tests.importer.ops.oracle import check_model, make_model, reference_outputs

F32 = TensorProto.FLOAT
I64 = TensorProto.INT64
RNG = np.random.default_rng(7)


def _vi(name: str, elem: int, shape: Sequence[object] | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, None if shape is None else list(shape))


def _const(name: str, values: object, dtype: object = np.int64) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def _rand(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def check_batches(model: onnx.ModelProto, feeds_list: Sequence[Mapping[str, np.ndarray]], *,
                  specialized: bool = False, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """One block per mode, called with every feed in turn; compared with the reference each time."""
    for backend in (GluonOnnxBackend, HybridizedBackend):
        rep = backend.prepare(model, "CPU")
        for feeds in feeds_list:
            refs = reference_outputs(model, feeds)
            outs = rep.run([feeds[name] for name in rep.block.input_names])
            assert len(outs) == len(refs)
            for ours, ref in zip(outs, refs):
                assert ours.shape == ref.shape, f"{backend.__name__}: {ours.shape} != {ref.shape}"
                assert ours.dtype == ref.dtype
                np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=backend.__name__)
        if backend is HybridizedBackend:
            assert rep.block.is_shape_specialized is specialized


# --- shapes computed in the graph, dynamic batch -----------------------------------------------


def test_shape_gather_concat_reshape_dynamic_batch() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "tail"], ["target"], axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"]),
    ]
    inits = [_const("zero", 0), _const("axes0", [0]), _const("tail", [4, -1])]
    model = make_model(nodes, [_vi("x", F32, ["N", 8, 3])], [_vi("y", F32, ["N", 4, 6])], inits, opset=17)
    check_batches(model, [{"x": _rand(1, 8, 3)}, {"x": _rand(4, 8, 3)}])


def test_expand_to_shape_of_other_tensor() -> None:
    nodes = [
        helper.make_node("Shape", ["like"], ["target"]),
        helper.make_node("Expand", ["x", "target"], ["y"]),
    ]
    inputs = [_vi("x", F32, [1, 5]), _vi("like", F32, ["N", 3, 5])]
    model = make_model(nodes, inputs, [_vi("y", F32, ["N", 3, 5])], opset=13)
    feeds = [{"x": _rand(1, 5), "like": _rand(b, 3, 5)} for b in (1, 4)]
    check_batches(model, feeds)


def test_constant_of_shape_of_input() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("ConstantOfShape", ["shape"], ["ones"], value=numpy_helper.from_array(
            np.array([1.5], np.float32))),
        helper.make_node("Add", ["x", "ones"], ["y"]),
    ]
    model = make_model(nodes, [_vi("x", F32, ["N", 2, 3])], [_vi("y", F32, ["N", 2, 3])], opset=17)
    check_batches(model, [{"x": _rand(1, 2, 3)}, {"x": _rand(4, 2, 3)}])


def test_slice_with_ends_from_shape() -> None:
    # x[:, 1:seq-1] and a positional table cut to the sequence length of x
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "one", "two"], ["seq"]),
        helper.make_node("Sub", ["seq", "one"], ["end"]),
        helper.make_node("Slice", ["x", "one", "end", "one"], ["inner"]),
        helper.make_node("Slice", ["table", "zero", "seq", "zero"], ["positions"]),
        helper.make_node("Add", ["x", "positions"], ["with_positions"]),
    ]
    inits = [_const("zero", [0]), _const("one", [1]), _const("two", [2]),
             numpy_helper.from_array(_rand(16, 4), "table")]
    outputs = [_vi("inner", F32, ["N", None, 4]), _vi("with_positions", F32, ["N", "S", 4])]
    model = make_model(nodes, [_vi("x", F32, ["N", "S", 4])], outputs, inits, opset=13)
    feeds = [{"x": _rand(1, 5, 4)}, {"x": _rand(4, 9, 4)}]
    check_batches(model, feeds)


def test_slice_negative_steps_on_symbolic_axis() -> None:
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])]
    inits = [_const("starts", [-1, 2**62]), _const("ends", [-2**62, 0]), _const("axes", [0, 1]),
             _const("steps", [-1, -2])]
    model = make_model(nodes, [_vi("x", F32, ["N", 5])], [_vi("y", F32, ["N", 2])], inits, opset=13)
    check_batches(model, [{"x": _rand(3, 5)}, {"x": _rand(6, 5)}])


def test_range_over_sequence_length_is_not_specialized() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], start=1, end=2),
        helper.make_node("Squeeze", ["shape"], ["seq"]),
        helper.make_node("Range", ["zero", "seq", "one"], ["positions"]),
        helper.make_node("Gather", ["table", "positions"], ["embedded"], axis=0),
        helper.make_node("Add", ["x", "embedded"], ["y"]),
    ]
    inits = [_const("zero", 0), _const("one", 1), numpy_helper.from_array(_rand(32, 3), "table")]
    model = make_model(nodes, [_vi("x", F32, ["N", "S", 3])], [_vi("y", F32, ["N", "S", 3])], inits, opset=17)
    check_batches(model, [{"x": _rand(1, 5, 3)}, {"x": _rand(4, 11, 3)}])


def test_flatten_and_split_on_dynamic_batch() -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["flat"], axis=1),
        helper.make_node("Split", ["x"], ["a", "b"], axis=0),
    ]
    outputs = [_vi("flat", F32, ["N", 12]), _vi("a", F32, None), _vi("b", F32, None)]
    model = make_model(nodes, [_vi("x", F32, ["N", 3, 4])], outputs, opset=13)
    check_batches(model, [{"x": _rand(2, 3, 4)}, {"x": _rand(6, 3, 4)}])


def test_center_crop_pad_and_depth_to_space_on_dynamic_batch() -> None:
    nodes = [
        helper.make_node("CenterCropPad", ["x", "size"], ["cropped"], axes=[2, 3]),
        helper.make_node("DepthToSpace", ["cropped"], ["y"], blocksize=2, mode="CRD"),
    ]
    model = make_model(nodes, [_vi("x", F32, ["N", 8, 5, 8])], [_vi("y", F32, ["N", 2, 12, 12])],
                       [_const("size", [6, 6])], opset=18)
    check_batches(model, [{"x": _rand(1, 8, 5, 8)}, {"x": _rand(4, 8, 5, 8)}])


def test_trilu_with_symbolic_matrix_sizes() -> None:
    nodes = [helper.make_node("Trilu", ["x", "k"], ["y"], upper=0)]
    model = make_model(nodes, [_vi("x", F32, ["N", "R", "C"])], [_vi("y", F32, ["N", "R", "C"])],
                       [_const("k", 1)], opset=14)
    check_batches(model, [{"x": _rand(1, 3, 5)}, {"x": _rand(2, 6, 4)}])


@pytest.mark.parametrize("mode", ["nearest", "linear", "cubic"])
def test_resize_dynamic_batch_with_scales(mode: str) -> None:
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)]
    scales = numpy_helper.from_array(np.array([1.0, 1.0, 2.0, 1.5], np.float32), "scales")
    model = make_model(nodes, [_vi("x", F32, ["N", 2, 4, 6])], [_vi("y", F32, ["N", 2, 8, 9])], [scales],
                       opset=13)
    check_batches(model, [{"x": _rand(1, 2, 4, 6)}, {"x": _rand(4, 2, 4, 6)}], rtol=1e-4, atol=1e-5)


def test_resize_sizes_from_shape_keeps_batch_symbolic() -> None:
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], end=2),
        helper.make_node("Concat", ["shape", "hw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear",
                         coordinate_transformation_mode="align_corners"),
    ]
    model = make_model(nodes, [_vi("x", F32, ["N", 3, 5, 5])], [_vi("y", F32, ["N", 3, 7, 3])],
                       [_const("hw", [7, 3])], opset=18)
    check_batches(model, [{"x": _rand(1, 3, 5, 5)}, {"x": _rand(3, 3, 5, 5)}], rtol=1e-4, atol=1e-5)


_SYMBOLIC_RESIZE_CASES = [
    ("nearest", "asymmetric", "floor"),
    ("nearest", "half_pixel", "round_prefer_floor"),
    ("nearest", "align_corners", "round_prefer_ceil"),
    ("linear", "half_pixel", "round_prefer_floor"),
    ("linear", "pytorch_half_pixel", "round_prefer_floor"),
    ("linear", "align_corners", "round_prefer_floor"),
    ("linear", "half_pixel_symmetric", "round_prefer_floor"),
    ("cubic", "half_pixel", "round_prefer_floor"),
    ("cubic", "asymmetric", "round_prefer_floor"),
]


@pytest.mark.parametrize(("mode", "ctm", "nearest_mode"), _SYMBOLIC_RESIZE_CASES)
def test_resize_to_the_size_of_another_tensor_serves_every_image_size(mode: str, ctm: str,
                                                                     nearest_mode: str) -> None:
    """Segmentation heads resize to the input's size (sizes = Shape(image)[2:]): with the image size
    free, the hybridized graph computes positions and weights from the run-time sizes."""
    nodes = [
        helper.make_node("Shape", ["x"], ["lead"], end=2),
        helper.make_node("Shape", ["like"], ["hw"], start=2),
        helper.make_node("Concat", ["lead", "hw"], ["sizes"], axis=0),
        helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode=mode, coordinate_transformation_mode=ctm,
                         nearest_mode=nearest_mode),
    ]
    inputs = [_vi("x", F32, ["N", 2, "h", "w"]), _vi("like", F32, ["N", 1, "H", "W"])]
    model = make_model(nodes, inputs, [_vi("y", F32, None)], opset=18)
    feeds = [{"x": _rand(1, 2, 3, 4), "like": _rand(1, 1, 7, 5)},
             {"x": _rand(2, 2, 5, 5), "like": _rand(2, 1, 5, 12)},
             {"x": _rand(1, 2, 6, 8), "like": _rand(1, 1, 3, 4)}]
    check_batches(model, feeds, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_resize_by_scales_of_a_free_image_size(mode: str) -> None:
    """YOLO's upsampling: Resize(scales=[1, 1, 2, 2]) of a tensor whose height and width are free."""
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode=mode)]
    scales = numpy_helper.from_array(np.array([1.0, 1.0, 2.0, 0.5], np.float32), "scales")
    model = make_model(nodes, [_vi("x", F32, ["N", 2, "H", "W"])], [_vi("y", F32, None)], [scales], opset=13)
    check_batches(model, [{"x": _rand(1, 2, 3, 4)}, {"x": _rand(2, 2, 5, 7)}], rtol=1e-4, atol=1e-5)


def test_reshape_minus_one_among_several_symbolic_sizes() -> None:
    """Attention heads: (N*heads, 1, S) -> (N, heads, -1, S); the -1 is 1 whatever N and S are."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
        helper.make_node("Mul", ["batch", "heads"], ["rows"]),
        helper.make_node("Unsqueeze", ["rows", "axes0"], ["rows1"]),
        helper.make_node("Unsqueeze", ["seq", "axes0"], ["seq1"]),
        helper.make_node("Concat", ["rows1", "unit", "seq1"], ["flat_shape"], axis=0),
        helper.make_node("Expand", ["x3", "expand_to"], ["wide"]),
        helper.make_node("Reshape", ["wide", "flat_shape"], ["flat"]),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "heads1", "minus_one", "seq1"], ["split_shape"], axis=0),
        helper.make_node("Reshape", ["flat", "split_shape"], ["y"]),
        helper.make_node("Unsqueeze", ["x", "axes12"], ["x3"]),
        helper.make_node("Concat", ["batch1", "heads1", "unit", "seq1"], ["expand_to"], axis=0),
    ]
    inits = [_const("zero", 0), _const("one", 1), _const("heads", 4), _const("axes0", [0]), _const("unit", [1]),
             _const("heads1", [4]), _const("minus_one", [-1]), _const("axes12", [1, 2])]
    nodes = nodes[-2:] + nodes[:-2]  # topological order: x3 and expand_to first
    model = make_model(nodes, [_vi("x", F32, ["N", "S"])], [_vi("y", F32, None)], inits, opset=13)
    check_batches(model, [{"x": _rand(1, 5)}, {"x": _rand(3, 9)}])


def test_sizes_named_by_expressions_of_the_input_sizes() -> None:
    """torch.export names intermediate sizes after expressions of the input sizes ('4*batch')."""
    nodes = [
        helper.make_node("Reshape", ["x", "flat"], ["rows"]),
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes0"], ["batch1"]),
        helper.make_node("Concat", ["batch1", "four", "minus_one", "seq1"], ["target"], axis=0),
        helper.make_node("Gather", ["shape", "one"], ["seq"], axis=0),
        helper.make_node("Unsqueeze", ["seq", "axes0"], ["seq1"]),
        helper.make_node("Reshape", ["rows", "target"], ["y"]),
    ]
    nodes = nodes[:4] + nodes[5:7] + [nodes[4], nodes[7]]
    inits = [_const("flat", [-1, 1, 1]), _const("zero", 0), _const("one", 1), _const("axes0", [0]),
             _const("four", [4]), _const("minus_one", [-1])]
    model = make_model(nodes, [_vi("x", F32, ["batch", "seq", 4])], [_vi("y", F32, None)], inits, opset=14)
    # what the dynamo exporter writes for the flattened rows
    model.graph.value_info.append(_vi("rows", F32, ["batch*seq*4", 1, 1]))
    check_batches(model, [{"x": _rand(1, 3, 4)}, {"x": _rand(2, 5, 4)}])


# --- opset variants -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["nearest", "linear"])
@pytest.mark.parametrize("scales", [[1.0, 1.0, 2.0, 3.0], [1.0, 1.0, 0.5, 0.6]])
def test_resize_opset10(mode: str, scales: list[float]) -> None:
    nodes = [helper.make_node("Resize", ["x", "scales"], ["y"], mode=mode)]
    init = numpy_helper.from_array(np.array(scales, np.float32), "scales")
    model = make_model(nodes, [_vi("x", F32, [1, 2, 5, 5])], [_vi("y", F32, None)], [init], opset=10)
    check_model(model, {"x": _rand(1, 2, 5, 5)}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", ["nearest", "linear"])
def test_upsample_opset9(mode: str) -> None:
    nodes = [helper.make_node("Upsample", ["x", "scales"], ["y"], mode=mode)]
    init = numpy_helper.from_array(np.array([1.0, 1.0, 2.0, 2.5], np.float32), "scales")
    model = make_model(nodes, [_vi("x", F32, [1, 2, 3, 4])], [_vi("y", F32, None)], [init], opset=9)
    check_model(model, {"x": _rand(1, 2, 3, 4)}, rtol=1e-5, atol=1e-5)


def test_upsample_opset7_attribute_scales() -> None:
    nodes = [helper.make_node("Upsample", ["x"], ["y"], mode="nearest", scales=[1.0, 1.0, 3.0, 2.0])]
    model = make_model(nodes, [_vi("x", F32, [2, 1, 2, 3])], [_vi("y", F32, None)], opset=7)
    check_model(model, {"x": _rand(2, 1, 2, 3)})


@pytest.mark.parametrize("ctm", ["half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                                 "tf_half_pixel_for_nn"])
@pytest.mark.parametrize("nearest_mode", ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"])
def test_resize_opset11_nearest_modes(ctm: str, nearest_mode: str) -> None:
    # binary-exact scales: positions that land on .0/.5 ties are exact in float32 (onnxruntime) and
    # float64 (the definition) alike, so the rounding modes are what is compared
    nodes = [helper.make_node("Resize", ["x", "roi", "scales"], ["y"], mode="nearest",
                              coordinate_transformation_mode=ctm, nearest_mode=nearest_mode)]
    inits = [numpy_helper.from_array(np.zeros(0, np.float32), "roi"),
             numpy_helper.from_array(np.array([1.0, 1.0, 1.75, 0.625], np.float32), "scales")]
    model = make_model(nodes, [_vi("x", F32, [1, 1, 4, 8])], [_vi("y", F32, None)], inits, opset=11)
    check_model(model, {"x": _rand(1, 1, 4, 8)})


def test_resize_integer_linear_rounds_like_onnxruntime() -> None:
    nodes = [helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], mode="linear")]
    model = make_model(nodes, [_vi("x", TensorProto.UINT8, [1, 1, 4, 4])], [_vi("y", TensorProto.UINT8, None)],
                       [_const("sizes", [1, 1, 7, 5])], opset=13)
    x = RNG.integers(0, 256, (1, 1, 4, 4)).astype(np.uint8)
    check_model(model, {"x": x}, rtol=0, atol=1)


def test_resize_float64_cubic_exclude_outside() -> None:
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], mode="cubic", exclude_outside=1,
                              cubic_coeff_a=-0.5)]
    init = numpy_helper.from_array(np.array([1.0, 1.0, 0.6, 1.4]), "scales")
    model = make_model(nodes, [_vi("x", TensorProto.DOUBLE, [1, 2, 5, 5])], [_vi("y", TensorProto.DOUBLE, None)],
                       [init], opset=13)
    check_model(model, {"x": RNG.standard_normal((1, 2, 5, 5))}, rtol=1e-9, atol=1e-9)


def test_split_opset11_attribute_and_opset18_uneven() -> None:
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=1, split=[1, 4])]
    model = make_model(nodes, [_vi("x", F32, [2, 5])], [_vi("a", F32, None), _vi("b", F32, None)], opset=11)
    check_model(model, {"x": _rand(2, 5)})
    nodes = [helper.make_node("Split", ["x"], ["a", "b", "c"], axis=1, num_outputs=3)]
    outputs = [_vi(n, F32, None) for n in "abc"]
    model = make_model(nodes, [_vi("x", F32, [2, 7])], outputs, opset=18)
    check_model(model, {"x": _rand(2, 7)})


def test_squeeze_unsqueeze_attribute_forms() -> None:
    nodes = [helper.make_node("Unsqueeze", ["x"], ["u"], axes=[0, 3]),
             helper.make_node("Squeeze", ["u"], ["y"], axes=[0])]
    model = make_model(nodes, [_vi("x", F32, [2, 3])], [_vi("y", F32, [2, 3, 1])], opset=11)
    check_model(model, {"x": _rand(2, 3)})


def test_slice_opset1_attributes() -> None:
    nodes = [helper.make_node("Slice", ["x"], ["y"], starts=[1, -3], ends=[1000, -1], axes=[0, 1])]
    model = make_model(nodes, [_vi("x", F32, [4, 6])], [_vi("y", F32, None)], opset=9)
    check_model(model, {"x": _rand(4, 6)})


@pytest.mark.parametrize("mode", ["constant", "reflect", "edge", "wrap"])
def test_pad_modes_with_negative_pads_and_axes(mode: str) -> None:
    nodes = [helper.make_node("Pad", ["x", "pads", "value", "axes"], ["y"], mode=mode)]
    inits = [_const("pads", [2, -1, 1, 3]), numpy_helper.from_array(np.array(0.5, np.float32), "value"),
             _const("axes", [1, -1])]
    model = make_model(nodes, [_vi("x", F32, [2, 4, 5])], [_vi("y", F32, None)], inits, opset=18)
    check_model(model, {"x": _rand(2, 4, 5)})


def test_pad_opset2_attributes() -> None:
    nodes = [helper.make_node("Pad", ["x"], ["y"], mode="edge", pads=[0, 1, 0, 2])]
    model = make_model(nodes, [_vi("x", F32, [2, 3])], [_vi("y", F32, None)], opset=2)
    model.ir_version = 3
    check_model(model, {"x": _rand(2, 3)})


def test_wrap_pad_on_dynamic_batch() -> None:
    nodes = [helper.make_node("Pad", ["x", "pads"], ["y"], mode="wrap")]
    model = make_model(nodes, [_vi("x", F32, ["N", 3])], [_vi("y", F32, None)], [_const("pads", [1, 2, 2, 1])],
                       opset=19)
    check_batches(model, [{"x": _rand(3, 3)}, {"x": _rand(5, 3)}])


def test_tile_many_axes_and_int_dtype() -> None:
    nodes = [helper.make_node("Tile", ["x", "reps"], ["y"])]
    model = make_model(nodes, [_vi("x", TensorProto.INT32, [2, 1, 3, 2, 2])], [_vi("y", TensorProto.INT32, None)],
                       [_const("reps", [2, 3, 1, 2, 2])], opset=13)
    check_model(model, {"x": RNG.integers(-9, 9, (2, 1, 3, 2, 2)).astype(np.int32)})


def test_expand_with_rank_growth_and_ones() -> None:
    nodes = [helper.make_node("Expand", ["x", "shape"], ["y"])]
    model = make_model(nodes, [_vi("x", F32, [3, 1])], [_vi("y", F32, None)], [_const("shape", [2, 1, 1, 4])],
                       opset=13)
    check_model(model, {"x": _rand(3, 1)})


def test_reshape_allowzero_and_zero_copy() -> None:
    nodes = [helper.make_node("Reshape", ["x", "shape"], ["y"]),
             helper.make_node("Reshape", ["empty", "zeros"], ["z"], allowzero=1)]
    inputs = [_vi("x", F32, [2, 3, 4]), _vi("empty", F32, [0, 3])]
    outputs = [_vi("y", F32, None), _vi("z", F32, None)]
    model = make_model(nodes, inputs, outputs, [_const("shape", [0, -1]), _const("zeros", [3, 0])], opset=14)
    check_model(model, {"x": _rand(2, 3, 4), "empty": np.zeros((0, 3), np.float32)})


# --- other ops, dtypes ----------------------------------------------------------------------------


def test_dropout_inference_masks_across_opsets() -> None:
    # onnxruntime leaves the mask of opset <= 10 zero-filled in inference; the reference (and the
    # later opsets' definition) marks every element as kept, which is what gluon_onnx returns
    from onnx.reference import ReferenceEvaluator

    x = _rand(3, 4)
    for opset, mask_type in ((7, F32), (10, TensorProto.BOOL)):
        nodes = [helper.make_node("Dropout", ["x"], ["y", "mask"], ratio=0.3)]
        model = make_model(nodes, [_vi("x", F32, [3, 4])], [_vi("y", F32, None), _vi("mask", mask_type, None)],
                           opset=opset)
        expected = ReferenceEvaluator(model).run(None, {"x": x})
        check_model(model, {"x": x}, expected=[expected[0], expected[1].astype(np.float32 if opset == 7 else bool)])
    nodes = [helper.make_node("Dropout", ["x", "ratio"], ["y", "mask"])]
    model = make_model(nodes, [_vi("x", F32, [3, 4])], [_vi("y", F32, None), _vi("mask", TensorProto.BOOL, None)],
                       [numpy_helper.from_array(np.array(0.4, np.float32), "ratio")], opset=13)
    check_model(model, {"x": x})


def test_training_dropout_statistics() -> None:
    """Random masks cannot match a reference; check the definition instead (scale, mask, rate)."""
    nodes = [helper.make_node("Dropout", ["x", "ratio", "training"], ["y", "mask"])]
    inits = [numpy_helper.from_array(np.array(0.25, np.float32), "ratio"),
             numpy_helper.from_array(np.array(True), "training")]
    model = make_model(nodes, [_vi("x", F32, [200, 50])], [_vi("y", F32, None), _vi("mask", TensorProto.BOOL, None)],
                       inits, opset=13)
    x = RNG.uniform(1, 2, (200, 50)).astype(np.float32)
    for backend in (GluonOnnxBackend, HybridizedBackend):
        y, mask = backend.prepare(model, "CPU").run([x])
        assert mask.dtype == np.bool_
        np.testing.assert_allclose(y, np.where(mask, x / 0.75, 0), rtol=1e-6)
        assert 0.2 < 1 - mask.mean() < 0.3


def test_eyelike_dtype_and_offset() -> None:
    nodes = [helper.make_node("EyeLike", ["x"], ["y"], k=-1, dtype=TensorProto.INT32)]
    model = make_model(nodes, [_vi("x", F32, [4, 3])], [_vi("y", TensorProto.INT32, None)], opset=9)
    check_model(model, {"x": _rand(4, 3)})


def test_range_int64_and_float_inputs() -> None:
    nodes = [helper.make_node("Range", ["start", "limit", "delta"], ["y"])]
    for elem, dtype, values in ((I64, np.int64, (10, -3, -3)), (F32, np.float32, (0.5, 3.0, 0.7))):
        inputs = [_vi(n, elem, []) for n in ("start", "limit", "delta")]
        model = make_model(nodes, inputs, [_vi("y", elem, None)], opset=11)
        feeds = dict(zip(("start", "limit", "delta"), (np.array(v, dtype) for v in values)))
        check_model(model, feeds)


def test_einsum_integer_and_det_batch() -> None:
    nodes = [helper.make_node("Einsum", ["a", "b"], ["y"], equation="bij, bjk -> bik")]
    inputs = [_vi("a", I64, [2, 3, 4]), _vi("b", I64, [2, 4, 2])]
    model = make_model(nodes, inputs, [_vi("y", I64, None)], opset=12)
    check_model(model, {"a": RNG.integers(-5, 5, (2, 3, 4)), "b": RNG.integers(-5, 5, (2, 4, 2))})
    nodes = [helper.make_node("Det", ["x"], ["y"])]
    model = make_model(nodes, [_vi("x", F32, [2, 3, 3, 3])], [_vi("y", F32, None)], opset=11)
    check_model(model, {"x": _rand(2, 3, 3, 3)}, rtol=1e-4, atol=1e-5)


def test_reverse_sequence_batch_major_int() -> None:
    nodes = [helper.make_node("ReverseSequence", ["x", "lens"], ["y"], batch_axis=0, time_axis=1)]
    inputs = [_vi("x", TensorProto.INT32, [3, 5, 2]), _vi("lens", I64, [3])]
    model = make_model(nodes, inputs, [_vi("y", TensorProto.INT32, None)], opset=10)
    check_model(model, {"x": RNG.integers(0, 99, (3, 5, 2)).astype(np.int32), "lens": np.array([5, 0, 2])})


def test_col2im_asymmetric_pads_and_strides() -> None:
    nodes = [helper.make_node("Col2Im", ["x", "image", "block"], ["y"], pads=[1, 0, 0, 2], strides=[2, 1],
                              dilations=[1, 2])]
    image, block = [5, 6], [2, 3]
    blocks_h = (5 + 1 + 0 - 1 * (2 - 1) - 1) // 2 + 1
    blocks_w = (6 + 0 + 2 - 2 * (3 - 1) - 1) // 1 + 1
    shape = [2, 3 * 6, blocks_h * blocks_w]
    model = make_model(nodes, [_vi("x", F32, shape)], [_vi("y", F32, None)],
                       [_const("image", image), _const("block", block)], opset=18)
    check_model(model, {"x": _rand(*shape)}, rtol=1e-5, atol=1e-5)


def test_space_to_depth_crd_matches_reference() -> None:
    nodes = [helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode="CRD")]
    model = make_model(nodes, [_vi("x", F32, [2, 3, 4, 6])], [_vi("y", F32, None)], opset=28)
    model.ir_version = 13
    x = _rand(2, 3, 4, 6)
    b = 2
    expected = x.reshape(2, 3, 2, b, 3, b).transpose(0, 1, 3, 5, 2, 4).reshape(2, 12, 2, 3)
    check_model(model, {"x": x}, expected=[expected])


# --- regressions: shape values, ranks from computed targets, zero-size results ---------------------


def test_shape_output_follows_the_batch_in_both_modes() -> None:
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Size", ["x"], ["n"])]
    model = make_model(nodes, [_vi("x", F32, ["A", 3])], [_vi("s", I64, None), _vi("n", I64, None)], opset=13)
    check_batches(model, [{"x": _rand(2, 3)}, {"x": _rand(5, 3)}])


def test_attention_head_split_with_scalar_gathers() -> None:
    """PyTorch-style x.size(0): ONNX data propagation stops at the scalar Gather, the plan still
    knows the Reshape target [N, S, 3, 4] and so the rank the Transpose needs."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i0"], ["n"], axis=0),
        helper.make_node("Gather", ["s", "i1"], ["seq"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax"], ["n1"]),
        helper.make_node("Unsqueeze", ["seq", "ax"], ["s1"]),
        helper.make_node("Concat", ["n1", "s1", "heads"], ["t1"], axis=0),
        helper.make_node("Reshape", ["x", "t1"], ["r"]),
        helper.make_node("Transpose", ["r"], ["tr"], perm=[0, 2, 1, 3]),
        helper.make_node("Mul", ["n1", "three"], ["n3"]),
        helper.make_node("Concat", ["n3", "s1", "four"], ["t2"], axis=0),
        helper.make_node("Reshape", ["tr", "t2"], ["y"]),
    ]
    inits = [_const("i0", 0), _const("i1", 1), _const("ax", [0]), _const("heads", [3, 4]), _const("three", [3]),
             _const("four", [4])]
    model = make_model(nodes, [_vi("x", F32, ["N", "S", 12])], [_vi("y", F32, None)], inits, opset=13)
    check_batches(model, [{"x": _rand(1, 5, 12)}, {"x": _rand(4, 7, 12)}])


@pytest.mark.parametrize("dtype", [np.bool_, np.int8, np.uint16, np.int64, np.float16, np.float64])
def test_constant_of_shape_value_dtypes_on_dynamic_shape(dtype: type) -> None:
    value = numpy_helper.from_array(np.array([1], dtype=dtype))
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("ConstantOfShape", ["s"], ["y"], value=value)]
    model = make_model(nodes, [_vi("x", F32, ["N", 3])], [_vi("y", elem, None)], opset=20)
    check_batches(model, [{"x": _rand(2, 3)}, {"x": _rand(5, 3)}])


def _empty_result_models() -> list[tuple[onnx.ModelProto, dict]]:
    cases = []
    for shape, starts, ends, axes in (((4, 3), [3], [1], [0]), ((4, 3), [1], [1], [1]), ((5,), [2], [2], [0]),
                                      ((0, 3), [0], [2], [1])):
        nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["y"])]
        inits = [_const("s", starts), _const("e", ends), _const("a", axes)]
        cases.append((make_model(nodes, [_vi("x", F32, list(shape))], [_vi("y", F32, None)], inits, opset=13),
                      {"x": _rand(*shape)}))
    nodes = [helper.make_node("Reshape", ["x", "t"], ["y"], allowzero=1)]
    cases.append((make_model(nodes, [_vi("x", F32, [0, 3])], [_vi("y", F32, None)], [_const("t", [3, 0])], opset=14),
                  {"x": _rand(0, 3)}))
    nodes = [helper.make_node("Flatten", ["x"], ["y"], axis=1)]
    cases.append((make_model(nodes, [_vi("x", F32, [2, 0, 3])], [_vi("y", F32, None)], opset=13),
                  {"x": _rand(2, 0, 3)}))
    nodes = [helper.make_node("Split", ["x", "sp"], ["a", "b"], axis=1)]
    cases.append((make_model(nodes, [_vi("x", F32, [2, 3])], [_vi("a", F32, None), _vi("b", F32, None)],
                             [_const("sp", [0, 3])], opset=13), {"x": _rand(2, 3)}))
    nodes = [helper.make_node("Expand", ["x", "sh"], ["y"])]
    cases.append((make_model(nodes, [_vi("x", F32, [1, 3])], [_vi("y", F32, None)], [_const("sh", [0, 3])], opset=13),
                  {"x": _rand(1, 3)}))
    return cases


def test_zero_size_results_leave_the_engine_healthy() -> None:
    """MXNet's slice/reshape kernels raise 'delay_alloc' asynchronously (in a later, unrelated
    call) when they produce empty rank <= 2 results; waitall surfaces such an error here."""
    import mxnet as mx

    for model, feeds in _empty_result_models():
        check_model(model, feeds)
        mx.nd.waitall()


_BOOL_LAYOUT_CASES = {
    "transpose": (helper.make_node("Transpose", ["x"], ["y"], perm=[1, 0, 2]), [2, 3, 4], 13, []),
    "concat": (helper.make_node("Concat", ["x", "x"], ["y"], axis=1), [2, 3], 13, []),
    "split": (helper.make_node("Split", ["x"], ["y", "z"], axis=1), [2, 4], 13, []),
    "depth_to_space_crd": (helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode="CRD"), [1, 8, 2, 3], 13,
                           []),
    "space_to_depth": (helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2), [1, 2, 4, 6], 13, []),
    "tile": (helper.make_node("Tile", ["x", "r"], ["y"]), [1, 2, 1, 2, 1], 13, [_const("r", [2, 1, 2, 2, 3])]),
    "expand_dynamic": (helper.make_node("Expand", ["x", "s"], ["y"]), ["N", 1], 13, [_const("s", [1, 3])]),
    "center_crop_pad": (helper.make_node("CenterCropPad", ["x", "s"], ["y"]), [4, 3], 18, [_const("s", [2, 5])]),
}


@pytest.mark.parametrize("case", sorted(_BOOL_LAYOUT_CASES))
def test_bool_tensors_through_layout_ops(case: str) -> None:
    from onnx.reference import ReferenceEvaluator

    node, shape, opset, inits = _BOOL_LAYOUT_CASES[case]
    outputs = [_vi(o, TensorProto.BOOL, None) for o in node.output]
    model = make_model([node], [_vi("x", TensorProto.BOOL, shape)], outputs, inits, opset=opset)
    feeds = {"x": RNG.integers(0, 2, [d if isinstance(d, int) else 3 for d in shape]).astype(bool)}
    check_model(model, feeds, expected=ReferenceEvaluator(model).run(None, feeds))


def test_slice_beyond_six_dimensions() -> None:
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["y"])]
    inits = [_const("starts", [1, -1, 0]), _const("ends", [3, -2**62, 5]), _const("axes", [1, 6, 0]),
             _const("steps", [1, -2, 1])]
    model = make_model(nodes, [_vi("x", F32, [2, 3, 2, 1, 2, 1, 5])], [_vi("y", F32, None)], inits, opset=13)
    check_model(model, {"x": _rand(2, 3, 2, 1, 2, 1, 5)})


@pytest.mark.parametrize("perm", [[0, 2, 3, 4, 5, 6, 1], [6, 5, 4, 3, 2, 1, 0], [3, 0, 6, 1, 5, 2, 4]])
def test_transpose_beyond_six_dimensions(perm: list[int]) -> None:
    nodes = [helper.make_node("Transpose", ["x"], ["y"], perm=perm)]
    model = make_model(nodes, [_vi("x", F32, ["N", 3, 2, 1, 2, 4, 5])], [_vi("y", F32, None)], opset=13)
    check_batches(model, [{"x": _rand(2, 3, 2, 1, 2, 4, 5)}, {"x": _rand(3, 3, 2, 1, 2, 4, 5)}])


def test_reshape_to_seven_dimensions_after_onednn_ops() -> None:
    """LogSoftmax/Transpose leave oneDNN-laid-out data that MXNet's reshape cannot make 7-D."""
    nodes = [
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
        helper.make_node("LogSoftmax", ["t"], ["s"], axis=2),
        helper.make_node("Transpose", ["s"], ["back"], perm=[0, 2, 1]),
        helper.make_node("Reshape", ["back", "shape"], ["y"]),
    ]
    model = make_model(nodes, [_vi("x", F32, [3, 5, 72])], [_vi("y", F32, None)],
                       [_const("shape", [0, 0, 2, 3, 2, 3, 2])], opset=13)
    check_model(model, {"x": _rand(3, 5, 72)}, rtol=1e-5, atol=1e-5)
