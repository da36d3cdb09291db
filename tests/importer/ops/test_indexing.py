"""Gather/Scatter family, OneHot and the data-dependent NonZero/Unique/Compress against onnxruntime /
the onnx reference, beyond the official node tests: negative indices, dynamic sizes after hybridize(),
int64 token ids, reductions with duplicate indices, other opsets."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

from gluon_onnx.backend import HybridizedBackend

from .oracle import check_model, make_model, reference_outputs
from .test_reduce import _int64, _single_node_model, check_batches

_RNG = np.random.default_rng(11)


# --- Gather ---------------------------------------------------------------------------------------


def test_gather_token_ids_dynamic_sequence() -> None:
    """Embedding lookup as exported by transformers: float table, int64 ids of dynamic shape."""
    table = _RNG.random((50, 8)).astype(np.float32)
    model = _single_node_model("Gather", [("ids", TensorProto.INT64, ["N", "S"])], ["y"], {"axis": 0},
                               opset=13, output_types=[TensorProto.FLOAT])
    model.graph.initializer.append(numpy_helper.from_array(table, "table"))
    node = model.graph.node[0]
    node.input[:] = ["table", "ids"]
    check_batches(model, lambda n: {"ids": _RNG.integers(0, 50, size=(n, 2 * n + 1)).astype(np.int64)})


@pytest.mark.parametrize("index_dtype", [np.int64, np.int32])
def test_gather_negative_indices_middle_axis(index_dtype: type) -> None:
    x = _RNG.random((3, 5, 2)).astype(np.float32)
    indices = np.array([[-1, 0], [-5, 4]], dtype=index_dtype)
    model = _single_node_model("Gather", [("x", TensorProto.FLOAT, x.shape),
                                          ("i", helper.np_dtype_to_tensor_dtype(np.dtype(index_dtype)), indices.shape)],
                               ["y"], {"axis": 1}, opset=13)
    check_model(model, {"x": x, "i": indices})


def test_gather_scalar_index_drops_axis() -> None:
    """x[:, 0] as exported for a CLS token: a 0-d index removes the axis."""
    model = _single_node_model("Gather", [("x", TensorProto.FLOAT, ["N", 4, 3])], ["y"], {"axis": 1},
                               [numpy_helper.from_array(np.array(-1, dtype=np.int64), "i")], opset=11)
    check_batches(model, lambda n: {"x": _RNG.random((n, 4, 3)).astype(np.float32)})


# --- GatherElements / GatherND --------------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_gather_elements_dynamic_batch(axis: int) -> None:
    model = _single_node_model("GatherElements", [("x", TensorProto.FLOAT, ["N", 4, 3]),
                                                  ("i", TensorProto.INT64, ["N", 2, 3])], ["y"], {"axis": axis},
                               opset=13)

    def feeds(n: int) -> dict:
        size = {0: n, 1: 4, -1: 3}[axis]
        return {"x": _RNG.random((n, 4, 3)).astype(np.float32),
                "i": _RNG.integers(-size, size, size=(n, 2, 3)).astype(np.int64)}

    check_batches(model, feeds)


@pytest.mark.parametrize("batch_dims", [0, 1, 2])
def test_gather_nd_batch_dims_dynamic(batch_dims: int) -> None:
    index_depth = 3 - batch_dims
    model = _single_node_model("GatherND", [("x", TensorProto.FLOAT, ["N", 3, 4, 2]),
                                            ("i", TensorProto.INT64, ["N", 3, 5, index_depth][:batch_dims] +
                                             [5, index_depth])],
                               ["y"], {"batch_dims": batch_dims}, opset=13)

    def feeds(n: int) -> dict:
        dims = [n, 3, 4, 2]
        index = np.stack([_RNG.integers(-dims[a], dims[a], size=[n, 3][:batch_dims] + [5])
                          for a in range(batch_dims, batch_dims + index_depth)], axis=-1)
        return {"x": _RNG.random((n, 3, 4, 2)).astype(np.float32), "i": index.astype(np.int64)}

    check_batches(model, feeds)


def test_gather_nd_full_tuples_int32_data() -> None:
    x = _RNG.integers(0, 100, size=(4, 5)).astype(np.int32)
    indices = np.array([[[0, 1]], [[3, -1]]], dtype=np.int64)
    model = _single_node_model("GatherND", [("x", TensorProto.INT32, x.shape), ("i", TensorProto.INT64, indices.shape)],
                               ["y"], opset=11)
    check_model(model, {"x": x, "i": indices})


# --- Scatter family -------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
@pytest.mark.parametrize("axis", [0, 1])
def test_scatter_elements_duplicates_and_negative_indices(reduction: str, axis: int) -> None:
    data = _RNG.standard_normal((3, 4)).astype(np.float32)
    size = data.shape[axis]
    if reduction == "none":  # duplicates have no defined result without a reduction
        indices = np.stack([_RNG.permutation(size)[:2] - size * (k % 2) for k in range(3 if axis else 4)],
                           axis=axis).astype(np.int64)
    else:
        indices = _RNG.integers(-size, size, size=(2, 3) if axis == 0 else (3, 3)).astype(np.int64)
    updates = _RNG.standard_normal(indices.shape).astype(np.float32)
    model = _single_node_model("ScatterElements", [("d", TensorProto.FLOAT, data.shape),
                                                   ("i", TensorProto.INT64, indices.shape),
                                                   ("u", TensorProto.FLOAT, updates.shape)],
                               ["y"], {"axis": axis, "reduction": reduction}, opset=18)
    check_model(model, {"d": data, "i": indices, "u": updates})


@pytest.mark.parametrize("reduction", ["add", "max", "min", "mul"])
def test_scatter_elements_integers(reduction: str) -> None:
    data = _RNG.integers(-9, 9, size=(2, 5)).astype(np.int64)
    indices = np.array([[0, 0, 4], [1, 1, 1]], dtype=np.int64)
    updates = _RNG.integers(-9, 9, size=indices.shape).astype(np.int64)
    model = _single_node_model("ScatterElements", [("d", TensorProto.INT64, data.shape),
                                                   ("i", TensorProto.INT64, indices.shape),
                                                   ("u", TensorProto.INT64, updates.shape)],
                               ["y"], {"axis": 1, "reduction": reduction}, opset=18)
    check_model(model, {"d": data, "i": indices, "u": updates})


def test_scatter_elements_dynamic_batch() -> None:
    model = _single_node_model("ScatterElements", [("d", TensorProto.FLOAT, ["N", 6]),
                                                   ("i", TensorProto.INT64, ["N", 2]),
                                                   ("u", TensorProto.FLOAT, ["N", 2])], ["y"], {"axis": 1}, opset=13)

    def feeds(n: int) -> dict:
        index = np.stack([_RNG.permutation(6)[:2] for _ in range(n)]).astype(np.int64)
        return {"d": _RNG.random((n, 6)).astype(np.float32), "i": index,
                "u": _RNG.random((n, 2)).astype(np.float32)}

    check_batches(model, feeds)


def test_scatter_opset9() -> None:
    data = np.zeros((3, 3), dtype=np.float32)
    indices = np.array([[1, 0, 2], [0, 2, 1]], dtype=np.int64)
    updates = _RNG.random(indices.shape).astype(np.float32)
    inputs = [("d", TensorProto.FLOAT, data.shape), ("i", TensorProto.INT64, indices.shape),
              ("u", TensorProto.FLOAT, updates.shape)]
    model = _single_node_model("Scatter", inputs, ["y"], {"axis": 0}, opset=9)
    check_model(model, {"d": data, "i": indices, "u": updates})


@pytest.mark.parametrize("reduction", ["none", "add", "mul", "max", "min"])
def test_scatter_nd_slices_with_duplicates(reduction: str) -> None:
    data = _RNG.standard_normal((4, 3, 2)).astype(np.float32)
    indices = np.array([[[0, 1]], [[-1, 2]], [[0, -2]]], dtype=np.int64) if reduction != "none" else \
        np.array([[[0, 1]], [[-1, 2]], [[2, 0]]], dtype=np.int64)
    updates = _RNG.standard_normal((3, 1, 2)).astype(np.float32)
    inputs = [("d", TensorProto.FLOAT, data.shape), ("i", TensorProto.INT64, indices.shape),
              ("u", TensorProto.FLOAT, updates.shape)]
    model = _single_node_model("ScatterND", inputs, ["y"], {"reduction": reduction}, opset=18)
    check_model(model, {"d": data, "i": indices, "u": updates})


def test_scatter_nd_rows_dynamic_batch() -> None:
    """Row updates into a (N, 5) table: the row count is dynamic, each row has a fixed size."""
    model = _single_node_model("ScatterND", [("d", TensorProto.FLOAT, ["N", 5]), ("i", TensorProto.INT64, [2, 1]),
                                             ("u", TensorProto.FLOAT, [2, 5])], ["y"], {}, opset=13)

    def feeds(n: int) -> dict:
        return {"d": _RNG.random((n, 5)).astype(np.float32), "i": np.array([[n - 1], [0]], dtype=np.int64),
                "u": _RNG.random((2, 5)).astype(np.float32)}

    check_batches(model, feeds, batches=(2, 4))


@pytest.mark.parametrize("mode", ["linear", "circular"])
@pytest.mark.parametrize("with_indices", [True, False])
def test_tensor_scatter_kv_cache(mode: str, with_indices: bool) -> None:
    cache = _RNG.random((2, 3, 6, 4)).astype(np.float32)
    update = _RNG.random((2, 3, 3, 4)).astype(np.float32)
    inputs = [("cache", TensorProto.FLOAT, cache.shape), ("update", TensorProto.FLOAT, update.shape)]
    feeds = {"cache": cache, "update": update}
    if with_indices:
        inputs.append(("w", TensorProto.INT64, [2]))
        feeds["w"] = np.array([1, 3 if mode == "linear" else 5], dtype=np.int64)
    model = _single_node_model("TensorScatter", inputs, ["y"], {"mode": mode, "axis": 2}, opset=24)
    check_model(model, feeds)


# --- OneHot ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, 1])
def test_one_hot_negative_and_out_of_range_indices(axis: int) -> None:
    indices = np.array([[0, -1, 5], [-6, 2, 9]], dtype=np.int64)
    values = np.array([-2.0, 3.5], dtype=np.float32)
    inputs = [("i", TensorProto.INT64, indices.shape), ("v", TensorProto.FLOAT, [2])]
    depth = numpy_helper.from_array(np.array(6, dtype=np.int64), "depth")
    model = _single_node_model("OneHot", inputs, ["y"], {"axis": axis}, [depth],
                               opset=11, output_types=[TensorProto.FLOAT])
    model.graph.node[0].input[:] = ["i", "depth", "v"]
    check_model(model, {"i": indices, "v": values})


def test_one_hot_dynamic_batch_int_values() -> None:
    model = _single_node_model("OneHot", [("i", TensorProto.INT32, ["N"]), ("v", TensorProto.INT64, [2])], ["y"],
                               {}, [numpy_helper.from_array(np.array([4.0], dtype=np.float32), "depth")],
                               opset=11, output_types=[TensorProto.INT64])
    model.graph.node[0].input[:] = ["i", "depth", "v"]
    check_batches(model, lambda n: {"i": _RNG.integers(-4, 4, size=n).astype(np.int32),
                                    "v": np.array([0, 7], dtype=np.int64)})


# --- NonZero / Unique / Compress (imperative only) ------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_nonzero(dtype: type) -> None:
    x = (_RNG.integers(0, 3, size=(3, 4, 2)) * (_RNG.random((3, 4, 2)) > 0.5)).astype(dtype)
    model = _single_node_model("NonZero", [("x", helper.np_dtype_to_tensor_dtype(np.dtype(dtype)), x.shape)], ["y"],
                               opset=13, output_types=[TensorProto.INT64])
    check_model(model, {"x": x}, modes=("imperative",))


def test_nonzero_none_found() -> None:
    x = np.zeros((2, 3), dtype=np.float32)
    model = _single_node_model("NonZero", [("x", TensorProto.FLOAT, x.shape)], ["y"], opset=13,
                               output_types=[TensorProto.INT64])
    check_model(model, {"x": x}, modes=("imperative",))


@pytest.mark.parametrize("sorted_", [0, 1])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.int8])
def test_unique_many_duplicates(sorted_: int, dtype: type) -> None:
    """First-occurrence indices and the inverse mapping with many repeated values."""
    x = _RNG.integers(-5, 6, size=300).astype(dtype)
    elem = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    model = _single_node_model("Unique", [("x", elem, x.shape)], ["y", "first", "inverse", "counts"],
                               {"sorted": sorted_}, opset=11,
                               output_types=[elem, TensorProto.INT64, TensorProto.INT64, TensorProto.INT64])
    check_model(model, {"x": x}, modes=("imperative",))


def test_unique_rows_not_sorted() -> None:
    x = _RNG.integers(0, 2, size=(8, 3)).astype(np.float32)
    model = _single_node_model("Unique", [("x", TensorProto.FLOAT, x.shape)], ["y", "first", "inverse", "counts"],
                               {"sorted": 0, "axis": 0}, opset=11,
                               output_types=[TensorProto.FLOAT, TensorProto.INT64, TensorProto.INT64,
                                             TensorProto.INT64])
    check_model(model, {"x": x}, modes=("imperative",))


@pytest.mark.parametrize("axis", [None, 0, -1])
def test_compress_short_condition_and_none_selected(axis: int | None) -> None:
    x = _RNG.random((4, 3)).astype(np.float32)
    attrs = {} if axis is None else {"axis": axis}
    for condition in (np.array([True, False], dtype=bool), np.zeros(3, dtype=bool)):
        model = _single_node_model("Compress", [("x", TensorProto.FLOAT, x.shape),
                                                ("c", TensorProto.BOOL, condition.shape)], ["y"], attrs, opset=11)
        check_model(model, {"x": x, "c": condition}, modes=("imperative",))


def test_top_k_indices_feed_gather_elements_dynamic_batch() -> None:
    """Two chained indexing ops: TopK indices feed GatherElements (a detection-head pattern)."""
    nodes = [helper.make_node("TopK", ["scores", "k"], ["v", "idx"], axis=1),
             helper.make_node("GatherElements", ["boxes", "idx"], ["picked"], axis=1)]
    model = make_model(nodes, [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 20]),
                               helper.make_tensor_value_info("boxes", TensorProto.FLOAT, ["N", 20])],
                       [helper.make_tensor_value_info("picked", TensorProto.FLOAT, None)],
                       [_int64("k", [5])], opset=13)
    check_batches(model, lambda n: {"scores": _RNG.random((n, 20)).astype(np.float32),
                                    "boxes": _RNG.random((n, 20)).astype(np.float32)})


@pytest.mark.parametrize("reduction", ["none", "add"])
def test_scatter_nd_out_of_range_index_does_not_crash(reduction: str) -> None:
    """Invalid indices have no defined result, but must not write outside the tensor (MXNet's
    scatter kernels do not check bounds)."""
    model = _single_node_model("ScatterND", [("d", TensorProto.FLOAT, [4, 2]), ("i", TensorProto.INT64, [2, 1]),
                                             ("u", TensorProto.FLOAT, [2, 2])], ["y"], {"reduction": reduction},
                               opset=18)
    rep = HybridizedBackend.prepare(model, "CPU")
    data = np.zeros((4, 2), dtype=np.float32)
    (out,) = rep.run([data, np.array([[2**40], [-9]], dtype=np.int64), np.ones((2, 2), dtype=np.float32)])
    assert out.shape == data.shape
    assert np.isfinite(out).all()


def test_gather_elements_rank7() -> None:
    """Rank 7 (NLL loss over N, C, d1..d5): beyond MXNet's 6-d slice and 5-d numpy broadcast limits."""
    x = _RNG.random((2, 3, 2, 1, 2, 1, 2)).astype(np.float32)
    indices = _RNG.integers(-3, 3, size=(2, 1, 2, 1, 2, 1, 2)).astype(np.int64)
    model = _single_node_model("GatherElements", [("x", TensorProto.FLOAT, x.shape),
                                                  ("i", TensorProto.INT64, indices.shape)], ["y"], {"axis": 1},
                               opset=13)
    check_model(model, {"x": x, "i": indices})


