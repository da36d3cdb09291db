"""Symbolic tensor dimensions for shape arithmetic folded at import time.

A :class:`Dim` is a polynomial with rational coefficients over named unknown sizes
(``N``, ``seq``) and a few opaque terms (floor/ceil division, min, max). ONNX graphs compute
shapes with small integer tensors (Shape -> Gather -> Concat -> Reshape); the plan evaluates
those on numpy object arrays whose entries are ints or Dims, so that after import a
Reshape knows its target is, say, ``[N, 12, seq, 64]`` even though N and seq are unknown.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Union

Number = Union[int, Fraction]
Monomial = tuple  # sorted tuple of atoms; () is the constant term


class NotStatic(Exception):
    """An operation on symbolic values whose result is not known at import time."""


def _atom_key(atom: object) -> str:
    return repr(atom)


class Dim:
    """An immutable polynomial over unknown dimension sizes."""

    __slots__ = ("_terms", "_hash")

    def __init__(self, terms: Mapping[Monomial, Number]):
        cleaned = {m: Fraction(c) for m, c in terms.items() if c != 0}
        self._terms = tuple(sorted(cleaned.items(), key=lambda kv: _atom_key(kv[0])))
        self._hash = hash(self._terms)

    # construction ---------------------------------------------------------------
    @staticmethod
    def symbol(name: str) -> Dim:
        return Dim({(Symbol(name),): 1})

    @staticmethod
    def lift(value: object) -> Dim:
        if isinstance(value, Dim):
            return value
        if isinstance(value, (int, Fraction)):
            return Dim({(): value})
        if isinstance(value, float):
            if not math.isfinite(value):
                raise NotStatic("non-finite value in shape arithmetic")
            return Dim({(): Fraction(value)})
        raise NotStatic(f"cannot use {type(value).__name__} in shape arithmetic")

    @staticmethod
    def simplify(value: object) -> object:
        """Return a plain int/Fraction when ``value`` is a constant Dim."""
        if isinstance(value, Dim) and value.is_constant:
            c = value.constant
            return int(c) if c.denominator == 1 else c
        return value

    # inspection -----------------------------------------------------------------
    @property
    def terms(self) -> dict[Monomial, Fraction]:
        return dict(self._terms)

    @property
    def is_constant(self) -> bool:
        return all(m == () for m, _ in self._terms)

    @property
    def constant(self) -> Fraction:
        return dict(self._terms).get((), Fraction(0))

    @property
    def symbols(self) -> set[str]:
        found: set[str] = set()
        for monomial, _ in self._terms:
            for atom in monomial:
                found |= atom.symbols
        return found

    def nonnegative(self) -> bool:
        """True when every coefficient is >= 0 (sizes are never negative)."""
        return all(c >= 0 for _, c in self._terms)

    def is_integral(self) -> bool:
        return all(c.denominator == 1 for _, c in self._terms)

    def rename(self, names: Mapping[str, str]) -> Dim:
        """The same polynomial with symbols renamed (absent names stay)."""
        terms: dict[Monomial, Fraction] = {}
        for monomial, coeff in self._terms:
            renamed = tuple(sorted((_rename_atom(a, names) for a in monomial), key=_atom_key))
            terms[renamed] = terms.get(renamed, 0) + coeff
        return Dim(terms)

    def evaluate(self, values: Callable[[str], int]) -> Fraction:
        total = Fraction(0)
        for monomial, coeff in self._terms:
            term = Fraction(coeff)
            for atom in monomial:
                term *= atom.evaluate(values)
            total += term
        return total

    # arithmetic -----------------------------------------------------------------
    def __add__(self, other: object) -> object:
        other = Dim.lift(other)
        terms = self.terms
        for m, c in other._terms:
            terms[m] = terms.get(m, 0) + c
        return Dim.simplify(Dim(terms))

    __radd__ = __add__

    def __neg__(self) -> object:
        return Dim.simplify(Dim({m: -c for m, c in self._terms}))

    def __sub__(self, other: object) -> object:
        return self + (-Dim.lift(other))

    def __rsub__(self, other: object) -> object:
        return Dim.lift(other) + (-self)

    def __mul__(self, other: object) -> object:
        other = Dim.lift(other)
        terms: dict[Monomial, Fraction] = {}
        for m1, c1 in self._terms:
            for m2, c2 in other._terms:
                m = tuple(sorted(m1 + m2, key=_atom_key))
                terms[m] = terms.get(m, 0) + c1 * c2
        return Dim.simplify(Dim(terms))

    __rmul__ = __mul__

    def __truediv__(self, other: object) -> object:
        other = Dim.simplify(Dim.lift(other))
        if isinstance(other, Dim):
            quotient = exact_quotient(self, other)
            if quotient is None:
                raise NotStatic("division by a symbolic size")
            return quotient
        if other == 0:
            raise NotStatic("division by zero in shape arithmetic")
        return Dim.simplify(Dim({m: c / other for m, c in self._terms}))

    def __rtruediv__(self, other: object) -> object:
        raise NotStatic("division by a symbolic size")

    def __floordiv__(self, other: object) -> object:
        other = Dim.simplify(Dim.lift(other))
        if isinstance(other, Dim):
            quotient = exact_quotient(self, other)
            if quotient is None or not _is_integral(quotient):
                raise NotStatic("division by a symbolic size")
            return quotient
        if other == 0:
            raise NotStatic("division by zero in shape arithmetic")
        exact = Dim({m: c / other for m, c in self._terms})
        if exact.is_integral():
            return Dim.simplify(exact)
        return floor(exact)

    def __rfloordiv__(self, other: object) -> object:
        raise NotStatic("division by a symbolic size")

    def __mod__(self, other: object) -> object:
        other = Dim.simplify(Dim.lift(other))
        if isinstance(other, Dim):
            raise NotStatic("modulo by a symbolic size")
        if all(c.denominator == 1 and c % other == 0 for _, c in self._terms):
            return 0
        raise NotStatic("modulo of a symbolic size")

    def __rmod__(self, other: object) -> object:
        raise NotStatic("modulo by a symbolic size")

    def __pow__(self, other: object) -> object:
        if isinstance(other, int) and 0 <= other <= 8:
            result: object = 1
            for _ in range(other):
                result = Dim.lift(result) * self
            return result
        raise NotStatic("power of a symbolic size")

    # comparisons: only what is provable -------------------------------------------
    def __eq__(self, other: object) -> bool:  # structural equality (used for hashing)
        if isinstance(other, Dim):
            return self._terms == other._terms
        return False

    def __hash__(self) -> int:
        return self._hash

    def compare(self, other: object) -> int | None:
        """-1/0/1 when the sign of self - other is provable for sizes >= 0, else None."""
        diff = self - other
        if not isinstance(diff, Dim):
            return (diff > 0) - (diff < 0)
        const = diff.constant
        rest = [c for m, c in diff._terms if m != ()]
        if all(c > 0 for c in rest) and const >= 0:
            return 1 if const > 0 else None  # could be 0 only if every size is 0
        if all(c < 0 for c in rest) and const <= 0:
            return -1 if const < 0 else None
        return None

    def __repr__(self) -> str:
        parts = []
        for monomial, coeff in self._terms:
            names = "*".join(repr(a) for a in monomial)
            if not names:
                parts.append(str(coeff))
            elif coeff == 1:
                parts.append(names)
            else:
                parts.append(f"{coeff}*{names}")
        return " + ".join(parts) if parts else "0"


class Symbol:
    """A named unknown size."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    @property
    def symbols(self) -> set[str]:
        return {self.name}

    def evaluate(self, values: Callable[[str], int]) -> Fraction:
        return Fraction(values(self.name))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Symbol) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("sym", self.name))

    def __repr__(self) -> str:
        return self.name


