"""Detection operators: box_nms, box_decode, ROIAlign, ROIPooling, MultiBoxPrior."""

from __future__ import annotations

import mxnet as mx
import numpy as np
from onnx import numpy_helper

from ..convert import INT64_MAX, NodeTranslator
from ..registry import translation


def _split_last(tx: NodeTranslator, x: str, count: int) -> list[str]:
    return tx.node("Split", [x], count, axis=-1, **({"num_outputs": count} if tx.opset >= 18 else {}))


# --- box_decode -------------------------------------------------------------------------------------
@translation("_contrib_box_decode")
def box_decode(tx: NodeTranslator) -> str:
    dtype = tx.in_dtype(0)
    d0, d1, d2, d3 = _split_last(tx, tx.input(0), 4)
    a0, a1, a2, a3 = _split_last(tx, tx.input(1), 4)
    half = tx.scalar(0.5, dtype, "half")
    if tx.attrs.str("format", "center") == "corner":
        aw = tx.node("Sub", [a2, a0])
        ah = tx.node("Sub", [a3, a1])
        ax = tx.node("Add", [a0, tx.node("Mul", [aw, half])])
        ay = tx.node("Add", [a1, tx.node("Mul", [ah, half])])
    else:
        ax, ay, aw, ah = a0, a1, a2, a3
    stds = [tx.attrs.float(f"std{i}", 1.0) for i in range(4)]

    def scaled(v: str, std: float, name: str) -> str:
        return v if std == 1.0 else tx.node("Mul", [v, tx.scalar(std, dtype, name)])

    ox = tx.node("Add", [tx.node("Mul", [scaled(d0, stds[0], "std0"), aw]), ax])
    oy = tx.node("Add", [tx.node("Mul", [scaled(d1, stds[1], "std1"), ah]), ay])
    dw = scaled(d2, stds[2], "std2")
    dh = scaled(d3, stds[3], "std3")
    limit = tx.attrs.float("clip", -1.0)
    if limit > 0:
        bound = tx.scalar(limit, dtype, "clip")
        dw = tx.node("Min", [dw, bound])
        dh = tx.node("Min", [dh, bound])
    hw = tx.node("Mul", [tx.node("Mul", [tx.node("Exp", [dw]), aw]), half])
    hh = tx.node("Mul", [tx.node("Mul", [tx.node("Exp", [dh]), ah]), half])
    corners = [tx.node("Sub", [ox, hw]), tx.node("Sub", [oy, hh]), tx.node("Add", [ox, hw]), tx.node("Add", [oy, hh])]
    return tx.node("Concat", corners, axis=-1)


# --- box_nms --------------------------------------------------------------------------------------
def _to_corner(tx: NodeTranslator, boxes: str, dtype: np.dtype) -> str:
    x, y, w, h = _split_last(tx, boxes, 4)
    half = tx.scalar(0.5, dtype, "half")
    hw = tx.node("Mul", [w, half])
    hh = tx.node("Mul", [h, half])
    return tx.node("Concat", [tx.node("Sub", [x, hw]), tx.node("Sub", [y, hh]),
                              tx.node("Add", [x, hw]), tx.node("Add", [y, hh])], axis=-1)


def _to_center(tx: NodeTranslator, boxes: str, dtype: np.dtype) -> str:
    x1, y1, x2, y2 = _split_last(tx, boxes, 4)
    half = tx.scalar(0.5, dtype, "half")
    w = tx.node("Sub", [x2, x1])
    h = tx.node("Sub", [y2, y1])
    return tx.node("Concat", [tx.node("Add", [x1, tx.node("Mul", [w, half])]),
                              tx.node("Add", [y1, tx.node("Mul", [h, half])]), w, h], axis=-1)


def _column(tx: NodeTranslator, rows: str, index: int) -> str:
    return tx.node("Gather", [rows, tx.scalar(index, np.int64, "column")], axis=2)


