"""ai.onnx.ml operators over numbers: Binarizer, ArrayFeatureExtractor, TreeEnsemble.

(LabelEncoder lives with the string operators in strings.py.)
"""

from __future__ import annotations

import numpy as np

from ..context import NodeContext
from ..registry import converter

_ML = "ai.onnx.ml"


@converter("Binarizer", since=1, domain=_ML)
def binarizer(cx: NodeContext, x: object, *, threshold: float = 0.0) -> object:
    F = cx.F
    storage = cx.in_storage(0) or "float32"
    if not storage.startswith("float"):
        # a scalar comparison on integers would truncate the threshold
        return F.Cast(F.Cast(x, dtype="float64") > threshold, dtype=storage)
    return x > threshold


@converter("ArrayFeatureExtractor", since=1, domain=_ML)
def array_feature_extractor(cx: NodeContext, x: object, indices: object) -> object:
    F = cx.F
    rank = cx.rank(0)
    picked = F.take(x, F.reshape(indices, shape=(-1,)), axis=-1, mode="clip")
    # like onnxruntime: a 1-D input gives a [1, k] result
    return F.expand_dims(picked, axis=0) if rank == 1 else picked


# --- TreeEnsemble -------------------------------------------------------------------------------

_LEQ, _LT, _GTE, _GT, _EQ, _NEQ, _MEMBER = range(7)


class _Forest:
    """Node tables of a TreeEnsemble, leaves appended after the interior nodes.

    Entry ``i < n_nodes`` is interior node ``i``; entry ``n_nodes + j`` is leaf ``j``, which
    points to itself so that walking past a leaf keeps it.
    """

    def __init__(self, cx: NodeContext, attrs: dict):
        modes = np.asarray(attrs["nodes_modes"], dtype=np.int64).reshape(-1)
        n_nodes = modes.size
        n_leaves = len(attrs["leaf_weights"])
        total = n_nodes + n_leaves
        self.n_nodes = n_nodes
        self.modes = np.concatenate([modes, np.full(n_leaves, -1)])
        self.features = np.concatenate([np.asarray(attrs["nodes_featureids"], np.int64), np.zeros(n_leaves, np.int64)])
        splits = np.asarray(attrs["nodes_splits"], np.float64).reshape(-1)
        self.splits = np.concatenate([splits, np.zeros(n_leaves)])
        leaf_ids = np.arange(n_nodes, total)

        def branch(ids: str, leafs: str) -> np.ndarray:
            targets = np.asarray(attrs[ids], np.int64)
            is_leaf = np.asarray(attrs[leafs], np.int64).astype(bool)
            return np.concatenate([np.where(is_leaf, targets + n_nodes, targets), leaf_ids])

        self.true_next = branch("nodes_truenodeids", "nodes_trueleafs")
        self.false_next = branch("nodes_falsenodeids", "nodes_falseleafs")
        missing = attrs.get("nodes_missing_value_tracks_true")
        self.missing_true = np.zeros(total)
        if missing is not None:
            self.missing_true[:n_nodes] = np.asarray(missing, np.float64)
        self.members = self._membership(cx, attrs.get("membership_values"), modes, total)
        roots = np.asarray(attrs["tree_roots"], np.int64)
        # a tree that is one leaf: a root whose two branches are the same leaf
        degenerate = (self.true_next[roots] == self.false_next[roots]) & (self.true_next[roots] >= n_nodes)
        self.roots = np.where(degenerate, self.true_next[roots], roots)
        self.depth = self._depth(cx)

    @staticmethod
    def _membership(cx: NodeContext, values: object, modes: np.ndarray, total: int) -> np.ndarray | None:
        member_nodes = np.flatnonzero(modes == _MEMBER)
        if member_nodes.size == 0:
            return None
        if values is None:
            raise cx.fail("BRANCH_MEMBER nodes need membership_values")
        flat = np.asarray(values, np.float64).reshape(-1)
        sets = np.split(flat, np.flatnonzero(np.isnan(flat)))
        sets = [s[~np.isnan(s)] for s in sets][: member_nodes.size]
        if len(sets) < member_nodes.size:
            raise cx.fail("membership_values lists fewer sets than there are BRANCH_MEMBER nodes")
        width = max(1, max(s.size for s in sets))
        table = np.full((total, width), np.nan)  # NaN never compares equal: padding
        for node, members in zip(member_nodes, sets):
            table[node, : members.size] = members
        return table

    def _depth(self, cx: NodeContext) -> int:
        """Longest root-to-leaf path (number of interior nodes walked)."""
        depth = 0
        frontier = {int(r) for r in self.roots if r < self.n_nodes}
        seen = 0
        while frontier:
            depth += 1
            seen += len(frontier)
            if seen > self.n_nodes * max(len(self.roots), 1) + 1:
                raise cx.fail("the tree ensemble has a cycle")
            frontier = {int(n) for f in frontier for n in (self.true_next[f], self.false_next[f]) if n < self.n_nodes}
        return depth


