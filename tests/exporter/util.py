"""Shared helpers of the exporter tests: seeded weights, onnxruntime runs, comparisons."""

from __future__ import annotations

from collections.abc import Sequence

import mxnet as mx
import numpy as np
import onnx

from gluon_onnx.verify import run_onnxruntime


def flatten(out: object) -> list:
    if isinstance(out, (list, tuple)):
        result = []
        for item in out:
            result.extend(flatten(item))
        return result
    return [out]


def randomize(net: mx.gluon.Block, sample: Sequence[mx.nd.NDArray], *, seed: int = 0,
              weight_gain: float = 1.0) -> None:
    """Seeded weights with fan-in scaling and non-trivial BatchNorm statistics.

    Runs ``net`` once on ``sample`` first so deferred shapes are known.
    """
    for param in net.collect_params().values():
        # zeros override per-layer initializers (MXNet's own normal sampler is slow)
        init = None if isinstance(param, mx.gluon.parameter.Constant) else mx.init.Zero()
        param.initialize(init=init, force_reinit=True)
    with mx.autograd.predict_mode():
        net(*sample)
    rng = np.random.default_rng(seed)

    def normal(std: float, shape: tuple, dtype: object) -> mx.nd.NDArray:
        return mx.nd.array(rng.standard_normal(shape, dtype=np.float32) * np.float32(std), dtype=dtype)

    def uniform(low: float, high: float, shape: tuple, dtype: object) -> mx.nd.NDArray:
        return mx.nd.array(rng.uniform(low, high, shape).astype(np.float32), dtype=dtype)

    for param in net.collect_params().values():
        if isinstance(param, mx.gluon.parameter.Constant):
            continue  # e.g. precomputed anchors
        shape = param.shape
        name = param.name
        dtype = param.dtype
        if name.endswith(("running_var", "moving_var", "gamma")):
            new = uniform(0.6, 1.4, shape, dtype)
        elif name.endswith(("running_mean", "moving_mean", "beta")):
            new = normal(0.1, shape, dtype)
        elif name.endswith("bias"):
            new = normal(0.05, shape, dtype)
        elif len(shape) >= 2:
            fan_in = int(np.prod(shape[1:]))
            new = normal(weight_gain / np.sqrt(max(fan_in, 1)), shape, dtype)
        else:
            continue
        param.set_data(new)


def mxnet_outputs(net: mx.gluon.Block, inputs: Sequence[mx.nd.NDArray]) -> list[np.ndarray]:
    with mx.autograd.predict_mode():
        return [o.asnumpy() for o in flatten(net(*inputs))]


def ort_outputs(model: onnx.ModelProto | str, feeds: dict) -> list[np.ndarray]:
    if isinstance(model, str):
        model = onnx.load(model)
    return run_onnxruntime(model, feeds)


def assert_close(ours: Sequence[np.ndarray], refs: Sequence[np.ndarray], rtol: float = 1e-4) -> None:
    """Every output within ``rtol`` of the reference's largest magnitude (shapes equal)."""
    assert len(ours) == len(refs)
    for k, (o, r) in enumerate(zip(ours, refs)):
        o, r = np.asarray(o), np.asarray(r)
        assert o.shape == r.shape, f"output {k}: shape {o.shape} != {r.shape}"
        if r.dtype.kind in "biu":
            np.testing.assert_array_equal(o, r, err_msg=f"output {k}")
            continue
        scale = float(np.abs(r).max()) if r.size else 0.0
        err = float(np.abs(o.astype(np.float64) - r).max()) if r.size else 0.0
        assert err <= rtol * max(scale, 1e-6), f"output {k}: max abs error {err:.3g} vs scale {scale:.3g}"


def _same_box(a: np.ndarray, b: np.ndarray, tol: float) -> bool:
    """Corners agree within ``tol`` of the box size (degenerate boxes compare by position)."""
    size = max(float(np.abs(a[2:] - a[:2]).max()), float(np.abs(b[2:] - b[:2]).max()), 1.0)
    return bool(np.abs(a - b).max() <= tol * size)


def detections(ids: np.ndarray, scores: np.ndarray, boxes: np.ndarray) -> list[list[tuple]]:
    """Per image: (class, score, box) of every valid detection (class id >= 0)."""
    result = []
    for b in range(ids.shape[0]):
        image = []
        for i in range(ids.shape[1]):
            cls = float(np.asarray(ids[b, i]).reshape(-1)[0])
            if cls < 0:
                continue
            image.append((int(round(cls)), float(np.asarray(scores[b, i]).reshape(-1)[0]), np.asarray(boxes[b, i],
                                                                                                       np.float64)))
        result.append(image)
    return result


def assert_same_detections(ours: Sequence[np.ndarray], refs: Sequence[np.ndarray], *, score_tol: float = 1e-3,
                           box_tol: float = 1e-3, min_count: int = 1) -> int:
    """Compare (ids, scores, boxes) after NMS as sets of (class, score, box).

    Detections whose score is within ``score_tol`` of the lowest score either side kept
    (the top-k cut-off) are not required to match: ties there may fall either way.
    Returns the number of detections compared.
    """
    compared = 0
    for mine, theirs in zip(detections(*ours[:3]), detections(*refs[:3])):
        cut = max(min((d[1] for d in mine), default=-np.inf), min((d[1] for d in theirs), default=-np.inf))
        for left, right in ((mine, theirs), (theirs, mine)):
            for cls, score, box in left:
                if score <= cut + score_tol:
                    continue
                match = [d for d in right if d[0] == cls and abs(d[1] - score) <= score_tol * max(1.0, abs(score))
                         and _same_box(d[2], box, box_tol)]
                assert match, f"detection (class {cls}, score {score:.4f}, box {np.round(box, 3)}) has no match"
                compared += 1
    assert compared >= min_count, f"only {compared} detections compared; the test data do not exercise NMS"
    return compared
