"""Real exported models (tests/corpus/models, made by tests/corpus/generate.py) against onnxruntime.

Every model of the manifest is imported with ``load_block`` and run imperatively and hybridized;
models with dynamic dims run two cases of different batch size / sequence length / image size,
the hybridized ones on the same hybridized block. Outputs are compared with onnxruntime on the
same file, relative to the reference scale (``max|ours - ref| <= tolerance * max|ref|``);
detection outputs after NMS are compared as sets of (label, box, score).

Known failures are listed in ``EXPECTED_FAILURES`` with their cause; the test asserts they still
fail that way, so a fix is noticed (and the entry must then be removed). ``SHAPE_SPECIALIZED``
lists, likewise, the models whose hybridized graph is rebuilt per input shape.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd, gluon

import gluon_onnx
from gluon_onnx.backend import to_nd, to_numpy
from gluon_onnx.errors import ExecutionError
from tests.corpus.inputs import case_inputs

MODELS = Path(__file__).resolve().parent / "models"
MANIFEST = json.loads((MODELS / "manifest.json").read_text())["models"]
BY_NAME = {entry["name"]: entry for entry in MANIFEST}
MODES = ("imperative", "hybridized")


@dataclass(frozen=True)
class ExpectedFailure:
    """How a corpus model fails today: the exception type and a regex of its message."""

    modes: tuple[str, ...]
    error: type[BaseException]
    match: str
    reason: str


#: model name -> known failure. Remove the entry when the cause is fixed (the test then fails).
EXPECTED_FAILURES: dict[str, ExpectedFailure] = {
    # traced into one symbolic graph (NonMaxSuppression, top-k of data-dependent counts, the If that
    # returns no boxes or the kept ones), but MXNet's executor fails while running it: 'delay_alloc'
    # from a oneDNN operator given an empty array, 'Shape size mismatch 0 v.s. 1' without oneDNN.
    # Not narrowed down: its RPN If alone, fed the same tensors, runs, and SSDlite's postprocessing runs.
    "fasterrcnn_mobilenet_v3_fpn_t17": ExpectedFailure(
        ("hybridized",), ExecutionError, r"delay_alloc|Shape size mismatch",
        "MXNet 1.9's dynamic-shape execution fails on the traced FasterRCNN graph (cause not narrowed "
        "down); imperative mode matches onnxruntime"),
}


#: models whose hybridized graph is rebuilt for each input shape (correct, but one trace per
#: shape) instead of one symbolic graph serving every batch size, and why. A model that becomes
#: symbolic fails the test so that the entry is removed; one that becomes specialized is a regression.
SHAPE_SPECIALIZED: dict[str, str] = {}


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box of ``a`` (n, 4) with every box of ``b`` (m, 4), boxes as x1, y1, x2, y2."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(bottom_right - top_left, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-12)


def assert_same_detections(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray], tolerance: float) -> None:
    """The same detections in any order: same label, IoU > 0.99, scores within ``tolerance``."""
    assert len(ours["scores"]) == len(ref["scores"]), f"{len(ours['scores'])} detections, expected {len(ref['scores'])}"
    assert len(ref["scores"]) > 0, "the reference has no detection: the case tests nothing"
    iou = _iou(ref["boxes"].astype(np.float64), ours["boxes"].astype(np.float64))
    free = np.ones(len(ours["scores"]), dtype=bool)
    for i in np.argsort(-ref["scores"]):
        candidates = (free & (ours["labels"] == ref["labels"][i]) & (iou[i] > 0.99)
                      & (np.abs(ours["scores"] - ref["scores"][i]) <= tolerance))
        assert candidates.any(), (f"reference detection {i} (label {ref['labels'][i]}, score {ref['scores'][i]:.5f}, "
                                  f"box {ref['boxes'][i]}) has no match")
        free[np.flatnonzero(candidates)[np.argmax(iou[i][candidates])]] = False


def assert_close(name: str, ours: np.ndarray, ref: np.ndarray, tolerance: float) -> None:
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape}, expected {ref.shape}"
    assert ours.dtype == ref.dtype, f"{name}: dtype {ours.dtype}, expected {ref.dtype}"
    if ref.dtype.kind in "biu":
        np.testing.assert_array_equal(ours, ref, err_msg=name)
        return
    scale = float(np.abs(ref).max()) if ref.size else 0.0
    error = float(np.abs(ours.astype(np.float64) - ref).max()) if ref.size else 0.0
    assert error <= tolerance * max(scale, 1e-6), (
        f"{name}: max error {error:.3g} exceeds {tolerance:g} x the output scale {scale:.3g}")


@functools.lru_cache(maxsize=None)
def _cases(name: str) -> tuple[tuple[dict[str, np.ndarray], list[np.ndarray]], ...]:
    """(inputs, onnxruntime outputs) of every case of a model, computed once."""
    import onnxruntime as ort

    entry = BY_NAME[name]
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(MODELS / entry["file"]), options, providers=["CPUExecutionProvider"])
    result = []
    for index, shapes in enumerate(entry["cases"]):
        feeds = case_inputs(entry["inputs"], shapes, seed=index)
        result.append((feeds, session.run(None, feeds)))
    return tuple(result)


def run_and_compare(entry: dict, mode: str) -> None:
    block = gluon_onnx.load_block(str(MODELS / entry["file"]))
    assert block.output_names == entry["outputs"]
    if mode == "hybridized":
        block.hybridize(static_alloc=True, static_shape=True)
    for index, (feeds, refs) in enumerate(_cases(entry["name"])):
        outs = block(*(to_nd(feeds[name], mx.cpu()) for name in block.input_names))
        outs = outs if isinstance(outs, (tuple, list)) else (outs,)
        ours = [to_numpy(out, block.plan.info(name).dtype) for name, out in zip(block.output_names, outs)]
        context = f"{entry['name']} {mode} case {index} ({ {k: v.shape for k, v in feeds.items()} })"
        if entry["compare"] == "detection":
            roles = entry["detection_outputs"]
            position = {name: i for i, name in enumerate(entry["outputs"])}
            try:
                assert_same_detections({role: ours[position[out]] for role, out in roles.items()},
                                       {role: refs[position[out]] for role, out in roles.items()},
                                       entry["tolerance"])
            except AssertionError as error:
                raise AssertionError(f"{context}: {error}") from None
            continue
        for name, mine, ref in zip(entry["outputs"], ours, refs):
            assert_close(f"{context} output {name}", mine, ref, entry["tolerance"])
    if mode == "hybridized":
        assert block._cached_op is not None, "the hybridized block did not run as a cached graph"
        expected = entry["name"] in SHAPE_SPECIALIZED
        assert block.is_shape_specialized == expected, (
            f"{entry['name']}: the hybridized graph is {'' if block.is_shape_specialized else 'no longer '}"
            f"specialized to input shapes; update SHAPE_SPECIALIZED")


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_file_matches_manifest(name):
    entry = BY_NAME[name]
    data = (MODELS / entry["file"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == entry["sha256"], f"{entry['file']} differs from the manifest"
    assert len(data) == entry["bytes"]


def test_manifest_lists_every_file_and_stays_small():
    files = {p.name for p in MODELS.glob("*.onnx")}
    assert files == {entry["file"] for entry in MANIFEST}
    assert sum(entry["bytes"] for entry in MANIFEST) < 25 * 1024 * 1024
    assert set(EXPECTED_FAILURES) <= set(BY_NAME)
    assert set(SHAPE_SPECIALIZED) <= set(BY_NAME)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("name", [entry["name"] for entry in MANIFEST])
def test_matches_onnxruntime(name, mode):
    entry = BY_NAME[name]
    known = EXPECTED_FAILURES.get(name)
    if known is not None and mode in known.modes:
        with pytest.raises(known.error) as raised:
            run_and_compare(entry, mode)
        assert re.search(known.match, str(raised.value)), f"fails differently now: {raised.value}"
        pytest.xfail(known.reason)
    run_and_compare(entry, mode)


@pytest.mark.parametrize("hybridize", [False, True])
def test_sgd_step_updates_imported_cnn(hybridize):
    """Gradients reach every imported weight; one SGD step moves them and lowers the loss."""
    entry = BY_NAME["resnet_basic_t13"]
    net = gluon_onnx.load_block(str(MODELS / entry["file"]))
    if hybridize:
        net.hybridize()
    feeds, _ = _cases(entry["name"])[1]
    x = mx.nd.array(feeds["input"])
    labels = mx.nd.array(np.arange(len(feeds["input"])) % 10)
    loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
    trainable = {name: p for name, p in net.onnx_params.items() if p.grad_req != "null"}
    assert len(trainable) == len(net.onnx_params) > 10
    before = {name: p.data().asnumpy().copy() for name, p in trainable.items()}
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.05})
    with autograd.record():
        loss = loss_fn(net(x), labels)
    loss.backward()
    first_loss = float(loss.mean().asscalar())
    for name, p in trainable.items():
        assert float(np.abs(p.grad().asnumpy()).max()) > 0, f"no gradient reached {name}"
    trainer.step(x.shape[0])
    for name, p in trainable.items():
        assert not np.array_equal(p.data().asnumpy(), before[name]), f"{name} did not change"
    assert float(loss_fn(net(x), labels).mean().asscalar()) < first_loss


def test_initializers_listed_as_graph_inputs_are_parameters_not_inputs():
    """Older exporters list every initializer as a graph input too (keep_initializers_as_inputs)."""
    entry = BY_NAME["oldstyle_cnn_t9_init_inputs"]
    assert entry["initializers_as_inputs"]
    net = gluon_onnx.load_block(str(MODELS / entry["file"]))
    assert net.input_names == ["input"]
    declared = {vi.name for vi in net.onnx_model.graph.input}
    assert len(declared) > 10 and set(net.onnx_params) <= declared
    statistics = [name for name, p in net.onnx_params.items() if p.grad_req == "null"]
    assert statistics and all("running" in name for name in statistics)