def test_one_hot_rank6_output() -> None:
    indices = _RNG.integers(0, 3, size=(2, 1, 2, 1, 2)).astype(np.int64)
    depth = numpy_helper.from_array(np.array(3, dtype=np.int64), "depth")
    model = _single_node_model("OneHot", [("i", TensorProto.INT64, indices.shape), ("v", TensorProto.FLOAT, [2])],
                               ["y"], {"axis": 2}, [depth], opset=11, output_types=[TensorProto.FLOAT])
    model.graph.node[0].input[:] = ["i", "depth", "v"]
    check_model(model, {"i": indices, "v": np.array([0.5, 2.0], dtype=np.float32)})


@pytest.mark.parametrize("op", ["ScatterND", "ScatterElements"])
def test_scatter_bool_mask(op: str) -> None:
    data = np.zeros((3, 4), dtype=bool)
    indices = np.array([[0, 1], [2, 3]], dtype=np.int64) if op == "ScatterND" else np.array([[1], [3], [0]])
    updates = np.ones(2 if op == "ScatterND" else (3, 1), dtype=bool)
    inputs = [("d", TensorProto.BOOL, data.shape), ("i", TensorProto.INT64, indices.shape),
              ("u", TensorProto.BOOL, updates.shape)]
    attrs = {} if op == "ScatterND" else {"axis": 1}
    model = _single_node_model(op, inputs, ["y"], attrs, opset=13)
    check_model(model, {"d": data, "i": indices.astype(np.int64), "u": updates})


