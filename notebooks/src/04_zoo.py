# %% [markdown]
# # The model zoo
#
# `gluon_onnx.zoo` is a reviewed catalogue of ONNX models from three sources:
#
# * **hub**: the ONNX Model Zoo (sha256-checked downloads from several mirrors),
# * **wheel**: real pre-trained models that pip packages ship inside their wheels,
# * **built**: models built locally by a recipe, so the pipeline runs offline.
#
# This notebook lists the catalogue, validates the entries available offline on CPU (and on a
# GPU where MXNet sees one) against onnxruntime, and plots error and latency per model.
#
# To use a pre-trained ONNX Model Zoo model: `net = gluon_onnx.zoo.get_model('resnet50-v1-7')`
# downloads and verifies it (or `gluon_onnx.zoo.register_local('resnet50-v1-7', path)` when you
# already have the file).

# %%
import collections

import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np

import gluon_onnx
from gluon_onnx import zoo

models = zoo.list_models()
print(len(models), "entries;", dict(collections.Counter(m["source"] for m in models)))
print("tasks:", dict(collections.Counter(m["task"] for m in models).most_common(8)))
for m in zoo.list_models(source="wheel"):
    print(f"  {m['name']:<28} {m['task']:<26} from {m['package']}")

# %% [markdown]
# ## What is available offline here
# Hub entries need a download; wheel entries need their package installed; built entries are
# always available.

# %%
available = [m["name"] for m in models if zoo.availability(zoo.get_entry(m["name"]))[0]]
print(len(available), "available offline:", ", ".join(available))

# %% [markdown]
# ## Validate on CPU (and GPU where present)
# Each entry is imported, run imperatively and hybridized, and compared with onnxruntime on
# realistic inputs (real photographs for vision models); errors are relative to the output scale.

# %%
contexts = [mx.cpu()] + ([mx.gpu(0)] if mx.context.num_gpus() > 0 else [])
names = [n for n in available if not n.startswith("light-") or n.endswith("-random")]
report = zoo.validate(names, ctx=contexts, offline=True)
for row in report.rows:
    print(f"{row.name:<30} {row.ctx:<5} {row.status:<5} {row.reason[:70]}")
passed = [r for r in report.rows if r.status == "pass"]
print(f"\n{len(passed)} of {len(report.rows)} rows pass")
assert passed, "at least the built entries validate"

# %% [markdown]
# ## Error and latency per model

# %%
rows = [r for r in passed if r.ctx == "cpu"]
labels = [r.name for r in rows]
errors = [max(m.max_rel for m in r.modes if m.max_rel is not None) for r in rows]
ours = [next(m.latency_ms for m in r.modes if m.mode == "hybridized") for r in rows]
ort_ms = [r.ort_latency_ms for r in rows]

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 0.35 * len(rows) + 1.5))
y = np.arange(len(rows))
ax1.barh(y, errors, color="#4c72b0")
ax1.set_xscale("log")
ax1.axvline(1e-4, color="gray", ls="--", label="default tolerance")
ax1.set_yticks(y, labels)
ax1.set_xlabel("max error / output scale")
ax1.legend()
ax2.barh(y - 0.2, ours, height=0.4, label="gluon_onnx (hybridized)", color="#55a868")
ax2.barh(y + 0.2, ort_ms, height=0.4, label="onnxruntime", color="#c44e52")
ax2.set_yticks(y, [])
ax2.set_xscale("log")
ax2.set_xlabel("latency (ms)")
ax2.legend()
plt.tight_layout()
plt.show()
