"""The 9 model-zoo architectures shipped in the onnx wheel, with real numerics.

The shipped 'light' graphs make every weight with ConstantOfShape, so all activations are
uniform and the official suite cannot tell a wrong convolution from a right one. Here each
weight becomes a seeded random initializer (He-scaled; BatchNorm statistics non-trivial) and
the outputs before and after the final softmax are compared with onnxruntime, imperative and
hybridized, relative to the output scale.
"""

from __future__ import annotations

import glob
import os

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import gluon_onnx
from gluon_onnx.backend import to_nd
from gluon_onnx.verify import compare_with_onnxruntime

LIGHT_DIR = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")
LIGHT_MODELS = sorted(glob.glob(os.path.join(LIGHT_DIR, "light_*.onnx")))


def randomize_weights(model: onnx.ModelProto, seed: int = 0) -> onnx.ModelProto:
    """Replace every ConstantOfShape-built weight by a seeded random initializer."""
    rng = np.random.default_rng(seed)
    graph = model.graph
    shapes = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    roles = {}  # BatchNormalization inputs by position: scale, bias, mean, var
    for node in graph.node:
        if node.op_type == "BatchNormalization":
            roles.update(zip(node.input[1:5], ("scale", "bias", "mean", "var")))
    kept_nodes = []
    new_inits = []
    for node in graph.node:
        if node.op_type != "ConstantOfShape" or node.input[0] not in shapes:
            kept_nodes.append(node)
            continue
        shape = tuple(int(d) for d in shapes[node.input[0]])
        role = roles.get(node.output[0])
        if role == "mean":
            value = 0.2 * rng.standard_normal(shape)
        elif role == "var":
            value = rng.uniform(0.5, 2.0, shape)
        elif role == "scale":
            value = 1 + 0.1 * rng.standard_normal(shape)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            value = rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)
        else:
            value = 0.05 * rng.standard_normal(shape)
        new_inits.append(numpy_helper.from_array(value.astype(np.float32), node.output[0]))
    out = onnx.ModelProto()
    out.CopyFrom(model)
    del out.graph.node[:]
    out.graph.node.extend(kept_nodes)
    out.graph.initializer.extend(new_inits)
    return out


def _pre_softmax(model: onnx.ModelProto) -> str | None:
    producer = {o: n for n in model.graph.node for o in n.output}
    last = producer.get(model.graph.output[0].name)
    return last.input[0] if last is not None and last.op_type == "Softmax" else None


@pytest.mark.parametrize("path", LIGHT_MODELS, ids=[os.path.basename(p)[6:-5] for p in LIGHT_MODELS])
def test_light_model_with_random_weights_matches_onnxruntime(path):
    model = randomize_weights(onnx.load(path))
    inits = {t.name for t in model.graph.initializer}
    real_inputs = [i for i in model.graph.input if i.name not in inits]
    rng = np.random.default_rng(1)
    feeds = {}
    for vi in real_inputs:
        shape = [d.dim_value for d in vi.type.tensor_type.shape.dim]
        feeds[vi.name] = rng.standard_normal(shape).astype(np.float32)
    outputs = [o.name for o in model.graph.output]
    logits = _pre_softmax(model)
    if logits is not None:
        outputs = [logits] + outputs
        model.graph.output.insert(0, onnx.helper.make_empty_tensor_value_info(logits))
    net = gluon_onnx.load_block(model, outputs=outputs)
    results = compare_with_onnxruntime(net, model, feeds, rtol=1e-4)
    for comparison in results:
        for out in comparison.outputs:
            assert out.ok, f"{comparison.mode} {out.name}: max_rel={out.max_rel:.2e}"
    # the comparison is meaningful: outputs are not uniform
    ref = net(*[to_nd(feeds[n], mx.cpu()) for n in net.input_names])
    first = (ref[0] if isinstance(ref, tuple) else ref).asnumpy()
    assert first.std() > 1e-3 * (np.abs(first).max() + 1e-12)
