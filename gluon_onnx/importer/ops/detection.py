"""Detection: NonMaxSuppression.

The greedy suppression runs in MXNet's ``box_nms`` (one row of boxes per batch and class): it
keeps the boxes whose score is above the threshold, in descending score order (a stable sort, so
equal scores keep the lower box index first), and drops every box whose IoU with an already kept
box of the row is above the IoU threshold, as ONNX specifies. The boxes are given to it as
normalized corners computed the way ONNX computes them (min/max of the corner coordinates, or
center -/+ half size), so that areas and IoUs are the same float32 values. The selected
(batch, class, box) triples are then gathered with ``_npi_nonzero``, whose data-dependent output
length Gluon partitions out of hybridized graphs.
"""

from __future__ import annotations

import numpy as np

from ..context import NodeContext
from ..mxops import npi
from ..registry import converter

#: boxes stay in MXNet's int32 indexing and exact in the float32 index column below this count
_MAX_PER_CLASS = 2**31 - 1


def _first(value: object, default: float | None) -> float | None:
    array = None if value is None else np.asarray(value).reshape(-1)
    return default if array is None or array.size == 0 else array[0].item()


def _corners(cx: NodeContext, boxes: object, center_point_box: int) -> object:
    """(B, N, 4) boxes -> (B, N, 4) as (min0, min1, max0, max1), with ONNX's float operations."""
    F = cx.F
    first, second, third, fourth = F.split(boxes, num_outputs=4, axis=-1)
    if center_point_box:
        half_width, half_height = third / 2, fourth / 2
        return F.concat(first - half_width, second - half_height, first + half_width, second + half_height, dim=-1)
    return F.concat(F.minimum(first, third), F.minimum(second, fourth), F.maximum(first, third),
                    F.maximum(second, fourth), dim=-1)


def _grid(F: object, like: object, axis: int) -> object:
    """The index along ``axis`` of every element of the rank-3 ``like`` (float)."""
    shape = [1, 1, 1]
    shape[axis] = -1
    return F.broadcast_like(F.reshape(F.contrib.arange_like(like, axis=axis), shape=tuple(shape)), like)


@converter("NonMaxSuppression", since=10, static=("max_output_boxes_per_class", "iou_threshold", "score_threshold"))
@converter("NonMaxSuppression", since=11, static=("max_output_boxes_per_class", "iou_threshold", "score_threshold"))
def non_max_suppression(cx: NodeContext, boxes: object, scores: object, max_output_boxes_per_class: object = None,
                        iou_threshold: object = None, score_threshold: object = None, *,
                        center_point_box: int = 0) -> object:
    F = cx.F
    if center_point_box not in (0, 1):
        raise cx.fail(f"center_point_box must be 0 or 1, got {center_point_box}")
    if cx.rank(0) != 3 or cx.rank(1) != 3:
        raise cx.fail("boxes must be (batches, boxes, 4) and scores (batches, classes, boxes)")
    max_per_class = min(int(_first(max_output_boxes_per_class, 0)), _MAX_PER_CLASS)
    if max_per_class <= 0:
        return cx.const(np.zeros((0, 3), dtype=np.int64))
    threshold = _first(score_threshold, None)
    scores = F.Cast(scores, dtype="float32") if cx.in_storage(1) != "float32" else scores
    corners = _corners(cx, F.Cast(boxes, dtype="float32") if cx.in_storage(0) != "float32" else boxes,
                       center_point_box)
    box_index = _grid(F, scores, 2)
    # one row of [score, box index, 4 corners] per (batch, class, box)
    per_class = F.broadcast_like(F.expand_dims(corners, axis=1), F.expand_dims(scores, axis=-1),
                                 lhs_axes=(1,), rhs_axes=(1,))
    rows = F.concat(F.expand_dims(scores, axis=-1), F.expand_dims(box_index, axis=-1), per_class, dim=-1)
    kept = F.contrib.box_nms(
        rows, overlap_thresh=float(np.float32(_first(iou_threshold, 0.0))),
        valid_thresh=float("-inf") if threshold is None else float(np.float32(threshold)),
        topk=-1, coord_start=2, score_index=0, id_index=-1, force_suppress=True,
        in_format="corner", out_format="corner",
    )
    # kept boxes come first in each row, by descending score; the others are all -1
    kept_index = F.reshape(F.slice_axis(kept, axis=-1, begin=1, end=2), shape=(0, 0, 0))
    selected = (kept_index >= 0) * (_grid(F, scores, 2) < max_per_class)
    triples = F.stack(_grid(F, scores, 0), _grid(F, scores, 1), kept_index, axis=-1)
    chosen = F.reshape(npi(F, "nonzero", F.reshape(selected, shape=(-1,))), shape=(-1,))
    return F.Cast(F.take(F.reshape(triples, shape=(-1, 3)), chosen, axis=0), dtype="int64")
