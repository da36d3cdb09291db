"""Differential property test: random small valid graphs, gluon_onnx (imperative AND hybridized)
against onnxruntime.

``graphs.random_graphs`` chains operators within their specs (see its docstring). A silent
mismatch fails the test; hypothesis shrinks it and the minimal model plus its inputs are written
to the artifacts folder (``$GLUON_ONNX_FUZZ_ARTIFACTS``, by default ``<tmp>/gluon_onnx_fuzz``),
whose path the failure prints. gluon_onnx runs in the crash-isolated worker process.

A long run::

    GLUON_ONNX_DIFF_EXAMPLES=2000 GLUON_ONNX_FUZZ_SEED=1 python -m pytest tests/hostile/test_differential.py
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("hypothesis")
pytest.importorskip("onnxruntime")
from hypothesis import HealthCheck, given, reject, seed, settings  # noqa: E402

from .graphs import random_graphs  # noqa: E402
from .harness import WorkerFailure, artifacts_dir, env_int, save_artifact, shared_worker  # noqa: E402

EXAMPLES = env_int("GLUON_ONNX_DIFF_EXAMPLES", 150)
RTOL = 1e-3


def _onnxruntime(model_bytes: bytes, feeds: dict) -> list[np.ndarray]:
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def _mismatch(ours: np.ndarray, ref: np.ndarray) -> str | None:
    ours, ref = np.asarray(ours), np.asarray(ref)
    if ours.shape != ref.shape:
        return f"shape {ours.shape} instead of {ref.shape}"
    if ref.dtype.kind in "iub":
        bad = np.asarray(ours).astype(np.int64) != ref.astype(np.int64)
        return f"{int(bad.sum())} of {ref.size} integer values differ" if bad.any() else None
    ref64, ours64 = ref.astype(np.float64), ours.astype(np.float64)
    if not np.array_equal(np.isnan(ref64), np.isnan(ours64)):
        return "NaN in different places"
    finite = ~np.isnan(ref64)
    scale = max(1.0, float(np.max(np.abs(ref64[finite]), initial=0.0)))
    tolerance = (1e-2 if ref.dtype == np.float16 else RTOL) * scale
    error = np.abs(ref64[finite] - ours64[finite])
    if error.size and float(error.max()) > tolerance:
        return f"max |error| {float(error.max()):.3g} > {tolerance:.3g} (scale {scale:.3g})"
    return None


def _save(model_bytes: bytes, feeds: dict, label: str) -> str:
    path = save_artifact(model_bytes, label)
    np.savez(path.with_suffix(".inputs.npz"), **feeds)
    return f"{path} (inputs: {path.with_suffix('.inputs.npz')})"


COUNTS = {"graphs": 0}


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          derandomize="GLUON_ONNX_FUZZ_SEED" not in os.environ and "GLUON_ONNX_DIFF_EXAMPLES" not in os.environ,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much])
@seed(env_int("GLUON_ONNX_FUZZ_SEED", 0))
@given(case=random_graphs())
def test_random_graphs_match_onnxruntime(case):
    model, feeds = case
    data = model.SerializeToString()
    try:
        expected = _onnxruntime(data, feeds)
    except Exception as exc:  # noqa: BLE001 - onnxruntime lacks some kernels (e.g. Erf of doubles)
        if "NOT_IMPLEMENTED" in str(exc):
            reject()
        raise
    inputs = [feeds[vi.name] for vi in model.graph.input]
    try:
        reply = shared_worker().request({"model": data, "inputs": inputs, "hybridize": True,
                                         "return_outputs": True})
    except WorkerFailure as failure:
        saved = _save(data, feeds, "diff-" + failure.kind)
        pytest.fail(f"the worker {failure.kind}ed on a valid graph; saved to {saved}\n{failure}", pytrace=False)
    if reply["status"] != "ok":
        pytest.fail(f"a valid graph was refused: {reply.get('exc_type')} in {reply.get('phase')}: "
                    f"{reply.get('trace') or reply.get('message')}\nsaved to {_save(data, feeds, 'diff-refused')}",
                    pytrace=False)
    COUNTS["graphs"] += 1
    for mode, outputs in reply["outputs"].items():
        for vi, ours, ref in zip(model.graph.output, outputs, expected):
            problem = _mismatch(ours, ref)
            if problem:
                pytest.fail(f"{mode}: output {vi.name!r}: {problem}\nsaved to {_save(data, feeds, 'diff-mismatch')}",
                            pytrace=False)


def teardown_module(module):
    print(f"\ndifferential: {COUNTS['graphs']} random graphs matched onnxruntime in both modes "
          f"(artifacts: {artifacts_dir()})")
