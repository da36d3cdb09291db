"""Fused operators produced by the inference optimizer (domain ``gluon_onnx.fused``)."""

from __future__ import annotations

from ..context import NodeContext
from ..optimize import FUSED_DOMAIN
from ..registry import converter


@converter("Gelu", since=1, domain=FUSED_DOMAIN)
def fused_gelu(cx: NodeContext, x: object) -> object:
    """Exact (erf) GELU as one MXNet operator."""
    return cx.F.LeakyReLU(x, act_type="gelu")


@converter("LayerNorm", since=1, domain=FUSED_DOMAIN)
def fused_layer_norm(cx: NodeContext, x: object, gamma: object, beta: object, *, epsilon: float = 1e-5) -> object:
    """LayerNorm over the last axis as one MXNet operator."""
    return cx.F.LayerNorm(x, gamma, beta, axis=-1, eps=epsilon)


@converter("Dense", since=1, domain=FUSED_DOMAIN)
def fused_dense(cx: NodeContext, x: object, weight: object, bias: object = None) -> object:
    """``x @ weight.T + bias`` over the last axis of ``x`` (weight stored (units, inputs))."""
    F = cx.F
    units = cx.in_shape(1)[0]
    if cx.rank(0) == 1:
        out = F.FullyConnected(F.reshape(x, shape=(1, -1)), weight, bias, num_hidden=units, no_bias=bias is None)
        return F.reshape(out, shape=(-1,))
    return F.FullyConnected(x, weight, bias, num_hidden=units, no_bias=bias is None, flatten=False)
