"""Find initializer payloads in a serialized ModelProto without parsing them.

Parsing a model file with protobuf copies every weight into the ModelProto, next to the file
bytes that were read. :func:`strip_payloads` scans the protobuf wire format of the file instead
(memory-mapped, so the weight pages are never read) and returns a copy of the model bytes
without the large ``raw_data`` payloads of the main graph's initializers, plus where each
payload lies in the file. The stripped bytes parse into a small ModelProto; the weights are
later copied straight from the mapped file into their parameters.

Anything unusual (groups, repeated singular fields, truncated messages) makes the scan give
up (``None``), and the caller parses the whole file as usual, so malformed files still get
protobuf's own error.
"""

from __future__ import annotations

import mmap
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import onnx

from .errors import ExternalDataError

_MODEL_GRAPH = onnx.ModelProto.DESCRIPTOR.fields_by_name["graph"].number
_GRAPH_INITIALIZER = onnx.GraphProto.DESCRIPTOR.fields_by_name["initializer"].number
_TENSOR_FIELDS = onnx.TensorProto.DESCRIPTOR.fields_by_name
_RAW_DATA = _TENSOR_FIELDS["raw_data"].number
_DATA_TYPE = _TENSOR_FIELDS["data_type"].number
#: fields whose presence means the tensor is not a plain raw_data tensor: left alone
_NOT_PLAIN = frozenset(_TENSOR_FIELDS[n].number for n in ("external_data", "data_location", "segment"))

_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5
_FLOAT_TYPES = frozenset({onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16,
                          onnx.TensorProto.BFLOAT16})
#: payloads of float tensors from this size on are stripped (smaller ones are scalars and shapes
#: that shape inference may want to see); other tensors only when they are really large
MIN_FLOAT_PAYLOAD = 1024
MIN_OTHER_PAYLOAD = 1 << 20


class _Malformed(Exception):
    pass


@dataclass(frozen=True)
class Payload:
    """Byte range of one initializer's raw_data in the file (``index`` in graph.initializer)."""

    index: int
    offset: int
    length: int


