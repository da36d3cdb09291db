"""Gluon 2-style blocks (numpy semantics, ``_npi_*``/``_npx_*`` operators)."""

from __future__ import annotations

import mxnet as mx
from mxnet.gluon import nn

from gluon_onnx import export_block


class NumpyNet(nn.HybridBlock):
    def __init__(self):
        super().__init__()
        with self.name_scope():
            self.conv = nn.Conv2D(4, 3, padding=1)
            self.bn = nn.BatchNorm()
            self.fc = nn.Dense(5)

    def hybrid_forward(self, F, x):
        y = F.npx.relu(self.bn(self.conv(x))) + 1.0
        y = F.np.reshape(y, (-1, 256))
        y = self.fc(y) * 2 - y.mean(axis=1, keepdims=True)
        y = F.np.concatenate([y, F.np.exp(-y)], axis=1)
        return F.npx.softmax(y / F.np.sum(F.np.abs(y), axis=-1, keepdims=True), axis=-1)


def test_numpy_semantics_block():
    with mx.util.np_shape(True), mx.util.np_array(True):
        net = NumpyNet()
        net.initialize()
        x = mx.np.random.uniform(size=(2, 3, 8, 8))
        net(x)
        net.hybridize()
        net(x)
        ops = {n["op"] for n in __import__("json").loads(net._cached_graph[1].tojson())["nodes"]}
        assert {"_npi_add_scalar", "_npi_concatenate", "_np_reshape", "_npx_relu"} <= ops
        model = export_block(net, x, dynamic_axes={"data": [0]}, check=True)
    assert {"Conv", "BatchNormalization", "Relu", "Concat", "Softmax"} <= {n.op_type for n in model.graph.node}
    assert not mx.util.is_np_array()
