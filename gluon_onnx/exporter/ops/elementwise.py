"""Element-wise operators: binary (elemwise_*, broadcast_*), scalar (``_*_scalar``), unary."""

from __future__ import annotations

import math

import numpy as np

from ..convert import NodeTranslator
from ..registry import translation

_ARITH = {
    "Add": ["elemwise_add", "broadcast_add", "broadcast_plus", "_plus", "_Plus", "_add", "_grad_add",
            "_npi_add"],
    "Sub": ["elemwise_sub", "broadcast_sub", "broadcast_minus", "_minus", "_Minus", "_sub", "_npi_subtract"],
    "Mul": ["elemwise_mul", "broadcast_mul", "_mul", "_Mul", "_npi_multiply"],
    "Div": ["elemwise_div", "broadcast_div", "_div", "_Div"],
    "Pow": ["broadcast_power", "_power", "_Power", "_npi_power"],
    "Max": ["broadcast_maximum", "_maximum", "_Maximum", "_npi_maximum"],
    "Min": ["broadcast_minimum", "_minimum", "_Minimum", "_npi_minimum"],
}
_COMPARE = {
    "Equal": ["broadcast_equal", "_equal", "_npi_equal"],
    "NotEqual": ["broadcast_not_equal", "_not_equal", "_npi_not_equal"],
    "Greater": ["broadcast_greater", "_greater", "_npi_greater"],
    "GreaterOrEqual": ["broadcast_greater_equal", "_greater_equal", "_npi_greater_equal"],
    "Less": ["broadcast_lesser", "_lesser", "_npi_less"],
    "LessOrEqual": ["broadcast_lesser_equal", "_lesser_equal", "_npi_less_equal"],
}
_LOGICAL = {
    "And": ["broadcast_logical_and", "_logical_and", "_npi_logical_and"],
    "Or": ["broadcast_logical_or", "_logical_or", "_npi_logical_or"],
    "Xor": ["broadcast_logical_xor", "_logical_xor", "_npi_logical_xor"],
}


def _same_type(tx: NodeTranslator, a: str, b: str) -> tuple[str, str]:
    """Cast both operands to the output dtype where MXNet promoted them."""
    out = tx.out_dtype(0)
    if out.kind == "b":
        return a, b
    if tx.in_dtype(0) != out:
        a = tx.cast(a, out)
    if tx.in_dtype(1) != out:
        b = tx.cast(b, out)
    return a, b


def _to_out(tx: NodeTranslator, value: str, current: np.dtype) -> str:
    out = tx.out_dtype(0)
    return value if np.dtype(current) == out else tx.cast(value, out)


