"""Gluon HybridBlock / MXNet Symbol -> ONNX: the public entry points and the model writer."""

from __future__ import annotations

import functools
import io
import mmap
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence

import mxnet as mx
import numpy as np
import onnx
from onnx import helper

from ..errors import ExportError
from .convert import Session
from .graph import EXTERNAL_DATA_THRESHOLD, Initializer, OnnxGraph, total_bytes, value_info, write_model
from .registry import MIN_EXPORT_OPSET
from .runtime import newest_runnable_opset
from .trace import TracedGraph, analyse, block_parameters, trace_block


# --- opsets ---------------------------------------------------------------------------------
def _ort_accepts(opset: int) -> bool:
    import onnxruntime as ort  # noqa: PLC0415
    from onnx import TensorProto  # noqa: PLC0415

    # Operators whose newest versions are recent: a runtime without their kernels refuses the model.
    nodes = [
        helper.make_node("Cast", ["x"], ["c"], to=TensorProto.FLOAT),
        helper.make_node("Reshape", ["c", "s"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"]),
        helper.make_node("Unsqueeze", ["t", "a"], ["u"]),
        helper.make_node("Squeeze", ["u", "a"], ["q"]),
        helper.make_node("Identity", ["q"], ["y"]),
    ]
    inits = [onnx.numpy_helper.from_array(np.array([2, 3], np.int64), "s"),
             onnx.numpy_helper.from_array(np.array([0], np.int64), "a")]
    graph = helper.make_graph(nodes, "probe", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, 2])], inits)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(graph, opset_imports=opsets, ir_version=helper.find_min_ir_version_for(opsets))
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        session.run(None, {"x": np.zeros((3, 2), np.float32)})
    except Exception:  # noqa: BLE001  (any failure means: not supported)
        return False
    return True


@functools.lru_cache(maxsize=None)
def max_opset() -> int:
    """Newest default-domain opset supported by both the installed onnx and onnxruntime."""
    newest = onnx.defs.onnx_opset_version()
    try:
        import onnxruntime  # noqa: F401, PLC0415
    except ImportError:
        return newest
    for opset in range(newest, MIN_EXPORT_OPSET - 1, -1):
        if _ort_accepts(opset):
            return opset
    return MIN_EXPORT_OPSET


def resolve_opset(opset: int | None) -> int | None:
    """``opset`` checked against the supported range (None: choose per model)."""
    newest = max_opset()
    if opset is None:
        return None
    opset = int(opset)
    if not MIN_EXPORT_OPSET <= opset <= newest:
        raise ExportError(
            f"opset {opset} is not supported: the exporter targets opsets {MIN_EXPORT_OPSET}..{newest} "
            "(the newest one both the installed onnx and onnxruntime support)"
        )
    return opset


# --- inputs ---------------------------------------------------------------------------------
def _is_shape(value: object) -> bool:
    return isinstance(value, (tuple, list)) and len(value) > 0 and all(
        isinstance(v, (int, np.integer)) for v in value
    ) or (isinstance(value, (tuple, list)) and len(value) == 0)


def sample_inputs(inputs: object, input_types: object = None, *, seed: int = 0,
                  ctx: mx.Context | None = None) -> list[mx.nd.NDArray]:
    """NDArrays from NDArrays, numpy arrays or shapes (seeded standard-normal values)."""
    if isinstance(inputs, (mx.nd.NDArray, np.ndarray)) or _is_shape(inputs):
        items = [inputs]
    elif isinstance(inputs, (list, tuple)):
        items = list(inputs)
    else:
        raise ExportError(f"inputs must be NDArrays, numpy arrays or shapes, got {type(inputs).__name__}")
    if input_types is None:
        types = [None] * len(items)
    elif isinstance(input_types, (list, tuple)):
        types = list(input_types)
    else:
        types = [input_types] * len(items)
    if len(types) != len(items):
        raise ExportError(f"{len(items)} inputs but {len(types)} input types")
    rng = np.random.default_rng(seed)
    ctx = ctx or mx.cpu()
    arrays = []
    for item, dtype in zip(items, types):
        if isinstance(item, mx.nd.NDArray):
            arrays.append(item if dtype is None else item.astype(dtype))
        elif isinstance(item, np.ndarray):
            arrays.append(mx.nd.array(item, dtype=dtype or item.dtype, ctx=ctx))
        elif _is_shape(item):
            dtype = np.dtype(dtype or "float32")
            if dtype.kind == "f":
                value = rng.standard_normal(tuple(item)).astype(dtype)
            elif dtype.kind == "b":
                value = rng.random(tuple(item)) > 0.5
            else:
                value = rng.integers(0, 10, size=tuple(item)).astype(dtype)
            arrays.append(mx.nd.array(value, dtype=dtype, ctx=ctx))
        else:
            raise ExportError(f"cannot make an input from {type(item).__name__}")
    return arrays