def _gather_rows(tx: NodeTranslator, rows: str, order: str) -> str:
    """rows[b, order[b, i], :] for (B, N, K) rows and (B, M) order."""
    return tx.node("GatherND", [rows, tx.unsqueeze(order, [2])], batch_dims=1)


@translation(["_contrib_box_nms", "box_nms", "_contrib_box_non_maximum_suppression"])
def box_nms(tx: NodeTranslator) -> str:
    """MXNet's box_nms with ONNX NonMaxSuppression.

    MXNet keeps boxes with score > valid_thresh (and id != background_id), takes the
    ``topk`` best of them, suppresses (per class unless force_suppress) and returns the
    surviving rows sorted by score, then rows of -1. Class-aware suppression uses the
    class dimension of NonMaxSuppression's scores (one row of scores per class id).
    """
    data = tx.input(0)
    shape = tx.in_shape(0)
    dynamic = tx.in_dynamic(0)
    rank = len(shape)
    dtype = tx.in_dtype(0)
    if dtype != np.float32:
        raise tx.fail("box_nms is exported for float32 boxes only")
    if dynamic[-1]:
        raise tx.fail("the box width (last dimension) must be fixed")
    width = shape[-1]
    n_boxes = shape[-2]
    overlap = tx.attrs.float("overlap_thresh", 0.5)
    valid_thresh = tx.attrs.float("valid_thresh", 0.0)
    topk = tx.attrs.int("topk", -1)
    coord_start = tx.attrs.int("coord_start", 2)
    score_index = tx.attrs.int("score_index", 1)
    id_index = tx.attrs.int("id_index", -1)
    background_id = tx.attrs.int("background_id", -1)
    force_suppress = tx.attrs.bool("force_suppress", False)
    in_format = tx.attrs.str("in_format", "corner")
    out_format = tx.attrs.str("out_format", "corner")

    if rank == 2:
        rows = tx.unsqueeze(data, [0])
    elif rank == 3:
        rows = data
    else:
        n_part: object = tx.dim_of(data, rank - 2) if dynamic[-2] else n_boxes
        rows = tx.node("Reshape", [data, tx.shape_tensor([-1, n_part, width])])

    ninf = tx.scalar(-np.inf, dtype, "ninf")
    scores = _column(tx, rows, score_index)
    valid = tx.node("Greater", [scores, tx.scalar(valid_thresh, dtype, "valid_thresh")])
    if id_index >= 0 and background_id >= 0:
        ids = _column(tx, rows, id_index)
        valid = tx.node("And", [valid, tx.node("Not", [tx.node("Equal", [ids, tx.scalar(background_id, dtype,
                                                                                         "background")])])])
    masked = tx.node("Where", [valid, scores, ninf])

    subset = topk > 0 and (dynamic[-2] or topk < n_boxes)
    if subset:
        count = tx.ints([topk], "topk")
        if dynamic[-2]:
            count = tx.node("Min", [count, tx.dim_of(rows, 1)])
        masked, order = tx.node("TopK", [masked, count], 2, axis=1, largest=1, sorted=1)
        rows = _gather_rows(tx, rows, order)

    boxes = tx.slice(rows, [coord_start], [coord_start + 4], [2])
    if id_index >= 0 and not force_suppress:
        ids = _column(tx, rows, id_index)
        top_id = tx.node("ReduceMax", [ids], keepdims=0)
        classes = tx.node("Max", [tx.cast(tx.node("Add", [top_id, tx.scalar(1.0, dtype, "one")]), np.int64),
                                  tx.scalar(1, np.int64, "min_classes")])
        class_ids = tx.cast(tx.node("Range", [tx.scalar(0, np.int64, "zero"), classes,
                                              tx.scalar(1, np.int64, "step")]), dtype)
        one_hot = tx.node("Equal", [tx.unsqueeze(ids, [1]), tx.unsqueeze(class_ids, [0, 2])])
        class_scores = tx.node("Where", [one_hot, tx.unsqueeze(masked, [1]), ninf])
    else:
        class_scores = tx.unsqueeze(masked, [1])
    # every box that survives suppression is kept: no per-class limit below the box count
    max_boxes = tx.ints([np.iinfo(np.int32).max], "max_boxes")
    selected = tx.node(
        "NonMaxSuppression",
        [boxes, class_scores, max_boxes, tx.const(np.array([overlap], np.float32), "iou"),
         tx.const(np.array([valid_thresh], np.float32), "score_threshold")],
        center_point_box=1 if in_format == "center" else 0,
    )
    # keep[b, i] = 1 for every selected box, then sort the survivors by score
    box_index = tx.node("Gather", [selected, tx.ints([0, 2], "batch_box")], axis=1)
    zeros = tx.node("ConstantOfShape", [tx.shape_of(masked)], value=numpy_helper.from_array(np.zeros(1, dtype)))
    ones = tx.node("ConstantOfShape", [tx.slice(tx.shape_of(selected), [0], [1], [0])],
                   value=numpy_helper.from_array(np.ones(1, dtype)))
    keep = tx.node("Cast", [tx.node("ScatterND", [zeros, box_index, ones])], to=9)
    final_scores = tx.node("Where", [keep, masked, ninf])
    if dynamic[-2]:
        candidates = tx.dim_of(rows, 1)
    else:
        candidates = tx.ints([topk if subset else n_boxes], "candidates")
    sorted_scores, order = tx.node("TopK", [final_scores, candidates], 2, axis=1, largest=1, sorted=1)
    sorted_rows = _gather_rows(tx, rows, order)
    if in_format != out_format:
        coords = tx.slice(sorted_rows, [coord_start], [coord_start + 4], [2])
        coords = _to_center(tx, coords, dtype) if out_format == "center" else _to_corner(tx, coords, dtype)
        parts = []
        if coord_start > 0:
            parts.append(tx.slice(sorted_rows, [0], [coord_start], [2]))
        parts.append(coords)
        if coord_start + 4 < width:
            parts.append(tx.slice(sorted_rows, [coord_start + 4], [INT64_MAX], [2]))
        sorted_rows = tx.node("Concat", parts, axis=2)
    survived = tx.unsqueeze(tx.node("Greater", [sorted_scores, ninf]), [2])
    result = tx.node("Where", [survived, sorted_rows, tx.scalar(-1.0, dtype, "minus_one")])
    if subset:
        # rows beyond topk are always -1
        if dynamic[-2]:
            missing = tx.node("Sub", [tx.dim_of(data, rank - 2), tx.dim_of(result, 1)])
        else:
            missing = tx.ints([n_boxes - topk], "missing")
        pad_shape = tx.shape_tensor([tx.dim_of(result, 0), missing, width])
        padding = tx.node("ConstantOfShape", [pad_shape], value=numpy_helper.from_array(np.full(1, -1, dtype)))
        result = tx.node("Concat", [result, padding], axis=1)
    if rank == 3:
        return result
    if rank == 2:
        return tx.squeeze(result, [0])
    return tx.node("Reshape", [result, tx.shape_of(data)])


