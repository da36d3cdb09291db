"""Symbol-level ONNX import/export for Module and Symbol users.

>>> sym, arg_params, aux_params = serde.import_model('model.onnx')
>>> mod = mx.mod.Module(sym, data_names=['data'], label_names=None)
>>> serde.export_model(sym, {**arg_params, **aux_params}, [(1, 3, 224, 224)], np.float32, 'model.onnx')

``import_model`` builds on :func:`gluon_onnx.load_block`: the block is traced into a
symbol whose inputs keep the ONNX input names. ``export_model`` runs the same translation
as :func:`gluon_onnx.export_block`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import mxnet as mx
import numpy as np
import onnx

from .errors import ExportError, HybridizationError
from .importer import load_block
from .model import ModelSource

__all__ = ["export_model", "import_model"]


def _sample(shape: Sequence[object], dtype: np.dtype) -> mx.nd.NDArray:
    dims = [d if isinstance(d, int) and d > 0 else 1 for d in shape]
    return mx.nd.zeros(dims, dtype=dtype)


def import_model(source: ModelSource, ctx: mx.Context | None = None, *,
                 input_shapes: Mapping[str, Sequence[object]] | None = None) -> tuple[mx.sym.Symbol, dict, dict]:
    """Import an ONNX model as ``(sym, arg_params, aux_params)``.

    Parameters
    ----------
    source : path, bytes, file object or onnx.ModelProto
        The model.
    ctx : mx.Context, optional
        Context of the returned parameters (default CPU).
    input_shapes : dict, optional
        Input shapes, as for :func:`~gluon_onnx.load_block`. Graphs whose hybridized form
        depends on concrete shapes are traced for these shapes (free sizes become 1).

    Returns
    -------
    sym : mx.sym.Symbol
        Inputs are variables named like the ONNX inputs.
    arg_params, aux_params : dict of str to NDArray
        Values of every other argument / auxiliary state of ``sym``.
    """
    ctx = ctx or mx.cpu()
    net = load_block(source, ctx=ctx, input_shapes=input_shapes)
    variables = [mx.sym.var(name) for name in net.input_names]
    try:
        out = net(*variables)
    except HybridizationError:
        # shape-specialized graph: trace it for the declared shapes
        from .verify import input_specs  # noqa: PLC0415

        specs = {name: (dtype, dims) for name, dtype, dims in input_specs(net.onnx_model)}
        samples = [_sample(specs[n][1], specs[n][0]) for n in net.input_names]
        net.hybridize()
        net(*samples)
        out = net(*variables)
    sym = out if isinstance(out, mx.sym.Symbol) and len(out.list_outputs()) == 1 else mx.sym.Group(list(out))
    values = {p.name: p.data(ctx) for p in net.collect_params().values() if p._data is not None}
    inputs = set(net.input_names)
    arg_params = {n: values[n] for n in sym.list_arguments() if n not in inputs}
    aux_params = {n: values[n] for n in sym.list_auxiliary_states()}
    missing = [n for n in list(arg_params) + list(aux_params) if n not in values]
    if missing:
        raise ExportError(f"the traced symbol uses arguments without values: {missing}")
    return sym, arg_params, aux_params


def _load_params(params: Mapping[str, object] | str | os.PathLike) -> dict[str, mx.nd.NDArray]:
    if isinstance(params, (str, os.PathLike)):
        params = mx.nd.load(os.fspath(params))
    values = {}
    for key, value in params.items():
        name = key.split(":", 1)[1] if key.startswith(("arg:", "aux:")) else key
        values[name] = value if isinstance(value, mx.nd.NDArray) else mx.nd.array(np.asarray(value),
                                                                               dtype=np.asarray(value).dtype)
    return values


def export_model(
    sym: mx.sym.Symbol | str | os.PathLike,
    params: Mapping[str, object] | str | os.PathLike,
    in_shapes: Sequence[Sequence[int]],
    in_types: object = np.float32,
    onnx_file_path: str | os.PathLike | None = "model.onnx",
    *,
    input_names: Sequence[str] | None = None,
    opset: int | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, object] | None = None,
    check: bool = False,
    rtol: float = 1e-4,
    external_data: bool | None = None,
) -> onnx.ModelProto:
    """Export an MXNet symbol and its parameters to ONNX.

    Parameters
    ----------
    sym : mx.sym.Symbol or path
        The symbol, or a ``*-symbol.json`` file.
    params : dict or path
        Parameter values (``arg_params`` and ``aux_params`` merged; ``arg:``/``aux:``
        prefixes of saved checkpoints are accepted), or a ``.params`` file.
    in_shapes : list of shapes
        Shapes of the data inputs, in order.
    in_types : dtype or list of dtypes
        Their dtypes (default float32).
    onnx_file_path : path, optional
        Output file (None: only return the model).
    input_names : list of str, optional
        The data inputs (default: the symbol's arguments without a value in ``params``).
    opset, output_names, dynamic_axes, check, rtol, external_data
        As for :func:`gluon_onnx.export_block`.

    Returns
    -------
    onnx.ModelProto
    """
    from .exporter import export_symbol  # noqa: PLC0415

    if isinstance(sym, (str, os.PathLike)):
        sym = mx.sym.load(os.fspath(sym))
    values = _load_params(params)
    if input_names is None:
        input_names = [n for n in sym.list_arguments() if n not in values]
    if len(input_names) != len(in_shapes):
        raise ExportError(f"the symbol has data inputs {list(input_names)} but {len(in_shapes)} shapes were given")
    types = list(in_types) if isinstance(in_types, (list, tuple)) else [in_types] * len(in_shapes)
    return export_symbol(
        sym, values, {name: tuple(shape) for name, shape in zip(input_names, in_shapes)}, onnx_file_path,
        input_types=dict(zip(input_names, types)), opset=opset, output_names=output_names,
        dynamic_axes=dynamic_axes, check=check, rtol=rtol, external_data=external_data,
    )