def default_input_names(count: int) -> list[str]:
    return ["data"] if count == 1 else [f"data{i}" for i in range(count)]


def normalize_dynamic_axes(dynamic_axes: Mapping[str, object] | None,
                           ranks: Mapping[str, int]) -> dict[str, dict[int, str]]:
    """{'name': {axis: 'dim name'}} from dicts or lists of axes (names default to name_axis)."""
    result: dict[str, dict[int, str]] = {}
    for name, axes in (dynamic_axes or {}).items():
        if isinstance(axes, Mapping):
            items = {int(k): str(v) for k, v in axes.items()}
        else:
            items = {int(a): f"{name}_dim{int(a)}" for a in axes}
        rank = ranks.get(name)
        fixed = {}
        for axis, dim_name in items.items():
            if rank is not None:
                if not -rank <= axis < rank:
                    raise ExportError(f"dynamic axis {axis} of {name!r} is out of range for rank {rank}")
                axis %= rank
            fixed[axis] = dim_name
        result[name] = fixed
    return result


# --- model assembly -------------------------------------------------------------------------
def _rename_tensor(graph: OnnxGraph, old: str, new: str) -> None:
    for node in graph.nodes:
        for j, name in enumerate(node.input):
            if name == old:
                node.input[j] = new
        for j, name in enumerate(node.output):
            if name == old:
                node.output[j] = new


def _default_output_names(traced: TracedGraph) -> list[str]:
    """MXNet names of the heads, made unique (and distinct from inputs and parameters)."""
    taken = set(traced.inputs) | set(traced.params)
    names = []
    for node_index, k in traced.heads:
        node = traced.nodes[node_index]
        base = node.name if node.num_outputs == 1 else node.output_names[k]
        name, n = base, 1
        while name in taken:
            name = f"{base}_output{n}" if n > 1 else f"{base}_output"
            n += 1
        taken.add(name)
        names.append(name)
    return names


