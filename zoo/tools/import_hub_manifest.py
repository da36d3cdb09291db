"""Generate the ONNX Model Zoo part of gluon_onnx's zoo catalogue from the hub manifest.

Usage (from the repository root)::

    python zoo/tools/import_hub_manifest.py /work/shared/onnx_hub_manifest.json

Reads the manifest of the ONNX Model Hub (``onnx.hub``: model path, sha256, size, opset,
io ports and tags of every model of github.com/onnx/models) and rewrites the entries with
``"source": "hub"`` of ``gluon_onnx/zoo/data/catalogue.json``; entries of other sources
(``wheel``, ``built``) are kept as they are. The result is reviewed data: re-run the script
only to pick up a new manifest, and review the diff.

Mirror URLs are generated from the manifest path with the patterns in ``MIRRORS``:

* ``huggingface``: the ``onnxmodelzoo/legacy_models`` repository on Hugging Face, where the
  classic zoo files moved in 2025 when they left GitHub LFS (same tree as the GitHub repo);
* ``github-media``: the Git LFS media host of github.com/onnx/models;
* ``github-raw``: github.com/onnx/models ``raw`` links (redirect to the media host).

Task, preprocessing, labels and licence are not in the manifest: they come from ``FAMILIES``
below, written from each family's README in github.com/onnx/models (``preprocess.note`` says
where the README gives no preprocessing and a convention was assumed).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
from gluon_onnx.zoo.catalogue import check_catalogue, format_catalogue  # noqa: E402

CATALOGUE = ROOT / "gluon_onnx" / "zoo" / "data" / "catalogue.json"

MIRRORS = {
    "huggingface": "https://huggingface.co/onnxmodelzoo/legacy_models/resolve/main/{path}",
    "github-media": "https://media.githubusercontent.com/media/onnx/models/main/{path}",
    "github-raw": "https://github.com/onnx/models/raw/main/{path}",
}

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
SYNSET = "https://github.com/onnx/models/raw/main/validated/vision/classification/synset.txt"
COCO = "https://github.com/onnx/models/raw/main/validated/vision/object_detection_segmentation/yolov4/dependencies/coco.names"


def imagenet_rgb(size: int = 224, layout: str = "NCHW") -> dict:
    return {"kind": "image", "layout": layout, "size": [size, size], "color": "RGB", "scale": 1 / 255,
            "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def caffe_bgr(note: str = "the family README gives no preprocessing; Caffe convention assumed "
                          "(BGR, 0..255, per-channel mean subtraction)") -> dict:
    return {"kind": "image", "layout": "NCHW", "size": [224, 224], "color": "BGR", "scale": 1.0,
            "mean": [104.0, 117.0, 123.0], "std": [1.0, 1.0, 1.0], "note": note}


def raw_image(size: list[int], color: str = "RGB", scale: float = 1.0, layout: str = "NCHW",
              mean: list[float] | None = None, std: list[float] | None = None, dtype: str | None = None,
              note: str | None = None) -> dict:
    channels = 1 if color == "GRAY" else 3
    spec = {"kind": "image", "layout": layout, "size": size, "color": color, "scale": scale,
            "mean": mean or [0.0] * channels, "std": std or [1.0] * channels}
    if dtype:
        spec["dtype"] = dtype
    if note:
        spec["note"] = note
    return spec


IMAGENET_LABELS = {"name": "imagenet-1k", "url": SYNSET}
COCO_LABELS = {"name": "coco-80", "url": COCO}

# family directory (below validated/) -> facts from the family README
FAMILIES: dict[str, dict] = {
    "text/machine_comprehension/bert-squad": {
        "task": "question-answering", "licence": "Apache-2.0", "rtol": 1e-3,
        "preprocess": {"kind": "tokens", "vocab_size": 30522, "seq_len": 256,
                       "note": "WordPiece tokens (bert-base-uncased vocabulary)"}},
    "text/machine_comprehension/bidirectional_attention_flow": {
        "task": "question-answering", "licence": "MIT", "rtol": 1e-3,
        "preprocess": {"kind": "tokens", "note": "nltk word tokens and characters as strings"}},
    "text/machine_comprehension/gpt-2": {
        "task": "language-modeling", "licence": "Apache-2.0", "rtol": 1e-3,
        "preprocess": {"kind": "tokens", "vocab_size": 50257, "seq_len": 8, "note": "GPT-2 byte-pair tokens"}},
    "text/machine_comprehension/roberta": {
        "task": "text-classification", "licence": "Apache-2.0", "rtol": 1e-3,
        "preprocess": {"kind": "tokens", "vocab_size": 50265, "seq_len": 8, "note": "RoBERTa byte-pair tokens"}},
    "text/machine_comprehension/t5": {
        "task": "text-generation", "licence": "Apache-2.0", "rtol": 1e-3,
        "preprocess": {"kind": "tokens", "vocab_size": 32128, "seq_len": 8, "note": "T5 SentencePiece tokens"}},
    "vision/body_analysis/arcface": {
        "task": "face-recognition", "licence": "Apache-2.0",
        "preprocess": raw_image([112, 112], note="aligned face crop (MTCNN), RGB 0..255")},
    "vision/body_analysis/emotion_ferplus": {
        "task": "classification", "licence": "MIT",
        "labels": {"name": "ferplus-8", "classes": ["neutral", "happiness", "surprise", "sadness", "anger",
                                                     "disgust", "fear", "contempt"]},
        "preprocess": raw_image([64, 64], color="GRAY")},
    "vision/body_analysis/ultraface": {
        "task": "face-detection", "licence": "MIT",
        "preprocess": raw_image([240, 320], mean=[127.0] * 3, std=[128.0] * 3)},
    "vision/classification/alexnet": {"task": "classification", "licence": "BSD-3-Clause",
                                      "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/classification/caffenet": {"task": "classification", "licence": "BSD-3-Clause",
                                       "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/classification/densenet-121": {"task": "classification", "licence": "MIT",
                                           "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/classification/efficientnet-lite4": {
        "task": "classification", "licence": "MIT",
        "labels": {"name": "imagenet-1k", "url": "https://github.com/onnx/models/raw/main/validated/vision/"
                                                  "classification/efficientnet-lite4/dependencies/labels_map.txt"},
        "preprocess": raw_image([224, 224], layout="NHWC", mean=[127.0] * 3, std=[128.0] * 3)},
    "vision/classification/inception_and_googlenet/googlenet": {
        "task": "classification", "licence": "BSD-3-Clause", "labels": IMAGENET_LABELS,
        "preprocess": raw_image([224, 224], color="BGR", mean=[103.939, 116.779, 123.68])},
    "vision/classification/inception_and_googlenet/inception_v1": {
        "task": "classification", "licence": "MIT", "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/classification/inception_and_googlenet/inception_v2": {
        "task": "classification", "licence": "MIT", "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/classification/mnist": {
        "task": "classification", "licence": "MIT", "labels": {"name": "digits-10", "classes": list("0123456789")},
        "preprocess": raw_image([28, 28], color="GRAY", scale=1 / 255)},
    "vision/classification/mobilenet": {"task": "classification", "licence": "Apache-2.0",
                                        "labels": IMAGENET_LABELS, "preprocess": imagenet_rgb()},
    "vision/classification/rcnn_ilsvrc13": {
        "task": "classification", "licence": "BSD-3-Clause",
        "labels": {"name": "ilsvrc13-detection-200"}, "preprocess": caffe_bgr()},
    "vision/classification/resnet": {"task": "classification", "licence": "Apache-2.0",
                                     "labels": IMAGENET_LABELS, "preprocess": imagenet_rgb()},
    "vision/classification/shufflenet": {"task": "classification", "licence": "BSD-3-Clause",
                                         "labels": IMAGENET_LABELS, "preprocess": imagenet_rgb()},
    "vision/classification/squeezenet": {"task": "classification", "licence": "Apache-2.0",
                                         "labels": IMAGENET_LABELS, "preprocess": imagenet_rgb()},
    "vision/classification/vgg": {"task": "classification", "licence": "Apache-2.0",
                                  "labels": IMAGENET_LABELS, "preprocess": imagenet_rgb()},
    "vision/classification/zfnet-512": {"task": "classification", "licence": "MIT",
                                        "labels": IMAGENET_LABELS, "preprocess": caffe_bgr()},
    "vision/object_detection_segmentation/duc": {
        "task": "segmentation", "licence": "Apache-2.0", "labels": {"name": "cityscapes-19"},
        "preprocess": raw_image([800, 800], mean=[122.675, 116.669, 104.008],
                                note="mean subtraction as in dependencies/duc-preprocess.py")},
    "vision/object_detection_segmentation/faster-rcnn": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": raw_image([800, 1088], color="BGR", mean=[102.9801, 115.9465, 122.7717], layout="CHW")},
    "vision/object_detection_segmentation/fcn": {
        "task": "segmentation", "licence": "MIT", "labels": {"name": "pascal-voc-21"},
        "preprocess": imagenet_rgb(520)},
    "vision/object_detection_segmentation/mask-rcnn": {
        "task": "instance-segmentation", "licence": "MIT", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": raw_image([800, 1088], color="BGR", mean=[102.9801, 115.9465, 122.7717], layout="CHW")},
    "vision/object_detection_segmentation/retinanet": {
        "task": "detection", "licence": "BSD-3-Clause", "labels": COCO_LABELS,
        "preprocess": imagenet_rgb(480)},
    "vision/object_detection_segmentation/ssd": {
        "task": "detection", "licence": "Apache-2.0", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": imagenet_rgb(1200)},
    "vision/object_detection_segmentation/ssd-mobilenetv1": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": raw_image([300, 300], layout="NHWC", dtype="uint8")},
    "vision/object_detection_segmentation/tiny-yolov2": {
        "task": "detection", "licence": "MIT", "labels": {"name": "pascal-voc-20"},
        "preprocess": raw_image([416, 416])},
    "vision/object_detection_segmentation/tiny-yolov3": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": raw_image([416, 416], scale=1 / 255),
        "sample_inputs": {"image_shape": {"kind": "value", "value": [[416.0, 416.0]]}}},
    "vision/object_detection_segmentation/yolov2-coco": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS,
        "preprocess": raw_image([416, 416], scale=1 / 255)},
    "vision/object_detection_segmentation/yolov3": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS, "rtol": 1e-3,
        "preprocess": raw_image([416, 416], scale=1 / 255),
        "sample_inputs": {"image_shape": {"kind": "value", "value": [[416.0, 416.0]]}}},
    "vision/object_detection_segmentation/yolov4": {
        "task": "detection", "licence": "MIT", "labels": COCO_LABELS,
        "preprocess": raw_image([416, 416], layout="NHWC", scale=1 / 255)},
    "vision/style_transfer/fast_neural_style": {
        "task": "style-transfer", "licence": "BSD-3-Clause", "preprocess": raw_image([224, 224])},
    "vision/super_resolution/sub_pixel_cnn_2016": {
        "task": "super-resolution", "licence": "Apache-2.0",
        "preprocess": raw_image([224, 224], color="GRAY", scale=1 / 255, note="Y channel of YCbCr")},
}

# models of a family whose preprocessing differs from the family's
MODEL_OVERRIDES: dict[str, dict] = {
    "resnet50-caffe2-v1-3": {"preprocess": caffe_bgr()},
    "resnet50-caffe2-v1-6": {"preprocess": caffe_bgr()},
    "resnet50-caffe2-v1-7": {"preprocess": caffe_bgr()},
    "resnet50-caffe2-v1-8": {"preprocess": caffe_bgr()},
    "resnet50-caffe2-v1-9": {"preprocess": caffe_bgr()},
    "vgg19-caffe2-3": {"preprocess": caffe_bgr()},
    "vgg19-caffe2-6": {"preprocess": caffe_bgr()},
    "vgg19-caffe2-7": {"preprocess": caffe_bgr()},
    "vgg19-caffe2-8": {"preprocess": caffe_bgr()},
    "vgg19-caffe2-9": {"preprocess": caffe_bgr()},
    "version-rfb-640": {"preprocess": raw_image([480, 640], mean=[127.0] * 3, std=[128.0] * 3)},
}

ONNX_TYPES = {
    "tensor(float)": "float32", "tensor(double)": "float64", "tensor(float16)": "float16",
    "tensor(int64)": "int64", "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
    "tensor(bool)": "bool", "tensor(string)": "string",
}


def family_of(model_path: str) -> str:
    parts = PurePosixPath(model_path).parts
    # validated/<domain>/<task dir>/<family...>/model(s)/<file>
    return "/".join(parts[1:-2])


def ports(items: list[dict]) -> list[dict]:
    out = []
    for item in items:
        out.append({"name": item["name"], "shape": list(item.get("shape", [])),
                    "dtype": ONNX_TYPES.get(item.get("type", ""), item.get("type", ""))})
    return out


def file_record(path: str, sha256: str, size: int) -> dict:
    return {"filename": PurePosixPath(path).name, "path": path, "sha256": sha256, "bytes": int(size),
            "urls": [pattern.format(path=path) for pattern in MIRRORS.values()]}


def hub_entry(item: dict) -> dict:
    path = item["model_path"]
    meta = item["metadata"]
    name = PurePosixPath(path).stem.lower()
    family = FAMILIES[family_of(path)]
    facts = {**family, **MODEL_OVERRIDES.get(name, {})}
    quantized = name.endswith(("-int8", "-qdq")) or "-int8" in name or "-qdq" in name
    entry = {
        "name": name,
        "title": item["model"],
        "source": "hub",
        "task": facts["task"],
        "domain": PurePosixPath(path).parts[1],
        "tags": list(meta.get("tags", [])),
        "opset": int(item["opset_version"]),
        "licence": facts["licence"],
        "file": file_record(path, meta["model_sha"], meta["model_bytes"]),
    }
    if meta.get("model_with_data_path"):
        entry["bundle"] = file_record(meta["model_with_data_path"], meta["model_with_data_sha"],
                                      meta["model_with_data_bytes"])
    if "labels" in facts:
        entry["labels"] = facts["labels"]
    if "io_ports" in meta:
        entry["inputs"] = ports(meta["io_ports"].get("inputs", []))
        entry["outputs"] = ports(meta["io_ports"].get("outputs", []))
    entry["preprocess"] = facts["preprocess"]
    if "sample_inputs" in facts:
        entry["sample_inputs"] = facts["sample_inputs"]
    entry["quantized"] = quantized
    entry["rtol"] = 2e-2 if quantized else facts.get("rtol", 1e-4)
    return entry


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", help="ONNX hub manifest (ONNX_HUB_MANIFEST.json)")
    parser.add_argument("--catalogue", default=str(CATALOGUE))
    args = parser.parse_args(argv)

    manifest = json.loads(Path(args.manifest).read_text())
    hub = [hub_entry(item) for item in manifest]
    names = [e["name"] for e in hub]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        print(f"duplicate names: {duplicates}", file=sys.stderr)
        return 1
    path = Path(args.catalogue)
    catalogue = json.loads(path.read_text()) if path.exists() else {"schema": 1, "models": []}
    others = [e for e in catalogue.get("models", []) if e.get("source") != "hub"]
    catalogue = {"schema": 1, "mirror_patterns": MIRRORS, "models": hub + others}
    path.parent.mkdir(parents=True, exist_ok=True)
    problems = check_catalogue(catalogue)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        return 1
    path.write_text(format_catalogue(catalogue))
    print(f"{path}: {len(hub)} hub entries, {len(others)} other entries")
    return 0


if __name__ == "__main__":
    sys.exit(main())
