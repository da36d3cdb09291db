"""Attention layers: Attention (opset 23/24/25), RotaryEmbedding, LinearAttention, FlexAttention."""

from __future__ import annotations

import math
import weakref

import numpy as np
import onnx

from ...model import read_model
from ..context import ConstantProvider, Executor, NodeContext
from ..plan import build_plan
from ..registry import converter
from ._helpers import pad_array
from ._precision import compute_dtype, narrow_softmax, narrow_type, round_to

_NEG_INF = float("-inf")

_LINEAR_ATTENTION_NOTES = "the recurrence is unrolled over the (static) sequence length"


def _onnx_float(elem_type: int) -> np.dtype:
    return np.dtype(onnx.helper.tensor_dtype_to_np_dtype(elem_type))


def to_heads(cx: NodeContext, x: object, heads: int) -> object:
    """(batch, seq, heads*size) -> (batch, heads, seq, size)."""
    F = cx.F
    return F.transpose(F.reshape(x, shape=(0, 0, heads, -1)), axes=(0, 2, 1, 3))


def as_rank4(F: object, x: object, rank: int) -> object:
    for _ in range(4 - rank):
        x = F.expand_dims(x, axis=0)
    return x


def neg_inf_where_false(F: object, allowed: object) -> object:
    """0 where ``allowed`` is nonzero, -inf elsewhere (same float dtype as ``allowed``)."""
    zeros = F.zeros_like(allowed)
    return F.where(allowed, zeros, zeros + _NEG_INF)


def matmul_nt(F: object, a: object, b: object, transpose_b: bool) -> object:
    """Batched matmul over the last two axes of rank-4 tensors whose leading axes match."""
    a3 = F.reshape(a, shape=(-3, -2))
    b3 = F.reshape(b, shape=(-3, -2))
    out = F.batch_dot(a3, b3, transpose_b=transpose_b)
    return F.reshape_like(out, a, lhs_begin=0, lhs_end=1, rhs_begin=0, rhs_end=2)


class _Shapes:
    """Static facts about one Attention node."""

    def __init__(self, cx: NodeContext, q_num_heads: int | None, kv_num_heads: int | None):
        self.rank = cx.rank(0)
        if self.rank not in (3, 4):
            raise cx.fail(f"Q must be 3-D or 4-D, got rank {self.rank}")
        if self.rank == 3:
            if not q_num_heads or not kv_num_heads:
                raise cx.fail("3-D inputs need the q_num_heads and kv_num_heads attributes")
            self.q_heads, self.kv_heads = int(q_num_heads), int(kv_num_heads)
            q_hidden = cx.in_shape(0)[2]
            if not isinstance(q_hidden, int):
                q_hidden = cx.concrete([q_hidden])[0]
            self.head_size = q_hidden // self.q_heads
        else:
            q_shape, k_shape = cx.in_shape(0), cx.in_shape(1)
            dims = [q_shape[1], k_shape[1], q_shape[3]]
            if not all(isinstance(d, int) for d in dims):
                dims = list(cx.concrete(dims))
            self.q_heads, self.kv_heads, self.head_size = dims
        if self.q_heads % self.kv_heads:
            raise cx.fail(f"q_num_heads {self.q_heads} is not a multiple of kv_num_heads {self.kv_heads}")


