"""Export an :class:`~gluon_onnx.OnnxBlock` losslessly: its own ONNX graph, current weights.

The original ModelProto is kept as it is (nodes, names, opset, metadata, declared inputs);
only initializers that are Gluon parameters get their current values (fine-tuned weights,
updated BatchNorm statistics). A block cut with ``outputs=`` exports the cut graph.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import mxnet as mx
import numpy as np
import onnx
from onnx import helper

from ..dtypes import from_storage, np_dtype
from ..errors import ExportError
from .export import _checker, normalize_dynamic_axes, sample_inputs, save_model
from .graph import Initializer, value_info
from .registry import MIN_EXPORT_OPSET


def _copy_fields(source: object, target: object, skip: str) -> None:
    for descriptor, value in source.ListFields():
        if descriptor.name == skip:
            continue
        field = getattr(target, descriptor.name)
        if hasattr(value, "extend") and not isinstance(value, (str, bytes)):
            field.extend(value)
        elif hasattr(value, "CopyFrom"):
            field.CopyFrom(value)
        else:
            setattr(target, descriptor.name, value)


def _skeleton(proto: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of ``proto`` without its initializers (never copies tensor bytes)."""
    model = onnx.ModelProto()
    _copy_fields(proto, model, "graph")
    _copy_fields(proto.graph, model.graph, "initializer")
    return model


def _cut(model: onnx.ModelProto, outputs: Sequence[str], block: object) -> None:
    """Keep only what ``outputs`` need; declare them as the graph outputs."""
    graph = model.graph
    declared = {vi.name: vi for vi in list(graph.output) + list(graph.value_info) + list(graph.input)}
    needed = set(outputs)
    kept = []
    for node in reversed(graph.node):
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(i for i in node.input if i)
            for attr in node.attribute:
                for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                    needed.update(_free_names(sub))
    del graph.node[:]
    graph.node.extend(reversed(kept))
    new_outputs = []
    for name in outputs:
        if name in declared:
            new_outputs.append(declared[name])
            continue
        info = block.plan.info(name)
        dims = None if info.shape is None else [d if isinstance(d, int) else None for d in info.shape]
        dtype = info.dtype if info.dtype is not None else np.dtype("float32")
        new_outputs.append(value_info(name, dtype, dims) if dims is not None else
                           helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(dtype), None))
    del graph.output[:]
    graph.output.extend(new_outputs)


def _free_names(graph: onnx.GraphProto) -> set[str]:
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    free = set()
    for node in graph.node:
        free.update(i for i in node.input if i and i not in defined)
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                free.update(n for n in _free_names(sub) if n not in defined)
        defined.update(node.output)
    return free


def _apply_dynamic_axes(model: onnx.ModelProto, axes: Mapping[str, Mapping[int, str]]) -> None:
    values = {vi.name: vi for vi in list(model.graph.input) + list(model.graph.output)}
    for name, dims in axes.items():
        if name not in values:
            raise ExportError(f"dynamic_axes names {name!r}, which is not an input or output of the model")
        shape = values[name].type.tensor_type.shape
        for axis, dim_name in dims.items():
            if axis >= len(shape.dim):
                raise ExportError(f"dynamic axis {axis} of {name!r} is out of range")
            dim = shape.dim[axis]
            dim.Clear()
            dim.dim_param = dim_name


def _initializers(block: object, proto: onnx.ModelProto, needed: set[str] | None) -> list[Initializer]:
    params = block.onnx_params
    loaded = block._onnx_model
    result = []
    for tensor in proto.graph.initializer:
        if needed is not None and tensor.name not in needed:
            continue
        dtype = np_dtype(tensor.data_type)
        shape = tuple(tensor.dims)
        if tensor.name in params:
            param = params[tensor.name]

            def current(p: mx.gluon.Parameter = param, d: np.dtype = dtype) -> np.ndarray:
                return from_storage(p.list_data()[0].asnumpy(), d)

            getter = current
        else:
            def original(t: onnx.TensorProto = tensor) -> np.ndarray:
                return np.asarray(loaded.tensor_array(t))

            getter = original
        result.append(Initializer(tensor.name, dtype, shape, getter))
    return result


