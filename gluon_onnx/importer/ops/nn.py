"""Convolution and dense layers: Conv, Gemm, MatMul."""

from __future__ import annotations

import math

from ..context import NodeContext
from ..mxops import npi
from ..registry import converter
from ._helpers import onnx_pads_to_pairs, pad_array

_DEFORM_NOTES = "2-D only (MXNet deformable convolution)"


def resolve_pads(
    cx: NodeContext,
    spatial_in: tuple,
    kernel: tuple[int, ...],
    strides: tuple[int, ...],
    dilations: tuple[int, ...],
    pads: list[int] | None,
    auto_pad: str,
) -> list[tuple[int, int]]:
    """Per-axis (begin, end) padding, resolving auto_pad from the input size.

    Also validates the window: MXNet's kernels check these only while running (asynchronously).
    """
    n = len(kernel)
    for name, values, low in (("kernel_shape", kernel, 1), ("strides", strides, 1), ("dilations", dilations, 1),
                              ("pads", pads or [0] * (2 * n), 0)):
        if len(values) != (2 * n if name == "pads" else n) or any(int(v) < low for v in values):
            raise cx.fail(f"invalid {name} {list(values)} for a {n}-D window")
    cx.check_elements([(k - 1) * d + 1 for k, d in zip(kernel, dilations)])  # an absurd window is a bomb too
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        sizes = cx.concrete(spatial_in) if any(not isinstance(d, int) for d in spatial_in) else spatial_in
        result = []
        for size, k, s, d in zip(sizes, kernel, strides, dilations):
            out = math.ceil(size / s)
            total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
            small, large = total // 2, total - total // 2
            result.append((small, large) if auto_pad == "SAME_UPPER" else (large, small))
        return result
    if auto_pad == "VALID":
        return [(0, 0)] * n
    if auto_pad not in ("NOTSET", ""):
        raise cx.fail(f"unknown auto_pad value {auto_pad!r}")
    pairs = onnx_pads_to_pairs(pads or [], n)
    cx.check_elements([d + b + e if isinstance(d, int) else d for d, (b, e) in zip(spatial_in, pairs)])
    return pairs


def split_symmetric(pairs: list[tuple[int, int]]) -> tuple[tuple[int, ...], list[tuple[int, int]]]:
    """Symmetric part (for MXNet's pad=) and the explicit remainder (begin, end) per axis."""
    sym = tuple(min(b, e) for b, e in pairs)
    rest = [(b - s, e - s) for (b, e), s in zip(pairs, sym)]
    return sym, rest


def half_to_float(cx: NodeContext, *values: object) -> list:
    """float16 operands cast to float32 (MXNet has no float16 GEMM on CPU); others unchanged."""
    if cx.in_storage(0) != "float16":
        return list(values)
    return [cx.F.Cast(v, dtype="float32") if v is not None else None for v in values]


def float_to_half(cx: NodeContext, y: object) -> object:
    """Undo :func:`half_to_float` on a result."""
    return cx.F.Cast(y, dtype="float16") if cx.in_storage(0) == "float16" else y


