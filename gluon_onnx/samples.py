"""ONNX models built locally and reproducibly (seeded weights), for demos, tests and benchmarks.

They need no download and follow the node patterns real exporters emit (PyTorch/torchvision
at opset 17: ``/layer1/0/conv1/Conv`` names, shapes computed with Shape -> Gather -> Concat ->
Reshape, a free batch dimension ``N``):

* :func:`tiny_cnn` - a small residual CNN (the model behind ``gluon-onnx demo``),
* :func:`resnet` - torchvision ResNet-18/34/50/101 (BatchNorm kept or folded into Conv),
* :func:`mobilenet_v2` - torchvision MobileNetV2,
* :func:`bert_encoder` - a BERT-style transformer encoder (dynamic batch and sequence length),
* :func:`lstm_classifier` - embedding, (bidirectional) LSTM and a linear classifier.

Weights are random but well scaled, and BatchNorm running statistics are non-trivial, so
every layer really contributes to the outputs.
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    """Accumulates nodes and seeded initializers of one graph."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._consts: dict[tuple, str] = {}

    def weight(self, name: str, shape: tuple[int, ...], scale: float | None = None) -> str:
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else shape[0]
        scale = scale if scale is not None else (2.0 / max(fan_in, 1)) ** 0.5
        return self.tensor(name, (self.rng.standard_normal(shape) * scale).astype(np.float32))

    def tensor(self, name: str, value: np.ndarray) -> str:
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def const(self, value: object, dtype: type = np.int64) -> str:
        """A shared small constant initializer (axes, shapes, scalars)."""
        array = np.asarray(value, dtype=dtype)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self._consts:
            self._consts[key] = self.tensor(f"onnx::Constant_{len(self._consts)}", array)
        return self._consts[key]

    def node(self, op: str, inputs: list[str], name: str, n_out: int = 1, **attrs: object) -> list[str]:
        outputs = [f"{name}_output_{i}" for i in range(n_out)]
        self.nodes.append(helper.make_node(op, inputs, outputs, name=name, **attrs))
        return outputs

    def op(self, op: str, inputs: list[str], name: str, **attrs: object) -> str:
        return self.node(op, inputs, name, 1, **attrs)[0]

    def batchnorm(self, x: str, prefix: str, channels: int) -> str:
        gamma = self.tensor(f"{prefix}.weight", (1 + 0.1 * self.rng.standard_normal(channels)).astype(np.float32))
        beta = self.tensor(f"{prefix}.bias", (0.1 * self.rng.standard_normal(channels)).astype(np.float32))
        mean = self.tensor(f"{prefix}.running_mean", (0.2 * self.rng.standard_normal(channels)).astype(np.float32))
        var = self.tensor(f"{prefix}.running_var", self.rng.uniform(0.5, 2.0, channels).astype(np.float32))
        path = f"/{prefix.replace('.', '/')}/BatchNormalization"
        return self.op("BatchNormalization", [x, gamma, beta, mean, var], path, epsilon=1e-5, momentum=0.9)

    def conv(self, x: str, prefix: str, c_in: int, c_out: int, kernel: int, stride: int = 1, groups: int = 1,
             bn: bool = True, fold_bn: bool = False, bias: bool = False) -> str:
        """Conv (+ BatchNorm, or BatchNorm folded into the Conv weights as torch.onnx does)."""
        shape = (c_out, c_in // groups, kernel, kernel)
        w_name = f"{prefix}.weight"
        scale = (2.0 / (c_in // groups * kernel * kernel)) ** 0.5
        w = (self.rng.standard_normal(shape) * scale).astype(np.float32)
        pads = [kernel // 2] * 4
        attrs = dict(kernel_shape=[kernel, kernel], pads=pads, strides=[stride, stride], group=groups,
                     dilations=[1, 1])
        node_name = f"/{prefix.replace('.', '/')}/Conv"
        if bn and fold_bn:
            gamma = 1 + 0.1 * self.rng.standard_normal(c_out)
            beta = 0.1 * self.rng.standard_normal(c_out)
            mean = 0.2 * self.rng.standard_normal(c_out)
            var = self.rng.uniform(0.5, 2.0, c_out)
            factor = gamma / np.sqrt(var + 1e-5)
            w = (w * factor[:, None, None, None]).astype(np.float32)
            b = (beta - mean * factor).astype(np.float32)
            return self.op("Conv", [x, self.tensor(w_name, w), self.tensor(f"{prefix}.bias", b)], node_name, **attrs)
        inputs = [x, self.tensor(w_name, w)]
        if bias:
            inputs.append(self.tensor(f"{prefix}.bias", (0.1 * self.rng.standard_normal(c_out)).astype(np.float32)))
        y = self.op("Conv", inputs, node_name, **attrs)
        if bn:
            y = self.batchnorm(y, prefix.replace("conv", "bn") if "conv" in prefix else prefix + ".bn", c_out)
        return y

    def linear(self, x: str, prefix: str, d_in: int, d_out: int, gemm: bool = False) -> str:
        """PyTorch nn.Linear: Gemm(transB=1) on 2-D inputs, MatMul + Add otherwise."""
        bias = self.tensor(f"{prefix}.bias", (0.02 * self.rng.standard_normal(d_out)).astype(np.float32))
        path = f"/{prefix.replace('.', '/')}"
        if gemm:
            w = self.weight(f"{prefix}.weight", (d_out, d_in))
            return self.op("Gemm", [x, w, bias], f"{path}/Gemm", alpha=1.0, beta=1.0, transB=1)
        w = self.tensor(f"onnx::MatMul_{prefix}", (self.rng.standard_normal((d_in, d_out)) / math.sqrt(d_in))
                        .astype(np.float32))
        y = self.op("MatMul", [x, w], f"{path}/MatMul")
        return self.op("Add", [bias, y], f"{path}/Add")

    def flatten_batch(self, x: str, prefix: str) -> str:
        """``x.view(x.size(0), -1)`` as torch.onnx exports it."""
        shape = self.op("Shape", [x], f"{prefix}/Shape")
        batch = self.op("Gather", [shape, self.const(0)], f"{prefix}/Gather", axis=0)
        batch1 = self.op("Unsqueeze", [batch, self.const([0])], f"{prefix}/Unsqueeze")
        target = self.op("Concat", [batch1, self.const([-1])], f"{prefix}/Concat", axis=0)
        return self.op("Reshape", [x, target], f"{prefix}/Reshape")

    def model(self, name: str, inputs: list[onnx.ValueInfoProto], outputs: list[onnx.ValueInfoProto],
              opset: int = 17) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                                  producer_name="gluon_onnx.samples")
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


def _rename_output(builder: GraphBuilder, tensor: str, name: str) -> str:
    for node in builder.nodes:
        for i, out in enumerate(node.output):
            if out == tensor:
                node.output[i] = name
    return name


def tiny_cnn(seed: int = 0, num_classes: int = 10, channels: int = 16, opset: int = 17,
             image_size: int = 32, in_channels: int = 3) -> onnx.ModelProto:
    """A small residual CNN (dynamic batch).

    Input ``input`` (N, in_channels, image_size, image_size); outputs ``logits`` and
    ``probabilities`` (N, classes). Uses Conv, BatchNormalization, Relu, MaxPool, Add,
    GlobalAveragePool, Shape/Gather/Unsqueeze/Concat/Reshape, Gemm and Softmax. The flattened
    features are the tensor ``/Reshape`` (cut there for feature extraction).
    """
    g = GraphBuilder(seed)
    c = channels

    def conv_bn(x: str, name: str, c_in: int, c_out: int, stride: int = 1, relu: bool = True) -> str:
        w = g.weight(f"{name}.weight", (c_out, c_in, 3, 3))
        y = g.op("Conv", [x, w], f"/{name}/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[stride, stride])
        y = g.batchnorm(y, f"{name}.bn", c_out)
        return g.op("Relu", [y], f"/{name}/Relu") if relu else y

    x = conv_bn("input", "stem", in_channels, c)
    x = g.op("MaxPool", [x], "/pool/MaxPool", kernel_shape=[2, 2], strides=[2, 2])
    y = conv_bn(x, "block1.conv1", c, c)
    y = conv_bn(y, "block1.conv2", c, c, relu=False)
    x = g.op("Relu", [g.op("Add", [x, y], "/block1/Add")], "/block1/Relu")
    x = conv_bn(x, "block2.conv1", c, 2 * c, stride=2)
    x = g.op("GlobalAveragePool", [x], "/pool/GlobalAveragePool")
    x = _rename_output(g, g.flatten_batch(x, ""), "/Reshape")
    w = g.weight("fc.weight", (num_classes, 2 * c))
    b = g.tensor("fc.bias", (0.1 * g.rng.standard_normal(num_classes)).astype(np.float32))
    logits = _rename_output(g, g.op("Gemm", [x, w, b], "/fc/Gemm", transB=1), "logits")
    probs = _rename_output(g, g.op("Softmax", [logits], "/Softmax", axis=1), "probabilities")
    return g.model(
        "tiny_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", in_channels, image_size, image_size])],
        [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["N", num_classes]),
         helper.make_tensor_value_info(probs, TensorProto.FLOAT, ["N", num_classes])],
        opset,
    )


