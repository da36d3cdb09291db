"""load_block end to end: sources, initializer conventions, names, cuts, shapes, export, contexts."""

from __future__ import annotations

import io
import os

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import gluon_onnx
from gluon_onnx.backend import to_numpy
from gluon_onnx.samples import tiny_cnn
from gluon_onnx.verify import random_inputs, run_onnxruntime


@pytest.fixture(scope="module")
def cnn() -> onnx.ModelProto:
    return tiny_cnn(seed=3)


def _run(net: gluon_onnx.OnnxBlock, x: np.ndarray) -> list[np.ndarray]:
    out = net(mx.nd.array(x))
    outs = out if isinstance(out, tuple) else (out,)
    return [o.asnumpy() for o in outs]


def _assert_close_to_ort(model: onnx.ModelProto, net: gluon_onnx.OnnxBlock, x: np.ndarray, rtol: float = 1e-5):
    refs = run_onnxruntime(model, {net.input_names[0]: x})
    for ours, ref in zip(_run(net, x), refs):
        assert ours.shape == ref.shape
        scale = np.abs(ref).max()
        assert np.abs(ours - ref).max() <= rtol * scale + 1e-7


@pytest.mark.parametrize("kind", ["path", "str", "bytes", "file", "proto"])
def test_every_source_kind_loads(tmp_path, cnn, kind):
    path = tmp_path / "cnn.onnx"
    onnx.save(cnn, path)
    source = {
        "path": path,
        "str": str(path),
        "bytes": cnn.SerializeToString(),
        "file": io.BytesIO(cnn.SerializeToString()),
        "proto": cnn,
    }[kind]
    net = gluon_onnx.load_block(source)
    x = random_inputs(cnn, seed=1, sizes={"N": 2})["input"]
    _assert_close_to_ort(cnn, net, x)


def test_same_hybridized_block_serves_batch_1_then_8_without_specialization(cnn):
    net = gluon_onnx.load_block(cnn)
    net.hybridize(static_alloc=True, static_shape=True)
    for batch in (1, 8, 3):
        x = random_inputs(cnn, seed=batch, sizes={"N": batch})["input"]
        _assert_close_to_ort(cnn, net, x)
    assert net.is_shape_specialized is False


def test_initializers_also_listed_as_graph_inputs_act_as_defaults(cnn):
    old_style = onnx.ModelProto()
    old_style.CopyFrom(cnn)
    for tensor in cnn.graph.initializer:
        old_style.graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    old_style.ir_version = 3
    net = gluon_onnx.load_block(old_style)
    assert net.input_names == ["input"]
    x = random_inputs(cnn, seed=2, sizes={"N": 2})["input"]
    _assert_close_to_ort(cnn, net, x)


def _weird_names_model() -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.standard_normal((4, 3)).astype(np.float32), "onnx::MatMul_497")
    b = numpy_helper.from_array(rng.standard_normal((4,)).astype(np.float32), "/features/0/bias")
    nodes = [
        helper.make_node("Gemm", ["gpu_0/data_0", "onnx::MatMul_497", "/features/0/bias"],
                         ["/features/0/Gemm_output_0"], name="/features/0/Gemm", transB=1),
        helper.make_node("Relu", ["/features/0/Gemm_output_0"], ["gpu_0/softmax_1"], name=""),
    ]
    graph = helper.make_graph(nodes, "names",
                              [helper.make_tensor_value_info("gpu_0/data_0", TensorProto.FLOAT, [2, 3])],
                              [helper.make_tensor_value_info("gpu_0/softmax_1", TensorProto.FLOAT, [2, 4])], [w, b])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])


def test_names_with_any_characters():
    model = _weird_names_model()
    net = gluon_onnx.load_block(model)
    assert set(net.onnx_params) == {"onnx::MatMul_497", "/features/0/bias"}
    x = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32)
    _assert_close_to_ort(model, net, x)
    net.hybridize()
    _assert_close_to_ort(model, net, x)


def test_cut_graph_at_named_tensor(cnn):
    features = gluon_onnx.load_block(cnn, outputs=["/Reshape"])
    assert features.output_names == ["/Reshape"]
    x = random_inputs(cnn, seed=4, sizes={"N": 3})["input"]
    (feat,) = _run(features, x)
    assert feat.shape == (3, 32)
    # the cut block only owns the parameters the features need (no classifier)
    assert "fc.weight" not in features.onnx_params
    cut = onnx.utils.Extractor(onnx.shape_inference.infer_shapes(cnn)).extract_model(["input"], ["/Reshape"])
    (ref,) = run_onnxruntime(cut, {"input": x})
    np.testing.assert_allclose(feat, ref, rtol=1e-5, atol=1e-6)


def test_cut_at_unknown_tensor_is_a_clear_error(cnn):
    with pytest.raises(gluon_onnx.errors.InvalidModelError, match="not a tensor of this graph"):
        gluon_onnx.load_block(cnn, outputs=["no_such_tensor"])


