"""Which opsets the installed onnx and onnxruntime support, per operator.

onnxruntime implements an operator version through a kernel, or through the operator's
ONNX function body. Kernel availability comes from onnxruntime's kernel registry; an
operator whose newest version has no kernel yet (e.g. RoiAlign-22 in some releases) makes
every opset from that version on unusable for models containing it, so the default opset
of an export is the newest one at which onnxruntime can run every operator it contains.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import onnx

_OPEN_END = 2**31 - 1


@functools.lru_cache(maxsize=1)
def _cpu_kernels() -> dict[str, list[tuple[int, int]]] | None:
    """op type -> onnxruntime CPU kernel version ranges; None when it cannot be queried."""
    try:
        from onnxruntime.capi import onnxruntime_pybind11_state as ort_c  # noqa: PLC0415

        defs = ort_c.get_all_opkernel_def()
    except (ImportError, AttributeError):
        return None
    kernels: dict[str, list[tuple[int, int]]] = {}
    for kernel in defs:
        if kernel.domain in ("", "ai.onnx") and kernel.provider == "CPUExecutionProvider":
            kernels.setdefault(kernel.op_name, []).append(tuple(kernel.version_range))
    return kernels


def since_version(op_type: str, opset: int) -> int | None:
    """Version of ``op_type`` in effect at ``opset`` (None when the op does not exist yet)."""
    try:
        return onnx.defs.get_schema(op_type, opset).since_version
    except onnx.defs.SchemaError:
        return None


def runtime_supports(op_type: str, opset: int) -> bool:
    """Can onnxruntime (CPU) run ``op_type`` in a model of ``opset``?"""
    since = since_version(op_type, opset)
    if since is None:
        return False
    kernels = _cpu_kernels()
    if kernels is None:
        return True
    for start, end in kernels.get(op_type, ()):
        # an open-ended kernel registration serves exactly the version it was written for
        if (end == _OPEN_END and start == since) or (end != _OPEN_END and start <= since <= end):
            return True
    schema = onnx.defs.get_schema(op_type, opset)
    return bool(schema.has_function or schema.has_context_dependent_function)


def unsupported_by_runtime(op_types: Iterable[str], opset: int) -> list[str]:
    """Operators of ``op_types`` onnxruntime cannot run at ``opset``."""
    return sorted({op for op in op_types if not runtime_supports(op, opset)})


def newest_runnable_opset(op_types: Iterable[str], upper: int, lower: int) -> int:
    """The newest opset in [lower, upper] at which onnxruntime runs all ``op_types``."""
    ops = set(op_types)
    for opset in range(upper, lower - 1, -1):
        if not unsupported_by_runtime(ops, opset):
            return opset
    return lower
