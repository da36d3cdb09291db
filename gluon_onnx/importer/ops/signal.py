"""Signal processing: DFT, STFT, HannWindow, HammingWindow, BlackmanWindow, MelWeightMatrix.

MXNet 1.9.1 has no FFT on CPU (``contrib.fft`` is CUDA only), so transforms are products with
cosine/sine matrices built at graph-construction time: the DFT is one ``dot`` over the
(interleaved real/imaginary) transform axis, the STFT one strided 1-D ``Convolution`` whose
filters are the windowed DFT basis. This is O(n^2) per transform, fine for the frame and
signal lengths models use. Windows and mel matrices only depend on static scalars: they are
computed with numpy and become constants.
"""

from __future__ import annotations

import numpy as np

from ...dtypes import np_dtype
from ..context import NodeContext
from ..registry import converter
from ._helpers import as_float


def _scalar(cx: NodeContext, value: object, what: str) -> int:
    values = cx.concrete(value)
    if len(values) != 1:
        raise cx.fail(f"{what} must be a scalar, got {len(values)} values")
    return values[0]


def _dft_matrix(length: int, used_inputs: int, outputs: int, channels_in: int, inverse: bool,
                irfft: bool) -> np.ndarray:
    """Real matrix W with ``x_interleaved @ W = y_interleaved``.

    Rows are (n, c_in) for the first ``used_inputs`` samples (zero padding to ``length`` adds
    nothing), columns (k, c_out) with c_out in (re, im), or just re for the IRFFT.
    """
    n = np.arange(used_inputs, dtype=np.float64)[:, None]
    if irfft:
        # x[n] = 1/L sum_k w_k (Re X[k] cos(2 pi k n / L) - Im X[k] sin(...)), k < L//2 + 1,
        # w_k = 2 except for k = 0 and k = L/2 (conjugate symmetric bins counted once)
        k = np.arange(outputs, dtype=np.float64)[None, :]
        angle = 2.0 * np.pi * ((n * k) % length) / length  # (bins, samples)
        weights = np.full(used_inputs, 2.0)
        weights[0] = 1.0
        if length % 2 == 0 and used_inputs > length // 2:
            weights[length // 2] = 1.0
        weights = weights[:, None] / length
        matrix = np.zeros((used_inputs, channels_in, outputs, 1))
        matrix[:, 0, :, 0] = weights * np.cos(angle)
        if channels_in == 2:
            matrix[:, 1, :, 0] = -weights * np.sin(angle)
        return matrix.reshape(used_inputs * channels_in, outputs)
    k = np.arange(outputs, dtype=np.float64)[None, :]
    angle = 2.0 * np.pi * ((n * k) % length) / length
    cos, sin = np.cos(angle), np.sin(angle)
    sign = 1.0 if inverse else -1.0  # exponent sign: e^{sign * j * angle}
    matrix = np.zeros((used_inputs, channels_in, outputs, 2))
    # (xr + j xi)(cos + j sign sin) = (xr cos - sign xi sin) + j (sign xr sin + xi cos)
    matrix[:, 0, :, 0] = cos
    matrix[:, 0, :, 1] = sign * sin
    if channels_in == 2:
        matrix[:, 1, :, 0] = -sign * sin
        matrix[:, 1, :, 1] = cos
    if inverse:
        matrix /= length
    return matrix.reshape(used_inputs * channels_in, outputs * 2)


def _dft(cx: NodeContext, x: object, dft_length: object, axis: int, inverse: int, onesided: int) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None:
        raise cx.unknown_rank(0)
    rank = len(shape)
    if not (-rank <= axis <= -2 or 0 <= axis <= rank - 2):
        raise cx.fail(f"axis {axis} is invalid for a rank-{rank} input (the last axis holds re/im)")
    axis = axis % rank
    channels = shape[-1]
    if channels not in (1, 2):
        raise cx.fail(f"the last axis must have size 1 (real) or 2 (complex), got {channels}")
    size = shape[axis]
    if not isinstance(size, int):
        size = cx.concrete([size])[0]
    irfft = bool(inverse and onesided)
    if dft_length is not None:
        length = _scalar(cx, dft_length, "dft_length")
    else:
        length = 2 * (size - 1) if irfft else size
    if length < 1:
        raise cx.fail(f"dft_length must be positive, got {length}")
    if irfft:
        used, outputs, channels_out = min(size, length // 2 + 1), length, 1
    else:
        used = min(size, length)
        outputs = length // 2 + 1 if onesided else length
        channels_out = 2
    if used < size:
        x = F.slice_axis(x, axis=axis, begin=0, end=used)
    matrix = _dft_matrix(length, used, outputs, channels, bool(inverse), irfft)
    dtype = cx.in_storage(0) or "float32"
    # [..., n, ..., c] -> [others..., n, c] -> [others..., n*c] @ W -> [others..., k, c_out]
    perm = [d for d in range(rank - 1) if d != axis] + [axis, rank - 1]
    moved = F.transpose(x, axes=tuple(perm)) if perm != list(range(rank)) else x
    flat = F.reshape(moved, shape=(0,) * (rank - 2) + (-1,)) if rank > 2 else F.reshape(moved, shape=(-1,))
    product = F.dot(flat, cx.const(matrix.astype(dtype)))
    out = F.reshape(product, shape=(0,) * (rank - 2) + (outputs, channels_out)) if rank > 2 else F.reshape(
        product, shape=(outputs, channels_out))
    inverse_perm = [perm.index(d) for d in range(rank)]
    return F.transpose(out, axes=tuple(inverse_perm)) if inverse_perm != list(range(rank)) else out


@converter("DFT", since=17, static=("dft_length",))
def dft_v17(cx: NodeContext, x: object, dft_length: object = None, *, axis: int = 1, inverse: int = 0,
            onesided: int = 0) -> object:
    return _dft(cx, x, dft_length, axis, inverse, onesided)


@converter("DFT", since=20, static=("dft_length", "axis"))
def dft(cx: NodeContext, x: object, dft_length: object = None, axis: object = None, *, inverse: int = 0,
        onesided: int = 0) -> object:
    return _dft(cx, x, dft_length, -2 if axis is None else _scalar(cx, axis, "axis"), inverse, onesided)


@converter("STFT", since=17, static=("frame_step", "frame_length"))
def stft(cx: NodeContext, signal: object, frame_step: object, window: object = None, frame_length: object = None,
         *, onesided: int = 1) -> object:
    F = cx.F
    shape = cx.in_shape(0)
    if shape is None or len(shape) != 3:
        raise cx.fail("STFT takes a [batch, signal_length, 1 or 2] signal")
    channels = shape[2]
    if channels not in (1, 2):
        raise cx.fail(f"the last axis must have size 1 (real) or 2 (complex), got {channels}")
    step = _scalar(cx, frame_step, "frame_step")
    if frame_length is not None:
        length = _scalar(cx, frame_length, "frame_length")
    elif window is not None:
        window_shape = cx.in_shape(2)
        if window_shape is None or len(window_shape) != 1:
            raise cx.fail("the window must be a 1-D tensor")
        length = window_shape[0] if isinstance(window_shape[0], int) else cx.concrete(window_shape)[0]
    else:
        length = shape[1] if isinstance(shape[1], int) else cx.concrete([shape[1]])[0]
    bins = length // 2 + 1 if onesided else length
    basis = _dft_matrix(length, length, bins, channels, False, False)  # rows (n, c_in), columns (k, c_out)
    dtype = cx.in_storage(0) or "float32"
    # Convolution filters: (k, c_out) x c_in x n; cross-correlation slides over the frames
    filters = basis.reshape(length, channels, bins * 2).transpose(2, 1, 0)
    static_window = cx.static(2) if window is not None else None
    if static_window is not None:
        filters = filters * np.asarray(static_window, dtype=np.float64).reshape(1, 1, length)
        weight = cx.const(filters.astype(dtype))
    else:
        weight = cx.const(filters.astype(dtype))
        if window is not None:
            weight = F.broadcast_mul(weight, F.reshape(window, shape=(1, 1, length)))
    frames = F.Convolution(F.transpose(signal, axes=(0, 2, 1)), weight, kernel=(length,), stride=(step,),
                           num_filter=bins * 2, no_bias=True)
    # [batch, bins*2, frames] -> [batch, frames, bins, 2]
    out = F.reshape(frames, shape=(0, bins, 2, -1))
    return F.transpose(out, axes=(0, 3, 1, 2))


# --- windows and mel filter banks: constants of static sizes -----------------------------------


def _window(cx: NodeContext, size: object, periodic: int, output_datatype: int, kind: str) -> object:
    count = _scalar(cx, size, "size")
    if count < 0:
        raise cx.fail(f"the window size must be non-negative, got {count}")
    cx.check_elements([count])
    period = count if periodic else count - 1
    n = np.arange(count, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        phase = 2.0 * np.pi * n / period
        if kind == "hann":
            values = np.sin(np.pi * n / period) ** 2
        elif kind == "hamming":
            alpha = 25.0 / 46.0
            values = alpha - (1.0 - alpha) * np.cos(phase)
        else:
            values = 0.42 - 0.5 * np.cos(phase) + 0.08 * np.cos(2.0 * phase)
    return cx.const(values.astype(np_dtype(output_datatype)))


@converter("HannWindow", since=17, static=("size",))
def hann_window(cx: NodeContext, size: object, *, output_datatype: int = 1, periodic: int = 1) -> object:
    return _window(cx, size, periodic, output_datatype, "hann")


@converter("HammingWindow", since=17, static=("size",))
def hamming_window(cx: NodeContext, size: object, *, output_datatype: int = 1, periodic: int = 1) -> object:
    return _window(cx, size, periodic, output_datatype, "hamming")


@converter("BlackmanWindow", since=17, static=("size",))
def blackman_window(cx: NodeContext, size: object, *, output_datatype: int = 1, periodic: int = 1) -> object:
    return _window(cx, size, periodic, output_datatype, "blackman")


def mel_weight_matrix_values(num_mel_bins: int, dft_length: int, sample_rate: int, lower_hz: float,
                             upper_hz: float) -> np.ndarray:
    """Triangular mel filter bank, [dft_length // 2 + 1, num_mel_bins], peaks of 1.

    Band edges are equally spaced on the mel scale ``2595 * log10(1 + f / 700)`` (with
    ``num_mel_bins + 2`` steps between the edges) and snapped to DFT bins.
    """
    spectrogram_bins = dft_length // 2 + 1
    low_mel = 2595.0 * np.log1p(lower_hz / 700.0) / np.log(10.0)
    high_mel = 2595.0 * np.log1p(upper_hz / 700.0) / np.log(10.0)
    points = num_mel_bins + 2
    mels = np.arange(points) * ((high_mel - low_mel) / points) + low_mel
    hertz = 700.0 * np.expm1(mels / 2595.0 * np.log(10.0))
    edges = np.floor_divide((dft_length + 1) * hertz, sample_rate).astype(np.int64)
    j = np.arange(spectrogram_bins)[:, None]
    left, center, right = edges[None, :-2], edges[None, 1:-1], edges[None, 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        rising = np.where((j >= left) & (j <= center), (j - left) / (center - left), 0.0)
        falling = np.where((j >= center) & (j < right), (right - j) / (right - center), 0.0)
    # a band whose left edge equals its center is a single 1 at the center
    rising = np.where(center == left, (j == center).astype(np.float64), rising)
    # where both slopes cover the center bin the falling one (value 1 there) wins
    return np.where((j >= center) & (j < right), falling, rising)


@converter("MelWeightMatrix", since=17, static=("num_mel_bins", "dft_length", "sample_rate", "lower_edge_hertz",
                                                "upper_edge_hertz"))
def mel_weight_matrix(cx: NodeContext, num_mel_bins: object, dft_length: object, sample_rate: object,
                      lower_edge_hertz: object, upper_edge_hertz: object, *, output_datatype: int = 1) -> object:
    values = mel_weight_matrix_values(
        _scalar(cx, num_mel_bins, "num_mel_bins"), _scalar(cx, dft_length, "dft_length"),
        _scalar(cx, sample_rate, "sample_rate"), as_float(lower_edge_hertz), as_float(upper_edge_hertz),
    )
    cx.check_elements(values.shape)
    return cx.const(values.astype(np_dtype(output_datatype)))