@converter("TreeEnsemble", since=5, domain=_ML)
def tree_ensemble(cx: NodeContext, x: object, *, aggregate_function: int = 1, leaf_targetids: list[int] | None = None,
                  leaf_weights: np.ndarray | None = None, membership_values: np.ndarray | None = None,
                  n_targets: int | None = None, nodes_falseleafs: list[int] | None = None,
                  nodes_falsenodeids: list[int] | None = None, nodes_featureids: list[int] | None = None,
                  nodes_hitrates: np.ndarray | None = None,
                  nodes_missing_value_tracks_true: list[int] | None = None, nodes_modes: np.ndarray | None = None,
                  nodes_splits: np.ndarray | None = None, nodes_trueleafs: list[int] | None = None,
                  nodes_truenodeids: list[int] | None = None, post_transform: int = 0,
                  tree_roots: list[int] | None = None) -> object:
    F = cx.F
    if cx.rank(0) != 2:
        raise cx.fail("TreeEnsemble takes a [N, F] input")
    forest = _Forest(cx, dict(
        nodes_modes=nodes_modes, nodes_featureids=nodes_featureids, nodes_splits=nodes_splits,
        nodes_truenodeids=nodes_truenodeids, nodes_trueleafs=nodes_trueleafs, nodes_falsenodeids=nodes_falsenodeids,
        nodes_falseleafs=nodes_falseleafs, nodes_missing_value_tracks_true=nodes_missing_value_tracks_true,
        membership_values=membership_values, leaf_weights=leaf_weights, tree_roots=tree_roots,
    ))
    dtype = cx.in_storage(0) or "float32"
    work = "float64" if dtype == "float64" else "float32"
    values = F.Cast(x, dtype=work) if dtype != work else x

    def table(array: np.ndarray) -> object:
        return cx.const(np.asarray(array, dtype=work))

    modes, features, splits = table(forest.modes), table(forest.features), table(forest.splits)
    true_next, false_next, missing_true = table(forest.true_next), table(forest.false_next), table(forest.missing_true)
    members = table(forest.members) if forest.members is not None else None
    # walk every (sample, tree) pair down one level per step: node ids of shape (N, trees)
    row_ids = F.broadcast_like(F.reshape(F.contrib.arange_like(values, axis=0), shape=(-1, 1)),
                               F.reshape(table(forest.roots), shape=(1, -1)), lhs_axes=(1,), rhs_axes=(1,))
    nodes = F.broadcast_like(F.reshape(table(forest.roots), shape=(1, -1)), row_ids)
    for _ in range(forest.depth):
        feature = F.take(features, nodes)
        value = F.gather_nd(values, F.stack(F.Cast(row_ids, dtype="int64"), F.Cast(feature, dtype="int64"), axis=0))
        split = F.take(splits, nodes)
        mode = F.take(modes, nodes)
        outcome = ((mode == _LEQ) * (value <= split) + (mode == _LT) * (value < split)
                   + (mode == _GTE) * (value >= split) + (mode == _GT) * (value > split)
                   + (mode == _EQ) * (value == split) + (mode == _NEQ) * (value != split))
        if members is not None:
            candidates = F.take(members, nodes)  # (N, trees, width)
            is_member = F.max(F.broadcast_equal(candidates, F.expand_dims(value, axis=-1)), axis=-1)
            outcome = outcome + (mode == _MEMBER) * is_member
        missing = (value != value) * F.take(missing_true, nodes)
        go_true = F.minimum(outcome + missing, 1.0)
        nodes = F.where(go_true, F.take(true_next, nodes), F.take(false_next, nodes))
    leaves = nodes - float(forest.n_nodes)
    weights = F.take(table(np.asarray(leaf_weights, np.float64)), leaves)
    targets = F.take(table(np.asarray(leaf_targetids, np.int64)), leaves)
    count = int(n_targets or (max(leaf_targetids) + 1))
    hits = F.one_hot(targets, depth=count, dtype=work)  # (N, trees, targets)
    contributions = F.broadcast_mul(hits, F.expand_dims(weights, axis=-1))
    if aggregate_function in (0, 1):
        scores = F.sum(contributions, axis=1)
        if aggregate_function == 0:
            scores = scores / float(len(forest.roots))
    elif aggregate_function in (2, 3):
        big = float(np.finfo(np.float64 if work == "float64" else np.float32).max)
        if aggregate_function == 2:
            scores = F.min(F.where(hits, contributions, F.ones_like(hits) * big), axis=1)
        else:
            scores = F.max(F.where(hits, contributions, F.ones_like(hits) * -big), axis=1)
        # a target no tree voted for scores 0, as in onnxruntime
        scores = F.where(F.sum(hits, axis=1) > 0, scores, F.zeros_like(scores))
    else:
        raise cx.fail(f"unknown aggregate_function {aggregate_function}")
    scores = _post_transform(cx, scores, post_transform)
    return F.Cast(scores, dtype=dtype) if dtype != work else scores


def _post_transform(cx: NodeContext, scores: object, kind: int) -> object:
    F = cx.F
    if kind == 0:
        return scores
    if kind == 1:
        return F.softmax(scores, axis=-1)
    if kind == 2:
        return F.sigmoid(scores)
    if kind == 3:
        # softmax over the non-zero scores; zeros stay zero
        nonzero = scores != 0
        shifted = F.exp(F.broadcast_sub(scores, F.max(scores, axis=-1, keepdims=True))) * nonzero
        return F.broadcast_div(shifted, F.maximum(F.sum(shifted, axis=-1, keepdims=True), 1e-30))
    if kind == 4:
        return F.erfinv(scores * 2.0 - 1.0) * float(np.sqrt(2.0))
    raise cx.fail(f"unknown post_transform {kind}")