def test_input_shapes_and_dynamic_batch():
    model = _weird_names_model()  # declares a static batch of 2
    x = np.ones((5, 3), np.float32)
    fixed = gluon_onnx.load_block(model)
    assert fixed.plan.info("gpu_0/data_0").shape == (2, 3)
    for net in (gluon_onnx.load_block(model, dynamic_batch=True),
                gluon_onnx.load_block(model, input_shapes={"gpu_0/data_0": ("batch", 3)})):
        net.hybridize()
        (out,) = _run(net, x)
        assert out.shape == (5, 4)
    with pytest.raises(gluon_onnx.errors.InvalidModelError, match="not graph inputs"):
        gluon_onnx.load_block(model, input_shapes={"nope": (1, 3)})


def _two_io_model() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Sub", ["b", "a"], ["b_minus_a"]),
        helper.make_node("Mul", ["a", "b"], ["a_times_b"]),
    ]
    vi = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3]) for n in ("b", "a")]
    outs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [3]) for n in ("a_times_b", "b_minus_a")]
    return helper.make_model(helper.make_graph(nodes, "io", vi, outs), opset_imports=[helper.make_opsetid("", 14)])


@pytest.mark.parametrize("hybridize", [False, True])
def test_multiple_inputs_and_outputs_keep_onnx_order(hybridize):
    net = gluon_onnx.load_block(_two_io_model())
    assert net.input_names == ["b", "a"]
    assert net.output_names == ["a_times_b", "b_minus_a"]
    if hybridize:
        net.hybridize()
    b, a = mx.nd.array([1, 2, 3]), mx.nd.array([10, 20, 30])
    prod, diff = net(b, a)
    np.testing.assert_allclose(prod.asnumpy(), [10, 40, 90])
    np.testing.assert_allclose(diff.asnumpy(), [-9, -18, -27])


def test_gluon_export_and_reimport_as_symbolblock(tmp_path, cnn):
    net = gluon_onnx.load_block(cnn)
    net.hybridize(static_alloc=True, static_shape=True)
    x = random_inputs(cnn, seed=5, sizes={"N": 4})["input"]
    expected = _run(net, x)
    prefix = str(tmp_path / "tiny")
    net.export(prefix)
    assert os.path.exists(prefix + "-symbol.json") and os.path.exists(prefix + "-0000.params")
    block = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data"], prefix + "-0000.params")
    with mx.util.np_shape(True):
        got = block(mx.nd.array(x))
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.asnumpy(), e, rtol=1e-6, atol=1e-6)


def test_parameters_live_on_every_context_of_a_list(cnn):
    ctxs = [mx.cpu(0), mx.cpu(1)]
    net = gluon_onnx.load_block(cnn, ctx=ctxs)
    weight = net.onnx_params["stem.weight"]
    assert set(weight.list_ctx()) == set(ctxs)
    x = random_inputs(cnn, seed=6, sizes={"N": 2})["input"]
    outs = [net(mx.nd.array(x, ctx=c))[0].asnumpy() for c in ctxs]
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-6)


def test_float_initializers_are_trainable_and_bn_statistics_are_not(cnn):
    net = gluon_onnx.load_block(cnn)
    params = net.onnx_params
    assert params["stem.weight"].grad_req == "write"
    assert params["fc.bias"].grad_req == "write"
    assert params["stem.bn.running_mean"].grad_req == "null"
    assert params["stem.bn.running_var"].grad_req == "null"
    # integer initializers (axes, indices) stay constants, not parameters
    assert "zero" not in params and "axes0" not in params
    names = net.param_name_map
    assert names["stem.weight"].endswith("stem_weight")


def test_outputs_match_in_both_modes_with_int_and_scalar_outputs():
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("ReduceSum", ["x"], ["total"], keepdims=0),
        helper.make_node("Size", ["x"], ["count"]),
    ]
    graph = helper.make_graph(
        nodes, "scalars", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor_value_info("shape", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("total", TensorProto.FLOAT, []),
         helper.make_tensor_value_info("count", TensorProto.INT64, [])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 11)])
    for hybridize in (False, True):
        net = gluon_onnx.load_block(model)
        if hybridize:
            net.hybridize()
        for batch in (2, 5):
            x = np.ones((batch, 3), np.float32)
            shape, total, count = net(mx.nd.array(x))
            with mx.util.np_shape(True):
                assert to_numpy(shape, np.int64).tolist() == [batch, 3]
                assert total.shape == () and float(total.asnumpy()) == 3 * batch
                assert count.shape == () and int(count.asnumpy()) == 3 * batch


def test_summary_and_intermediate_values(cnn):
    net = gluon_onnx.load_block(cnn)
    text = net.summary()
    assert "/stem/Conv" in text and "(N, 16, 32, 32)" in text
    assert "22 parameters" in repr(net)
    x = random_inputs(cnn, seed=7, sizes={"N": 2})["input"]
    values = net.intermediate_values(mx.nd.array(x))
    relu = values["/stem/Relu_output_0"].asnumpy()
    assert relu.shape == (2, 16, 32, 32) and relu.min() >= 0
    cut = gluon_onnx.load_block(cnn, outputs=["/stem/Relu_output_0"])
    np.testing.assert_allclose(relu, cut(mx.nd.array(x)).asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(values["logits"].asnumpy(), _run(net, x)[0], rtol=1e-6)
