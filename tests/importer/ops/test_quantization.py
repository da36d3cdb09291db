"""Quantization converters against onnxruntime / the onnx reference, imperative and hybridized."""

from __future__ import annotations

import ml_dtypes
import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gluon_onnx import load_block
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from gluon_onnx.importer.ops._float_formats import FORMATS, round_to_format

from .oracle import check_model, make_model, reference_outputs

RNG = np.random.default_rng(7)


def _vi(name: str, elem: int, shape: list) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _quantize_model(x_shape: list, scale: np.ndarray, zero_point: np.ndarray | None, opset: int,
                    x_elem: int = TensorProto.FLOAT, out_elem: int | None = None, **attrs: object) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(scale, "scale")]
    inputs = ["x", "scale"]
    if zero_point is not None:
        inits.append(helper.make_tensor("zp", helper.np_dtype_to_tensor_dtype(zero_point.dtype), zero_point.shape,
                                        zero_point.reshape(-1).tolist()))
        inputs.append("zp")
        out_elem = helper.np_dtype_to_tensor_dtype(zero_point.dtype)
    node = helper.make_node("QuantizeLinear", inputs, ["y"], **attrs)
    return make_model([node], [_vi("x", x_elem, x_shape)], [_vi("y", out_elem or TensorProto.UINT8, x_shape)],
                      inits, opset=opset)


def _inputs(shape: list, scale: float = 40.0, dtype: type = np.float32) -> np.ndarray:
    # many exact .5 ties after division by the scales used below
    values = np.round(RNG.standard_normal(shape) * scale * 2) / 2
    return values.astype(dtype)


@pytest.mark.parametrize("opset", [10, 13, 19, 21, 23, 25])
@pytest.mark.parametrize("zp_dtype", [np.uint8, np.int8])
def test_quantize_per_tensor_opsets(opset: int, zp_dtype: type) -> None:
    model = _quantize_model([2, 3, 4], np.array(0.5, np.float32), np.array(3, zp_dtype), opset)
    check_model(model, {"x": _inputs([2, 3, 4])}, rtol=0, atol=0)


def test_quantize_without_zero_point_defaults_to_uint8() -> None:
    model = _quantize_model([6], np.array(2.0, np.float32), None, 13)
    check_model(model, {"x": np.array([-3, 1, 3, 5, 7, 600], np.float32)}, rtol=0, atol=0)


@pytest.mark.parametrize("axis", [1, -1, 0])
def test_quantize_per_axis(axis: int) -> None:
    shape = [3, 4, 5]
    size = shape[axis]
    scale = (RNG.random(size) + 0.25).astype(np.float32)
    zp = RNG.integers(-10, 10, size).astype(np.int8)
    model = _quantize_model(shape, scale, zp, 13, axis=axis)
    check_model(model, {"x": _inputs(shape, 20)}, rtol=0, atol=0)


@pytest.mark.parametrize("zp_dtype", [np.int16, np.uint16])
def test_quantize_16_bit(zp_dtype: type) -> None:
    model = _quantize_model([50], np.array(0.25, np.float32), np.array(7, zp_dtype), 21)
    check_model(model, {"x": _inputs([50], 20000)}, rtol=0, atol=0)


def test_quantize_blocked_with_remainder_block() -> None:
    # 5 is not a multiple of the block size: the last block is short
    scale = (RNG.random((3, 3)) + 0.5).astype(np.float32)
    zp = RNG.integers(0, 20, (3, 3)).astype(np.uint8)
    model = _quantize_model([3, 5], scale, zp, 21, axis=1, block_size=2)
    check_model(model, {"x": _inputs([3, 5])}, rtol=0, atol=0)


def test_quantize_float16_input_and_scale() -> None:
    model = _quantize_model([20], np.array(0.5, np.float16), np.array(0, np.int8), 21, x_elem=TensorProto.FLOAT16)
    check_model(model, {"x": _inputs([20], 30, np.float16)}, rtol=0, atol=0)


def test_quantize_output_dtype_attribute_int4() -> None:
    model = _quantize_model([40], np.array(1.5, np.float32), None, 21, out_elem=TensorProto.INT4,
                            output_dtype=TensorProto.INT4)
    feeds = {"x": _inputs([40], 8)}
    ref = _reference(model, feeds)[0]
    for ours in _run_both(model, feeds):
        assert ours[0].dtype == ref.dtype
        np.testing.assert_array_equal(ours[0].astype(np.int8), ref.astype(np.int8))


