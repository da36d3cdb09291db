"""ONNX element types, their numpy dtypes and the MXNet dtype that stores them.

MXNet 1.9.1 has no int16, unsigned 16/32/64-bit, bfloat16 (for most ops), float8 or
4-bit types. Such tensors are stored in the nearest wider MXNet type inside the block
and converted back to the ONNX type only where values leave it (backend outputs).
"""

from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper

from .errors import InvalidModelError

_STORAGE = {
    "float32": "float32",
    "float64": "float64",
    "float16": "float16",
    "uint8": "uint8",
    "int8": "int8",
    "int32": "int32",
    "int64": "int64",
    "bool": "bool",
    "int16": "int32",
    "uint16": "int32",
    "uint32": "int64",
    "uint64": "int64",
    "bfloat16": "float32",
    "float8_e4m3fn": "float32",
    "float8_e4m3fnuz": "float32",
    "float8_e5m2": "float32",
    "float8_e5m2fnuz": "float32",
    "float8_e8m0fnu": "float32",
    "float4_e2m1fn": "float32",
    "float6_e2m3fn": "float32",
    "float6_e3m2fn": "float32",
    "int4": "int8",
    "uint4": "uint8",
    "int2": "int8",
    "uint2": "uint8",
}

FLOAT_TYPES = frozenset(
    {TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16}
)


def np_dtype(elem_type: int) -> np.dtype:
    """numpy dtype of an ONNX element type (ml_dtypes types for bfloat16/float8/int4).

    Raises
    ------
    InvalidModelError
        ``elem_type`` is not an ONNX element type (UNDEFINED, or a number no onnx version defines).
    """
    try:
        return np.dtype(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, TypeError, ValueError):
        raise InvalidModelError(f"{elem_type!r} is not a valid ONNX element type") from None


def storage_dtype(dtype: np.dtype | str) -> str | None:
    """Name of the MXNet dtype that stores values of ``dtype``; None if MXNet cannot."""
    return _STORAGE.get(np.dtype(dtype).name)


def elem_type_of(dtype: np.dtype | str) -> int:
    """ONNX element type of a numpy dtype."""
    return helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def is_float(dtype: np.dtype | str | None) -> bool:
    """True for float16/32/64 and the narrow float types stored as float32."""
    if dtype is None:
        return False
    storage = storage_dtype(dtype)
    return storage is not None and storage.startswith("float")


def is_integer(dtype: np.dtype | str | None) -> bool:
    """True for signed and unsigned integer types."""
    return dtype is not None and np.dtype(dtype).kind in "iu" or (
        dtype is not None and np.dtype(dtype).name in ("int4", "uint4", "int2", "uint2")
    )


def to_storage(array: np.ndarray) -> np.ndarray:
    """Return ``array`` in the dtype MXNet stores it in (no copy when already there)."""
    storage = storage_dtype(array.dtype)
    if storage is None:
        raise TypeError(f"MXNet cannot hold tensors of type {array.dtype}")
    if array.dtype.name == "uint64":
        return array.view(np.int64)
    return np.asarray(array.astype(storage, copy=False))


def from_storage(array: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Convert a storage-typed array back to its ONNX dtype."""
    dtype = np.dtype(dtype)
    if array.dtype == dtype:
        return array
    if dtype.name == "uint64" and array.dtype == np.int64:
        return array.view(np.uint64)
    if dtype.kind in "iu" and array.dtype.kind == "f":
        return np.trunc(array).astype(dtype)
    return array.astype(dtype)
