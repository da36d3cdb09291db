"""Recipes of the ``built`` zoo entries: ONNX models made locally and reproducibly, no network.

A catalogue entry names a recipe as ``{"callable": "module:function", "kwargs": {...},
"requires": ["module", "module:attribute"]}``; :func:`build` calls it and returns the
``onnx.ModelProto``. Requirements that are missing (an optional package, an exporter that is
not there yet) make the entry *unavailable* with a clear reason instead of failing.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from ..errors import ModelUnavailableError, ZooError

LIGHT_MODELS = ("bvlc_alexnet", "densenet121", "inception_v1", "inception_v2", "resnet50", "shufflenet",
                "squeezenet", "vgg19", "zfnet512")


def resolve(path: str) -> object:
    """``'package.module:attr.sub'`` -> the object (import errors propagate)."""
    module_name, _, attr = path.partition(":")
    obj = importlib.import_module(module_name)
    for part in filter(None, attr.split(".")):
        obj = getattr(obj, part)
    return obj


def missing_requirements(requires: Sequence[str]) -> list[str]:
    """The requirements (``module`` or ``module:attribute``) that cannot be imported here."""
    missing = []
    for item in requires:
        try:
            resolve(item)
        except (ImportError, AttributeError):
            missing.append(item)
    return missing


def build(recipe: dict) -> onnx.ModelProto:
    """Run a recipe and return its model.

    Raises
    ------
    ModelUnavailableError
        A requirement of the recipe is missing here.
    ZooError
        The recipe does not return an ``onnx.ModelProto``.
    """
    missing = missing_requirements(recipe.get("requires", []))
    if missing:
        raise ModelUnavailableError(f"recipe {recipe['callable']} needs {', '.join(missing)}, which "
                                    "cannot be imported here")
    model = resolve(recipe["callable"])(**recipe.get("kwargs", {}))
    if not isinstance(model, onnx.ModelProto):
        raise ZooError(f"recipe {recipe['callable']} returned {type(model).__name__}, not an onnx.ModelProto")
    return model


def light_model_path(name: str) -> Path:
    """Path of the onnx wheel's ``light_<name>.onnx`` (the backend suite's light model zoo)."""
    if name not in LIGHT_MODELS:
        raise ZooError(f"unknown light model {name!r}; known: {', '.join(LIGHT_MODELS)}")
    base = Path(onnx.__file__).resolve().parent / "backend" / "test" / "data" / "light"
    path = base / f"light_{name}.onnx"
    if not path.is_file():
        raise ModelUnavailableError(f"the installed onnx {onnx.__version__} has no {path}")
    return path


def onnx_light_model(name: str, randomize: bool = False, seed: int = 0) -> onnx.ModelProto:
    """A model of onnx's light zoo; with ``randomize``, its constant weights become seeded random ones.

    The light models keep the architecture of the classic zoo models but produce every weight
    with ``ConstantOfShape`` (one value everywhere), which hides most numerical errors. With
    ``randomize=True`` each such weight becomes an initializer with seeded values scaled for
    its role (He-normal convolution weights, LeCun-normal Gemm weights, small biases, and
    non-trivial BatchNormalization scale, bias, mean and variance).
    """
    model = onnx.load(str(light_model_path(name)))
    if randomize:
        randomize_constant_weights(model, seed)
        # without BatchNormalization, He-initialised ReLU nets keep the logits near unit scale
        if any(node.op_type == "BatchNormalization" for node in model.graph.node):
            calibrate_logits(model, seed)
    model.producer_name = "gluon_onnx.zoo.recipes"
    return model


# ops through which a positive scale of the weights before them passes unchanged to their output
_HOMOGENEOUS = ("Relu", "Reshape", "Flatten", "GlobalAveragePool", "AveragePool", "MaxPool", "Dropout", "Identity",
                "Squeeze", "Unsqueeze", "Transpose")


def calibrate_logits(model: onnx.ModelProto, seed: int = 0, target_std: float = 2.0) -> float | None:
    """Scale the last weighted layer before each Softmax output so that the logits have ``target_std``.

    Random weights without trained BatchNorm statistics give logits of hundreds, and a
    saturated (one-hot) softmax would hide every numerical error. The logits are measured with
    onnxruntime on seeded N(0, 1) inputs; ReLU and pooling are positively homogeneous, so
    scaling the weight and bias of the last Conv/Gemm scales the logits exactly. Returns the
    factor applied (None when the graph has no such Softmax).
    """
    import onnxruntime as ort  # noqa: PLC0415

    from ..verify import random_inputs  # noqa: PLC0415

    graph = model.graph
    producers = {o: n for n in graph.node for o in n.output}
    outputs = {o.name for o in graph.output}
    softmax = next((n for n in graph.node if n.op_type == "Softmax" and n.output[0] in outputs), None)
    if softmax is None:
        return None
    layer = producers.get(softmax.input[0])
    while layer is not None and layer.op_type in _HOMOGENEOUS:
        layer = producers.get(layer.input[0])
    inits = {t.name: t for t in graph.initializer}
    if layer is None or layer.op_type not in ("Conv", "Gemm") or layer.input[1] not in inits:
        return None
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    probe.graph.output.add().name = softmax.input[0]
    session = ort.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    logits = session.run([softmax.input[0]], random_inputs(model, seed=seed, default_size=1))[0]
    std = float(np.std(logits))
    if not np.isfinite(std) or std == 0:
        return None
    factor = target_std / std
    for name in layer.input[1:3]:
        if name in inits:
            value = numpy_helper.to_array(inits[name]) * factor
            inits[name].CopyFrom(numpy_helper.from_array(value.astype(np.float32), name))
    return factor


def _consumers(graph: onnx.GraphProto) -> dict[str, list[tuple[onnx.NodeProto, int]]]:
    out: dict[str, list[tuple[onnx.NodeProto, int]]] = {}
    for node in graph.node:
        for i, name in enumerate(node.input):
            out.setdefault(name, []).append((node, i))
    return out


def _role(tensor: str, consumers: dict, depth: int = 0) -> tuple[str, onnx.NodeProto | None]:
    """What a weight tensor is used as: conv_w, gemm_w, bias, bn_scale, bn_bias, bn_mean, bn_var, scale, other."""
    for node, index in consumers.get(tensor, []):
        op = node.op_type
        if op in ("Conv", "ConvTranspose") and index == 1:
            return "conv_w", node
        if op == "Gemm" and index == 1:
            return "gemm_w", node
        if op in ("Conv", "ConvTranspose", "Gemm") and index == 2:
            return "bias", node
        if op == "BatchNormalization" and index > 0:
            return ("bn_scale", "bn_bias", "bn_mean", "bn_var")[index - 1], node
        if op == "Mul":
            return "scale", node
        if op in ("Add", "Sum"):
            return "bias", node
        if op in ("Unsqueeze", "Reshape", "Identity", "Cast") and index == 0 and depth < 4:
            return _role(node.output[0], consumers, depth + 1)
    return "other", None


def _random_value(role: str, shape: tuple[int, ...], node: onnx.NodeProto | None,
                  rng: np.random.Generator) -> np.ndarray:
    """float32 values for a weight of ``role``."""

    def normal(std: float, mean: float = 0.0) -> np.ndarray:
        values = rng.standard_normal(shape, dtype=np.float32)
        values *= np.float32(std)
        if mean:
            values += np.float32(mean)
        return values

    if role == "conv_w":
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        return normal(np.sqrt(2.0 / max(fan_in, 1)))
    if role == "gemm_w":
        trans_b = next((a.i for a in node.attribute if a.name == "transB"), 0) if node is not None else 0
        fan_in = shape[-1] if trans_b else shape[0]
        return normal(np.sqrt(1.0 / max(fan_in, 1)))
    if role in ("bn_scale", "scale"):
        return normal(0.1, 1.0)
    if role == "bn_mean":
        return normal(0.2)
    if role == "bn_var":
        return rng.uniform(0.5, 2.0, size=shape).astype(np.float32)
    return normal(0.1)


def randomize_constant_weights(model: onnx.ModelProto, seed: int = 0) -> int:
    """Replace float ``ConstantOfShape`` weights of a static shape by seeded random initializers.

    Returns the number of tensors replaced. The model is changed in place.
    """
    graph = model.graph
    inits = {t.name: t for t in graph.initializer}
    consumers = _consumers(graph)
    rng = np.random.default_rng(seed)
    kept, replaced = [], 0
    new_inits: list[onnx.TensorProto] = []
    for node in graph.node:
        value_attr = next((a for a in node.attribute if a.name == "value"), None)
        dtype = np.float32 if value_attr is None else numpy_helper.to_array(value_attr.t).dtype
        if node.op_type != "ConstantOfShape" or node.input[0] not in inits or dtype.kind != "f":
            kept.append(node)
            continue
        shape = tuple(int(d) for d in numpy_helper.to_array(inits[node.input[0]]).reshape(-1))
        role, consumer = _role(node.output[0], consumers)
        value = _random_value(role, shape, consumer, rng).astype(dtype)
        new_inits.append(numpy_helper.from_array(value, node.output[0]))
        replaced += 1
    used = {name for node in kept for name in node.input}
    outputs = {o.name for o in graph.output}
    del graph.node[:]
    graph.node.extend(kept)
    remaining = [t for t in graph.initializer if t.name in used or t.name in outputs]
    input_names = {vi.name for vi in graph.input}
    dropped = {t.name for t in graph.initializer} - {t.name for t in remaining}
    del graph.initializer[:]
    graph.initializer.extend(remaining + new_inits)
    # IR versions before 4 list every initializer as a graph input too
    keep_inputs = [vi for vi in graph.input if vi.name not in dropped]
    if model.ir_version < 4:
        keep_inputs += [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in new_inits]
    if len(keep_inputs) != len(input_names) or model.ir_version < 4:
        del graph.input[:]
        graph.input.extend(keep_inputs)
    return replaced


def tiny_cnn(**kwargs: object) -> onnx.ModelProto:
    """:func:`gluon_onnx.samples.tiny_cnn` (the model behind ``gluon-onnx demo``)."""
    from ..samples import tiny_cnn as build_tiny_cnn  # noqa: PLC0415

    return build_tiny_cnn(**kwargs)


def gluon_export(model: str, input_shape: Sequence[int], seed: int = 0, opset: int | None = None,
                 model_kwargs: dict | None = None) -> onnx.ModelProto:
    """A Gluon / GluonCV architecture with seeded random weights, exported with ``gluon_onnx.export_block``.

    ``model`` is ``'gluon:NAME'`` (``mxnet.gluon.model_zoo.vision.get_model``) or
    ``'gluoncv:NAME'`` (``gluoncv.model_zoo.get_model``); no pre-trained weights are downloaded.
    """
    import mxnet as mx  # noqa: PLC0415

    import gluon_onnx  # noqa: PLC0415

    export_block = getattr(gluon_onnx, "export_block", None)
    if export_block is None:
        raise ModelUnavailableError("gluon_onnx.export_block is not available in this version")
    zoo_name, _, arch = model.partition(":")
    if zoo_name == "gluon":
        from mxnet.gluon.model_zoo import vision  # noqa: PLC0415

        net = vision.get_model(arch, pretrained=False, **(model_kwargs or {}))
    elif zoo_name == "gluoncv":
        gluoncv = importlib.import_module("gluoncv")
        net = gluoncv.model_zoo.get_model(arch, pretrained=False, **(model_kwargs or {}))
    else:
        raise ZooError(f"model must be 'gluon:NAME' or 'gluoncv:NAME', not {model!r}")
    mx.random.seed(seed)
    np.random.seed(seed)
    net.initialize(mx.init.Xavier(magnitude=2.0), ctx=mx.cpu())
    x = mx.nd.array(np.random.default_rng(seed).standard_normal(tuple(input_shape)).astype(np.float32))
    net(x)
    kwargs = {} if opset is None else {"opset": opset}
    exported = export_block(net, x, **kwargs)
    if isinstance(exported, (bytes, bytearray)):
        exported = onnx.load_model_from_string(bytes(exported))
    return exported
