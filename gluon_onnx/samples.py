"""Small ONNX models built locally and reproducibly (seeded weights), for demos and tests.

They need no download: :func:`tiny_cnn` is the model behind ``gluon-onnx demo``.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class _GraphBuilder:
    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def weight(self, name: str, shape: tuple[int, ...], scale: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        scale = scale if scale is not None else (2.0 / max(fan_in, 1)) ** 0.5
        value = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def const(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def node(self, op: str, inputs: list[str], name: str, n_out: int = 1, **attrs: object) -> list[str]:
        outputs = [f"{name}" if n_out == 1 else f"{name}:{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs

    def conv_bn_relu(self, x: str, name: str, c_in: int, c_out: int, stride: int = 1, relu: bool = True) -> str:
        w = self.weight(f"{name}.weight", (c_out, c_in, 3, 3))
        (y,) = self.node("Conv", [x, w], f"/{name}/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                         strides=[stride, stride])
        # non-trivial running statistics so BatchNorm is really exercised
        gamma = self.const(f"{name}.bn.weight", (1 + 0.1 * self.rng.standard_normal(c_out)).astype(np.float32))
        beta = self.const(f"{name}.bn.bias", (0.1 * self.rng.standard_normal(c_out)).astype(np.float32))
        mean = self.const(f"{name}.bn.running_mean", (0.2 * self.rng.standard_normal(c_out)).astype(np.float32))
        var = self.const(f"{name}.bn.running_var", self.rng.uniform(0.5, 2.0, c_out).astype(np.float32))
        (y,) = self.node("BatchNormalization", [y, gamma, beta, mean, var], f"/{name}/BatchNormalization",
                         epsilon=1e-5)
        if relu:
            (y,) = self.node("Relu", [y], f"/{name}/Relu")
        return y


def tiny_cnn(seed: int = 0, num_classes: int = 10, channels: int = 16, opset: int = 17,
             image_size: int = 32, in_channels: int = 3) -> onnx.ModelProto:
    """A small residual CNN in the style of a torchvision export (dynamic batch, opset 17).

    Input ``input`` of shape (N, in_channels, image_size, image_size); outputs ``logits`` (N, classes)
    and ``probabilities``. Uses Conv, BatchNormalization, Relu, MaxPool, Add,
    GlobalAveragePool, Shape/Gather/Concat/Reshape (a shape computed in the graph), Gemm and
    Softmax.
    """
    g = _GraphBuilder(seed)
    c = channels
    x = g.conv_bn_relu("input", "stem", in_channels, c)
    (x,) = g.node("MaxPool", [x], "/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    y = g.conv_bn_relu(x, "block1.conv1", c, c)
    y = g.conv_bn_relu(y, "block1.conv2", c, c, relu=False)
    (x,) = g.node("Add", [x, y], "/block1/Add")
    (x,) = g.node("Relu", [x], "/block1/Relu")
    x = g.conv_bn_relu(x, "block2.conv1", c, 2 * c, stride=2)
    (x,) = g.node("GlobalAveragePool", [x], "/pool/GlobalAveragePool")
    # x.view(x.size(0), -1) as PyTorch exports it
    (shape,) = g.node("Shape", [x], "/Shape")
    (batch,) = g.node("Gather", [shape, g.const("zero", np.array(0, np.int64))], "/Gather", axis=0)
    (batch1,) = g.node("Unsqueeze", [batch, g.const("axes0", np.array([0], np.int64))], "/Unsqueeze")
    (target,) = g.node("Concat", [batch1, g.const("minus_one", np.array([-1], np.int64))], "/Concat", axis=0)
    (x,) = g.node("Reshape", [x, target], "/Reshape")
    w = g.weight("fc.weight", (num_classes, 2 * c))
    b = g.const("fc.bias", (0.1 * g.rng.standard_normal(num_classes)).astype(np.float32))
    (logits,) = g.node("Gemm", [x, w, b], "logits", transB=1)
    (probs,) = g.node("Softmax", [logits], "probabilities", axis=1)
    graph = helper.make_graph(
        g.nodes,
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_channels, image_size, image_size])],
        [
            helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["N", num_classes]),
            helper.make_tensor_value_info(probs, TensorProto.FLOAT, ["N", num_classes]),
        ],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="gluon_onnx.samples")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
