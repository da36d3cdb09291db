"""Losses: NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss."""

from __future__ import annotations

from ..context import NodeContext
from ..mxops import reshape
from ..registry import converter
from ._precision import compute_dtype


def _nll(cx: NodeContext, log_prob: object, target: object, weight: object, reduction: str,
         ignore_index: int | None, ct: str) -> object:
    """Weighted negative log-likelihood of ``log_prob`` (N, C, d...) at ``target`` (N, d...)."""
    F = cx.F
    if reduction not in ("none", "sum", "mean"):
        raise cx.fail(f"unknown reduction {reduction!r}")
    picked = F.pick(log_prob, target, axis=1, mode="clip")
    weights = None
    if weight is not None:
        weights = F.take(F.Cast(weight, dtype=ct), target, mode="clip")
    if ignore_index is not None:
        kept = F.Cast(target != ignore_index, dtype=ct)
        weights = kept if weights is None else weights * kept
    loss = -picked if weights is None else -(picked * weights)
    if reduction == "none":
        return loss
    total = F.sum(loss)
    if reduction == "mean":
        total = total / (F.sum(weights) if weights is not None else F.sum(F.ones_like(loss)))
    return reshape(F, total, ())


def _finish(cx: NodeContext, value: object, ct: str, index: int = 0) -> object:
    storage = cx.out_storage(index) or ct
    return value if storage == ct else cx.F.Cast(value, dtype=storage)


@converter("NegativeLogLikelihoodLoss", since=12)
@converter("NegativeLogLikelihoodLoss", since=13)
@converter("NegativeLogLikelihoodLoss", since=22)
def negative_log_likelihood_loss(cx: NodeContext, x: object, target: object, weight: object = None, *,
                                 ignore_index: int | None = None, reduction: str = "mean") -> object:
    ct = compute_dtype(cx.in_storage(0))
    if cx.in_storage(0) != ct:
        x = cx.F.Cast(x, dtype=ct)
    return _finish(cx, _nll(cx, x, target, weight, reduction, ignore_index, ct), ct)


@converter("SoftmaxCrossEntropyLoss", since=12)
@converter("SoftmaxCrossEntropyLoss", since=13)
def softmax_cross_entropy_loss(cx: NodeContext, scores: object, labels: object, weights: object = None, *,
                               ignore_index: int | None = None, reduction: str = "mean") -> object:
    F = cx.F
    ct = compute_dtype(cx.in_storage(0))
    if cx.in_storage(0) != ct:
        scores = F.Cast(scores, dtype=ct)
    log_prob = F.log_softmax(scores, axis=1)
    loss = _finish(cx, _nll(cx, log_prob, labels, weights, reduction, ignore_index, ct), ct)
    if cx.output_used(1):
        return loss, _finish(cx, log_prob, ct, 1)
    return loss
