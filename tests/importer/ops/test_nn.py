"""Conv, ConvTranspose, DeformConv, Gemm, MatMul, CausalConvWithState against onnxruntime / the reference."""

from __future__ import annotations

import numpy as np
import pytest

from gluon_onnx import load_block
from tests.importer.ops.nn_helpers import assert_close, check_dynamic_batch, run_block, single_node_model, value_info
from tests.importer.ops.oracle import check_model, reference_outputs

RNG = np.random.RandomState(7)


def randn(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.randn(*shape).astype(dtype)


# --- Conv -----------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs, x_shape, w_shape", [
    ({"pads": [1, 0, 2, 1], "strides": [2, 1]}, (2, 3, 7, 6), (4, 3, 3, 3)),
    ({"auto_pad": "SAME_LOWER", "strides": [2, 2]}, (1, 2, 6, 5), (3, 2, 2, 3)),
    ({"auto_pad": "SAME_UPPER", "dilations": [2, 1], "group": 2}, (1, 4, 8, 7), (6, 2, 3, 3)),
    ({"auto_pad": "VALID", "strides": [3]}, (2, 3, 11), (2, 3, 4)),
    ({"pads": [0, 1, 2, 1, 0, 0], "dilations": [1, 2, 1]}, (1, 2, 5, 6, 4), (2, 2, 2, 2, 3)),
])
def test_conv_geometry(attrs: dict, x_shape: tuple, w_shape: tuple) -> None:
    x, w, b = randn(*x_shape), randn(*w_shape), randn(w_shape[0])
    model = single_node_model("Conv", {"x": x}, [("y", "float32")], initializers={"w": w, "b": b}, **attrs)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-4)


def test_conv_float64_and_old_opset() -> None:
    x, w = randn(1, 2, 5, 5, dtype="float64"), randn(3, 2, 3, 3, dtype="float64")
    model = single_node_model("Conv", {"x": x}, [("y", "float64")], initializers={"w": w}, opset=7, pads=[1, 1, 1, 1])
    check_model(model, {"x": x}, rtol=1e-10, atol=1e-10)


def test_conv_dynamic_batch() -> None:
    w, b = randn(4, 3, 3, 3), randn(4)
    model = single_node_model("Conv", {"x": randn(1, 3, 8, 8)}, [("y", "float32")], initializers={"w": w, "b": b},
                              batch_free=True, pads=[1, 1, 1, 1], strides=[2, 2])
    check_dynamic_batch(model, lambda n: {"x": randn(n, 3, 8, 8)}, rtol=1e-4, atol=1e-4)


# --- ConvTranspose ------------------------------------------------------------------------------
@pytest.mark.parametrize("attrs, x_shape, w_shape", [
    ({"strides": [2, 2], "pads": [1, 0, 0, 2]}, (1, 2, 3, 4), (2, 3, 3, 3)),
    ({"strides": [2, 3], "output_padding": [1, 2]}, (2, 1, 3, 3), (1, 2, 3, 3)),
    ({"strides": [2, 2], "output_shape": [8, 7], "auto_pad": "SAME_LOWER"}, (1, 1, 4, 3), (1, 2, 3, 3)),
    ({"strides": [2, 2], "auto_pad": "SAME_UPPER"}, (1, 2, 3, 3), (2, 1, 4, 4)),
    ({"strides": [3, 2], "pads": [1, 1, 1, 1], "output_padding": [2, 1], "dilations": [1, 2]},
     (1, 2, 3, 4), (2, 2, 3, 2)),
    ({"group": 2, "strides": [2]}, (1, 4, 5), (4, 3, 3)),
    ({"strides": [1, 2, 2], "pads": [0, 1, 0, 1, 0, 1]}, (1, 2, 3, 3, 3), (2, 2, 2, 3, 3)),
])
def test_conv_transpose_geometry(attrs: dict, x_shape: tuple, w_shape: tuple) -> None:
    x, w, b = randn(*x_shape), randn(*w_shape), randn(w_shape[1] * attrs.get("group", 1))
    model = single_node_model("ConvTranspose", {"x": x}, [("y", "float32")], initializers={"w": w, "b": b}, **attrs)
    check_model(model, {"x": x}, rtol=1e-4, atol=1e-4)


