"""Inference latency of imported blocks against native Gluon and onnxruntime, in one process.

    python -m benchmarks.bench_inference [--models resnet50,mobilenet_v2,bert,lstm] [--batches 1,16]
                                         [--rounds 5] [--quick]
    python -m benchmarks.report            # regenerate benchmarks/RESULTS.md

Variants (all on the same ONNX file where one is involved):
  imported_imperative   load_block(), no hybridize (debuggable mode)
  imported_hybridized   load_block() + hybridize(static_alloc=True, static_shape=True)
  imported_optimized    load_block(optimize=True) + hybridize(...) (BatchNorm folding, fusions, oneDNN)
  native_hybridized     the Gluon/GluonCV equivalent, hybridize(static_alloc, static_shape)
  native_fused          the same with hybridize(backend='MKLDNN') (oneDNN subgraph fusion)
  onnxruntime           onnxruntime CPU, ORT_ENABLE_ALL
  mxnet_contrib_onnx    mxnet.contrib.onnx.import_model where it imports at all
Timings are medians over interleaved rounds; ratios are printed against native and onnxruntime.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import mxnet as mx
import numpy as np
import onnx

from benchmarks.harness import RESULTS_DIR, interleaved_rounds, paired_ratio, quartiles, threads, write_result
from gluon_onnx import load_block, samples


def _onnx_models(quick: bool) -> dict[str, tuple[onnx.ModelProto, Callable[[int], dict[str, np.ndarray]]]]:
    rng = np.random.default_rng(0)
    image = 64 if quick else 224

    def images(batch: int) -> dict[str, np.ndarray]:
        return {"input": rng.standard_normal((batch, 3, image, image)).astype(np.float32)}

    seq = 16 if quick else 128

    def tokens(batch: int) -> dict[str, np.ndarray]:
        return {"input_ids": rng.integers(0, 30522, (batch, seq)).astype(np.int64),
                "attention_mask": np.ones((batch, seq), np.int64)}

    lstm_seq = 16 if quick else 64

    def lstm_tokens(batch: int) -> dict[str, np.ndarray]:
        return {"tokens": rng.integers(0, 10000, (lstm_seq, batch)).astype(np.int64)}

    bert_layers = 2 if quick else 12
    return {
        "resnet50": (samples.resnet(50, image_size=image), images),
        "mobilenet_v2": (samples.mobilenet_v2(image_size=image, fold_bn=False), images),
        "bert": (samples.bert_encoder(layers=bert_layers), tokens),
        "lstm": (samples.lstm_classifier(), lstm_tokens),
    }


class _NativeLSTM(mx.gluon.HybridBlock):
    """Gluon counterpart of samples.lstm_classifier()."""

    def __init__(self):
        super().__init__()
        self.embedding = mx.gluon.nn.Embedding(10000, 128)
        self.lstm = mx.gluon.rnn.LSTM(256, layout="TNC", bidirectional=True, input_size=128)
        self.fc = mx.gluon.nn.Dense(5, in_units=512)

    def hybrid_forward(self, F, tokens):
        # same cost as the ONNX model (embedding, bidirectional LSTM, last step, dense)
        out = self.lstm(self.embedding(tokens))
        return self.fc(F.reshape(F.slice_axis(out, axis=0, begin=-1, end=None), shape=(-1, 512)))


def _native(name: str) -> mx.gluon.HybridBlock | None:
    if name == "resnet50":
        try:
            from gluoncv.model_zoo import get_model

            net = get_model("resnet50_v1b", pretrained=False)
        except Exception:  # noqa: BLE001 - gluoncv is optional
            net = mx.gluon.model_zoo.vision.resnet50_v1()
    elif name == "mobilenet_v2":
        net = mx.gluon.model_zoo.vision.mobilenet_v2_1_0()
    elif name == "lstm":
        net = _NativeLSTM()
    else:
        return None
    net.initialize(mx.init.Xavier())
    return net


def _contrib_import(model: onnx.ModelProto, input_names: list[str]) -> tuple[object, str]:
    """mxnet.contrib.onnx's SymbolBlock, or (None, why it failed)."""
    try:
        from mxnet.contrib import onnx as contrib_onnx
    except Exception as exc:  # noqa: BLE001
        return None, f"cannot import mxnet.contrib.onnx: {exc}"
    # mxnet.contrib.onnx predates IR 4: it only finds initializers that are also graph inputs
    legacy = onnx.ModelProto()
    legacy.CopyFrom(model)
    declared = {vi.name for vi in legacy.graph.input}
    legacy.graph.input.extend(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims))
                              for t in legacy.graph.initializer if t.name not in declared)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "m.onnx")
        onnx.save(legacy, path)
        try:
            with contextlib.redirect_stdout(io.StringIO()):
                sym, arg, aux = contrib_onnx.import_model(path)
            block = mx.gluon.SymbolBlock(sym, [mx.sym.var(n) for n in input_names])
            params = block.collect_params()
            for key, value in list(arg.items()) + list(aux.items()):
                if key in params:
                    params[key]._load_init(value, mx.cpu())
            block.hybridize(static_alloc=True, static_shape=True)
            return block, ""
        except Exception as exc:  # noqa: BLE001 - report why it failed
            text = " ".join(str(exc).split())
            return None, f"{type(exc).__name__}: {text[:120]}"