def _reference(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model).run(None, feeds)


def _run_both(model: onnx.ModelProto, feeds: dict) -> list[list[np.ndarray]]:
    results = []
    for backend in (GluonOnnxBackend, HybridizedBackend):
        rep = backend.prepare(model, "CPU")
        results.append(list(rep.run([feeds[n] for n in rep.block.input_names])))
    return results


@pytest.mark.parametrize("elem", [TensorProto.FLOAT8E4M3FN, TensorProto.FLOAT8E4M3FNUZ, TensorProto.FLOAT8E5M2,
                                  TensorProto.FLOAT8E5M2FNUZ])
@pytest.mark.parametrize("saturate", [0, 1])
def test_quantize_float8_matches_reference_bit_for_bit(elem: int, saturate: int) -> None:
    np_type = helper.tensor_dtype_to_np_dtype(elem)
    zp = np.zeros((), np_type)
    model = _quantize_model([400], np.array(0.5, np.float32), zp, 19, saturate=saturate)
    x = np.concatenate([RNG.standard_normal(200) * 10, RNG.standard_normal(196) * 1e5,
                        [np.inf, -np.inf, 1e-7, -1e-7]]).astype(np.float32)
    ref = _reference(model, {"x": x})[0].astype(np.float32)
    for ours in _run_both(model, {"x": x}):
        assert ours[0].dtype == np_type
        np.testing.assert_array_equal(ours[0].astype(np.float32), ref)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_round_to_format_is_exact_on_every_value_and_midpoint(name: str) -> None:
    dtype = np.dtype(getattr(ml_dtypes, name))
    bits = np.arange(2 ** (8 * dtype.itemsize), dtype=np.uint8 if dtype.itemsize == 1 else np.uint16)
    values = np.unique(bits.view(dtype).astype(np.float32))
    values = values[np.isfinite(values)]
    middles = ((values[1:].astype(np.float64) + values[:-1]) / 2).astype(np.float32)
    x = np.concatenate([values, middles, RNG.standard_normal(1000).astype(np.float32) * 100, [np.inf, -np.inf]])
    x = x.astype(np.float32)
    with mx.util.np_shape(True):
        ours = round_to_format(mx.nd, mx.nd.array(x), name, saturate=False).asnumpy()
    ref = x.astype(dtype).astype(np.float32)
    same = (ours.view(np.int32) == ref.view(np.int32)) | (np.isnan(ours) & np.isnan(ref))
    assert same.all(), (x[~same][:5], ours[~same][:5], ref[~same][:5])


@pytest.mark.parametrize("opset", [10, 13, 19, 21, 23])
def test_dequantize_per_tensor_and_per_axis(opset: int) -> None:
    axis_attrs = {"axis": 1} if opset >= 13 else {}
    scale = (RNG.random(3 if opset >= 13 else 1) + 0.1).astype(np.float32)
    zp = RNG.integers(0, 255, scale.shape).astype(np.uint8)
    if opset < 13:
        scale, zp = scale.reshape(()), zp.reshape(())
    node = helper.make_node("DequantizeLinear", ["x", "scale", "zp"], ["y"], **axis_attrs)
    model = make_model([node], [_vi("x", TensorProto.UINT8, [2, 3, 4])], [_vi("y", TensorProto.FLOAT, [2, 3, 4])],
                       [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(zp, "zp")], opset=opset)
    check_model(model, {"x": RNG.integers(0, 255, (2, 3, 4)).astype(np.uint8)}, rtol=1e-6)


def test_dequantize_int32_without_zero_point() -> None:
    node = helper.make_node("DequantizeLinear", ["x", "scale"], ["y"])
    model = make_model([node], [_vi("x", TensorProto.INT32, [10])], [_vi("y", TensorProto.FLOAT, [10])],
                       [numpy_helper.from_array(np.array(0.125, np.float32), "scale")], opset=13)
    check_model(model, {"x": RNG.integers(-100000, 100000, 10).astype(np.int32)})