def _attention(
    cx: NodeContext,
    q: object,
    k: object,
    v: object,
    attn_mask: object,
    past_key: object,
    past_value: object,
    nonpad_kv_seqlen: object,
    *,
    is_causal: int,
    kv_num_heads: int | None,
    q_num_heads: int | None,
    qk_matmul_output_mode: int,
    scale: float | None,
    softcap: float,
    softmax_precision: int | None,
    left_window_size: int = -1,
    right_window_size: int = -1,
) -> tuple:
    F = cx.F
    facts = _Shapes(cx, q_num_heads, kv_num_heads)
    storage = cx.in_storage(0)
    narrow = narrow_type(cx.in_dtype(0))
    ct = compute_dtype(storage)
    if facts.rank == 3:
        q = to_heads(cx, q, facts.q_heads)
        k = to_heads(cx, k, facts.kv_heads)
        v = to_heads(cx, v, facts.kv_heads)
    if (past_key is None) != (past_value is None):
        raise cx.fail("past_key and past_value must be given together")
    if past_key is not None:
        k = F.concat(past_key, k, dim=2)
        v = F.concat(past_value, v, dim=2)
    present_key, present_value = k, v
    if storage != ct:
        q, k, v = F.Cast(q, dtype=ct), F.Cast(k, dtype=ct), F.Cast(v, dtype=ct)

    factor = 1.0 / math.sqrt(facts.head_size) if scale is None else scale
    root = np.sqrt(np.array(factor, dtype=np.float64))
    # ONNX scales Q and K by sqrt(scale) each, with the factor held in the input type
    root = float(np.array(root, dtype=cx.in_dtype(0) if ct == "float32" else np.float64))
    q = round_to(cx, q * root, narrow)
    k = round_to(cx, k * root, narrow)
    if facts.q_heads != facts.kv_heads:
        reps = facts.q_heads // facts.kv_heads
        k = F.repeat(k, repeats=reps, axis=1)
        v = F.repeat(v, repeats=reps, axis=1)

    scores = round_to(cx, matmul_nt(F, q, k, transpose_b=True), narrow)
    raw_scores = scores
    if softcap > 0:
        scores = round_to(cx, F.tanh(scores / softcap) * softcap, narrow)
    # mode 0: the raw product (as the spec and onnxruntime); mode 1: after the softcap
    qk_out = raw_scores if qk_matmul_output_mode == 0 else scores

    bias = _bias(cx, scores, attn_mask, past_key, nonpad_kv_seqlen, ct, narrow, bool(is_causal),
                 left_window_size, right_window_size)
    logits = scores if bias is None else round_to(cx, F.broadcast_add(scores, bias), narrow)
    if qk_matmul_output_mode == 2:
        qk_out = logits
    elif qk_matmul_output_mode not in (0, 1, 3):
        raise cx.fail(f"qk_matmul_output_mode {qk_matmul_output_mode} is not defined")
    softmax_narrow = narrow if softmax_precision is None else narrow_type(_onnx_float(softmax_precision))
    probs = narrow_softmax(cx, logits, softmax_narrow) if softmax_narrow else F.softmax(logits, axis=-1)
    if bias is not None:
        row_masked = F.broadcast_equal(F.max(bias, axis=-1, keepdims=True), F.zeros_like(
            F.slice_axis(bias, axis=-1, begin=0, end=1)) + _NEG_INF)
        probs = F.where(F.broadcast_like(row_masked, probs), F.zeros_like(probs), probs)
    probs = round_to(cx, probs, narrow)
    if qk_matmul_output_mode == 3:
        qk_out = probs
    y = matmul_nt(F, probs, v, transpose_b=False)
    if facts.rank == 3:
        y = F.reshape(F.transpose(y, axes=(0, 2, 1, 3)), shape=(0, 0, -3))
    if storage != ct:
        y = F.Cast(y, dtype=storage)
        qk_out = F.Cast(qk_out, dtype=storage)
    outputs = [y, present_key, present_value, qk_out]
    return tuple(outputs[: max(cx.num_outputs, 1)])


