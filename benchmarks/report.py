"""Assemble benchmarks/RESULTS.md from benchmarks/results/*.json (generated; never edit by hand).

    python -m benchmarks.report
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.harness import RESULTS_DIR, ratio

RESULTS_MD = Path(__file__).resolve().parent / "RESULTS.md"


def _machine_lines(machine: dict) -> list[str]:
    versions = ", ".join(f"{k} {v}" for k, v in sorted(machine["versions"].items()))
    load = machine.get("load_average")
    busy = f", load average {load[0]:.1f} when it started" if load else ""
    return [f"Measured {machine['date']} on {machine['cpu']} ({machine['cores']} cores, "
            f"OMP_NUM_THREADS={machine['omp_num_threads']}{busy}), Python {machine['python']}; {versions}.", ""]


_RATIO_COLUMNS = [
    ("imported_hybridized/native_hybridized", "hybridized / native"),
    ("imported_optimized/native_fused", "optimized / native fused"),
    ("imported_optimized/onnxruntime", "optimized / onnxruntime"),
    ("native_fused/onnxruntime", "native fused / onnxruntime"),
]


def _ratio_cell(row: dict, key: str) -> str:
    found = row.get("ratios", {}).get(key)
    if found is None:
        a, b = key.split("/")
        return ratio(row["ms"].get(a), row["ms"].get(b))
    q1, q2, q3 = found
    return f"{q2:.2f}x ({q1:.2f}-{q3:.2f})"


def _inference(data: dict) -> list[str]:
    threads = data["machine"].get("omp_num_threads", "default")
    lines = [f"## Inference latency, {threads} thread(s) per runtime (`python -m benchmarks.bench_inference`)", ""]
    lines += _machine_lines(data["machine"])
    if data.get("quick"):
        lines += ["*Quick run (small inputs): not representative.*", ""]
    keys = ["imported_imperative", "imported_hybridized", "imported_optimized", "native_hybridized", "native_fused",
            "onnxruntime", "mxnet_contrib_onnx"]
    lines.append("| model | batch | " + " | ".join(keys) + " |")
    lines.append("|---|---|" + "---|" * len(keys))
    for row in data["rows"]:
        ms = row["ms"]
        cells = [f"{ms[k]:.1f}" if k in ms else ("fails" if k in row["notes"] else "-") for k in keys]
        lines.append(f"| {row['model']} | {row['batch']} | " + " | ".join(cells) + " |")
    lines += ["", "Milliseconds per call: medians over interleaved rounds, each (model, batch) in its own process "
              f"({data.get('rounds', '?')} rounds of {data.get('iters', '?')} calls per variant)."]
    for rerun in data.get("reruns", []):
        rows = ", ".join(f"{model} batch {batch}" for model, batch in rerun["rows"])
        lines.append(f"Rerun later with {rerun['rounds']} rounds of {rerun['iters']} calls: {rows} (the date above "
                     "is the rerun's).")
    lines.append("")
    lines.append("| model | batch | " + " | ".join(title for _, title in _RATIO_COLUMNS) + " |")
    lines.append("|---|---|" + "---|" * len(_RATIO_COLUMNS))
    for row in data["rows"]:
        lines.append(f"| {row['model']} | {row['batch']} | "
                     + " | ".join(_ratio_cell(row, key) for key, _ in _RATIO_COLUMNS) + " |")
    lines += ["", "Latency ratios taken round by round (median, and quartiles over the rounds in brackets): "
              "below 1.00x the imported block is faster. `hybridized`: `load_block()` + "
              "`hybridize(static_alloc=True, static_shape=True)`; `optimized`: `load_block(..., optimize=True)` "
              "(BatchNorm folding, GELU/LayerNorm/Dense fusion, constant folding, oneDNN partitioning); "
              "`native fused`: the Gluon model with `hybridize(backend='MKLDNN')`."]
    batch16 = [row for row in data["rows"] if row["batch"] > 1]
    if batch16:
        lines += ["", "Throughput at the larger batch (inputs per second):", "",
                  "| model | batch | imported_optimized | native_fused | onnxruntime |", "|---|---|---|---|---|"]
        for row in batch16:
            cells = [f"{row['batch'] * 1000 / row['ms'][k]:.1f}" if k in row["ms"] else "-"
                     for k in ("imported_optimized", "native_fused", "onnxruntime")]
            lines.append(f"| {row['model']} | {row['batch']} | " + " | ".join(cells) + " |")
    lines.append("")
    notes = {(row["model"], k): v for row in data["rows"] for k, v in row["notes"].items()}
    for (model, key), note in sorted(notes.items()):
        lines.append(f"- {model}, {key}: {note}")
    return lines + [""]


def _import(data: dict) -> list[str]:
    lines = ["## Import cost (`python -m benchmarks.bench_import`)", ""]
    lines += _machine_lines(data["machine"])
    lines.append("| model | nodes | weights (MB) | mode | import (s) | per node (us) | peak extra memory (MB) |"
                 " peak / weights |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for row in data["rows"]:
        head = f"| {row['model']} | {row['nodes']} | {row['weight_bytes'] / 1e6:.1f} | {row['mode']} |"
        if "error" in row:
            lines.append(head + f" failed: {row['error']} | | | |")
            continue
        ratio_cell = f"{row['peak_ratio']:.2f}x" if row["weight_bytes"] >= 1e7 else "(fixed cost)"
        lines.append(head + f" {row['seconds']:.3f} | {row['seconds'] / row['nodes'] * 1e6:.0f} |"
                     f" {row['peak_extra'] / 1e6:.1f} | {ratio_cell} |")
    lines.append("")
    lines.append(f"Median wall time of {data['repeat']} fresh processes (libraries already imported); peak extra "
                 "memory is the largest peak resident set size above the process's size before `load_block` "
                 "(`VmHWM` after `/proc/self/clear_refs`). `plain`: trainable parameters; `optimize`: "
                 "`load_block(..., optimize=True)`. Models with under 10 MB of weights show the fixed cost of "
                 "an import (ONNX shape inference, Python objects) rather than a ratio.")
    return lines + [""]


def _export(data: dict) -> list[str]:
    lines = ["## Export cost (`python -m benchmarks.bench_export`)", ""]
    lines += _machine_lines(data["machine"])
    lines.append("| model | weights (MB) | gluon_onnx export (s) | peak extra memory (MB) | peak / weights |"
                 " mx2onnx (s) | mx2onnx whole-process peak (MB) |")
    lines.append("|---|---|---|---|---|---|---|")
    for row in data["rows"]:
        ours, theirs = row["gluon_onnx"], row.get("mx2onnx", {})
        if "error" in ours:
            cells = [f"failed: {ours['error']}", "", "", ""]
        else:
            cells = [f"{ours['weight_bytes'] / 1e6:.0f}", f"{ours['seconds']:.1f}", f"{ours['peak_extra'] / 1e6:.0f}",
                     f"{ours['peak_extra'] / ours['weight_bytes']:.2f}x"]
        if theirs.get("seconds") is not None:
            cells += [f"{theirs['seconds']:.1f}", f"{theirs['peak_rss_mb'] * 1.048576:.0f}"]
        else:
            cells += [theirs.get("error", "-") or "-", "-"]
        lines.append(f"| {row['model']} | " + " | ".join(cells) + " |")
    lines += ["", "gluon_onnx: `export_block(net, x, path, dynamic_axes=...)` in a fresh process after building and "
              "running the Gluon model once; peak extra memory is the peak resident set above that point. mx2onnx: "
              "`mxnet.onnx.export_model` run by `benchmarks.export_vs_mx2onnx` (its peak includes the model)."]
    return lines + [""]


SECTIONS = {"inference": _inference, "import": _import, "export": _export}


def main() -> int:
    lines = ["# Benchmark results", "", "Generated by `python -m benchmarks.report` from `benchmarks/results/*.json`;",
             "do not edit by hand.", ""]
    for path in sorted(RESULTS_DIR.glob("*.json")):
        data = json.loads(path.read_text())
        section = SECTIONS.get(path.stem.split("-")[0])  # e.g. inference-1thread.json: another configuration
        if section is None and "markdown" in data:
            lines += data["markdown"] + [""]
        elif section is not None:
            lines += section(data)
    RESULTS_MD.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS_MD}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