def build_model(
    traced: TracedGraph,
    opset: int,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, Mapping[int, str]] | None = None,
    graph_name: str = "gluon_onnx",
) -> tuple[onnx.ModelProto, list[Initializer]]:
    """Translate ``traced``: the ModelProto without initializers, and the initializers."""
    from .. import __version__  # noqa: PLC0415

    dynamic_axes = dict(dynamic_axes or {})
    session = Session(traced, opset)
    heads = session.run()
    graph = session.graph
    names = list(output_names) if output_names is not None else _default_output_names(traced)
    if len(names) != len(heads):
        raise ExportError(f"the block has {len(heads)} outputs but {len(names)} output names were given")
    if len(set(names)) != len(names):
        raise ExportError(f"output names must be unique, got {names}")
    produced = {o for node in graph.nodes for o in node.output}
    clash = set(traced.inputs) & set(names)
    if clash:
        raise ExportError(f"output names {sorted(clash)} are also input names")
    final_outputs = []
    renamed: dict[str, str] = {}
    for head, name in zip(heads, names):
        head = renamed.get(head, head)
        if head == name:
            final_outputs.append(name)
            continue
        taken = name in produced or name in graph.initializers
        if head in produced and head not in names and not taken:
            # the producing node writes the output directly
            _rename_tensor(graph, head, name)
            produced.discard(head)
            produced.add(name)
            renamed[head] = name
        else:
            if taken:
                raise ExportError(f"output name {name!r} is already the name of another tensor")
            node_name = graph.unique_node(f"{name}_identity")
            graph.nodes.append(helper.make_node("Identity", [head], [name], name=node_name))
        final_outputs.append(name)
    graph.prune(final_outputs)

    input_dims: dict[tuple[int, int], str] = {}
    inputs = []
    for name in traced.inputs:
        shape = traced.input_shapes[name]
        axes = dynamic_axes.get(name, {})
        dims: list[int | str | None] = [axes.get(k, d) for k, d in enumerate(shape)]
        for axis, dim_name in axes.items():
            input_dims.setdefault((shape[axis], shape[axis] * 2 if shape[axis] > 0 else 2), dim_name)
        inputs.append(value_info(name, traced.input_dtypes[name], dims))
    outputs = []
    for entry, name in zip(traced.heads, final_outputs):
        info = traced.info(entry)
        if info.shape is None:
            vi = helper.make_tensor_value_info(name, _elem(info.dtype), None)
        else:
            user = dynamic_axes.get(name, {})
            dims = []
            for k, d in enumerate(info.shape):
                if k in user:
                    dims.append(user[k])
                elif info.dynamic and info.dynamic[k]:
                    alt = info.alt_shape[k] if info.alt_shape else None
                    dims.append(input_dims.get((d, alt), f"{name}_dim{k}"))
                else:
                    dims.append(d)
            vi = value_info(name, info.dtype or np.dtype("float32"), dims)
        outputs.append(vi)
    onnx_graph = helper.make_graph(graph.nodes, graph_name, inputs, outputs)
    opsets = [helper.make_opsetid("", opset)]
    model = helper.make_model(
        onnx_graph,
        opset_imports=opsets,
        producer_name="gluon_onnx",
        producer_version=__version__,
        ir_version=max(helper.find_min_ir_version_for(opsets), 7),
    )
    return model, list(graph.initializers.values())


def _elem(dtype: np.dtype | None) -> int:
    from ..dtypes import elem_type_of  # noqa: PLC0415

    return elem_type_of(dtype if dtype is not None else np.dtype("float32"))


def save_model(
    model: onnx.ModelProto,
    initializers: Sequence[Initializer],
    path: str | os.PathLike | None,
    *,
    external_data: bool | None = None,
    check: Callable[[str | onnx.ModelProto], None] | None = None,
) -> onnx.ModelProto:
    """Write the model (atomically: temp files in the target directory, then os.replace).

    ``check(model_path_or_proto)`` runs on the temporary file before it is moved into
    place; if it raises, nothing is left on disk.
    """
    size = total_bytes(initializers)
    external = size > EXTERNAL_DATA_THRESHOLD if external_data is None else bool(external_data)
    if path is None:
        if external:
            raise ExportError(
                f"the model's tensors take {size / 2**30:.2f} GiB: more than a protobuf can hold; "
                "give a path so they can go to an external data file"
            )
        buffer = io.BytesIO()
        write_model(model, initializers, buffer)
        result = onnx.ModelProto()
        view = buffer.getbuffer()
        result.ParseFromString(view)
        view.release()
        del buffer
        if check is not None:
            check(result)
        return result
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    if not os.path.isdir(directory):
        raise ExportError(f"directory {directory!r} does not exist")
    tmpdir = tempfile.mkdtemp(prefix=f".{base}.", suffix=".tmp", dir=directory)
    try:
        tmp_model = os.path.join(tmpdir, base)
        data_name = base + ".data"
        tmp_data = os.path.join(tmpdir, data_name)
        with open(tmp_model, "wb") as out:
            if external:
                with open(tmp_data, "wb") as data:
                    write_model(model, initializers, out, (data, data_name))
            else:
                write_model(model, initializers, out)
        if check is not None:
            check(tmp_model)
        if external:
            os.replace(tmp_data, os.path.join(directory, data_name))
        os.replace(tmp_model, os.path.join(directory, base))
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    return _load_written(path)


