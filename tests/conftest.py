"""Test-session options shared by every test module.

``--suite-results=PATH`` records the outcome of every official ONNX suite case (both modes)
as JSON; ``python -m tests.suite.coverage PATH`` turns it into docs/COVERAGE.md.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_addoption(parser):
    parser.addoption("--suite-results", default=None, help="write official-suite outcomes to this JSON file")


def pytest_configure(config):
    config._suite_outcomes = {}


def pytest_runtest_logreport(report):
    outcomes = getattr(_CONFIG, "_suite_outcomes", None) if _CONFIG else None
    if outcomes is None or "tests/suite/test_onnx_suite_" not in report.nodeid:
        return
    mode = "hybridized" if "hybridized" in report.nodeid else "imperative"
    name = report.nodeid.rsplit("::", 1)[-1]
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        if hasattr(report, "wasxfail"):
            outcome = "xpassed" if report.outcome == "passed" else "xfailed"
        else:
            outcome = report.outcome
        outcomes[f"{mode}::{name}"] = outcome


_CONFIG = None


def pytest_sessionstart(session):
    global _CONFIG
    _CONFIG = session.config


def pytest_sessionfinish(session):
    path = session.config.getoption("--suite-results")
    if path and not hasattr(session.config, "workerinput"):
        with open(path, "w") as handle:
            json.dump(session.config._suite_outcomes, handle, indent=0, sort_keys=True)
