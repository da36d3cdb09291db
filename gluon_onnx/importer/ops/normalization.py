"""Normalization layers: BatchNormalization, InstanceNormalization, LRN, LayerNormalization."""

from __future__ import annotations

from ..context import NodeContext
from ..registry import converter


@converter("BatchNormalization", since=1, aux=("mean", "var"))
@converter("BatchNormalization", since=6, aux=("mean", "var"))
@converter("BatchNormalization", since=7, aux=("mean", "var"))
@converter("BatchNormalization", since=9, aux=("mean", "var"))
@converter("BatchNormalization", since=14, aux=("mean", "var"))
@converter("BatchNormalization", since=15, aux=("mean", "var"))
def batch_normalization(
    cx: NodeContext,
    x: object,
    scale: object,
    bias: object,
    mean: object,
    var: object,
    *,
    epsilon: float = 1e-5,
    momentum: float = 0.9,
    spatial: int = 1,
    is_test: int = 0,
    training_mode: int = 0,
    consumed_inputs: list[int] | None = None,
) -> object:
    F = cx.F
    if training_mode:
        return _batch_norm_training(cx, x, scale, bias, mean, var, epsilon, momentum)
    if not spatial:
        raise cx.fail("spatial=0 (per-activation statistics) is not supported")
    # Gluon semantics: batch statistics (and running-statistic updates) under
    # autograd.record(train_mode=True), running statistics otherwise.
    out = F.BatchNorm(x, scale, bias, mean, var, eps=epsilon, momentum=momentum, fix_gamma=False,
                      use_global_stats=False, axis=1)
    return out


def _batch_norm_training(cx: NodeContext, x: object, scale: object, bias: object, mean: object, var: object,
                         epsilon: float, momentum: float) -> tuple:
    F = cx.F
    rank = cx.rank(0)
    axes = tuple(i for i in range(rank) if i != 1)
    bshape = (1, -1) + (1,) * (rank - 2)
    batch_mean = F.mean(x, axis=axes)
    centered = F.broadcast_sub(x, F.reshape(batch_mean, shape=bshape))
    batch_var = F.mean(F.square(centered), axis=axes)
    inv = F.rsqrt(batch_var + epsilon)
    y = F.broadcast_add(
        F.broadcast_mul(centered, F.reshape(inv * scale, shape=bshape)), F.reshape(bias, shape=bshape)
    )
    running_mean = mean * momentum + batch_mean * (1 - momentum)
    running_var = var * momentum + batch_var * (1 - momentum)
    return y, running_mean, running_var


@converter("InstanceNormalization", since=1)
@converter("InstanceNormalization", since=6)
@converter("InstanceNormalization", since=22)
def instance_normalization(cx: NodeContext, x: object, scale: object, bias: object, *, epsilon: float = 1e-5,
                           consumed_inputs: list[int] | None = None) -> object:
    return cx.F.InstanceNorm(x, scale, bias, eps=epsilon)


@converter("LRN", since=1)
@converter("LRN", since=13)
def lrn(cx: NodeContext, x: object, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
        size: int = 0) -> object:
    if size <= 0:
        raise cx.fail("attribute 'size' is required")
    return cx.F.LRN(x, alpha=alpha, beta=beta, knorm=bias, nsize=size)