def test_one_hot_bool_values() -> None:
    depth = numpy_helper.from_array(np.array(3, dtype=np.int64), "depth")
    model = _single_node_model("OneHot", [("i", TensorProto.INT64, [4]), ("v", TensorProto.BOOL, [2])], ["y"], {},
                               [depth], opset=11, output_types=[TensorProto.BOOL])
    model.graph.node[0].input[:] = ["i", "depth", "v"]
    # no oracle runs bool OneHot: -1 wraps to class 2, 5 is out of range (all off)
    expected = np.arange(3) == np.array([0, 2, 2, -100])[:, None]
    check_model(model, {"i": np.array([0, 2, -1, 5], dtype=np.int64), "v": np.array([False, True])},
                expected=[expected])


def test_data_dependent_shapes_inside_one_hybridized_block():
    """NonZero/Compress/Unique trace into MXNet's dynamic-shape partitions: the same hybridized
    block gives correct, differently sized results for different input values."""
    nodes = [
        helper.make_node("NonZero", ["x"], ["nz"]),
        helper.make_node("ReduceSum", ["nz"], ["nz_sum"], keepdims=0),
        helper.make_node("Greater", ["x", "zero"], ["positive"]),
        helper.make_node("Compress", ["x", "positive_flat"], ["picked"], axis=0),
        helper.make_node("Unique", ["x_flat"], ["uniq"], sorted=1),
        helper.make_node("Reshape", ["positive", "minus_one"], ["positive_flat"]),
        helper.make_node("Reshape", ["x", "minus_one"], ["x_flat"]),
    ]
    nodes = [nodes[0], nodes[1], nodes[2], nodes[5], nodes[6], nodes[3], nodes[4]]
    graph = helper.make_graph(
        nodes, "dyn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [6])],
        [helper.make_tensor_value_info("nz", TensorProto.INT64, [1, None]),
         helper.make_tensor_value_info("nz_sum", TensorProto.INT64, []),
         helper.make_tensor_value_info("picked", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("uniq", TensorProto.FLOAT, [None])],
        [numpy_helper.from_array(np.array(0, np.float32), "zero"),
         numpy_helper.from_array(np.array([-1], np.int64), "minus_one")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    rep = HybridizedBackend.prepare(model, "CPU")
    for x in (np.array([0, 2, 0, -1, 2, 5], np.float32), np.array([1, 1, 0, 0, 0, 0], np.float32)):
        expected = reference_outputs(model, {"x": x})
        for ours, ref in zip(rep.run([x]), expected):
            np.testing.assert_array_equal(ours, ref)
