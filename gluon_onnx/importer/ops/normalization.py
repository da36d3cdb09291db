"""Normalization layers: BatchNormalization, InstanceNormalization, LRN, LayerNormalization,
RMSNormalization, GroupNormalization, MeanVarianceNormalization, LpNormalization."""

from __future__ import annotations

import numpy as np

from ..context import NodeContext
from ..registry import converter
from ._helpers import norm_axes, norm_axis, same_shape
from ._precision import compute_dtype

_BATCH_NORM_NOTES = ("float16 data or statistics computed by other nodes: normalized with the given statistics, "
                     "which Gluon training does not update")


@converter("BatchNormalization", since=1, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
@converter("BatchNormalization", since=6, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
@converter("BatchNormalization", since=7, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
@converter("BatchNormalization", since=9, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
@converter("BatchNormalization", since=14, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
@converter("BatchNormalization", since=15, aux=("mean", "var"), notes=_BATCH_NORM_NOTES)
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
        return _batch_norm_with_running_statistics(cx, x, scale, bias, mean, var, epsilon, per_activation=True)
    if cx.in_storage(0) == "float16" or not (_is_variable(cx, 3) and _is_variable(cx, 4)):
        # MXNet's BatchNorm wants float32 statistics it can update in place (graph variables):
        # otherwise normalize with the running statistics, which then stay as they are
        return _batch_norm_with_running_statistics(cx, x, scale, bias, mean, var, epsilon)
    # Gluon semantics: batch statistics (and running-statistic updates) under
    # autograd.record(train_mode=True), running statistics otherwise.
    return F.BatchNorm(x, scale, bias, mean, var, eps=epsilon, momentum=momentum, fix_gamma=False,
                       use_global_stats=False, axis=1)


def _is_variable(cx: NodeContext, index: int) -> bool:
    """Whether input ``index`` is a graph input, parameter or constant (a variable of a traced graph)."""
    name = cx.step.inputs[index]
    plan = cx.executor.plan
    return name in plan.params or name in plan.inputs or name in plan.statics


def _batch_norm_with_running_statistics(cx: NodeContext, x: object, scale: object, bias: object, mean: object,
                                        var: object, epsilon: float, per_activation: bool = False) -> object:
    """Inference-form BatchNormalization; ``per_activation`` (spatial=0) statistics have shape (C, D1, ...)."""
    F = cx.F
    x, ct = _stash(cx, x)
    scale, bias, mean, var = (_cast_to(cx, v, i, ct) for i, v in enumerate((scale, bias, mean, var), start=1))
    rank = cx.rank(0)
    if per_activation:
        scale, bias, mean, var = (F.expand_dims(v, axis=0) for v in (scale, bias, mean, var))
    else:
        scale, bias, mean, var = (_channel_shaped(F, v, rank) for v in (scale, bias, mean, var))
    factor = F.broadcast_mul(scale, F.rsqrt(var + epsilon))
    return _back(cx, F.broadcast_add(F.broadcast_mul(F.broadcast_sub(x, mean), factor), bias), ct)


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
    F = cx.F
    storage = cx.in_storage(0)
    if storage == "float32":
        return F.InstanceNorm(x, scale, bias, eps=epsilon)
    if storage == "float16":
        y = F.InstanceNorm(*(F.Cast(v, dtype="float32") for v in (x, scale, bias)), eps=epsilon)
        return F.Cast(y, dtype="float16")
    # MXNet's InstanceNorm is float32 only: float64 by hand
    rank = cx.rank(0)
    axes = tuple(range(2, rank))
    mean = F.mean(x, axis=axes, keepdims=True)
    centered = F.broadcast_sub(x, mean)
    normalized = F.broadcast_mul(centered, F.rsqrt(F.mean(F.square(centered), axis=axes, keepdims=True) + epsilon))
    return F.broadcast_add(F.broadcast_mul(normalized, _channel_shaped(F, scale, rank)),
                           _channel_shaped(F, bias, rank))


@converter("LRN", since=1)
@converter("LRN", since=13)
def lrn(cx: NodeContext, x: object, *, alpha: float = 1e-4, beta: float = 0.75, bias: float = 1.0,
        size: int = 0) -> object:
    if size <= 0:
        raise cx.fail("attribute 'size' is required")
    F = cx.F
    storage = cx.in_storage(0)
    if storage == "float32":
        return F.LRN(x, alpha=alpha, beta=beta, knorm=bias, nsize=size)
    # MXNet's LRN is float32 only
    y = F.LRN(F.Cast(x, dtype="float32"), alpha=alpha, beta=beta, knorm=bias, nsize=size)
    return F.Cast(y, dtype=storage)


def _stash(cx: NodeContext, x: object) -> tuple[object, str]:
    """Input in its computation dtype (float16 computes in float32, as ONNX's stash_type=1)."""
    storage = cx.in_storage(0) or "float32"
    ct = compute_dtype(storage)
    return (x if storage == ct else cx.F.Cast(x, dtype=ct)), ct


def _back(cx: NodeContext, value: object, ct: str, index: int = 0) -> object:
    storage = cx.out_storage(index) or ct
    return value if storage == ct else cx.F.Cast(value, dtype=storage)


def _channel_shaped(F: object, v: object, rank: int) -> object:
    """(C,) -> (1, C, 1, ...) for a rank-``rank`` NC... tensor."""
    return F.reshape(v, shape=(1, -1) + (1,) * (rank - 2))


@converter("LayerNormalization", since=17)
def layer_normalization(cx: NodeContext, x: object, scale: object, bias: object = None, *, axis: int = -1,
                        epsilon: float = 1e-5, stash_type: int = 1) -> object:
    F = cx.F
    rank = cx.rank(0)
    axis = norm_axis(cx, axis, rank)
    x, ct = _stash(cx, x)
    scale_shape, bias_shape = cx.in_shape(1), cx.in_shape(2) if bias is not None else None
    last = cx.in_shape(0)[-1]
    want_stats = cx.output_used(1) or cx.output_used(2)
    if axis == rank - 1 and same_shape(scale_shape, (last,)) and (bias is None or same_shape(bias_shape, (last,))):
        if cx.in_storage(1) != ct:
            scale = F.Cast(scale, dtype=ct)
        if bias is None:
            bias = F.zeros_like(scale)
        elif cx.in_storage(2) != ct:
            bias = F.Cast(bias, dtype=ct)
        if not want_stats:
            return _back(cx, F.LayerNorm(x, scale, bias, axis=-1, eps=epsilon), ct)
        y, mean, std = F.LayerNorm(x, scale, bias, axis=-1, eps=epsilon, output_mean_var=True)
        return _back(cx, y, ct), _back(cx, mean, ct, 1), _back(cx, F.reciprocal(std), ct, 2)
    axes = tuple(range(axis, rank))
    mean = F.mean(x, axis=axes, keepdims=True)
    centered = F.broadcast_sub(x, mean)
    inv_std = F.rsqrt(F.mean(F.square(centered), axis=axes, keepdims=True) + epsilon)
    y = F.broadcast_mul(F.broadcast_mul(centered, inv_std), _cast_to(cx, scale, 1, ct))
    if bias is not None:
        y = F.broadcast_add(y, _cast_to(cx, bias, 2, ct))
    return _back(cx, y, ct), _back(cx, mean, ct, 1), _back(cx, inv_std, ct, 2)


def _cast_to(cx: NodeContext, v: object, index: int, ct: str) -> object:
    return v if cx.in_storage(index) == ct else cx.F.Cast(v, dtype=ct)


@converter("RMSNormalization", since=23)
def rms_normalization(cx: NodeContext, x: object, scale: object, *, axis: int = -1, epsilon: float = 1e-5,
                      stash_type: int = 1) -> object:
    F = cx.F
    rank = cx.rank(0)
    axes = tuple(range(norm_axis(cx, axis, rank), rank))
    x, ct = _stash(cx, x)
    inv_rms = F.rsqrt(F.mean(F.square(x), axis=axes, keepdims=True) + epsilon)
    y = F.broadcast_mul(F.broadcast_mul(x, inv_rms), _cast_to(cx, scale, 1, ct))
    return _back(cx, y, ct)


def _group_norm(cx: NodeContext, x: object, scale: object, bias: object, num_groups: int, epsilon: float,
                per_channel: bool) -> object:
    F = cx.F
    rank = cx.rank(0)
    if rank < 3:
        x = F.expand_dims(x, axis=2)
    x, ct = _stash(cx, x)
    if not per_channel:
        return _back(cx, F.GroupNorm(x, _cast_to(cx, scale, 1, ct), _cast_to(cx, bias, 2, ct),
                                     num_groups=num_groups, eps=epsilon), ct)
    unit = cx.const(np.ones((num_groups,), dtype=ct))
    zero = cx.const(np.zeros((num_groups,), dtype=ct))
    y = F.GroupNorm(x, unit, zero, num_groups=num_groups, eps=epsilon)
    if rank < 3:
        y = F.reshape(y, shape=(0, 0))
    y = F.broadcast_add(F.broadcast_mul(y, _channel_shaped(F, _cast_to(cx, scale, 1, ct), max(rank, 2))),
                        _channel_shaped(F, _cast_to(cx, bias, 2, ct), max(rank, 2)))
    return _back(cx, y, ct)


@converter("GroupNormalization", since=18)
def group_normalization_v18(cx: NodeContext, x: object, scale: object, bias: object, *, epsilon: float = 1e-5,
                            num_groups: int = 1) -> object:
    return _group_norm(cx, x, scale, bias, num_groups, epsilon, per_channel=False)


@converter("GroupNormalization", since=21)
def group_normalization(cx: NodeContext, x: object, scale: object, bias: object, *, epsilon: float = 1e-5,
                        num_groups: int = 1, stash_type: int = 1) -> object:
    return _group_norm(cx, x, scale, bias, num_groups, epsilon, per_channel=True)


@converter("MeanVarianceNormalization", since=9)
@converter("MeanVarianceNormalization", since=13)
def mean_variance_normalization(cx: NodeContext, x: object, *, axes: list[int] | None = None) -> object:
    F = cx.F
    rank = cx.rank(0)
    axes_t = tuple(norm_axes(cx, axes if axes is not None else [0, 2, 3], rank))
    mean = F.mean(x, axis=axes_t, keepdims=True)
    variance = F.mean(F.square(x), axis=axes_t, keepdims=True) - F.square(mean)
    return F.broadcast_div(F.broadcast_sub(x, mean), F.sqrt(variance) + 1e-9)


@converter("LpNormalization", since=1)
@converter("LpNormalization", since=22)
def lp_normalization(cx: NodeContext, x: object, *, axis: int = -1, p: int = 2) -> object:
    F = cx.F
    if p not in (1, 2):
        raise cx.fail(f"p must be 1 or 2, got {p}")
    rank = cx.rank(0)
    norm = F.norm(x, ord=p, axis=norm_axis(cx, axis, rank), keepdims=True)
    # a zero norm gives 0 (x is all zeros there), not 0/0
    norm = F.where(norm == 0, F.ones_like(norm), norm)
    return F.broadcast_div(x, norm)
