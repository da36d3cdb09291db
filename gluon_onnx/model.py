"""Read an ONNX model from any source, check its structure and resolve its opsets.

External tensor data is read lazily and memory-mapped; a ``location`` that leaves the
model's directory (``..``, absolute paths, symlinks out) or bytes past the end of the file
are refused with :class:`~gluon_onnx.errors.ExternalDataError`.
"""

from __future__ import annotations

import io
import mmap
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Union

import numpy as np
import onnx
from google.protobuf.message import DecodeError, Message
from onnx import numpy_helper

from . import limits, wire
from .dtypes import np_dtype
from .errors import ExternalDataError, InvalidModelError, ResourceLimitError, UnsupportedOpsetError

#: Newest opset of the default domain whose operator semantics gluon_onnx has reviewed.
MAX_OPSET = 28
#: Oldest default-domain opset accepted.
MIN_OPSET = 1

ModelSource = Union[str, os.PathLike, bytes, bytearray, memoryview, BinaryIO, onnx.ModelProto]

DEFAULT_DOMAINS = ("", "ai.onnx")

#: ``external_data`` locations of initializers whose bytes gluon_onnx keeps outside the ModelProto:
#: still in the model file (read from it on demand), or numpy arrays made by graph rewrites
MODEL_FILE_LOCATION = "gluon_onnx:model_file"
IN_MEMORY_LOCATION = "gluon_onnx:in_memory"


@dataclass
class LoadedModel:
    """A parsed ModelProto plus where its external data lives."""

    proto: onnx.ModelProto
    base_dir: str | None
    opsets: dict[str, int] = field(default_factory=dict)
    #: the graph ONNX shape inference runs on when ``proto`` holds operators it does not know
    shape_source: onnx.ModelProto | None = None
    #: the file holding the payloads of initializers marked MODEL_FILE_LOCATION
    model_file: wire.ModelFile | None = None
    #: values of initializers marked IN_MEMORY_LOCATION, by name
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def opset(self) -> int:
        """Opset of the default ONNX domain."""
        return self.opsets[""]

    def tensor_array(self, tensor: onnx.TensorProto, *, mapped: bool = False) -> np.ndarray:
        """numpy value of an initializer or constant tensor (external data memory-mapped).

        Initializers whose bytes stayed in the model file are copied from it, or with
        ``mapped=True`` returned as a read-only memory-mapped view to be used at once.
        """
        if tensor.data_location == onnx.TensorProto.EXTERNAL:
            info = _external_info(tensor)
            location = info.get("location")
            if location == MODEL_FILE_LOCATION and self.model_file is not None:
                return self.model_file.read(int(info["offset"]), int(info["length"]), np_dtype(tensor.data_type),
                                            tuple(int(d) for d in tensor.dims), mapped=mapped)
            if location == IN_MEMORY_LOCATION and tensor.name in self.arrays:
                return self.arrays[tensor.name]
        return tensor_to_array(tensor, self.base_dir)

    def self_contained(self) -> onnx.ModelProto:
        """A copy of ``proto`` with the initializers kept outside it put back (a model onnx tools can run)."""
        if self.model_file is None and not self.arrays:
            return self.proto
        proto = onnx.ModelProto()
        proto.CopyFrom(self.proto)
        for tensor in proto.graph.initializer:
            location = _external_info(tensor).get("location") if tensor.data_location == onnx.TensorProto.EXTERNAL \
                else None
            if location in (MODEL_FILE_LOCATION, IN_MEMORY_LOCATION):
                value = np.ascontiguousarray(self.tensor_array(tensor))
                del tensor.external_data[:]
                tensor.ClearField("data_location")
                tensor.raw_data = onnx.numpy_helper.from_array(value).raw_data
        return proto


def _parse(data: bytes | bytearray | memoryview, what: str) -> onnx.ModelProto:
    model = onnx.ModelProto()
    try:
        model.ParseFromString(bytes(data))
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidModelError(
            f"{what} is not a valid ONNX model (protobuf decoding failed: {exc}). "
            "Check that the file is complete and really an .onnx file."
        ) from None
    return model


