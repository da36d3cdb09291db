"""Recurrent layers: LSTM, GRU, RNN.

Two implementations, chosen per node:

* MXNet's fused ``F.RNN`` (modes lstm / gru / rnn_tanh / rnn_relu) when the ONNX semantics are
  the cuDNN ones: default activations, no clip, no peepholes, no input_forget, GRU with
  linear_before_reset=1 and every sequence full length. Its flat parameter vector is built with
  F ops from the ONNX weight tensors (gates reordered: ONNX LSTM i,o,f,c -> MXNet i,f,c,o; GRU
  z,r,h -> r,z,n), so W, R and B stay separate trainable Parameters.
* Otherwise the time loop is unrolled per direction (input projection for all steps up front,
  one recurrent FullyConnected per step); a hybridized block is traced per sequence length.
  (``F.contrib.foreach`` would keep the length free, but MXNet 1.9 computes wrong states with it
  under ``hybridize(static_alloc=True, static_shape=True)``.) sequence_lens masks the state
  update and zeroes the outputs past each sequence's end; the reverse direction reverses each
  sequence within its length (``F.SequenceReverse``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..context import NeedsSpecialization, NodeContext
from ..registry import converter

#: ONNX gate order -> MXNet fused gate order (indices into the ONNX gates)
_FUSED_GATE_ORDER = {"lstm": (0, 2, 3, 1), "gru": (1, 0, 2), "rnn": (0,)}
_GATES = {"lstm": 4, "gru": 3, "rnn": 1}
_DEFAULT_ACTIVATIONS = {"lstm": ["Sigmoid", "Tanh", "Tanh"], "gru": ["Sigmoid", "Tanh"], "rnn": ["Tanh"]}
#: activation -> (default alpha, default beta); None when it takes no parameter
_ACTIVATION_DEFAULTS: dict[str, tuple[float | None, float | None]] = {
    "relu": (None, None), "tanh": (None, None), "sigmoid": (None, None), "softsign": (None, None),
    "softplus": (None, None), "affine": (1.0, 0.0), "leakyrelu": (0.01, None), "thresholdedrelu": (1.0, None),
    "scaledtanh": (1.0, 1.0), "hardsigmoid": (0.2, 0.5), "elu": (1.0, None),
}


def _activation(cx: NodeContext, name: str, alpha: float | None, beta: float | None) -> Callable[[object], object]:
    F = cx.F
    key = name.lower()
    if key == "relu":
        return lambda x: F.relu(x)
    if key == "tanh":
        return lambda x: F.tanh(x)
    if key == "sigmoid":
        return lambda x: F.sigmoid(x)
    if key == "softsign":
        return lambda x: F.softsign(x)
    if key == "softplus":
        return lambda x: F.Activation(x, act_type="softrelu")
    if key == "affine":
        return lambda x: x * alpha + beta
    if key == "leakyrelu":
        return lambda x: F.LeakyReLU(x, act_type="leaky", slope=alpha)
    if key == "thresholdedrelu":
        return lambda x: x * (x > alpha)
    if key == "scaledtanh":
        return lambda x: F.tanh(x * beta) * alpha
    if key == "hardsigmoid":
        return lambda x: F.clip(x * alpha + beta, 0.0, 1.0)
    if key == "elu":
        return lambda x: F.LeakyReLU(x, act_type="elu", slope=alpha)
    raise cx.fail(f"activation {name!r} is not supported")


def _activations(cx: NodeContext, kind: str, num_directions: int, names: list[str] | None,
                 alphas: list[float] | None, betas: list[float] | None) -> list[list[Callable]]:
    """Per direction, the activation functions (f, g[, h]) with their alpha/beta."""
    per_direction = len(_DEFAULT_ACTIVATIONS[kind])
    names = list(names) if names else _DEFAULT_ACTIVATIONS[kind] * num_directions
    if len(names) == per_direction and num_directions == 2:
        names = names * 2
    if len(names) != per_direction * num_directions:
        raise cx.fail(f"expected {per_direction * num_directions} activations, got {names}")
    alpha_iter, beta_iter = iter(alphas or []), iter(betas or [])
    functions = []
    for name in names:
        defaults = _ACTIVATION_DEFAULTS.get(name.lower())
        if defaults is None:
            raise cx.fail(f"activation {name!r} is not supported")
        alpha = next(alpha_iter, defaults[0]) if defaults[0] is not None else None
        beta = next(beta_iter, defaults[1]) if defaults[1] is not None else None
        functions.append(_activation(cx, name, alpha, beta))
    return [functions[d * per_direction:(d + 1) * per_direction] for d in range(num_directions)]


def _is_default_activations(kind: str, names: list[str] | None, num_directions: int) -> str | None:
    """The fused mode for these activations, or None."""
    if not names:
        return {"lstm": "lstm", "gru": "gru", "rnn": "rnn_tanh"}[kind]
    lowered = [n.lower() for n in names]
    per_direction = len(_DEFAULT_ACTIVATIONS[kind])
    if num_directions == 2 and len(lowered) == 2 * per_direction and lowered[:per_direction] != lowered[per_direction:]:
        return None
    lowered = lowered[:per_direction]
    if kind == "rnn":
        return {"tanh": "rnn_tanh", "relu": "rnn_relu"}.get(lowered[0])
    if lowered == [n.lower() for n in _DEFAULT_ACTIVATIONS[kind]]:
        return kind
    return None


class _Recurrence:
    """Shared set-up of one LSTM/GRU/RNN node."""

    def __init__(self, cx: NodeContext, kind: str, X: object, W: object, R: object, B: object,
                 sequence_lens: object, initial_h: object, initial_c: object, P: object, *,
                 hidden_size: int | None, direction: str, layout: int):
        self.cx = cx
        self.F = cx.F
        self.kind = kind
        self.gates = _GATES[kind]
        if direction not in ("forward", "reverse", "bidirectional"):
            raise cx.fail(f"direction must be forward, reverse or bidirectional, got {direction!r}")
        self.direction = direction
        self.num_directions = 2 if direction == "bidirectional" else 1
        r_shape = cx.in_shape(2)
        hidden = r_shape[-1] if r_shape is not None else hidden_size
        if not isinstance(hidden, int):
            hidden = hidden_size
        if not isinstance(hidden, int) or (hidden_size is not None and hidden_size != hidden):
            raise cx.fail(f"hidden_size {hidden_size} does not match R of shape {r_shape}")
        self.hidden = hidden
        self._check_shapes(layout)
        self.layout = layout
        self.dtype = cx.in_storage(0) or "float32"
        F = self.F
        if layout:
            X = F.swapaxes(X, dim1=0, dim2=1)
            initial_h = F.swapaxes(initial_h, dim1=0, dim2=1) if initial_h is not None else None
            initial_c = F.swapaxes(initial_c, dim1=0, dim2=1) if initial_c is not None else None
        self.X, self.W, self.R, self.B, self.P = X, W, R, B, P
        self.initial_h, self.initial_c = initial_h, initial_c
        self.sequence_lens = self._effective_lengths(sequence_lens)

    def _check_shapes(self, layout: int) -> None:
        """Known sizes of W, R, B, initial_h/c, P against the direction count and hidden size: MXNet's
        fused RNN reads its packed parameters by those sizes, out of bounds when they disagree."""
        cx, dirs, size = self.cx, self.num_directions, self.gates * self.hidden
        x_shape = cx.in_shape(0)
        batch = x_shape[0 if layout else 1] if x_shape is not None and len(x_shape) == 3 else None
        expected = {1: (dirs, size, None), 2: (dirs, size, self.hidden), 3: (dirs, 2 * size), 4: (batch,),
                    5: (batch, dirs, self.hidden) if layout else (dirs, batch, self.hidden),
                    6: (batch, dirs, self.hidden) if layout else (dirs, batch, self.hidden), 7: (dirs, 3 * self.hidden)}
        if x_shape is not None and len(x_shape) != 3:
            raise cx.fail(f"X must have rank 3, got shape {tuple(x_shape)}")
        for index, dims in expected.items():
            if self.kind != "lstm" and index in (6, 7):
                continue
            shape = cx.in_shape(index)
            if shape is None:
                continue
            if len(shape) != len(dims) or any(isinstance(s, int) and isinstance(d, int) and s != d
                                              for s, d in zip(shape, dims)):
                raise cx.fail(f"input {index} has shape {tuple(shape)}, expected {tuple(dims)} "
                              f"({dirs} direction(s), hidden size {self.hidden})")

    def _effective_lengths(self, sequence_lens: object) -> object:
        """sequence_lens, or None when it is known to cover the whole sequence."""
        if sequence_lens is None:
            return None
        known = self.cx.static(4)
        x_shape = self.cx.in_shape(0)
        if known is not None and x_shape is not None:
            steps = x_shape[1 if self.layout else 0]
            if isinstance(steps, int) and np.all(np.asarray(known) == steps):
                return None
        return sequence_lens

    def zero_state(self) -> object:
        """Zeros of shape (num_directions, batch, hidden), batch taken from X."""
        F = self.F
        column = F.slice_axis(F.slice_axis(self.X, axis=0, begin=0, end=1), axis=2, begin=0, end=1)
        return F.tile(F.zeros_like(column), reps=(self.num_directions, 1, self.hidden))

    def finish(self, y: object, y_h: object, y_c: object | None) -> tuple:
        """ONNX outputs from Y (T, dirs, N, H), Y_h and Y_c (dirs, N, H)."""
        F = self.F
        if self.layout:
            y = F.transpose(y, axes=(2, 0, 1, 3)) if y is not None else None
            y_h = F.swapaxes(y_h, dim1=0, dim2=1)
            y_c = F.swapaxes(y_c, dim1=0, dim2=1) if y_c is not None else None
        outputs = [y, y_h] + ([y_c] if self.kind == "lstm" else [])
        return tuple(outputs[: max(self.cx.num_outputs, 1)])

    # --- fused ---------------------------------------------------------------------------
    def fused(self, mode: str) -> tuple:
        F, H, dirs = self.F, self.hidden, self.num_directions
        order = _FUSED_GATE_ORDER[self.kind]
        gates = self.gates

        def reorder(x: object, axis: int) -> object:
            if order == tuple(range(gates)):
                return x
            return F.take(x, self.cx.const(np.array(order, dtype=np.int64)), axis=axis)

        w = reorder(F.reshape(self.W, shape=(dirs, gates, -1)), 1)
        r = reorder(F.reshape(self.R, shape=(dirs, gates, -1)), 1)
        weights = F.concat(F.reshape(w, shape=(dirs, -1)), F.reshape(r, shape=(dirs, -1)), dim=1)
        if self.B is not None:
            bias = reorder(F.reshape(self.B, shape=(dirs, 2, gates, H)), 2)
            bias = F.reshape(bias, shape=(-1,))
        else:
            bias = self.cx.const(np.zeros(dirs * 2 * gates * H, dtype=self.dtype))
        params = F.concat(F.reshape(weights, shape=(-1,)), bias, dim=0)
        h0 = self.initial_h if self.initial_h is not None else self.zero_state()
        reverse = self.direction == "reverse"  # MXNet's fused layer has no reverse-only direction
        args = [F.reverse(self.X, axis=0) if reverse else self.X, params, h0]
        if self.kind == "lstm":
            args.append(self.initial_c if self.initial_c is not None else self.zero_state())
        out = F.RNN(*args, state_size=H, num_layers=1, bidirectional=dirs == 2, mode=mode, state_outputs=True)
        y = F.reverse(out[0], axis=0) if reverse else out[0]
        y = F.transpose(F.reshape(y, shape=(0, 0, dirs, H)), axes=(0, 2, 1, 3))
        return self.finish(y, out[1], out[2] if self.kind == "lstm" else None)

    # --- unrolled ------------------------------------------------------------------------
    def unrolled(self, step: Callable, activations: list[list[Callable]]) -> tuple:
        F, H, dirs = self.F, self.hidden, self.num_directions
        lengths = None
        mask = None
        if self.sequence_lens is not None:
            lengths = F.Cast(self.sequence_lens, dtype=self.dtype)
            steps = F.contrib.arange_like(self.X, axis=0)
            mask = F.expand_dims(F.broadcast_lesser(F.reshape(steps, shape=(-1, 1)),
                                                    F.reshape(lengths, shape=(1, -1))), axis=2)
            mask = F.Cast(mask, dtype=self.dtype)
        h0 = self.initial_h if self.initial_h is not None else self.zero_state()
        c0 = None
        if self.kind == "lstm":
            c0 = self.initial_c if self.initial_c is not None else self.zero_state()
        steps = self.steps()
        if steps == 0:
            raise self.cx.fail("an empty sequence has no last state")
        masks = _split_steps(F, mask, steps) if mask is not None else None
        ys, hs, cs = [], [], []
        for d in range(dirs):
            reverse = self.direction == "reverse" or d == 1
            x = self.X
            if reverse:
                x = self._reverse(x, lengths)
            w = _pick(F, self.W, d, dirs)
            r = _pick(F, self.R, d, dirs)
            if self.B is not None:
                b = _pick(F, self.B, d, dirs)
                wb = F.slice_axis(b, axis=0, begin=0, end=self.gates * H)
                rb = F.slice_axis(b, axis=0, begin=self.gates * H, end=2 * self.gates * H)
            else:
                wb = rb = None
            projected = _dense(F, x, w, wb, self.gates * H)
            p = _pick(F, self.P, d, dirs) if self.P is not None else None
            states = [_pick(F, h0, d, dirs)] + ([_pick(F, c0, d, dirs)] if c0 is not None else [])
            cell = step(self, r, rb, p, activations[d])
            state = states
            outputs = []
            for t, x_t in enumerate(_split_steps(F, projected, steps)):
                new_state = cell(x_t, state)
                if mask is None:
                    state = new_state
                    outputs.append(new_state[0])
                    continue
                keep = masks[t]
                state = [F.broadcast_mul(keep, new) + F.broadcast_mul(1 - keep, old)
                         for new, old in zip(new_state, state)]
                outputs.append(F.broadcast_mul(keep, new_state[0]))
            final = state
            if self.cx.output_used(0):
                y = F.stack(*outputs, axis=0) if len(outputs) > 1 else F.expand_dims(outputs[0], axis=0)
                ys.append(self._reverse(y, lengths) if reverse else y)
            hs.append(final[0])
            if c0 is not None:
                cs.append(final[1])
        y = None
        if ys:
            y = F.stack(*ys, axis=1) if dirs == 2 else F.expand_dims(ys[0], axis=1)
        y_h = F.stack(*hs, axis=0) if dirs == 2 else F.expand_dims(hs[0], axis=0)
        y_c = None
        if cs:
            y_c = F.stack(*cs, axis=0) if dirs == 2 else F.expand_dims(cs[0], axis=0)
        return self.finish(y, y_h, y_c)

    def steps(self) -> int:
        """The sequence length (a symbolic length asks for a trace specialized to it)."""
        shape = self.cx.in_shape(0)
        if shape is None or len(shape) != 3:
            raise self.cx.fail("X must have rank 3")
        steps = shape[1 if self.layout else 0]
        if not isinstance(steps, int):
            raise NeedsSpecialization(f"{self.cx.op_type} node {self.cx.name!r} unrolls over the sequence length")
        return steps

    def _reverse(self, x: object, lengths: object) -> object:
        F = self.F
        if lengths is None:
            return F.reverse(x, axis=0)
        return F.SequenceReverse(x, lengths, use_sequence_length=True)

    def clipped(self, x: object, clip: float | None) -> object:
        return self.F.clip(x, -clip, clip) if clip is not None else x


def _pick(F: object, x: object, index: int, count: int) -> object:
    """Entry ``index`` of the leading (directions) axis."""
    if count == 1:
        return F.squeeze(x, axis=0)
    return F.squeeze(F.slice_axis(x, axis=0, begin=index, end=index + 1), axis=0)


def _split_steps(F: object, x: object, steps: int) -> list:
    """The ``steps`` time slices of ``x`` (time axis first, dropped)."""
    if steps == 1:
        return [F.squeeze(x, axis=0)]
    return list(F.split(x, num_outputs=steps, axis=0, squeeze_axis=True))


def _dense(F: object, x: object, weight: object, bias: object | None, units: int) -> object:
    return F.FullyConnected(x, weight, bias, num_hidden=units, no_bias=bias is None, flatten=False)


def _gate(F: object, x: object, index: int, hidden: int) -> object:
    return F.slice_axis(x, axis=-1, begin=index * hidden, end=(index + 1) * hidden)


# --- cells ------------------------------------------------------------------------------


def _lstm_cell(clip: float | None, input_forget: int) -> Callable:
    def make(rec: _Recurrence, r: object, rb: object, p: object, acts: list[Callable]) -> Callable:
        F, H = rec.F, rec.hidden
        f, g, h = acts
        peep = [_gate(F, p, k, H) for k in range(3)] if p is not None else None  # i, o, f

        def cell(x_t: object, state: list) -> list:
            h_prev, c_prev = state
            gates = x_t + _dense(F, h_prev, r, rb, 4 * H)
            i_pre, o_pre, f_pre, c_pre = (_gate(F, gates, k, H) for k in range(4))
            if peep is not None:
                i_pre = i_pre + F.broadcast_mul(c_prev, peep[0])
                f_pre = f_pre + F.broadcast_mul(c_prev, peep[2])
            i = f(rec.clipped(i_pre, clip))
            forget = 1 - i if input_forget else f(rec.clipped(f_pre, clip))
            c = forget * c_prev + i * g(rec.clipped(c_pre, clip))
            if peep is not None:
                o_pre = o_pre + F.broadcast_mul(c, peep[1])
            o = f(rec.clipped(o_pre, clip))
            return [o * h(c), c]

        return cell

    return make


def _gru_cell(clip: float | None, linear_before_reset: int) -> Callable:
    def make(rec: _Recurrence, r: object, rb: object, p: object, acts: list[Callable]) -> Callable:
        F, H = rec.F, rec.hidden
        f, g = acts
        r_zr = F.slice_axis(r, axis=0, begin=0, end=2 * H)
        r_h = F.slice_axis(r, axis=0, begin=2 * H, end=3 * H)
        rb_zr = F.slice_axis(rb, axis=0, begin=0, end=2 * H) if rb is not None else None
        rb_h = F.slice_axis(rb, axis=0, begin=2 * H, end=3 * H) if rb is not None else None

        def cell(x_t: object, state: list) -> list:
            (h_prev,) = state
            zr = _gate(F, x_t, 0, 2 * H) + _dense(F, h_prev, r_zr, rb_zr, 2 * H)
            z = f(rec.clipped(_gate(F, zr, 0, H), clip))
            reset = f(rec.clipped(_gate(F, zr, 1, H), clip))
            if linear_before_reset:
                recurrent = reset * _dense(F, h_prev, r_h, rb_h, H)
            else:
                recurrent = _dense(F, reset * h_prev, r_h, rb_h, H)
            candidate = g(rec.clipped(_gate(F, x_t, 2, H) + recurrent, clip))
            return [(1 - z) * candidate + z * h_prev]

        return cell

    return make


def _rnn_cell(clip: float | None) -> Callable:
    def make(rec: _Recurrence, r: object, rb: object, p: object, acts: list[Callable]) -> Callable:
        F, H = rec.F, rec.hidden
        (f,) = acts

        def cell(x_t: object, state: list) -> list:
            (h_prev,) = state
            return [f(rec.clipped(x_t + _dense(F, h_prev, r, rb, H), clip))]

        return cell

    return make


def _peepholes_zero(cx: NodeContext, P: object) -> bool:
    if P is None:
        return True
    known = cx.static(7)
    return known is not None and not np.any(known)


# --- converters ---------------------------------------------------------------------------


@converter("LSTM", since=1)
@converter("LSTM", since=7)
@converter("LSTM", since=14)
@converter("LSTM", since=22)
def lstm(cx: NodeContext, X: object, W: object, R: object, B: object = None, sequence_lens: object = None,
         initial_h: object = None, initial_c: object = None, P: object = None, *,
         activation_alpha: list[float] | None = None, activation_beta: list[float] | None = None,
         activations: list[str] | None = None, clip: float | None = None, direction: str = "forward",
         hidden_size: int | None = None, input_forget: int = 0, layout: int = 0, output_sequence: int = 0) -> tuple:
    rec = _Recurrence(cx, "lstm", X, W, R, B, sequence_lens, initial_h, initial_c, P,
                      hidden_size=hidden_size, direction=direction, layout=layout)
    mode = _is_default_activations("lstm", activations, rec.num_directions)
    if (mode and clip is None and not input_forget and _peepholes_zero(cx, P) and rec.sequence_lens is None
            and rec.dtype == "float32"):
        return rec.fused(mode)
    acts = _activations(cx, "lstm", rec.num_directions, activations, activation_alpha, activation_beta)
    return rec.unrolled(_lstm_cell(clip, input_forget), acts)


@converter("GRU", since=1)
@converter("GRU", since=3)
@converter("GRU", since=7)
@converter("GRU", since=14)
@converter("GRU", since=22)
def gru(cx: NodeContext, X: object, W: object, R: object, B: object = None, sequence_lens: object = None,
        initial_h: object = None, *, activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None, activations: list[str] | None = None,
        clip: float | None = None, direction: str = "forward", hidden_size: int | None = None,
        layout: int = 0, linear_before_reset: int = 0, output_sequence: int = 0) -> tuple:
    if direction == "foward":  # the default of GRU-1 has this typo
        direction = "forward"
    rec = _Recurrence(cx, "gru", X, W, R, B, sequence_lens, initial_h, None, None,
                      hidden_size=hidden_size, direction=direction, layout=layout)
    mode = _is_default_activations("gru", activations, rec.num_directions)
    if mode and clip is None and linear_before_reset and rec.sequence_lens is None and rec.dtype == "float32":
        return rec.fused(mode)
    acts = _activations(cx, "gru", rec.num_directions, activations, activation_alpha, activation_beta)
    return rec.unrolled(_gru_cell(clip, linear_before_reset), acts)


@converter("RNN", since=1)
@converter("RNN", since=7)
@converter("RNN", since=14)
@converter("RNN", since=22)
def rnn(cx: NodeContext, X: object, W: object, R: object, B: object = None, sequence_lens: object = None,
        initial_h: object = None, *, activation_alpha: list[float] | None = None,
        activation_beta: list[float] | None = None, activations: list[str] | None = None,
        clip: float | None = None, direction: str = "forward", hidden_size: int | None = None,
        layout: int = 0, output_sequence: int = 0) -> tuple:
    rec = _Recurrence(cx, "rnn", X, W, R, B, sequence_lens, initial_h, None, None,
                      hidden_size=hidden_size, direction=direction, layout=layout)
    mode = _is_default_activations("rnn", activations, rec.num_directions)
    if mode and clip is None and rec.sequence_lens is None and rec.dtype == "float32":
        return rec.fused(mode)
    acts = _activations(cx, "rnn", rec.num_directions, activations, activation_alpha, activation_beta)
    return rec.unrolled(_rnn_cell(clip), acts)
