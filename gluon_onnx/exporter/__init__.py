"""Gluon / MXNet -> ONNX export: :func:`export_block`, :func:`export_symbol`.

The block is traced to an MXNet symbol; each symbol node goes through a translation
registered for its MXNet operator and the target opset (see :mod:`.registry`).
"""

from __future__ import annotations

from .export import export_block, export_symbol, max_opset
from .registry import MIN_EXPORT_OPSET, supported_ops, translation

__all__ = ["MIN_EXPORT_OPSET", "export_block", "export_symbol", "max_opset", "supported_ops", "translation"]
