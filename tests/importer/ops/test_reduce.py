"""Reductions, arg-reductions, scans, TopK and Hardmax against onnxruntime / the onnx reference,
beyond what the official node tests cover: other opsets, dtypes, dynamic sizes after hybridize()."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from gluon_onnx.errors import HybridizationError

from .oracle import check_model, make_model, reference_outputs

_RNG = np.random.default_rng(7)


def _int64(name: str, values: Sequence[int]) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values, dtype=np.int64), name)


def _single_node_model(op: str, inputs: Sequence[tuple[str, int, Sequence[object]]], outputs: Sequence[str],
                       attrs: dict | None = None, initializers: Sequence[onnx.TensorProto] = (),
                       opset: int = 17, output_types: Sequence[int] | None = None) -> onnx.ModelProto:
    node = helper.make_node(op, [name for name, _, _ in inputs] + [t.name for t in initializers], list(outputs),
                            **(attrs or {}))
    graph_inputs = [helper.make_tensor_value_info(name, elem, shape) for name, elem, shape in inputs]
    types = output_types or [inputs[0][1]] * len(outputs)
    graph_outputs = [helper.make_tensor_value_info(name, elem, None) for name, elem in zip(outputs, types)]
    return make_model([node], graph_inputs, graph_outputs, initializers, opset=opset)


def check_batches(model: onnx.ModelProto, make_feeds: Callable[[int], dict], batches: Sequence[int] = (1, 3),
                  *, general: bool = True, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    """The same hybridized block, called with several batch sizes, matches the reference each time.

    ``general``: the trace must not have been specialized to concrete shapes.
    """
    rep = HybridizedBackend.prepare(model, "CPU")
    for batch in batches:
        feeds = make_feeds(batch)
        refs = reference_outputs(model, feeds)
        outs = rep.run([feeds[name] for name in rep.block.input_names])
        for ours, ref in zip(outs, refs):
            assert ours.shape == ref.shape, f"batch {batch}: shape {ours.shape} != {ref.shape}"
            assert ours.dtype == ref.dtype
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=f"batch {batch}")
    if general:
        assert not rep.block.is_shape_specialized


# --- Reduce* --------------------------------------------------------------------------------------

_REDUCE_OPS = ["ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceLogSum", "ReduceLogSumExp", "ReduceSumSquare"]


def _axes_as_input(op: str, opset: int) -> bool:
    return opset >= (13 if op == "ReduceSum" else 18)


@pytest.mark.parametrize("op", _REDUCE_OPS)
@pytest.mark.parametrize("opset", [11, 13, 18])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_reduce_opsets(op: str, opset: int, keepdims: int) -> None:
    x = (_RNG.random((2, 3, 4)) + 0.5).astype(np.float32)
    axes = [0, -1]
    if _axes_as_input(op, opset):
        model = _single_node_model(op, [("x", TensorProto.FLOAT, x.shape)], ["y"], {"keepdims": keepdims},
                                   [_int64("axes", axes)], opset=opset)
    else:
        model = _single_node_model(op, [("x", TensorProto.FLOAT, x.shape)], ["y"],
                                   {"keepdims": keepdims, "axes": axes}, opset=opset)
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", _REDUCE_OPS)
def test_reduce_all_axes_gives_scalar(op: str) -> None:
    x = (_RNG.random((3, 4)) + 0.5).astype(np.float32)
    model = _single_node_model(op, [("x", TensorProto.FLOAT, x.shape)], ["y"], {"keepdims": 0}, opset=13)
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("op", ["ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceSumSquare", "ReduceL1"])
@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_reduce_integers(op: str, dtype: type) -> None:
    x = _RNG.integers(-5, 6, size=(3, 4)).astype(dtype)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    model = _single_node_model(op, [("x", elem, x.shape)], ["y"], {"keepdims": 0}, [_int64("axes", [1])], opset=18)
    check_model(model, {"x": x})


def test_reduce_mean_layernorm_pattern_dynamic_batch() -> None:
    """ReduceMean(axes=[-1]) as in exported LayerNorms, sequence and batch both dynamic."""
    model = _single_node_model("ReduceMean", [("x", TensorProto.FLOAT, ["N", "S", 8])], ["y"],
                               {"axes": [-1], "keepdims": 1}, opset=13)
    check_batches(model, lambda n: {"x": _RNG.random((n, 5, 8)).astype(np.float32)})


@pytest.mark.parametrize("op", _REDUCE_OPS)
def test_reduce_dynamic_batch(op: str) -> None:
    model = _single_node_model(op, [("x", TensorProto.FLOAT, ["N", 3, 4])], ["y"], {"keepdims": 0},
                               [_int64("axes", [1, 2])], opset=18)
    check_batches(model, lambda n: {"x": (_RNG.random((n, 3, 4)) + 0.5).astype(np.float32)}, rtol=1e-5, atol=1e-5)


def test_reduce_sum_noop_with_empty_axes() -> None:
    x = _RNG.random((2, 3)).astype(np.float32)
    model = _single_node_model("ReduceSum", [("x", TensorProto.FLOAT, x.shape)], ["y"],
                               {"noop_with_empty_axes": 1}, opset=13)
    check_model(model, {"x": x})


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin"])
def test_reduce_bool(op: str) -> None:
    x = _RNG.random((4, 3)) > 0.5
    model = _single_node_model(op, [("x", TensorProto.BOOL, x.shape)], ["y"], {"keepdims": 0},
                               [_int64("axes", [1])], opset=20)
    check_model(model, {"x": x})


@pytest.mark.parametrize("op", ["ReduceMax", "ReduceMin", "ReduceSum", "ReduceProd"])
def test_reduce_empty_set_int(op: str) -> None:
    x = np.zeros((2, 0, 3), dtype=np.int64)
    model = _single_node_model(op, [("x", TensorProto.INT64, x.shape)], ["y"], {"keepdims": 0},
                               [_int64("axes", [1])], opset=20)
    check_model(model, {"x": x})


def test_reduce_log_sum_exp_large_values() -> None:
    x = np.array([[1000.0, 1000.0], [-np.inf, -np.inf]], dtype=np.float32)
    model = _single_node_model("ReduceLogSumExp", [("x", TensorProto.FLOAT, x.shape)], ["y"], {"keepdims": 0},
                               [_int64("axes", [1])], opset=18)
    expected = np.array([1000.0 + np.log(2.0), -np.inf], dtype=np.float32)
    check_model(model, {"x": x}, expected=[expected])


# --- ArgMax / ArgMin ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("select_last_index", [0, 1])
@pytest.mark.parametrize("keepdims", [0, 1])
def test_arg_extreme_ties_dynamic(op: str, select_last_index: int, keepdims: int) -> None:
    """Ties decided by select_last_index; the reduced axis is dynamic after hybridize()."""
    model = _single_node_model(op, [("x", TensorProto.FLOAT, [2, "L"])], ["y"],
                               {"axis": 1, "keepdims": keepdims, "select_last_index": select_last_index},
                               opset=13, output_types=[TensorProto.INT64])

    def feeds(length: int) -> dict:
        return {"x": _RNG.integers(0, 3, size=(2, length)).astype(np.float32)}

    check_batches(model, feeds, batches=(5, 9))


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.uint8])
def test_argmax_dtypes(dtype: type) -> None:
    x = _RNG.integers(0, 50, size=(3, 7)).astype(dtype)
    model = _single_node_model("ArgMax", [("x", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), x.shape)], ["y"],
                               {"axis": 1}, opset=13, output_types=[TensorProto.INT64])
    check_model(model, {"x": x})


def test_argmax_opset1() -> None:
    x = _RNG.random((3, 4, 5)).astype(np.float32)
    model = _single_node_model("ArgMax", [("x", TensorProto.FLOAT, x.shape)], ["y"], {"axis": 2, "keepdims": 0},
                               opset=7, output_types=[TensorProto.INT64])
    check_model(model, {"x": x})


# --- CumSum / CumProd -----------------------------------------------------------------------------


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
def test_cumsum_dynamic_batch(exclusive: int, reverse: int) -> None:
    model = _single_node_model("CumSum", [("x", TensorProto.FLOAT, ["N", 6])], ["y"],
                               {"exclusive": exclusive, "reverse": reverse},
                               [numpy_helper.from_array(np.array(1, dtype=np.int32), "axis")], opset=14)
    check_batches(model, lambda n: {"x": _RNG.random((n, 6)).astype(np.float32)})


def test_cumsum_int64_along_dynamic_axis() -> None:
    model = _single_node_model("CumSum", [("x", TensorProto.INT64, [2, "L"])], ["y"], {"reverse": 1},
                               [_int64("axis", [-1])], opset=11)
    check_batches(model, lambda n: {"x": _RNG.integers(-9, 9, size=(2, n)).astype(np.int64)}, batches=(1, 4))


@pytest.mark.parametrize("exclusive", [0, 1])
@pytest.mark.parametrize("reverse", [0, 1])
@pytest.mark.parametrize("length", [1, 5, 8])
def test_cumprod_integers_with_zeros_and_negatives(exclusive: int, reverse: int, length: int) -> None:
    x = _RNG.integers(-3, 4, size=(3, length)).astype(np.int64)
    model = _single_node_model("CumProd", [("x", TensorProto.INT64, x.shape)], ["y"],
                               {"exclusive": exclusive, "reverse": reverse}, [_int64("axis", [1])], opset=26)
    check_model(model, {"x": x})


# --- TopK -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("largest", [0, 1])
def test_top_k_ties_prefer_lower_index(largest: int) -> None:
    """Many equal values (MXNet's sort is not stable): indices of ties must come in increasing order."""
    x = _RNG.integers(0, 3, size=(4, 200)).astype(np.float32)
    model = _single_node_model("TopK", [("x", TensorProto.FLOAT, x.shape)], ["values", "indices"],
                               {"axis": -1, "largest": largest}, [_int64("k", [70])], opset=11,
                               output_types=[TensorProto.FLOAT, TensorProto.INT64])
    order = np.argsort(-x if largest else x, axis=-1, kind="stable")[:, :70]
    check_model(model, {"x": x}, expected=[np.take_along_axis(x, order, axis=-1), order.astype(np.int64)])


def test_top_k_detection_head_dynamic_batch() -> None:
    model = _single_node_model("TopK", [("scores", TensorProto.FLOAT, ["N", 100])], ["values", "indices"],
                               {"axis": 1}, [_int64("k", [10])], opset=11,
                               output_types=[TensorProto.FLOAT, TensorProto.INT64])
    check_batches(model, lambda n: {"scores": _RNG.random((n, 100)).astype(np.float32)})


def test_top_k_opset1_attribute_and_middle_axis() -> None:
    x = _RNG.random((3, 6, 2)).astype(np.float32)
    model = _single_node_model("TopK", [("x", TensorProto.FLOAT, x.shape)], ["values", "indices"],
                               {"axis": 1, "k": 4}, opset=7, output_types=[TensorProto.FLOAT, TensorProto.INT64])
    check_model(model, {"x": x})


@pytest.mark.parametrize("dtype", [np.int32, np.float16, np.float64])
def test_top_k_dtypes(dtype: type) -> None:
    x = _RNG.permutation(40).reshape(4, 10).astype(dtype)
    model = _single_node_model("TopK", [("x", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), x.shape)],
                               ["values", "indices"], {}, [_int64("k", [3])], opset=11,
                               output_types=[helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), TensorProto.INT64])
    check_model(model, {"x": x})


