"""Convolutions, pooling, normalization, dense layers, activations, softmax, resizing."""

from __future__ import annotations

import math

import numpy as np

from ..convert import NodeTranslator
from ..registry import translation

_CHANNEL_FIRST = {"NCW", "NCHW", "NCDHW", None}


def _spatial(tx: NodeTranslator, name: str, n: int, default: int) -> list[int]:
    values = tx.attrs.ints(name, ()) or ()
    if not values:
        return [default] * n
    if len(values) != n:
        raise tx.fail(f"{name}={values} does not have {n} entries")
    return [int(v) for v in values]


def _check_layout(tx: NodeTranslator) -> None:
    layout = tx.attrs.str("layout")
    if layout not in _CHANNEL_FIRST:
        raise tx.fail(f"layout {layout!r} is not supported; export channel-first (NCHW) networks")


# --- convolution ------------------------------------------------------------------------------
@translation("Convolution")
def convolution(tx: NodeTranslator) -> str:
    _check_layout(tx)
    kernel = list(tx.attrs.ints("kernel"))
    n = len(kernel)
    pads = _spatial(tx, "pad", n, 0)
    inputs = [tx.input(0), tx.input(1)]
    if not tx.attrs.bool("no_bias", False):
        inputs.append(tx.input(2))
    return tx.node("Conv", inputs, kernel_shape=kernel, strides=_spatial(tx, "stride", n, 1),
                   dilations=_spatial(tx, "dilate", n, 1), pads=pads + pads, group=tx.attrs.int("num_group", 1))


@translation("Deconvolution")
def deconvolution(tx: NodeTranslator) -> str:
    _check_layout(tx)
    kernel = list(tx.attrs.ints("kernel"))
    n = len(kernel)
    if any(tx.attrs.ints("target_shape", ()) or ()):
        raise tx.fail("target_shape is not supported; give pad and adj instead")
    pads = _spatial(tx, "pad", n, 0)
    inputs = [tx.input(0), tx.input(1)]
    if not tx.attrs.bool("no_bias", True):
        inputs.append(tx.input(2))
    adj = _spatial(tx, "adj", n, 0)
    return tx.node("ConvTranspose", inputs, kernel_shape=kernel, strides=_spatial(tx, "stride", n, 1),
                   dilations=_spatial(tx, "dilate", n, 1), pads=pads + pads,
                   output_padding=adj if any(adj) else None, group=tx.attrs.int("num_group", 1))


# --- pooling ------------------------------------------------------------------------------------
@translation("Pooling")
def pooling(tx: NodeTranslator) -> str:
    _check_layout(tx)
    x = tx.input(0)
    rank = tx.in_rank(0)
    n = rank - 2
    pool_type = tx.attrs.str("pool_type", "max")
    if tx.attrs.bool("global_pool", False):
        if pool_type == "max":
            return tx.node("GlobalMaxPool", [x])
        if pool_type == "avg":
            return tx.node("GlobalAveragePool", [x])
        if pool_type == "sum":
            return tx.reduce("ReduceSum", x, list(range(2, rank)), True)
        if pool_type == "lp":
            return tx.node("GlobalLpPool", [x], p=tx.attrs.int("p_value", 2))
        raise tx.fail(f"pool_type {pool_type!r} is not supported")
    kernel = _spatial(tx, "kernel", n, 1)
    strides = _spatial(tx, "stride", n, 1)
    pads = _spatial(tx, "pad", n, 0)
    convention = tx.attrs.str("pooling_convention", "valid")
    common: dict[str, object] = {"kernel_shape": kernel, "strides": strides}
    if convention == "same":
        common["auto_pad"] = "SAME_UPPER"
    else:
        common["pads"] = pads + pads
        if convention == "full":
            common["ceil_mode"] = 1
    if pool_type == "max":
        return tx.node("MaxPool", [x], **common)
    if pool_type == "avg":
        include = tx.attrs.bool("count_include_pad", True)
        return tx.node("AveragePool", [x], count_include_pad=int(include), **common)
    if pool_type == "sum":
        avg = tx.node("AveragePool", [x], count_include_pad=1, **common)
        return tx.node("Mul", [avg, tx.scalar(float(np.prod(kernel)), tx.in_dtype(0), "window")])
    if pool_type == "lp":
        common.pop("ceil_mode", None)
        if convention == "full":
            raise tx.fail("Lp pooling with pooling_convention='full' is not supported")
        return tx.node("LpPool", [x], p=tx.attrs.int("p_value", 2), **common)
    raise tx.fail(f"pool_type {pool_type!r} is not supported")


