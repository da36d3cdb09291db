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

import numpy as np
import onnx.backend.test
import tomllib
from onnx.backend.test.runner import Runner

EXPECTED_FAILURES_FILE = Path(__file__).resolve().parents[1] / "expected_failures.toml"


def _is_narrow_float(dtype: np.dtype) -> bool:
    return dtype.name.startswith(("float8", "float4", "float6"))


def compare_narrow_floats_as_float32() -> None:
    """Let onnx's runner compare float8/float6/float4 outputs.

    ``Runner.assert_similar_outputs`` calls ``np.testing.assert_allclose``, whose
    ``np.result_type(y, 1.0)`` raises for most ml_dtypes float types under numpy < 2 ("DTypes
    float16 and float8_e4m3fn have no common DType"), whatever the values; the runner only
    works around it for bfloat16. After checking that the dtypes agree, such outputs are
    compared as float32, which holds their values exactly.
    """
    original = Runner.assert_similar_outputs.__func__
    if getattr(original, "narrow_float_aware", False):
        return

    def assert_similar_outputs(cls: type, ref_outputs: list, outputs: list, rtol: float, atol: float,
                               model_dir: str | None = None) -> None:
        ref_outputs, outputs = list(ref_outputs), list(outputs)
        for i, (ref, out) in enumerate(zip(ref_outputs, outputs)):
            if isinstance(ref, np.ndarray) and isinstance(out, np.ndarray) and _is_narrow_float(ref.dtype):
                np.testing.assert_equal(out.dtype, ref.dtype)
                ref_outputs[i], outputs[i] = ref.astype(np.float32), out.astype(np.float32)
        original(cls, ref_outputs, outputs, rtol, atol, model_dir=model_dir)

    assert_similar_outputs.narrow_float_aware = True
    Runner.assert_similar_outputs = classmethod(assert_similar_outputs)


compare_narrow_floats_as_float32()


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