def test_dequantize_blocked_and_output_dtype_float16() -> None:
    scale = (RNG.random((2, 3)) + 0.1).astype(np.float32)
    zp = RNG.integers(-5, 5, (2, 3)).astype(np.int8)
    node = helper.make_node("DequantizeLinear", ["x", "scale", "zp"], ["y"], axis=0, block_size=3,
                            output_dtype=TensorProto.FLOAT16)
    model = make_model([node], [_vi("x", TensorProto.INT8, [5, 3])], [_vi("y", TensorProto.FLOAT16, [5, 3])],
                       [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(zp, "zp")], opset=23)
    feeds = {"x": RNG.integers(-128, 127, (5, 3)).astype(np.int8)}
    check_model(model, feeds, rtol=1e-3, expected=_reference(model, feeds))


def test_dequantize_to_bfloat16_is_rounded() -> None:
    node = helper.make_node("DequantizeLinear", ["x", "scale"], ["y"])
    model = make_model([node], [_vi("x", TensorProto.INT16, [40])], [_vi("y", TensorProto.BFLOAT16, [40])],
                       [numpy_helper.from_array(np.array(1.001, ml_dtypes.bfloat16), "scale")], opset=21)
    x = RNG.integers(-30000, 30000, 40).astype(np.int16)
    ref = _reference(model, {"x": x})[0]
    for ours in _run_both(model, {"x": x}):
        assert ours[0].dtype == ref.dtype
        np.testing.assert_array_equal(ours[0].astype(np.float32), ref.astype(np.float32))


def test_dynamic_quantize_linear_with_dynamic_batch_after_hybridize() -> None:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "scale", "zp"])
    model = make_model([node], [_vi("x", TensorProto.FLOAT, ["N", 5])],
                       [_vi("y", TensorProto.UINT8, ["N", 5]), _vi("scale", TensorProto.FLOAT, []),
                        _vi("zp", TensorProto.UINT8, [])], opset=11)
    block = load_block(model)
    block.hybridize()
    for batch in (1, 3):
        x = (RNG.standard_normal((batch, 5)) * 4 + 1).astype(np.float32)
        y, scale, zp = block(mx.nd.array(x))
        ref = reference_outputs(model, {"x": x})
        assert scale.shape == () and zp.shape == ()
        np.testing.assert_allclose(scale.asnumpy(), ref[1], rtol=1e-6)
        assert zp.asnumpy() == ref[2]
        np.testing.assert_array_equal(y.asnumpy(), ref[0])


def test_dynamic_quantize_linear_all_positive_and_all_zero() -> None:
    node = helper.make_node("DynamicQuantizeLinear", ["x"], ["y", "scale", "zp"])
    model = make_model([node], [_vi("x", TensorProto.FLOAT, [2, 3])],
                       [_vi("y", TensorProto.UINT8, [2, 3]), _vi("scale", TensorProto.FLOAT, []),
                        _vi("zp", TensorProto.UINT8, [])], opset=11)
    check_model(model, {"x": np.arange(6, dtype=np.float32).reshape(2, 3) + 1})
    check_model(model, {"x": np.zeros((2, 3), np.float32)})


@pytest.mark.parametrize("a_type,b_type", [(np.uint8, np.int8), (np.int8, np.uint8), (np.uint8, np.uint8)])
def test_matmul_integer_batched_with_zero_points(a_type: type, b_type: type) -> None:
    def rand(t: type, shape: tuple) -> np.ndarray:
        info = np.iinfo(t)
        return RNG.integers(info.min, info.max, shape, endpoint=True).astype(t)

    node = helper.make_node("MatMulInteger", ["a", "b", "azp", "bzp"], ["y"])
    model = make_model(
        [node],
        [_vi("a", helper.np_dtype_to_tensor_dtype(np.dtype(a_type)), [2, 3, 300]),
         _vi("b", helper.np_dtype_to_tensor_dtype(np.dtype(b_type)), [300, 4])],
        [_vi("y", TensorProto.INT32, [2, 3, 4])],
        [numpy_helper.from_array(rand(a_type, ()), "azp"), numpy_helper.from_array(rand(b_type, (4,)), "bzp")],
        opset=10,
    )
    # K=300 full-range products exceed float32's exact integers: checks the float64 path
    check_model(model, {"a": rand(a_type, (2, 3, 300)), "b": rand(b_type, (300, 4))}, rtol=0, atol=0)


