"""Attention, RotaryEmbedding, LinearAttention, FlexAttention, SwiGLU against onnxruntime / the reference."""

from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from tests.importer.ops.nn_helpers import check_dynamic_batch, single_node_model, value_info
from tests.importer.ops.oracle import check_model, make_model

RNG = np.random.RandomState(5)


def randn(*shape: int, dtype: str = "float32") -> np.ndarray:
    return RNG.randn(*shape).astype(dtype)


def attention_model(feeds: dict, opset: int, n_outputs: int = 1, dtype: str = "float32", **attrs: object) -> object:
    names = ["y", "present_key", "present_value", "qk"][:n_outputs]
    return single_node_model("Attention", feeds, [(n, dtype) for n in names], opset=opset, **attrs)


def test_attention_gqa_3d_causal_with_cache() -> None:
    feeds = {"q": randn(2, 3, 4 * 8), "k": randn(2, 3, 2 * 8), "v": randn(2, 3, 2 * 6), "mask": None,
             "past_key": randn(2, 2, 5, 8), "past_value": randn(2, 2, 5, 6)}
    feeds.pop("mask")
    model = single_node_model("Attention", {k: feeds[k] for k in ("q", "k", "v")}, [], opset=23)
    node = helper.make_node("Attention", ["q", "k", "v", "", "past_key", "past_value"],
                            ["y", "present_key", "present_value"], is_causal=1, q_num_heads=4, kv_num_heads=2)
    model = make_model([node], [value_info(n, a) for n, a in feeds.items()],
                       [value_info(n, "float32", None) for n in ("y", "present_key", "present_value")], opset=23)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mask_shape, mask_dtype", [((4, 5), "bool"), ((2, 1, 4, 7), "float32"), ((3, 4, 7), "bool")])
def test_attention_masks(mask_shape: tuple, mask_dtype: str) -> None:
    feeds = {"q": randn(2, 3, 4, 8), "k": randn(2, 3, 7, 8), "v": randn(2, 3, 7, 8)}
    if mask_dtype == "bool":
        feeds["mask"] = RNG.rand(*mask_shape) > 0.3
    else:
        feeds["mask"] = randn(*mask_shape)
    # a 2-D mask shorter than the key sequence is padded with "not attended"
    model = attention_model(feeds, 23, n_outputs=1)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("mode", [0, 1, 2, 3])
def test_attention_softcap_and_qk_outputs(mode: int) -> None:
    feeds = {"q": randn(1, 2, 3, 4) * 4, "k": randn(1, 2, 5, 4) * 4, "v": randn(1, 2, 5, 4),
             "mask": randn(3, 5)}
    model = single_node_model("Attention", {k: v for k, v in feeds.items() if k != "mask"}, [], opset=23)
    node = helper.make_node("Attention", ["q", "k", "v", "mask"], ["y", "", "", "qk"], softcap=2.0, scale=0.3,
                            qk_matmul_output_mode=mode)
    model = make_model([node], [value_info(n, a) for n, a in feeds.items()],
                       [value_info("y", "float32", None), value_info("qk", "float32", None)], opset=23)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