# --- ROI operators ---------------------------------------------------------------------------------
def _roi_align(tx: NodeTranslator, transform: str | None) -> str:
    if tx.attrs.bool("position_sensitive", False):
        raise tx.fail("position-sensitive ROIAlign is not supported")
    rois = tx.input(1)
    dtype = tx.in_dtype(1)
    batch = tx.cast(tx.node("Gather", [rois, tx.scalar(0, np.int64, "batch_col")], axis=1), np.int64)
    boxes = tx.slice(rois, [1], [5], [1])
    pooled = tx.attrs.ints("pooled_size")
    pooled_h, pooled_w = (pooled[0], pooled[0]) if len(pooled) == 1 else pooled[:2]
    ratio = tx.attrs.int("sample_ratio", -1)
    attrs = {
        "mode": "avg",
        "output_height": pooled_h,
        "output_width": pooled_w,
        "sampling_ratio": max(ratio, 0),
        "spatial_scale": tx.attrs.float("spatial_scale"),
    }
    if transform is not None:
        attrs["coordinate_transformation_mode"] = transform
    del dtype
    return tx.node("RoiAlign", [tx.input(0), boxes, batch], **attrs)


@translation(["_contrib_ROIAlign", "ROIAlign"])
def roi_align(tx: NodeTranslator) -> str:
    if tx.attrs.bool("aligned", False):
        raise tx.fail("aligned=True needs opset 16 or newer")
    return _roi_align(tx, None)


