"""MXNet's fused RNN operator -> one ONNX LSTM/GRU/RNN node per layer.

MXNet packs all weights of a fused RNN in one vector (cuDNN layout): for every layer and
direction the input-to-hidden then hidden-to-hidden matrices, then all biases in the same
order. Gates are ordered i, f, g, o (LSTM) and r, z, n (GRU); ONNX wants i, o, f, c and
z, r, h. The vector is evaluated at export time (in Gluon it is a ``_rnn_param_concat`` of
the layer's parameters) and split into per-layer W, R, B initializers.
"""

from __future__ import annotations

import numpy as np

from ..convert import NodeTranslator
from ..registry import translation

_GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
#: ONNX gate order as indices into MXNet's gate order
_REORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "rnn_tanh": [0], "rnn_relu": [0]}
_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}
_ZERO_STATE_OPS = {"_zeros", "_zeros_without_dtype", "zeros_like", "_npi_zeros"}


def _unpack(packed: np.ndarray, mode: str, layers: int, directions: int, hidden: int,
            input_size: int) -> list[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]]:
    """[layer][direction] -> (Wx, Wh, bx, bh) in MXNet's gate order."""
    gates = _GATES[mode]
    rows = gates * hidden
    weights = []
    offset = 0
    for layer in range(layers):
        in_size = input_size if layer == 0 else directions * hidden
        per_dir = []
        for _ in range(directions):
            wx = packed[offset:offset + rows * in_size].reshape(rows, in_size)
            offset += rows * in_size
            wh = packed[offset:offset + rows * hidden].reshape(rows, hidden)
            offset += rows * hidden
            per_dir.append([wx, wh])
        weights.append(per_dir)
    for layer in range(layers):
        for direction in range(directions):
            bx = packed[offset:offset + rows]
            offset += rows
            bh = packed[offset:offset + rows]
            offset += rows
            weights[layer][direction].extend([bx, bh])
    if offset != packed.size:
        raise ValueError(f"the parameter vector has {packed.size} values, the layer needs {offset}")
    return [[tuple(entry) for entry in layer] for layer in weights]


def _reorder(matrix: np.ndarray, mode: str, hidden: int) -> np.ndarray:
    blocks = [matrix[g * hidden:(g + 1) * hidden] for g in range(_GATES[mode])]
    return np.concatenate([blocks[g] for g in _REORDER[mode]], axis=0)


def _is_zero_state(tx: NodeTranslator, index: int) -> bool:
    return tx.producer(index).op in _ZERO_STATE_OPS


@translation("RNN")
def rnn(tx: NodeTranslator) -> str | list[str]:
    mode = tx.attrs.str("mode")
    if mode not in _GATES:
        raise tx.fail(f"mode {mode!r} is not supported")
    if tx.attrs.int("projection_size") is not None:
        raise tx.fail("LSTM with projection (projection_size) has no ONNX equivalent")
    if tx.attrs.float("lstm_state_clip_min") is not None or tx.attrs.float("lstm_state_clip_max") is not None:
        raise tx.fail("lstm_state_clip_min/max have no ONNX equivalent")
    layers = tx.attrs.int("num_layers")
    hidden = tx.attrs.int("state_size")
    directions = 2 if tx.attrs.bool("bidirectional", False) else 1
    state_outputs = tx.attrs.bool("state_outputs", False)
    input_size = tx.in_shape(0)[2]
    dtype = tx.in_dtype(0)
    try:
        packed = tx.constant_value(1).reshape(-1)
    except Exception as exc:  # noqa: BLE001  (the message names the node)
        raise tx.fail(f"the packed RNN parameters must be constant at export time: {exc}") from None
    try:
        unpacked = _unpack(packed, mode, layers, directions, hidden, input_size)
    except ValueError as exc:
        raise tx.fail(str(exc)) from None

    lstm = mode == "lstm"
    state_index = 2
    cell_index = 3 if lstm else None
    length_index = (4 if lstm else 3) if tx.attrs.bool("use_sequence_length", False) else None
    h0 = None if _is_zero_state(tx, state_index) else tx.input(state_index)
    c0 = None if cell_index is None or _is_zero_state(tx, cell_index) else tx.input(cell_index)
    lengths = tx.cast(tx.input(length_index), np.int32) if length_index is not None else ""

    extra: dict[str, object] = {"hidden_size": hidden, "direction": "bidirectional" if directions == 2 else "forward"}
    if mode == "gru":
        extra["linear_before_reset"] = 1
    elif mode in ("rnn_tanh", "rnn_relu"):
        extra["activations"] = ["Tanh" if mode == "rnn_tanh" else "Relu"] * directions

    x = tx.input(0)
    final_h, final_c = [], []
    for layer in range(layers):
        per_dir = unpacked[layer]

        def stacked(pick: int, layer_dirs: list = per_dir) -> np.ndarray:
            return np.stack([_reorder(d[pick], mode, hidden) for d in layer_dirs]).astype(dtype)

        w = tx.const(stacked(0), f"l{layer}_W")
        r = tx.const(stacked(1), f"l{layer}_R")
        b = tx.const(np.concatenate([stacked(2), stacked(3)], axis=1), f"l{layer}_B")
        span = ([layer * directions], [(layer + 1) * directions], [0])
        init_h = tx.slice(h0, *span) if h0 is not None else ""
        init_c = tx.slice(c0, *span) if c0 is not None else ""
        inputs = [x, w, r, b, lengths, init_h] + ([init_c] if lstm else [])
        count = 3 if lstm else 2
        outs = tx.node(_ONNX_OP[mode], inputs, count, **extra)
        y = outs[0]
        final_h.append(outs[1])
        if lstm:
            final_c.append(outs[2])
        # (T, D, N, H) -> (T, N, D*H)
        y = tx.node("Transpose", [y], perm=[0, 2, 1, 3])
        x = tx.node("Reshape", [y, tx.ints([0, 0, directions * hidden], "merge_directions")])
    if not state_outputs:
        return x
    results = [x, tx.concat(final_h, 0)]
    if lstm:
        results.append(tx.concat(final_c, 0))
    return results
