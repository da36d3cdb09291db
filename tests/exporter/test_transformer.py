"""A transformer encoder block: Dense(flatten=False), reshape codes, batch_dot, softmax, LayerNorm, GELU."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest

from gluon_onnx import export_block
from gluon_onnx.verify import run_onnxruntime

from .blocks import EncoderBlock
from .util import assert_close, mxnet_outputs


@pytest.mark.parametrize("opset", [13, 17, 20, None])
def test_encoder_block(opset):
    net = EncoderBlock()
    net.initialize(mx.init.Xavier())
    rng = np.random.RandomState(0)
    x = mx.nd.array(rng.normal(size=(2, 5, 32)).astype(np.float32))
    mask = mx.nd.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    axes = {"data0": {0: "N", 1: "T"}, "data1": {0: "N", 1: "T"}}
    model = export_block(net, [x, mask], opset=opset, dynamic_axes=axes, check=True)
    ops = {n.op_type for n in model.graph.node}
    assert ("LayerNormalization" in ops) == (model.opset_import[0].version >= 17)
    assert ("Gelu" in ops) == (model.opset_import[0].version >= 20)
    # batch and sequence length are free
    x2 = mx.nd.array(rng.normal(size=(3, 7, 32)).astype(np.float32))
    mask2 = mx.nd.array((rng.uniform(size=(3, 7)) > 0.3).astype(np.float32))
    assert_close(run_onnxruntime(model, {"data0": x2.asnumpy(), "data1": mask2.asnumpy()}),
                 mxnet_outputs(net, [x2, mask2]))
