"""Elementwise, activation, logic and cast converters against onnxruntime / the onnx reference
implementation, imperative and hybridized: what the official node tests leave out (dynamic batch
sizes after hybridize, integer wrap-around inside wider storage types, unsigned 64-bit values,
narrow float rounding at ties, old opsets)."""

from __future__ import annotations

import json

import ml_dtypes
import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from gluon_onnx import load_block
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend

from .oracle import check_model, make_model, reference_outputs

RNG = np.random.default_rng(11)
MODES = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}


def _vi(name: str, dtype: np.dtype | type | int, shape: list | None) -> onnx.ValueInfoProto:
    elem = dtype if isinstance(dtype, int) else helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    return helper.make_tensor_value_info(name, elem, shape)


def _single(op: str, inputs: dict[str, np.ndarray], out_dtype: np.dtype | type | int | None = None, opset: int = 17,
            out_shape: list | None = None, **attrs: object) -> onnx.ModelProto:
    """A model with one ``op`` node whose inputs are the graph inputs named in ``inputs``."""
    first = next(iter(inputs.values()))
    node = helper.make_node(op, list(inputs), ["out"], **attrs)
    graph_inputs = [_vi(name, value.dtype, list(value.shape)) for name, value in inputs.items()]
    output = _vi("out", out_dtype if out_dtype is not None else first.dtype, out_shape)
    return make_model([node], graph_inputs, [output], opset=opset)


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray], mode: str) -> list[np.ndarray]:
    rep = MODES[mode].prepare(model, "CPU")
    return list(rep.run([feeds[name] for name in rep.block.input_names]))


def _assert_identical(ours: np.ndarray, ref: np.ndarray, mode: str) -> None:
    """Same dtype, shape and values (NaN where NaN), also for ml_dtypes float types."""
    assert ours.dtype == ref.dtype, f"{mode}: dtype {ours.dtype} != {ref.dtype}"
    assert ours.shape == ref.shape, f"{mode}: shape {ours.shape} != {ref.shape}"
    wide = np.float64 if ref.dtype.kind not in "iub" else ref.dtype
    np.testing.assert_array_equal(ours.astype(wide), ref.astype(wide), err_msg=mode)


def _check_exact(model: onnx.ModelProto, feeds: dict[str, np.ndarray], *, reference: bool = False,
                 expected: list[np.ndarray] | None = None) -> None:
    """Exact comparison in both modes (``reference``: the onnx reference implementation, not onnxruntime)."""
    if expected is None:
        expected = ReferenceEvaluator(model).run(None, feeds) if reference else reference_outputs(model, feeds)
    for mode in MODES:
        for ours, ref in zip(_run(model, feeds, mode), expected):
            _assert_identical(ours, np.asarray(ref), mode)


# --- dynamic batch after hybridize -----------------------------------------------------------------
@pytest.mark.parametrize(("op", "other_shape", "extra"), [
    ("Add", [1, 4], {}),
    ("Sub", [3, 1], {}),
    ("Mul", [4], {}),
    ("Div", [3, 4], {}),
    ("Pow", [1], {}),
    ("Max", [3, 4], {}),
    ("PRelu", [3, 1], {}),
    ("PRelu", [4], {}),
    ("Greater", [1, 4], {}),
    ("Mod", [4], {"fmod": 1}),
])
def test_broadcast_with_dynamic_batch_after_hybridize(op: str, other_shape: list, extra: dict) -> None:
    out_dtype = np.bool_ if op == "Greater" else np.float32
    model = make_model([helper.make_node(op, ["x", "w"], ["y"], **extra)],
                       [_vi("x", np.float32, ["N", 3, 4]), _vi("w", np.float32, other_shape)],
                       [_vi("y", out_dtype, ["N", 3, 4])], opset=17)
    block = HybridizedBackend.prepare(model, "CPU")
    w = (RNG.random(other_shape) + 0.5).astype(np.float32)
    for batch in (1, 3, 2):
        x = (RNG.standard_normal((batch, 3, 4)) * 2).astype(np.float32)
        if op == "Pow":
            x = np.abs(x)
        ref = reference_outputs(model, {"x": x, "w": w})[0]
        ours = block.run([x, w])[0]
        assert ours.shape == ref.shape
        np.testing.assert_allclose(ours, ref, rtol=1e-5, atol=1e-6)


