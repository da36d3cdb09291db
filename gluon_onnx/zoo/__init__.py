"""gluon_onnx's model zoo: a reviewed catalogue, safe downloads, and validation against onnxruntime.

.. code-block:: python

    gluon_onnx.zoo.list_models(task='classification')          # names + metadata
    net = gluon_onnx.zoo.get_model('resnet50-v1-7', ctx=mx.cpu())
    report = gluon_onnx.zoo.validate(['tiny-cnn'], ctx=[mx.cpu()])

Sources: ONNX Model Zoo files (downloaded from mirrors, sha256-checked), models shipped in pip
wheels (installed only on request), and models built locally by recipes. See ``zoo/README.md``.
"""

from __future__ import annotations

from .archive import safe_extract
from .catalogue import Entry, get_entry, list_models, load_catalogue
from .download import FileLock, sha256_file
from .report import to_markdown, write_report
from .store import availability, default_root, fetch, fetch_bundle, get_model, register_local
from .validate import Report, Row, validate

__all__ = [
    "Entry", "FileLock", "Report", "Row", "availability", "default_root", "fetch", "fetch_bundle",
    "get_entry", "get_model", "list_models", "load_catalogue", "register_local", "safe_extract", "sha256_file",
    "to_markdown", "validate", "write_report",
]
