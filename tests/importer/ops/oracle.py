"""Check one ONNX graph through gluon_onnx against onnxruntime / the onnx reference implementation,
imperative and hybridized."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import onnx
from onnx import helper

from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend


def make_model(nodes: Sequence[onnx.NodeProto], inputs: Sequence[onnx.ValueInfoProto],
               outputs: Sequence[onnx.ValueInfoProto], initializers: Sequence[onnx.TensorProto] = (),
               opset: int = 17) -> onnx.ModelProto:
    graph = helper.make_graph(list(nodes), "test", list(inputs), list(outputs), list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8 if opset <= 17 else 10
    return model


def reference_outputs(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """onnxruntime when it can run the model, else the onnx reference implementation."""
    try:
        import onnxruntime as ort

        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        return session.run(None, dict(feeds))
    except Exception:  # noqa: BLE001 - fall back to the reference implementation
        from onnx.reference import ReferenceEvaluator

        return ReferenceEvaluator(model).run(None, dict(feeds))


def check_model(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *, rtol: float = 1e-5,
                atol: float = 1e-6, modes: Sequence[str] = ("imperative", "hybridized"),
                expected: Sequence[np.ndarray] | None = None) -> None:
    """Assert gluon_onnx reproduces the reference outputs in every mode."""
    refs = list(expected) if expected is not None else reference_outputs(model, feeds)
    backends = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}
    for mode in modes:
        rep = backends[mode].prepare(model, "CPU")
        inputs = [feeds[name] for name in rep.block.input_names]
        outs = rep.run(inputs)
        assert len(outs) == len(refs)
        for ours, ref in zip(outs, refs):
            assert ours.shape == ref.shape, f"{mode}: shape {ours.shape} != {ref.shape}"
            assert ours.dtype == ref.dtype, f"{mode}: dtype {ours.dtype} != {ref.dtype}"
            np.testing.assert_allclose(ours, ref, rtol=rtol, atol=atol, err_msg=mode)
