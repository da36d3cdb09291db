"""Small helpers over MXNet operators shared by converters.

``F`` is ``mx.nd`` or ``mx.sym``. MXNet's numpy-compatible operators (``_npi_*``: bool
support, numpy broadcasting, 0-d arrays) only accept numpy-flavoured arrays; :func:`npi`
converts legacy arrays/symbols in and out without copying.
"""

from __future__ import annotations

from collections.abc import Sequence

import mxnet as mx


def is_symbol(F: object) -> bool:
    return F is mx.sym or F is mx.symbol


def npi(F: object, op: str, *args: object, **kwargs: object) -> object:
    """Call the numpy-compatible MXNet operator ``op`` on legacy NDArrays/Symbols."""
    module = mx.sym.numpy._internal if is_symbol(F) else mx.nd.numpy._internal
    fn = getattr(module, op)
    converted = [a.as_np_ndarray() if hasattr(a, "as_np_ndarray") else a for a in args]
    out = fn(*converted, **kwargs)
    if isinstance(out, (list, tuple)):
        return [o.as_nd_ndarray() for o in out]
    return out.as_nd_ndarray()


def reshape(F: object, x: object, shape: Sequence[int]) -> object:
    """Reshape with numpy semantics (``()`` is a scalar; -1 infers; no 0 codes)."""
    return npi(F, "reshape", x, newshape=tuple(int(s) for s in shape))


def cast(F: object, x: object, dtype: str) -> object:
    return F.Cast(x, dtype=dtype)


def zeros(F: object, shape: Sequence[int], dtype: str = "float32", ctx: object = None) -> object:
    if is_symbol(F):
        return F.zeros(shape=tuple(shape), dtype=dtype)
    return F.zeros(shape=tuple(shape), dtype=dtype, ctx=ctx)