@converter("Conv", since=1)
@converter("Conv", since=11)
@converter("Conv", since=22)
def conv(
    cx: NodeContext,
    x: object,
    w: object,
    b: object = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> object:
    F = cx.F
    w_shape = cx.in_shape(1)
    if w_shape is None or any(not isinstance(d, int) for d in w_shape):
        w_shape = cx.concrete(w_shape or ())
    kernel = tuple(kernel_shape) if kernel_shape else tuple(w_shape[2:])
    n = len(kernel)
    if n not in (1, 2, 3):
        raise cx.fail(f"{n}-D convolution is not supported by MXNet (1-D, 2-D and 3-D are)")
    strides_t = tuple(strides) if strides else (1,) * n
    dil = tuple(dilations) if dilations else (1,) * n
    x_shape = cx.in_shape(0)
    spatial = tuple(x_shape[2:]) if x_shape is not None else (0,) * n
    pairs = resolve_pads(cx, spatial, kernel, strides_t, dil, pads, auto_pad)
    sym, rest = split_symmetric(pairs)
    x, w, b = half_to_float(cx, x, w, b)
    if any(b_ or e for b_, e in rest):
        x = pad_array(cx, x, [(0, 0), (0, 0)] + rest)
    y = F.Convolution(
        x, w, b, kernel=kernel, stride=strides_t, dilate=dil, pad=sym,
        num_filter=int(w_shape[0]), num_group=group, no_bias=b is None,
    )
    return float_to_half(cx, y)


def _matmul_dtype(storage: str | None) -> str | None:
    """The dtype MXNet's CPU matrix products compute ``storage`` in (None: natively)."""
    if storage in ("float32", "float64"):
        return None
    # float16 has no CPU GEMM; integers go through float64, exact while |values| < 2**53
    return "float32" if storage == "float16" else "float64"


@converter("Gemm", since=1)
@converter("Gemm", since=7)
@converter("Gemm", since=9)
@converter("Gemm", since=11)
@converter("Gemm", since=13)
def gemm(
    cx: NodeContext,
    a: object,
    b: object,
    c: object = None,
    *,
    alpha: float = 1.0,
    beta: float = 1.0,
    transA: int = 0,
    transB: int = 0,
    broadcast: int = 0,
) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    via = _matmul_dtype(storage)
    if via is not None:
        a, b = F.Cast(a, dtype=via), F.Cast(b, dtype=via)
        c = F.Cast(c, dtype=via) if c is not None else None
    c_shape = cx.in_shape(2) if c is not None else None
    b_shape = cx.in_shape(1)
    units = None
    if b_shape is not None and isinstance(b_shape[0 if transB else 1], int):
        units = b_shape[0 if transB else 1]
    fc_bias = c is None or (beta == 1.0 and c_shape is not None and len(c_shape) == 1 and c_shape[0] == units)
    if transB and not transA and alpha == 1.0 and fc_bias and units is not None and storage == "float32":
        return F.FullyConnected(a, b, c, num_hidden=units, no_bias=c is None, flatten=False)
    out = F.dot(a, b, transpose_a=bool(transA), transpose_b=bool(transB))
    if alpha != 1.0:
        out = out * alpha
    if c is not None and beta != 0.0:
        if c_shape is not None and len(c_shape) == 0:
            c = F.reshape(c, shape=(1, 1))
        out = F.broadcast_add(out, c * beta if beta != 1.0 else c)
    return out if via is None else F.Cast(out, dtype=storage)


@converter("MatMul", since=1)
@converter("MatMul", since=9)
@converter("MatMul", since=13)
def matmul(cx: NodeContext, a: object, b: object) -> object:
    F = cx.F
    storage = cx.in_storage(0)
    via = _matmul_dtype(storage)
    if via is not None:
        a, b = F.Cast(a, dtype=via), F.Cast(b, dtype=via)
    rank_a, rank_b = cx.in_rank(0), cx.in_rank(1)
    if rank_b == 2 and rank_a is not None and rank_a >= 2:
        out = F.dot(a, b)
    else:
        out = npi(F, "matmul", a, b)
    return out if via is None else F.Cast(out, dtype=storage)


def _spatial_ints(cx: NodeContext, dims: tuple) -> tuple[int, ...]:
    return tuple(dims) if all(isinstance(d, int) for d in dims) else cx.concrete(dims)


@converter("ConvTranspose", since=1)
@converter("ConvTranspose", since=11)
@converter("ConvTranspose", since=22)
def conv_transpose(
    cx: NodeContext,
    x: object,
    w: object,
    b: object = None,
    *,
    auto_pad: str = "NOTSET",
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    output_padding: list[int] | None = None,
    output_shape: list[int] | None = None,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> object:
    F = cx.F
    w_shape = _spatial_ints(cx, cx.in_shape(1) or ())
    kernel = tuple(w_shape[2:])
    n = len(kernel)
    if n not in (1, 2, 3):
        raise cx.fail(f"{n}-D transposed convolution is not supported by MXNet (1-D, 2-D and 3-D are)")
    strides_t = tuple(strides) if strides else (1,) * n
    dil = tuple(dilations) if dilations else (1,) * n
    extra = tuple(output_padding) if output_padding else (0,) * n
    target = tuple(output_shape[-n:]) if output_shape else None
    in_spatial = cx.in_shape(0)[2:]
    full = None
    if target is not None or auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        in_spatial = _spatial_ints(cx, in_spatial)
        full = [(i - 1) * s + (k - 1) * d + 1 for i, s, k, d in zip(in_spatial, strides_t, kernel, dil)]
    # (first kept row of the unpadded result, rows kept) per axis; None keeps full + output_padding
    window: list[tuple[int, int]] | None = None
    # (rows cropped at the front, at the end) per axis: pads alone crop independently of the sizes
    window_full: list[tuple[int, int]] | None = None
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        wanted = target or tuple(i * s for i, s in zip(in_spatial, strides_t))
        window = []
        for f, e, o in zip(full, extra, wanted):
            total = f + e - o
            begin = total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
            window.append((begin, o))
    elif pads and target is not None:
        window = [(pb, o) for (pb, _), o in zip(onnx_pads_to_pairs(pads, n), target)]
    elif pads:
        window_full = [(pb, pe - e) for (pb, pe), e in zip(onnx_pads_to_pairs(pads, n), extra)]
    elif target is not None:
        window = [(0, o) for o in target]
    elif auto_pad not in ("NOTSET", "", "VALID"):
        raise cx.fail(f"unknown auto_pad value {auto_pad!r}")
    common = dict(kernel=kernel, stride=strides_t, dilate=dil, num_filter=int(w_shape[1]) * group, num_group=group)
    if window is not None:
        window_full = [(begin, f - begin - size) for (begin, size), f in zip(window, full)]
    x, w, b = half_to_float(cx, x, w, b)
    if window_full is None and all(0 <= e < s for e, s in zip(extra, strides_t)):
        y = F.Deconvolution(x, w, b, pad=(0,) * n, adj=extra, no_bias=b is None, **common)
        return float_to_half(cx, y)
    if window_full is not None and all(
        front >= 0 and 0 <= front - end < s for (front, end), s in zip(window_full, strides_t)
    ):
        adj = tuple(front - end for front, end in window_full)
        y = F.Deconvolution(x, w, b, pad=tuple(front for front, _ in window_full), adj=adj,
                            no_bias=b is None, **common)
        return float_to_half(cx, y)
    y = F.Deconvolution(x, w, None, pad=(0,) * n, adj=(0,) * n, no_bias=True, **common)
    if window_full is None:
        window_full = [(0, -e) for e in extra]
    # crop (positive) or zero-extend (negative) each end
    crop = [(max(front, 0), max(end, 0)) for front, end in window_full]
    if any(front or end for front, end in crop):
        y = F.slice(y, begin=(None, None) + tuple(front for front, _ in crop),
                    end=(None, None) + tuple(-end if end else None for _, end in crop))
    grow = [(max(-front, 0), max(-end, 0)) for front, end in window_full]
    y = pad_array(cx, y, [(0, 0), (0, 0)] + grow)
    if b is not None:
        y = F.broadcast_add(y, F.reshape(b, shape=(1, -1) + (1,) * n))
    return float_to_half(cx, y)


@converter("DeformConv", since=19, notes=_DEFORM_NOTES)
@converter("DeformConv", since=22, notes=_DEFORM_NOTES)
def deform_conv(
    cx: NodeContext,
    x: object,
    w: object,
    offset: object,
    b: object = None,
    mask: object = None,
    *,
    dilations: list[int] | None = None,
    group: int = 1,
    kernel_shape: list[int] | None = None,
    offset_group: int = 1,
    pads: list[int] | None = None,
    strides: list[int] | None = None,
) -> object:
    F = cx.F
    w_shape = _spatial_ints(cx, cx.in_shape(1) or ())
    kernel = tuple(kernel_shape) if kernel_shape else tuple(w_shape[2:])
    if len(kernel) != 2:
        raise cx.fail(f"{len(kernel)}-D deformable convolution is not supported by MXNet (2-D is)")
    storage = cx.in_storage(0)
    if storage != "float32":
        x, w, offset = (F.Cast(v, dtype="float32") for v in (x, w, offset))
        b = F.Cast(b, dtype="float32") if b is not None else None
        mask = F.Cast(mask, dtype="float32") if mask is not None else None
    pairs = onnx_pads_to_pairs(pads or [], 2)
    sym, rest = split_symmetric(pairs)
    if any(bg or e for bg, e in rest):
        # zero padding reads like ONNX's out-of-range samples, which are zero too
        x = pad_array(cx, x, [(0, 0), (0, 0)] + rest)
    common = dict(kernel=kernel, stride=tuple(strides) if strides else (1, 1),
                  dilate=tuple(dilations) if dilations else (1, 1), pad=sym, num_filter=int(w_shape[0]),
                  num_group=group, num_deformable_group=offset_group, no_bias=b is None)
    if mask is None:
        y = F.contrib.DeformableConvolution(x, offset, w, b, **common)
    else:
        y = F.contrib.ModulatedDeformableConvolution(x, offset, mask, w, b, **common)
    return y if storage == "float32" else F.Cast(y, dtype=storage)


@converter("CausalConvWithState", since=27)
def causal_conv_with_state(cx: NodeContext, x: object, w: object, b: object = None, past_state: object = None, *,
                           activation: str = "none") -> tuple:
    F = cx.F
    if activation not in ("none", "silu", "swish"):
        raise cx.fail(f"unknown activation {activation!r}")
    w_shape = _spatial_ints(cx, cx.in_shape(1) or ())
    channels, k = int(w_shape[0]), int(w_shape[2])
    storage = cx.in_storage(0)
    if past_state is None:
        padded = pad_array(cx, x, [(0, 0), (0, 0), (k - 1, 0)])
    else:
        padded = F.concat(past_state, x, dim=2)
    ct = "float64" if storage == "float64" else "float32"
    conv_in, conv_w, conv_b = padded, w, b
    if storage != ct:
        conv_in, conv_w = F.Cast(padded, dtype=ct), F.Cast(w, dtype=ct)
        conv_b = F.Cast(b, dtype=ct) if b is not None else None
    y = F.Convolution(conv_in, conv_w, conv_b, kernel=(k,), num_filter=channels, num_group=channels,
                      no_bias=b is None)
    if storage == "float16":
        y = F.Cast(F.Cast(y, dtype="float16"), dtype=ct)  # ONNX rounds the convolution before the activation
    if activation != "none":
        y = y * F.sigmoid(y)
    if storage != ct:
        y = F.Cast(y, dtype=storage)
    # the last k-1 positions of the padded input carry over to the next call
    state = npi(F, "slice", padded, begin=(None, None, -(k - 1) if k > 1 else None),
                end=(None, None, None if k > 1 else 0), step=(None, None, 1))
    return y, state
