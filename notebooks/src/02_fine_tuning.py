# %% [markdown]
# # Fine-tuning an imported model
#
# An imported ONNX graph is an ordinary Gluon block: its float initializers are `Parameter`s, so
# `autograd` and `gluon.Trainer` train it. This notebook
#
# 1. imports a small CNN and cuts it at its feature layer,
# 2. puts a new `nn.Dense` head on it,
# 3. trains the head with the imported layers frozen, then unfreezes them and fine-tunes everything
#    on scikit-learn's handwritten digits,
# 4. exports the fine-tuned network back to ONNX and checks onnxruntime's predictions.
#
# The CNN is built offline by `gluon_onnx.samples.tiny_cnn` (random weights). With a downloaded
# pre-trained model the steps are the same: `gluon_onnx.load_block('model.onnx', outputs=[feature_tensor])`.

# %%
import matplotlib.pyplot as plt
import mxnet as mx
import numpy as np
import onnx
from mxnet import autograd, gluon
from mxnet.gluon import nn
from sklearn.datasets import load_digits

import gluon_onnx
from gluon_onnx import samples

mx.random.seed(0)
onnx.save(samples.tiny_cnn(seed=1, in_channels=1, image_size=8, channels=16), "digits_cnn.onnx")

digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)[:, None]
labels = digits.target.astype(np.float32)
order = np.random.default_rng(0).permutation(len(images))
train, test = order[:1400], order[1400:]
print("train", len(train), "test", len(test), "image shape", images.shape[1:])

# %% [markdown]
# ## Cut at the features and add a head
# `outputs=['/Reshape']` keeps only what the flattened features need: the original classifier is
# not even imported.

# %%
features = gluon_onnx.load_block("digits_cnn.onnx", outputs=["/Reshape"])
print(features)


class Classifier(gluon.HybridBlock):
    def __init__(self, features, classes):
        super().__init__()
        self.features = features
        self.head = nn.Dense(classes)

    def hybrid_forward(self, F, x):
        return self.head(self.features(x))


net = Classifier(features, 10)
net.head.initialize(mx.init.Xavier())
net.hybridize()


def accuracy(indices):
    predictions = net(mx.nd.array(images[indices])).argmax(axis=1).asnumpy()
    return float((predictions == labels[indices]).mean())


print("held-out accuracy before training:", accuracy(test))

# %% [markdown]
# ## Train: head only, then everything
# Setting `grad_req='null'` freezes the imported parameters (BatchNorm running statistics are
# never trainable, but they do update in training mode, like `gluon.nn.BatchNorm`).

# %%
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
history = {"loss": [], "accuracy": [], "phase": []}


def run_epochs(trainer, epochs, phase):
    for _ in range(epochs):
        losses = []
        for start in range(0, len(train), 64):
            batch = train[start:start + 64]
            x, y = mx.nd.array(images[batch]), mx.nd.array(labels[batch])
            with autograd.record():
                loss = loss_fn(net(x), y)
            loss.backward()
            trainer.step(len(batch))
            losses.append(float(loss.mean().asnumpy()))
        history["loss"].append(np.mean(losses))
        history["accuracy"].append(accuracy(test))
        history["phase"].append(phase)


start_accuracy = accuracy(test)
for param in features.collect_params().values():
    param.grad_req = "null"
run_epochs(gluon.Trainer(net.head.collect_params(), "adam", {"learning_rate": 0.01}), 3, "head only")
for name, param in features.onnx_params.items():
    param.grad_req = "null" if "running" in name else "write"
run_epochs(gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.005}), 5, "all layers")

fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.5))
epochs = np.arange(1, len(history["loss"]) + 1)
ax1.plot(epochs, history["loss"], marker="o")
ax1.set_xlabel("epoch"), ax1.set_ylabel("training loss")
ax2.plot(epochs, history["accuracy"], marker="o", color="#55a868")
ax2.axhline(0.1, ls="--", color="gray", label="chance")
ax2.set_xlabel("epoch"), ax2.set_ylabel("held-out accuracy"), ax2.legend()
for ax in (ax1, ax2):
    ax.axvspan(0.5, 3.5, color="#eee", zorder=0)
plt.suptitle("grey: head only, white: all layers")
plt.show()

final_accuracy = accuracy(test)
print(f"held-out accuracy: {start_accuracy:.3f} -> {final_accuracy:.3f}")
assert final_accuracy > 0.5 and final_accuracy > start_accuracy + 0.3

# %% [markdown]
# ## Export the fine-tuned network and check it in onnxruntime
# The whole network, imported features and new head alike, goes back to ONNX with its trained
# weights and a dynamic batch dimension.

# %%
import onnxruntime as ort

gluon_onnx.export_block(net, mx.nd.array(images[test[:2]]), "digits_finetuned.onnx", input_names=["image"],
                        output_names=["logits"], dynamic_axes={"image": {0: "N"}}, check=True)
session = ort.InferenceSession("digits_finetuned.onnx", providers=["CPUExecutionProvider"])
ort_predictions = session.run(None, {"image": images[test]})[0].argmax(axis=1)
mx_predictions = net(mx.nd.array(images[test])).argmax(axis=1).asnumpy().astype(int)
print("onnxruntime accuracy:", float((ort_predictions == labels[test]).mean()))
print("identical predictions on all", len(test), "held-out digits:", bool((ort_predictions == mx_predictions).all()))
assert (ort_predictions == mx_predictions).all()