def _varint(buf: object, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Malformed
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def encode_varint(value: int) -> bytes:
    """Protobuf base-128 varint of a non-negative integer."""
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _fields(buf: object, pos: int, end: int) -> Iterator[tuple[int, int, int, int, int, int]]:
    """Fields of a message in ``buf[pos:end]``: (number, wire type, key start, key end, value start,
    field end); for length-delimited fields the value starts after the length."""
    while pos < end:
        key_start = pos
        key, pos = _varint(buf, pos, end)
        key_end = pos
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, stop = _varint(buf, pos, end)
        elif wire == _LEN:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif wire == _I64:
            stop = pos + 8
        elif wire == _I32:
            stop = pos + 4
        else:  # groups are not used by ONNX
            raise _Malformed
        if number == 0 or stop > end:
            raise _Malformed
        yield number, wire, key_start, key_end, pos, stop
        pos = stop


def _strip_tensor(buf: object, start: int, end: int) -> tuple[list[tuple[int, int]], int, int] | None:
    """Byte ranges of a TensorProto without its raw_data field, and the payload's offset and
    length; None to keep the tensor as it is."""
    raw: tuple[int, int, int] | None = None
    data_type = 0
    for number, wire, key_start, _, value_start, stop in _fields(buf, start, end):
        if number in _NOT_PLAIN:
            return None
        if number == _RAW_DATA:
            if raw is not None or wire != _LEN:
                return None
            raw = (key_start, value_start, stop)
        elif number == _DATA_TYPE and wire == _VARINT:
            data_type, _ = _varint(buf, value_start, stop)
    if raw is None:
        return None
    key_start, value_start, stop = raw
    length = stop - value_start
    if length < (MIN_FLOAT_PAYLOAD if data_type in _FLOAT_TYPES else MIN_OTHER_PAYLOAD):
        return None
    return [(start, key_start), (stop, end)], value_start, length


def strip_payloads(buf: mmap.mmap | bytes) -> tuple[bytes, list[Payload]] | None:
    """Model bytes without the large initializer payloads of the main graph, and their ranges.

    Returns None when nothing is worth stripping or the bytes are not a well-formed model
    (the caller then parses ``buf`` as it is).
    """
    if sys.byteorder != "little":
        return None  # raw_data is little-endian: let onnx's decoder swap bytes
    try:
        return _strip(buf)
    except _Malformed:
        return None


def _strip(buf: object) -> tuple[bytes, list[Payload]] | None:
    end = len(buf)
    graph_field = None
    for number, wire, key_start, key_end, value_start, stop in _fields(buf, 0, end):
        if number == _MODEL_GRAPH:
            if graph_field is not None or wire != _LEN:
                return None  # repeated message fields merge: leave that to protobuf
            graph_field = (key_start, key_end, value_start, stop)
    if graph_field is None:
        return None
    graph_key, graph_key_end, graph_start, graph_end = graph_field
    chunks: list[bytes] = []  # the new graph message
    payloads: list[Payload] = []
    index = 0
    copied_to = graph_start
    for number, wire, key_start, key_end, value_start, stop in _fields(buf, graph_start, graph_end):
        if number != _GRAPH_INITIALIZER or wire != _LEN:
            continue
        found = _strip_tensor(buf, value_start, stop)
        if found is not None:
            kept, payload_start, length = found
            chunks.append(bytes(buf[copied_to:key_start]))
            chunks.append(bytes(buf[key_start:key_end]))
            chunks.append(encode_varint(sum(b - a for a, b in kept)))
            chunks.extend(bytes(buf[a:b]) for a, b in kept)
            payloads.append(Payload(index, payload_start, length))
            copied_to = stop
        index += 1
    if not payloads:
        return None
    chunks.append(bytes(buf[copied_to:graph_end]))
    graph = b"".join(chunks)
    del chunks
    model = b"".join([bytes(buf[0:graph_key]), bytes(buf[graph_key:graph_key_end]), encode_varint(len(graph)),
                      graph, bytes(buf[graph_end:end])])
    return model, payloads


class ModelFile:
    """The model file that stripped initializers read their bytes from.

    The file's identity (device, inode, size, modification time) is recorded when it is parsed;
    reading after the file was replaced or rewritten is refused rather than returning other bytes.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = os.path.abspath(os.fspath(path))
        self._identity = self._stat()

    def _stat(self) -> tuple[int, int, int, int]:
        st = os.stat(self.path)
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns

    def check_unchanged(self) -> None:
        try:
            same = self._stat() == self._identity
        except OSError:
            same = False
        if not same:
            raise ExternalDataError(
                f"model file {self.path!r} changed or disappeared after it was read; its weights are read "
                "from it on demand: load the model again"
            )

    def read(self, offset: int, length: int, dtype: np.dtype, shape: tuple[int, ...], *,
             mapped: bool = False) -> np.ndarray:
        """The tensor stored at ``[offset, offset + length)``.

        ``mapped=True`` returns a read-only view of the memory-mapped file (no copy; use it at
        once and drop it: the mapping lives as long as the array); otherwise a private copy.
        """
        self.check_unchanged()
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if dtype.itemsize * count != length or dtype.kind == "O":
            # packed sub-byte types: onnx's own decoder on a copy of the bytes
            with open(self.path, "rb") as handle:
                handle.seek(offset)
                raw = handle.read(length)
            tensor = onnx.helper.make_tensor("t", onnx.helper.np_dtype_to_tensor_dtype(dtype), shape, raw, raw=True)
            try:
                return onnx.numpy_helper.to_array(tensor)
            except (ValueError, TypeError) as exc:
                raise ExternalDataError(f"inconsistent tensor bytes in {self.path!r}: {exc}") from None
        if count == 0:
            return np.zeros(shape, dtype)
        if mapped:
            return np.memmap(self.path, dtype=dtype, mode="r", offset=offset, shape=shape)
        out = np.empty(shape, dtype)
        with open(self.path, "rb") as handle:
            handle.seek(offset)
            if handle.readinto(out.reshape(-1).view(np.uint8)) != length:
                raise ExternalDataError(f"{self.path!r} ends before the tensor bytes at offset {offset}")
        return out