def test_where_and_clip_with_runtime_bounds_and_dynamic_batch() -> None:
    nodes = [helper.make_node("Less", ["x", "lo"], ["below"]),
             helper.make_node("Where", ["below", "lo", "x"], ["a"]),
             helper.make_node("Clip", ["a", "lo", "hi"], ["y"])]
    model = make_model(nodes, [_vi("x", np.int32, ["N", 5]), _vi("lo", np.int32, []), _vi("hi", np.int32, [])],
                       [_vi("y", np.int32, ["N", 5])], opset=13)
    rep = HybridizedBackend.prepare(model, "CPU")
    lo, hi = np.array(-3, np.int32), np.array(4, np.int32)
    for batch in (1, 4):
        x = RNG.integers(-10, 10, (batch, 5)).astype(np.int32)
        expected = reference_outputs(model, {"x": x, "lo": lo, "hi": hi})[0]
        np.testing.assert_array_equal(rep.run([x, lo, hi])[0], expected)


def test_fast_paths_stay_fusable_operators() -> None:
    # ResNet-style: Relu and a same-shape residual Add must stay oneDNN-fusable legacy operators
    model = make_model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])],
                       [_vi("x", np.float32, ["N", 8, 4, 4])], [_vi("y", np.float32, ["N", 8, 4, 4])])
    symbol = load_block(model)(mx.sym.var("data"))
    ops = [node["op"] for node in json.loads(symbol.tojson())["nodes"] if node["op"] != "null"]
    assert ops == ["Activation", "elemwise_add"]


# --- integers ------------------------------------------------------------------------------------
_INT_TYPES = [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64]


def _ints(dtype: type, shape: tuple, low: int | None = None, high: int | None = None) -> np.ndarray:
    info = np.iinfo(dtype)
    low = max(info.min, -1000) if low is None else low
    high = min(info.max, 1000) if high is None else high
    return RNG.integers(low, high, shape, dtype=np.int64 if dtype != np.uint64 else np.uint64).astype(dtype)


@pytest.mark.parametrize("dtype", _INT_TYPES)
def test_integer_division_truncates(dtype: type) -> None:
    a = _ints(dtype, (4, 6))
    b = _ints(dtype, (6,), 1 if np.iinfo(dtype).min == 0 else -9, 9)
    b[b == 0] = 3
    _check_exact(_single("Div", {"a": a, "b": b}, opset=14), {"a": a, "b": b})


@pytest.mark.parametrize("dtype", [np.int8, np.int32, np.uint8])
def test_integer_division_by_zero_does_not_crash(dtype: type) -> None:
    # MXNet's integer division raises SIGFPE on x/0 (and MIN/-1); ONNX leaves the value undefined
    a = np.array([7, -8, 9, 5], dtype=dtype) if dtype != np.uint8 else np.array([7, 8, 9, 5], dtype=dtype)
    b = np.array([2, 0, -1, 0], dtype=dtype) if dtype != np.uint8 else np.array([2, 0, 1, 0], dtype=dtype)
    model = _single("Div", {"a": a, "b": b}, opset=14)
    for mode in MODES:
        out = _run(model, {"a": a, "b": b}, mode)[0]
        defined = b != 0
        np.testing.assert_array_equal(out[defined], np.trunc(a[defined] / b[defined]).astype(dtype))