class Opaque:
    """floor/ceil/min/max of Dims: an atom whose value is computed from its arguments."""

    __slots__ = ("kind", "args")

    def __init__(self, kind: str, args: tuple):
        self.kind = kind
        self.args = args

    @property
    def symbols(self) -> set[str]:
        found: set[str] = set()
        for arg in self.args:
            if isinstance(arg, Dim):
                found |= arg.symbols
        return found

    def evaluate(self, values: Callable[[str], int]) -> Fraction:
        args = [a.evaluate(values) if isinstance(a, Dim) else Fraction(a) for a in self.args]
        if self.kind == "floor":
            return Fraction(math.floor(args[0]))
        if self.kind == "ceil":
            return Fraction(math.ceil(args[0]))
        if self.kind == "min":
            return min(args)
        if self.kind == "max":
            return max(args)
        raise AssertionError(self.kind)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and (self.kind, self.args) == (other.kind, other.args)

    def __hash__(self) -> int:
        return hash((self.kind, self.args))

    def __repr__(self) -> str:
        return f"{self.kind}({', '.join(map(repr, self.args))})"


def _rename_atom(atom: object, names: Mapping[str, str]) -> object:
    if isinstance(atom, Symbol):
        return Symbol(names.get(atom.name, atom.name))
    if isinstance(atom, Opaque):
        return Opaque(atom.kind, tuple(a.rename(names) if isinstance(a, Dim) else a for a in atom.args))
    return atom


def _is_integral(value: object) -> bool:
    if isinstance(value, Dim):
        return value.is_integral()
    return Fraction(value).denominator == 1


