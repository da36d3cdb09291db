"""Export cost: wall time and peak extra memory of ``export_block`` (and of MXNet's mx2onnx).

    python -m benchmarks.bench_export [--models resnet50_v1,vgg16,vgg16_bn] [--no-mx2onnx]
    python -m benchmarks.report            # regenerate benchmarks/RESULTS.md

Each export runs in a fresh subprocess that builds the Gluon model (seeded weights, as in
``benchmarks.export_vs_mx2onnx``), runs it once, then resets its peak resident memory
(``/proc/self/clear_refs``) and exports: the peak extra memory is what the export itself needs
on top of the model, compared with the bytes of its weights. mx2onnx (``mxnet.onnx``) is run
by ``benchmarks.export_vs_mx2onnx``'s own child process, whose figure is the process's whole
peak (model included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_CHILD = textwrap.dedent("""
    import json, os, sys, time
    import numpy as np
    import mxnet as mx
    from benchmarks.export_vs_mx2onnx import MODELS, _build
    from gluon_onnx import export_block

    def status(key):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024

    name, path = sys.argv[1], sys.argv[2]
    model = next(m for m in MODELS if m[0] == name)
    net, x = _build(name, model[1], model[2])
    net(x).wait_to_read()
    weights = sum(p.data().size * np.dtype(p.dtype).itemsize for p in net.collect_params().values())
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        reset = True
    except OSError:
        reset = False
    base = status("VmRSS")
    start = time.perf_counter()
    export_block(net, x, path, dynamic_axes={"data": {0: "N"}})
    seconds = time.perf_counter() - start
    print("RESULT " + json.dumps({"seconds": seconds, "peak_extra": status("VmHWM") - base, "model_rss": base,
                                  "weight_bytes": int(weights), "file_bytes": os.path.getsize(path),
                                  "peak_reset": reset}))
""")


def measure(name: str, timeout: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        env.setdefault("OMP_NUM_THREADS", "1")
        try:
            done = subprocess.run([sys.executable, "-c", _CHILD, name, os.path.join(tmp, "m.onnx")], cwd=ROOT,
                                  env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return {"error": f"timeout after {timeout} s"}
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    tail = done.stderr.strip().splitlines()
    return {"error": tail[-1][:200] if tail else f"exit code {done.returncode}"}


def main(argv: list[str] | None = None) -> int:
    from benchmarks.export_vs_mx2onnx import MODELS, run_one
    from benchmarks.harness import write_result

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50_v1,vgg16,vgg16_bn")
    parser.add_argument("--no-mx2onnx", action="store_true", help="skip MXNet's own exporter")
    parser.add_argument("--timeout", type=int, default=1800)
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/export.json")
    args = parser.parse_args(argv)
    by_name = {m[0]: m for m in MODELS}
    rows = []
    for name in args.models.split(","):
        row: dict[str, object] = {"model": name, "gluon_onnx": measure(name, args.timeout)}
        ours = row["gluon_onnx"]
        if "error" in ours:
            print(f"{name}: gluon_onnx failed: {ours['error']}", flush=True)
        else:
            print(f"{name}: gluon_onnx {ours['seconds']:.1f} s, peak +{ours['peak_extra'] / 1e6:.0f} MB "
                  f"({ours['peak_extra'] / ours['weight_bytes']:.2f}x the {ours['weight_bytes'] / 1e6:.0f} MB "
                  "of weights)", flush=True)
        if not args.no_mx2onnx:
            theirs = run_one("mx2onnx", by_name[name], args.timeout)
            row["mx2onnx"] = theirs
            peak = f"{theirs['peak_rss_mb'] / 1024:.2f} GB" if theirs.get("peak_rss_mb") else "-"
            seconds = f"{theirs['seconds']:.1f} s" if theirs.get("seconds") is not None else "-"
            print(f"{name}: mx2onnx {seconds}, whole-process peak {peak}"
                  + (f" ({theirs['error']})" if theirs.get("error") else ""), flush=True)
        rows.append(row)
    if not args.no_write:
        print(f"wrote {write_result('export', {'rows': rows})}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
