"""zoo.validate(): rows for imperative and hybridized runs, failures as rows, reports written."""

from __future__ import annotations

import importlib
import json

import mxnet as mx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from gluon_onnx import zoo
from gluon_onnx.zoo.catalogue import get_entry
from gluon_onnx.zoo.inputs import image_tensor, reference_inputs
from gluon_onnx.zoo.report import to_markdown
from gluon_onnx.zoo.store import availability
from tests.zoo.conftest import hub_entry


def unsupported_model() -> onnx.ModelProto:
    """A valid model using an operator of a domain gluon_onnx has no converter for."""
    node = helper.make_node("Frobnicate", ["x"], ["y"], domain="com.example.zoo")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                   helper.make_opsetid("com.example.zoo", 1)])


def broken_recipe() -> onnx.ModelProto:
    raise RuntimeError("this recipe is broken on purpose")


def built(name: str, callable_: str, **extra: object) -> dict:
    return {"name": name, "title": name, "source": "built", "task": "classification", "licence": "Apache-2.0",
            "recipe": {"callable": callable_, "kwargs": {}, "requires": []}, "rtol": 1e-4, **extra}


def test_validate_offline_entries_imperative_and_hybridized(tmp_path, zoo_root):
    report = zoo.validate(["tiny-cnn", "light-squeezenet-random", "resnet50-v1-7"], ctx=[mx.cpu(), mx.gpu()],
                          offline=True, root=zoo_root, repeats=1)
    rows = {(r.name, r.ctx): r for r in report.rows}
    assert len(report.rows) == 6
    for name in ("tiny-cnn", "light-squeezenet-random"):
        row = rows[(name, "cpu")]
        assert row.status == "pass", row.reason
        assert [m.mode for m in row.modes] == ["imperative", "hybridized"]
        for mode in row.modes:
            assert mode.ok and mode.max_rel is not None and mode.max_rel <= row.rtol and mode.latency_ms > 0
        assert row.import_s > 0 and row.ort_latency_ms > 0 and row.top5 == 1.0 and row.top1 is True
        assert row.reference == "onnxruntime CPU"
    assert "scikit-learn china.jpg" in rows[("light-squeezenet-random", "cpu")].inputs
    gpu = rows[("tiny-cnn", "gpu(0)")]
    if mx.context.num_gpus() == 0:
        assert gpu.status == "not run" and "num_gpus() == 0" in gpu.reason and gpu.modes == []
    assert rows[("resnet50-v1-7", "cpu")].status == "unavailable"
    assert "not downloaded" in rows[("resnet50-v1-7", "cpu")].reason

    md, js = zoo.write_report(report, tmp_path / "report")
    text = md.read_text()
    assert "| tiny-cnn | built | cpu | pass |" in text and "## Environment" in text
    assert "mxnet | 1.9.1" in text and "not run" in text
    data = json.loads(js.read_text())
    assert data["environment"]["onnx"] == onnx.__version__
    assert {r["status"] for r in data["rows"]} == {"pass", "not run", "unavailable"}


def test_failures_become_rows_not_exceptions(custom_catalogue, zoo_root):
    custom_catalogue([
        built("needs-missing-converter", "tests.zoo.test_validate:unsupported_model"),
        built("broken-recipe", "tests.zoo.test_validate:broken_recipe"),
        built("needs-a-missing-module", "gluon_onnx.zoo.recipes:tiny_cnn",
              recipe={"callable": "gluon_onnx.zoo.recipes:tiny_cnn", "requires": ["a_module_that_is_not_there"]}),
        built("tiny", "gluon_onnx.zoo.recipes:tiny_cnn"),
        hub_entry("not-downloaded", b"x", ["http://127.0.0.1:9/a", "http://127.0.0.1:9/b"]),
    ])
    report = zoo.validate(None, ctx="cpu", offline=True, root=zoo_root, repeats=1)
    rows = {r.name: r for r in report.rows}
    assert rows["needs-missing-converter"].status == "error"
    assert "import: UnsupportedOperatorError" in rows["needs-missing-converter"].reason
    assert "Frobnicate" in rows["needs-missing-converter"].reason
    assert rows["broken-recipe"].status == "error" and "broken on purpose" in rows["broken-recipe"].reason
    assert rows["needs-a-missing-module"].status == "unavailable"
    assert "a_module_that_is_not_there" in rows["needs-a-missing-module"].reason
    assert rows["tiny"].status == "pass"
    assert rows["not-downloaded"].status == "unavailable"
    assert not report.ok
    text = to_markdown(report)
    assert "## Failures and errors" in text and "**needs-missing-converter**" in text


def test_mismatch_is_a_fail_row(custom_catalogue, zoo_root, monkeypatch):
    custom_catalogue([built("tiny", "gluon_onnx.zoo.recipes:tiny_cnn")])
    validate_module = importlib.import_module("gluon_onnx.zoo.validate")

    real = validate_module._ort_run

    def skewed(*args, **kwargs):
        outputs, latency = real(*args, **kwargs)
        return [o * 1.01 for o in outputs], latency

    monkeypatch.setattr(validate_module, "_ort_run", skewed)
    (row,) = zoo.validate(["tiny"], offline=True, root=zoo_root, repeats=0).rows
    assert row.status == "fail" and all(not m.ok for m in row.modes)
    assert "max_rel" in row.reason and 5e-3 < row.modes[0].max_rel < 2e-2