@pytest.mark.parametrize("dtype", [np.int16, np.uint16, np.uint32])
@pytest.mark.parametrize("op", ["Add", "Sub", "Mul"])
def test_arithmetic_wraps_inside_wider_storage(dtype: type, op: str) -> None:
    # int16/uint16 live in int32 and uint32 in int64: the result must wrap before the next node
    info = np.iinfo(dtype)
    a = np.array([info.max, info.min, info.max // 2 + 3, 7], dtype)
    b = np.array([info.max, 1, 5, info.max], dtype)
    nodes = [helper.make_node(op, ["a", "b"], ["s"]), helper.make_node("Less", ["s", "b"], ["less"]),
             helper.make_node("Div", ["s", "b"], ["q"])]
    model = make_model(nodes, [_vi("a", dtype, [4]), _vi("b", dtype, [4])],
                       [_vi("less", np.bool_, [4]), _vi("q", dtype, [4])], opset=14)
    _check_exact(model, {"a": a, "b": b})


@pytest.mark.parametrize("op", ["Div", "Mod"])
def test_uint64_division_above_int64_range(op: str) -> None:
    a = np.array([[2**64 - 1, 2**63, 2**63 + 7, 12345, 2**64 - 2, 2**63 - 1]], np.uint64).repeat(3, 0)
    b = np.array([[3], [2**63 + 5], [2**64 - 1]], np.uint64)
    _check_exact(_single(op, {"a": a, "b": b}, opset=14 if op == "Div" else 13), {"a": a, "b": b})


def test_uint64_values_above_int64_range() -> None:
    big = np.array([2**64 - 1, 2**63, 2**63 - 1, 5, 2**63 + 12345], np.uint64)
    other = np.array([3, 2**63 + 1, 2**63, 2**64 - 2, 7], np.uint64)
    nodes = [helper.make_node("Greater", ["a", "b"], ["gt"]), helper.make_node("Max", ["a", "b"], ["mx"]),
             helper.make_node("Min", ["a", "b"], ["mn"]), helper.make_node("Add", ["a", "b"], ["sum"]),
             helper.make_node("Cast", ["a"], ["f"], to=TensorProto.DOUBLE),
             helper.make_node("BitShift", ["a", "s"], ["sh"], direction="RIGHT")]
    model = make_model(nodes, [_vi("a", np.uint64, [5]), _vi("b", np.uint64, [5]), _vi("s", np.uint64, [5])],
                       [_vi("gt", np.bool_, [5]), _vi("mx", np.uint64, [5]), _vi("mn", np.uint64, [5]),
                        _vi("sum", np.uint64, [5]), _vi("f", np.float64, [5]), _vi("sh", np.uint64, [5])], opset=18)
    shifts = np.array([1, 63, 0, 2, 5], np.uint64)
    _check_exact(model, {"a": big, "b": other, "s": shifts})


@pytest.mark.parametrize("dtype", _INT_TYPES)
@pytest.mark.parametrize("fmod", [0, 1])
def test_integer_mod(dtype: type, fmod: int) -> None:
    a = _ints(dtype, (3, 5))
    b = _ints(dtype, (5,), 1 if np.iinfo(dtype).min == 0 else -7, 7)
    b[b == 0] = 2
    _check_exact(_single("Mod", {"a": a, "b": b}, opset=13, fmod=fmod), {"a": a, "b": b})


def test_int64_mod_is_exact_beyond_double_precision() -> None:
    a = np.array([2**62 + 1, -(2**62 + 3), 2**63 - 1, -(2**63)], np.int64)
    b = np.array([7, 7, -10, 3], np.int64)
    for fmod in (0, 1):
        _check_exact(_single("Mod", {"a": a, "b": b}, opset=13, fmod=fmod), {"a": a, "b": b})


@pytest.mark.parametrize(("base", "exponent"), [(np.int64, np.int64), (np.int32, np.int32), (np.int32, np.float32),
                                                (np.float32, np.int64), (np.float16, np.float32)])
def test_pow_mixed_types(base: type, exponent: type) -> None:
    x = np.array([2, 3, 5, 7, 1], base)
    y = np.array([10, 5, 3, 2, 9], exponent) if np.dtype(exponent).kind == "i" else np.array([0.5, 2.5, 1.5, 2, 3],
                                                                                             exponent)
    check_model(_single("Pow", {"x": x, "y": y}, opset=15), {"x": x, "y": y}, rtol=1e-3, atol=0)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16, np.uint16, np.int32, np.uint32, np.int64, np.uint64])
@pytest.mark.parametrize("direction", ["LEFT", "RIGHT"])
def test_bitshift_every_integer_type(dtype: type, direction: str) -> None:
    bits = np.iinfo(dtype).bits
    x = _ints(dtype, (3, 6), np.iinfo(dtype).min, np.iinfo(dtype).max)
    amounts = [0, 1, bits // 2, bits - 1, bits, bits + 3]
    y = np.array(amounts, dtype)
    if np.iinfo(dtype).min < 0:
        y[-1] = -2  # negative shift amounts: the sign fill (opset 28)
    _check_exact(_single("BitShift", {"x": x, "y": y}, opset=28, direction=direction), {"x": x, "y": y},
                 reference=True)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int16, np.uint8])
def test_bitwise_not_stays_in_range(dtype: type) -> None:
    x = _ints(dtype, (2, 5), np.iinfo(dtype).min, np.iinfo(dtype).max)
    _check_exact(_single("BitwiseNot", {"x": x}, opset=18), {"x": x})


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.uint16, np.int64, np.uint64])
def test_clip_integer_types(dtype: type) -> None:
    x = _ints(dtype, (12,))
    lo, hi = np.array(3, dtype), np.array(90, dtype)
    model = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"]),
                        helper.make_node("Clip", ["x", "", "hi"], ["y2"])],
                       [_vi("x", dtype, [12]), _vi("lo", dtype, []), _vi("hi", dtype, [])],
                       [_vi("y", dtype, [12]), _vi("y2", dtype, [12])], opset=13)
    _check_exact(model, {"x": x, "lo": lo, "hi": hi})