_RESNET_LAYERS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def resnet(depth: int = 50, seed: int = 0, num_classes: int = 1000, image_size: int = 224,
           fold_bn: bool = False, width: int = 64, opset: int = 17) -> onnx.ModelProto:
    """torchvision ResNet (v1.5: stride on the 3x3 convolution) as torch.onnx exports it.

    ``fold_bn=True`` folds BatchNorm into the convolutions, as ``torch.onnx.export`` does for
    eval-mode models; ``fold_bn=False`` keeps BatchNormalization nodes with non-trivial running
    statistics. Input ``input`` (N, 3, H, W), output ``output`` (N, num_classes).
    """
    g = GraphBuilder(seed)
    bottleneck = depth >= 50
    expansion = 4 if bottleneck else 1

    def conv(x: str, prefix: str, c_in: int, c_out: int, k: int, s: int = 1) -> str:
        return g.conv(x, prefix, c_in, c_out, k, s, bn=True, fold_bn=fold_bn)

    x = conv("input", "conv1", 3, width, 7, 2)
    x = g.op("Relu", [x], "/relu/Relu")
    x = g.op("MaxPool", [x], "/maxpool/MaxPool", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2],
             ceil_mode=0, dilations=[1, 1])
    c_in = width
    for stage, blocks in enumerate(_RESNET_LAYERS[depth]):
        planes = width * 2 ** stage
        for block in range(blocks):
            prefix = f"layer{stage + 1}.{block}"
            stride = 2 if block == 0 and stage > 0 else 1
            identity = x
            if bottleneck:
                y = g.op("Relu", [conv(x, f"{prefix}.conv1", c_in, planes, 1)],
                         f"/{prefix.replace('.', '/')}/relu/Relu")
                y = g.op("Relu", [conv(y, f"{prefix}.conv2", planes, planes, 3, stride)],
                         f"/{prefix.replace('.', '/')}/relu_1/Relu")
                y = conv(y, f"{prefix}.conv3", planes, planes * expansion, 1)
            else:
                y = g.op("Relu", [conv(x, f"{prefix}.conv1", c_in, planes, 3, stride)],
                         f"/{prefix.replace('.', '/')}/relu/Relu")
                y = conv(y, f"{prefix}.conv2", planes, planes, 3)
            if stride != 1 or c_in != planes * expansion:
                identity = conv(x, f"{prefix}.downsample.0", c_in, planes * expansion, 1, stride)
            x = g.op("Relu", [g.op("Add", [y, identity], f"/{prefix.replace('.', '/')}/Add")],
                     f"/{prefix.replace('.', '/')}/relu_2/Relu")
            c_in = planes * expansion
    x = g.op("GlobalAveragePool", [x], "/avgpool/GlobalAveragePool")
    x = g.op("Flatten", [x], "/Flatten", axis=1)
    out = _rename_output(g, g.linear(x, "fc", c_in, num_classes, gemm=True), "output")
    return g.model(
        f"resnet{depth}",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", num_classes])],
        opset,
    )