def _bias(cx: NodeContext, scores: object, attn_mask: object, past_key: object, nonpad: object, ct: str,
          narrow: str | None, is_causal: bool, left: int, right: int) -> object:
    """Additive bias (rank 4, broadcastable to the scores) or None."""
    F = cx.F
    parts = []
    if attn_mask is not None:
        parts.append(_mask_bias(cx, attn_mask, ct))
    windowed = left >= 0 or right >= 0
    if nonpad is not None and past_key is not None:
        raise cx.fail("nonpad_kv_seqlen cannot be combined with past_key/past_value")
    if is_causal or windowed or nonpad is not None:
        rows = F.reshape(F.Cast(F.contrib.arange_like(scores, axis=2), dtype=ct), shape=(-1, 1))
        cols = F.reshape(F.Cast(F.contrib.arange_like(scores, axis=3), dtype=ct), shape=(1, -1))
        lengths = None
        if nonpad is not None:
            lengths = F.reshape(F.Cast(nonpad, dtype=ct), shape=(-1, 1, 1))
        if is_causal or windowed:
            if lengths is not None:
                query_count = F.sum(F.ones_like(rows))
                positions = F.broadcast_add(F.broadcast_sub(lengths, query_count), F.expand_dims(rows, axis=0))
            elif past_key is not None:
                positions = F.broadcast_add(rows, _past_length(cx, past_key, ct))
            else:
                positions = rows
            diff = F.broadcast_sub(positions, cols)  # query position - key position
            allowed = None
            for condition in (
                F.broadcast_greater_equal(diff, F.zeros_like(diff)) if is_causal else None,
                (diff <= left) if left >= 0 else None,
                (diff >= -right) if right >= 0 else None,
            ):
                if condition is not None:
                    allowed = condition if allowed is None else allowed * condition
            part = neg_inf_where_false(F, allowed)
            parts.append(F.expand_dims(part, axis=1) if lengths is not None else as_rank4(F, part, 2))
        if lengths is not None:
            in_range = F.broadcast_lesser(F.expand_dims(cols, axis=0), lengths)
            parts.append(F.expand_dims(neg_inf_where_false(F, in_range), axis=1))
    if not parts:
        return None
    bias = parts[0]
    for part in parts[1:]:
        bias = F.broadcast_add(bias, part)
    return round_to(cx, bias, narrow) if attn_mask is not None else bias


def _past_length(cx: NodeContext, past_key: object, ct: str) -> object:
    F = cx.F
    size = cx.in_shape(4)[2]
    if isinstance(size, int):
        return F.full(shape=(1, 1), val=size, dtype=ct)
    ones = F.ones_like(F.Cast(F.contrib.arange_like(past_key, axis=2), dtype=ct))
    return F.reshape(F.sum(ones), shape=(1, 1))


def _mask_bias(cx: NodeContext, mask: object, ct: str) -> object:
    F = cx.F
    rank = cx.rank(3)
    if not 1 <= rank <= 4:
        raise cx.fail(f"attn_mask must have rank 1 to 4, got {rank}")
    is_bool = cx.in_storage(3) == "bool"
    mask = F.Cast(mask, dtype=ct)
    bias = neg_inf_where_false(F, mask) if is_bool else mask
    # a mask shorter than the total key length is padded with "not attended"
    mask_len = cx.in_shape(3)[-1]
    total = _total_kv_length(cx)
    if total is None or not isinstance(mask_len, int):
        if total is not None and mask_len == total:
            total = None
        else:
            total, mask_len = cx.concrete([total, mask_len])
    if total is not None and total > mask_len:
        bias = pad_array(cx, bias, [(0, 0)] * (rank - 1) + [(0, total - mask_len)], value=_NEG_INF)
    return as_rank4(F, bias, rank)


def _total_kv_length(cx: NodeContext) -> object:
    k_shape = cx.in_shape(1)
    kv_len = k_shape[2] if cx.rank(1) == 4 else k_shape[1]
    if cx.in_shape(4) is not None:
        kv_len = cx.in_shape(4)[2] + kv_len
    return kv_len


@converter("Attention", since=23)
def attention_v23(cx: NodeContext, q: object, k: object, v: object, attn_mask: object = None,
                  past_key: object = None, past_value: object = None, *, is_causal: int = 0,
                  kv_num_heads: int | None = None, q_num_heads: int | None = None,
                  qk_matmul_output_mode: int = 0, scale: float | None = None, softcap: float = 0.0,
                  softmax_precision: int | None = None) -> tuple:
    return _attention(cx, q, k, v, attn_mask, past_key, past_value, None, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision)


@converter("Attention", since=24)
def attention_v24(cx: NodeContext, q: object, k: object, v: object, attn_mask: object = None,
                  past_key: object = None, past_value: object = None, nonpad_kv_seqlen: object = None, *,
                  is_causal: int = 0, kv_num_heads: int | None = None, q_num_heads: int | None = None,
                  qk_matmul_output_mode: int = 0, scale: float | None = None, softcap: float = 0.0,
                  softmax_precision: int | None = None) -> tuple:
    return _attention(cx, q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision)