@translation(["_contrib_ROIAlign", "ROIAlign"], since=16)
def roi_align_16(tx: NodeTranslator) -> str:
    return _roi_align(tx, "half_pixel" if tx.attrs.bool("aligned", False) else "output_half_pixel")


@translation("ROIPooling")
def roi_pooling(tx: NodeTranslator) -> str:
    pooled = tx.attrs.ints("pooled_size")
    return tx.node("MaxRoiPool", [tx.input(0), tx.input(1)], pooled_shape=list(pooled),
                   spatial_scale=tx.attrs.float("spatial_scale"))


# --- anchors ---------------------------------------------------------------------------------------
@translation(["MultiBoxPrior", "_contrib_MultiBoxPrior"])
def multibox_prior(tx: NodeTranslator) -> str:
    # The anchors depend on the input's height and width only: computed by MXNet at export time.
    if any(tx.in_dynamic(0)[2:]):
        raise tx.fail("anchors for a dynamic height or width are not supported")
    shape = tx.in_shape(0)
    sample = mx.nd.zeros((1, 1) + tuple(shape[2:]), dtype=tx.in_dtype(0))
    anchors = mx.nd.contrib.MultiBoxPrior(sample, **tx.attrs.raw).asnumpy()
    return tx.const(anchors, "anchors")