def test_clip_with_constant_bounds_min_above_max() -> None:
    x = RNG.standard_normal(10).astype(np.float32)
    lo = onnx.numpy_helper.from_array(np.array(2.0, np.float32), "lo")
    hi = onnx.numpy_helper.from_array(np.array(-1.0, np.float32), "hi")
    model = make_model([helper.make_node("Clip", ["x", "lo", "hi"], ["y"])], [_vi("x", np.float32, [10])],
                       [_vi("y", np.float32, [10])], [lo, hi], opset=13)
    _check_exact(model, {"x": x})


def test_relu_and_sign_and_abs_on_integers() -> None:
    x = np.array([-128, -5, 0, 7, 127], np.int8)
    nodes = [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Sign", ["x"], ["s"]),
             helper.make_node("Abs", ["x"], ["a"]), helper.make_node("Neg", ["x"], ["n"])]
    model = make_model(nodes, [_vi("x", np.int8, [5])], [_vi(n, np.int8, [5]) for n in "rsan"], opset=14)
    _check_exact(model, {"x": x})


# --- floats --------------------------------------------------------------------------------------
def test_round_half_to_even_and_sign_of_nan() -> None:
    x = np.array([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 0.49999997, 8388609.0, np.nan, -np.inf], np.float32)
    nodes = [helper.make_node("Round", ["x"], ["r"]), helper.make_node("Sign", ["x"], ["s"])]
    model = make_model(nodes, [_vi("x", np.float32, [11])], [_vi("r", np.float32, [11]), _vi("s", np.float32, [11])])
    _check_exact(model, {"x": x})
    half = x.astype(np.float16)
    _check_exact(_single("Round", {"x": half}, opset=11), {"x": half})


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("fmod", [0, 1])
def test_float_mod_special_values(dtype: type, fmod: int) -> None:
    a = np.array([5.5, -5.5, 5.5, -5.5, 0.0, -0.0, np.inf, 3.0, -3.0, np.nan, 1.0, 7.25], dtype)
    b = np.array([2.0, 2.0, -2.0, -2.0, 3.0, -3.0, 2.0, np.inf, np.inf, 1.0, 0.0, 0.5], dtype)
    _check_exact(_single("Mod", {"a": a, "b": b}, opset=28, fmod=fmod), {"a": a, "b": b}, reference=True)


def test_isinf_flags_and_isnan() -> None:
    x = np.array([np.inf, -np.inf, np.nan, 0.0, 1e30], np.float32)
    nodes = [helper.make_node("IsInf", ["x"], ["both"]),
             helper.make_node("IsInf", ["x"], ["pos"], detect_negative=0),
             helper.make_node("IsInf", ["x"], ["neg"], detect_positive=0),
             helper.make_node("IsInf", ["x"], ["none"], detect_positive=0, detect_negative=0),
             helper.make_node("IsNaN", ["x"], ["nan"])]
    outs = ["both", "pos", "neg", "none", "nan"]
    model = make_model(nodes, [_vi("x", np.float32, [5])], [_vi(n, np.bool_, [5]) for n in outs], opset=20)
    _check_exact(model, {"x": x})


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(("op", "attrs"), [
    ("Gelu", {}), ("Gelu", {"approximate": "tanh"}), ("Mish", {}), ("Softplus", {}), ("Selu", {"alpha": 1.3,
                                                                                               "gamma": 0.7}),
    ("Celu", {"alpha": 0.6}), ("HardSwish", {}), ("HardSigmoid", {"alpha": 0.3, "beta": 0.4}), ("Elu", {"alpha": 0.5}),
    ("LeakyRelu", {"alpha": 0.2}), ("ThresholdedRelu", {"alpha": 0.7}), ("Shrink", {"lambd": 0.8, "bias": 0.3}),
    ("Softsign", {}), ("Swish", {"alpha": 1.7}),
])
def test_activations_on_float_types(dtype: type, op: str, attrs: dict) -> None:
    x = np.concatenate([np.linspace(-30, 30, 61), [-0.0, 1e-4, -1e-4]]).astype(dtype)
    tolerance = {"rtol": 2e-3, "atol": 2e-3} if dtype == np.float16 else {"rtol": 1e-5, "atol": 1e-6}
    opset = 28 if op == "Celu" else 24  # Celu takes float16/float64 from opset 28 on
    check_model(_single(op, {"x": x}, opset=opset, **attrs), {"x": x}, **tolerance)