def _parse_file(path: Path, what: str) -> tuple[onnx.ModelProto, wire.ModelFile | None]:
    """Parse a model file without copying its large initializers into the ModelProto.

    Their payloads stay in the file (see :mod:`gluon_onnx.wire`); the initializers are marked
    as external data at MODEL_FILE_LOCATION. Files the scan does not understand are parsed whole.
    """
    with open(path, "rb") as handle:
        model_file = wire.ModelFile(path)
        try:
            mapping = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        except (ValueError, OSError):  # empty or unmappable file
            mapping = None
        if mapping is not None:
            with mapping:
                found = wire.strip_payloads(mapping)
            if found is not None:
                stripped, payloads = found
                model = onnx.ModelProto()
                try:
                    model.ParseFromString(stripped)
                except (DecodeError, RuntimeError, ValueError):
                    model = None  # let the full parse report it
                if model is not None and len(model.graph.initializer) > payloads[-1].index:
                    for payload in payloads:
                        tensor = model.graph.initializer[payload.index]
                        tensor.data_location = onnx.TensorProto.EXTERNAL
                        for key, value in (("location", MODEL_FILE_LOCATION), ("offset", payload.offset),
                                           ("length", payload.length)):
                            entry = tensor.external_data.add()
                            entry.key, entry.value = key, str(value)
                    return model, model_file
        return _parse(handle.read(), what), None


def read_model(source: ModelSource, *, base_dir: str | os.PathLike | None = None) -> LoadedModel:
    """Parse ``source`` (path, bytes, binary file object or ModelProto) and check it.

    Parameters
    ----------
    source : path, bytes, file object or onnx.ModelProto
        The model.
    base_dir : path, optional
        Directory holding external data files. Defaults to the model file's directory
        (paths) or the current directory (other sources).

    Raises
    ------
    InvalidModelError
        Unreadable bytes, empty or structurally broken graph.
    UnsupportedOpsetError
        Missing or too new default-domain opset.
    """
    model_file = None
    if isinstance(source, onnx.ModelProto):
        model = source
        what = "the ModelProto"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise InvalidModelError(f"model file {str(path)!r} does not exist or is not a file")
        size = path.stat().st_size
        if size > limits.MAX_PROTO_BYTES:
            raise InvalidModelError(
                f"{str(path)!r} is {size} bytes; a ModelProto cannot exceed 2 GiB "
                "(store large weights as external data)"
            )
        what = f"file {str(path)!r}"
        try:
            model, model_file = _parse_file(path, what)
        except OSError as exc:
            raise InvalidModelError(f"model file {str(path)!r} cannot be read: {exc.strerror or exc}") from None
        if base_dir is None:
            base_dir = path.resolve().parent
    elif isinstance(source, (bytes, bytearray, memoryview)):
        model = _parse(source, "the given bytes")
        what = "the given bytes"
    elif isinstance(source, io.IOBase) or hasattr(source, "read"):
        data = source.read()
        if not isinstance(data, (bytes, bytearray)):
            raise InvalidModelError("the file object must be opened in binary mode ('rb')")
        model = _parse(data, "the file object")
        what = "the file object"
    else:
        raise TypeError(
            "load_block expects a path, bytes, a binary file object or an onnx.ModelProto, "
            f"not {type(source).__name__}"
        )
    if base_dir is None:
        base_dir = os.getcwd()
    loaded = LoadedModel(model, os.fspath(base_dir), model_file=model_file)
    check_fields(model, what)
    loaded.opsets = resolve_opsets(model, what)
    check_structure(model.graph, what)
    return loaded