def test_conv_transpose_dynamic_batch() -> None:
    w = randn(3, 2, 3, 3)
    model = single_node_model("ConvTranspose", {"x": randn(1, 3, 4, 4)}, [("y", "float32")], initializers={"w": w},
                              batch_free=True, strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 1])
    check_dynamic_batch(model, lambda n: {"x": randn(n, 3, 4, 4)}, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("pads, output_padding", [([0, 0, 0, 0], None), ([1, 0, 0, 2], [1, 0])])
def test_conv_transpose_with_pads_serves_every_image_size(pads: list, output_padding: list | None) -> None:
    """Pads crop a fixed number of rows whatever the input size (PaddleOCR's detector upsamples
    images of any size this way): one hybridized graph for every height and width."""
    w, b = randn(3, 2, 2, 2), randn(2)
    attrs = {"strides": [2, 2], "pads": pads, **({"output_padding": output_padding} if output_padding else {})}
    model = single_node_model("ConvTranspose", {"x": randn(1, 3, 4, 4)}, [("y", "float32")],
                              initializers={"w": w, "b": b}, **attrs)
    model.graph.input[0].CopyFrom(value_info("x", "float32", ["N", 3, "H", "W"]))
    block = load_block(model)
    block.hybridize(static_alloc=True, static_shape=True)
    for shape in [(1, 3, 4, 4), (2, 3, 5, 7), (1, 3, 9, 3)]:
        feeds = {"x": randn(*shape)}
        assert_close(run_block(block, feeds), reference_outputs(model, feeds), 1e-4, 1e-4, str(shape))
    assert not block.is_shape_specialized, block.specialization_reason


# --- DeformConv ---------------------------------------------------------------------------------------
def test_deform_conv_asymmetric_pads_groups_and_mask() -> None:
    x, w, b = randn(1, 4, 5, 6), randn(4, 2, 2, 2), randn(4)
    # output 5x5 from pads (1, 0, 0, 0): (5 + 1 - 2) + 1 = 5, (6 - 2) + 1 = 5
    offset = randn(1, 2 * 2 * 2 * 2, 5, 5)
    mask = RNG.rand(1, 2 * 2 * 2, 5, 5).astype("float32")
    model = single_node_model("DeformConv", {"x": x, "w": w, "offset": offset, "b": b, "mask": mask},
                              [("y", "float32")], opset=19, pads=[1, 0, 0, 0], group=2, offset_group=2)
    check_model(model, {"x": x, "w": w, "offset": offset, "b": b, "mask": mask}, rtol=1e-4, atol=1e-4)


# --- Gemm / MatMul ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int32", "int64"])
@pytest.mark.parametrize("shapes", [((3, 4), (4, 5)), ((2, 3, 4), (4,)), ((4,), (4,)), ((4,), (2, 4, 5)),
                                    ((2, 1, 3, 4), (5, 4, 6))])
def test_matmul_ranks_and_dtypes(dtype: str, shapes: tuple) -> None:
    a, b = (RNG.randn(*shapes[0]) * 3).astype(dtype), (RNG.randn(*shapes[1]) * 3).astype(dtype)
    model = single_node_model("MatMul", {"a": a, "b": b}, [("y", dtype)], opset=13)
    check_model(model, {"a": a, "b": b}, rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", ["float32", "float16", "float64", "int64"])
@pytest.mark.parametrize("c_shape", [None, (5,), (3, 1), (1, 5), (), (3, 5)])
def test_gemm_bias_broadcast_and_dtypes(dtype: str, c_shape: tuple | None) -> None:
    a, b = (RNG.randn(4, 3) * 3).astype(dtype), (RNG.randn(5, 4) * 3).astype(dtype)
    feeds = {"a": a, "b": b}
    if c_shape is not None:
        feeds["c"] = np.asarray(RNG.randn(*c_shape) * 3).astype(dtype)
    model = single_node_model("Gemm", feeds, [("y", dtype)], opset=13, transA=1, transB=1, alpha=0.5, beta=2.0)
    check_model(model, feeds, rtol=1e-3, atol=1e-3)


def test_gemm_fully_connected_dynamic_batch() -> None:
    w, c = randn(6, 4), randn(6)
    model = single_node_model("Gemm", {"a": randn(1, 4)}, [("y", "float32")], initializers={"w": w, "c": c},
                              batch_free=True, transB=1)
    check_dynamic_batch(model, lambda n: {"a": randn(n, 4)}, rtol=1e-5, atol=1e-5)


# --- CausalConvWithState ------------------------------------------------------------------------------
@pytest.mark.parametrize("with_state, activation", [(False, "none"), (True, "silu")])
def test_causal_conv_with_state_carries_state(with_state: bool, activation: str) -> None:
    feeds = {"x": randn(2, 3, 5), "w": randn(3, 1, 4), "b": randn(3)}
    if with_state:
        feeds["past"] = randn(2, 3, 3)
    model = single_node_model("CausalConvWithState", feeds, [("y", "float32"), ("state", "float32")], opset=27,
                              activation=activation)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


def test_float16_convolutions() -> None:
    x = randn(1, 2, 5, 5, dtype="float16")
    model = single_node_model("Conv", {"x": x}, [("y", "float16")],
                              initializers={"w": randn(3, 2, 3, 3, dtype="float16"), "b": randn(3, dtype="float16")},
                              pads=[0, 1, 1, 0])
    check_model(model, {"x": x}, rtol=3e-3, atol=3e-3)
    model = single_node_model("ConvTranspose", {"x": x}, [("y", "float16")],
                              initializers={"w": randn(2, 3, 3, 3, dtype="float16")}, strides=[2, 2], pads=[1, 0, 0, 1])
    check_model(model, {"x": x}, rtol=3e-3, atol=3e-3)
