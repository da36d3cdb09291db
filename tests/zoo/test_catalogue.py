"""The packaged catalogue: schema, hub completeness, wheel and built entries, packaging."""

from __future__ import annotations

import configparser
import fnmatch
import json
from pathlib import Path

import onnx
import pytest

from gluon_onnx import zoo
from gluon_onnx.errors import UnknownModelError
from gluon_onnx.zoo.catalogue import CATALOGUE_PATH, check_catalogue, format_catalogue, get_entry
from gluon_onnx.zoo.recipes import LIGHT_MODELS, onnx_light_model

ROOT = Path(__file__).resolve().parents[2]
SHARED_DIRS = (ROOT / "shared", ROOT.parent / "shared", ROOT.parents[1] / "shared")
MANIFEST = next((d / "onnx_hub_manifest.json" for d in SHARED_DIRS if (d / "onnx_hub_manifest.json").is_file()),
                ROOT / "shared" / "onnx_hub_manifest.json")


@pytest.fixture(scope="module")
def catalogue() -> dict:
    return json.loads(CATALOGUE_PATH.read_text())


def test_schema_is_valid(catalogue):
    assert check_catalogue(catalogue) == []


def test_committed_file_is_in_canonical_format(catalogue):
    assert CATALOGUE_PATH.read_text() == format_catalogue(catalogue), (
        "re-serialize the catalogue with gluon_onnx.zoo.catalogue.format_catalogue (the tools in zoo/tools do)")


def test_names_are_unique(catalogue):
    names = [e["name"] for e in catalogue["models"]]
    assert len(names) == len(set(names))


def test_every_hub_entry_has_sha256_size_and_mirrors(catalogue):
    hub = [e for e in catalogue["models"] if e["source"] == "hub"]
    assert len(hub) == 184
    for entry in hub:
        for key in ("file", "bundle"):
            record = entry[key]
            assert len(record["sha256"]) == 64 and int(record["sha256"], 16) >= 0
            assert record["bytes"] > 0
            assert len(set(record["urls"])) >= 2
            assert any("huggingface.co/onnxmodelzoo/" in u for u in record["urls"])
            assert all(u.endswith(record["path"]) for u in record["urls"])
        assert entry["task"] and entry["licence"] and entry["preprocess"]["kind"]


@pytest.mark.skipif(not MANIFEST.is_file(), reason="the hub manifest is not in shared/")
def test_hub_entries_match_the_manifest(catalogue):
    manifest = json.loads(MANIFEST.read_text())
    by_path = {e["file"]["path"]: e for e in catalogue["models"] if e["source"] == "hub"}
    for item in manifest:
        entry = by_path[item["model_path"]]
        assert entry["file"]["sha256"] == item["metadata"]["model_sha"]
        assert entry["file"]["bytes"] == item["metadata"]["model_bytes"]
        assert entry["bundle"]["sha256"] == item["metadata"]["model_with_data_sha"]
        assert entry["opset"] == item["opset_version"]


def test_wheel_entries_pin_package_path_and_sha256(catalogue):
    wheels = [e for e in catalogue["models"] if e["source"] == "wheel"]
    assert {e["package"]["name"] for e in wheels} >= {"magika", "rapidocr-onnxruntime"}
    for entry in wheels:
        pkg = entry["package"]
        assert pkg["path"].endswith(".onnx") and "==" not in pkg["version"]
        assert pkg["install"] in ("test", "on-demand")
    # the packages installed in CI are exactly those of the test extra, at the catalogued versions
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    test_extra = config["options.extras_require"]["test"]
    for entry in wheels:
        pin = f"{entry['package']['name']}=={entry['package']['version']}"
        assert (pin in test_extra) == (entry["package"]["install"] == "test"), pin


def test_built_entries_cover_light_zoo_with_random_variants(catalogue):
    built = {e["name"]: e for e in catalogue["models"] if e["source"] == "built"}
    assert "tiny-cnn" in built
    for name in LIGHT_MODELS:
        stem = "light-" + name.replace("_", "-")
        assert built[stem]["recipe"]["kwargs"] == {"name": name}
        assert built[stem + "-random"]["recipe"]["kwargs"]["randomize"] is True


def test_random_light_variant_has_real_weights():
    plain = onnx_light_model("squeezenet")
    random = onnx_light_model("squeezenet", randomize=True, seed=0)
    assert sum(n.op_type == "ConstantOfShape" for n in plain.graph.node) > 0
    assert sum(n.op_type == "ConstantOfShape" for n in random.graph.node) == 0
    weights = {t.name: onnx.numpy_helper.to_array(t) for t in random.graph.initializer}
    conv1 = weights["conv1_w_0"]
    assert conv1.shape == (64, 3, 3, 3) and conv1.std() > 0.01 and len(set(conv1.ravel().tolist())) > 1000
    onnx.checker.check_model(random)
    again = onnx_light_model("squeezenet", randomize=True, seed=0)
    assert again.SerializeToString() == random.SerializeToString()  # reproducible


def test_list_models_filters():
    classifiers = zoo.list_models(task="classification")
    assert classifiers and all(m["task"] == "classification" for m in classifiers)
    names = {m["name"] for m in classifiers}
    assert {"resnet50-v1-7", "tiny-cnn", "light-resnet50-random"} <= names
    wheel = zoo.list_models(source="wheel")
    assert all(m["package"].count("==") == 1 for m in wheel)


def test_unknown_name_suggests_close_ones():
    with pytest.raises(UnknownModelError, match="resnet50-v1-7"):
        get_entry("resnet50-v1-07")
    assert get_entry("ResNet50-V1-7").name == "resnet50-v1-7"


def test_catalogue_ships_as_package_data():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = config["options.package_data"]["gluon_onnx"].replace("\n", ",").split(",")
    relative = CATALOGUE_PATH.relative_to(ROOT / "gluon_onnx").as_posix()
    assert any(fnmatch.fnmatch(relative, p.strip()) for p in patterns if p.strip())


def test_zoo_is_reachable_from_the_package():
    import gluon_onnx

    assert gluon_onnx.zoo.list_models(source="built")[0]["name"] == "tiny-cnn"


def test_import_directions():
    """cli -> zoo -> importer/exporter: the zoo never imports the CLI, the importer never the zoo."""
    import re

    package = ROOT / "gluon_onnx"
    for path in (package / "zoo").glob("*.py"):
        assert not re.search(r"from \.\.cli|import gluon_onnx\.cli|from gluon_onnx\.cli|from \.\. import cli",
                             path.read_text()), path
    for folder in ("importer", "exporter"):
        for path in (package / folder).rglob("*.py"):
            assert not re.search(r"\bzoo\b", "\n".join(line for line in path.read_text().splitlines()
                                                      if line.lstrip().startswith(("import", "from")))), path
