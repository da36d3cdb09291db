"""gluon_onnx: ONNX as a first-class format for Apache MXNet Gluon."""

from __future__ import annotations

from . import errors, limits
from .exporter import export_block as export_block
from .importer import OnnxBlock, load_block

__version__ = "0.1.0"

__all__ = ["OnnxBlock", "errors", "limits", "load_block", "__version__"]


def __getattr__(name: str) -> object:
    # gluon_onnx.zoo is imported on first use: `import gluon_onnx` stays light
    if name == "zoo":
        import importlib  # noqa: PLC0415

        return importlib.import_module(".zoo", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
