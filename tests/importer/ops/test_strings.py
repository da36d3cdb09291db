"""String operators (host, imperative only), TfIdfVectorizer and LabelEncoder against onnxruntime /
the onnx reference."""

from __future__ import annotations

import io

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gluon_onnx import load_block
from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend
from gluon_onnx.errors import HybridizationError

from .oracle import check_model, make_model, reference_outputs


def _vi(name: str, elem: int, shape: list | None) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, elem, shape)


def _ml_model(node: onnx.NodeProto, inputs: list, outputs: list, ml_opset: int) -> onnx.ModelProto:
    graph = helper.make_graph([node], "test", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 19),
                                                    helper.make_opsetid("ai.onnx.ml", ml_opset)])
    model.ir_version = 9
    return model


def _imperative(model: onnx.ModelProto, feeds: list) -> list[np.ndarray]:
    return list(GluonOnnxBackend.prepare(model, "CPU").run(feeds))


def test_string_ops_chain_imperative_and_refused_when_hybridized() -> None:
    concat = helper.make_node("StringConcat", ["a", "b"], ["c"])
    split = helper.make_node("StringSplit", ["c"], ["parts", "counts"], delimiter="-", maxsplit=1)
    model = make_model([concat, split], [_vi("a", TensorProto.STRING, [3]), _vi("b", TensorProto.STRING, [1])],
                       [_vi("parts", TensorProto.STRING, None), _vi("counts", TensorProto.INT64, None)], opset=20)
    a = np.array(["x-y", "z", "p-q-r"], dtype=object)
    b = np.array(["-end"], dtype=object)
    parts, counts = _imperative(model, [a, b])
    ref_parts, ref_counts = reference_outputs(model, {"a": a, "b": b})
    np.testing.assert_array_equal(parts, ref_parts)
    np.testing.assert_array_equal(counts, ref_counts)
    assert counts.dtype == np.int64
    with pytest.raises(HybridizationError):
        HybridizedBackend.prepare(model, "CPU").run([a, b])


def test_regex_full_match_output_feeds_mxnet_ops() -> None:
    match = helper.make_node("RegexFullMatch", ["x"], ["m"], pattern=r"[a-z]+\d*")
    cast = helper.make_node("Cast", ["m"], ["y"], to=TensorProto.INT32)
    model = make_model([match, cast], [_vi("x", TensorProto.STRING, [2, 2])], [_vi("y", TensorProto.INT32, [2, 2])],
                       opset=20)
    x = np.array([["abc1", "ABC"], ["", "zz99"]], dtype=object)
    (y,) = _imperative(model, [x])
    np.testing.assert_array_equal(y, [[1, 0], [0, 1]])


@pytest.mark.parametrize("shape", [[4], [1, 4]])
def test_string_normalizer_removes_stopwords_case_insensitively(shape: list) -> None:
    node = helper.make_node("StringNormalizer", ["x"], ["y"], case_change_action="UPPER", stopwords=["the", "A"])
    model = make_model([node], [_vi("x", TensorProto.STRING, shape)], [_vi("y", TensorProto.STRING, None)], opset=10)
    x = np.array(["The", "cat", "a", "Sat"], dtype=object).reshape(shape)
    (y,) = _imperative(model, [x])
    np.testing.assert_array_equal(y, np.array(["CAT", "SAT"], dtype=object).reshape([-1] if len(shape) == 1 else
                                                                                        [1, -1]))


def _tfidf_model(input_type: int, shape: list, **attrs: object) -> onnx.ModelProto:
    node = helper.make_node("TfIdfVectorizer", ["x"], ["y"], **attrs)
    return make_model([node], [_vi("x", input_type, shape)], [_vi("y", TensorProto.FLOAT, None)], opset=9)


TFIDF_INT_ATTRS = dict(min_gram_length=1, max_gram_length=3, max_skip_count=2, ngram_counts=[0, 4, 10],
                       ngram_indexes=list(range(8)), pool_int64s=[2, 3, 5, 4, 5, 6, 7, 8, 6, 7, 5, 6, 7])


@pytest.mark.parametrize("mode,weights", [("TF", None), ("IDF", None), ("IDF", [0.5, 1, 2, 3, 4, 5, 6, 7]),
                                          ("TFIDF", [0.5, 1, 2, 3, 4, 5, 6, 7])])