@converter("Attention", since=25)
def attention(cx: NodeContext, q: object, k: object, v: object, attn_mask: object = None,
              past_key: object = None, past_value: object = None, nonpad_kv_seqlen: object = None, *,
              is_causal: int = 0, kv_num_heads: int | None = None, q_num_heads: int | None = None,
              qk_matmul_output_mode: int = 0, scale: float | None = None, softcap: float = 0.0,
              softmax_precision: int | None = None, left_window_size: int = -1,
              right_window_size: int = -1) -> tuple:
    if cx.rank(0) == 4 and (q_num_heads is not None or kv_num_heads is not None):
        raise cx.fail("q_num_heads and kv_num_heads must not be given for 4-D inputs")
    if left_window_size < -1 or right_window_size < -1:
        raise cx.fail("window sizes must be -1 or nonnegative")
    return _attention(cx, q, k, v, attn_mask, past_key, past_value, nonpad_kv_seqlen, is_causal=is_causal,
                      kv_num_heads=kv_num_heads, q_num_heads=q_num_heads,
                      qk_matmul_output_mode=qk_matmul_output_mode, scale=scale, softcap=softcap,
                      softmax_precision=softmax_precision, left_window_size=left_window_size,
                      right_window_size=right_window_size)


@converter("RotaryEmbedding", since=23)
def rotary_embedding(cx: NodeContext, x: object, cos_cache: object, sin_cache: object, position_ids: object = None,
                     *, interleaved: int = 0, num_heads: int = 0, rotary_embedding_dim: int = 0) -> object:
    F = cx.F
    rank = cx.rank(0)
    shape = cx.in_shape(0)
    if rank == 3:
        if not num_heads:
            raise cx.fail("3-D input needs the num_heads attribute")
        hidden = shape[2] if isinstance(shape[2], int) else cx.concrete([shape[2]])[0]
        head_size = hidden // num_heads
        x = F.reshape(x, shape=(0, 0, num_heads, -1))  # (B, S, H, D)
        heads_axis = 2
    elif rank == 4:
        head_size = shape[3] if isinstance(shape[3], int) else cx.concrete([shape[3]])[0]
        heads_axis = 1  # (B, H, S, D)
    else:
        raise cx.fail(f"input must be 3-D or 4-D, got rank {rank}")
    rot = rotary_embedding_dim or head_size
    half = rot // 2
    if position_ids is not None:
        cos_cache = F.take(cos_cache, position_ids, axis=0)
        sin_cache = F.take(sin_cache, position_ids, axis=0)
    # (B, S, half) -> broadcastable against the heads axis
    cos = F.expand_dims(cos_cache, axis=heads_axis)
    sin = F.expand_dims(sin_cache, axis=heads_axis)
    rotated = F.slice_axis(x, axis=-1, begin=0, end=rot) if rot < head_size else x
    if interleaved:
        first = F.slice(rotated, begin=(None,) * 3 + (0,), end=(None,) * 4, step=(None,) * 3 + (2,))
        second = F.slice(rotated, begin=(None,) * 3 + (1,), end=(None,) * 4, step=(None,) * 3 + (2,))
    else:
        first = F.slice_axis(rotated, axis=-1, begin=0, end=half)
        second = F.slice_axis(rotated, axis=-1, begin=half, end=rot)
    real = F.broadcast_sub(F.broadcast_mul(cos, first), F.broadcast_mul(sin, second))
    imag = F.broadcast_add(F.broadcast_mul(sin, first), F.broadcast_mul(cos, second))
    if interleaved:
        rotated = F.reshape(F.stack(real, imag, axis=-1), shape=(0, 0, 0, -1))
    else:
        rotated = F.concat(real, imag, dim=-1)
    if rot < head_size:
        rotated = F.concat(rotated, F.slice_axis(x, axis=-1, begin=rot, end=None), dim=-1)
    if rank == 3:
        rotated = F.reshape(rotated, shape=(0, 0, -1))
    return rotated


