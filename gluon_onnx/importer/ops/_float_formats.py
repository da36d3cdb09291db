"""Rounding emulation for the narrow float types MXNet stores as float32.

bfloat16, float8 (e4m3fn, e4m3fnuz, e5m2, e5m2fnuz), float6 and float4 tensors live in
float32 inside a block (see :mod:`gluon_onnx.dtypes`). Whatever produces such a value must
round it to the target format first, so that the float32 holds exactly a representable
number: :func:`round_to_format` does that with MXNet operators (round to nearest, ties to
even; subnormals; overflow to the format's max, inf or NaN).

Shared by every converter that produces narrow floats (Cast, QuantizeLinear, ...).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..mxops import npi


@dataclass(frozen=True)
class FloatFormat:
    """What rounding needs to know about a binary float format."""

    mantissa_bits: int  # explicit fraction bits
    min_exponent: int  # exponent of the smallest normal number
    max_finite: float
    overflow: str  # what a non-saturating conversion of a too large value gives: "inf" or "nan"
    saturates_always: bool = False  # no inf/NaN encodings at all (float4/float6)
    negative_zero: bool = True  # the "fnuz" formats have a single, positive zero


#: numpy (ml_dtypes) dtype name -> format
FORMATS: dict[str, FloatFormat] = {
    "bfloat16": FloatFormat(7, -126, 3.3895313892515355e38, "inf"),
    "float8_e4m3fn": FloatFormat(3, -6, 448.0, "nan"),
    "float8_e4m3fnuz": FloatFormat(3, -7, 240.0, "nan", negative_zero=False),
    "float8_e5m2": FloatFormat(2, -14, 57344.0, "inf"),
    "float8_e5m2fnuz": FloatFormat(2, -15, 57344.0, "nan", negative_zero=False),
    "float6_e2m3fn": FloatFormat(3, 0, 7.5, "nan", saturates_always=True),
    "float6_e3m2fn": FloatFormat(2, -2, 28.0, "nan", saturates_always=True),
    "float4_e2m1fn": FloatFormat(1, 0, 6.0, "nan", saturates_always=True),
}


def emulated_format(dtype: np.dtype | str | None) -> FloatFormat | None:
    """The format of ``dtype`` when it is a narrow float stored as float32, else None."""
    if dtype is None:
        return None
    return FORMATS.get(np.dtype(dtype).name)


def round_to_format(F: object, x: object, dtype: np.dtype | str, saturate: bool = True) -> object:
    """Round float32 ``x`` to the nearest value of narrow float ``dtype`` (ties to even).

    Parameters
    ----------
    F : module
        ``mx.nd`` or ``mx.sym``.
    x : NDArray or Symbol
        float32 values.
    dtype : numpy dtype or name
        Target format, one of :data:`FORMATS`.
    saturate : bool
        Too large values become +-max (True) or the format's inf/NaN (False, as a plain
        cast does). Formats without inf/NaN always saturate.

    Returns
    -------
    NDArray or Symbol
        float32 values that are exactly representable in ``dtype``.
    """
    fmt = FORMATS[np.dtype(dtype).name]
    saturate = saturate or fmt.saturates_always
    # keep infinities finite through the exponent arithmetic; they still overflow below
    # (3.4e38 is past bfloat16's rounding boundary to inf; MXNet's clip misparses FLT_MAX as inf)
    limit = fmt.max_finite * 4.0 if fmt.max_finite < 1e38 else 3.4e38
    clipped = F.clip(x, a_min=-limit, a_max=limit)
    magnitude = F.abs(clipped)
    exponent = F.floor(F.log2(magnitude))
    # log2 may be off by one ulp around powers of two: make 2**e <= |x| < 2**(e+1) exact
    power = 2.0 ** exponent
    exponent = exponent - (power > magnitude) + (power * 2.0 <= magnitude)
    exponent = F.maximum(exponent, float(fmt.min_exponent))
    quantum = 2.0 ** (exponent - float(fmt.mantissa_bits))
    rounded = npi(F, "around", clipped / quantum, decimals=0) * quantum
    if fmt.negative_zero:
        # MXNet's around turns -0.5 into +0: keep the sign of values that round to zero
        rounded = F.where(rounded == 0.0, clipped * 0.0, rounded)
    else:
        rounded = rounded + 0.0
    too_large = F.abs(rounded) > fmt.max_finite
    if saturate:
        replacement = F.sign(clipped) * fmt.max_finite
    elif fmt.overflow == "inf":
        replacement = F.sign(clipped) * float("inf")
    else:
        replacement = F.ones_like(clipped) * float("nan")
    rounded = F.where(too_large, replacement, rounded)
    if fmt.saturates_always:
        # no NaN encoding: a NaN converts to -0.0 like ml_dtypes does
        rounded = F.where(clipped != clipped, F.zeros_like(clipped) * -1.0, rounded)
    return rounded