@pytest.mark.parametrize("input_type", [TensorProto.INT32, TensorProto.INT64])
def test_tfidf_int_pool_with_skips_and_trigrams(mode: str, weights: list | None, input_type: int) -> None:
    attrs = dict(TFIDF_INT_ATTRS, mode=mode)
    if weights:
        attrs["weights"] = weights
    model = _tfidf_model(input_type, [2, 12], **attrs)
    rng = np.random.default_rng(0)
    x = rng.integers(2, 9, (2, 12)).astype(helper.tensor_dtype_to_np_dtype(input_type))
    check_model(model, {"x": x})


def test_tfidf_dynamic_batch_after_hybridize() -> None:
    model = _tfidf_model(TensorProto.INT64, ["N", 12], mode="TF", **TFIDF_INT_ATTRS)
    block = load_block(model)
    block.hybridize()
    rng = np.random.default_rng(1)
    for batch in (1, 3):
        x = rng.integers(2, 9, (batch, 12)).astype(np.int64)
        expected = reference_outputs(model, {"x": x})[0]
        np.testing.assert_allclose(block(mx.nd.array(x, dtype="int64")).asnumpy(), expected)


def test_tfidf_string_pool_one_dimensional_input() -> None:
    model = _tfidf_model(TensorProto.STRING, [7], mode="TF", min_gram_length=1, max_gram_length=2,
                         max_skip_count=1, ngram_counts=[0, 3], ngram_indexes=[3, 0, 1, 2, 4],
                         pool_strings=["a", "b", "c", "a", "b", "b", "c"])
    x = np.array(["a", "b", "x", "a", "c", "b", "c"], dtype=object)
    (ours,) = _imperative(model, [x])
    np.testing.assert_allclose(ours, reference_outputs(model, {"x": x})[0])


@pytest.mark.parametrize("mode", ["imperative", "hybridized"])
def test_label_encoder_numbers_to_numbers_with_nan_key(mode: str) -> None:
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_floats=[1.5, float("nan"), -2.0],
                            values_int64s=[10, 20, 30], default_int64=-7)
    model = _ml_model(node, [_vi("x", TensorProto.FLOAT, [2, 3])], [_vi("y", TensorProto.INT64, [2, 3])], 2)
    x = np.array([[1.5, np.nan, 0.0], [-2.0, 1.5, 3.0]], np.float32)
    backend = GluonOnnxBackend if mode == "imperative" else HybridizedBackend
    (y,) = backend.prepare(model, "CPU").run([x])
    np.testing.assert_array_equal(y, [[10, 20, -7], [30, 10, -7]])
    assert y.dtype == np.int64


def test_label_encoder_int_to_string_and_v1_classes() -> None:
    node = helper.make_node("LabelEncoder", ["x"], ["y"], domain="ai.onnx.ml", keys_int64s=[1, 2],
                            values_strings=["one", "two"], default_string="?")
    model = _ml_model(node, [_vi("x", TensorProto.INT64, [4])], [_vi("y", TensorProto.STRING, [4])], 2)
    x = np.array([2, 1, 5, 2], np.int64)
    np.testing.assert_array_equal(_imperative(model, [x])[0], np.array(["two", "one", "?", "two"], dtype=object))
    v1 = helper.make_node("LabelEncoder", ["s"], ["i"], domain="ai.onnx.ml", classes_strings=["a", "b"],
                          default_int64=9)
    model = _ml_model(v1, [_vi("s", TensorProto.STRING, [3])], [_vi("i", TensorProto.INT64, [3])], 1)
    np.testing.assert_array_equal(_imperative(model, [np.array(["b", "z", "a"], dtype=object)])[0], [1, 9, 0])


def test_image_decoder_png_grayscale_and_bgr() -> None:
    pil = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(2)
    pixels = rng.integers(0, 255, (6, 5, 3)).astype(np.uint8)
    buffer = io.BytesIO()
    pil.fromarray(pixels).save(buffer, format="PNG")
    encoded = np.frombuffer(buffer.getvalue(), dtype=np.uint8)
    for pixel_format, expected in (("BGR", pixels[:, :, ::-1]),
                                   ("Grayscale", np.asarray(pil.fromarray(pixels).convert("L"))[:, :, None])):
        node = helper.make_node("ImageDecoder", ["x"], ["y"], pixel_format=pixel_format)
        model = make_model([node], [_vi("x", TensorProto.UINT8, [encoded.size])], [_vi("y", TensorProto.UINT8, None)],
                           opset=20)
        (ours,) = _imperative(model, [encoded])
        np.testing.assert_array_equal(ours, expected)
