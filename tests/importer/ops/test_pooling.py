"""MaxPool, AveragePool, LpPool, global pooling and MaxUnpool against onnxruntime / the reference."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper
from onnx.reference import ReferenceEvaluator

from tests.importer.ops.nn_helpers import check_dynamic_batch, single_node_model, value_info
from tests.importer.ops.oracle import check_model, make_model

RNG = np.random.RandomState(11)

GEOMETRIES = [
    {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 0, 0, 1], "ceil_mode": 1},
    {"kernel_shape": [2, 3], "strides": [2, 2], "dilations": [2, 1], "ceil_mode": 1},
    {"kernel_shape": [3, 2], "strides": [1, 2], "dilations": [2, 2], "pads": [2, 1, 1, 0]},
    {"kernel_shape": [3, 3], "strides": [3, 3], "ceil_mode": 1, "pads": [1, 1, 1, 1]},
    {"kernel_shape": [2, 2], "auto_pad": "SAME_LOWER", "strides": [2, 2]},
]


@pytest.mark.parametrize("attrs", GEOMETRIES)
def test_max_pool_geometry(attrs: dict) -> None:
    x = RNG.randn(2, 3, 7, 8).astype("float32")
    model = single_node_model("MaxPool", {"x": x}, [("y", "float32")], opset=12, **attrs)
    check_model(model, {"x": x})


@pytest.mark.parametrize("count_include_pad", [0, 1])
@pytest.mark.parametrize("attrs", GEOMETRIES)
def test_average_pool_geometry(attrs: dict, count_include_pad: int) -> None:
    x = RNG.randn(2, 3, 7, 8).astype("float32")
    model = single_node_model("AveragePool", {"x": x}, [("y", "float32")], opset=19,
                              count_include_pad=count_include_pad, **attrs)
    check_model(model, {"x": x})


@pytest.mark.parametrize("storage_order", [0, 1])
@pytest.mark.parametrize("attrs", [{"kernel_shape": [2, 2], "strides": [2, 2]},
                                   {"kernel_shape": [3, 2], "pads": [1, 1, 1, 0], "dilations": [1, 2]},
                                   {"kernel_shape": [2, 2, 2], "strides": [1, 2, 2]}])
def test_max_pool_indices(attrs: dict, storage_order: int) -> None:
    spatial = (5, 6, 4) if len(attrs["kernel_shape"]) == 3 else (5, 6)
    x = RNG.randn(2, 3, *spatial).astype("float32")
    model = single_node_model("MaxPool", {"x": x}, [("y", "float32"), ("i", "int64")], opset=12,
                              storage_order=storage_order, **attrs)
    check_model(model, {"x": x})


@pytest.mark.parametrize("dtype", ["int8", "uint8"])
def test_max_pool_integers(dtype: str) -> None:
    x = RNG.randint(0 if dtype == "uint8" else -100, 100, size=(1, 2, 6, 6)).astype(dtype)
    model = single_node_model("MaxPool", {"x": x}, [("y", dtype)], opset=12, kernel_shape=[3, 3],
                              pads=[1, 1, 1, 1], strides=[2, 2])
    check_model(model, {"x": x})


def test_max_pool_float64_and_opset_8() -> None:
    x = RNG.randn(1, 2, 5, 5)
    model = single_node_model("MaxPool", {"x": x}, [("y", "float64")], opset=8, kernel_shape=[2, 2])
    check_model(model, {"x": x})


@pytest.mark.parametrize("p", [1, 2, 3])
def test_lp_pool(p: int) -> None:
    x = RNG.randn(1, 2, 6, 7).astype("float32")
    model = single_node_model("LpPool", {"x": x}, [("y", "float32")], opset=18, p=p, kernel_shape=[3, 2],
                              strides=[2, 1], pads=[1, 0, 0, 1], dilations=[1, 2])
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("p", [1, 2])
def test_global_lp_pool(p: int) -> None:
    x = RNG.randn(2, 3, 4, 5).astype("float32")
    model = single_node_model("GlobalLpPool", {"x": x}, [("y", "float32")], opset=2, p=p)
    check_model(model, {"x": x}, rtol=1e-5, atol=1e-5)


def test_max_unpool_inverts_max_pool() -> None:
    x = RNG.randn(1, 2, 6, 6).astype("float32")
    pool = helper.make_node("MaxPool", ["x"], ["p", "i"], kernel_shape=[2, 2], strides=[2, 2])
    unpool = helper.make_node("MaxUnpool", ["p", "i", "shape"], ["y"], kernel_shape=[2, 2], strides=[2, 2])
    shape = helper.make_tensor("shape", helper.np_dtype_to_tensor_dtype(np.dtype("int64")), [4], [1, 2, 7, 7])
    model = make_model([pool, unpool], [value_info("x", x)], [value_info("y", "float32", None)], [shape], opset=11)
    # onnxruntime scatters into the 7x7 layout; the ONNX reference and the official suite
    # (test_maxunpool_export_with_output_shape) scatter into the unpooled 6x6 shape and pad after it
    check_model(model, {"x": x}, expected=ReferenceEvaluator(model).run(None, {"x": x}))


@pytest.mark.parametrize("op_type, attrs", [
    ("MaxPool", {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool", {"kernel_shape": [2, 2], "dilations": [2, 2], "ceil_mode": 1}),
    ("AveragePool", {"kernel_shape": [3, 3], "pads": [0, 0, 1, 1]}),
    ("GlobalAveragePool", {}),
])
def test_pool_dynamic_batch(op_type: str, attrs: dict) -> None:
    model = single_node_model(op_type, {"x": RNG.randn(1, 3, 7, 7).astype("float32")}, [("y", "float32")],
                              batch_free=True, opset=12, **attrs)
    check_dynamic_batch(model, lambda n: {"x": RNG.randn(n, 3, 7, 7).astype("float32")})


def test_max_pool_indices_dynamic_batch() -> None:
    model = single_node_model("MaxPool", {"x": RNG.randn(1, 2, 4, 4).astype("float32")},
                              [("y", "float32"), ("i", "int64")], batch_free=True, opset=12, kernel_shape=[2, 2])
    check_dynamic_batch(model, lambda n: {"x": RNG.randn(n, 2, 4, 4).astype("float32")})