@translation(["MultiBoxDetection", "_contrib_MultiBoxDetection"])
def multibox_detection(tx: NodeTranslator) -> str:
    """SSD's decoding + per-class NMS: rows [id, score, xmin, ymin, xmax, ymax] sorted by score.

    Detections suppressed by NMS keep their score and box with id -1; anchors below the
    threshold are rows of -1. (MXNet leaves unspecified values in rows past ``nms_topk``;
    they are -1 here.)
    """
    if tx.attrs.int("background_id", 0) != 0:
        raise tx.fail("only background_id=0 is supported")
    cls_prob, loc_pred, anchors = tx.input(0), tx.input(1), tx.input(2)
    dtype = tx.in_dtype(0)
    classes = tx.in_shape(0)[1] - 1
    n_anchors = tx.in_shape(2)[1]
    if tx.in_dynamic(2)[1]:
        raise tx.fail("the number of anchors must be fixed")
    variances = tx.attrs.floats("variances", (0.1, 0.1, 0.2, 0.2))
    threshold = tx.attrs.float("threshold", 0.01)
    topk = tx.attrs.int("nms_topk", -1)
    ninf = tx.scalar(-np.inf, dtype, "ninf")

    foreground = tx.slice(cls_prob, [1], [INT64_MAX], [1])                     # (B, C, N)
    score = tx.reduce("ReduceMax", foreground, [1], False)                     # (B, N)
    class_id = tx.cast(tx.node("ArgMax", [foreground], axis=1, keepdims=0), dtype)
    valid = tx.node("GreaterOrEqual", [score, tx.scalar(threshold, dtype, "threshold")])

    # decode: corner anchors, center offsets scaled by the variances
    loc = tx.node("Reshape", [loc_pred, tx.ints([0, -1, 4], "loc_shape")])
    l0, l1, l2, l3 = _split_last(tx, loc, 4)
    a0, a1, a2, a3 = _split_last(tx, anchors, 4)
    half = tx.scalar(0.5, dtype, "half")
    aw, ah = tx.node("Sub", [a2, a0]), tx.node("Sub", [a3, a1])
    ax = tx.node("Mul", [tx.node("Add", [a0, a2]), half])
    ay = tx.node("Mul", [tx.node("Add", [a1, a3]), half])

    def var(i: int) -> str:
        return tx.scalar(variances[i], dtype, f"variance{i}")

    ox = tx.node("Add", [tx.node("Mul", [tx.node("Mul", [l0, var(0)]), aw]), ax])
    oy = tx.node("Add", [tx.node("Mul", [tx.node("Mul", [l1, var(1)]), ah]), ay])
    hw = tx.node("Mul", [tx.node("Mul", [tx.node("Exp", [tx.node("Mul", [l2, var(2)])]), aw]), half])
    hh = tx.node("Mul", [tx.node("Mul", [tx.node("Exp", [tx.node("Mul", [l3, var(3)])]), ah]), half])
    box = tx.node("Concat", [tx.node("Sub", [ox, hw]), tx.node("Sub", [oy, hh]), tx.node("Add", [ox, hw]),
                             tx.node("Add", [oy, hh])], axis=-1)
    if tx.attrs.bool("clip", True):
        box = tx.node("Clip", [box, tx.scalar(0.0, dtype, "zero"), tx.scalar(1.0, dtype, "one")])
    rows = tx.node("Concat", [tx.unsqueeze(class_id, [2]), tx.unsqueeze(score, [2]), box], axis=2)

    # sort the valid detections by score, keep the first nms_topk
    masked = tx.node("Where", [valid, score, ninf])
    count = tx.ints([n_anchors], "anchors")
    sorted_scores, order = tx.node("TopK", [masked, count], 2, axis=1, largest=1, sorted=1)
    rows = _gather_rows(tx, rows, order)
    considered = tx.node("Greater", [sorted_scores, ninf])
    if 0 < topk < n_anchors:
        positions = tx.node("Range", [tx.scalar(0, np.int64, "start"), tx.scalar(n_anchors, np.int64, "stop"),
                                      tx.scalar(1, np.int64, "step")])
        in_topk = tx.node("Less", [positions, tx.scalar(topk, np.int64, "topk")])
        considered = tx.node("And", [considered, tx.unsqueeze(in_topk, [0])])
    nms_scores = tx.node("Where", [considered, sorted_scores, ninf])
    sorted_ids = _column(tx, rows, 0)
    if tx.attrs.bool("force_suppress", False):
        class_scores = tx.unsqueeze(nms_scores, [1])
    else:
        class_ids = tx.const(np.arange(classes, dtype=dtype).reshape(1, classes, 1), "class_ids")
        one_hot = tx.node("Equal", [tx.unsqueeze(sorted_ids, [1]), class_ids])
        class_scores = tx.node("Where", [one_hot, tx.unsqueeze(nms_scores, [1]), ninf])
    boxes = tx.slice(rows, [2], [6], [2])
    selected = tx.node(
        "NonMaxSuppression",
        [boxes, class_scores, tx.ints([np.iinfo(np.int32).max], "max_boxes"),
         tx.const(np.array([tx.attrs.float("nms_threshold", 0.5)], np.float32), "iou"),
         tx.const(np.array([np.finfo(np.float32).min], np.float32), "score_threshold")],
    )
    box_index = tx.node("Gather", [selected, tx.ints([0, 2], "batch_box")], axis=1)
    zeros = tx.node("ConstantOfShape", [tx.shape_of(nms_scores)], value=numpy_helper.from_array(np.zeros(1, dtype)))
    ones = tx.node("ConstantOfShape", [tx.slice(tx.shape_of(selected), [0], [1], [0])],
                   value=numpy_helper.from_array(np.ones(1, dtype)))
    kept = tx.node("Cast", [tx.node("ScatterND", [zeros, box_index, ones])], to=9)
    minus_one = tx.scalar(-1.0, dtype, "minus_one")
    ids = tx.unsqueeze(tx.node("Where", [kept, sorted_ids, minus_one]), [2])
    rest = tx.slice(rows, [1], [6], [2])
    result = tx.node("Concat", [ids, rest], axis=2)
    return tx.node("Where", [tx.unsqueeze(considered, [2]), result, minus_one])