def mobilenet_v2(seed: int = 0, num_classes: int = 1000, image_size: int = 224, fold_bn: bool = True,
                 opset: int = 17) -> onnx.ModelProto:
    """torchvision MobileNetV2 (ReLU6 as Clip(0, 6)); BatchNorm folded by default, as exported."""
    g = GraphBuilder(seed)
    zero, six = g.const(0.0, np.float32), g.const(6.0, np.float32)

    def conv_relu6(x: str, prefix: str, c_in: int, c_out: int, k: int, s: int = 1, groups: int = 1) -> str:
        y = g.conv(x, prefix, c_in, c_out, k, s, groups=groups, bn=True, fold_bn=fold_bn)
        return g.op("Clip", [y, zero, six], f"/{prefix.replace('.', '/')}/Clip")

    settings = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
                (6, 320, 1, 1)]
    x = conv_relu6("input", "features.0.0", 3, 32, 3, 2)
    c_in, index = 32, 1
    for t, c, n, s in settings:
        for i in range(n):
            stride = s if i == 0 else 1
            prefix = f"features.{index}.conv"
            hidden = c_in * t
            y = x
            part = 0
            if t != 1:
                y = conv_relu6(y, f"{prefix}.{part}.0", c_in, hidden, 1)
                part += 1
            y = conv_relu6(y, f"{prefix}.{part}.0", hidden, hidden, 3, stride, groups=hidden)
            y = g.conv(y, f"{prefix}.{part + 1}", hidden, c, 1, bn=True, fold_bn=fold_bn)
            if stride == 1 and c_in == c:
                y = g.op("Add", [x, y], f"/features/{index}/Add")
            x, c_in, index = y, c, index + 1
    x = conv_relu6(x, f"features.{index}.0", c_in, 1280, 1)
    x = g.op("GlobalAveragePool", [x], "/GlobalAveragePool")
    x = g.op("Flatten", [x], "/Flatten", axis=1)
    out = _rename_output(g, g.linear(x, "classifier.1", 1280, num_classes, gemm=True), "output")
    return g.model(
        "mobilenet_v2",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, image_size, image_size])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", num_classes])],
        opset,
    )


