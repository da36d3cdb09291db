"""gluon_onnx's exporter vs. MXNet 1.9.1's own (``mxnet.onnx.export_model``, "mx2onnx").

Both exporters get the same models (seeded random weights, never downloaded) and the same
checks: the exported file must load in onnxruntime and reproduce MXNet's outputs
(classification/segmentation element-wise relative to the output scale, detection as sets of
(class, score, box) after NMS). Each export runs in its own subprocess so that its peak RSS is
clean; time and peak RSS cover building the network, one forward pass and the export (the
verification runs after the peak is recorded).

    python -m benchmarks.export_vs_mx2onnx                 # every model
    python -m benchmarks.export_vs_mx2onnx --quick         # a handful
    python -m benchmarks.export_vs_mx2onnx --models vgg16_bn --json out.json

mx2onnx needs ``onnx.mapping``, removed in onnx 1.17: a small shim is installed inside this
benchmark's subprocess only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

#: (name, source, input size, kind, dynamic batch)
MODELS = [
    *[(n, "vision", s, "cls", True) for n, s in [
        ("resnet18_v1", 224), ("resnet50_v1", 224), ("resnet101_v1", 224), ("resnet152_v1", 224),
        ("resnet18_v2", 224), ("resnet50_v2", 224), ("resnet152_v2", 224),
        ("vgg11", 224), ("vgg16", 224), ("vgg19", 224), ("vgg11_bn", 224), ("vgg16_bn", 224), ("vgg19_bn", 224),
        ("alexnet", 224), ("densenet121", 224), ("densenet169", 224), ("squeezenet1.0", 224),
        ("squeezenet1.1", 224), ("inceptionv3", 299), ("mobilenet1.0", 224), ("mobilenet0.25", 224),
        ("mobilenetv2_1.0", 224), ("mobilenetv2_0.25", 224)]],
    *[(n, "gluoncv", s, "cls", True) for n, s in [
        ("resnet50_v1b", 224), ("resnet50_v1c", 224), ("resnet50_v1d", 224), ("resnext50_32x4d", 224),
        ("se_resnet50_v1", 224), ("mobilenetv3_large", 224), ("mobilenetv3_small", 224), ("darknet53", 224),
        ("resnest50", 224)]],
    ("ssd_512_mobilenet1.0_voc", "gluoncv", 512, "det", True),
    ("ssd_512_resnet50_v1_voc", "gluoncv", 512, "det", True),
    ("yolo3_darknet53_voc", "gluoncv", 416, "det", True),
    ("yolo3_mobilenet1.0_voc", "gluoncv", 416, "det", True),
    ("faster_rcnn_resnet50_v1b_voc", "gluoncv", 512, "det", False),
    ("center_net_resnet18_v1b_voc", "gluoncv", 512, "det", True),
    ("fcn_resnet50_voc", "gluoncv", 480, "seg", True),
    ("psp_resnet50_ade", "gluoncv", 480, "seg", True),
    ("deeplab_resnet50_ade", "gluoncv", 480, "seg", True),
    ("simple_pose_resnet18_v1b", "gluoncv", 256, "pose", True),
    ("lstm_2x256_bidirectional", "rnn", 0, "rnn", True),
    ("gru_2x256", "rnn", 0, "rnn", True),
]
#: weight scale per model where the default saturates the scores (ties make detections incomparable)
GAINS = {"yolo3_darknet53_voc": 0.92}
QUICK = ["resnet18_v1", "vgg16_bn", "mobilenetv3_small", "ssd_512_mobilenet1.0_voc", "psp_resnet50_ade",
         "lstm_2x256_bidirectional"]


# --- child process ----------------------------------------------------------------------------
def _install_onnx_mapping_shim() -> None:
    """mx2onnx imports ``onnx.mapping`` (removed in onnx 1.17): rebuild its two tables."""
    import types  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415
    import onnx  # noqa: PLC0415

    if hasattr(onnx, "mapping"):
        return
    to_np = {}
    for name, value in onnx.TensorProto.DataType.items():
        if name in ("UNDEFINED", "STRING"):
            continue
        try:
            to_np[value] = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(value))
        except (KeyError, TypeError, ValueError):
            continue
    standard = {k: v for k, v in to_np.items() if v.kind in "biufc" and v.name in np.sctypeDict}
    shim = types.ModuleType("onnx.mapping")
    shim.TENSOR_TYPE_TO_NP_TYPE = standard
    shim.NP_TYPE_TO_TENSOR_TYPE = {v: k for k, v in reversed(list(standard.items()))}
    shim.NP_TYPE_TO_TENSOR_TYPE[np.dtype("float32")] = onnx.TensorProto.FLOAT
    sys.modules["onnx.mapping"] = shim
    onnx.mapping = shim


def _build(name: str, source: str, size: int, seed: int = 0):  # noqa: ANN202
    import mxnet as mx  # noqa: PLC0415

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import numpy as np  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    if source == "rnn":
        layer = mx.gluon.rnn.LSTM(256, num_layers=2, bidirectional=True, input_size=128) if name.startswith("lstm") \
            else mx.gluon.rnn.GRU(256, num_layers=2, input_size=128)
        x = mx.nd.array(rng.uniform(-1, 1, (20, 4, 128)).astype(np.float32))
        net = layer
    else:
        if source == "vision":
            net = mx.gluon.model_zoo.vision.get_model(name)
        else:
            from gluoncv.model_zoo import get_model  # noqa: PLC0415

            kwargs = {"pretrained_base": False} if any(k in name for k in ("ssd", "yolo", "rcnn", "center", "fcn",
                                                                           "psp", "deeplab", "pose")) else {}
            if name.startswith(("fcn", "psp", "deeplab")):
                kwargs.update(crop_size=size, base_size=size)
            net = get_model(name, pretrained=False, **kwargs)
        width = 192 if name.startswith("simple_pose") else size
        x = mx.nd.array(rng.uniform(0, 1, (1, 3, size, width)).astype(np.float32))
    # the tests' seeded weights: fan-in scaled, non-trivial BatchNorm statistics
    from tests.exporter.util import randomize  # noqa: PLC0415

    randomize(net, [x], seed=seed, weight_gain=GAINS.get(name, 1.0))
    return net, x


def _peak_rss_mb() -> float:
    import resource  # noqa: PLC0415

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _verify(path: str, net: object, x: object, kind: str) -> tuple[bool, str]:
    import mxnet as mx  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    import onnxruntime as ort  # noqa: PLC0415

    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {session.get_inputs()[0].name: x.asnumpy()}
        ours = session.run(None, feeds)
    except Exception as exc:  # noqa: BLE001
        return False, f"onnxruntime: {str(exc).splitlines()[0][:160]}"
    with mx.autograd.predict_mode():
        out = net(x)
    refs = [o.asnumpy() for o in (out if isinstance(out, (list, tuple)) else [out])]
    if kind == "rnn":
        refs = refs[:1]
        ours = ours[:1]
    if len(ours) < len(refs):
        return False, f"{len(ours)} outputs instead of {len(refs)}"
    if kind == "det":
        from tests.exporter.util import assert_same_detections  # noqa: PLC0415

        try:
            assert_same_detections(ours[:3], refs[:3], min_count=1)
        except AssertionError as exc:
            return False, f"detections differ: {str(exc)[:160]}"
        return True, ""
    for o, r in zip(ours, refs):
        if o.shape != r.shape:
            return False, f"shape {o.shape} != {r.shape}"
        scale = float(np.abs(r).max()) or 1.0
        err = float(np.abs(o.astype(np.float64) - r).max())
        if not err <= 1e-3 * scale:
            return False, f"max error {err:.3g} (scale {scale:.3g})"
    return True, ""


def _child(exporter: str, name: str, source: str, size: int, kind: str, dynamic: bool, workdir: str) -> dict:
    import numpy as np  # noqa: PLC0415

    net, x = _build(name, source, size)
    result = {"exported": False, "verified": False, "seconds": None, "peak_rss_mb": None, "error": ""}
    path = os.path.join(workdir, f"{exporter}.onnx")
    rss_before = _peak_rss_mb()
    start = time.perf_counter()
    try:
        if exporter == "gluon_onnx":
            from gluon_onnx import export_block  # noqa: PLC0415

            axes = {"data": {0: "N"} if kind != "rnn" else {1: "N"}} if dynamic else None
            export_block(net, x, path, dynamic_axes=axes)
        else:
            _install_onnx_mapping_shim()
            from mxnet import onnx as mx2onnx  # noqa: PLC0415

            net.hybridize()
            net(x)
            prefix = os.path.join(workdir, "ckpt")
            net.export(prefix, epoch=0)
            shape = tuple(x.shape)
            dynamic_shape = [(None, *shape[1:]) if kind != "rnn" else (shape[0], None, shape[2])]
            mx2onnx.export_model(prefix + "-symbol.json", prefix + "-0000.params", [shape], np.float32, path,
                                 dynamic=dynamic, dynamic_input_shapes=dynamic_shape if dynamic else None)
        result["seconds"] = time.perf_counter() - start
        result["peak_rss_mb"] = _peak_rss_mb()
        result["baseline_rss_mb"] = rss_before
        result["exported"] = os.path.exists(path)
    except Exception as exc:  # noqa: BLE001
        result["error"] = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200] if str(exc).strip() else ''}"
        result["peak_rss_mb"] = _peak_rss_mb()
        return result
    ok, why = _verify(path, net, x, kind)
    result["verified"] = ok
    result["error"] = why
    return result


# --- parent ---------------------------------------------------------------------------------
def run_one(exporter: str, model: tuple, timeout: int) -> dict:
    name, source, size, kind, dynamic = model
    with tempfile.TemporaryDirectory() as workdir:
        command = [sys.executable, "-m", "benchmarks.export_vs_mx2onnx", "--child", exporter, name, workdir]
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=root, env=env)
        except subprocess.TimeoutExpired:
            return {"exported": False, "verified": False, "seconds": None, "peak_rss_mb": None,
                    "error": f"timeout after {timeout} s"}
        for line in reversed(done.stdout.splitlines()):
            if line.startswith("RESULT "):
                return json.loads(line[len("RESULT "):])
        tail = (done.stderr or done.stdout).strip().splitlines()
        return {"exported": False, "verified": False, "seconds": None, "peak_rss_mb": None,
                "error": f"crashed (exit {done.returncode}): {tail[-1][:200] if tail else ''}"}


def _fmt(result: dict) -> str:
    flags = ("E" if result["exported"] else "-") + ("V" if result["verified"] else "-")
    seconds = f"{result['seconds']:.1f}s" if result["seconds"] is not None else "-"
    rss = f"{result['peak_rss_mb'] / 1024:.2f}GB" if result["peak_rss_mb"] else "-"
    return f"{flags:>2} {seconds:>7} {rss:>7}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("EXPORTER", "MODEL", "WORKDIR"), help=argparse.SUPPRESS)
    parser.add_argument("--models", nargs="+", help="model names (default: all)")
    parser.add_argument("--quick", action="store_true", help="a handful of representative models")
    parser.add_argument("--timeout", type=int, default=900, help="seconds per export")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    by_name = {m[0]: m for m in MODELS}
    if args.child:
        exporter, name, workdir = args.child
        import warnings  # noqa: PLC0415

        warnings.filterwarnings("ignore")
        result = _child(exporter, *by_name[name], workdir)
        print("RESULT " + json.dumps(result))
        return 0
    names = args.models or (QUICK if args.quick else [m[0] for m in MODELS])
    unknown = [n for n in names if n not in by_name]
    if unknown:
        parser.error(f"unknown models {unknown}; known: {sorted(by_name)}")
    results = {}
    print(f"{'model':<30} {'mx2onnx (E=exported V=verified)':>26}   {'gluon_onnx':>18}  notes")
    for name in names:
        row = {exporter: run_one(exporter, by_name[name], args.timeout) for exporter in ("mx2onnx", "gluon_onnx")}
        results[name] = row
        notes = "; ".join(f"{k}: {v['error']}" for k, v in row.items() if v["error"])
        print(f"{name:<30} {_fmt(row['mx2onnx']):>26}   {_fmt(row['gluon_onnx']):>18}  {notes[:150]}", flush=True)
    print()
    for exporter in ("mx2onnx", "gluon_onnx"):
        exported = sum(r[exporter]["exported"] for r in results.values())
        verified = sum(r[exporter]["verified"] for r in results.values())
        print(f"{exporter:<11} exported {exported}/{len(results)}, verified {verified}/{len(results)}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
