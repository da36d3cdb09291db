"""Random generators: RandomNormal, RandomUniform, RandomNormalLike, RandomUniformLike,
Bernoulli, Multinomial.

They draw from MXNet's global generator (``mx.random.seed``): MXNet has no per-operator
seed, so the ONNX ``seed`` attribute cannot be honoured and is ignored. The converters are
registered ``deterministic=False``: they are never folded at import time, and every call of
the block (imperative or hybridized) draws new values.
"""

from __future__ import annotations

import numpy as np

from ...dtypes import np_dtype, storage_dtype
from ..context import NodeContext
from ..registry import converter
from ._float_formats import emulated_format, round_to_format

_FLOAT_STORAGE = ("float16", "float32", "float64")


def _output_float(cx: NodeContext) -> tuple[str, np.dtype | None]:
    """(MXNet float type to draw in, narrow float to round to or None) of output 0."""
    dtype = cx.out_dtype(0)
    storage = cx.out_storage(0) or "float32"
    if storage not in _FLOAT_STORAGE:
        raise cx.fail(f"random values of type {dtype} are not supported")
    return storage, dtype if emulated_format(dtype) is not None else None


def _finish(cx: NodeContext, values: object, narrow: np.dtype | None) -> object:
    return round_to_format(cx.F, values, narrow) if narrow is not None else values


def _draw(cx: NodeContext, kind: str, shape: tuple[int, ...], a: float, b: float) -> object:
    F = cx.F
    dtype, narrow = _output_float(cx)
    cx.check_elements(shape)
    generator = F.random.normal if kind == "normal" else F.random.uniform
    kwargs = {"shape": shape, "dtype": dtype}
    if not cx.symbolic:
        kwargs["ctx"] = cx.ctx
    values = generator(a, b, **kwargs)
    return _finish(cx, values, narrow)


def _draw_like(cx: NodeContext, kind: str, like: object, a: float, b: float) -> object:
    F = cx.F
    dtype, narrow = _output_float(cx)
    # the template only gives the shape: draw in the output's float type
    template = F.Cast(like, dtype=dtype) if cx.in_storage(0) != dtype else like
    generator = F.random.normal_like if kind == "normal" else F.random.uniform_like
    return _finish(cx, generator(template, a, b), narrow)


@converter("RandomNormal", since=1, deterministic=False)
@converter("RandomNormal", since=22, deterministic=False)
def random_normal(cx: NodeContext, *, shape: list[int] | None = None, dtype: int = 1, mean: float = 0.0,
                  scale: float = 1.0, seed: float | None = None) -> object:
    return _draw(cx, "normal", tuple(shape or ()), mean, scale)


@converter("RandomUniform", since=1, deterministic=False)
@converter("RandomUniform", since=22, deterministic=False)
def random_uniform(cx: NodeContext, *, shape: list[int] | None = None, dtype: int = 1, low: float = 0.0,
                   high: float = 1.0, seed: float | None = None) -> object:
    return _draw(cx, "uniform", tuple(shape or ()), low, high)


@converter("RandomNormalLike", since=1, deterministic=False)
@converter("RandomNormalLike", since=22, deterministic=False)
def random_normal_like(cx: NodeContext, x: object, *, dtype: int | None = None, mean: float = 0.0,
                       scale: float = 1.0, seed: float | None = None) -> object:
    return _draw_like(cx, "normal", x, mean, scale)


@converter("RandomUniformLike", since=1, deterministic=False)
@converter("RandomUniformLike", since=22, deterministic=False)
def random_uniform_like(cx: NodeContext, x: object, *, dtype: int | None = None, low: float = 0.0,
                        high: float = 1.0, seed: float | None = None) -> object:
    return _draw_like(cx, "uniform", x, low, high)


@converter("Bernoulli", since=15, deterministic=False)
@converter("Bernoulli", since=22, deterministic=False)
def bernoulli(cx: NodeContext, p: object, *, dtype: int | None = None, seed: float | None = None) -> object:
    F = cx.F
    probabilities = p if cx.in_storage(0) in _FLOAT_STORAGE else F.Cast(p, dtype="float32")
    # u ~ U[0, 1): P(u < p) = p, and p in {0, 1} gives 0 / 1 exactly
    draws = F.random.uniform_like(probabilities, 0.0, 1.0)
    hits = F.broadcast_lesser(draws, probabilities)
    return F.Cast(hits, dtype=cx.out_storage(0) or cx.in_storage(0) or "float32")


@converter("Multinomial", since=7, deterministic=False)
@converter("Multinomial", since=22, deterministic=False)
def multinomial(cx: NodeContext, logits: object, *, dtype: int = 6, sample_size: int = 1,
                seed: float | None = None) -> object:
    F = cx.F
    if cx.rank(0) != 2:
        raise cx.fail("Multinomial takes a [batch_size, class_size] input")
    probabilities = F.softmax(F.Cast(logits, dtype="float32") if cx.in_storage(0) != "float32" else logits, axis=-1)
    samples = F.random.multinomial(probabilities, shape=(int(sample_size),), dtype="int32")
    if cx.symbolic and len(samples) > 1:
        samples = samples[0]  # the symbol also lists the (hidden) log-probability output
    target = storage_dtype(np_dtype(dtype)) if dtype else "int32"
    return samples if target == "int32" else F.Cast(samples, dtype=target)