@converter("LinearAttention", since=27, notes=_LINEAR_ATTENTION_NOTES)
def linear_attention(cx: NodeContext, query: object, key: object, value: object, past_state: object = None,
                     decay: object = None, beta: object = None, *, chunk_size: int = 64,
                     kv_num_heads: int | None = None, q_num_heads: int | None = None, scale: float = 0.0,
                     update_rule: str = "gated_delta") -> tuple:
    F = cx.F
    if update_rule not in ("linear", "gated", "delta", "gated_delta"):
        raise cx.fail(f"unknown update_rule {update_rule!r}")
    if not q_num_heads or not kv_num_heads or q_num_heads % kv_num_heads:
        raise cx.fail("q_num_heads must be a positive multiple of kv_num_heads")
    gating = update_rule in ("gated", "gated_delta")
    delta = update_rule in ("delta", "gated_delta")
    if gating != (decay is not None) or delta != (beta is not None):
        raise cx.fail(f"update_rule {update_rule!r} needs decay={gating} and beta={delta}")
    dims = [cx.in_shape(0)[1], cx.in_shape(0)[2]]
    steps, q_hidden = dims if all(isinstance(d, int) for d in dims) else cx.concrete(dims)
    d_k = q_hidden // q_num_heads
    group = q_num_heads // kv_num_heads
    ct = "float32"

    def heads(v: object, count: int, index: int) -> object:
        v = v if cx.in_storage(index) == ct else F.Cast(v, dtype=ct)
        return F.transpose(F.reshape(v, shape=(0, 0, count, -1)), axes=(0, 2, 1, 3))  # (B, H, T, d)

    q4, k4, v4 = heads(query, q_num_heads, 0), heads(key, kv_num_heads, 1), heads(value, kv_num_heads, 2)
    decay4 = heads(decay, kv_num_heads, 4) if decay is not None else None  # (B, H, T, d_k or 1)
    beta4 = heads(beta, cx.in_shape(5)[2], 5) if beta is not None else None  # (B, H or 1, T, 1)
    if past_state is not None:
        state = past_state if cx.in_storage(3) == ct else F.Cast(past_state, dtype=ct)
    else:
        state = F.zeros_like(F.broadcast_mul(F.swapaxes(F.slice_axis(k4, axis=2, begin=0, end=1), 2, 3),
                                             F.slice_axis(v4, axis=2, begin=0, end=1)))
    factor = scale if scale else 1.0 / math.sqrt(d_k)
    outputs = []
    for t in range(steps):
        k_t = F.slice_axis(k4, axis=2, begin=t, end=t + 1)  # (B, H, 1, d_k)
        v_t = F.slice_axis(v4, axis=2, begin=t, end=t + 1)  # (B, H, 1, d_v)
        if gating:
            g_t = F.swapaxes(F.slice_axis(decay4, axis=2, begin=t, end=t + 1), 2, 3)  # (B, H, d_k or 1, 1)
            state = F.broadcast_mul(state, F.exp(g_t))
        if delta:
            retrieved = matmul_nt(F, k_t, state, transpose_b=False)  # (B, H, 1, d_v)
            v_t = F.broadcast_mul(F.slice_axis(beta4, axis=2, begin=t, end=t + 1), v_t - retrieved)
        state = state + F.broadcast_mul(F.swapaxes(k_t, 2, 3), v_t)
        read = F.repeat(state, repeats=group, axis=1) if group > 1 else state
        outputs.append(matmul_nt(F, F.slice_axis(q4, axis=2, begin=t, end=t + 1), read, transpose_b=False))
    out = outputs[0] if steps == 1 else F.concat(*outputs, dim=2)  # (B, Hq, T, d_v)
    out = F.reshape(F.transpose(out * factor, axes=(0, 2, 1, 3)), shape=(0, 0, -3))
    out_storage = cx.out_storage(0) or ct
    state_storage = cx.out_storage(1) or ct
    out = out if out_storage == ct else F.Cast(out, dtype=out_storage)
    state = state if state_storage == ct else F.Cast(state, dtype=state_storage)
    return out, state


class _PrefixedConstants(ConstantProvider):
    """Keeps a modifier subgraph's constants apart from the enclosing graph's."""

    def __init__(self, inner: ConstantProvider, prefix: str):
        self.inner = inner
        self.prefix = prefix

    def constant(self, key: str, array: np.ndarray, F: object, ctx: object) -> object:
        return self.inner.constant(self.prefix + key, array, F, ctx)

    def param_value(self, name: str) -> np.ndarray:
        return self.inner.param_value(name)


#: (id(step), attribute name) -> {input shape: Plan}; entries leave with their step
_MODIFIER_PLANS: dict[tuple[int, str], dict] = {}


