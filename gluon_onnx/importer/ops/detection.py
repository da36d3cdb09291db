"""Detection: NonMaxSuppression (data-dependent output size: imperative only)."""

from __future__ import annotations

import mxnet as mx
import numpy as np

from ..context import NodeContext
from ..registry import converter

_NMS_NOTES = "imperative only (data-dependent output shape), computed on the host"


def _corners(boxes: np.ndarray, center_point_box: int) -> np.ndarray:
    """(..., 4) boxes -> (..., 4) as (min0, min1, max0, max1) along the two box axes."""
    if center_point_box:
        half = boxes[..., 2:] / 2
        return np.concatenate([boxes[..., :2] - half, boxes[..., :2] + half], axis=-1)
    lo = np.minimum(boxes[..., :2], boxes[..., 2:])
    hi = np.maximum(boxes[..., :2], boxes[..., 2:])
    return np.concatenate([lo, hi], axis=-1)


def _suppressed(box: np.ndarray, others: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Whether each of ``others`` overlaps ``box`` by more than the IoU threshold (ONNX rules)."""
    inter_lo = np.maximum(box[:2], others[:, :2])
    inter_hi = np.minimum(box[2:], others[:, 2:])
    extent = inter_hi - inter_lo
    overlapping = (extent > 0).all(axis=1)
    inter = np.where(overlapping, extent[:, 0] * extent[:, 1], 0.0)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    union = area + areas - inter
    valid = overlapping & (inter > 0) & (area > 0) & (areas > 0) & (union > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(valid, inter / np.where(union > 0, union, 1), 0.0)
    return valid & (iou > iou_threshold)


def non_max_suppression_numpy(boxes: np.ndarray, scores: np.ndarray, max_per_class: int, iou_threshold: float,
                              score_threshold: float | None, center_point_box: int) -> np.ndarray:
    """Selected (batch, class, box) triples, in ONNX order."""
    selected: list[tuple[int, int, int]] = []
    if max_per_class <= 0:
        return np.zeros((0, 3), dtype=np.int64)
    corners = _corners(boxes.astype(np.float64), center_point_box)
    for b in range(scores.shape[0]):
        for c in range(scores.shape[1]):
            class_scores = scores[b, c]
            candidates = np.arange(class_scores.shape[0])
            if score_threshold is not None:
                candidates = candidates[class_scores > score_threshold]
            # descending score, ties by lower box index first
            order = candidates[np.lexsort((candidates, -class_scores[candidates]))]
            kept: list[int] = []
            alive = np.ones(order.shape[0], dtype=bool)
            for position, box_index in enumerate(order):
                if len(kept) >= max_per_class:
                    break
                if not alive[position]:
                    continue
                kept.append(int(box_index))
                selected.append((b, c, int(box_index)))
                rest = order[position + 1:]
                alive[position + 1:] &= ~_suppressed(corners[b, box_index], corners[b, rest], iou_threshold)
    return np.array(selected, dtype=np.int64).reshape(-1, 3)


@converter("NonMaxSuppression", since=10, static=("max_output_boxes_per_class", "iou_threshold", "score_threshold"),
           dynamic_shape=True, notes=_NMS_NOTES)
@converter("NonMaxSuppression", since=11, static=("max_output_boxes_per_class", "iou_threshold", "score_threshold"),
           dynamic_shape=True, notes=_NMS_NOTES)
def non_max_suppression(cx: NodeContext, boxes: object, scores: object, max_output_boxes_per_class: object = None,
                        iou_threshold: object = None, score_threshold: object = None, *,
                        center_point_box: int = 0) -> object:
    def first(value: object, default: float | None) -> float | None:
        array = None if value is None else np.asarray(value).reshape(-1)
        return default if array is None or array.size == 0 else array[0].item()

    max_per_class = int(first(max_output_boxes_per_class, 0))
    selected = non_max_suppression_numpy(
        boxes.asnumpy(), scores.asnumpy(), max_per_class, float(first(iou_threshold, 0.0)),
        first(score_threshold, None), center_point_box,
    )
    return mx.nd.array(selected, dtype="int64", ctx=boxes.context)
