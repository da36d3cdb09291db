"""Random small *valid* ONNX graphs for the differential test (gluon_onnx against onnxruntime).

:func:`random_graphs` is a hypothesis strategy of ``(ModelProto, feeds)``. A graph starts from one
or two float inputs and applies a chain of operators drawn within their specs: elementwise unary and
binary (with broadcasting), MatMul/Gemm, Conv/pooling, Reshape/Transpose/Concat/Slice/Squeeze/
Unsqueeze/Flatten/Expand/Tile/Pad, reductions, Softmax, Gather, Where, Cast between float and int
types. The generator tracks every tensor's shape, so each node is well-formed.

Operators that are discontinuous (Floor, Ceil, Sign, casts to integers, ArgMax) only take tensors
computed exactly (IEEE-exact elementwise ops and data movement on the inputs), so that rounding
differences of accumulating kernels (MatMul, Conv, reductions) cannot flip their results.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np
import onnx
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

OPSET = 17

_FLOAT_TYPES = {TensorProto.FLOAT: np.float32, TensorProto.DOUBLE: np.float64, TensorProto.FLOAT16: np.float16}
_INT_TYPES = {TensorProto.INT32: np.int32, TensorProto.INT64: np.int64, TensorProto.INT8: np.int8,
              TensorProto.UINT8: np.uint8}


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    elem: int = TensorProto.FLOAT
    exact: bool = True  # computed from the inputs without rounding differences between backends

    @property
    def is_float(self) -> bool:
        return self.elem in _FLOAT_TYPES


@dataclass
class Builder:
    nodes: list = field(default_factory=list)
    inits: list = field(default_factory=list)
    tensors: list = field(default_factory=list)
    counter: int = 0

    def fresh(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def const(self, value: np.ndarray, prefix: str = "c") -> str:
        name = self.fresh(prefix)
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def add(self, op: str, inputs: list[str], shape: tuple[int, ...], elem: int, exact: bool,
            **attrs: object) -> Tensor:
        out = Tensor(self.fresh(op.lower() + "_"), tuple(int(d) for d in shape), elem, exact)
        self.nodes.append(helper.make_node(op, inputs, [out.name], name=self.fresh(op), **attrs))
        self.tensors.append(out)
        return out


@functools.lru_cache(maxsize=None)
def supported(op: str) -> bool:
    """Whether this checkout has a converter for ``op`` (families still being written are left out)."""
    from gluon_onnx.importer.registry import _ensure_loaded, lookup  # noqa: PLC0415

    _ensure_loaded()
    return lookup("", op, OPSET) is not None


def _ops(*names: str) -> list[str]:
    found = [n for n in names if supported(n)]
    return found


def _size(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64))


# --- operator generators: (draw, builder, source tensor) -> new tensor or None ------------------------
_EXACT_UNARY = ("Relu", "Neg", "Abs")
_INEXACT_UNARY = ("Sigmoid", "Tanh", "Exp", "Erf", "Sin", "Cos", "Softplus", "Softsign", "Atan")
_DISCONTINUOUS = ("Floor", "Ceil", "Sign", "Round")


def op_unary(draw, b: Builder, x: Tensor) -> Tensor | None:
    if not x.is_float:
        return None
    choices = _ops(*_EXACT_UNARY, *_INEXACT_UNARY, *(_DISCONTINUOUS if x.exact else ()))
    op = draw(st.sampled_from(choices))
    if op == "Exp":  # keep values finite
        x = b.add("Tanh", [x.name], x.shape, x.elem, False)
    return b.add(op, [x.name], x.shape, x.elem, x.exact and op in _EXACT_UNARY + _DISCONTINUOUS)


def op_param_unary(draw, b: Builder, x: Tensor) -> Tensor | None:
    if not x.is_float:
        return None
    op = draw(st.sampled_from(_ops("LeakyRelu", "Elu", "Selu", "HardSigmoid", "Clip", "Sqrt", "Log", "Reciprocal")))
    if op == "LeakyRelu":
        return b.add(op, [x.name], x.shape, x.elem, False, alpha=draw(st.sampled_from([0.01, 0.2, 1.5])))
    if op in ("Elu", "Selu", "HardSigmoid"):
        return b.add(op, [x.name], x.shape, x.elem, False)
    if op == "Clip":
        low = draw(st.floats(-2, 0, width=32))
        high = draw(st.floats(0, 2, width=32))
        dtype = _FLOAT_TYPES[x.elem]
        return b.add(op, [x.name, b.const(np.array(low, dtype)), b.const(np.array(high, dtype))], x.shape, x.elem,
                     x.exact)
    # positive domain: |x| + 0.5
    dtype = _FLOAT_TYPES[x.elem]
    positive = b.add("Abs", [x.name], x.shape, x.elem, x.exact)
    positive = b.add("Add", [positive.name, b.const(np.array(0.5, dtype))], x.shape, x.elem, x.exact)
    return b.add(op, [positive.name], x.shape, x.elem, False)


def _broadcastable(draw, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: dims kept, set to 1, or (where ``shape`` has a 1)
    grown; leading dims dropped or one added."""
    dims = [draw(st.sampled_from([1, 2, 3])) if d == 1 else draw(st.sampled_from([d, 1])) for d in shape]
    drop = draw(st.integers(0, len(dims)))
    dims = dims[drop:]
    if not drop and len(shape) < 4 and draw(st.integers(0, 4)) == 0:
        dims = [2] + dims
    return tuple(dims)