def _load_written(path: str) -> onnx.ModelProto:
    """Parse the written file straight from a memory map (no Python copy of its bytes)."""
    model = onnx.ModelProto()
    with open(path, "rb") as handle:
        if os.fstat(handle.fileno()).st_size == 0:
            return model
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            try:
                model.ParseFromString(view)
            finally:
                view.release()
    return model


def _checker(feeds: Mapping[str, np.ndarray], reference: Sequence[np.ndarray], output_names: Sequence[str],
             rtol: float) -> Callable[[str | onnx.ModelProto], None]:
    from .check import check_exported  # noqa: PLC0415

    def check(model: str | onnx.ModelProto) -> None:
        check_exported(model, feeds, reference, output_names, rtol)

    return check


def _output_names_of(model: onnx.ModelProto) -> list[str]:
    return [o.name for o in model.graph.output]


# --- public API ---------------------------------------------------------------------------
def export_block(
    block: mx.gluon.HybridBlock,
    inputs: object = None,
    path: str | os.PathLike | None = None,
    *,
    opset: int | None = None,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, object] | None = None,
    input_types: object = None,
    check: bool = False,
    rtol: float = 1e-4,
    external_data: bool | None = None,
) -> onnx.ModelProto:
    """Export a Gluon HybridBlock to ONNX.

    Parameters
    ----------
    block : mxnet.gluon.HybridBlock
        The network. An :class:`~gluon_onnx.OnnxBlock` (from :func:`~gluon_onnx.load_block`)
        is exported losslessly: its original graph, node names and opset with the current
        parameter values.
    inputs : NDArray, numpy array, shape tuple, or a list of them
        Sample inputs (shapes get seeded random values of ``input_types``, default float32).
        The block runs on them once: this also initializes deferred parameter shapes.
    path : str or path, optional
        Where to write the model. Written atomically: nothing is left on disk on failure.
        Without a path the model is only returned.
    opset : int, optional
        Target ONNX opset, from 13 to :func:`max_opset` (the default).
    input_names, output_names : list of str, optional
        ONNX names of the inputs (default ``data`` or ``data0, data1, ...``) and outputs
        (default: the MXNet names of the output nodes).
    dynamic_axes : dict, optional
        ``{'data': {0: 'N'}}`` (or ``{'data': [0]}``): named free dimensions of inputs (and
        of outputs, to name their dimensions).
    input_types : dtype or list of dtypes, optional
        dtypes of inputs given as shapes.
    check : bool
        Run ``onnx.checker`` (full check) and onnxruntime on the sample inputs and compare
        with the block's outputs; raises :class:`~gluon_onnx.errors.ExportMismatchError`.
    rtol : float
        Tolerance of ``check``, relative to each output's largest magnitude.
    external_data : bool, optional
        Store tensors in ``<path>.data``; by default only when they exceed 2 GB.

    Returns
    -------
    onnx.ModelProto
        The exported model (as written).

    Raises
    ------
    gluon_onnx.errors.UnsupportedOperatorError
        Some MXNet operators have no translation (all are listed, with their nodes).
    gluon_onnx.errors.ExportError
        Anything else that prevents the export.
    """
    from ..importer import OnnxBlock  # noqa: PLC0415

    if isinstance(block, OnnxBlock):
        from .roundtrip import export_onnx_block  # noqa: PLC0415

        return export_onnx_block(block, inputs, path, opset=opset, input_names=input_names,
                                 output_names=output_names, dynamic_axes=dynamic_axes, input_types=input_types,
                                 check=check, rtol=rtol, external_data=external_data)
    if inputs is None:
        raise ExportError("export_block needs sample inputs (arrays or shapes)")
    opset = resolve_opset(opset)
    args = sample_inputs(inputs, input_types)
    names = list(input_names) if input_names is not None else default_input_names(len(args))
    if len(names) != len(args):
        raise ExportError(f"{len(args)} inputs but {len(names)} input names")
    symbol, reference = trace_block(block, args, names)
    params = block_parameters(block)
    axes = normalize_dynamic_axes(dynamic_axes, {n: a.ndim for n, a in zip(names, args)})
    model, initializers = _build(symbol, params, names, [a.shape for a in args], [a.dtype for a in args],
                                 opset, output_names, axes)
    checker = None
    if check:
        feeds = {n: a.asnumpy() for n, a in zip(names, args)}
        checker = _checker(feeds, [r.asnumpy() for r in reference], _output_names_of(model), rtol)
    return save_model(model, initializers, path, external_data=external_data, check=checker)