def _modifier_plans(cx: NodeContext, what: str) -> dict:
    key = (id(cx.step), what)
    plans = _MODIFIER_PLANS.get(key)
    if plans is None:
        plans = _MODIFIER_PLANS[key] = {}
        weakref.finalize(cx.step, _MODIFIER_PLANS.pop, key, None)
    return plans


def run_modifier(cx: NodeContext, graph: onnx.GraphProto, value: object, what: str) -> object:
    """Run a one-input, one-output ONNX subgraph (FlexAttention's score_mod/prob_mod) on ``value``."""
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise cx.fail(f"{what} must have exactly one input and one output")
    shape = None if cx.symbolic else tuple(value.shape)
    plans = _modifier_plans(cx, what)
    plan = plans.get(shape)
    if plan is None:
        opsets = [onnx.helper.make_opsetid(domain, version) for domain, version in cx.executor.plan.opsets.items()]
        model = onnx.helper.make_model(graph, opset_imports=opsets)
        model.ir_version = 10
        input_shapes = {graph.input[0].name: shape} if shape is not None else None
        plan = build_plan(read_model(model), input_shapes=input_shapes, freeze_params=True)
        plans[shape] = plan
    executor = Executor(plan, _PrefixedConstants(cx.executor.provider, f"{cx.name}/{what}/"))
    return executor.run(cx.F, [value], {}, cx.ctx)[0]


@converter("FlexAttention", since=1, domain="ai.onnx.preview")
def flex_attention(cx: NodeContext, q: object, k: object, v: object, *, prob_mod: onnx.GraphProto | None = None,
                   scale: float | None = None, score_mod: onnx.GraphProto | None = None,
                   softmax_precision: int | None = None) -> object:
    F = cx.F
    if cx.rank(0) != 4 or cx.rank(1) != 4 or cx.rank(2) != 4:
        raise cx.fail("FlexAttention takes rank-4 Q, K and V")
    q_shape, k_shape = cx.in_shape(0), cx.in_shape(1)
    dims = [q_shape[1], k_shape[1], q_shape[3]]
    q_heads, kv_heads, head_size = dims if all(isinstance(d, int) for d in dims) else cx.concrete(dims)
    if q_heads % kv_heads:
        raise cx.fail(f"{q_heads} query heads are not a multiple of {kv_heads} key/value heads")
    storage = cx.in_storage(0)
    narrow = narrow_type(cx.in_dtype(0))
    ct = compute_dtype(storage)
    if softmax_precision is not None:
        soft = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(softmax_precision))
        soft_storage = "float64" if soft == np.float64 else "float32"
        soft_narrow = narrow_type(soft)
    else:
        soft_storage, soft_narrow = ct, None
    if storage != ct:
        q, k, v = F.Cast(q, dtype=ct), F.Cast(k, dtype=ct), F.Cast(v, dtype=ct)
    factor = 1.0 / math.sqrt(head_size) if scale is None else scale
    root = float(np.array(np.sqrt(np.float32(factor)), dtype=cx.in_dtype(0)))
    if q_heads != kv_heads:
        k = F.repeat(k, repeats=q_heads // kv_heads, axis=1)
        v = F.repeat(v, repeats=q_heads // kv_heads, axis=1)
    q = round_to(cx, q * root, narrow)
    k = round_to(cx, k * root, narrow)
    scores = round_to(cx, matmul_nt(F, q, k, transpose_b=True), narrow)
    if soft_storage != ct:
        scores, v = F.Cast(scores, dtype=soft_storage), F.Cast(v, dtype=soft_storage)
    scores = round_to(cx, scores, soft_narrow)
    if score_mod is not None:
        scores = run_modifier(cx, score_mod, scores, "score_mod")
    probs = narrow_softmax(cx, scores, soft_narrow) if soft_narrow else F.softmax(scores, axis=-1)
    if prob_mod is not None:
        probs = run_modifier(cx, prob_mod, probs, "prob_mod")
    y = matmul_nt(F, probs, v, transpose_b=False)
    out_storage = cx.out_storage(0) or storage
    return y if out_storage == soft_storage else F.Cast(y, dtype=out_storage)
