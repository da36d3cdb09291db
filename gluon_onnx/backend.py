"""An ``onnx.backend.base.Backend`` that runs models through gluon_onnx.

>>> import gluon_onnx.backend as backend
>>> rep = backend.prepare(model, device="CPU", hybridize=True)
>>> outputs = rep.run([x])
"""

from __future__ import annotations

from collections.abc import Sequence

import mxnet as mx
import numpy as np
import onnx
from onnx.backend.base import Backend, BackendRep, Device, DeviceType

from .dtypes import from_storage, storage_dtype, to_storage
from .errors import ExecutionError
from .importer import OnnxBlock, load_block


def _device(device: str) -> Device:
    try:
        return Device(device)
    except (AttributeError, ValueError, TypeError):
        raise ValueError(f"unknown device {device!r}: use 'CPU' or 'CUDA:<index>'") from None


def _context(device: str) -> mx.Context:
    dev = _device(device)
    if dev.type == DeviceType.CUDA:
        return mx.gpu(dev.device_id)
    return mx.cpu()


def to_nd(array: np.ndarray, ctx: mx.Context) -> mx.nd.NDArray | np.ndarray:
    """numpy input -> NDArray in its MXNet storage type.

    A sequence (list) becomes a list of NDArrays; an empty optional (None) stays None; a string
    array stays a numpy object array (MXNet cannot hold strings).
    """
    if array is None:
        return None
    if isinstance(array, (list, tuple)):
        return [to_nd(item, ctx) for item in array]
    array = np.asarray(array)
    if array.dtype.kind == "S":
        array = np.char.decode(array, "utf-8")
    if array.dtype == object or array.dtype.kind == "U":
        return array.astype(object)
    value = to_storage(array)
    with mx.util.np_shape(True):
        return mx.nd.array(value, dtype=value.dtype, ctx=ctx)


def to_numpy(value: mx.nd.NDArray | np.ndarray, dtype: np.dtype | None) -> np.ndarray:
    """NDArray output -> numpy in the ONNX dtype (a sequence -> list of arrays, None stays None,
    string outputs already are numpy)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        return [to_numpy(item, dtype) for item in value]
    if isinstance(value, np.ndarray):
        return value if dtype is None or value.dtype == object else from_storage(value, dtype)
    with mx.util.np_shape(True):
        try:
            array = value.asnumpy()
        except mx.base.MXNetError as exc:
            lines = [line for line in str(exc).splitlines() if line.strip()]
            raise ExecutionError(f"MXNet failed while running the model: {lines[-1] if lines else exc}") from None
    return from_storage(array, dtype) if dtype is not None else array


class GluonOnnxRep(BackendRep):
    """A prepared model: an :class:`OnnxBlock` plus input/output conversion."""

    def __init__(self, block: OnnxBlock, ctx: mx.Context):
        self.block = block
        self.ctx = ctx

    def run(self, inputs: object, **kwargs: object) -> tuple[np.ndarray, ...]:
        if isinstance(inputs, dict):
            inputs = [inputs[name] for name in self.block.input_names]
        elif isinstance(inputs, np.ndarray) and len(self.block.input_names) == 1:
            inputs = [inputs]
        inputs = list(inputs)
        plan = self.block.plan
        if len(inputs) > len(plan.inputs):
            inputs = inputs[: len(plan.inputs)]
        arrays = [to_nd(x, self.ctx) for x in inputs]
        result = self.block(*arrays)
        single = len(plan.outputs) == 1
        outputs = (result,) if single or not isinstance(result, (tuple, list)) else result
        return tuple(
            to_numpy(out, plan.info(name).dtype) for name, out in zip(plan.outputs, outputs)
        )


class GluonOnnxBackend(Backend):
    """ONNX backend running models as Gluon blocks; ``hybridize=True`` traces them."""

    hybridize_default = False

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: object) -> bool:
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: object) -> GluonOnnxRep:
        hybridize = bool(kwargs.pop("hybridize", cls.hybridize_default))
        ctx = _context(device)
        block = load_block(model, ctx=ctx)
        if hybridize:
            block.hybridize(static_alloc=True, static_shape=True)
        return GluonOnnxRep(block, ctx)

    @classmethod
    def run_model(cls, model: onnx.ModelProto, inputs: object, device: str = "CPU", **kwargs: object) -> tuple:
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(
        cls,
        node: onnx.NodeProto,
        inputs: Sequence[np.ndarray],
        device: str = "CPU",
        outputs_info: Sequence[tuple[np.dtype, tuple]] | None = None,
        **kwargs: object,
    ) -> tuple:
        opset = int(kwargs.pop("opset_version", onnx.defs.onnx_opset_version()))
        names = [f"input_{i}" if name else "" for i, name in enumerate(node.input)]
        graph_inputs = []
        feeds = []
        for name, value in zip((n for n in names if n), inputs):
            value = np.asarray(value)
            elem = onnx.helper.np_dtype_to_tensor_dtype(value.dtype)
            graph_inputs.append(onnx.helper.make_tensor_value_info(name, elem, value.shape))
            feeds.append(value)
        inner = onnx.NodeProto()
        inner.CopyFrom(node)
        del inner.input[:]
        inner.input.extend(names)
        outs = [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o]
        graph = onnx.helper.make_graph([inner], "run_node", graph_inputs, outs)
        model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", opset)])
        return cls.run_model(model, feeds, device, **kwargs)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        try:
            dev = _device(device)
        except ValueError:
            return False
        if dev.type == DeviceType.CPU:
            return True
        if dev.type == DeviceType.CUDA:
            try:
                return mx.context.num_gpus() > 0
            except mx.base.MXNetError:
                return False
        return False


class HybridizedBackend(GluonOnnxBackend):
    """The same backend with ``hybridize=True`` by default."""

    hybridize_default = True


prepare = GluonOnnxBackend.prepare
run_model = GluonOnnxBackend.run_model
run_node = GluonOnnxBackend.run_node
supports_device = GluonOnnxBackend.supports_device

__all__ = [
    "ExecutionError",
    "GluonOnnxBackend",
    "GluonOnnxRep",
    "HybridizedBackend",
    "prepare",
    "run_model",
    "run_node",
    "supports_device",
    "storage_dtype",
]
