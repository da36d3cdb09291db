"""ai.onnx.preview.training: the optimizers Adagrad, Adam, Momentum (plain element-wise updates)
and Gradient (MXNet autograd, imperative only).

Each optimizer takes the learning rate R and the step count T (scalars), then the tensors to optimize, their
gradients and the optimizer states, several tensors at once; outputs are the new tensors followed
by the new states, in the same grouping.
"""

from __future__ import annotations

import mxnet as mx

from ..context import NodeContext
from ..registry import converter

_TRAINING = "ai.onnx.preview.training"


def _groups(cx: NodeContext, tensors: tuple, per_tensor: int) -> list[tuple]:
    if not tensors or len(tensors) % per_tensor:
        raise cx.fail(f"expected R, T and {per_tensor} inputs per optimized tensor, got {len(tensors) + 2} inputs")
    n = len(tensors) // per_tensor
    return [tuple(tensors[k * n + i] for k in range(per_tensor)) for i in range(n)]


def _step_is_positive(cx: NodeContext, t: object) -> object:
    return cx.F.Cast(t > 0, dtype="float32")


@converter("Adagrad", since=1, domain=_TRAINING)
def adagrad(cx: NodeContext, r: object, t: object, *tensors: object, decay_factor: float = 0.0,
            epsilon: float = 0.0, norm_coefficient: float = 0.0) -> tuple:
    F = cx.F
    rate = F.broadcast_div(r, 1.0 + F.Cast(t, dtype="float32") * decay_factor)
    updated, states = [], []
    for x, g, h in _groups(cx, tensors, 3):
        g_reg = x * norm_coefficient + g
        h_new = h + g_reg * g_reg
        updated.append(x - F.broadcast_mul(rate, g_reg / (F.sqrt(h_new) + epsilon)))
        states.append(h_new)
    return tuple(updated + states)


@converter("Adam", since=1, domain=_TRAINING)
def adam(cx: NodeContext, r: object, t: object, *tensors: object, alpha: float = 0.9, beta: float = 0.999,
         epsilon: float = 0.0, norm_coefficient: float = 0.0, norm_coefficient_post: float = 0.0) -> tuple:
    F = cx.F
    steps = F.Cast(t, dtype="float64")
    # bias correction of both moments, only once T > 0
    correction = F.sqrt(1.0 - beta ** steps) / (1.0 - alpha ** steps)  # 0/0 at T == 0, not selected then
    factor = F.where(steps > 0, correction, F.ones_like(correction))
    rate = F.Cast(F.broadcast_mul(F.Cast(r, dtype="float64"), factor), dtype="float32")
    updated, firsts, seconds = [], [], []
    for x, g, v, h in _groups(cx, tensors, 4):
        g_reg = x * norm_coefficient + g
        v_new = v * alpha + g_reg * (1.0 - alpha)
        h_new = h * beta + g_reg * g_reg * (1.0 - beta)
        x_new = x - F.broadcast_mul(rate, v_new / (F.sqrt(h_new) + epsilon))
        updated.append(x_new * (1.0 - norm_coefficient_post))
        firsts.append(v_new)
        seconds.append(h_new)
    return tuple(updated + firsts + seconds)


@converter("Momentum", since=1, domain=_TRAINING)
def momentum(cx: NodeContext, r: object, t: object, *tensors: object, alpha: float = 0.0, beta: float = 0.0,
             mode: str = "standard", norm_coefficient: float = 0.0) -> tuple:
    F = cx.F
    if mode not in ("standard", "nesterov"):
        raise cx.fail(f"unknown momentum mode {mode!r}")
    positive = _step_is_positive(cx, t)
    # the gradient's coefficient is 1 on the first step (T == 0)
    gradient_scale = positive * beta + (1.0 - positive)
    updated, states = [], []
    for x, g, v in _groups(cx, tensors, 3):
        g_reg = x * norm_coefficient + g
        v_new = v * alpha + F.broadcast_mul(gradient_scale, g_reg)
        direction = v_new if mode == "standard" else g_reg + v_new * alpha
        updated.append(x - F.broadcast_mul(r, direction))
        states.append(v_new)
    return tuple(updated + states)


@converter("Gradient", since=1, domain=_TRAINING)
def gradient(cx: NodeContext, *inputs: object, xs: list[str] | None = None, y: str = "",
             zs: list[str] | None = None) -> tuple:
    """dy/dx for every x in ``xs``: the steps computing ``y`` from ``xs`` and ``zs`` are run
    again under MXNet's autograd (imperative only: a static MXNet graph cannot differentiate
    inside its own forward pass)."""
    if cx.symbolic:
        raise cx.not_hybridizable("a Gradient node differentiates with autograd while the graph runs")
    xs = list(xs or [])
    sources = xs + list(zs or [])
    if len(inputs) != len(sources):
        raise cx.fail(f"Gradient has {len(inputs)} inputs but names {len(sources)} tensors in xs and zs")
    executor = cx.executor
    producers = {out: step for step in executor.plan.steps for out in step.outputs if out}
    needed: set[int] = set()
    stack = [y]
    while stack:
        name = stack.pop()
        step = producers.get(name)
        if name in sources or step is None or id(step) in needed:
            continue
        needed.add(id(step))
        stack.extend(i for i in step.inputs if i)
    variables = [value.copy() for value in inputs[: len(xs)]]
    for variable in variables:
        variable.attach_grad()
    env = dict(zip(sources, variables + list(inputs[len(xs):])))
    with mx.autograd.record():
        for step in executor.plan.steps:
            if id(step) not in needed:
                continue
            args = []
            for index, name in enumerate(step.inputs):
                if not name:
                    args.append(None)
                elif step.static_inputs[index]:
                    args.append(executor.resolve_static(name, env, False, {}))
                else:
                    args.append(env[name] if name in env else executor.resolve_tensor(name, env, cx.F, {}, cx.ctx))
            result = executor._call(step, NodeContext(cx.F, step, executor, env, cx.ctx), args, False)
            for name, value in zip(step.outputs, result if isinstance(result, (list, tuple)) else (result,)):
                if name:
                    env[name] = value
    target = env.get(y)
    if target is None or not needed:
        # y does not depend on xs through any runtime step
        return tuple(cx.F.zeros_like(v) for v in variables)
    target.backward(cx.F.ones_like(target))
    return tuple(v.grad.copy() for v in variables)
