"""Reductions: sum, mean, max, min, prod, norm (axis, keepdims, exclude)."""

from __future__ import annotations

from ..convert import NodeTranslator
from ..registry import translation

_REDUCE = {
    "ReduceSum": ["sum", "sum_axis", "_npi_sum", "_np_sum"],
    "ReduceMean": ["mean", "_npi_mean"],
    "ReduceMax": ["max", "max_axis", "_np_max", "_npi_max"],
    "ReduceMin": ["min", "min_axis", "_np_min", "_npi_min"],
    "ReduceProd": ["prod", "_np_prod", "_npi_prod"],
}


def _axes(tx: NodeTranslator) -> list[int] | None:
    rank = tx.in_rank(0)
    axes = tx.attrs.ints("axis")
    if axes is None or (len(axes) == 0 and not tx.op.startswith("_np")):
        chosen = None
    else:
        chosen = sorted({a % rank for a in axes})
    if tx.attrs.bool("exclude", False):
        chosen = [a for a in range(rank) if a not in (chosen or [])]
    return chosen


def _finish(tx: NodeTranslator, out: str) -> str:
    """Legacy MXNet reductions to a scalar return shape (1,), ONNX returns shape ()."""
    if tx.out_rank(0) == 1 and tx.out_shape(0) == (1,) and not tx.attrs.bool("keepdims", False):
        axes = _axes(tx)
        if axes is None or len(axes) == tx.in_rank(0):
            return tx.node("Reshape", [out, tx.ints([1], "shape")])
    return out


def _reduce(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        axes = _axes(tx)
        if axes is not None and not axes:
            return tx.input(0)
        out = tx.reduce(op_type, tx.input(0), axes, tx.attrs.bool("keepdims", False))
        return _finish(tx, out)

    return translate


for _op_type, _names in _REDUCE.items():
    translation(_names)(_reduce(_op_type))


@translation("nansum")
def nansum(tx: NodeTranslator) -> str:
    x = tx.input(0)
    clean = tx.node("Where", [tx.node("IsNaN", [x]), tx.scalar(0, tx.in_dtype(0), "zero"), x])
    out = tx.reduce("ReduceSum", clean, _axes(tx), tx.attrs.bool("keepdims", False))
    return _finish(tx, out)


@translation(["norm", "_npi_norm"])
def norm(tx: NodeTranslator) -> str:
    order = tx.attrs.int("ord", 2)
    if order not in (1, 2):
        raise tx.fail(f"ord={order} is not supported")
    op_type = "ReduceL2" if order == 2 else "ReduceL1"
    out = tx.reduce(op_type, tx.input(0), _axes(tx), tx.attrs.bool("keepdims", False))
    return _finish(tx, out)