@pytest.mark.parametrize("op", ["LeakyRelu", "Elu", "Selu", "Gelu", "Relu"])
def test_activations_on_scalars(op: str) -> None:
    x = np.array(-1.5, np.float32)
    check_model(_single(op, {"x": x}, opset=20, out_shape=[]), {"x": x})


def test_shrink_on_integers() -> None:
    x = np.arange(-6, 7, dtype=np.int32)
    _check_exact(_single("Shrink", {"x": x}, opset=9, lambd=1.5, bias=1.0), {"x": x})


@pytest.mark.parametrize(("x_shape", "slope_shape"), [([2, 3, 4, 5], [3, 1, 1]), ([2, 3, 4, 5], [1]),
                                                      ([2, 3, 4, 5], [5]), ([2, 3, 4, 5], [4, 5]), ([3, 4], [4])])
def test_prelu_slope_shapes(x_shape: list, slope_shape: list) -> None:
    x = RNG.standard_normal(x_shape).astype(np.float32)
    slope = RNG.random(slope_shape).astype(np.float32)
    check_model(_single("PRelu", {"x": x, "slope": slope}, opset=16), {"x": x, "slope": slope})


def test_prelu_integers_opset16() -> None:
    x = np.array([[-4, 3], [5, -6]], np.int32)
    slope = np.array([2, 3], np.int32)
    _check_exact(_single("PRelu", {"x": x, "slope": slope}, opset=16), {"x": x, "slope": slope})


def test_prelu_opset6_per_channel_slope() -> None:
    # before opset 7 a 1-D slope is per channel (axis 1), not numpy-aligned with the last axis
    x = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    slope = np.array([0.1, 0.2, 0.3], np.float32)
    expected = np.where(x < 0, x * slope.reshape(1, 3, 1), x)
    model = _single("PRelu", {"x": x, "slope": slope}, opset=6)
    check_model(model, {"x": x, "slope": slope}, expected=[expected])


def test_add_opset6_legacy_axis_broadcast() -> None:
    a = RNG.standard_normal((2, 3, 4)).astype(np.float32)
    b = RNG.standard_normal((3,)).astype(np.float32)
    model = _single("Add", {"a": a, "b": b}, opset=6, broadcast=1, axis=1)
    check_model(model, {"a": a, "b": b}, expected=[a + b.reshape(1, 3, 1)])


def test_clip_opset6_attributes() -> None:
    x = RNG.standard_normal(20).astype(np.float32) * 3
    model = _single("Clip", {"x": x}, opset=6, min=-1.0, max=0.5)
    check_model(model, {"x": x}, expected=[np.clip(x, -1.0, 0.5)])


@pytest.mark.parametrize("op", ["And", "Or", "Xor"])
def test_logic_broadcasts_booleans(op: str) -> None:
    a = RNG.random((2, 3, 4)) > 0.5
    b = RNG.random((4,)) > 0.5
    _check_exact(_single(op, {"a": a, "b": b}, opset=7), {"a": a, "b": b})


def test_variadic_sum_max_min_mean_with_one_and_many_inputs() -> None:
    xs = {f"x{i}": RNG.standard_normal(shape).astype(np.float32) for i, shape in enumerate([(2, 3), (3,), (2, 1)])}
    nodes = [helper.make_node("Sum", list(xs), ["s"]), helper.make_node("Max", list(xs), ["mx"]),
             helper.make_node("Min", list(xs), ["mn"]), helper.make_node("Mean", list(xs), ["me"]),
             helper.make_node("Sum", ["x0"], ["one"])]
    outputs = [_vi(n, np.float32, None) for n in ("s", "mx", "mn", "me", "one")]
    model = make_model(nodes, [_vi(n, v.dtype, list(v.shape)) for n, v in xs.items()], outputs, opset=13)
    check_model(model, xs)


# --- Cast -------------------------------------------------------------------------------------------
_FLOAT8 = {TensorProto.FLOAT8E4M3FN: ml_dtypes.float8_e4m3fn, TensorProto.FLOAT8E4M3FNUZ: ml_dtypes.float8_e4m3fnuz,
           TensorProto.FLOAT8E5M2: ml_dtypes.float8_e5m2, TensorProto.FLOAT8E5M2FNUZ: ml_dtypes.float8_e5m2fnuz}


