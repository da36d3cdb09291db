"""Shared set-up of the official ONNX backend suite (node, simple, pytorch-converted,
pytorch-operator and the 'light' model-zoo graphs) run through gluon_onnx.backend.

Known failures come from the single list ``tests/expected_failures.toml``; every entry has a
reason. A listed test that starts passing fails the run ("unexpected success"), so the list
can only shrink.
"""

from __future__ import annotations

import os
import re
import warnings
from pathlib import Path

import onnx.backend.test
import tomllib

EXPECTED_FAILURES_FILE = Path(__file__).resolve().parents[1] / "expected_failures.toml"


def load_expected_failures(mode: str) -> dict[str, str]:
    """Regex -> reason for ``mode`` ('imperative' or 'hybridized')."""
    with open(EXPECTED_FAILURES_FILE, "rb") as handle:
        data = tomllib.load(handle)
    patterns: dict[str, str] = {}
    for section in ("both", mode):
        for family, entries in data.get(section, {}).items():
            for pattern, reason in entries.items():
                if not reason or not str(reason).strip():
                    raise ValueError(f"expected failure {pattern!r} ({section}.{family}) has no reason")
                patterns[pattern] = f"{family}: {reason}"
    return patterns


def build_suite(backend: type, module_name: str, mode: str) -> dict:
    """unittest TestCase classes for ``module_name``'s globals."""
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    test = onnx.backend.test.BackendTest(backend, module_name)
    for pattern in load_expected_failures(mode):
        test.xfail(pattern)
    return test.test_cases


def check_patterns_compile() -> None:
    for mode in ("imperative", "hybridized"):
        for pattern in load_expected_failures(mode):
            re.compile(pattern)