def op_binary(draw, b: Builder, x: Tensor) -> Tensor | None:
    op = draw(st.sampled_from(_ops("Add", "Sub", "Mul", "Div", "Max", "Min", "Pow")))
    if not x.is_float and op in ("Div", "Pow"):
        return None
    dtype = _FLOAT_TYPES.get(x.elem) or _INT_TYPES[x.elem]
    if op == "Pow":  # positive base (|x| + 0.5), a few exponents
        base = b.add("Abs", [x.name], x.shape, x.elem, x.exact)
        base = b.add("Add", [base.name, b.const(np.array(0.5, dtype))], x.shape, x.elem, x.exact)
        exponent = np.array(draw(st.sampled_from([0.5, 2.0, 3.0, -1.0])), dtype)
        return b.add("Pow", [base.name, b.const(exponent)], x.shape, x.elem, False)
    others = [t for t in b.tensors if t.elem == x.elem and t.name != x.name]
    if op != "Div" and others and draw(st.booleans()):
        other = draw(st.sampled_from(others))
        try:
            shape = tuple(np.broadcast_shapes(x.shape, other.shape))
        except ValueError:
            return None
        other_name, other_exact = other.name, other.exact
    else:
        other_shape = _broadcastable(draw, x.shape)
        shape = tuple(np.broadcast_shapes(x.shape, other_shape))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        if x.is_float:
            value = rng.standard_normal(other_shape).astype(dtype)
            if op == "Div":  # denominators away from zero
                sign = np.where(rng.random(other_shape) < 0.5, -1, 1)
                value = ((np.abs(value) + 0.5) * sign).astype(dtype)
        else:
            value = rng.integers(-5, 6, other_shape).astype(dtype)
        other_name, other_exact = b.const(value), True
    if _size(shape) > 4096:
        return None
    order = [x.name, other_name] if op == "Div" or draw(st.booleans()) else [other_name, x.name]
    exact = x.exact and other_exact and op in ("Add", "Sub", "Mul", "Max", "Min")
    return b.add(op, order, shape, x.elem, exact)


def op_matmul(draw, b: Builder, x: Tensor) -> Tensor | None:
    if x.elem != TensorProto.FLOAT or not x.shape or not supported("Gemm"):
        return None
    k = x.shape[-1]
    m = draw(st.integers(1, 5))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if len(x.shape) == 2 and draw(st.booleans()):
        trans_a, trans_b = draw(st.integers(0, 1)), draw(st.integers(0, 1))
        rows, inner = (x.shape[1], x.shape[0]) if trans_a else x.shape
        w = rng.standard_normal((m, inner) if trans_b else (inner, m)).astype(np.float32)
        c_shape = draw(st.sampled_from([(m,), (1, m), (rows, m), (rows, 1)]))
        inputs = [x.name, b.const(w)]
        if draw(st.booleans()):
            inputs.append(b.const(rng.standard_normal(c_shape).astype(np.float32)))
        return b.add("Gemm", inputs, (rows, m), x.elem, False, transA=trans_a, transB=trans_b,
                     alpha=draw(st.sampled_from([1.0, 0.5])), beta=draw(st.sampled_from([1.0, 2.0])))
    w = rng.standard_normal((k, m)).astype(np.float32)
    return b.add("MatMul", [x.name, b.const(w)], x.shape[:-1] + (m,), x.elem, False)