def bert_encoder(layers: int = 12, hidden: int = 768, heads: int = 12, intermediate: int = 3072,
                 vocab: int = 30522, max_positions: int = 512, seed: int = 0, opset: int = 17,
                 fused_layernorm: bool = True) -> onnx.ModelProto:
    """A BERT-style encoder as torch.onnx exports Hugging Face BertModel (opset 17).

    Inputs ``input_ids`` and ``attention_mask`` (N, S) int64 with free N and S; outputs
    ``last_hidden_state`` (N, S, hidden) and ``pooler_output`` (N, hidden). Head split/merge
    reshapes use shapes computed in the graph; GELU is the exact Erf form; the attention mask
    becomes an additive (1 - mask) * min_float bias. ``fused_layernorm=False`` decomposes
    LayerNorm into ReduceMean/Sub/Pow/Sqrt/Div as older exporters do.
    """
    g = GraphBuilder(seed)
    head_dim = hidden // heads
    word = g.tensor("embeddings.word_embeddings.weight",
                    (0.02 * g.rng.standard_normal((vocab, hidden))).astype(np.float32))
    pos = g.tensor("embeddings.position_embeddings.weight",
                   (0.02 * g.rng.standard_normal((max_positions, hidden))).astype(np.float32))
    position_ids = g.tensor("embeddings.position_ids", np.arange(max_positions, dtype=np.int64)[None, :])

    def layer_norm(x: str, prefix: str) -> str:
        gamma = g.tensor(f"{prefix}.weight", (1 + 0.05 * g.rng.standard_normal(hidden)).astype(np.float32))
        beta = g.tensor(f"{prefix}.bias", (0.02 * g.rng.standard_normal(hidden)).astype(np.float32))
        path = f"/{prefix.replace('.', '/')}"
        if fused_layernorm:
            return g.op("LayerNormalization", [x, gamma, beta], f"{path}/LayerNormalization", axis=-1, epsilon=1e-12)
        mean = g.op("ReduceMean", [x], f"{path}/ReduceMean", axes=[-1])
        centered = g.op("Sub", [x, mean], f"{path}/Sub")
        var = g.op("ReduceMean", [g.op("Pow", [centered, g.const(2.0, np.float32)], f"{path}/Pow")],
                   f"{path}/ReduceMean_1", axes=[-1])
        std = g.op("Sqrt", [g.op("Add", [var, g.const(1e-12, np.float32)], f"{path}/Add")], f"{path}/Sqrt")
        normed = g.op("Div", [centered, std], f"{path}/Div")
        return g.op("Add", [g.op("Mul", [normed, gamma], f"{path}/Mul"), beta], f"{path}/Add_1")

    ids_shape = g.op("Shape", ["input_ids"], "/embeddings/Shape")
    seq = g.op("Gather", [ids_shape, g.const(1)], "/embeddings/Gather", axis=0)
    seq1 = g.op("Unsqueeze", [seq, g.const([0])], "/embeddings/Unsqueeze")
    pos_ids = g.op("Slice", [position_ids, g.const([0]), seq1, g.const([1]), g.const([1])], "/embeddings/Slice")
    x = g.op("Add", [g.op("Gather", [word, "input_ids"], "/embeddings/word_embeddings/Gather"),
                     g.op("Gather", [pos, pos_ids], "/embeddings/position_embeddings/Gather")], "/embeddings/Add")
    x = layer_norm(x, "embeddings.LayerNorm")

    mask = g.op("Unsqueeze", ["attention_mask", g.const([1, 2])], "/Unsqueeze")
    mask = g.op("Cast", [mask], "/Cast", to=TensorProto.FLOAT)
    mask = g.op("Sub", [g.const(1.0, np.float32), mask], "/Sub")
    bias = g.op("Mul", [mask, g.const(np.finfo(np.float32).min, np.float32)], "/Mul")

    def split_heads(t: str, path: str) -> str:
        shape = g.op("Shape", [t], f"{path}/Shape")
        n = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(0)], f"{path}/Gather", axis=0), g.const([0])],
                 f"{path}/Unsqueeze")
        s = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(1)], f"{path}/Gather_1", axis=0), g.const([0])],
                 f"{path}/Unsqueeze_1")
        target = g.op("Concat", [n, s, g.const([heads]), g.const([head_dim])], f"{path}/Concat", axis=0)
        return g.op("Transpose", [g.op("Reshape", [t, target], f"{path}/Reshape")], f"{path}/Transpose",
                    perm=[0, 2, 1, 3])

    for i in range(layers):
        p = f"encoder.layer.{i}"
        path = f"/encoder/layer.{i}"
        q = split_heads(g.linear(x, f"{p}.attention.self.query", hidden, hidden), f"{path}/q")
        k = split_heads(g.linear(x, f"{p}.attention.self.key", hidden, hidden), f"{path}/k")
        v = split_heads(g.linear(x, f"{p}.attention.self.value", hidden, hidden), f"{path}/v")
        kt = g.op("Transpose", [k], f"{path}/Transpose_k", perm=[0, 1, 3, 2])
        scores = g.op("MatMul", [q, kt], f"{path}/MatMul")
        scores = g.op("Div", [scores, g.const(math.sqrt(head_dim), np.float32)], f"{path}/Div")
        scores = g.op("Add", [scores, bias], f"{path}/Add")
        probs = g.op("Softmax", [scores], f"{path}/Softmax", axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [probs, v], f"{path}/MatMul_1")], f"{path}/Transpose",
                   perm=[0, 2, 1, 3])
        shape = g.op("Shape", [ctx], f"{path}/Shape")
        n = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(0)], f"{path}/Gather", axis=0), g.const([0])],
                 f"{path}/Unsqueeze")
        s = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(1)], f"{path}/Gather_1", axis=0), g.const([0])],
                 f"{path}/Unsqueeze_1")
        target = g.op("Concat", [n, s, g.const([hidden])], f"{path}/Concat", axis=0)
        ctx = g.op("Reshape", [ctx, target], f"{path}/Reshape")
        attn = g.linear(ctx, f"{p}.attention.output.dense", hidden, hidden)
        x = layer_norm(g.op("Add", [attn, x], f"{path}/attention/output/Add"), f"{p}.attention.output.LayerNorm")
        h = g.linear(x, f"{p}.intermediate.dense", hidden, intermediate)
        erf = g.op("Erf", [g.op("Div", [h, g.const(math.sqrt(2.0), np.float32)], f"{path}/gelu/Div")],
                   f"{path}/gelu/Erf")
        gelu = g.op("Mul", [g.op("Mul", [h, g.op("Add", [erf, g.const(1.0, np.float32)], f"{path}/gelu/Add")],
                                 f"{path}/gelu/Mul"), g.const(0.5, np.float32)], f"{path}/gelu/Mul_1")
        out = g.linear(gelu, f"{p}.output.dense", intermediate, hidden)
        x = layer_norm(g.op("Add", [out, x], f"{path}/output/Add"), f"{p}.output.LayerNorm")
    last = _rename_output(g, x, "last_hidden_state")
    first = g.op("Gather", [last, g.const(0)], "/pooler/Gather", axis=1)
    pooled = g.op("Tanh", [g.linear(first, "pooler.dense", hidden, hidden, gemm=True)], "/pooler/activation/Tanh")
    pooled = _rename_output(g, pooled, "pooler_output")
    return g.model(
        "bert_encoder",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["N", "S"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["N", "S"])],
        [helper.make_tensor_value_info(last, TensorProto.FLOAT, ["N", "S", hidden]),
         helper.make_tensor_value_info(pooled, TensorProto.FLOAT, ["N", hidden])],
        opset,
    )