def load_baseline(root: str) -> object:
    """Another checkout's gluon_onnx (``root/gluon_onnx``), imported as ``gluon_onnx_baseline`` so
    that both versions run in one process (before/after comparisons)."""
    init = Path(root).resolve() / "gluon_onnx" / "__init__.py"
    spec = importlib.util.spec_from_file_location("gluon_onnx_baseline", init,
                                                  submodule_search_locations=[str(init.parent)])
    module = importlib.util.module_from_spec(spec)
    sys.modules["gluon_onnx_baseline"] = module
    spec.loader.exec_module(module)
    return module


def bench_model(name: str, model: onnx.ModelProto, feeds_for: Callable[[int], dict[str, np.ndarray]],
                batch: int, rounds: int, iters: int, imperative: bool, baseline: object = None) -> dict[str, object]:
    import onnxruntime as ort

    feeds = feeds_for(batch)
    inputs = [mx.nd.array(v, dtype=v.dtype) for v in feeds.values()]
    variants: dict[str, Callable[[], object]] = {}
    notes: dict[str, str] = {}

    def run(block: mx.gluon.Block, args: list) -> Callable[[], object]:
        def call() -> None:
            out = block(*args)
            (out[0] if isinstance(out, (tuple, list)) else out).wait_to_read()

        return call

    if imperative:
        variants["imported_imperative"] = run(load_block(model), inputs)
    hybrid = load_block(model)
    hybrid.hybridize(static_alloc=True, static_shape=True)
    variants["imported_hybridized"] = run(hybrid, inputs)
    optimized = load_block(model, optimize=True)
    optimized.hybridize(static_alloc=True, static_shape=True)
    variants["imported_optimized"] = run(optimized, inputs)

    if baseline is not None:
        before = baseline.load_block(model)
        before.hybridize(static_alloc=True, static_shape=True)
        variants["baseline_hybridized"] = run(before, inputs)
        before_optimized = baseline.load_block(model, optimize=True)
        before_optimized.hybridize(static_alloc=True, static_shape=True)
        variants["baseline_optimized"] = run(before_optimized, inputs)

    native = _native(name)
    if native is not None:
        native.hybridize(static_alloc=True, static_shape=True)
        variants["native_hybridized"] = run(native, inputs)
        fused = _native(name)
        fused.hybridize(backend="MKLDNN", static_alloc=True, static_shape=True)
        variants["native_fused"] = run(fused, inputs)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads()  # as many threads as MXNet's OpenMP uses
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    variants["onnxruntime"] = lambda: session.run(None, feeds)

    contrib, why = _contrib_import(model, list(feeds))
    if contrib is not None:
        variants["mxnet_contrib_onnx"] = run(contrib, inputs)
    else:
        notes["mxnet_contrib_onnx"] = why

    per_round = interleaved_rounds(variants, rounds=rounds, iters=iters)
    ms = {k: statistics.median(v) * 1000 for k, v in per_round.items()}
    spread = {k: [q * 1000 for q in quartiles(v)] for k, v in per_round.items()}
    ratios = {}
    for key, base in PAIRS:
        if key in per_round and base in per_round:
            ratios[f"{key}/{base}"] = list(paired_ratio(per_round[key], per_round[base]))
    return {"model": name, "batch": batch, "ms": ms, "ms_quartiles": spread, "ratios": ratios, "notes": notes}


