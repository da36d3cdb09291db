# %% [markdown]
# # Fine-tuning on several devices
#
# An imported block accepts a list of contexts: every parameter then lives on each of them, and
# the usual Gluon data-parallel loop applies: `gluon.utils.split_and_load` gives each device its
# slice of the batch, and `gluon.Trainer(..., kvstore='device')` sums the gradients across
# devices before each update.
#
# Here the "devices" are two CPU contexts so the notebook runs anywhere; on a GPU machine use
# `ctx = [mx.gpu(0), mx.gpu(1)]` and nothing else changes. For several machines, start the
# script with MXNet's launcher and `kvstore='dist_sync'` (parameter servers), or use Horovod
# (`hvd.DistributedTrainer`); the imported block needs no change for either.
#
# The CNN is built offline by `gluon_onnx.samples.tiny_cnn` (random weights). To fine-tune a
# pre-trained model instead, pass its file (or a zoo model: `gluon_onnx.zoo.fetch(name)` gives
# the path) and the name of its feature tensor to `load_block(path, ctx=ctx, outputs=[...])`.

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

ctx = [mx.cpu(0), mx.cpu(1)]
onnx.save(samples.tiny_cnn(seed=2, in_channels=1, image_size=8, channels=16), "digits_cnn.onnx")
features = gluon_onnx.load_block("digits_cnn.onnx", ctx=ctx, outputs=["/Reshape"])
print("parameter contexts:", features.onnx_params["stem.weight"].list_ctx())

head = nn.Dense(10)
head.initialize(mx.init.Xavier(), ctx=ctx)
net = nn.HybridSequential()
net.add(features, head)
net.hybridize()

digits = load_digits()
images = (digits.images / 16.0).astype(np.float32)[:, None]
labels = digits.target.astype(np.float32)
order = np.random.default_rng(0).permutation(len(images))
train, test = order[:1400], order[1400:]

# %% [markdown]
# ## The data-parallel loop

# %%
trainer = gluon.Trainer(net.collect_params(), "adam", {"learning_rate": 0.01}, kvstore="device")
loss_fn = gluon.loss.SoftmaxCrossEntropyLoss()
losses, accuracies = [], []


def accuracy():
    predictions = net(mx.nd.array(images[test], ctx=ctx[0])).argmax(axis=1).asnumpy()
    return float((predictions == labels[test]).mean())


for epoch in range(5):
    epoch_loss = []
    for start in range(0, len(train), 64):
        batch = train[start:start + 64]
        xs = gluon.utils.split_and_load(images[batch], ctx)
        ys = gluon.utils.split_and_load(labels[batch], ctx)
        with autograd.record():
            batch_losses = [loss_fn(net(x), y) for x, y in zip(xs, ys)]
        autograd.backward(batch_losses)
        trainer.step(len(batch))
        epoch_loss.append(sum(float(l.sum().asnumpy()) for l in batch_losses) / len(batch))
    losses.append(np.mean(epoch_loss))
    accuracies.append(accuracy())
    print(f"epoch {epoch + 1}: loss {losses[-1]:.3f}, held-out accuracy {accuracies[-1]:.3f}")

# %% [markdown]
# ## The copies stay identical
# After every step the kvstore broadcast the same update to each device.

# %%
weight = features.onnx_params["stem.weight"]
copies = [weight.data(c).asnumpy() for c in ctx]
print("max difference between device copies:", float(np.abs(copies[0] - copies[1]).max()))
assert np.allclose(copies[0], copies[1])
assert accuracies[-1] > 0.5

plt.plot(range(1, 6), losses, marker="o", label="training loss")
plt.plot(range(1, 6), accuracies, marker="o", label="held-out accuracy")
plt.xlabel("epoch")
plt.legend()
plt.title("Two-device data-parallel fine-tuning")
plt.show()
