"""``check=True``: the ONNX checker (full, with shape inference) and onnxruntime vs. MXNet."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx

from ..errors import ExportError, ExportMismatchError
from ..verify import OutputDiff, diff


def run_checker(model: str | onnx.ModelProto) -> None:
    """``onnx.checker.check_model`` with ``full_check=True``; failures become ExportError."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the exported model does not pass onnx.checker: {exc}") from None


def run_onnxruntime(model: str | bytes, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime's outputs (CPU, all graph optimizations) for ``feeds``."""
    try:
        import onnxruntime as ort  # noqa: PLC0415
    except ImportError:
        raise ExportError("check=True needs onnxruntime (pip install onnxruntime)") from None
    options = ort.SessionOptions()
    options.log_severity_level = 3
    try:
        session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        return session.run(None, dict(feeds))
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ExportError(f"onnxruntime cannot run the exported model: {exc}{_runtime_hint(model)}") from None


def _runtime_hint(model: str | bytes) -> str:
    from .runtime import newest_runnable_opset, unsupported_by_runtime  # noqa: PLC0415

    proto = onnx.load(model, load_external_data=False) if isinstance(model, str) else onnx.load_from_string(model)
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        return ""
    ops = {n.op_type for n in proto.graph.node}
    missing = unsupported_by_runtime(ops, opset)
    if not missing:
        return ""
    return (f" (onnxruntime has no implementation of {', '.join(missing)} at opset {opset}; "
            f"export with opset={newest_runnable_opset(ops, opset, 13)} or leave opset unset)")


def compare(names: Sequence[str], ours: Sequence[np.ndarray], reference: Sequence[np.ndarray],
            rtol: float) -> list[OutputDiff]:
    """Per-output errors of onnxruntime's outputs relative to the reference's scale."""
    return [diff(name, o, r, rtol) for name, o, r in zip(names, ours, reference)]


def check_exported(model: str | onnx.ModelProto, feeds: Mapping[str, np.ndarray], reference: Sequence[np.ndarray],
                   output_names: Sequence[str], rtol: float) -> list[OutputDiff]:
    """Checker + onnxruntime; raises ExportMismatchError listing every output's error."""
    run_checker(model)
    source = model if isinstance(model, str) else model.SerializeToString()
    outputs = run_onnxruntime(source, feeds)
    diffs = compare(output_names, outputs, reference, rtol)
    if not all(d.ok for d in diffs):
        lines = [
            f"  {d.name}: shape {tuple(d.shape)} max_abs={d.max_abs:.3g} max_rel={d.max_rel:.3g}"
            + ("" if d.ok else "  MISMATCH")
            for d in diffs
        ]
        error = ExportMismatchError(
            f"onnxruntime's outputs differ from the block's (tolerance {rtol:g} relative to each output's "
            "largest magnitude):\n" + "\n".join(lines)
        )
        error.diffs = diffs
        raise error
    return diffs