def lstm_classifier(vocab: int = 10000, embed: int = 128, hidden: int = 256, num_classes: int = 5,
                    bidirectional: bool = True, seed: int = 0, opset: int = 17) -> onnx.ModelProto:
    """Embedding -> LSTM -> last hidden state(s) -> linear, as torch.onnx exports it.

    Input ``tokens`` (S, N) int64 (sequence-first, free S and N); output ``logits`` (N, classes).
    ONNX LSTM gate order i, o, f, c; weights W (dirs, 4H, E), R (dirs, 4H, H), B (dirs, 8H).
    """
    g = GraphBuilder(seed)
    dirs = 2 if bidirectional else 1
    emb = g.tensor("embedding.weight", (0.1 * g.rng.standard_normal((vocab, embed))).astype(np.float32))
    x = g.op("Gather", [emb, "tokens"], "/embedding/Gather")
    bound = 1 / math.sqrt(hidden)
    w = g.tensor("onnx::LSTM_W", g.rng.uniform(-bound, bound, (dirs, 4 * hidden, embed)).astype(np.float32))
    r = g.tensor("onnx::LSTM_R", g.rng.uniform(-bound, bound, (dirs, 4 * hidden, hidden)).astype(np.float32))
    b = g.tensor("onnx::LSTM_B", g.rng.uniform(-bound, bound, (dirs, 8 * hidden)).astype(np.float32))
    _, y_h, _ = g.node("LSTM", [x, w, r, b], "/lstm/LSTM", 3, hidden_size=hidden,
                       direction="bidirectional" if bidirectional else "forward")
    h = g.op("Transpose", [y_h], "/Transpose", perm=[1, 0, 2])
    h = g.flatten_batch(h, "/flatten")
    out = _rename_output(g, g.linear(h, "fc", dirs * hidden, num_classes, gemm=True), "logits")
    return g.model(
        "lstm_classifier",
        [helper.make_tensor_value_info("tokens", TensorProto.INT64, ["S", "N"])],
        [helper.make_tensor_value_info(out, TensorProto.FLOAT, ["N", num_classes])],
        opset,
    )