def _ties_of(dtype: type) -> np.ndarray:
    """Midpoints between neighbouring finite values of a 1-byte float type, and values around them."""
    values = np.unique(np.arange(256, dtype=np.uint8).view(dtype).astype(np.float64))
    values = values[np.isfinite(values)]
    mids = (values[1:] + values[:-1]) / 2
    specials = [np.inf, -np.inf, np.nan, 1e6, -1e6, 0.0, -0.0, 1e-30]
    return np.concatenate([mids, np.nextafter(mids, np.inf), np.nextafter(mids, -np.inf), specials]).astype(np.float32)


@pytest.mark.parametrize("to", list(_FLOAT8))
@pytest.mark.parametrize("saturate", [0, 1])
def test_cast_to_float8_rounds_ties_to_even(to: int, saturate: int) -> None:
    x = _ties_of(_FLOAT8[to])
    model = _single("Cast", {"x": x}, out_dtype=to, opset=21, to=to, saturate=saturate)
    _check_exact(model, {"x": x}, reference=True)


@pytest.mark.parametrize("to", [TensorProto.BFLOAT16, TensorProto.FLOAT8E5M2, TensorProto.FLOAT4E2M1])
def test_cast_to_narrow_float_holds_rounded_values_inside_the_block(to: int) -> None:
    # Cast to the narrow type and back: the float32 after the round trip shows what the block holds
    x = (RNG.standard_normal(200) * 4).astype(np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["n"], to=to),
             helper.make_node("Cast", ["n"], ["y"], to=TensorProto.FLOAT)]
    model = make_model(nodes, [_vi("x", np.float32, [200])], [_vi("y", np.float32, [200])], opset=23)
    _check_exact(model, {"x": x}, reference=True)


@pytest.mark.parametrize("to", [TensorProto.FLOAT8E4M3FN, TensorProto.BFLOAT16])
def test_cast_from_double_and_int64_follows_the_reference(to: int) -> None:
    # the reference (ml_dtypes) converts float64 through float32: values just beside a tie of the
    # narrow type become ties there; ints beyond 2**24 round to float32 first as well
    tiny = 2.0**-40
    x = np.array([1 + 2**-4 + tiny, 1 + 2**-4 - tiny, 1 + 3 * 2**-4 - tiny, 1e300, -1e-300, 3.3895313892515355e38],
                 np.float64)
    _check_exact(_single("Cast", {"x": x}, out_dtype=to, opset=21, to=to), {"x": x}, reference=True)
    ints = np.array([2**62 + 2**40 + 1, -(2**31) - 3, 16777217, 449, 123456789], np.int64)
    _check_exact(_single("Cast", {"x": ints}, out_dtype=to, opset=21, to=to), {"x": ints}, reference=True)


@pytest.mark.parametrize("round_mode", ["up", "down", "nearest"])
@pytest.mark.parametrize("saturate", [0, 1])
def test_cast_to_e8m0_round_modes(round_mode: str, saturate: int) -> None:
    x = np.array([0.0, 1e-45, 2.0**-127, 3 * 2.0**-128, 2.0**-126, 0.124, 0.25, 0.375, 0.376, 1.1, 1.5, 1.49,
                  -3.0, 3e38, 2.0**127, np.inf, np.nan], np.float32)
    model = _single("Cast", {"x": x}, out_dtype=TensorProto.FLOAT8E8M0, opset=24, to=TensorProto.FLOAT8E8M0,
                    saturate=saturate, round_mode=round_mode)
    _check_exact(model, {"x": x}, reference=True)


@pytest.mark.parametrize(("to", "values"), [
    (TensorProto.INT4, [-20.5, -9, -8.5, -1.5, 7.4, 7.5, 8, 20.7]),
    (TensorProto.UINT4, [-7.6, -1, 0, 15.9, 16, 17, 33]),
    (TensorProto.INT2, [-3, -2, -1, 0, 1, 2, 3, 5]),
    (TensorProto.UINT2, [-3, -1, 0, 3, 4, 7]),
])
def test_cast_to_4_and_2_bit_integers_wraps_inside_the_block(to: int, values: list) -> None:
    # Cast to the narrow integer and on to int32: the int32 shows the wrapped value the block holds
    x = np.array(values, np.float32)
    nodes = [helper.make_node("Cast", ["x"], ["n"], to=to),
             helper.make_node("Cast", ["n"], ["y"], to=TensorProto.INT32)]
    model = make_model(nodes, [_vi("x", np.float32, [len(values)])], [_vi("y", np.int32, [len(values)])], opset=25)
    _check_exact(model, {"x": x}, reference=True)