def op_conv_pool(draw, b: Builder, x: Tensor) -> Tensor | None:
    if x.elem != TensorProto.FLOAT or len(x.shape) not in (3, 4):
        return None
    spatial = x.shape[2:]
    n = len(spatial)
    kernel = tuple(draw(st.integers(1, max(1, min(3, d)))) for d in spatial)
    strides = tuple(draw(st.integers(1, 2)) for _ in spatial)
    pads = [draw(st.integers(0, k - 1)) for k in kernel] + [draw(st.integers(0, k - 1)) for k in kernel]
    kind = draw(st.sampled_from(["Conv", "MaxPool", "AveragePool"]))
    dilations = tuple(draw(st.integers(1, 2)) if kind == "Conv" else 1 for _ in spatial)
    out = []
    for i, d in enumerate(spatial):
        span = (kernel[i] - 1) * dilations[i] + 1
        size = (d + pads[i] + pads[i + n] - span) // strides[i] + 1
        if size < 1:
            return None
        out.append(size)
    channels = x.shape[1]
    if kind == "Conv":
        group = draw(st.sampled_from([1, channels]))
        c_out = channels * draw(st.integers(1, 2)) if group == channels else draw(st.integers(1, 4))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        w = rng.standard_normal((c_out, channels // group) + kernel).astype(np.float32)
        inputs = [x.name, b.const(w)]
        if draw(st.booleans()):
            inputs.append(b.const(rng.standard_normal(c_out).astype(np.float32)))
        return b.add("Conv", inputs, (x.shape[0], c_out, *out), x.elem, False, kernel_shape=list(kernel),
                     strides=list(strides), pads=pads, dilations=list(dilations), group=group)
    attrs = dict(kernel_shape=list(kernel), strides=list(strides), pads=pads)
    if kind == "AveragePool":
        attrs["count_include_pad"] = draw(st.integers(0, 1))
    return b.add(kind, [x.name], (x.shape[0], channels, *out), x.elem, x.exact and kind == "MaxPool", **attrs)


def op_shape(draw, b: Builder, x: Tensor) -> Tensor | None:
    op = draw(st.sampled_from(_ops("Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Slice", "Concat",
                                   "Expand", "Tile", "Pad", "Identity")))
    rank = len(x.shape)
    if op == "Reshape":
        total = _size(x.shape)
        dims = []
        rest = total
        for _ in range(draw(st.integers(1, 3))):
            divisors = [d for d in range(1, rest + 1) if rest % d == 0 and d <= 6]
            d = draw(st.sampled_from(divisors))
            dims.append(d)
            rest //= d
        dims.append(rest)
        if draw(st.booleans()):
            dims[draw(st.integers(0, len(dims) - 1))] = -1
        target = [d if d != -1 else total // max(_size([v for v in dims if v != -1]), 1) for d in dims]
        return b.add("Reshape", [x.name, b.const(np.array(dims, np.int64))], tuple(target), x.elem, x.exact)
    if op == "Transpose" and rank >= 2:
        perm = draw(st.permutations(list(range(rank))))
        return b.add(op, [x.name], tuple(x.shape[p] for p in perm), x.elem, x.exact, perm=list(perm))
    if op == "Flatten" and rank >= 1:
        axis = draw(st.integers(-rank, rank))
        a = axis + rank if axis < 0 else axis
        return b.add(op, [x.name], (_size(x.shape[:a]), _size(x.shape[a:])), x.elem, x.exact, axis=axis)
    if op == "Squeeze":
        ones = [i for i, d in enumerate(x.shape) if d == 1]
        if not ones:
            return None
        axes = sorted(draw(st.lists(st.sampled_from(ones), min_size=1, unique=True)))
        shape = tuple(d for i, d in enumerate(x.shape) if i not in axes)
        return b.add(op, [x.name, b.const(np.array(axes, np.int64))], shape, x.elem, x.exact)
    if op == "Unsqueeze" and rank < 5:
        axis = draw(st.integers(-(rank + 1), rank))
        a = axis + rank + 1 if axis < 0 else axis
        shape = x.shape[:a] + (1,) + x.shape[a:]
        return b.add(op, [x.name, b.const(np.array([axis], np.int64))], shape, x.elem, x.exact)
    if op == "Slice" and rank >= 1:
        axis = draw(st.integers(0, rank - 1))
        d = x.shape[axis]
        step = draw(st.sampled_from([1, 1, 2, -1, -2]))
        start = draw(st.integers(-d - 2, d + 2))
        end = draw(st.integers(-d - 2, d + 2))
        length = len(range(*slice(start, end, step).indices(d)))
        if length == 0:
            return None
        shape = x.shape[:axis] + (length,) + x.shape[axis + 1:]
        inputs = [x.name, b.const(np.array([start], np.int64)), b.const(np.array([end], np.int64)),
                  b.const(np.array([axis if draw(st.booleans()) else axis - rank], np.int64)),
                  b.const(np.array([step], np.int64))]
        return b.add(op, inputs, shape, x.elem, x.exact)
    if op == "Concat" and rank >= 1:
        axis = draw(st.integers(0, rank - 1))
        extra = draw(st.integers(1, 3))
        other_shape = x.shape[:axis] + (extra,) + x.shape[axis + 1:]
        dtype = _FLOAT_TYPES.get(x.elem) or _INT_TYPES[x.elem]
        value = np.random.default_rng(extra).standard_normal(other_shape).astype(dtype)
        shape = x.shape[:axis] + (x.shape[axis] + extra,) + x.shape[axis + 1:]
        return b.add(op, [x.name, b.const(value)], shape, x.elem, x.exact, axis=axis - rank * draw(st.integers(0, 1)))
    if op == "Expand":
        target = tuple(draw(st.sampled_from([d, 3])) if d == 1 else d for d in x.shape)
        if draw(st.booleans()) and rank < 4:
            target = (2,) + target
        return b.add(op, [x.name, b.const(np.array(target, np.int64))], target, x.elem, x.exact)
    if op == "Tile" and rank >= 1:
        reps = [draw(st.integers(1, 2)) for _ in x.shape]
        shape = tuple(d * r for d, r in zip(x.shape, reps))
        if _size(shape) > 4096:
            return None
        return b.add(op, [x.name, b.const(np.array(reps, np.int64))], shape, x.elem, x.exact)
    if op == "Pad" and rank >= 1:
        mode = draw(st.sampled_from(["constant", "reflect", "edge"]))
        pads = []
        for d in x.shape:
            limit = d - 1 if mode == "reflect" else 2
            pads.append(draw(st.integers(0, max(0, min(2, limit)))))
        for d in x.shape:
            limit = d - 1 if mode == "reflect" else 2
            pads.append(draw(st.integers(0, max(0, min(2, limit)))))
        shape = tuple(d + pads[i] + pads[i + rank] for i, d in enumerate(x.shape))
        inputs = [x.name, b.const(np.array(pads, np.int64))]
        if mode == "constant" and x.is_float and draw(st.booleans()):
            inputs.append(b.const(np.array(1.5, _FLOAT_TYPES[x.elem])))
        return b.add(op, inputs, shape, x.elem, x.exact, mode=mode)
    if op == "Identity":
        return b.add(op, [x.name], x.shape, x.elem, x.exact)
    return None


def op_reduce(draw, b: Builder, x: Tensor) -> Tensor | None:
    if not x.shape or not x.is_float:
        return None
    op = draw(st.sampled_from(_ops("ReduceSum", "ReduceMean", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL2",
                                   "ReduceLogSumExp", "ReduceSumSquare", "ArgMax", "ArgMin", "Softmax", "LogSoftmax")))
    rank = len(x.shape)
    if op in ("Softmax", "LogSoftmax"):
        return b.add(op, [x.name], x.shape, x.elem, False, axis=draw(st.integers(-rank, rank - 1)))
    keepdims = draw(st.integers(0, 1))
    if op in ("ArgMax", "ArgMin"):
        if not x.exact:
            return None
        axis = draw(st.integers(-rank, rank - 1))
        a = axis % rank
        shape = x.shape[:a] + ((1,) if keepdims else ()) + x.shape[a + 1:]
        # ties: the first index, as in onnxruntime (select_last_index=0)
        return b.add(op, [x.name], shape, TensorProto.INT64, True, axis=axis, keepdims=keepdims)
    axes = sorted(draw(st.lists(st.integers(0, rank - 1), min_size=1, max_size=rank, unique=True)))
    shape = tuple((1 if keepdims else None) if i in axes else d for i, d in enumerate(x.shape))
    shape = tuple(d for d in shape if d is not None)
    signed = [a - rank if draw(st.booleans()) else a for a in axes]
    exact = x.exact and op in ("ReduceMax", "ReduceMin")
    if op == "ReduceSum":  # axes is an input from opset 13 on
        return b.add(op, [x.name, b.const(np.array(signed, np.int64))], shape, x.elem, exact, keepdims=keepdims)
    return b.add(op, [x.name], shape, x.elem, exact, axes=signed, keepdims=keepdims)


def op_gather_where(draw, b: Builder, x: Tensor) -> Tensor | None:
    if not x.shape:
        return None
    rank = len(x.shape)
    if not supported("Where") or draw(st.booleans()):
        axis = draw(st.integers(-rank, rank - 1))
        d = x.shape[axis % rank]
        index_shape = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
        rng = np.random.default_rng(draw(st.integers(0, 2**16)))
        indices = rng.integers(-d, d, index_shape).astype(draw(st.sampled_from([np.int64, np.int32])))
        a = axis % rank
        shape = x.shape[:a] + index_shape + x.shape[a + 1:]
        return b.add("Gather", [x.name, b.const(indices)], shape, x.elem, x.exact, axis=axis)
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    cond = rng.random(_broadcastable(draw, x.shape)) < 0.5
    dtype = _FLOAT_TYPES.get(x.elem) or _INT_TYPES[x.elem]
    other = rng.standard_normal(_broadcastable(draw, x.shape)).astype(dtype)
    try:
        shape = tuple(np.broadcast_shapes(x.shape, cond.shape, other.shape))
    except ValueError:  # both grew the same size-1 axis differently
        other = rng.standard_normal(x.shape).astype(dtype)
        shape = tuple(np.broadcast_shapes(x.shape, cond.shape))
    return b.add("Where", [b.const(cond), x.name, b.const(other)], shape, x.elem, x.exact)


def op_cast(draw, b: Builder, x: Tensor) -> Tensor | None:
    if x.is_float and not x.exact:
        target = draw(st.sampled_from([TensorProto.FLOAT, TensorProto.DOUBLE]))
        return b.add("Cast", [x.name], x.shape, target, False, to=target)
    target = draw(st.sampled_from(list(_FLOAT_TYPES) + list(_INT_TYPES)))
    if target in (TensorProto.INT8, TensorProto.UINT8) or (x.elem == TensorProto.FLOAT16 and target in _INT_TYPES):
        return None  # out-of-range float -> narrow int conversions are undefined
    if target == TensorProto.FLOAT16 and not x.is_float:
        return None
    out = b.add("Cast", [x.name], x.shape, target, x.exact, to=target)
    if target != TensorProto.FLOAT and draw(st.booleans()):  # and back
        out = b.add("Cast", [out.name], x.shape, TensorProto.FLOAT, out.exact, to=TensorProto.FLOAT)
    return out


GENERATORS = (op_unary, op_param_unary, op_binary, op_matmul, op_conv_pool, op_shape, op_reduce, op_gather_where,
              op_cast)


@st.composite
def random_graphs(draw, max_ops: int = 6) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    b = Builder()
    feeds = {}
    inputs = []
    for index in range(draw(st.integers(1, 2))):
        rank = draw(st.integers(1, 4))
        shape = tuple(draw(st.integers(1, 4)) for _ in range(rank))
        name = f"input{index}"
        t = Tensor(name, shape)
        b.tensors.append(t)
        inputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, list(shape)))
        feeds[name] = np.random.default_rng(draw(st.integers(0, 2**16))).standard_normal(shape).astype(np.float32)
    count = draw(st.integers(1, max_ops))
    for _ in range(count):
        source = b.tensors[-1] if draw(st.booleans()) else draw(st.sampled_from(b.tensors))
        generator = draw(st.sampled_from(GENERATORS))
        made = generator(draw, b, source)
        if made is not None and _size(made.shape) > 4096:
            raise ValueError("generated tensor too large")  # generators keep sizes small
    produced = [t for t in b.tensors if not t.name.startswith("input")]
    if not produced:
        produced = [b.add("Identity", [b.tensors[0].name], b.tensors[0].shape, b.tensors[0].elem, True)]
    outputs = [produced[-1]]
    if len(produced) > 1 and draw(st.booleans()):
        extra = draw(st.sampled_from(produced[:-1]))
        outputs.append(extra)
    graph = helper.make_graph(
        b.nodes, "random", inputs,
        [helper.make_tensor_value_info(t.name, t.elem, list(t.shape)) for t in outputs], b.inits)
    # opset 13 and 17 read the same nodes the same way (ReduceSum takes axes as an input since 13)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", draw(st.sampled_from([OPSET, 13])))])
    model.ir_version = 8
    return model, feeds
