"""Import cost: wall time and peak extra memory of ``load_block`` on a model file.

    python -m benchmarks.bench_import [--models resnet50,bert,synthetic1k,synthetic10k,synthetic50k]
                                      [--repeat 3] [--baseline DIR]
    python -m benchmarks.report            # regenerate benchmarks/RESULTS.md

Every measurement runs in a fresh subprocess: after importing mxnet and gluon_onnx (converters
included) it records its resident memory, resets the peak (``/proc/self/clear_refs``), calls
``load_block(path)`` (plain, and ``optimize=True``) and reports the wall time and the peak
resident memory above that baseline (``VmHWM``). Peak memory is compared with the bytes of the
model's weights. The synthetic graphs repeat a transformer-like block (MatMul/Add/Relu and the
Shape -> Gather -> Unsqueeze -> Concat -> Reshape arithmetic exporters emit) to 1k, 10k and 50k
nodes, so the time per node shows whether import cost grows linearly.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[1]

_MEASURE = textwrap.dedent("""
    import json, sys, time
    import gluon_onnx
    from gluon_onnx.importer import registry
    registry._ensure_loaded()

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # peak RSS := current RSS
        reset = True
    except OSError:
        reset = False
    base = status("VmRSS")
    start = time.perf_counter()
    net = gluon_onnx.load_block(sys.argv[1], optimize=sys.argv[2] == "1")
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "peak_extra": status("VmHWM") - base, "peak_reset": reset,
                      "nodes_run": len(net.plan.steps)}))
""")


def synthetic_graph(nodes: int, hidden: int = 16, seed: int = 0) -> onnx.ModelProto:
    """A chain of transformer-like blocks (9 nodes each) with at least ``nodes`` nodes."""
    from gluon_onnx.samples import GraphBuilder

    g = GraphBuilder(seed)
    x = "input"
    block = 0
    while len(g.nodes) < nodes:
        path = f"/block{block}"
        h = g.op("Relu", [g.linear(x, f"block{block}.fc", hidden, hidden)], f"{path}/Relu")
        shape = g.op("Shape", [h], f"{path}/Shape")
        n = g.op("Unsqueeze", [g.op("Gather", [shape, g.const(0)], f"{path}/Gather", axis=0), g.const([0])],
                 f"{path}/Unsqueeze")
        target = g.op("Concat", [n, g.const([-1, hidden])], f"{path}/Concat", axis=0)
        h = g.op("Mul", [g.op("Reshape", [h, target], f"{path}/Reshape"), g.const(0.5, np.float32)], f"{path}/Mul")
        x = g.op("Add", [x, h], f"{path}/Add")
        block += 1
    graph = helper.make_graph(g.nodes, "synthetic", [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                                                   ["N", "S", hidden])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", "S", hidden])],
                              g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _models() -> dict[str, Callable[[], onnx.ModelProto]]:
    from gluon_onnx import samples

    return {
        "resnet50": lambda: samples.resnet(50),
        "bert": lambda: samples.bert_encoder(layers=12),
        "synthetic1k": lambda: synthetic_graph(1_000),
        "synthetic10k": lambda: synthetic_graph(10_000),
        "synthetic50k": lambda: synthetic_graph(50_000),
    }


def measure(path: Path, optimize: bool, pythonpath: Path) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=str(pythonpath))
    env.setdefault("OMP_NUM_THREADS", "1")
    result = subprocess.run([sys.executable, "-c", _MEASURE, str(path), "1" if optimize else "0"],
                            capture_output=True, text=True, env=env, cwd=pythonpath, timeout=1800)
    if result.returncode != 0:
        lines = result.stderr.strip().splitlines()
        return {"error": lines[-1] if lines else f"exit code {result.returncode}"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench(name: str, model: onnx.ModelProto, directory: Path, repeat: int,
          versions: dict[str, Path]) -> list[dict[str, object]]:
    path = directory / f"{name}.onnx"
    onnx.save(model, path)
    weights = sum(len(t.raw_data) or onnx.numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    rows = []
    for version, pythonpath in versions.items():
        for optimize in (False, True):
            runs = [measure(path, optimize, pythonpath) for _ in range(repeat)]
            errors = [r["error"] for r in runs if "error" in r]
            row: dict[str, object] = {"model": name, "nodes": len(model.graph.node), "weight_bytes": weights,
                                      "file_bytes": path.stat().st_size, "version": version,
                                      "mode": "optimize" if optimize else "plain"}
            if errors:
                row["error"] = errors[0]
            else:
                seconds = [float(r["seconds"]) for r in runs]
                peaks = [int(r["peak_extra"]) for r in runs]
                row.update(seconds=statistics.median(seconds), seconds_all=seconds, peak_extra=max(peaks),
                           peak_ratio=max(peaks) / weights if weights else None,
                           peak_reset=all(r["peak_reset"] for r in runs))
            rows.append(row)
            _print(row)
    return rows


def _print(row: dict[str, object]) -> None:
    head = f"{row['model']} ({row['nodes']} nodes) {row['version']} {row['mode']}:"
    if "error" in row:
        print(f"{head} FAILED {row['error']}", flush=True)
        return
    ratio = f"{row['peak_ratio']:.2f}x weights" if row["peak_ratio"] else "no weights"
    print(f"{head} {row['seconds']:.3f} s, peak +{row['peak_extra'] / 1e6:.1f} MB ({ratio}), "
          f"{row['seconds'] / row['nodes'] * 1e6:.0f} us/node", flush=True)


def main(argv: list[str] | None = None) -> int:
    from benchmarks.harness import write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,bert,synthetic1k,synthetic10k,synthetic50k")
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per measurement (median time)")
    parser.add_argument("--baseline", metavar="DIR", help="also measure the gluon_onnx of another checkout")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/import.json")
    args = parser.parse_args(argv)
    versions = {"current": ROOT}
    if args.baseline:
        versions["baseline"] = Path(args.baseline).resolve()
    builders = _models()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            rows.extend(bench(name, builders[name](), Path(tmp), args.repeat, versions))
    if not args.no_write:
        path = write_result("import", {"rows": [r for r in rows if r["version"] == "current"],
                                       "repeat": args.repeat})
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
