"""The code base stays ruff clean (configuration in pyproject.toml)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff")
    if ruff is None:
        pytest.skip("ruff is not installed (it is part of the 'test' extra)")
    result = subprocess.run([ruff, "check", "gluon_onnx", "tests", "benchmarks"], cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_cli_entry_point_runs():
    result = subprocess.run([sys.executable, "-m", "gluon_onnx", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0
    assert "demo" in result.stdout and "check" in result.stdout
