"""Typed access to MXNet operator attributes.

In a symbol's JSON every attribute is a string: ``"(3, 3)"``, ``"True"``, ``"1e-05"``,
``"None"``, ``"float32"``. :class:`Attrs` parses them on demand with the type the
translation asks for and MXNet's own default when the attribute is absent.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import numpy as np

_MX_DTYPE_CODES = {
    0: "float32", 1: "float64", 2: "float16", 3: "uint8", 4: "int32", 5: "int8", 6: "int64", 7: "bool",
    12: "bfloat16",
}


class AttrParseError(ValueError):
    """An attribute string could not be parsed as the requested type."""


def _literal(text: str) -> object:
    text = text.strip()
    if text == "":
        return None
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        lowered = text.lower()
        if lowered in ("true", "false"):
            return lowered == "true"
        if lowered in ("none", "null"):
            return None
        if lowered in ("inf", "+inf", "infinity"):
            return float("inf")
        if lowered in ("-inf", "-infinity"):
            return float("-inf")
        if lowered == "nan":
            return float("nan")
        return text


def parse_dtype(value: object) -> np.dtype:
    """numpy dtype of an MXNet dtype attribute ('float32', 'int64', or a type code)."""
    if isinstance(value, (int, np.integer)) or (isinstance(value, str) and value.strip().isdigit()):
        value = _MX_DTYPE_CODES[int(value)]
    if value == "bfloat16":
        value = "float32"
    return np.dtype(str(value))


class Attrs:
    """The attributes of one MXNet node, parsed on demand.

    Attribute names starting and ending with ``__`` (initializers, learning-rate
    multipliers, shapes of variables) are metadata and are hidden.
    """

    def __init__(self, raw: Mapping[str, str] | None):
        self.raw = {k: str(v) for k, v in (raw or {}).items() if not (k.startswith("__") and k.endswith("__"))}

    def __contains__(self, name: str) -> bool:
        return name in self.raw and _literal(self.raw[name]) is not None

    def __repr__(self) -> str:
        return f"Attrs({self.raw})"

    def get(self, name: str, default: object = None) -> object:
        """The parsed Python value (None when absent or 'None')."""
        if name not in self.raw:
            return default
        value = _literal(self.raw[name])
        return default if value is None else value

    def str(self, name: str, default: str | None = None) -> str | None:
        if name not in self.raw:
            return default
        text = self.raw[name].strip()
        if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
            text = text[1:-1]
        return default if text in ("None", "") else text

    def bool(self, name: str, default: bool = False) -> bool:
        value = self.get(name, default)
        if isinstance(value, str):
            lowered = value.lower()
            if lowered in ("true", "1"):
                return True
            if lowered in ("false", "0"):
                return False
            raise AttrParseError(f"attribute {name}={value!r} is not a boolean")
        return bool(value)

    def int(self, name: str, default: int | None = None) -> int | None:
        value = self.get(name, default)
        if value is None:
            return None
        if isinstance(value, (tuple, list)) and len(value) == 1:
            value = value[0]
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not isinstance(value, (int, bool, np.integer)):
            raise AttrParseError(f"attribute {name}={self.raw.get(name)!r} is not an integer")
        return int(value)

    def float(self, name: str, default: float | None = None) -> float | None:
        value = self.get(name, default)
        if value is None:
            return None
        if isinstance(value, str):
            raise AttrParseError(f"attribute {name}={value!r} is not a number")
        return float(value)

    def ints(self, name: str, default: tuple | None = None) -> tuple | None:
        """A tuple of ints (entries may be None, e.g. in ``slice``'s ``begin``)."""
        value = self.get(name, default)
        if value is None:
            return None
        if not isinstance(value, (tuple, list)):
            value = (value,)
        return tuple(None if v is None else int(v) for v in value)

    def floats(self, name: str, default: tuple | None = None) -> tuple | None:
        value = self.get(name, default)
        if value is None:
            return None
        if not isinstance(value, (tuple, list)):
            value = (value,)
        return tuple(float(v) for v in value)

    def dtype(self, name: str, default: str | None = None) -> np.dtype | None:
        value = self.str(name, default)
        return None if value is None else parse_dtype(value)