def _arith(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        a, b = _same_type(tx, tx.input(0), tx.input(1))
        return tx.node(op_type, [a, b])

    return translate


for _op_type, _names in _ARITH.items():
    translation(_names)(_arith(_op_type))


@translation(["_npi_true_divide"])
def true_divide(tx: NodeTranslator) -> str:
    a, b = _same_type(tx, tx.input(0), tx.input(1))
    return tx.node("Div", [a, b])


def _compare(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        a, b = tx.input(0), tx.input(1)
        if tx.in_dtype(0) != tx.in_dtype(1):
            b = tx.cast(b, tx.in_dtype(0))
        if op_type == "NotEqual":
            result = tx.node("Not", [tx.node("Equal", [a, b])])
        else:
            result = tx.node(op_type, [a, b])
        return _to_out(tx, result, np.bool_)

    return translate


for _op_type, _names in _COMPARE.items():
    translation(_names)(_compare(_op_type))


def _logical(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        a = tx.cast(tx.input(0), np.bool_) if tx.in_dtype(0).kind != "b" else tx.input(0)
        b = tx.cast(tx.input(1), np.bool_) if tx.in_dtype(1).kind != "b" else tx.input(1)
        return _to_out(tx, tx.node(op_type, [a, b]), np.bool_)

    return translate


for _op_type, _names in _LOGICAL.items():
    translation(_names)(_logical(_op_type))


def _python_mod(tx: NodeTranslator, a: str, b: str, dtype: np.dtype) -> str:
    """MXNet's mod: the result takes the divisor's sign (like Python's %)."""
    if dtype.kind in "iu":
        return tx.node("Mod", [a, b], fmod=0)
    rem = tx.node("Mod", [a, b], fmod=1)
    zero = tx.scalar(0, dtype, "zero")
    nonzero = tx.node("Not", [tx.node("Equal", [rem, zero])])
    sign_differs = tx.node("Less", [tx.node("Mul", [rem, b]), zero])
    fix = tx.node("And", [nonzero, sign_differs])
    shifted = tx.node("Add", [rem, b])
    return tx.node("Where", [fix, shifted, rem])


@translation(["broadcast_mod", "_mod", "_Mod", "_npi_mod"])
def mod(tx: NodeTranslator) -> str:
    a, b = _same_type(tx, tx.input(0), tx.input(1))
    return _python_mod(tx, a, b, tx.out_dtype(0))


@translation(["broadcast_hypot", "_hypot"])
def hypot(tx: NodeTranslator) -> str:
    a, b = _same_type(tx, tx.input(0), tx.input(1))
    return tx.node("Sqrt", [tx.node("Add", [tx.node("Mul", [a, a]), tx.node("Mul", [b, b])])])


# --- scalar operators -----------------------------------------------------------------------
def _scalar_of(tx: NodeTranslator) -> str:
    dtype = tx.out_dtype(0) if tx.out_dtype(0).kind != "b" else tx.in_dtype(0)
    return tx.scalar(tx.attrs.float("scalar", 0.0), dtype, "scalar")


_SCALAR = {
    ("Add", False): ["_plus_scalar", "_PlusScalar", "_npi_add_scalar"],
    ("Sub", False): ["_minus_scalar", "_MinusScalar", "_npi_subtract_scalar"],
    ("Sub", True): ["_rminus_scalar", "_RMinusScalar", "_npi_rsubtract_scalar"],
    ("Mul", False): ["_mul_scalar", "_MulScalar", "_npi_multiply_scalar"],
    ("Div", False): ["_div_scalar", "_DivScalar", "_npi_true_divide_scalar"],
    ("Div", True): ["_rdiv_scalar", "_RDivScalar", "_npi_rtrue_divide_scalar"],
    ("Pow", False): ["_power_scalar", "_PowerScalar", "_npi_power_scalar"],
    ("Pow", True): ["_rpower_scalar", "_RPowerScalar", "_npi_rpower_scalar"],
    ("Max", False): ["_maximum_scalar", "_MaximumScalar", "_npi_maximum_scalar"],
    ("Min", False): ["_minimum_scalar", "_MinimumScalar", "_npi_minimum_scalar"],
}


def _scalar_arith(op_type: str, reverse: bool):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        x = tx.input(0)
        if tx.in_dtype(0) != tx.out_dtype(0):
            x = tx.cast(x, tx.out_dtype(0))
        s = _scalar_of(tx)
        return tx.node(op_type, [s, x] if reverse else [x, s])

    return translate


for (_op_type, _reverse), _names in _SCALAR.items():
    translation(_names)(_scalar_arith(_op_type, _reverse))

_SCALAR_COMPARE = {
    "Equal": ["_equal_scalar", "_EqualScalar", "_npi_equal_scalar"],
    "NotEqual": ["_not_equal_scalar", "_NotEqualScalar", "_npi_not_equal_scalar"],
    "Greater": ["_greater_scalar", "_GreaterScalar", "_npi_greater_scalar"],
    "GreaterOrEqual": ["_greater_equal_scalar", "_GreaterEqualScalar", "_npi_greater_equal_scalar"],
    "Less": ["_lesser_scalar", "_LesserScalar", "_npi_less_scalar"],
    "LessOrEqual": ["_lesser_equal_scalar", "_LesserEqualScalar", "_npi_less_equal_scalar"],
}


def _scalar_compare(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        x = tx.input(0)
        s = tx.scalar(tx.attrs.float("scalar", 0.0), tx.in_dtype(0), "scalar")
        if op_type == "NotEqual":
            result = tx.node("Not", [tx.node("Equal", [x, s])])
        else:
            result = tx.node(op_type, [x, s])
        return _to_out(tx, result, np.bool_)

    return translate


for _op_type, _names in _SCALAR_COMPARE.items():
    translation(_names)(_scalar_compare(_op_type))


@translation(["_logical_and_scalar", "_logical_or_scalar", "_logical_xor_scalar"])
def logical_scalar(tx: NodeTranslator) -> str:
    op_type = {"_logical_and_scalar": "And", "_logical_or_scalar": "Or", "_logical_xor_scalar": "Xor"}[tx.op]
    x = tx.cast(tx.input(0), np.bool_) if tx.in_dtype(0).kind != "b" else tx.input(0)
    s = tx.scalar(bool(tx.attrs.float("scalar", 0.0)), np.bool_, "scalar")
    return _to_out(tx, tx.node(op_type, [x, s]), np.bool_)


@translation(["_mod_scalar", "_ModScalar", "_npi_mod_scalar"])
def mod_scalar(tx: NodeTranslator) -> str:
    return _python_mod(tx, tx.input(0), _scalar_of(tx), tx.out_dtype(0))


@translation(["_rmod_scalar", "_RModScalar", "_npi_rmod_scalar"])
def rmod_scalar(tx: NodeTranslator) -> str:
    s = _scalar_of(tx)
    return _python_mod(tx, tx.node("Expand", [s, tx.shape_of(tx.input(0))]), tx.input(0), tx.out_dtype(0))


@translation("smooth_l1")
def smooth_l1(tx: NodeTranslator) -> str:
    x = tx.input(0)
    dtype = tx.in_dtype(0)
    sigma2 = tx.attrs.float("scalar", 1.0) ** 2
    absx = tx.node("Abs", [x])
    small = tx.node("Less", [absx, tx.scalar(1.0 / sigma2, dtype, "limit")])
    quad = tx.node("Mul", [tx.node("Mul", [x, x]), tx.scalar(0.5 * sigma2, dtype, "half_sigma2")])
    lin = tx.node("Sub", [absx, tx.scalar(0.5 / sigma2, dtype, "offset")])
    return tx.node("Where", [small, quad, lin])


# --- unary ----------------------------------------------------------------------------------
_UNARY = {
    "Abs": ["abs", "_npi_absolute"],
    "Neg": ["negative", "_npi_negative"],
    "Exp": ["exp", "_npi_exp"],
    "Log": ["log", "_npi_log"],
    "Sqrt": ["sqrt", "_npi_sqrt"],
    "Reciprocal": ["reciprocal", "_npi_reciprocal"],
    "Sin": ["sin", "_npi_sin"],
    "Cos": ["cos", "_npi_cos"],
    "Tan": ["tan", "_npi_tan"],
    "Asin": ["arcsin", "_npi_arcsin"],
    "Acos": ["arccos", "_npi_arccos"],
    "Atan": ["arctan", "_npi_arctan"],
    "Sinh": ["sinh", "_npi_sinh"],
    "Cosh": ["cosh", "_npi_cosh"],
    "Tanh": ["tanh", "_npi_tanh"],
    "Asinh": ["arcsinh", "_npi_arcsinh"],
    "Acosh": ["arccosh", "_npi_arccosh"],
    "Atanh": ["arctanh", "_npi_arctanh"],
    "Sigmoid": ["sigmoid", "_npx_sigmoid"],
    "Relu": ["relu", "_npx_relu"],
    "Softsign": ["softsign"],
    "Floor": ["floor", "_npi_floor"],
    "Ceil": ["ceil", "_npi_ceil"],
    "Round": ["_npi_rint"],
    "Sign": ["sign", "_npi_sign"],
    "Erf": ["erf"],
}


def _unary(op_type: str):  # noqa: ANN202
    def translate(tx: NodeTranslator) -> str:
        return tx.node(op_type, [tx.input(0)])

    return translate


for _op_type, _names in _UNARY.items():
    translation(_names)(_unary(_op_type))


@translation(["square", "_npi_square"])
def square(tx: NodeTranslator) -> str:
    x = tx.input(0)
    return tx.node("Mul", [x, x])


@translation("rsqrt")
def rsqrt(tx: NodeTranslator) -> str:
    return tx.node("Reciprocal", [tx.node("Sqrt", [tx.input(0)])])


@translation(["round", "_npi_around"])
def round_half_away(tx: NodeTranslator) -> str:
    # MXNet rounds half away from zero; ONNX Round rounds half to even.
    x = tx.input(0)
    if tx.op == "_npi_around":
        if tx.attrs.int("decimals", 0) != 0:
            raise tx.fail("decimals != 0 is not supported")
        return tx.node("Round", [x])
    half = tx.scalar(0.5, tx.in_dtype(0), "half")
    magnitude = tx.node("Floor", [tx.node("Add", [tx.node("Abs", [x]), half])])
    return tx.node("Mul", [tx.node("Sign", [x]), magnitude])


@translation("rint")
def rint(tx: NodeTranslator) -> str:
    # MXNet's rint rounds halves down (floor when the fraction is <= 0.5)
    shifted = tx.node("Sub", [tx.input(0), tx.scalar(0.5, tx.in_dtype(0), "half")])
    return tx.node("Ceil", [shifted])


@translation(["trunc", "fix", "_npi_trunc", "_npi_fix"])
def trunc(tx: NodeTranslator) -> str:
    x = tx.input(0)
    return tx.node("Mul", [tx.node("Sign", [x]), tx.node("Floor", [tx.node("Abs", [x])])])


@translation(["log1p", "_npi_log1p"])
def log1p(tx: NodeTranslator) -> str:
    return tx.node("Log", [tx.node("Add", [tx.input(0), tx.scalar(1.0, tx.in_dtype(0), "one")])])


@translation(["expm1", "_npi_expm1"])
def expm1(tx: NodeTranslator) -> str:
    return tx.node("Sub", [tx.node("Exp", [tx.input(0)]), tx.scalar(1.0, tx.in_dtype(0), "one")])


@translation(["log2", "log10", "_npi_log2", "_npi_log10"])
def log_base(tx: NodeTranslator) -> str:
    base = 2.0 if tx.op.endswith("log2") else 10.0
    return tx.node("Div", [tx.node("Log", [tx.input(0)]), tx.scalar(math.log(base), tx.in_dtype(0), "ln_base")])


@translation(["degrees", "radians", "_npi_degrees", "_npi_radians"])
def degrees_radians(tx: NodeTranslator) -> str:
    factor = 180.0 / math.pi if tx.op.endswith("degrees") else math.pi / 180.0
    return tx.node("Mul", [tx.input(0), tx.scalar(factor, tx.in_dtype(0), "factor")])


@translation(["logical_not", "_npi_logical_not"])
def logical_not(tx: NodeTranslator) -> str:
    x = tx.cast(tx.input(0), np.bool_) if tx.in_dtype(0).kind != "b" else tx.input(0)
    return _to_out(tx, tx.node("Not", [x]), np.bool_)


@translation("hard_sigmoid")
def hard_sigmoid(tx: NodeTranslator) -> str:
    return tx.node("HardSigmoid", [tx.input(0)], alpha=tx.attrs.float("alpha", 0.2), beta=tx.attrs.float("beta", 0.5))


@translation(["clip", "_npi_clip"])
def clip(tx: NodeTranslator) -> str:
    dtype = tx.in_dtype(0)
    low = tx.attrs.float("a_min")
    high = tx.attrs.float("a_max")
    low_t = tx.scalar(low, dtype, "min") if low is not None else ""
    high_t = tx.scalar(high, dtype, "max") if high is not None else ""
    return tx.node("Clip", [tx.input(0), low_t, high_t])


@translation(["add_n", "ElementWiseSum", "_npi_add_n"])
def add_n(tx: NodeTranslator) -> str:
    inputs = tx.inputs()
    if len(inputs) == 1:
        return tx.node("Identity", inputs)
    return tx.node("Sum", inputs)