def _monomial_quotient(monomial: Monomial, divisor: Monomial) -> Monomial | None:
    rest = list(monomial)
    for atom in divisor:
        if atom not in rest:
            return None
        rest.remove(atom)
    return tuple(rest)


def exact_quotient(a: Dim, b: Dim) -> object | None:
    """``q`` (a rational times a monomial) with ``q * b == a`` for every value of the sizes, or None.

    E.g. ``(4*batch*seq) / (batch*seq) == 4``: what a Reshape's -1 is when the other sizes are
    symbolic.
    """
    divisor_monomial, divisor_coeff = b._terms[0]
    for monomial, coeff in a._terms:
        rest = _monomial_quotient(monomial, divisor_monomial)
        if rest is None:
            continue
        quotient = Dim.simplify(Dim({rest: coeff / divisor_coeff}))
        difference = quotient * b - a
        if not isinstance(difference, Dim) and difference == 0:
            return quotient
    return None


def floor(value: object) -> object:
    if isinstance(value, Dim):
        if value.is_integral():
            return value
        return Dim({(Opaque("floor", (value,)),): 1})
    return math.floor(value)


def ceil(value: object) -> object:
    if isinstance(value, Dim):
        if value.is_integral():
            return value
        return Dim({(Opaque("ceil", (value,)),): 1})
    return math.ceil(value)


def minimum(a: object, b: object) -> object:
    if not isinstance(a, Dim) and not isinstance(b, Dim):
        return min(a, b)
    order = Dim.lift(a).compare(b)
    if order is not None:
        return a if order <= 0 else b
    return Dim({(Opaque("min", tuple(sorted((Dim.lift(a), Dim.lift(b)), key=repr))),): 1})


def maximum(a: object, b: object) -> object:
    if not isinstance(a, Dim) and not isinstance(b, Dim):
        return max(a, b)
    order = Dim.lift(a).compare(b)
    if order is not None:
        return a if order >= 0 else b
    return Dim({(Opaque("max", tuple(sorted((Dim.lift(a), Dim.lift(b)), key=repr))),): 1})


def is_symbolic(value: object) -> bool:
    return isinstance(value, Dim)


_EXPRESSION_FUNCTIONS = {"floor": floor, "ceil": ceil, "Max": maximum, "Min": minimum, "max": maximum,
                         "min": minimum}


def parse_expression(text: str, known: Callable[[str], bool]) -> Dim | None:
    """The Dim a size expression such as ``'4*batch'`` or ``'floor(seq/2) + 1'`` stands for.

    Exporters (torch.export) name the sizes of intermediate tensors after the expressions of the
    input sizes that give them. Returns None when ``text`` is a plain name, not an expression of
    integers, + - * / // (), floor/ceil/Max/Min, or uses a name for which ``known(name)`` is False.
    """
    import ast  # noqa: PLC0415

    if not any(c in text for c in "+-*/()"):
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError):
        return None

    def value(node: ast.AST) -> object:
        if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name):
            if not known(node.id):
                raise NotStatic(node.id)
            return Dim.symbol(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if isinstance(node, ast.BinOp):
            left, right = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return left + right
            if isinstance(node.op, ast.Sub):
                return left - right
            if isinstance(node.op, ast.Mult):
                return left * right
            if isinstance(node.op, ast.Div):
                return Dim.lift(left) / right
            if isinstance(node.op, ast.FloorDiv):
                return floor(Dim.lift(left) / right)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords
                and node.func.id in _EXPRESSION_FUNCTIONS):
            args = [value(a) for a in node.args]
            fn = _EXPRESSION_FUNCTIONS[node.func.id]
            if fn in (floor, ceil) and len(args) == 1:
                return fn(Dim.simplify(Dim.lift(args[0])))
            if len(args) == 2:
                return fn(*args)
        raise NotStatic(type(node).__name__)

    try:
        result = value(tree.body)
    except (NotStatic, ZeroDivisionError, RecursionError):
        return None
    return Dim.lift(result) if isinstance(result, (Dim, int)) else None


def is_invented(dim: object) -> bool:
    """A size shape inference could not express: a fresh symbol (ONNX's 'unk__7', renamed 'unk__7@1')
    or one the plan named after its tensor ('x[2]'), as opposed to a model size ('batch') or a Dim
    computed from those."""
    if not isinstance(dim, Dim) or len(dim._terms) != 1:
        return False
    ((monomial, coeff),) = dim._terms
    if coeff != 1 or len(monomial) != 1 or not isinstance(monomial[0], Symbol):
        return False
    name = monomial[0].name
    return name.startswith("unk__") or name.endswith("]")
