"""Typed exceptions raised by gluon_onnx.

Every error a user can trigger with bad input derives from :class:`GluonOnnxError`, so
``except gluon_onnx.errors.GluonOnnxError`` catches all of them. Messages name the node,
tensor or file concerned and say what to do.
"""

from __future__ import annotations

from collections.abc import Iterable


class GluonOnnxError(Exception):
    """Base class of every error raised by gluon_onnx."""


class InvalidModelError(GluonOnnxError, ValueError):
    """The ONNX model is malformed: bad bytes, broken graph, inconsistent types or shapes."""


class UnsupportedOpsetError(InvalidModelError):
    """The model's opset is missing, or newer than this version of gluon_onnx knows."""


class ExternalDataError(InvalidModelError):
    """External tensor data is missing, out of bounds or points outside the model directory."""


class ResourceLimitError(GluonOnnxError):
    """The model exceeds a configured budget (see ``gluon_onnx.limits``): a tensor too large to
    create, a graph with too many nodes, subgraphs nested too deep, a loop running too long."""


class UnsupportedOperatorError(GluonOnnxError, NotImplementedError):
    """One or more operators have no converter (import) or translation (export).

    Attributes
    ----------
    missing : list of tuple
        ``(domain, op_type, opset, [node names])`` for every unsupported operator.
    """

    def __init__(self, missing: Iterable[tuple[str, str, int, list[str]]], what: str = "import"):
        self.missing = sorted(missing)
        lines = []
        for domain, op_type, opset, nodes in self.missing:
            where = ", ".join(repr(n) for n in nodes[:3]) + (" ..." if len(nodes) > 3 else "")
            dom = domain or "ai.onnx"
            lines.append(f"  {dom}::{op_type} (opset {opset}) used by node(s) {where}")
        count = len(self.missing)
        super().__init__(
            f"{count} operator(s) cannot be converted for {what}:\n" + "\n".join(lines)
        )


class ConversionError(GluonOnnxError):
    """A node could not be converted: bad attribute, unsupported attribute value or input kind.

    The message always starts with ``op_type node 'name':``.
    """

    def __init__(self, message: str, *, op_type: str | None = None, node: str | None = None):
        self.op_type = op_type
        self.node = node
        prefix = f"{op_type} node {node!r}: " if op_type is not None else ""
        super().__init__(prefix + message)


class HybridizationError(ConversionError):
    """The graph cannot run as a static MXNet symbol (data-dependent output shapes).

    Run the block imperatively (do not call ``hybridize()``) for such models.
    """


class ExecutionError(GluonOnnxError):
    """MXNet failed while running a converted graph (e.g. a hybridized graph it cannot build, or
    inputs whose shapes contradict the model)."""


class ExportError(GluonOnnxError):
    """Exporting a block to ONNX failed."""


class ExportMismatchError(ExportError):
    """onnxruntime's outputs of the exported model differ from the block's outputs."""


class ZooError(GluonOnnxError):
    """A zoo entry could not be found, downloaded or verified."""


class ChecksumError(ZooError):
    """A downloaded file does not match its catalogued sha256."""


class UnknownModelError(ZooError, LookupError):
    """No zoo entry has the requested name."""


class ModelUnavailableError(ZooError):
    """A zoo entry exists but its file cannot be had here: offline mode, a package that is not
    installed, or a recipe whose requirements are missing. The message says what to do."""


class DownloadError(ZooError):
    """Every mirror of a zoo file failed (HTTP errors, dropped connections, timeouts)."""


class UnsafeArchiveError(ZooError):
    """An archive member would escape the target directory (``..``, absolute path, link out)
    or is a device, FIFO or other special file; nothing of such an archive is extracted."""
