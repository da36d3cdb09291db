"""``gluon-onnx zoo list | fetch | register | validate | report``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from gluon_onnx.cli import main
from gluon_onnx.samples import tiny_cnn
from tests.zoo.conftest import hub_entry

ROOT = Path(__file__).resolve().parents[2]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_zoo_help_in_a_subprocess():
    result = subprocess.run([sys.executable, "-m", "gluon_onnx", "zoo", "--help"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0
    for sub in ("list", "fetch", "validate", "report", "register"):
        assert sub in result.stdout


def test_list(capsys, zoo_root):
    code, out, _ = run_cli(capsys, "zoo", "list", "--source", "built", "--root", str(zoo_root))
    assert code == 0
    assert any(line.startswith("tiny-cnn ") and " yes " in line for line in out.splitlines())
    code, out, _ = run_cli(capsys, "zoo", "list", "--task", "classification", "--json", "--root", str(zoo_root))
    rows = json.loads(out)
    assert code == 0 and {"resnet50-v1-7", "tiny-cnn"} <= {r["name"] for r in rows}
    resnet = next(r for r in rows if r["name"] == "resnet50-v1-7")
    assert resnet["available"] is False and resnet["bytes"] == 102583340


def test_fetch_offline_explains_and_fails(capsys, zoo_root):
    code, _, err = run_cli(capsys, "zoo", "fetch", "resnet50-v1-7", "--offline", "--root", str(zoo_root))
    assert code == 2
    assert "ModelUnavailableError" in err and str(zoo_root / "hub" / "resnet50-v1-7" / "resnet50-v1-7.onnx") in err


def test_fetch_built_writes_the_model(capsys, zoo_root):
    code, out, _ = run_cli(capsys, "zoo", "fetch", "tiny-cnn", "--root", str(zoo_root))
    assert code == 0 and (zoo_root / "built" / "tiny-cnn.onnx").is_file()
    assert str(zoo_root / "built" / "tiny-cnn.onnx") in out


def test_fetch_download_and_register(capsys, file_server, custom_catalogue, zoo_root, tmp_path):
    data = tiny_cnn().SerializeToString()
    url = file_server.add("/ok/net.onnx", data)
    custom_catalogue([hub_entry("served-net", data, [file_server.base + "/missing.onnx", url])])
    code, out, _ = run_cli(capsys, "zoo", "fetch", "served-net", "--quiet", "--root", str(zoo_root))
    assert code == 0 and (zoo_root / "hub" / "served-net" / "served-net.onnx").read_bytes() == data
    local = tmp_path / "copy.onnx"
    local.write_bytes(data)
    code, out, _ = run_cli(capsys, "zoo", "register", "served-net", str(local), "--root", str(zoo_root))
    assert code == 0 and "registered" in out


def test_fetch_wheel_entry_not_installed_says_how(capsys, zoo_root):
    from importlib import metadata

    try:
        metadata.distribution("nudenet")
        pytest.skip("nudenet is installed here")
    except metadata.PackageNotFoundError:
        pass
    code, _, err = run_cli(capsys, "zoo", "fetch", "nudenet-320n", "--root", str(zoo_root))
    assert code == 2 and "--install" in err and "nudenet==3.4.2" in err


def test_validate_writes_report_and_report_reads_it(capsys, zoo_root, tmp_path):
    report_dir = tmp_path / "zoo"
    code, out, _ = run_cli(capsys, "zoo", "validate", "tiny-cnn", "--offline", "--ctx", "cpu,gpu", "--repeats", "1",
                           "--write-report", "--report-dir", str(report_dir), "--root", str(zoo_root))
    assert code == 0, out
    assert "tiny-cnn" in out and "PASS" in out
    text = (report_dir / "VALIDATION.md").read_text()
    assert "gluon-onnx zoo validate tiny-cnn --offline --ctx cpu,gpu --write-report" in text
    data = json.loads((report_dir / "validation.json").read_text())
    assert [r["status"] for r in data["rows"]][0] == "pass"
    code, out, _ = run_cli(capsys, "zoo", "report", "--report-dir", str(report_dir), "--render")
    assert code == 0 and "summary:" in out and "1 pass" in out
    assert (report_dir / "VALIDATION.md").read_text() == text


def test_validate_needs_a_selection(capsys):
    code, _, err = run_cli(capsys, "zoo", "validate")
    assert code == 2 and "--offline" in err


def test_validate_exit_status_reflects_failures(capsys, custom_catalogue, zoo_root):
    custom_catalogue([{
        "name": "needs-missing-converter", "title": "x", "source": "built", "task": "classification",
        "recipe": {"callable": "tests.zoo.test_validate:unsupported_model", "kwargs": {}, "requires": []}}])
    code, out, _ = run_cli(capsys, "zoo", "validate", "--offline", "--root", str(zoo_root))
    assert code == 1 and "ERROR" in out and "UnsupportedOperatorError" in out