def _adaptive_matrix(size: int, out: int, dtype: np.dtype) -> np.ndarray:
    """(out, size) averaging matrix of MXNet's adaptive pooling bins along one axis."""
    matrix = np.zeros((out, size), dtype=np.float64)
    for i in range(out):
        start = (i * size) // out
        end = -((-(i + 1) * size) // out)
        matrix[i, start:end] = 1.0 / (end - start)
    return matrix.astype(dtype)


@translation("_contrib_AdaptiveAvgPooling2D")
def adaptive_avg_pooling(tx: NodeTranslator) -> str:
    x = tx.input(0)
    size = tx.attrs.ints("output_size", ()) or (1,)
    out_h, out_w = (size[0], size[0]) if len(size) == 1 else (size[0], size[1])
    if out_h == 1 and out_w == 1:
        return tx.node("GlobalAveragePool", [x])
    shape = tx.in_shape(0)
    dynamic = tx.in_dynamic(0)
    if dynamic[2] or dynamic[3]:
        raise tx.fail(f"adaptive pooling to {out_h}x{out_w} needs fixed input height and width")
    h, w = shape[2], shape[3]
    if h % out_h == 0 and w % out_w == 0:
        return tx.node("AveragePool", [x], kernel_shape=[h // out_h, w // out_w], strides=[h // out_h, w // out_w])
    # Bins of unequal size: average rows then columns with two averaging matrices (exact,
    # the mean over a rectangle is separable).
    dtype = tx.in_dtype(0)
    rows = tx.const(_adaptive_matrix(h, out_h, dtype), "rows")
    cols = tx.const(_adaptive_matrix(w, out_w, dtype).T.copy(), "cols")
    pooled_rows = tx.node("MatMul", [rows, x])
    return tx.node("MatMul", [pooled_rows, cols])


# --- normalization ---------------------------------------------------------------------------
def _move_axis_perm(rank: int, axis: int, to: int) -> list[int]:
    perm = [d for d in range(rank) if d != axis]
    perm.insert(to, axis)
    return perm


def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


@translation("BatchNorm")
def batch_norm(tx: NodeTranslator) -> str:
    x, gamma, beta, mean, var = (tx.input(i) for i in range(5))
    rank = tx.in_rank(0)
    axis = tx.attrs.int("axis", 1) % rank
    if tx.attrs.bool("fix_gamma", True):
        # fix_gamma=True means gamma is 1 whatever the stored value.
        channels = tx.in_shape(1)[0]
        gamma = tx.const(np.ones((channels,), dtype=tx.in_dtype(1)), "gamma_fixed")
    attrs = {"epsilon": tx.attrs.float("eps", 1e-3), "momentum": tx.attrs.float("momentum", 0.9)}
    if axis == 1 or rank == 1:
        return tx.node("BatchNormalization", [x, gamma, beta, mean, var], **attrs)
    perm = _move_axis_perm(rank, axis, 1)
    moved = tx.node("Transpose", [x], perm=perm)
    normed = tx.node("BatchNormalization", [moved, gamma, beta, mean, var], **attrs)
    return tx.node("Transpose", [normed], perm=_inverse(perm))


def _normalize(tx: NodeTranslator, x: str, axes: list[int], eps: float, dtype: np.dtype) -> str:
    mean = tx.reduce("ReduceMean", x, axes, True)
    centered = tx.node("Sub", [x, mean])
    variance = tx.reduce("ReduceMean", tx.node("Mul", [centered, centered]), axes, True)
    std = tx.node("Sqrt", [tx.node("Add", [variance, tx.scalar(eps, dtype, "eps")])])
    return tx.node("Div", [centered, std])


@translation("LayerNorm")
def layer_norm(tx: NodeTranslator) -> str:
    x, gamma, beta = tx.input(0), tx.input(1), tx.input(2)
    rank = tx.in_rank(0)
    axis = tx.attrs.int("axis", -1) % rank
    normed = _normalize(tx, x, [axis], tx.attrs.float("eps", 1e-5), tx.in_dtype(0))
    if axis != rank - 1:
        trailing = list(range(1, rank - axis))
        gamma = tx.unsqueeze(gamma, trailing)
        beta = tx.unsqueeze(beta, trailing)
    return tx.node("Add", [tx.node("Mul", [normed, gamma]), beta])


@translation("LayerNorm", since=17)
def layer_norm_17(tx: NodeTranslator) -> str:
    x, gamma, beta = tx.input(0), tx.input(1), tx.input(2)
    rank = tx.in_rank(0)
    axis = tx.attrs.int("axis", -1) % rank
    eps = tx.attrs.float("eps", 1e-5)
    if axis == rank - 1:
        return tx.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=eps)
    perm = _move_axis_perm(rank, axis, rank - 1)
    moved = tx.node("Transpose", [x], perm=perm)
    normed = tx.node("LayerNormalization", [moved, gamma, beta], axis=-1, epsilon=eps)
    return tx.node("Transpose", [normed], perm=_inverse(perm))


@translation("InstanceNorm")
def instance_norm(tx: NodeTranslator) -> str:
    return tx.node("InstanceNormalization", [tx.input(0), tx.input(1), tx.input(2)],
                   epsilon=tx.attrs.float("eps", 1e-3))


@translation("GroupNorm")
def group_norm(tx: NodeTranslator) -> str:
    # MXNet 1.x GroupNorm has one gamma/beta per *group*.
    x, gamma, beta = tx.input(0), tx.input(1), tx.input(2)
    groups = tx.attrs.int("num_groups", 1)
    grouped = tx.node("Reshape", [x, tx.ints([0, groups, -1], "grouped")])
    normed = _normalize(tx, grouped, [2], tx.attrs.float("eps", 1e-5), tx.in_dtype(0))
    scaled = tx.node("Add", [tx.node("Mul", [normed, tx.unsqueeze(gamma, [1])]), tx.unsqueeze(beta, [1])])
    return tx.node("Reshape", [scaled, tx.shape_of(x)])


@translation("L2Normalization")
def l2_normalization(tx: NodeTranslator) -> str:
    x = tx.input(0)
    rank = tx.in_rank(0)
    mode = tx.attrs.str("mode", "instance")
    axes = {"instance": list(range(1, rank)), "channel": [1], "spatial": list(range(2, rank))}.get(mode)
    if axes is None:
        raise tx.fail(f"mode {mode!r} is not supported")
    dtype = tx.in_dtype(0)
    total = tx.reduce("ReduceSum", tx.node("Mul", [x, x]), axes, True)
    norm = tx.node("Sqrt", [tx.node("Add", [total, tx.scalar(tx.attrs.float("eps", 1e-10), dtype, "eps")])])
    return tx.node("Div", [x, norm])


@translation("LRN")
def lrn(tx: NodeTranslator) -> str:
    return tx.node("LRN", [tx.input(0)], alpha=tx.attrs.float("alpha", 1e-4), beta=tx.attrs.float("beta", 0.75),
                   bias=tx.attrs.float("knorm", 2.0), size=tx.attrs.int("nsize"))


# --- dense ----------------------------------------------------------------------------------------
@translation("FullyConnected")
def fully_connected(tx: NodeTranslator) -> str:
    x, weight = tx.input(0), tx.input(1)
    inputs = [weight] if tx.attrs.bool("no_bias", False) else [weight, tx.input(2)]
    rank = tx.in_rank(0)
    if tx.attrs.bool("flatten", True):
        if rank != 2:
            x = tx.node("Flatten", [x], axis=1)
        return tx.node("Gemm", [x, *inputs], transB=1)
    if rank == 2:
        return tx.node("Gemm", [x, *inputs], transB=1)
    features = tx.in_shape(0)[-1]
    flat = tx.node("Reshape", [x, tx.ints([-1, features], "rows")])
    product = tx.node("Gemm", [flat, *inputs], transB=1)
    return tx.node("Reshape", [product, tx.target_shape(0, lambda k: tx.dim_of(tx.input(0), k))])


# --- activations ------------------------------------------------------------------------------
def _gelu(tx: NodeTranslator, x: str) -> str:
    if tx.opset >= 20:
        return tx.node("Gelu", [x])
    dtype = tx.in_dtype(0)
    scaled = tx.node("Div", [x, tx.scalar(math.sqrt(2.0), dtype, "sqrt2")])
    erf = tx.node("Add", [tx.node("Erf", [scaled]), tx.scalar(1.0, dtype, "one")])
    return tx.node("Mul", [tx.node("Mul", [x, erf]), tx.scalar(0.5, dtype, "half")])


@translation("Activation")
def activation(tx: NodeTranslator) -> str:
    x = tx.input(0)
    kind = tx.attrs.str("act_type")
    simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softrelu": "Softplus", "softsign": "Softsign"}
    if kind in simple:
        return tx.node(simple[kind], [x])
    if kind == "log_sigmoid":
        return tx.node("Neg", [tx.node("Softplus", [tx.node("Neg", [x])])])
    if kind == "mish":
        if tx.opset >= 18:
            return tx.node("Mish", [x])
        return tx.node("Mul", [x, tx.node("Tanh", [tx.node("Softplus", [x])])])
    raise tx.fail(f"act_type {kind!r} is not supported")


@translation("LeakyReLU")
def leaky_relu(tx: NodeTranslator) -> str:
    x = tx.input(0)
    kind = tx.attrs.str("act_type", "leaky")
    slope = tx.attrs.float("slope", 0.25)
    if kind == "leaky":
        return tx.node("LeakyRelu", [x], alpha=slope)
    if kind == "elu":
        return tx.node("Elu", [x], alpha=slope)
    if kind == "selu":
        return tx.node("Selu", [x])
    if kind == "gelu":
        return _gelu(tx, x)
    if kind == "rrelu":
        # inference: the mean of the random slope's range
        lower = tx.attrs.float("lower_bound", 0.125)
        upper = tx.attrs.float("upper_bound", 0.334)
        return tx.node("LeakyRelu", [x], alpha=(lower + upper) / 2)
    if kind == "prelu":
        gamma = tx.input(1)
        rank = tx.in_rank(0)
        if rank > 2 and tx.in_shape(1) != (1,):
            gamma = tx.unsqueeze(gamma, list(range(1, rank - 1)))
        return tx.node("PRelu", [x, gamma])
    raise tx.fail(f"act_type {kind!r} is not supported")


# --- softmax ---------------------------------------------------------------------------------------
def _softmax(tx: NodeTranslator, op_type: str) -> str:
    x = tx.input(0)
    temperature = tx.attrs.float("temperature")
    if temperature is not None and temperature != 1.0:
        x = tx.node("Div", [x, tx.scalar(temperature, tx.in_dtype(0), "temperature")])
    axis = tx.attrs.int("axis", -1)
    if tx.attrs.bool("use_length", False):
        x = _mask_beyond_length(tx, x, tx.input(1), axis)
    out = tx.node(op_type, [x], axis=axis)
    if tx.attrs.bool("use_length", False) and op_type == "Softmax":
        # rows of length 0 give NaN in the masked softmax; MXNet returns zeros there
        out = tx.node("Where", [tx.node("IsNaN", [out]), tx.scalar(0, tx.in_dtype(0), "zero"), out])
    out_dtype = tx.out_dtype(0)
    if out_dtype != tx.in_dtype(0):
        out = tx.cast(out, out_dtype)
    return out


def _mask_beyond_length(tx: NodeTranslator, x: str, length: str, axis: int) -> str:
    """-inf where the position along ``axis`` is >= length (length has x's shape without axis)."""
    rank = tx.in_rank(0)
    axis %= rank
    dtype = tx.in_dtype(0)
    size = tx.node("Squeeze", [tx.dim_of(x, axis)])
    positions = tx.node("Range", [tx.scalar(0, np.int64, "start"), size, tx.scalar(1, np.int64, "step")])
    positions = tx.unsqueeze(positions, list(range(1, rank - axis))) if axis < rank - 1 else positions
    limit = tx.unsqueeze(tx.cast(length, np.int64), [axis])
    keep = tx.node("Less", [positions, limit])
    return tx.node("Where", [keep, x, tx.scalar(-np.inf, dtype, "ninf")])


@translation("softmax")
def softmax(tx: NodeTranslator) -> str:
    return _softmax(tx, "Softmax")


@translation("log_softmax")
def log_softmax(tx: NodeTranslator) -> str:
    return _softmax(tx, "LogSoftmax")


def _flat_softmax(tx: NodeTranslator, x: str) -> str:
    if tx.in_rank(0) == 2:
        return tx.node("Softmax", [x], axis=1)
    flat = tx.node("Flatten", [x], axis=1)
    return tx.node("Reshape", [tx.node("Softmax", [flat], axis=1), tx.shape_of(x)])


@translation("SoftmaxOutput")
def softmax_output(tx: NodeTranslator) -> str:
    x = tx.input(0)
    if tx.attrs.bool("preserve_shape", False):
        return tx.node("Softmax", [x], axis=-1)
    if tx.attrs.bool("multi_output", False):
        return tx.node("Softmax", [x], axis=1)
    return _flat_softmax(tx, x)


@translation("SoftmaxActivation")
def softmax_activation(tx: NodeTranslator) -> str:
    axis = 1 if tx.attrs.str("mode", "instance") == "channel" else -1
    return tx.node("Softmax", [tx.input(0)], axis=axis)


# --- embedding --------------------------------------------------------------------------------------
@translation("Embedding")
def embedding(tx: NodeTranslator) -> str:
    indices = tx.cast(tx.input(0), np.int64)
    return tx.node("Gather", [tx.input(1), indices], axis=0)


# --- resizing -------------------------------------------------------------------------------------
def _resize_sizes(tx: NodeTranslator, x: str, spatial: list[object]) -> str:
    """Full Resize ``sizes``: batch and channels of x, then ``spatial`` (ints or tensors)."""
    dynamic = tx.in_dynamic(0)
    shape = tx.in_shape(0)
    lead: list[object] = []
    if dynamic[0] or dynamic[1]:
        lead.append(tx.dims_of(x, 0, 2))
    else:
        lead.extend([shape[0], shape[1]])
    return tx.shape_tensor(lead + spatial)


@translation("UpSampling")
def upsampling(tx: NodeTranslator) -> str:
    scale = tx.attrs.int("scale")
    kind = tx.attrs.str("sample_type")
    if kind == "nearest" and tx.attrs.int("num_args", 1) != 1:
        raise tx.fail("nearest UpSampling of several inputs is not supported")
    x = tx.input(0)
    if kind == "nearest":
        dtype = np.float32
        scales = tx.const(np.array([1, 1, scale, scale], dtype=dtype), "scales")
        return tx.node("Resize", [x, "", scales], mode="nearest", coordinate_transformation_mode="asymmetric",
                       nearest_mode="floor")
    if kind == "bilinear":
        # MXNet's bilinear UpSampling is a grouped deconvolution with a (learnable) weight.
        kernel = 2 * scale - scale % 2
        pad = int(math.ceil((scale - 1) / 2.0))
        channels = tx.attrs.int("num_filter", 0) or tx.in_shape(0)[1]
        return tx.node("ConvTranspose", [x, tx.input(1)], kernel_shape=[kernel, kernel], strides=[scale, scale],
                       pads=[pad, pad, pad, pad], group=channels)
    raise tx.fail(f"sample_type {kind!r} is not supported")


@translation("_contrib_BilinearResize2D")
def bilinear_resize(tx: NodeTranslator) -> str:
    x = tx.input(0)
    mode = tx.attrs.str("mode", "size")
    align = tx.attrs.bool("align_corners", True)
    out_shape = tx.out_shape(0)
    out_dynamic = tx.out_dynamic(0)
    if mode == "like":
        spatial: list[object] = [tx.dims_of(tx.input(1), 2, 4)]
    elif not (out_dynamic[2] or out_dynamic[3]):
        spatial = [out_shape[2], out_shape[3]]
    elif mode == "size" and tx.attrs.float("scale_height") is not None and tx.attrs.float("scale_width") is not None:
        factors = tx.const(np.array([tx.attrs.float("scale_height"), tx.attrs.float("scale_width")], np.float32),
                           "factors")
        scaled = tx.node("Mul", [tx.cast(tx.dims_of(x, 2, 4), np.float32), factors])
        spatial = [tx.cast(tx.node("Floor", [scaled]), np.int64)]
    else:
        raise tx.fail(f"resizing mode {mode!r} with dynamic height/width is not supported")
    sizes = _resize_sizes(tx, x, spatial)
    transform = "align_corners" if align else "pytorch_half_pixel"
    return tx.node("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode=transform)


# --- padding ----------------------------------------------------------------------------------------
@translation("Pad")
def pad(tx: NodeTranslator) -> str:
    mode = tx.attrs.str("mode", "constant")
    widths = tx.attrs.ints("pad_width")
    begins, ends = list(widths[0::2]), list(widths[1::2])
    pads = tx.ints(begins + ends, "pads")
    if mode == "constant":
        value = tx.scalar(tx.attrs.float("constant_value", 0.0), tx.in_dtype(0), "value")
        return tx.node("Pad", [tx.input(0), pads, value], mode="constant")
    if mode in ("edge", "reflect"):
        return tx.node("Pad", [tx.input(0), pads], mode=mode)
    raise tx.fail(f"mode {mode!r} is not supported")
