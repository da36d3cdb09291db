"""Signal converters (DFT, STFT, windows, mel matrix) against the onnx reference, imperative and hybridized."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from gluon_onnx import load_block

from .oracle import check_model, make_model

RNG = np.random.default_rng(3)


def _vi(name: str, elem: int, shape: list | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _reference(model: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    return ReferenceEvaluator(model).run(None, feeds)


def _dft_model(x_shape: list, opset: int, dft_length: int | None = None, axis: int | None = None,
               **attrs: object) -> onnx.ModelProto:
    inputs, inits = ["x"], []
    if dft_length is not None:
        inits.append(numpy_helper.from_array(np.array(dft_length, np.int64), "n"))
        inputs.append("n")
    elif axis is not None and opset >= 20:
        inputs.append("")
    if axis is not None:
        if opset >= 20:
            inits.append(numpy_helper.from_array(np.array(axis, np.int64), "axis"))
            inputs.append("axis")
        else:
            attrs["axis"] = axis
    node = helper.make_node("DFT", inputs, ["y"], **attrs)
    return make_model([node], [_vi("x", TensorProto.FLOAT, x_shape)], [_vi("y", TensorProto.FLOAT, None)], inits,
                      opset=opset)


CASES = [
    # (x shape, dft_length, axis, inverse, onesided)
    ([2, 8, 1], None, None, 0, 0),
    ([2, 8, 2], None, None, 1, 0),
    ([2, 7, 1], None, None, 0, 1),
    ([3, 5, 4, 2], 6, 1, 0, 0),  # zero padding
    ([3, 5, 4, 2], 3, -2, 1, 0),  # truncation
    ([2, 5, 2], None, None, 1, 1),  # irfft, default even length
    ([2, 5, 2], 9, None, 1, 1),  # irfft, odd length
    ([2, 5, 2], 4, None, 1, 1),  # irfft, fewer outputs than bins
    ([4, 6, 1], 10, 0, 0, 1),
]


@pytest.mark.parametrize("opset", [17, 20])
@pytest.mark.parametrize("shape,length,axis,inverse,onesided", CASES)
def test_dft_matches_reference(opset: int, shape: list, length: int | None, axis: int | None, inverse: int,
                               onesided: int) -> None:
    if opset == 17 and axis is None:
        axis = 1  # opset 17's default axis; opset 20 defaults to -2
    model = _dft_model(shape, opset, length, axis, inverse=inverse, onesided=onesided)
    feeds = {"x": RNG.standard_normal(shape).astype(np.float32)}
    check_model(model, feeds, rtol=1e-4, atol=1e-5, expected=_reference(model, feeds))


def test_dft_float64() -> None:
    node = helper.make_node("DFT", ["x"], ["y"])
    model = make_model([node], [_vi("x", TensorProto.DOUBLE, [2, 16, 2])], [_vi("y", TensorProto.DOUBLE, None)],
                       opset=20)
    feeds = {"x": RNG.standard_normal((2, 16, 2))}
    check_model(model, feeds, rtol=1e-10, atol=1e-10, expected=_reference(model, feeds))


def test_dft_dynamic_batch_after_hybridize() -> None:
    node = helper.make_node("DFT", ["x"], ["y"], onesided=1)
    model = make_model([node], [_vi("x", TensorProto.FLOAT, ["N", 12, 1])], [_vi("y", TensorProto.FLOAT, None)],
                       opset=20)
    block = load_block(model)
    block.hybridize()
    for batch in (1, 3):
        x = RNG.standard_normal((batch, 12, 1)).astype(np.float32)
        expected = _reference(model, {"x": x})[0]
        np.testing.assert_allclose(block(mx.nd.array(x)).asnumpy(), expected, rtol=1e-4, atol=1e-5)


def _stft_model(signal_shape: list, step: int, *, window: np.ndarray | None = None, window_input: bool = False,
                frame_length: int | None = None, **attrs: object) -> onnx.ModelProto:
    inits = [numpy_helper.from_array(np.array(step, np.int64), "step")]
    graph_inputs = [_vi("signal", TensorProto.FLOAT, signal_shape)]
    inputs = ["signal", "step"]
    if window_input:
        graph_inputs.append(_vi("window", TensorProto.FLOAT, [frame_length]))
        inputs.append("window")
    elif window is not None:
        inits.append(numpy_helper.from_array(window, "window"))
        inputs.append("window")
    else:
        inputs.append("")
    if frame_length is not None:
        inits.append(numpy_helper.from_array(np.array(frame_length, np.int64), "length"))
        inputs.append("length")
    node = helper.make_node("STFT", inputs, ["y"], **attrs)
    return make_model([node], graph_inputs, [_vi("y", TensorProto.FLOAT, None)], inits, opset=17)


def test_stft_with_constant_window_onesided() -> None:
    window = np.hanning(16).astype(np.float32)
    model = _stft_model([2, 100, 1], 6, window=window)
    feeds = {"signal": RNG.standard_normal((2, 100, 1)).astype(np.float32)}
    check_model(model, feeds, rtol=1e-4, atol=1e-4, expected=_reference(model, feeds))


def test_stft_with_runtime_window_and_complex_signal_two_sided() -> None:
    model = _stft_model([1, 40, 2], 5, window_input=True, frame_length=8, onesided=0)
    feeds = {"signal": RNG.standard_normal((1, 40, 2)).astype(np.float32),
             "window": RNG.random(8).astype(np.float32)}
    check_model(model, feeds, rtol=1e-4, atol=1e-4, expected=_reference(model, feeds))


def test_stft_without_window_dynamic_signal_length_after_hybridize() -> None:
    model = _stft_model([1, "T", 1], 4, frame_length=10)
    block = load_block(model)
    block.hybridize()
    for length in (30, 47):
        signal = RNG.standard_normal((1, length, 1)).astype(np.float32)
        expected = _reference(model, {"signal": signal})[0]
        np.testing.assert_allclose(block(mx.nd.array(signal)).asnumpy(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("out_type", [TensorProto.FLOAT, TensorProto.DOUBLE])
def test_windows_from_runtime_size(op: str, periodic: int, out_type: int) -> None:
    node = helper.make_node(op, ["size"], ["y"], periodic=periodic, output_datatype=out_type)
    model = make_model([node], [_vi("size", TensorProto.INT64, [])], [_vi("y", out_type, None)], opset=17)
    feeds = {"size": np.array(11, np.int64)}
    check_model(model, feeds, rtol=1e-6, atol=1e-7, expected=_reference(model, feeds))


@pytest.mark.parametrize("params", [(8, 64, 8000, 0.0, 4000.0), (20, 512, 16000, 50.0, 7600.0),
                                    (3, 30, 100, 5.0, 40.0)])
def test_mel_weight_matrix(params: tuple) -> None:
    mel_bins, dft_length, rate, low, high = params
    names = ["bins", "dft", "rate", "low", "high"]
    node = helper.make_node("MelWeightMatrix", names, ["y"])
    inputs = [_vi(n, TensorProto.INT64, []) for n in names[:3]] + [_vi(n, TensorProto.FLOAT, []) for n in names[3:]]
    model = make_model([node], inputs, [_vi("y", TensorProto.FLOAT, None)], opset=17)
    feeds = {"bins": np.array(mel_bins, np.int64), "dft": np.array(dft_length, np.int64),
             "rate": np.array(rate, np.int64), "low": np.array(low, np.float32), "high": np.array(high, np.float32)}
    check_model(model, feeds, rtol=1e-6, atol=1e-7, expected=_reference(model, feeds))
