# %% [markdown]
# # Quick start: an ONNX model as a Gluon block
#
# `gluon_onnx.load_block` turns an ONNX file into a real `mxnet.gluon.HybridBlock`. This notebook
#
# 1. loads a ResNet-18 ONNX model and looks at its structure and parameters,
# 2. runs it imperatively and inspects an intermediate tensor,
# 3. hybridizes it and compares the outputs with onnxruntime,
# 4. times both.
#
# Everything here runs offline. The model is a ResNet-18 built by `gluon_onnx.samples` in the
# layout torchvision exports at opset 17 (random but well-scaled weights). To use a pre-trained
# model instead, download one from the ONNX Model Zoo, e.g.
# `net = gluon_onnx.zoo.get_model('resnet50-v1-7')`, or pass the path of any `.onnx` file to
# `load_block`.

# %%
import time

import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import onnx
from sklearn.datasets import load_sample_image

import onnxruntime as ort

import gluon_onnx
from gluon_onnx import samples
from gluon_onnx.verify import compare_with_onnxruntime

onnx.save(samples.resnet(18), "resnet18.onnx")
net = gluon_onnx.load_block("resnet18.onnx", ctx=mx.cpu())
print(net)

# %% [markdown]
# ## Structure and parameters
# Every node that runs is listed with the output shapes ONNX shape inference knows (`N` is the
# free batch size). Float initializers are trainable Gluon parameters.

# %%
print("\n".join(net.summary().splitlines()[:12]), "\n...")
for onnx_name, param in list(net.onnx_params.items())[:6]:
    print(f"{onnx_name:<36} {param.name:<40} {str(param.shape):<18} grad_req={param.grad_req}")

# %% [markdown]
# ## A real image, run imperatively
# A sample photo shipped with scikit-learn, resized and normalized the ImageNet way.

# %%
image = load_sample_image("china.jpg").astype(np.float32) / 255.0
image = mx.image.imresize(mx.nd.array(image), 224, 224).asnumpy()
mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
x = ((image - mean) / std).transpose(2, 0, 1)[None].astype(np.float32)
plt.imshow(image)
plt.axis("off")
plt.show()

logits = net(mx.nd.array(x))
print("logits", logits.shape, "top-5 classes", logits[0].topk(k=5).asnumpy().astype(int))

# %% [markdown]
# ## Every intermediate value is visible
# In imperative mode all values are NDArrays. `intermediate_values` returns them by ONNX tensor
# name; `load_block(..., outputs=[name])` cuts the graph there for feature extraction.

# %%
values = net.intermediate_values(mx.nd.array(x))
first = values["/relu/Relu_output_0"]
print(len(values), "tensors; first ReLU output", first.shape)
fig, axes = plt.subplots(1, 6, figsize=(12, 2))
for channel, ax in enumerate(axes):
    ax.imshow(first[0, channel].asnumpy(), cmap="viridis")
    ax.set_title(f"channel {channel}")
    ax.axis("off")
plt.show()

# %% [markdown]
# ## Hybridize and compare with onnxruntime
# Errors are relative to the largest reference output.

# %%
model = onnx.load("resnet18.onnx")
report = compare_with_onnxruntime(net, model, {"input": x})
for comparison in report:
    for out in comparison.outputs:
        print(f"{comparison.mode:<11} {out.name}: max abs {out.max_abs:.2e}, max rel {out.max_rel:.2e}")
assert all(c.ok for c in report)

# %% [markdown]
# ## Timing
# The same input through the imperative block, the hybridized block, the inference-optimized
# block (`optimize=True`: BatchNorm folded, oneDNN fusion) and onnxruntime.

# %%
def median_ms(fn, repeat=10):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


xn = mx.nd.array(x)
imperative = gluon_onnx.load_block("resnet18.onnx")
hybridized = gluon_onnx.load_block("resnet18.onnx")
hybridized.hybridize(static_alloc=True, static_shape=True)
optimized = gluon_onnx.load_block("resnet18.onnx", optimize=True)
optimized.hybridize(static_alloc=True, static_shape=True)
session = ort.InferenceSession("resnet18.onnx", providers=["CPUExecutionProvider"])
timings = {
    "imperative": median_ms(lambda: imperative(xn).wait_to_read()),
    "hybridized": median_ms(lambda: hybridized(xn).wait_to_read()),
    "optimized": median_ms(lambda: optimized(xn).wait_to_read()),
    "onnxruntime": median_ms(lambda: session.run(None, {"input": x})),
}
plt.bar(list(timings), list(timings.values()), color=["#999", "#4c72b0", "#55a868", "#c44e52"])
plt.ylabel("ms per image (batch 1)")
plt.title("ResNet-18 latency on this machine")
plt.show()
print({k: round(v, 1) for k, v in timings.items()})
