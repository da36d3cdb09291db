"""Float precision shared by the layer converters: which dtype MXNet computes in, and how to
reproduce the roundings of ONNX graphs held in float16/bfloat16."""

from __future__ import annotations

import numpy as np

from ..context import NodeContext


def compute_dtype(storage: str | None) -> str:
    """float64 stays float64; float16 (no CPU batch_dot/gemm) and float32 compute in float32."""
    return "float64" if storage == "float64" else "float32"


def narrow_type(dtype: np.dtype | None) -> str | None:
    """'float16' or 'bfloat16' when ONNX holds values of ``dtype`` in fewer bits than float32."""
    name = np.dtype(dtype).name if dtype is not None else ""
    return name if name in ("float16", "bfloat16") else None


def round_to(cx: NodeContext, x: object, narrow: str | None) -> object:
    """Round a float32 intermediate to the narrow float type the ONNX graph holds it in."""
    F = cx.F
    if narrow == "float16":
        return F.Cast(F.Cast(x, dtype="float16"), dtype="float32")
    if narrow == "bfloat16":
        # Veltkamp split: round-to-nearest to 8 significant bits (MXNet's bfloat16 Cast truncates)
        scaled = x * 65537.0
        rounded = scaled - (scaled - x)
        return F.where(F.abs(x) < 1e30, rounded, x)
    return x


def narrow_softmax(cx: NodeContext, x: object, narrow: str) -> object:
    """Softmax over the last axis rounding each step to ``narrow`` like an ONNX graph in that type."""
    F = cx.F
    shifted = round_to(cx, F.broadcast_sub(x, F.max(x, axis=-1, keepdims=True)), narrow)
    exp = round_to(cx, F.exp(shifted), narrow)
    total = round_to(cx, F.sum(exp, axis=-1, keepdims=True), narrow)
    return round_to(cx, F.broadcast_div(exp, total), narrow)
