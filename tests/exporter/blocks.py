"""Small Gluon networks built in the tests (no downloads)."""

from __future__ import annotations

import numpy as np
from mxnet.gluon import nn


class MultiHeadAttention(nn.HybridBlock):
    """Self-attention with MXNet's special reshape codes (0, -1, -3, -4) and batch_dot."""

    def __init__(self, units: int, heads: int, **kwargs):
        super().__init__(**kwargs)
        self.heads = heads
        self.units = units
        with self.name_scope():
            self.qkv = nn.Dense(3 * units, flatten=False)
            self.proj = nn.Dense(units, flatten=False)

    def hybrid_forward(self, F, x, mask):
        qkv = self.qkv(x).reshape((0, 0, 3, self.heads, -1))       # (N, T, 3, H, D)
        qkv = qkv.transpose((2, 0, 3, 1, 4))                        # (3, N, H, T, D)
        q, k, v = F.split(qkv, num_outputs=3, axis=0, squeeze_axis=True)
        q, k, v = (t.reshape((-3, 0, 0)) for t in (q, k, v))        # (N*H, T, D)
        scores = F.batch_dot(q, k, transpose_b=True) / np.sqrt(self.units // self.heads)
        scores = scores.reshape((-4, -1, self.heads, 0, 0))         # (N, H, T, T)
        scores = F.broadcast_add(scores, (1 - mask.expand_dims(1).expand_dims(1)) * -1e4)
        attention = F.softmax(scores, axis=-1).reshape((-3, 0, 0))
        out = F.batch_dot(attention, v).reshape((-4, -1, self.heads, 0, 0))
        return self.proj(out.transpose((0, 2, 1, 3)).reshape((0, 0, -1)))


class EncoderBlock(nn.HybridBlock):
    """A transformer encoder layer: attention, GELU feed-forward, LayerNorm, dropout."""

    def __init__(self, units: int = 32, heads: int = 4, hidden: int = 64, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.attention = MultiHeadAttention(units, heads)
            self.norm1 = nn.LayerNorm()
            self.norm2 = nn.LayerNorm()
            self.ffn1 = nn.Dense(hidden, flatten=False)
            self.act = nn.GELU()
            self.ffn2 = nn.Dense(units, flatten=False)
            self.dropout = nn.Dropout(0.1)

    def hybrid_forward(self, F, x, mask):
        x = self.norm1(x + self.dropout(self.attention(x, mask)))
        return self.norm2(x + self.dropout(self.ffn2(self.act(self.ffn1(x)))))