def test_attention_nonpad_kv_seqlen_causal() -> None:
    feeds = {"q": randn(3, 2, 2, 4), "k": randn(3, 2, 6, 4), "v": randn(3, 2, 6, 4)}
    lengths = np.array([6, 3, 1], dtype=np.int64)  # the last batch has fully masked query rows
    node = helper.make_node("Attention", ["q", "k", "v", "", "", "", "lengths"], ["y"], is_causal=1)
    model = make_model([node], [value_info(n, a) for n, a in feeds.items()] + [value_info("lengths", lengths)],
                       [value_info("y", "float32", None)], opset=24)
    check_model(model, {**feeds, "lengths": lengths}, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("left, right, causal", [(2, 0, 1), (1, 2, 0), (-1, 1, 0)])
def test_attention_sliding_window(left: int, right: int, causal: int) -> None:
    feeds = {"q": randn(2, 2, 5, 4), "k": randn(2, 2, 5, 4), "v": randn(2, 2, 5, 4)}
    model = attention_model(feeds, 25, left_window_size=left, right_window_size=right, is_causal=causal)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


def test_attention_float16() -> None:
    feeds = {"q": randn(1, 2, 3, 8, dtype="float16"), "k": randn(1, 2, 4, 8, dtype="float16"),
             "v": randn(1, 2, 4, 8, dtype="float16")}
    model = attention_model(feeds, 23, dtype="float16", is_causal=1)
    check_model(model, feeds, rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("rank", [3, 4])
def test_attention_dynamic_batch(rank: int) -> None:
    def make(n: int) -> dict:
        if rank == 3:
            return {"q": randn(n, 4, 2 * 8), "k": randn(n, 6, 8), "v": randn(n, 6, 8), "mask": RNG.rand(4, 6) > 0.2}
        return {"q": randn(n, 2, 4, 8), "k": randn(n, 2, 6, 8), "v": randn(n, 2, 6, 8), "mask": RNG.rand(4, 6) > 0.2}

    feeds = make(1)
    attrs = {"q_num_heads": 2, "kv_num_heads": 1} if rank == 3 else {}
    node = helper.make_node("Attention", ["q", "k", "v", "mask"], ["y"], is_causal=1, **attrs)
    inputs = [value_info(n, a, ("N",) + a.shape[1:]) for n, a in feeds.items() if n != "mask"]
    model = make_model([node], inputs + [value_info("mask", feeds["mask"])], [value_info("y", "float32", None)],
                       opset=23)
    check_dynamic_batch(model, make)


@pytest.mark.parametrize("interleaved, rotary_dim, rank", [(0, 0, 4), (1, 4, 4), (0, 4, 3), (1, 0, 3)])
def test_rotary_embedding(interleaved: int, rotary_dim: int, rank: int) -> None:
    heads, size = 2, 8
    half = (rotary_dim or size) // 2
    x = randn(2, heads, 3, size) if rank == 4 else randn(2, 3, heads * size)
    feeds = {"x": x, "cos": randn(10, half), "sin": randn(10, half),
             "pos": RNG.randint(0, 10, size=(2, 3)).astype(np.int64)}
    attrs = {"num_heads": heads} if rank == 3 else {}
    model = single_node_model("RotaryEmbedding", feeds, [("y", "float32")], opset=23, interleaved=interleaved,
                              rotary_embedding_dim=rotary_dim, **attrs)
    check_model(model, feeds, rtol=1e-5, atol=1e-5)


def test_rotary_embedding_dynamic_batch() -> None:
    cos, sin = randn(10, 4), randn(10, 4)

    def make(n: int) -> dict:
        return {"x": randn(n, 2, 3, 8), "pos": RNG.randint(0, 10, size=(n, 3)).astype(np.int64)}

    node = helper.make_node("RotaryEmbedding", ["x", "cos", "sin", "pos"], ["y"])
    feeds = make(1)
    model = make_model([node], [value_info(n, a, ("N",) + a.shape[1:]) for n, a in feeds.items()],
                       [value_info("y", "float32", None)],
                       [helper.make_tensor("cos", 1, cos.shape, cos.ravel()),
                        helper.make_tensor("sin", 1, sin.shape, sin.ravel())], opset=23)
    check_dynamic_batch(model, make)


@pytest.mark.parametrize("rule", ["linear", "gated", "delta", "gated_delta"])
def test_linear_attention_rules_with_gqa_and_state(rule: int) -> None:
    batch, steps, q_heads, kv_heads, d_k, d_v = 2, 3, 4, 2, 3, 5
    feeds = {"q": randn(batch, steps, q_heads * d_k), "k": randn(batch, steps, kv_heads * d_k) * 0.5,
             "v": randn(batch, steps, kv_heads * d_v), "past": randn(batch, kv_heads, d_k, d_v)}
    names = ["q", "k", "v", "past"]
    if rule in ("gated", "gated_delta"):
        feeds["decay"] = -np.abs(randn(batch, steps, kv_heads * d_k))
        names.append("decay")
    if rule in ("delta", "gated_delta"):
        feeds["beta"] = RNG.rand(batch, steps, kv_heads).astype("float32")
        names += [""] * (5 - len(names)) + ["beta"]
    node = helper.make_node("LinearAttention", names, ["y", "state"], update_rule=rule, q_num_heads=q_heads,
                            kv_num_heads=kv_heads)
    model = make_model([node], [value_info(n, a) for n, a in feeds.items()],
                       [value_info("y", "float32", None), value_info("state", "float32", None)], opset=27)
    check_model(model, feeds, rtol=1e-4, atol=1e-5)


def test_flex_attention_score_mod_hybridized() -> None:
    feeds = {"q": randn(1, 4, 3, 8), "k": randn(1, 2, 5, 8), "v": randn(1, 2, 5, 6)}
    bias = helper.make_tensor("bias", 1, [], [0.25])
    score_mod = helper.make_graph(
        [helper.make_node("Mul", ["scores", "bias"], ["scores_out"])], "score_mod",
        [helper.make_tensor_value_info("scores", 1, ["B", "H", "L", "S"])],
        [helper.make_tensor_value_info("scores_out", 1, ["B", "H", "L", "S"])], [bias])
    model = single_node_model("FlexAttention", feeds, [("y", "float32")], opset=26, domain="ai.onnx.preview",
                              extra_opsets=[("ai.onnx.preview", 1)], score_mod=score_mod, scale=0.5)
    q, k, v = feeds["q"], np.repeat(feeds["k"], 2, axis=1), np.repeat(feeds["v"], 2, axis=1)
    scores = (q @ k.transpose(0, 1, 3, 2)) * 0.5 * 0.25
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    expected = (probs / probs.sum(-1, keepdims=True)) @ v
    check_model(model, feeds, rtol=1e-5, atol=1e-5, expected=[expected.astype("float32")])


@pytest.mark.parametrize("dtype, alpha", [("float32", 1.0), ("float32", 1.7), ("float16", 0.5)])
def test_swiglu(dtype: str, alpha: float) -> None:
    feeds = {"a": randn(3, 4, dtype=dtype), "b": randn(3, 4, dtype=dtype)}
    model = single_node_model("SwiGLU", feeds, [("y", dtype)], opset=28, alpha=alpha)
    tol = 2e-3 if dtype == "float16" else 1e-6
    check_model(model, feeds, rtol=tol, atol=tol)