def test_conv_integer_per_channel_zero_point_and_same_padding() -> None:
    node = helper.make_node("ConvInteger", ["x", "w", "xzp", "wzp"], ["y"], auto_pad="SAME_UPPER", strides=[2, 2])
    model = make_model(
        [node], [_vi("x", TensorProto.UINT8, [1, 3, 7, 7])], [_vi("y", TensorProto.INT32, [1, 4, 4, 4])],
        [numpy_helper.from_array(RNG.integers(-128, 127, (4, 3, 3, 3)).astype(np.int8), "w"),
         numpy_helper.from_array(np.array(100, np.uint8), "xzp"),
         numpy_helper.from_array(RNG.integers(-3, 3, 4).astype(np.int8), "wzp")],
        opset=10,
    )
    check_model(model, {"x": RNG.integers(0, 255, (1, 3, 7, 7)).astype(np.uint8)}, rtol=0, atol=0)


def test_qlinear_conv_per_channel_with_bias() -> None:
    inits = [
        numpy_helper.from_array(np.array(0.02, np.float32), "xs"),
        numpy_helper.from_array(np.array(128, np.uint8), "xzp"),
        numpy_helper.from_array(RNG.integers(-128, 127, (4, 2, 3, 3)).astype(np.int8), "w"),
        numpy_helper.from_array((RNG.random(4) * 0.01 + 0.001).astype(np.float32), "ws"),
        numpy_helper.from_array(np.zeros(4, np.int8), "wzp"),
        numpy_helper.from_array(np.array(0.05, np.float32), "ys"),
        numpy_helper.from_array(np.array(10, np.uint8), "yzp"),
        numpy_helper.from_array(RNG.integers(-1000, 1000, 4).astype(np.int32), "bias"),
    ]
    node = helper.make_node("QLinearConv", ["x", "xs", "xzp", "w", "ws", "wzp", "ys", "yzp", "bias"], ["y"],
                            pads=[1, 0, 1, 0], group=2)
    model = make_model([node], [_vi("x", TensorProto.UINT8, ["N", 4, 6, 6])],
                       [_vi("y", TensorProto.UINT8, ["N", 4, 6, 4])], inits, opset=10)
    for batch in (1, 2):
        feeds = {"x": RNG.integers(0, 255, (batch, 4, 6, 6)).astype(np.uint8)}
        check_model(model, feeds, rtol=0, atol=0, expected=_reference(model, feeds))


def test_qlinear_matmul_per_column_b() -> None:
    inits = [
        numpy_helper.from_array(np.array(0.05, np.float32), "as"),
        numpy_helper.from_array(np.array(3, np.int8), "azp"),
        numpy_helper.from_array(RNG.integers(-128, 127, (6, 5)).astype(np.int8), "b"),
        numpy_helper.from_array((RNG.random(5) * 0.02 + 0.01).astype(np.float32), "bs"),
        numpy_helper.from_array(RNG.integers(-3, 3, 5).astype(np.int8), "bzp"),
        numpy_helper.from_array(np.array(0.2, np.float32), "ys"),
        numpy_helper.from_array(np.array(-4, np.int8), "yzp"),
    ]
    node = helper.make_node("QLinearMatMul", ["a", "as", "azp", "b", "bs", "bzp", "ys", "yzp"], ["y"])
    model = make_model([node], [_vi("a", TensorProto.INT8, [3, 6])], [_vi("y", TensorProto.INT8, [3, 5])], inits,
                       opset=10)
    feeds = {"a": RNG.integers(-128, 127, (3, 6)).astype(np.int8)}
    check_model(model, feeds, rtol=0, atol=0, expected=_reference(model, feeds))


def test_quantize_dequantize_per_axis_round_trip_dynamic_batch_after_hybridize() -> None:
    scale = (RNG.random(4) + 0.1).astype(np.float32)
    zp = RNG.integers(-20, 20, 4).astype(np.int8)
    inits = [numpy_helper.from_array(scale, "scale"), numpy_helper.from_array(zp, "zp")]
    quant = helper.make_node("QuantizeLinear", ["x", "scale", "zp"], ["q"], axis=-1)
    dequant = helper.make_node("DequantizeLinear", ["q", "scale", "zp"], ["y"], axis=2)
    model = make_model([quant, dequant], [_vi("x", TensorProto.FLOAT, ["N", 3, 4])],
                       [_vi("y", TensorProto.FLOAT, ["N", 3, 4])], inits, opset=21)
    block = load_block(model)
    block.hybridize()
    for batch in (1, 3):
        x = _inputs([batch, 3, 4], 10)
        expected = _reference(model, {"x": x})[0]
        np.testing.assert_allclose(block(mx.nd.array(x)).asnumpy(), expected, rtol=1e-6)