@pytest.mark.parametrize(("source", "target"), [(np.int32, np.int16), (np.int64, np.uint16), (np.int64, np.uint32),
                                                (np.int16, np.uint8), (np.uint32, np.int8), (np.float32, np.uint16)])
def test_integer_cast_wraps_inside_the_block(source: type, target: type) -> None:
    x = np.array([70000, -40000, 65535, -1, 300, 2**31 - 1], np.int64)
    x = x.astype(source) if np.dtype(source).kind == "f" else (x % 2**np.iinfo(source).bits).astype(np.uint64).astype(
        source)
    back = TensorProto.INT64
    nodes = [helper.make_node("Cast", ["x"], ["n"], to=helper.np_dtype_to_tensor_dtype(np.dtype(target))),
             helper.make_node("Cast", ["n"], ["y"], to=back)]
    model = make_model(nodes, [_vi("x", source, [6])], [_vi("y", np.int64, [6])], opset=19)
    _check_exact(model, {"x": x})


@pytest.mark.parametrize("source", [np.float32, np.float64])
def test_cast_float_to_uint64_above_int64_range(source: type) -> None:
    x = np.array([2.0**63, 2.0**63 + 2.0**40, 1.8e19, 5.0, 2.0**62], source)
    _check_exact(_single("Cast", {"x": x}, out_dtype=np.uint64, opset=13, to=TensorProto.UINT64), {"x": x})


def test_castlike_no_saturate_and_cast_v1_type_name() -> None:
    x = np.array([1000.0, -1000.0, 3.3, np.inf], np.float32)
    like = np.zeros(1, ml_dtypes.float8_e4m3fn)
    model = _single("CastLike", {"x": x, "like": like}, out_dtype=TensorProto.FLOAT8E4M3FN, opset=19, saturate=0)
    _check_exact(model, {"x": x, "like": like}, reference=True)
    x16 = np.array([1.5, -2.25, 7.0], np.float32)
    v1 = _single("Cast", {"x": x16}, out_dtype=TensorProto.INT32, opset=1, to="INT32")
    _check_exact(v1, {"x": x16}, expected=[np.array([1, -2, 7], np.int32)])


def test_strings_run_on_the_host_in_imperative_mode() -> None:
    # string tensors are numpy object arrays: Cast to/from STRING, Equal and Where run on the host
    x = np.array([1.5, -2.0, 1e10, np.inf], np.float32)
    texts = np.array(["3.25", "-INF", "nan", "7"], dtype=object)
    keep = np.array([True, False, True, False])
    nodes = [helper.make_node("Cast", ["x"], ["as_text"], to=TensorProto.STRING),
             helper.make_node("Cast", ["texts"], ["as_number"], to=TensorProto.DOUBLE),
             helper.make_node("Where", ["keep", "as_text", "texts"], ["chosen"]),
             helper.make_node("Equal", ["chosen", "texts"], ["same"])]
    outputs = [_vi("as_text", TensorProto.STRING, [4]), _vi("as_number", np.float64, [4]),
               _vi("chosen", TensorProto.STRING, [4]), _vi("same", np.bool_, [4])]
    model = make_model(nodes, [_vi("x", np.float32, [4]), _vi("texts", TensorProto.STRING, [4]),
                               _vi("keep", np.bool_, [4])], outputs, opset=21)
    feeds = {"x": x, "texts": texts, "keep": keep}
    # what the reference's Cast computes (numpy's str and float parsing); its Where rejects the mix
    # of numpy str and object arrays, so the rest is spelled out
    as_text = x.astype(np.str_).astype(object)
    chosen = np.where(keep, as_text, texts)
    expected = [as_text, texts.astype(np.str_).astype(np.float64), chosen, chosen == texts]
    ours = _run(model, feeds, "imperative")
    for got, ref in zip(ours, expected):
        np.testing.assert_array_equal(got, ref)
    with pytest.raises(Exception, match="hybridize"):
        _run(model, feeds, "hybridized")


def test_cast_of_a_runtime_number_to_string_is_not_hybridizable() -> None:
    x = np.array([1.0, 2.5], np.float32)
    model = _single("Cast", {"x": x}, out_dtype=TensorProto.STRING, opset=19, to=TensorProto.STRING)
    np.testing.assert_array_equal(_run(model, {"x": x}, "imperative")[0], np.array(["1.0", "2.5"], dtype=object))
    with pytest.raises(Exception, match="string"):
        _run(model, {"x": x}, "hybridized")