def _build(symbol: mx.sym.Symbol, params: Mapping[str, mx.nd.NDArray], names: Sequence[str],
           shapes: Sequence[tuple], dtypes: Sequence[object], opset: int | None, output_names: Sequence[str] | None,
           axes: Mapping[str, Mapping[int, str]]) -> tuple[onnx.ModelProto, list[Initializer]]:
    clash = set(names) & set(params)
    if clash:
        raise ExportError(f"input names {sorted(clash)} are also parameter names")
    used = set(symbol.list_arguments()) | set(symbol.list_auxiliary_states())
    params = {k: v for k, v in params.items() if k in used}
    traced = analyse(symbol, names, dict(zip(names, map(tuple, shapes))), dict(zip(names, map(np.dtype, dtypes))),
                     params, {k: list(v) for k, v in axes.items() if k in names})
    if opset is not None:
        return build_model(traced, opset, output_names, axes)
    # Default opset: the newest at which onnxruntime can run every operator of this model.
    opset = max_opset()
    while True:
        model, initializers = build_model(traced, opset, output_names, axes)
        op_types = {node.op_type for node in model.graph.node}
        runnable = newest_runnable_opset(op_types, opset, MIN_EXPORT_OPSET)
        if runnable == opset:
            return model, initializers
        opset = runnable


def export_symbol(
    symbol: mx.sym.Symbol,
    params: Mapping[str, object],
    input_shapes: Mapping[str, Sequence[int]],
    path: str | os.PathLike | None = None,
    *,
    input_types: Mapping[str, object] | None = None,
    opset: int | None = None,
    output_names: Sequence[str] | None = None,
    dynamic_axes: Mapping[str, object] | None = None,
    check: bool = False,
    rtol: float = 1e-4,
    external_data: bool | None = None,
) -> onnx.ModelProto:
    """Export an MXNet Symbol with its parameters (``arg_params`` and ``aux_params`` merged).

    ``input_shapes`` names the symbol's data inputs (in order); every other argument must
    have a value in ``params``. With ``check=True`` the symbol is run by MXNet on seeded
    random inputs and compared with onnxruntime.
    """
    opset = resolve_opset(opset)
    names = list(input_shapes)
    values = {}
    for key, value in params.items():
        name = key.split(":", 1)[1] if key.startswith(("arg:", "aux:")) else key
        values[name] = value if isinstance(value, mx.nd.NDArray) else mx.nd.array(np.asarray(value),
                                                                               dtype=np.asarray(value).dtype)
    types = dict(input_types or {})
    args = sample_inputs([tuple(input_shapes[n]) for n in names], [types.get(n) for n in names])
    axes = normalize_dynamic_axes(dynamic_axes, {n: len(input_shapes[n]) for n in names})
    model, initializers = _build(symbol, values, names, [a.shape for a in args], [a.dtype for a in args], opset,
                                 output_names, axes)
    checker = None
    if check:
        reference = run_symbol(symbol, values, dict(zip(names, args)))
        feeds = {n: a.asnumpy() for n, a in zip(names, args)}
        checker = _checker(feeds, reference, _output_names_of(model), rtol)
    return save_model(model, initializers, path, external_data=external_data, check=checker)


def run_symbol(symbol: mx.sym.Symbol, params: Mapping[str, mx.nd.NDArray],
               inputs: Mapping[str, mx.nd.NDArray]) -> list[np.ndarray]:
    """MXNet's outputs of ``symbol`` for ``inputs`` (inference mode)."""
    args = [inputs[n] if n in inputs else params[n] for n in symbol.list_arguments()]
    aux = [params[n] for n in symbol.list_auxiliary_states()]
    executor = symbol.bind(mx.cpu(), args=args, aux_states=aux, grad_req="null")
    executor.forward(is_train=False)
    return [o.asnumpy() for o in executor.outputs]
