"""The translation registry: (MXNet operator name, since opset) -> translation function.

A translation turns one MXNet symbol node into ONNX nodes::

    @translation("Activation", since=13)
    def activation(tx):
        ...
        return tx.node("Relu", [tx.input(0)])

Exporting to opset N uses, for each MXNet operator, the newest translation whose
``since`` is <= N; later opsets register a new function only where the ONNX operators
they emit changed (e.g. the reduce operators take ``axes`` as an input from opset 18).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

#: Oldest ONNX opset the exporter targets.
MIN_EXPORT_OPSET = 13


@dataclass(frozen=True)
class Translation:
    op: str
    since: int
    fn: Callable


_REGISTRY: dict[str, list[Translation]] = {}


def translation(ops: str | Iterable[str], since: int = MIN_EXPORT_OPSET) -> Callable[[Callable], Callable]:
    """Register ``fn`` as the translation of MXNet operator(s) ``ops`` from opset ``since`` on.

    Parameters
    ----------
    ops : str or iterable of str
        MXNet operator names as they appear in a symbol's JSON (aliases share a function).
    since : int
        First ONNX opset the function targets.
    """
    names = [ops] if isinstance(ops, str) else list(ops)

    def register(fn: Callable) -> Callable:
        for name in names:
            entries = _REGISTRY.setdefault(name, [])
            if any(t.since == since for t in entries):
                raise ValueError(f"translation of {name!r} since opset {since} registered twice")
            entries.append(Translation(name, since, fn))
            entries.sort(key=lambda t: t.since)
        return fn

    return register


def lookup(op: str, opset: int) -> Translation | None:
    """The newest translation of ``op`` with ``since <= opset``, or None."""
    _load()
    best = None
    for entry in _REGISTRY.get(op, ()):
        if entry.since <= opset:
            best = entry
    return best


def supported_ops(opset: int) -> list[str]:
    """MXNet operator names that can be exported at ``opset``."""
    _load()
    return sorted(op for op in _REGISTRY if lookup(op, opset) is not None)


_loaded = False


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        from . import ops  # noqa: F401, PLC0415  (registers every translation)