def test_image_inputs_follow_preprocessing():
    spec = {"kind": "image", "layout": "NHWC", "size": [64, 48], "color": "BGR", "scale": 1 / 255,
            "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    value, origin = image_tensor(spec, [2, 64, 48, 3], np.dtype(np.float32))
    assert value.shape == (2, 64, 48, 3) and value.dtype == np.float32
    assert -2.0 - 1e-6 <= value.min() and value.max() <= 2.0 + 1e-6 and value.std() > 0.1
    assert np.array_equal(value[0], value[1]) and "64x48 BGR" in origin
    raw, _ = image_tensor({"kind": "image", "layout": "NHWC", "size": [30, 30]}, [1, 30, 30, 3], np.dtype(np.uint8))
    assert raw.dtype == np.uint8 and raw.max() > 100


def test_sample_inputs_of_wheel_entries():
    entry = get_entry("silero-vad")
    model = _silero_like_model()
    feeds, origin = reference_inputs(entry, model)
    assert feeds["input"].shape == (1, 512) and np.abs(feeds["input"]).max() <= 1.0
    assert feeds["state"].shape == (2, 1, 128) and not feeds["state"].any()
    assert feeds["sr"].shape == () and int(feeds["sr"]) == 16000
    assert "speech-like" in origin


def _silero_like_model() -> onnx.ModelProto:
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", "sequence"]),
              helper.make_tensor_value_info("state", TensorProto.FLOAT, [2, "batch", 128]),
              helper.make_tensor_value_info("sr", TensorProto.INT64, [])]
    graph = helper.make_graph([helper.make_node("Identity", ["input"], ["output"])], "g", inputs,
                              [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", "sequence"])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 16)])


def _offline_names() -> list[str]:
    return [e["name"] for e in zoo.list_models() if availability(get_entry(e["name"]))[0]]


OFFLINE = _offline_names()


def test_offline_entries_include_every_built_recipe():
    built = [e["name"] for e in zoo.list_models(source="built") if not e["name"].startswith("gluon")]
    assert set(built) <= set(OFFLINE) and len(built) >= 19


#: entry name -> why it may fail here although all its operators have converters (keep it short and concrete)
KNOWN_ISSUES: dict[str, str] = {}


@pytest.mark.parametrize("name", OFFLINE)
def test_every_offline_entry_validates(name, zoo_root):
    """The CI run: every entry available offline on CPU (built recipes, wheels of the test extra).

    An entry must pass unless some of its operators have no converter yet (an import error
    naming them) or it is listed in KNOWN_ISSUES.
    """
    (row,) = zoo.validate([name], ctx="cpu", offline=True, root=zoo_root, repeats=1).rows
    assert row.status in ("pass", "fail", "error"), (row.status, row.reason)
    if row.status == "pass":
        assert [m.mode for m in row.modes] == ["imperative", "hybridized"]
        assert all(m.ok for m in row.modes)
    elif name not in KNOWN_ISSUES:
        assert row.source != "built", row.reason  # every operator they use has a converter
        assert row.reason.startswith("import: UnsupportedOperatorError"), row.reason


@pytest.mark.skipif(mx.context.num_gpus() == 0, reason="needs a GPU")
def test_gpu_rows_where_a_gpu_exists(zoo_root):
    (row,) = zoo.validate(["tiny-cnn"], ctx="gpu", offline=True, root=zoo_root, repeats=1).rows
    assert row.status == "pass", row.reason


def test_hub_entry_with_bundle_uses_its_test_data(file_server, custom_catalogue, zoo_root, tmp_path):
    import io
    import tarfile

    from gluon_onnx.samples import tiny_cnn
    from gluon_onnx.verify import run_onnxruntime
    from tests.zoo.conftest import sha256

    model = tiny_cnn()
    data = model.SerializeToString()
    x = np.random.default_rng(1).standard_normal((3, 3, 32, 32)).astype(np.float32)
    outputs = run_onnxruntime(model, {"input": x})
    members = {"tiny/model.onnx": data,
               "tiny/test_data_set_0/input_0.pb": onnx.numpy_helper.from_array(x, "input").SerializeToString()}
    for i, out in enumerate(outputs):
        members[f"tiny/test_data_set_0/output_{i}.pb"] = onnx.numpy_helper.from_array(out).SerializeToString()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    bundle = buffer.getvalue()
    model_url = file_server.add("/ok/tiny.onnx", data)
    bundle_url = file_server.add("/ok/tiny.tar.gz", bundle)
    entry = hub_entry("served-net", data, [model_url, model_url + "x"])
    entry["bundle"] = {"filename": "tiny.tar.gz", "sha256": sha256(bundle), "bytes": len(bundle),
                       "urls": [bundle_url, bundle_url + "x"]}
    custom_catalogue([entry])

    (row,) = zoo.validate(["served-net"], offline=False, root=zoo_root, repeats=1).rows  # downloads the model
    assert row.status == "pass" and row.inputs != "bundle test_data_set_0"
    directory = zoo.fetch_bundle("served-net", root=zoo_root, progress=False)
    assert (directory / "tiny" / "test_data_set_0" / "input_0.pb").is_file()
    (row,) = zoo.validate(["served-net"], offline=True, root=zoo_root, repeats=1).rows
    assert row.status == "pass", row.reason
    assert row.inputs == "bundle test_data_set_0" and row.stored_max_rel is not None and row.stored_max_rel < 1e-5