def resolve_opsets(model: onnx.ModelProto, what: str = "the model") -> dict[str, int]:
    """Map domain -> opset version ('' for the default domain)."""
    opsets: dict[str, int] = {}
    for entry in model.opset_import:
        domain = "" if entry.domain in DEFAULT_DOMAINS else entry.domain
        opsets[domain] = int(entry.version)
    if "" not in opsets:
        uses_default = any(node.domain in DEFAULT_DOMAINS for node in model.graph.node)
        if model.ir_version and model.ir_version < 3:
            opsets[""] = 1
        elif not uses_default:
            opsets[""] = MAX_OPSET  # no default-domain node: the version does not matter
        else:
            raise UnsupportedOpsetError(
                f"{what} declares no opset for the default ONNX domain (opset_import is empty); "
                "re-export it with an explicit opset"
            )
    version = opsets[""]
    if version > MAX_OPSET:
        raise UnsupportedOpsetError(
            f"{what} uses default-domain opset {version}; gluon_onnx supports opsets "
            f"{MIN_OPSET}..{MAX_OPSET}. Convert it with onnx.version_converter or upgrade gluon_onnx."
        )
    if version < MIN_OPSET:
        raise UnsupportedOpsetError(f"{what} declares an invalid opset version {version}")
    return opsets


def check_structure(graph: onnx.GraphProto, what: str = "the model") -> None:
    """Cheap structural checks run before anything else touches the graph."""
    if not graph.node and not graph.output:
        raise InvalidModelError(f"{what} has an empty graph (no nodes and no outputs)")
    if not graph.output:
        raise InvalidModelError(f"{what}: the graph declares no outputs")
    initializers = {t.name: t for t in graph.initializer}
    for vi in graph.input:
        tensor = initializers.get(vi.name)
        if tensor is None or not vi.type.HasField("tensor_type"):
            continue
        declared = vi.type.tensor_type
        if declared.elem_type and declared.elem_type != tensor.data_type:
            raise InvalidModelError(
                f"{what}: input {vi.name!r} is declared as element type {declared.elem_type} but its "
                f"initializer has element type {tensor.data_type}"
            )
        if declared.HasField("shape"):
            dims = [d.dim_value if d.HasField("dim_value") else None for d in declared.shape.dim]
            if len(dims) != len(tensor.dims) or any(d is not None and d != t for d, t in zip(dims, tensor.dims)):
                raise InvalidModelError(
                    f"{what}: input {vi.name!r} is declared with shape {dims} but its initializer has "
                    f"shape {list(tensor.dims)}"
                )


def _where(message: Message, parent: str) -> str:
    kind = message.DESCRIPTOR.name
    name = getattr(message, "name", None) if kind in ("NodeProto", "TensorProto", "ValueInfoProto",
                                                     "AttributeProto", "GraphProto", "FunctionProto") else None
    if isinstance(name, str) and name:
        return f"{parent} > {kind[:-5].lower()} {name!r}"
    return parent


def check_fields(model: onnx.ModelProto, what: str = "the model") -> None:
    """Walk every message of ``model`` once, before anything interprets it.

    * text fields must be valid UTF-8 (protobuf hands broken ones over as ``bytes``, which
      would surface as TypeErrors deep inside the importer);
    * subgraphs (If/Loop/Scan bodies) may nest at most ``limits.MAX_SUBGRAPH_DEPTH`` deep and a
      graph may hold at most ``limits.MAX_NODES`` nodes: checked before recursing, so an absurdly
      deep ModelProto built in memory cannot exhaust the stack.

    Raises
    ------
    InvalidModelError
        A text field is not valid UTF-8.
    ResourceLimitError
        Subgraphs nest too deep or a graph has too many nodes.
    """
    stack: list[tuple[Message, str, int]] = [(model, what, 0)]
    while stack:
        message, where, depth = stack.pop()
        if message.DESCRIPTOR.name == "GraphProto" and len(message.node) > limits.MAX_NODES:
            raise ResourceLimitError(
                f"{where} has {len(message.node)} nodes, more than gluon_onnx.limits.MAX_NODES = "
                f"{limits.MAX_NODES} (raise it if this is intended)"
            )
        for descriptor, value in message.ListFields():
            if descriptor.type == descriptor.TYPE_STRING:
                for text in (value,) if isinstance(value, (str, bytes)) else value:
                    if not isinstance(text, str):
                        raise InvalidModelError(
                            f"{where}: field {descriptor.name!r} of a {message.DESCRIPTOR.name} is not valid "
                            f"UTF-8 text ({bytes(text[:40])!r}); the file is damaged"
                        )
            elif descriptor.message_type is not None:
                inner_depth = depth + (descriptor.message_type.name == "GraphProto" and message is not model)
                if inner_depth > limits.MAX_SUBGRAPH_DEPTH:
                    raise ResourceLimitError(
                        f"{where}: subgraphs (If/Loop/Scan bodies) nest more than "
                        f"gluon_onnx.limits.MAX_SUBGRAPH_DEPTH = {limits.MAX_SUBGRAPH_DEPTH} levels deep"
                    )
                children = value if descriptor.is_repeated else (value,)
                for child in children:
                    stack.append((child, _where(child, where), inner_depth))


