"""Shared benchmark helpers: interleaved timing, machine facts, JSON results and RESULTS.md.

Every benchmark script writes ``benchmarks/results/<name>.json``; ``python -m benchmarks.report``
assembles them into the generated ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def machine() -> dict[str, object]:
    """CPU model, core count and library versions."""
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for module in ("mxnet", "onnx", "onnxruntime", "numpy", "gluoncv"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:  # noqa: BLE001 - optional packages
            versions[module] = "not installed"
    import gluon_onnx

    versions["gluon_onnx"] = gluon_onnx.__version__
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "threads": threads(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def threads() -> int:
    """Threads every runtime gets: OMP_NUM_THREADS (which MXNet's OpenMP reads at start), else the core count."""
    try:
        return max(1, int(os.environ["OMP_NUM_THREADS"]))
    except (KeyError, ValueError):
        return os.cpu_count() or 1


def interleaved_rounds(variants: Mapping[str, Callable[[], object]], *, rounds: int = 5, iters: int = 10,
                       warmup: int = 3) -> dict[str, list[float]]:
    """Per-round median seconds per call of each variant, measured in interleaved rounds.

    Each round times ``iters`` calls of every variant in turn, so a noisy neighbour affects all
    variants of a round alike; ratios are best taken round by round (:func:`paired_ratio`).
    """
    for fn in variants.values():
        for _ in range(warmup):
            fn()
    per_round: dict[str, list[float]] = {name: [] for name in variants}
    for _ in range(rounds):
        for name, fn in variants.items():
            samples = []
            for _ in range(iters):
                start = time.perf_counter()
                fn()
                samples.append(time.perf_counter() - start)
            per_round[name].append(statistics.median(samples))
    return per_round


def interleaved_medians(variants: Mapping[str, Callable[[], object]], *, rounds: int = 5, iters: int = 10,
                        warmup: int = 3) -> dict[str, float]:
    """Median over rounds of :func:`interleaved_rounds`."""
    per_round = interleaved_rounds(variants, rounds=rounds, iters=iters, warmup=warmup)
    return {name: statistics.median(values) for name, values in per_round.items()}


def quartiles(values: list[float]) -> tuple[float, float, float]:
    """(25th percentile, median, 75th percentile)."""
    if len(values) < 2:
        return (values[0],) * 3
    q1, q2, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q2, q3


def paired_ratio(a: list[float], b: list[float]) -> tuple[float, float, float]:
    """Quartiles of the round-by-round ratios a/b."""
    return quartiles([x / y for x, y in zip(a, b)])


def write_result(name: str, payload: dict[str, object]) -> Path:
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{name}.json"
    data = {"machine": machine(), **payload}
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    return path


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "n/a"
    return f"{a / b:.2f}x"
