"""Developer tool: run official ONNX node/model cases matching a regex and print why each fails.

    python -m tests.suite.report 'test_conv' [--mode imperative|hybridized|both] [--all]

Faster than pytest for iterating on one converter; prints one line per failing case.
"""

from __future__ import annotations

import argparse
import re
import sys
import traceback
import warnings

import numpy as np
import onnx
from onnx.backend.test.loader import load_model_tests
from onnx.backend.test.runner import Runner

from gluon_onnx.backend import GluonOnnxBackend, HybridizedBackend

from .onnx_suite import compare_narrow_floats_as_float32

compare_narrow_floats_as_float32()


def iter_cases(pattern: str) -> list:
    regex = re.compile(pattern)
    cases = []
    for kind in ("node", "simple", "pytorch-converted", "pytorch-operator"):
        for case in load_model_tests(kind=kind):
            if regex.search(case.name):
                cases.append(case)
    return cases


def _load_model_dir_case(case: object) -> tuple[onnx.ModelProto, list]:
    import glob  # noqa: PLC0415
    import os  # noqa: PLC0415

    model = onnx.load(os.path.join(case.model_dir, "model.onnx"))
    data_sets = []
    for data_dir in sorted(glob.glob(os.path.join(case.model_dir, "test_data_set*"))):
        inputs, outputs = [], []
        n_in = len(glob.glob(os.path.join(data_dir, "input_*.pb")))
        n_out = len(glob.glob(os.path.join(data_dir, "output_*.pb")))
        runner = Runner.__new__(Runner)
        for i in range(n_in):
            runner._load_proto(os.path.join(data_dir, f"input_{i}.pb"), inputs, model.graph.input[i].type)
        for i in range(n_out):
            runner._load_proto(os.path.join(data_dir, f"output_{i}.pb"), outputs, model.graph.output[i].type)
        data_sets.append((inputs, outputs))
    return model, data_sets


def run_case(case: object, backend: type) -> str | None:
    """None when the case passes, else a one-line reason."""
    try:
        if case.model is not None:
            model, data_sets = case.model, case.data_sets
        else:
            model, data_sets = _load_model_dir_case(case)
        rep = backend.prepare(model, "CPU")
        for inputs, ref_outputs in data_sets:
            inputs = [onnx.numpy_helper.to_array(i) if isinstance(i, onnx.TensorProto) else i for i in inputs]
            refs = [onnx.numpy_helper.to_array(o) if isinstance(o, onnx.TensorProto) else o for o in ref_outputs]
            outs = rep.run(inputs)
            Runner.assert_similar_outputs(refs, outs, rtol=case.rtol, atol=case.atol)
    except AssertionError as exc:
        text = " ".join(str(exc).split())
        return f"MISMATCH {text[:300]}"
    except Exception as exc:  # noqa: BLE001 - report every failure
        text = " ".join(str(exc).split())
        return f"{type(exc).__name__}: {text[:300]}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("pattern")
    parser.add_argument("--mode", choices=("imperative", "hybridized", "both"), default="both")
    parser.add_argument("--all", action="store_true", help="also print passing cases")
    parser.add_argument("--trace", action="store_true", help="print tracebacks")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore")
    np.seterr(all="ignore")
    modes = ["imperative", "hybridized"] if args.mode == "both" else [args.mode]
    backends = {"imperative": GluonOnnxBackend, "hybridized": HybridizedBackend}
    totals = {m: [0, 0] for m in modes}
    for case in iter_cases(args.pattern):
        for mode in modes:
            if args.trace:
                try:
                    run_case_raise = run_case(case, backends[mode])
                except Exception:  # noqa: BLE001
                    traceback.print_exc()
                    run_case_raise = "exception"
                reason = run_case_raise
            else:
                reason = run_case(case, backends[mode])
            totals[mode][0 if reason is None else 1] += 1
            if reason is not None or args.all:
                print(f"{mode[:4]} {case.name}: {reason or 'ok'}")
    for mode, (ok, bad) in totals.items():
        print(f"# {mode}: {ok} passed, {bad} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