def export_onnx_block(
    block: object,
    inputs: object,
    path: str | os.PathLike | None,
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
    """Export an OnnxBlock (see :func:`gluon_onnx.export_block`)."""
    original = block.onnx_model
    if input_names is not None and list(input_names) != block.input_names:
        raise ExportError(f"an OnnxBlock keeps its ONNX input names {block.input_names}; do not rename them")
    if output_names is not None and list(output_names) != block.output_names:
        raise ExportError(f"an OnnxBlock keeps its ONNX output names {block.output_names}; do not rename them")
    model = _skeleton(original)
    needed = None
    if [o.name for o in original.graph.output] != block.output_names:
        _cut(model, block.output_names, block)
        needed = {i for n in model.graph.node for i in n.input} | _graph_references(model.graph)
    initializers = _initializers(block, original, needed)
    if needed is not None:
        keep_inputs = [vi for vi in model.graph.input if vi.name in needed or vi.name in block.input_names]
        del model.graph.input[:]
        model.graph.input.extend(keep_inputs)
    ranks = {vi.name: len(vi.type.tensor_type.shape.dim) for vi in list(model.graph.input) + list(model.graph.output)}
    _apply_dynamic_axes(model, normalize_dynamic_axes(dynamic_axes, ranks))
    current = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is not None and current is not None and int(opset) != current:
        model = _convert_version(model, initializers, int(opset))
    checker = None
    if check:
        feeds = _feeds(block, original, inputs, input_types)
        from ..backend import to_nd, to_numpy  # noqa: PLC0415

        args = [to_nd(feeds[n], mx.cpu()) for n in block.input_names]

        out = block(*args)
        outs = list(out) if isinstance(out, (list, tuple)) else [out]
        reference = [to_numpy(o, block.plan.info(n).dtype) for n, o in zip(block.output_names, outs)]
        checker = _checker(feeds, reference, block.output_names, rtol)
    return save_model(model, initializers, path, external_data=external_data, check=checker)


def _graph_references(graph: onnx.GraphProto) -> set[str]:
    refs = {o.name for o in graph.output}
    for node in graph.node:
        for attr in node.attribute:
            for sub in ([attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)):
                refs.update(_free_names(sub))
    return refs


def _convert_version(model: onnx.ModelProto, initializers: list[Initializer], opset: int) -> onnx.ModelProto:
    if opset < MIN_EXPORT_OPSET:
        raise ExportError(f"opset {opset} is older than the oldest the exporter targets ({MIN_EXPORT_OPSET})")
    from onnx import version_converter  # noqa: PLC0415

    # The converter needs the initializers (shapes and constant inputs); they are added back
    # as tensors, converted, then taken out again for the streaming writer.
    full = onnx.ModelProto()
    full.CopyFrom(model)
    for init in initializers:
        full.graph.initializer.append(onnx.numpy_helper.from_array(init.value(), init.name))
    try:
        converted = version_converter.convert_version(full, opset)
    except Exception as exc:  # noqa: BLE001  (the converter raises several types)
        raise ExportError(f"cannot convert the model from its opset to opset {opset}: {exc}") from None
    names = {init.name for init in initializers}
    kept = [t for t in converted.graph.initializer if t.name not in names]
    del converted.graph.initializer[:]
    converted.graph.initializer.extend(kept)
    return converted


def _feeds(block: object, proto: onnx.ModelProto, inputs: object, input_types: object) -> dict[str, np.ndarray]:
    if inputs is None:
        from ..verify import random_inputs  # noqa: PLC0415

        return random_inputs(proto, seed=0)
    arrays = sample_inputs(inputs, input_types)
    if len(arrays) != len(block.input_names):
        raise ExportError(f"the block takes {len(block.input_names)} inputs, got {len(arrays)}")
    return {name: a.asnumpy() for name, a in zip(block.input_names, arrays)}