# --- Hardmax --------------------------------------------------------------------------------------


@pytest.mark.parametrize("opset", [11, 13])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_hardmax_coercion_vs_axis(opset: int, axis: int) -> None:
    """opset < 13 flattens to 2-D at ``axis``; opset 13 works along ``axis``. Ties included."""
    x = _RNG.integers(0, 4, size=(2, 3, 4)).astype(np.float32)
    model = _single_node_model("Hardmax", [("x", TensorProto.FLOAT, x.shape)], ["y"], {"axis": axis}, opset=opset)
    check_model(model, {"x": x})


def test_hardmax_dynamic_batch() -> None:
    model = _single_node_model("Hardmax", [("x", TensorProto.FLOAT, ["N", 5])], ["y"], {}, opset=13)
    check_batches(model, lambda n: {"x": _RNG.random((n, 5)).astype(np.float32)})


def test_top_k_of_a_data_dependent_count() -> None:
    """SSD postprocessing: TopK(k = min(60, number of boxes above the score threshold))."""
    nodes = [
        helper.make_node("Greater", ["scores", "threshold"], ["chosen"]),
        helper.make_node("Compress", ["scores", "chosen"], ["kept"], axis=0),
        helper.make_node("Shape", ["kept"], ["count"]),
        helper.make_node("Min", ["count", "limit"], ["k"]),
        helper.make_node("TopK", ["kept", "k"], ["values", "indices"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.5, np.float32), "threshold"), _int64("limit", [4])]
    model = make_model(nodes, [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N"])],
                       [helper.make_tensor_value_info("values", TensorProto.FLOAT, None),
                        helper.make_tensor_value_info("indices", TensorProto.INT64, None)], inits, opset=13)
    rep = HybridizedBackend.prepare(model, "CPU")
    for count in (10, 3, 25):
        scores = _RNG.uniform(0, 1, count).astype(np.float32)
        outs = rep.run([scores])
        for ours, ref in zip(outs, reference_outputs(model, {"scores": scores})):
            assert ours.shape == ref.shape and ours.dtype == ref.dtype
            np.testing.assert_array_equal(ours, ref)
    assert not rep.block.is_shape_specialized, rep.block.specialization_reason


def test_sizes_that_depend_on_values_are_never_fixed_into_a_graph() -> None:
    """CumProd unrolls over its axis, so it needs the length; when that length is the number of
    positive inputs, a graph built for one call would be wrong for the next one of the same shape:
    hybridizing must refuse rather than fix it (imperative mode runs)."""
    nodes = [
        helper.make_node("Greater", ["x", "zero"], ["positive"]),
        helper.make_node("Compress", ["x", "positive"], ["kept"], axis=0),
        helper.make_node("CumProd", ["kept", "axis"], ["y"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero"), _int64("axis", [0])]
    model = make_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits, opset=26)
    first = np.array([1, -1, 2, 3, -1, 2], np.float32)
    np.testing.assert_allclose(GluonOnnxBackend.prepare(model, "CPU").run([first])[0], [1, 2, 6, 12])
    rep = HybridizedBackend.prepare(model, "CPU")
    with pytest.raises(HybridizationError, match="even for fixed inputs"):
        rep.run([first])