# --- BitCast ------------------------------------------------------------------------------------------
def _bit_patterns(dtype: type, count: int) -> np.ndarray:
    """Random patterns plus zeros, subnormals, infinities and the canonical quiet NaN of ``dtype``."""
    info = np.finfo(dtype)
    specials = np.array([0.0, -0.0, info.tiny, info.tiny / 8, -info.tiny / 3, info.max, -info.max, np.inf, -np.inf,
                         np.nan, 1.0, -2.5], dtype)
    values = RNG.integers(0, 256, count * np.dtype(dtype).itemsize, dtype=np.uint8).view(dtype)
    values = values[~np.isnan(values)]  # NaN payloads are not kept (only the canonical quiet NaN)
    return np.concatenate([specials, values])


@pytest.mark.parametrize(("source", "target"), [(np.float32, np.int32), (np.float32, np.uint32), (np.float64, np.int64),
                                                (np.float64, np.uint64), (np.float16, np.int16),
                                                (np.float16, np.uint16)])
def test_bitcast_floats_both_ways(source: type, target: type) -> None:
    x = _bit_patterns(source, 300)
    to = helper.np_dtype_to_tensor_dtype(np.dtype(target))
    _check_exact(_single("BitCast", {"x": x}, out_dtype=target, opset=26, to=to), {"x": x}, reference=True)
    bits = x.view(target)
    back = helper.np_dtype_to_tensor_dtype(np.dtype(source))
    _check_exact(_single("BitCast", {"b": bits}, out_dtype=source, opset=26, to=back), {"b": bits}, reference=True)


@pytest.mark.parametrize(("source", "target"), [(np.int8, np.uint8), (np.uint16, np.int16), (np.int32, np.uint32),
                                                (np.uint64, np.int64), (np.bool_, np.uint8)])
def test_bitcast_integers(source: type, target: type) -> None:
    if source == np.bool_:
        x = np.array([True, False, True])
    else:
        info = np.iinfo(source)
        x = np.array([info.min, info.max, 0, 1, info.max // 3], source)
    to = helper.np_dtype_to_tensor_dtype(np.dtype(target))
    _check_exact(_single("BitCast", {"x": x}, out_dtype=target, opset=26, to=to), {"x": x}, reference=True)


# --- one graph across opsets ----------------------------------------------------------------------
@pytest.mark.parametrize("opset", [7, 9, 11, 12, 13, 14, 16, 18, 20, 22, 24, 26, 28])
def test_elementwise_graph_across_opsets(opset: int) -> None:
    # the newest converter whose since <= opset must apply, with that opset's attributes and inputs
    nodes = [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("Sigmoid", ["s"], ["g"]),
             helper.make_node("Div", ["i", "j"], ["q"]), helper.make_node("Pow", ["x", "y"], ["p"]),
             helper.make_node("Max", ["x", "y", "s"], ["m"]), helper.make_node("Greater", ["x", "y"], ["gt"]),
             helper.make_node("Not", ["gt"], ["ng"]), helper.make_node("Cast", ["s"], ["h"], to=TensorProto.FLOAT16)]
    outputs = [_vi("g", np.float32, [2, 3]), _vi("q", np.int32, [2, 3]), _vi("p", np.float32, [2, 3]),
               _vi("m", np.float32, [2, 3]), _vi("ng", np.bool_, [2, 3]), _vi("h", np.float16, [2, 3])]
    if opset >= 11:
        nodes.append(helper.make_node("Clip", ["s", "lo"], ["c"]))
    else:
        nodes.append(helper.make_node("Clip", ["s"], ["c"], min=-0.5))
    nodes.append(helper.make_node("Where", ["gt", "x", "y"], ["w"]) if opset >= 9 else
                 helper.make_node("Sub", ["x", "y"], ["w"]))
    outputs += [_vi("c", np.float32, [2, 3]), _vi("w", np.float32, [2, 3])]
    inputs = [_vi("x", np.float32, [2, 3]), _vi("y", np.float32, [3]), _vi("i", np.int32, [2, 3]),
              _vi("j", np.int32, [2, 3])]
    feeds = {"x": RNG.random((2, 3)).astype(np.float32) + 0.1, "y": RNG.standard_normal(3).astype(np.float32),
             "i": RNG.integers(-50, 50, (2, 3)).astype(np.int32), "j": RNG.integers(1, 9, (2, 3)).astype(np.int32)}
    if opset >= 11:
        inputs.append(_vi("lo", np.float32, []))
        feeds["lo"] = np.array(-0.5, np.float32)
    check_model(make_model(nodes, inputs, outputs, opset=opset), feeds)
