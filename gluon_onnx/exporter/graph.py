"""The ONNX graph under construction and the writer that puts it on disk.

Initializers are kept as *getters* (a parameter's NDArray, or a function computing a
derived tensor) until they are written, one at a time: the writer streams the model in
protobuf wire format, so at most one tensor's bytes are held in Python memory beyond the
parameters themselves. Raw bytes go straight from the numpy buffer to the file (never
through Python lists). Models whose tensors exceed the protobuf limit are written with
external data next to the model file.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import onnx
from onnx import TensorProto, helper

from ..dtypes import elem_type_of
from ..wire import encode_varint

#: Above this many bytes of initializers the model is written with external data.
EXTERNAL_DATA_THRESHOLD = 2**31 - 2**26


@dataclass
class Initializer:
    """A tensor written as a graph initializer."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]
    getter: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    def value(self) -> np.ndarray:
        array = np.asarray(self.getter())
        if array.dtype != self.dtype:
            array = array.astype(self.dtype)
        if tuple(array.shape) != tuple(self.shape):
            array = array.reshape(self.shape)
        return np.ascontiguousarray(array)


class OnnxGraph:
    """Nodes, initializers and the name registry of the graph being built."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: dict[str, Initializer] = {}
        self._tensor_names: set[str] = set()
        self._node_names: set[str] = set()

    # --- names ---------------------------------------------------------------------
    def reserve_tensor(self, name: str) -> None:
        self._tensor_names.add(name)

    def unique_tensor(self, base: str) -> str:
        name, n = base, 1
        while name in self._tensor_names:
            name = f"{base}_{n}"
            n += 1
        self._tensor_names.add(name)
        return name

    def unique_node(self, base: str) -> str:
        name, n = base, 1
        while name in self._node_names:
            name = f"{base}_{n}"
            n += 1
        self._node_names.add(name)
        return name

    def release_node_name(self, name: str) -> None:
        self._node_names.discard(name)

    def release_tensor_name(self, name: str) -> None:
        self._tensor_names.discard(name)

    # --- content -------------------------------------------------------------------
    def add_initializer(self, name: str, dtype: np.dtype, shape: Sequence[int],
                        getter: Callable[[], np.ndarray]) -> str:
        self.initializers[name] = Initializer(name, np.dtype(dtype), tuple(int(d) for d in shape), getter)
        return name

    def prune(self, outputs: Iterable[str]) -> None:
        """Drop nodes and initializers that no graph output needs."""
        needed = set(outputs)
        kept = []
        for node in reversed(self.nodes):
            if any(o in needed for o in node.output if o):
                kept.append(node)
                needed.update(i for i in node.input if i)
                for attr in node.attribute:
                    if attr.type == onnx.AttributeProto.GRAPH:
                        needed.update(_graph_free_inputs(attr.g))
        self.nodes = kept[::-1]
        self.initializers = {k: v for k, v in self.initializers.items() if k in needed}


def _graph_free_inputs(graph: onnx.GraphProto) -> set[str]:
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    used = set()
    for node in graph.node:
        used.update(i for i in node.input if i and i not in defined)
        defined.update(node.output)
    return used


def value_info(name: str, dtype: np.dtype, dims: Sequence[int | str | None]) -> onnx.ValueInfoProto:
    """A tensor ValueInfo; str dims are named, None dims unknown."""
    vi = helper.make_tensor_value_info(name, elem_type_of(dtype), None)
    shape = vi.type.tensor_type.shape
    shape.SetInParent()
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        elif d is not None:
            dim.dim_value = int(d)
    return vi


# --- writing ----------------------------------------------------------------------------
def _length_delimited(field_number: int, length: int) -> bytes:
    return encode_varint((field_number << 3) | 2) + encode_varint(length)


_MODEL_GRAPH_FIELD = 7  # ModelProto.graph
_GRAPH_INITIALIZER_FIELD = 5  # GraphProto.initializer
_TENSOR_RAW_DATA_FIELD = 9  # TensorProto.raw_data


def _tensor_header(init: Initializer) -> TensorProto:
    tensor = TensorProto()
    tensor.name = init.name
    tensor.data_type = elem_type_of(init.dtype)
    tensor.dims.extend(init.shape)
    return tensor


def _write_initializer(out: BinaryIO, init: Initializer, external: tuple[BinaryIO, str] | None) -> None:
    array = init.value()
    if array.dtype == np.bool_:
        payload = memoryview(array.view(np.uint8)).cast("B")
    elif array.dtype.byteorder == ">":
        payload = memoryview(array.astype(array.dtype.newbyteorder("<"))).cast("B")
    else:
        payload = memoryview(array).cast("B") if array.size else memoryview(b"")
    header = _tensor_header(init)
    if external is not None:
        data_file, location = external
        offset = data_file.tell()
        padding = (-offset) % 4096  # page-aligned so the data can be memory-mapped
        if padding:
            data_file.write(b"\0" * padding)
            offset += padding
        data_file.write(payload)
        header.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", str(offset)), ("length", str(payload.nbytes))):
            entry = header.external_data.add()
            entry.key = key
            entry.value = value
        body = header.SerializeToString()
        tensor_len = len(body)
        out.write(_length_delimited(_MODEL_GRAPH_FIELD, len(_length_delimited(_GRAPH_INITIALIZER_FIELD, tensor_len))
                                    + tensor_len))
        out.write(_length_delimited(_GRAPH_INITIALIZER_FIELD, tensor_len))
        out.write(body)
        return
    body = header.SerializeToString()
    raw_prefix = _length_delimited(_TENSOR_RAW_DATA_FIELD, payload.nbytes)
    tensor_len = len(body) + len(raw_prefix) + payload.nbytes
    init_prefix = _length_delimited(_GRAPH_INITIALIZER_FIELD, tensor_len)
    # A ModelProto may carry its graph field several times: parsers merge them, so each
    # initializer goes out as its own small "graph { initializer { ... } }" fragment.
    out.write(_length_delimited(_MODEL_GRAPH_FIELD, len(init_prefix) + tensor_len))
    out.write(init_prefix)
    out.write(body)
    out.write(raw_prefix)
    out.write(payload)


def write_model(model: onnx.ModelProto, initializers: Sequence[Initializer], out: BinaryIO,
                external: tuple[BinaryIO, str] | None = None) -> None:
    """Write ``model`` (no initializers) followed by ``initializers``, streamed."""
    out.write(model.SerializeToString())
    for init in initializers:
        _write_initializer(out, init, external)


def total_bytes(initializers: Iterable[Initializer]) -> int:
    return sum(init.nbytes for init in initializers)


def replace_atomically(pairs: Sequence[tuple[str, str]]) -> None:
    """os.replace each (temporary, final) pair; data files must come before the model."""
    for tmp, final in pairs:
        os.replace(tmp, final)
