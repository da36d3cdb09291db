"""The converter registry: (domain, op_type, since_version) -> converter function.

A model at opset N uses the newest converter whose ``since`` is <= N. Converters are plain
functions ``fn(cx, *inputs, **attributes)``:

* ``cx`` is the :class:`~gluon_onnx.importer.context.NodeContext` (``cx.F`` is ``mx.nd`` or
  ``mx.sym``; static facts about inputs and outputs).
* positional parameters are the node's inputs in ONNX order (None for an omitted optional
  input); ``*args`` takes variadic inputs.
* keyword-only parameters are the ONNX attributes, with their ONNX defaults; their type
  annotations are checked against the attribute's declared type.

Inputs listed in ``static=`` arrive as numpy arrays (or, while tracing a symbolic graph,
as :class:`~gluon_onnx.importer.shapes.SymArray` of symbolic sizes) rather than tensors.
Inputs listed in ``prefer_static=`` arrive as numpy arrays when their value is known at import
time and as tensors otherwise (e.g. Clip bounds: constants let the converter pick F.clip).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import onnx

from ..errors import ConversionError

#: attribute annotation -> ONNX attribute types it accepts
_ANNOTATION_KINDS = {
    "int": {onnx.AttributeProto.INT},
    "bool": {onnx.AttributeProto.INT},
    "float": {onnx.AttributeProto.FLOAT, onnx.AttributeProto.INT},
    "str": {onnx.AttributeProto.STRING},
    "list[int]": {onnx.AttributeProto.INTS},
    "list[float]": {onnx.AttributeProto.FLOATS, onnx.AttributeProto.INTS},
    "list[str]": {onnx.AttributeProto.STRINGS},
    "np.ndarray": {onnx.AttributeProto.TENSOR},
    "onnx.GraphProto": {onnx.AttributeProto.GRAPH},
    "list[onnx.GraphProto]": {onnx.AttributeProto.GRAPHS},
}


@dataclass(frozen=True)
class AttributeSpec:
    name: str
    kind: str  # normalized annotation, e.g. "list[int]"; "" accepts anything
    default: object


@dataclass
class ConverterSpec:
    """Everything the planner needs to know about one converter."""

    op_type: str
    domain: str
    since: int
    fn: Callable
    input_names: tuple[str, ...]
    variadic: bool
    attributes: dict[str, AttributeSpec]
    extra_attributes: bool
    static: frozenset[str] = frozenset()
    prefer_static: frozenset[str] = frozenset()
    aux: frozenset[str] = frozenset()
    dynamic_shape: bool = False
    foldable: bool = True
    deterministic: bool = True
    notes: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def is_static_input(self, index: int) -> bool:
        return self._input_name(index) in self.static

    def prefers_static_input(self, index: int) -> bool:
        return self._input_name(index) in self.prefer_static

    def is_aux_input(self, index: int) -> bool:
        return self._input_name(index) in self.aux

    def _input_name(self, index: int) -> str:
        if index < len(self.input_names):
            return self.input_names[index]
        return "*" if self.variadic else ""


_REGISTRY: dict[tuple[str, str], list[ConverterSpec]] = {}


def _normalize_annotation(annotation: object) -> str:
    text = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    text = text.replace(" ", "").replace("List[", "list[")
    for suffix in ("|None", "None|"):
        text = text.replace(suffix, "")
    text = text.replace("Optional[", "").rstrip("]") if text.startswith("Optional[") else text
    return text if text in _ANNOTATION_KINDS else ""


def converter(
    op_type: str,
    since: int = 1,
    *,
    domain: str = "",
    static: Iterable[str] = (),
    prefer_static: Iterable[str] = (),
    aux: Iterable[str] = (),
    dynamic_shape: bool = False,
    foldable: bool = True,
    deterministic: bool = True,
    notes: str = "",
) -> Callable[[Callable], Callable]:
    """Register ``fn`` as the converter of ``op_type`` from opset ``since`` on.

    Parameters
    ----------
    op_type : str
        ONNX operator name.
    since : int
        First opset version the converter implements.
    domain : str
        Operator domain; '' is the default ONNX domain.
    static : iterable of str
        Input names whose *values* are needed at graph-construction time (shapes, axes).
    prefer_static : iterable of str
        Input names passed as numpy values when known at import time, as tensors otherwise.
    aux : iterable of str
        Inputs that are running statistics (become non-trainable parameters).
    dynamic_shape : bool
        The output shape depends on input values: only imperative execution is possible.
    foldable : bool
        Whether nodes with all-constant inputs may be evaluated at import time.
    deterministic : bool
        False for random ops (never folded).
    notes : str
        Limitations shown in the coverage table.
    """

    def register(fn: Callable) -> Callable:
        signature = inspect.signature(fn)
        params = list(signature.parameters.values())[1:]  # skip cx
        input_names: list[str] = []
        variadic = False
        attributes: dict[str, AttributeSpec] = {}
        extra = False
        for p in params:
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
                input_names.append(p.name)
            elif p.kind == p.VAR_POSITIONAL:
                variadic = True
            elif p.kind == p.KEYWORD_ONLY:
                default = None if p.default is p.empty else p.default
                attributes[p.name] = AttributeSpec(p.name, _normalize_annotation(p.annotation), default)
            elif p.kind == p.VAR_KEYWORD:
                extra = True
        spec = ConverterSpec(
            op_type=op_type,
            domain="" if domain == "ai.onnx" else domain,
            since=since,
            fn=fn,
            input_names=tuple(input_names),
            variadic=variadic,
            attributes=attributes,
            extra_attributes=extra,
            static=frozenset(static),
            prefer_static=frozenset(prefer_static),
            aux=frozenset(aux),
            dynamic_shape=dynamic_shape,
            foldable=foldable and deterministic,
            deterministic=deterministic,
            notes=notes,
        )
        unknown = (spec.static | spec.prefer_static) - set(input_names) - ({"*"} if variadic else set())
        if unknown:
            raise TypeError(f"converter {fn.__name__}: static inputs {unknown} are not parameters")
        versions = _REGISTRY.setdefault((spec.domain, op_type), [])
        if any(s.since == since for s in versions):
            raise ValueError(f"converter for {domain}::{op_type} since {since} registered twice")
        versions.append(spec)
        versions.sort(key=lambda s: s.since)
        return fn

    return register


def lookup(domain: str, op_type: str, opset: int) -> ConverterSpec | None:
    """Newest converter of (domain, op_type) whose ``since`` <= ``opset``."""
    _ensure_loaded()
    versions = _REGISTRY.get(("" if domain == "ai.onnx" else domain, op_type))
    if not versions:
        return None
    found = None
    for spec in versions:
        if spec.since <= opset:
            found = spec
    return found


def registered() -> dict[tuple[str, str], list[ConverterSpec]]:
    """All registered converters, for coverage reports."""
    _ensure_loaded()
    return {k: list(v) for k, v in _REGISTRY.items()}


_LOADED = False


def _ensure_loaded() -> None:
    global _LOADED
    if not _LOADED:
        _LOADED = True
        from . import ops  # noqa: F401  (importing registers every converter)


def convert_attributes(spec: ConverterSpec, node: onnx.NodeProto) -> dict[str, object]:
    """ONNX attributes of ``node`` as typed Python values for ``spec.fn``."""
    values: dict[str, object] = {}
    for attr in node.attribute:
        if attr.ref_attr_name:
            raise ConversionError(
                f"attribute {attr.name!r} refers to a function attribute; only graphs are supported",
                op_type=node.op_type,
                node=node.name,
            )
        attr_spec = spec.attributes.get(attr.name)
        if attr_spec is None:
            if spec.extra_attributes:
                try:
                    values[attr.name] = attribute_value(attr)
                except (TypeError, ValueError, KeyError) as exc:
                    raise ConversionError(f"attribute {attr.name!r} holds an invalid value: {exc}",
                                          op_type=node.op_type, node=node.name) from None
                continue
            raise ConversionError(
                f"attribute {attr.name!r} is not supported by the {node.op_type} converter "
                f"(opset {spec.since}+); known attributes: {sorted(spec.attributes)}",
                op_type=node.op_type,
                node=node.name,
            )
        accepted = _ANNOTATION_KINDS.get(attr_spec.kind)
        if accepted is not None and attr.type not in accepted:
            raise ConversionError(
                f"attribute {attr.name!r} must be {attr_spec.kind}, got "
                f"{onnx.AttributeProto.AttributeType.Name(attr.type)}",
                op_type=node.op_type,
                node=node.name,
            )
        try:
            value = attribute_value(attr)
        except (TypeError, ValueError, KeyError) as exc:  # e.g. a tensor whose data does not fit its dims
            raise ConversionError(f"attribute {attr.name!r} holds an invalid value: {exc}", op_type=node.op_type,
                                  node=node.name) from None
        if attr_spec.kind == "float":
            value = float(value)
        elif attr_spec.kind == "list[float]":
            value = [float(v) for v in value]
        elif attr_spec.kind == "bool":
            value = bool(value)
        values[attr.name] = value
    return values


def attribute_value(attr: onnx.AttributeProto) -> object:
    """Plain Python value of an AttributeProto."""
    kind = attr.type
    A = onnx.AttributeProto
    if kind == A.INT:
        return int(attr.i)
    if kind == A.FLOAT:
        return float(attr.f)
    if kind == A.STRING:
        return attr.s.decode("utf-8", errors="replace")
    if kind == A.INTS:
        return [int(v) for v in attr.ints]
    if kind == A.FLOATS:
        return [float(v) for v in attr.floats]
    if kind == A.STRINGS:
        return [s.decode("utf-8", errors="replace") for s in attr.strings]
    if kind == A.TENSOR:
        return onnx.numpy_helper.to_array(attr.t)
    if kind == A.GRAPH:
        return attr.g
    if kind == A.GRAPHS:
        return list(attr.graphs)
    if kind == A.SPARSE_TENSOR:
        from onnx.reference.op_run import to_sparse_tensor  # noqa: PLC0415

        return to_sparse_tensor(attr.sparse_tensor)
    if kind == A.TYPE_PROTO:
        return attr.tp
    return onnx.helper.get_attribute_value(attr)


def as_int_tuple(value: np.ndarray | list | None) -> tuple[int, ...] | None:
    """Helper for converters: a static 1-D integer input as a tuple."""
    if value is None:
        return None
    return tuple(int(v) for v in np.asarray(value).reshape(-1))
