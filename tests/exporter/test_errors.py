"""Typed errors: unsupported operators (all listed, nothing written), mismatches, bad arguments."""

from __future__ import annotations

import os

import mxnet as mx
import pytest
from mxnet.gluon import nn

from gluon_onnx import export_block
from gluon_onnx.errors import ExportError, ExportMismatchError, GluonOnnxError, UnsupportedOperatorError
from gluon_onnx.exporter import MIN_EXPORT_OPSET, export_symbol, max_opset
from gluon_onnx.exporter.registry import lookup, translation


class Unsupported(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        y = F.gammaln(x) + F.gamma(x)
        return F.gammaln(y * 2)


def test_unsupported_operators_are_all_listed_and_nothing_is_written(tmp_path):
    net = Unsupported()
    net.initialize()
    path = tmp_path / "out.onnx"
    with pytest.raises(UnsupportedOperatorError) as info:
        export_block(net, mx.nd.ones((2, 3)), path)
    error = info.value
    ops = {(domain, op): nodes for domain, op, _, nodes in error.missing}
    assert set(ops) == {("mxnet", "gammaln"), ("mxnet", "gamma")}
    assert len(ops[("mxnet", "gammaln")]) == 2
    assert "for export" in str(error) and "gammaln" in str(error)
    assert os.listdir(tmp_path) == []


class DiffersWhenTraced(nn.HybridBlock):
    """Returns x + 1 imperatively but x when traced: the exported graph cannot match."""

    def hybrid_forward(self, F, x):
        return x + 1 if F is mx.nd else x * 1


def test_mismatch_is_reported_per_output_and_leaves_nothing(tmp_path):
    net = DiffersWhenTraced()
    path = tmp_path / "bad.onnx"
    with pytest.raises(ExportMismatchError) as info:
        export_block(net, mx.nd.ones((2, 3)), path, check=True, output_names=["y"])
    assert "y:" in str(info.value) and "max_abs=1" in str(info.value)
    assert [d.name for d in info.value.diffs] == ["y"] and info.value.diffs[0].max_abs == pytest.approx(1.0)
    assert os.listdir(tmp_path) == []


def test_failed_check_keeps_an_existing_file(tmp_path):
    path = tmp_path / "model.onnx"
    path.write_bytes(b"previous")
    with pytest.raises(ExportMismatchError):
        export_block(DiffersWhenTraced(), mx.nd.ones((2, 3)), path, check=True)
    assert path.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["model.onnx"]


def test_opset_range():
    with pytest.raises(ExportError, match="opset 12 is not supported"):
        export_block(nn.Dense(2), mx.nd.ones((1, 3)), opset=12)
    with pytest.raises(ExportError):
        export_block(nn.Dense(2), mx.nd.ones((1, 3)), opset=max_opset() + 1)
    assert MIN_EXPORT_OPSET == 13


class FixedBatch(nn.HybridBlock):
    def hybrid_forward(self, F, x):
        return F.reshape(x, shape=(2, 6))


def test_dynamic_axis_that_the_network_fixes():
    with pytest.raises(ExportError, match="fixed shape"):
        export_block(FixedBatch(), mx.nd.ones((2, 3, 2)), dynamic_axes={"data": [0]})
    export_block(FixedBatch(), mx.nd.ones((2, 3, 2)), check=True)  # fine without them


def test_plain_block_and_bad_names():
    class Plain(nn.Block):
        def forward(self, x):
            return x

    with pytest.raises(ExportError, match="not a HybridBlock"):
        export_block(Plain(), mx.nd.ones((1, 2)))
    net = nn.Dense(2)
    net.initialize()
    with pytest.raises(ExportError, match="input names"):
        export_block(net, mx.nd.ones((1, 3)), input_names=["a", "b"])
    with pytest.raises(ExportError, match="output names"):
        export_block(net, mx.nd.ones((1, 3)), output_names=["a", "b"])
    with pytest.raises(GluonOnnxError):
        export_block(net, mx.nd.ones((1, 3)), "/nonexistent-dir/x.onnx")


def test_symbol_with_unknown_variable():
    sym = mx.sym.var("data") + mx.sym.var("mystery")
    with pytest.raises(ExportError, match="mystery"):
        export_symbol(sym, {}, {"data": (2, 2)})


def test_translation_registry_picks_the_newest_applicable_version():
    calls = []

    @translation("_test_only_op", since=13)
    def old(tx):
        calls.append(13)

    @translation("_test_only_op", since=18)
    def new(tx):
        calls.append(18)

    assert lookup("_test_only_op", 17).fn is old
    assert lookup("_test_only_op", 18).fn is new
    assert lookup("_test_only_op", 12) is None
    with pytest.raises(ValueError, match="twice"):
        translation("_test_only_op", since=18)(new)


def test_failed_translation_only_matters_when_used():
    """A node whose translation fails is fine if nothing exported consumes it (e.g. RNN zero states)."""
    data = mx.sym.var("data")
    unused_shape = mx.sym.zeros_like(data)  # translatable, but here an unsupported consumer follows
    out = mx.sym.Group([data * 2, mx.sym.gammaln(unused_shape)])
    with pytest.raises(UnsupportedOperatorError):
        export_symbol(out, {}, {"data": (2,)})
    model = export_symbol(data * 2, {}, {"data": (2,)})
    assert [n.op_type for n in model.graph.node] == ["Mul"]


def test_poisoned_node_unused_by_the_onnx_graph():
    """An LSTM's zero begin states (``_zeros`` with an unknown batch) are never emitted."""
    layer = mx.gluon.rnn.LSTM(4, input_size=3)
    layer.initialize()
    model = export_block(layer, mx.nd.ones((5, 2, 3)), dynamic_axes={"data": [0, 1]}, check=True)
    assert [n.op_type for n in model.graph.node].count("LSTM") == 1
    lstm = next(n for n in model.graph.node if n.op_type == "LSTM")
    assert list(lstm.input[5:]) in ([], ["", ""], [""])  # no initial_h / initial_c: ONNX's zeros
