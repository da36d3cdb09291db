"""Gluon RNN layers: MXNet's fused RNN op -> ONNX LSTM/GRU/RNN per layer, gates re-ordered."""

from __future__ import annotations

import mxnet as mx
import numpy as np
import pytest
from mxnet.gluon import rnn

from gluon_onnx import export_block
from gluon_onnx.exporter import export_symbol
from gluon_onnx.verify import run_onnxruntime

from .util import assert_close, mxnet_outputs

LAYERS = {
    "lstm_2layer_bidirectional": lambda: rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=5),
    "lstm_3layer": lambda: rnn.LSTM(7, num_layers=3, input_size=5),
    "gru_2layer_input_ne_hidden": lambda: rnn.GRU(8, num_layers=2, input_size=5),
    "gru_2layer_bidirectional": lambda: rnn.GRU(6, num_layers=2, bidirectional=True, input_size=5),
    "rnn_relu_3layer": lambda: rnn.RNN(8, activation="relu", num_layers=3, input_size=5),
    "rnn_tanh_bidirectional": lambda: rnn.RNN(8, bidirectional=True, input_size=5),
    "gru_ntc_layout": lambda: rnn.GRU(6, num_layers=2, layout="NTC", input_size=5),
}


def _data(shape, seed=0):
    return mx.nd.array(np.random.RandomState(seed).uniform(-1, 1, shape).astype(np.float32))


class WithStates(mx.gluon.HybridBlock):
    """Passes explicit begin states and returns the final states too."""

    def __init__(self, layer):
        super().__init__()
        self.layer = layer

    def hybrid_forward(self, F, x, *states):
        out, new_states = self.layer(x, list(states))
        return (out, *new_states)


@pytest.mark.parametrize("opset", [13, None])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_rnn_layer(name, opset):
    layer = LAYERS[name]()
    layer.initialize(mx.init.Uniform(0.5))
    ntc = layer._layout == "NTC"
    x = _data((3, 7, 5) if ntc else (7, 3, 5))
    axes = {"data": {0: "N", 1: "T"} if ntc else {0: "T", 1: "N"}}
    model = export_block(layer, x, opset=opset, dynamic_axes=axes, check=True)
    onnx_op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[name.split("_")[0]]
    assert sum(n.op_type == onnx_op for n in model.graph.node) == layer._num_layers
    # other sequence length and batch size
    other = _data((2, 4, 5) if ntc else (4, 2, 5), seed=1)
    assert_close(run_onnxruntime(model, {"data": other.asnumpy()}), mxnet_outputs(layer, [other]), rtol=1e-5)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
def test_states_in_and_out(mode):
    layer = rnn.LSTM(8, num_layers=2, bidirectional=True, input_size=5) if mode == "lstm" else \
        rnn.GRU(8, num_layers=2, input_size=5)
    layer.initialize(mx.init.Uniform(0.5))
    net = WithStates(layer)
    x = _data((6, 2, 5))
    states = [_data(s.shape, seed=i + 1) for i, s in enumerate(layer.begin_state(batch_size=2))]
    model = export_block(net, [x, *states], check=True)
    assert len(model.graph.output) == 1 + len(states)
    assert [tuple(d.dim_value for d in o.type.tensor_type.shape.dim) for o in model.graph.output[1:]] == \
        [s.shape for s in states]


def test_packed_parameter_vector_symbol():
    """A Module-style RNN symbol with one packed parameter variable (no _rnn_param_concat)."""
    hidden, layers, inputs = 6, 2, 4
    cell = mx.gluon.rnn.GRU(hidden, num_layers=layers, input_size=inputs)
    cell.initialize(mx.init.Uniform(0.5))
    x = _data((5, 2, inputs))
    expected = cell(x).asnumpy()
    # MXNet's packed (cuDNN) layout: every layer's weights, then every layer's biases
    params = cell.collect_params()
    order = [f"l{i}_{g}_weight" for i in range(layers) for g in ("i2h", "h2h")]
    order += [f"l{i}_{g}_bias" for i in range(layers) for g in ("i2h", "h2h")]
    packed = mx.nd.concat(*[params[cell.prefix + n].data().reshape(-1) for n in order], dim=0)
    data = mx.sym.var("data")
    sym = mx.sym.RNN(data, mx.sym.var("rnn_parameters"), mx.sym.zeros((layers, 0, hidden)), state_size=hidden,
                     num_layers=layers, mode="gru", name="gru")
    model = export_symbol(sym, {"rnn_parameters": packed}, {"data": x.shape}, check=True)
    assert_close(run_onnxruntime(model, {"data": x.asnumpy()}), [expected], rtol=1e-5)