def _external_info(tensor: onnx.TensorProto) -> dict[str, str]:
    return {entry.key: entry.value for entry in tensor.external_data}


def tensor_to_array(tensor: onnx.TensorProto, base_dir: str | None) -> np.ndarray:
    """numpy value of a TensorProto; external data is validated and memory-mapped."""
    if tensor.data_location != onnx.TensorProto.EXTERNAL:
        try:
            return numpy_helper.to_array(tensor)
        except (ValueError, TypeError) as exc:
            raise InvalidModelError(
                f"tensor {tensor.name!r} has inconsistent data: {exc}"
            ) from None
    info = _external_info(tensor)
    location = info.get("location")
    if not location:
        raise ExternalDataError(f"tensor {tensor.name!r} uses external data without a location")
    if base_dir is None:
        raise ExternalDataError(
            f"tensor {tensor.name!r} has external data but the model directory is unknown; "
            "pass base_dir="
        )
    if "\0" in location:
        raise ExternalDataError(f"tensor {tensor.name!r}: external data location {location!r} holds a NUL byte")
    base = Path(base_dir).resolve()
    if os.path.isabs(location) or Path(location).drive:
        raise ExternalDataError(
            f"tensor {tensor.name!r}: external data location {location!r} is an absolute path; "
            "only files inside the model's directory are read"
        )
    target = (base / location).resolve()
    if base != target and base not in target.parents:
        raise ExternalDataError(
            f"tensor {tensor.name!r}: external data location {location!r} points outside "
            f"the model directory {str(base)!r}; refused"
        )
    if not target.is_file():
        raise ExternalDataError(
            f"tensor {tensor.name!r}: external data file {str(target)!r} does not exist or is not a regular file"
        )
    dtype = np_dtype(tensor.data_type)
    shape = tuple(int(d) for d in tensor.dims)
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    file_size = target.stat().st_size
    try:
        offset = int(info.get("offset", 0))
        length = int(info["length"]) if "length" in info else file_size - offset
    except ValueError:
        raise ExternalDataError(
            f"tensor {tensor.name!r}: external data offset/length are not integers"
        ) from None
    if offset < 0 or length < 0 or offset + length > file_size:
        raise ExternalDataError(
            f"tensor {tensor.name!r}: external data range [{offset}, {offset + length}) lies "
            f"past the end of {str(target)!r} ({file_size} bytes)"
        )
    if dtype.itemsize * count > length or dtype.kind == "O":
        # packed sub-byte types and strings go through onnx's own decoder on a copy
        if dtype.itemsize * count > length and dtype.name not in ("int4", "uint4", "int2", "uint2", "float4_e2m1fn"):
            raise ExternalDataError(
                f"tensor {tensor.name!r}: needs {dtype.itemsize * count} bytes of external "
                f"data but only {length} are declared"
            )
        copy = onnx.TensorProto()
        copy.CopyFrom(tensor)
        del copy.external_data[:]
        copy.data_location = onnx.TensorProto.DEFAULT
        with open(target, "rb") as handle:
            handle.seek(offset)
            copy.raw_data = handle.read(length)
        return numpy_helper.to_array(copy)
    if count == 0:
        return np.zeros(shape, dtype)
    return np.memmap(target, dtype=dtype, mode="r", offset=offset, shape=shape)