#: ratios reported round by round (numerator, denominator)
PAIRS = [
    ("imported_hybridized", "native_hybridized"),
    ("imported_optimized", "native_fused"),
    ("imported_optimized", "onnxruntime"),
    ("imported_hybridized", "onnxruntime"),
    ("native_fused", "onnxruntime"),
    ("baseline_hybridized", "native_hybridized"),
    ("baseline_optimized", "native_fused"),
    ("baseline_optimized", "onnxruntime"),
    ("imported_optimized", "baseline_optimized"),
]


def _bench_in_child(args: argparse.Namespace, name: str, batch: int) -> dict[str, object]:
    """One (model, batch) row in a fresh process: MXNet's memory pool keeps what earlier models
    freed, so one process for everything runs out of memory on a small machine."""
    command = [sys.executable, "-m", "benchmarks.bench_inference", "--models", name, "--batches", str(batch),
               "--rounds", str(args.rounds), "--iters", str(args.iters), "--child"]
    if args.quick:
        command.append("--quick")
    if args.baseline:
        command += ["--baseline", args.baseline]
    done = subprocess.run(command, cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("ROW "):
            return json.loads(line[len("ROW "):])
    tail = done.stderr.strip().splitlines()
    return {"model": name, "batch": batch, "ms": {}, "ratios": {}, "ms_quartiles": {},
            "notes": {"all": f"crashed (exit {done.returncode}): {tail[-1][:200] if tail else ''}"}}


def _print_row(row: dict[str, object]) -> None:
    ms = row["ms"]
    print(f"{row['model']} batch {row['batch']}: " + ", ".join(f"{k} {v:.1f} ms" for k, v in ms.items()))
    for pair, (q1, q2, q3) in row["ratios"].items():
        print(f"  {pair}: {q2:.2f}x (rounds: {q1:.2f}-{q3:.2f})")
    for key, note in row["notes"].items():
        print(f"  {key}: {note}")
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet50,mobilenet_v2,bert,lstm")
    parser.add_argument("--batches", default="1,16")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="small inputs and models (smoke run)")
    parser.add_argument("--no-write", action="store_true", help="do not write benchmarks/results/inference.json")
    parser.add_argument("--baseline", metavar="DIR", help="also time the gluon_onnx of another checkout (before/after)")
    parser.add_argument("--update", action="store_true",
                        help="replace only the measured rows in benchmarks/results/inference.json (a rerun)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    rows = []
    if args.child:
        baseline = load_baseline(args.baseline) if args.baseline else None
        name, batch = args.models, int(args.batches)
        model, feeds_for = _onnx_models(args.quick)[name]
        row = bench_model(name, model, feeds_for, batch, args.rounds, args.iters, imperative=batch == 1,
                          baseline=baseline)
        print("ROW " + json.dumps(row))
        return 0
    for name in args.models.split(","):
        for batch in (int(b) for b in args.batches.split(",")):
            row = _bench_in_child(args, name, batch)
            rows.append(row)
            _print_row(row)
    if not args.no_write:
        payload = {"rows": rows, "quick": args.quick, "rounds": args.rounds, "iters": args.iters}
        previous = RESULTS_DIR / "inference.json"
        if args.update and previous.exists():
            old = json.loads(previous.read_text())
            fresh = {(row["model"], row["batch"]) for row in rows}
            kept = [row for row in old["rows"] if (row["model"], row["batch"]) not in fresh]
            order = {(r["model"], r["batch"]): i for i, r in enumerate(old["rows"])}
            payload["rows"] = sorted(kept + rows, key=lambda r: order.get((r["model"], r["batch"]), len(order)))
            payload.update(rounds=old.get("rounds"), iters=old.get("iters"))  # of the rows not rerun
            payload["reruns"] = old.get("reruns", []) + [{"rows": sorted(fresh), "rounds": args.rounds,
                                                          "iters": args.iters}]
        path = write_result("inference", payload)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
