# %% [markdown]
# # Export GluonCV models to ONNX
#
# `gluon_onnx.export_block` turns any HybridBlock into an ONNX file that onnxruntime runs with
# the same outputs. This notebook exports a GluonCV classifier and a YOLOv3 detector with a
# dynamic batch dimension, runs both in onnxruntime, compares the outputs and draws the detected
# boxes on a photo.
#
# The networks are built with `pretrained=False` (random, seeded weights) because this
# notebook runs offline. With network access, `get_model(name, pretrained=True)` downloads the
# trained weights and everything else stays the same.

# %%
import matplotlib.patches as patches
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import onnx
import onnxruntime as ort
from gluoncv.data.transforms.presets.yolo import transform_test
from gluoncv.model_zoo import get_model
from sklearn.datasets import load_sample_image

import gluon_onnx

mx.random.seed(0)
rng = np.random.default_rng(0)


def seeded_weights(net, sample, gain=1.0):
    """Well-scaled random weights and non-trivial BatchNorm statistics (stand-ins for training)."""
    net.initialize()
    net(sample)
    for name, param in net.collect_params().items():
        if isinstance(param, mx.gluon.parameter.Constant):
            continue
        shape = param.shape
        if name.endswith(("running_var", "gamma")):
            value = rng.uniform(0.6, 1.4, shape)
        elif name.endswith(("running_mean", "beta")):
            value = rng.normal(0, 0.1, shape)
        elif name.endswith("bias"):
            value = rng.normal(0, 0.05, shape)
        elif len(shape) >= 2:
            value = rng.normal(0, gain / np.sqrt(np.prod(shape[1:])), shape)
        else:
            continue
        param.set_data(mx.nd.array(value))

# %% [markdown]
# ## A classifier with a dynamic batch
# BatchNorm gets non-trivial running statistics so that the comparison really tests it.

# %%
classifier = get_model("resnet18_v1b", pretrained=False)
seeded_weights(classifier, mx.nd.zeros((1, 3, 224, 224)))

onnx_model = gluon_onnx.export_block(
    classifier, mx.nd.zeros((1, 3, 224, 224)), "resnet18_v1b.onnx",
    input_names=["data"], output_names=["logits"], dynamic_axes={"data": {0: "N"}}, check=True)
print("opset", onnx_model.opset_import[0].version, "|", len(onnx_model.graph.node), "nodes |",
      "input", [d.dim_param or d.dim_value for d in onnx_model.graph.input[0].type.tensor_type.shape.dim])

session = ort.InferenceSession("resnet18_v1b.onnx", providers=["CPUExecutionProvider"])
batch = mx.nd.random.uniform(-1, 1, shape=(4, 3, 224, 224))
ours = classifier(batch).asnumpy()
theirs = session.run(None, {"data": batch.asnumpy()})[0]
print("batch of 4: max |difference| / max |logit| =", float(np.abs(ours - theirs).max() / np.abs(ours).max()))
print("same top-1 for every image:", bool((ours.argmax(1) == theirs.argmax(1)).all()))

# %% [markdown]
# ## A detector: YOLOv3 with class-aware NMS
# GluonCV's detectors end with MXNet's `box_nms`; the exporter emits ONNX `NonMaxSuppression`
# with the per-class score dimension, so suppression stays per class as in MXNet.

# %%
image = load_sample_image("china.jpg")
x, shown = transform_test(mx.nd.array(image), short=320)
detector = get_model("yolo3_mobilenet1.0_voc", pretrained=False, pretrained_base=False)
seeded_weights(detector, x, gain=1.3)
onnx_detector = gluon_onnx.export_block(detector, x, "yolo3.onnx", input_names=["data"],
                                        output_names=["ids", "scores", "boxes"], dynamic_axes={"data": {0: "N"}})
ops = sorted({n.op_type for n in onnx_detector.graph.node})
print(len(onnx_detector.graph.node), "nodes; uses NonMaxSuppression:", "NonMaxSuppression" in ops)

ids, scores, boxes = (o.asnumpy()[0] for o in detector(x))
session = ort.InferenceSession("yolo3.onnx", providers=["CPUExecutionProvider"])
ort_ids, ort_scores, ort_boxes = (o[0] for o in session.run(None, {"data": x.asnumpy()}))
keep, ort_keep = scores[:, 0] > 0, ort_scores[:, 0] > 0
print("detections: MXNet", int(keep.sum()), "| onnxruntime", int(ort_keep.sum()))


def as_set(ids, scores, boxes, valid):
    return sorted((int(i), round(float(s), 3), tuple(np.round(b, 1))) for i, s, b in zip(ids[valid, 0], scores[valid, 0],
                                                                                        boxes[valid]))


same = as_set(ids, scores, boxes, keep) == as_set(ort_ids, ort_scores, ort_boxes, ort_keep)
print("same detections (class, score, box) as sets:", same)
assert same

# %% [markdown]
# ## The boxes
# Random weights detect random things, but both runtimes detect the *same* random things.

# %%
fig, axes = plt.subplots(1, 2, figsize=(14, 5))
for ax, (title, b, s, valid) in zip(axes, [("MXNet", boxes, scores, keep), ("onnxruntime", ort_boxes, ort_scores, ort_keep)]):
    ax.imshow(shown)
    order = np.argsort(-s[:, 0])[: min(8, int(valid.sum()))]
    for k in order:
        x1, y1, x2, y2 = b[k]
        ax.add_patch(patches.Rectangle((x1, y1), x2 - x1, y2 - y1, fill=False, lw=2, color="lime"))
        ax.text(x1, y1, f"{s[k, 0]:.2f}", color="black", backgroundcolor="lime", fontsize=8)
    ax.set_title(f"{title}: 8 highest-scoring boxes")
    ax.axis("off")
plt.show()
