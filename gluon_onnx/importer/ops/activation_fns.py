"""Pointwise activation functions: Relu, LeakyRelu, PRelu, Elu, Selu, Celu, Gelu, Mish, HardSigmoid,
HardSwish, Shrink, ThresholdedRelu, Softplus, Softsign, Sigmoid, Tanh, Swish.

(Softmax, LogSoftmax and Hardmax live in ``activation.py``.)
"""

from __future__ import annotations

import math

from ..context import NodeContext
from ..mxops import reshape
from ..registry import converter
from ._helpers import is_float_input
from ._numeric import is_integer_type, is_unsigned_type, where

_SELU_ALPHA = 1.67326319217681884765625
_SELU_GAMMA = 1.05070102214813232421875


def _leaky_relu(cx: NodeContext, x: object, **params: object) -> object:
    """MXNet's LeakyReLU operator, which rejects 0-d arrays: those go through shape (1,)."""
    F = cx.F
    if cx.in_rank(0) == 0:
        return reshape(F, F.LeakyReLU(reshape(F, x, (1,)), **params), ())
    return F.LeakyReLU(x, **params)


@converter("Relu", since=1)
@converter("Relu", since=6)
@converter("Relu", since=13)
@converter("Relu", since=14)
def relu(cx: NodeContext, x: object, *, consumed_inputs: list[int] | None = None) -> object:
    if is_float_input(cx):
        return cx.F.Activation(x, act_type="relu")
    return cx.F.relu(x)


@converter("LeakyRelu", since=1)
@converter("LeakyRelu", since=6)
@converter("LeakyRelu", since=16)
def leaky_relu(cx: NodeContext, x: object, *, alpha: float = 0.01,
               consumed_inputs: list[int] | None = None) -> object:
    return _leaky_relu(cx, x, act_type="leaky", slope=alpha)


@converter("PRelu", since=1)
@converter("PRelu", since=6)
def prelu_v1(cx: NodeContext, x: object, slope: object, *, consumed_inputs: list[int] | None = None) -> object:
    # before opset 7 a 1-D slope holds one value per channel (axis 1), as PyTorch exported it
    x_shape, s_shape = cx.in_shape(0), cx.in_shape(1)
    if x_shape is not None and s_shape is not None and len(s_shape) == 1 and len(x_shape) >= 2 \
            and s_shape[0] == x_shape[1] and is_float_input(cx):
        return cx.F.LeakyReLU(x, gamma=slope, act_type="prelu")
    return prelu(cx, x, slope)


@converter("PRelu", since=7)
@converter("PRelu", since=9)
@converter("PRelu", since=16)
def prelu(cx: NodeContext, x: object, slope: object) -> object:
    F = cx.F
    if is_unsigned_type(cx.in_dtype(0)):
        return F.identity(x)
    channels = _channel_slope(cx)
    if channels is not None and is_float_input(cx):
        # one slope per channel (axis 1) or one shared slope: MXNet's fused PReLU
        gamma = reshape(F, slope, (channels,))
        return F.LeakyReLU(x, gamma=gamma, act_type="prelu")
    negative = x < 0
    return where(cx, negative, F.broadcast_mul(x, slope), x)


def _channel_slope(cx: NodeContext) -> int | None:
    """Slope size when it is per-channel on axis 1 (or a single value) of a rank >= 2 input."""
    x_shape, s_shape = cx.in_shape(0), cx.in_shape(1)
    if x_shape is None or s_shape is None or len(x_shape) < 2 or len(s_shape) > len(x_shape):
        return None
    aligned = (1,) * (len(x_shape) - len(s_shape)) + tuple(s_shape)
    if all(isinstance(d, int) and d == 1 for d in aligned):
        return 1
    others_one = all(isinstance(d, int) and d == 1 for i, d in enumerate(aligned) if i != 1)
    if others_one and isinstance(aligned[1], int) and aligned[1] == x_shape[1]:
        return aligned[1]
    return None


@converter("Elu", since=1)
@converter("Elu", since=6)
@converter("Elu", since=22)
def elu(cx: NodeContext, x: object, *, alpha: float = 1.0, consumed_inputs: list[int] | None = None) -> object:
    return _leaky_relu(cx, x, act_type="elu", slope=alpha)


@converter("Selu", since=1)
@converter("Selu", since=6)
@converter("Selu", since=22)
def selu(cx: NodeContext, x: object, *, alpha: float = _SELU_ALPHA, gamma: float = _SELU_GAMMA,
         consumed_inputs: list[int] | None = None) -> object:
    return _leaky_relu(cx, x, act_type="elu", slope=alpha) * gamma


@converter("Celu", since=12)
@converter("Celu", since=28)
def celu(cx: NodeContext, x: object, *, alpha: float = 1.0) -> object:
    # max(0, x) + min(0, alpha * (exp(x / alpha) - 1)) == alpha * elu(x / alpha)
    return _leaky_relu(cx, x / alpha, act_type="elu", slope=1.0) * alpha


@converter("Gelu", since=20)
def gelu(cx: NodeContext, x: object, *, approximate: str = "none") -> object:
    F = cx.F
    if approximate == "none":
        return _leaky_relu(cx, x, act_type="gelu")
    if approximate != "tanh":
        raise cx.fail(f"unknown Gelu approximation {approximate!r}")
    inner = (x + (x * x * x) * 0.044715) * math.sqrt(2.0 / math.pi)
    return x * (F.Activation(inner, act_type="tanh") + 1.0) * 0.5


def _softplus(cx: NodeContext, x: object) -> object:
    """log(1 + exp(x)) without the cancellation of MXNet's softrelu for negative x."""
    F = cx.F
    return F.relu(x) + F.log1p(F.exp(-F.abs(x)))


@converter("Mish", since=18)
@converter("Mish", since=22)
def mish(cx: NodeContext, x: object) -> object:
    return x * cx.F.Activation(_softplus(cx, x), act_type="tanh")


@converter("HardSigmoid", since=1)
@converter("HardSigmoid", since=6)
@converter("HardSigmoid", since=22)
def hard_sigmoid(cx: NodeContext, x: object, *, alpha: float = 0.2, beta: float = 0.5,
                 consumed_inputs: list[int] | None = None) -> object:
    return cx.F.hard_sigmoid(x, alpha=alpha, beta=beta)


@converter("HardSwish", since=14)
@converter("HardSwish", since=22)
def hard_swish(cx: NodeContext, x: object) -> object:
    return x * cx.F.hard_sigmoid(x, alpha=1.0 / 6.0, beta=0.5)


@converter("Shrink", since=9)
def shrink(cx: NodeContext, x: object, *, bias: float = 0.0, lambd: float = 0.5) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    value = x if is_float_input(cx) else F.Cast(x, dtype="float64")
    zeros = F.zeros_like(value)
    out = F.where(value < -lambd, value + bias, F.where(value > lambd, value - bias, zeros))
    if is_integer_type(cx.in_dtype(0)):
        out = F.Cast(out, dtype=storage)
    return out


@converter("ThresholdedRelu", since=10)
@converter("ThresholdedRelu", since=22)
def thresholded_relu(cx: NodeContext, x: object, *, alpha: float = 1.0) -> object:
    F = cx.F
    return F.where(x > alpha, x, F.zeros_like(x))


@converter("Softplus", since=1)
@converter("Softplus", since=22)
def softplus(cx: NodeContext, x: object) -> object:
    return _softplus(cx, x)


@converter("Softsign", since=1)
@converter("Softsign", since=22)
def softsign(cx: NodeContext, x: object) -> object:
    return cx.F.Activation(x, act_type="softsign")


@converter("Sigmoid", since=1)
@converter("Sigmoid", since=6)
@converter("Sigmoid", since=13)
def sigmoid(cx: NodeContext, x: object, *, consumed_inputs: list[int] | None = None) -> object:
    return cx.F.Activation(x, act_type="sigmoid")


@converter("Tanh", since=1)
@converter("Tanh", since=6)
@converter("Tanh", since=13)
def tanh(cx: NodeContext, x: object, *, consumed_inputs: list[int] | None = None) -> object:
    return cx.F.Activation(x, act_type="tanh")


@converter("Swish", since=24)
def swish(cx: NodeContext, x: object, *, alpha: float = 1.0) -> object:
    F = cx.F
    scaled = x if alpha == 1.0 else x * alpha
    return x * F.Activation(scaled, act_type="sigmoid")
