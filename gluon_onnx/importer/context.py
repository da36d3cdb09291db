"""What a converter sees of the graph: :class:`NodeContext` and the plan executor.

The executor walks a :class:`~gluon_onnx.importer.plan.Plan` with ``F = mx.nd``
(imperative: every intermediate is a real NDArray) or ``F = mx.sym`` (tracing for
``hybridize()``). Static inputs (shapes, axes) reach converters as numpy arrays; while
tracing, they may be :class:`~gluon_onnx.importer.shapes.SymArray` of symbolic sizes that
the helpers here turn into MXNet shape-relative operations.
"""

from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from math import lcm

import mxnet as mx
import numpy as np

from .. import limits
from ..dtypes import from_storage, storage_dtype, to_storage
from ..errors import ConversionError, GluonOnnxError, HybridizationError, ResourceLimitError
from .mxops import is_symbol, npi
from .plan import Plan, Step, Subgraph, _reference_fold
from .shapes import SymArray
from .symdim import Dim, Opaque, Symbol


class NeedsSpecialization(Exception):
    """A symbolic trace needs concrete sizes or input values; retrace with them."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class ConstantProvider:
    """Interface the executor uses to turn numpy constants into F tensors."""

    def constant(self, key: str, array: np.ndarray, F: object, ctx: object) -> object:  # pragma: no cover
        raise NotImplementedError

    def param_value(self, name: str) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class NodeContext:
    """Per-node view handed to converters as their first argument ``cx``."""

    __slots__ = ("F", "symbolic", "step", "executor", "env", "ctx", "params", "subgraph_runs")

    def __init__(self, F: object, step: Step, executor: Executor, env: dict, ctx: object,
                 params: dict | None = None):
        self.F = F
        self.symbolic = is_symbol(F)
        self.step = step
        self.executor = executor
        self.env = env
        self.ctx = ctx
        self.subgraph_runs = 0
        self.params = params if params is not None else {}

    # --- identity ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.step.name

    @property
    def op_type(self) -> str:
        return self.step.op_type

    @property
    def opset(self) -> int:
        return self.step.opset

    def fail(self, message: str) -> ConversionError:
        """An error naming this node; ``raise cx.fail('...')``."""
        return ConversionError(message, op_type=self.op_type, node=self.name)

    def not_hybridizable(self, message: str) -> HybridizationError:
        return HybridizationError(message + "; run the block without hybridize()", op_type=self.op_type, node=self.name)

    # --- static facts -------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.step.inputs)

    @property
    def num_outputs(self) -> int:
        return len(self.step.outputs)

    def output_used(self, index: int) -> bool:
        return index < len(self.step.outputs) and bool(self.step.outputs[index])

    def in_dtype(self, index: int) -> np.dtype | None:
        """ONNX dtype of input ``index`` (None when unknown or omitted)."""
        if index >= len(self.step.inputs) or not self.step.inputs[index]:
            return None
        return self.executor.dtype_of(self.step.inputs[index])

    def out_dtype(self, index: int = 0) -> np.dtype | None:
        return self.executor.dtype_of(self.step.outputs[index]) if index < len(self.step.outputs) else None

    def in_storage(self, index: int) -> str | None:
        dtype = self.in_dtype(index)
        return storage_dtype(dtype) if dtype is not None else None

    def out_storage(self, index: int = 0) -> str | None:
        dtype = self.out_dtype(index)
        return storage_dtype(dtype) if dtype is not None else None

    def in_shape(self, index: int) -> tuple | None:
        """Shape of input ``index``: ints and symbolic Dims; None if the rank is unknown.

        In imperative mode the real shape is returned.
        """
        if index >= len(self.step.inputs) or not self.step.inputs[index]:
            return None
        return self.executor.shape_of(self.step.inputs[index], self.env, self.symbolic)

    def out_shape(self, index: int = 0) -> tuple | None:
        if index >= len(self.step.outputs) or not self.step.outputs[index]:
            return None
        return self.executor.plan.info(self.step.outputs[index]).shape

    def in_rank(self, index: int) -> int | None:
        shape = self.in_shape(index)
        return None if shape is None else len(shape)

    def unknown_rank(self, index: int = 0) -> Exception:
        """The error for an input whose rank is unknown: a request for a specialized trace while
        tracing (planning for concrete shapes may learn the rank), a ConversionError otherwise.
        Use as ``raise cx.unknown_rank(0)``."""
        message = f"the rank of input {index} ({self.step.inputs[index]!r}) is unknown"
        if self.symbolic:
            return NeedsSpecialization(f"{self.op_type} node {self.name!r}: {message}")
        return self.fail(message)

    def rank(self, index: int) -> int:
        """Rank of input ``index``; fails clearly when unknown.

        While tracing, an unknown rank asks for a trace specialized to the input shapes (whose
        planning may learn it).
        """
        r = self.in_rank(index)
        if r is None:
            raise self.unknown_rank(index)
        return r

    # --- values -------------------------------------------------------------------
    def static(self, index: int) -> np.ndarray | None:
        """Value of input ``index`` when it is known while the graph is built, else None.

        For inputs not declared ``static=`` in the registry: lets a converter pick a faster
        MXNet operator when, e.g., Clip's bounds are constants.
        """
        if index >= len(self.step.inputs) or not self.step.inputs[index]:
            return None
        name = self.step.inputs[index]
        value = self.executor.plan.statics.get(name)
        if value is None:
            known = self.env.get(name)
            return known if isinstance(known, np.ndarray) else None
        if isinstance(value, SymArray):
            if self.symbolic:
                return None
            return value.concrete(lambda s: self.executor.size_of(s, self.env))
        return value

    def const(self, value: object, dtype: str | np.dtype | None = None) -> object:
        """A constant tensor (numpy-convertible value) usable with ``cx.F``."""
        array = np.asarray(value, dtype=dtype) if dtype is not None else np.asarray(value)
        key = f"{self.name}:{array.dtype}:{array.shape}:{hash(array.tobytes())}"
        return self.executor.const_tensor(key, array, self.F, self.ctx)

    def scalar(self, value: float | int, dtype: str = "float32") -> object:
        return self.const(np.array(value, dtype=dtype))

    def concrete(self, value: object) -> tuple[int, ...]:
        """Integer tuple from a static value; symbolic entries force a specialized trace."""
        if isinstance(value, SymArray):
            raise NeedsSpecialization(f"{self.op_type} node {self.name!r} needs concrete sizes {value}")
        flat = np.asarray(value, dtype=object if isinstance(value, (list, tuple)) else None).reshape(-1)
        if any(isinstance(v, Dim) for v in flat):
            raise NeedsSpecialization(f"{self.op_type} node {self.name!r} needs concrete sizes {list(flat)}")
        return tuple(int(v) for v in flat)

    def dims(self, value: object) -> list:
        """Static 1-D value as a list of ints and symbolic Dims."""
        if isinstance(value, SymArray):
            return [v if isinstance(v, Dim) else int(v) for v in value.values.reshape(-1)]
        return [int(v) for v in np.asarray(value).reshape(-1)]

    def check_elements(self, dims: Sequence[object]) -> None:
        """Refuse shapes over ``limits.MAX_TENSOR_ELEMENTS`` before allocating.

        While tracing, symbolic sizes are evaluated for the inputs being traced, and the shape is
        kept as a guard the block re-checks for other input shapes (the cached graph is reused).
        """
        if self.symbolic and self.executor.size_guards is not None and any(isinstance(d, Dim) for d in dims):
            self.executor.size_guards.append((f"{self.op_type} node {self.name!r}", tuple(dims)))
        total = 1
        known = self.executor.known_sizes
        for d in dims:
            if isinstance(d, Dim):
                if not d.symbols <= known.keys():
                    return
                d = d.evaluate(known.__getitem__)
            if int(d) < 0:
                raise self.fail(f"negative size in the shape {tuple(dims)}")
            total *= int(d)
        if total > limits.MAX_TENSOR_ELEMENTS:
            raise ResourceLimitError(
                f"{self.op_type} node {self.name!r} would create a tensor of shape {tuple(dims)} "
                f"({total} elements), over gluon_onnx.limits.MAX_TENSOR_ELEMENTS = {limits.MAX_TENSOR_ELEMENTS}"
            )

    # --- symbolic sizes -------------------------------------------------------------
    def length_tensor(self, dim: object) -> object:
        """A 1-D float tensor whose length is ``dim`` (only while tracing)."""
        return self.executor.length_tensor(dim, self.F, self.env, self.ctx)

    def shape_template(self, dims: Sequence[object], dtype: str = "float32") -> object:
        """A zero tensor of shape ``dims`` (ints and Dims), for ``*_like`` operators."""
        self.check_elements(dims)
        F = self.F
        if not any(isinstance(d, Dim) for d in dims):
            return F.zeros(shape=tuple(int(d) for d in dims), dtype=dtype) if self.symbolic else F.zeros(
                shape=tuple(int(d) for d in dims), dtype=dtype, ctx=self.ctx
            )
        base = F.zeros(shape=tuple(1 if isinstance(d, Dim) else int(d) for d in dims), dtype=dtype)
        for axis, d in enumerate(dims):
            if isinstance(d, Dim):
                base = F.broadcast_like(base, self.length_tensor(d), lhs_axes=(axis,), rhs_axes=(0,))
        return base

    def static_tensor(self, value: object, dtype: np.dtype | None = None) -> object:
        """A tensor holding a static value (numpy array or SymArray)."""
        return self.executor.static_tensor(f"{self.name}:static", value, self.F, self.env, self.ctx)

    # --- subgraphs ------------------------------------------------------------------
    def subgraph(self, attr: str) -> Subgraph | None:
        """The planned graph attribute ``attr`` (If branch, Loop/Scan body); None if not planned.

        An If whose condition is known at import time only has the branch it takes.
        """
        return self.step.subgraphs.get(attr)

    def run_subgraph(self, graph: Subgraph | Plan, inputs: Sequence[object] | Mapping[str, object] = (),
                     *, F: object = None) -> list:
        """Run a subgraph (or one of its specialized plans) on its formal inputs.

        Tensors of the enclosing graphs are read from this node's environment. ``inputs`` are
        F values (lists for sequences, None for empty optionals) in the subgraph's input order,
        or a name -> value mapping; inputs fixed by :meth:`Subgraph.specialize` may be omitted.
        Returns the subgraph's outputs. ``F`` overrides ``cx.F`` (e.g. ``mx.sym`` inside
        ``F.contrib.foreach``).
        """
        self.subgraph_runs += 1
        if self.subgraph_runs > limits.MAX_LOOP_ITERATIONS:
            raise ResourceLimitError(
                f"{self.op_type} node {self.name!r} ran its subgraph more than "
                f"gluon_onnx.limits.MAX_LOOP_ITERATIONS = {limits.MAX_LOOP_ITERATIONS} times"
            )
        plan = graph.plan if isinstance(graph, Subgraph) else graph
        if isinstance(inputs, Mapping):
            inputs = [inputs.get(name) for name in plan.inputs]
        executor = Executor(plan, self.executor.provider, scope=f"{id(plan)}/")
        executor.known_sizes, executor.size_guards = self.executor.known_sizes, self.executor.size_guards
        return executor.run(F or self.F, list(inputs), self.params, self.ctx, outer_env=self.env)


def _check_sizes(step: Step, outputs: Sequence[object]) -> None:
    """Imperative mode: refuse outputs over the element budget before anything reads them.

    Converters check the sizes they compute from static values; this catches the rest (MXNet
    computes output shapes synchronously, the allocation happens later on its engine).
    """
    for name, value in zip(step.outputs, outputs):
        if not isinstance(value, mx.nd.NDArray):
            continue
        try:
            shape = value.shape
        except mx.base.MXNetError:  # MXNet refuses to even report shapes over 2**31 elements
            shape = None
        total = 1
        for d in shape or ():
            total *= d
        if shape is None or total > limits.MAX_TENSOR_ELEMENTS:
            raise ResourceLimitError(
                f"{step.op_type} node {step.name!r} produced tensor {name!r} of shape {shape or 'over 2**31 elements'}"
                f", over gluon_onnx.limits.MAX_TENSOR_ELEMENTS = {limits.MAX_TENSOR_ELEMENTS}"
            )


_NAME_SAFE = re.compile(r"[^0-9A-Za-z_]")


def safe_name(name: str) -> str:
    return _NAME_SAFE.sub("_", name).strip("_") or "node"


class Executor:
    """Runs a plan with ``F``; shared by the imperative and the symbolic path."""

    def __init__(self, plan: Plan, provider: ConstantProvider, scope: str = ""):
        self.plan = plan
        self.provider = provider
        self.scope = scope  # prefix of constant keys: specialized subgraph plans hold other values
        # while tracing: sizes of the free dimensions of the inputs being traced, and where the shapes
        # that NodeContext.check_elements could not decide for every input size are collected
        self.known_sizes: dict[str, int] = {}
        self.size_guards: list[tuple[str, tuple]] | None = None

    # --- facts ----------------------------------------------------------------------
    def dtype_of(self, name: str) -> np.dtype | None:
        static = self.plan.statics.get(name)
        if static is not None:
            return static.dtype
        info = self.plan.infos.get(name)
        if info is not None and info.dtype is not None:
            return info.dtype
        param = self.plan.params.get(name)
        return param.dtype if param else None

    def shape_of(self, name: str, env: dict, symbolic: bool) -> tuple | None:
        if not symbolic and hasattr(env.get(name), "shape"):
            return tuple(env[name].shape)
        static = self.plan.statics.get(name)
        if static is not None:
            return tuple(static.shape)
        param = self.plan.params.get(name)
        if param is not None:
            return param.shape
        return self.plan.info(name).shape

    def size_of(self, symbol: str, env: dict) -> int:
        found = self._carrier(symbol, env)
        if found is None:
            tensor = self.plan.witnesses.get(symbol, ("?",))[0]
            raise ConversionError(f"size {symbol!r} is not available (tensor {tensor!r} not computed)")
        return int(env[found[0]].shape[found[1]])

    def _carrier(self, symbol: str, env: dict) -> tuple[str, int] | None:
        """A computed (tensor, axis) whose size is ``symbol``: its witness, else another source."""
        witness = self.plan.witnesses.get(symbol)
        for candidate in ([witness] if witness else []) + self.plan.size_sources.get(symbol, []):
            if isinstance(env.get(candidate[0]), (mx.nd.NDArray, mx.sym.Symbol)):
                return candidate
        return None

    # --- constants ------------------------------------------------------------------
    def const_tensor(self, key: str, array: np.ndarray, F: object, ctx: object) -> object:
        if array.dtype == object:
            # MXNet cannot hold strings: string values stay numpy arrays (host-side converters only)
            return array
        return self.provider.constant(key, to_storage(array), F, ctx)

    def static_tensor(self, key: str, value: object, F: object, env: dict, ctx: object) -> object:
        if isinstance(value, SymArray):
            if not is_symbol(F):
                array = np.asarray(value.concrete(lambda s: self.size_of(s, env)))
                # the value depends on the input sizes: the cache key must too
                key = f"{key}:{array.dtype}:{array.shape}:{hash(array.tobytes())}"
                return self.const_tensor(key, array, F, ctx)
            return self.sym_tensor(value, F, env, ctx)
        # the same tensor name holds other values in other (specialized) plans
        return self.const_tensor(f"{key}@{id(value)}", np.asarray(value), F, ctx)

    # --- symbolic materialization -----------------------------------------------------
    def _witness(self, symbol: str, env: dict) -> tuple[object, int]:
        found = self._carrier(symbol, env)
        if found is None:
            raise NeedsSpecialization(f"no tensor carries size {symbol!r}")
        tensor = env[found[0]]
        if self.dtype_of(found[0]) == np.bool_:  # arange_like and friends have no bool kernels
            tensor = (mx.sym if isinstance(tensor, mx.sym.Symbol) else mx.nd).Cast(tensor, dtype="uint8")
        return tensor, found[1]

    def length_tensor(self, dim: object, F: object, env: dict, ctx: object) -> object:
        if not isinstance(dim, Dim):
            count = int(dim)
            if count < 0:
                raise NeedsSpecialization("negative length")
            return F.zeros(shape=(count,))
        const = dim.constant
        pieces = []
        for monomial, coeff in dim.terms.items():
            if monomial == ():
                continue
            if coeff < 0 or coeff.denominator != 1:
                raise NeedsSpecialization(f"size {dim} is not a positive combination")
            piece = None
            for atom in monomial:
                t = self._atom_length(atom, F, env, ctx)
                piece = t if piece is None else F.reshape(
                    F.broadcast_mul(F.reshape(piece, shape=(-1, 1)), F.reshape(t, shape=(1, -1))), shape=(-1,)
                )
            if coeff != 1:
                piece = F.tile(piece, reps=(int(coeff),))
            pieces.append(piece)
        if const.denominator != 1:
            raise NeedsSpecialization(f"size {dim} is fractional")
        if const > 0:
            pieces.append(F.zeros(shape=(int(const),)))
        if not pieces:
            return F.zeros(shape=(0,))
        out = pieces[0] if len(pieces) == 1 else F.concat(*pieces, dim=0)
        if const < 0:
            out = F.slice_axis(out, axis=0, begin=int(-const), end=None)
        return out

    def _atom_length(self, atom: object, F: object, env: dict, ctx: object) -> object:
        if isinstance(atom, Symbol):
            tensor, axis = self._witness(atom.name, env)
            # float32 whatever the witness holds, so that pieces of a length concatenate
            return F.Cast(F.contrib.arange_like(tensor, axis=axis), dtype="float32")
        if isinstance(atom, Opaque) and atom.kind in ("floor", "ceil"):
            inner: Dim = atom.args[0]
            scale = 1
            for _, c in inner.terms.items():
                scale = lcm(scale, c.denominator)
            numerator = self.length_tensor(inner * scale, F, env, ctx)
            if atom.kind == "floor":
                return F.slice(numerator, begin=(scale - 1,), end=(None,), step=(scale,))
            return F.slice(numerator, begin=(0,), end=(None,), step=(scale,))
        if isinstance(atom, Opaque) and atom.kind in ("min", "max"):
            # no shape operator picks the shorter or longer of two lengths: select that many
            # positions of both (a data-dependent length, which MXNet's dynamic shapes allow)
            pool = F.concat(*(self.length_tensor(a, F, env, ctx) for a in atom.args), dim=0)
            bound = F.Cast(self._dim_scalar(Dim({(atom,): 1}), F, env), dtype="float32")
            chosen = npi(F, "nonzero", F.broadcast_lesser(F.contrib.arange_like(pool, axis=0), bound))
            return F.Cast(F.reshape(chosen, shape=(-1,)), dtype="float32")
        raise NeedsSpecialization(f"cannot express size {atom} with MXNet shape operators")

    def sym_tensor(self, value: SymArray, F: object, env: dict, ctx: object) -> object:
        """int64/float tensor of a SymArray's values (symbolic trace)."""
        entries = []
        for v in value.values.reshape(-1):
            entries.append(self._dim_scalar(v, F, env))
        if not entries:
            raise NeedsSpecialization("empty symbolic array")
        flat = entries[0] if len(entries) == 1 else F.concat(*entries, dim=0)
        target = storage_dtype(value.dtype) or "int64"
        flat = F.Cast(flat, dtype=target)
        from .mxops import reshape  # noqa: PLC0415

        return reshape(F, flat, value.shape)

    def _dim_scalar(self, v: object, F: object, env: dict) -> object:
        """A (1,) int64 tensor holding ``v`` (int or Dim)."""
        if not isinstance(v, Dim):
            if isinstance(v, Fraction) and v.denominator != 1:
                raise NeedsSpecialization("fractional static value")
            return F.full(shape=(1,), val=int(v), dtype="int64")
        total = None
        for monomial, coeff in v.terms.items():
            if coeff.denominator != 1:
                raise NeedsSpecialization(f"fractional size {v}")
            if monomial == ():
                term = F.full(shape=(1,), val=int(coeff), dtype="int64")
            else:
                term = None
                for atom in monomial:
                    if isinstance(atom, Symbol):
                        tensor, axis = self._witness(atom.name, env)
                        a = F.slice_axis(F.shape_array(tensor), axis=0, begin=axis, end=axis + 1)
                    elif isinstance(atom, Opaque) and atom.kind in ("floor", "ceil"):
                        inner: Dim = atom.args[0]
                        scale = 1
                        for _, c in inner.terms.items():
                            scale = lcm(scale, c.denominator)
                        num = self._dim_scalar(inner * scale, F, env)
                        if atom.kind == "ceil":
                            num = num + (scale - 1)
                        a = F.floor(F.Cast(num, dtype="float64") / scale)
                        a = F.Cast(a, dtype="int64")
                    elif isinstance(atom, Opaque) and atom.kind in ("min", "max"):
                        first, second = (self._dim_scalar(arg, F, env) for arg in atom.args)
                        a = F.broadcast_minimum(first, second) if atom.kind == "min" else F.broadcast_maximum(
                            first, second)
                    else:
                        raise NeedsSpecialization(f"cannot express size {atom}")
                    term = a if term is None else term * a
                if coeff != 1:
                    term = term * int(coeff)
            total = term if total is None else total + term
        return total

    # --- running ----------------------------------------------------------------------
    def resolve_static(self, name: str, env: dict, symbolic: bool, params: dict) -> object:
        if isinstance(env.get(name), np.ndarray):  # a value a converter knew while the graph was built
            return env[name]
        if name in self.plan.statics:
            value = self.plan.statics[name]
            if isinstance(value, SymArray) and not symbolic:
                return value.concrete(lambda s: self.size_of(s, env))
            return value
        if name in self.plan.params:
            return self.provider.param_value(name)
        if symbolic:
            raise NeedsSpecialization(f"value of tensor {name!r} is needed to build the graph")
        value = env[name]
        dtype = self.dtype_of(name)
        array = value if isinstance(value, np.ndarray) else value.asnumpy()
        return from_storage(array, dtype) if dtype is not None else array

    def resolve_tensor(self, name: str, env: dict, F: object, params: dict, ctx: object) -> object:
        """The F value of ``name``: a tensor, a list (sequence) or None (empty optional)."""
        if name in env:
            value = env[name]
            if isinstance(value, np.ndarray):
                return self.static_tensor(f"{self.scope}{name}:{hash(value.tobytes())}", value, F, env, ctx)
            return value
        if name in params:
            return params[name]
        if name in self.plan.statics:
            return self.static_tensor(self.scope + name, self.plan.statics[name], F, env, ctx)
        raise ConversionError(f"tensor {name!r} has no value (internal planning error)")

    def run(self, F: object, inputs: Sequence[object], params: dict, ctx: object = None,
            on_step: Callable[[Step, list], None] | None = None, *, outer_env: Mapping | None = None) -> list:
        """Run the plan; ``outer_env`` holds the enclosing graphs' values when the plan is a subgraph.

        A converter may return a numpy array for an output it knows while the graph is built
        (e.g. a sequence's length): static inputs receive it as a value, others as a constant.
        """
        plan = self.plan
        symbolic = is_symbol(F)
        # an input fixed at import time (specialization) may be passed as None
        own = {n: v for n, v in zip(plan.inputs, inputs) if v is not None or n not in plan.statics}
        env: dict[str, object] = ChainMap(own, outer_env) if outer_env is not None else own
        for step in plan.steps:
            if self._fold_known(step, env):
                continue
            args = []
            for index, name in enumerate(step.inputs):
                if not name:
                    args.append(None)
                elif step.static_inputs[index] or (step.prefer_static and step.prefer_static[index]):
                    args.append(self.resolve_static(name, env, symbolic, params))
                else:
                    args.append(self.resolve_tensor(name, env, F, params, ctx))
            cx = NodeContext(F, step, self, env, ctx, params)
            if symbolic and step.spec.dynamic_shape:
                raise cx.not_hybridizable(
                    f"{step.op_type} has a data-dependent output shape, which MXNet's static graphs cannot hold"
                )
            result = None if symbolic else self._run_on_host_if_empty(step, args, ctx)
            if result is None:
                result = self._call(step, cx, args, symbolic)
            outs = result if isinstance(result, (list, tuple)) else (result,)
            if not symbolic:
                _check_sizes(step, outs)
            for name, value in zip(step.outputs, outs):
                if name:
                    env[name] = value
            if on_step is not None:
                on_step(step, [env.get(o) for o in step.outputs])
        results = []
        for name in plan.outputs:
            results.append(self.resolve_tensor(name, env, F, params, ctx))
        return results

    def _run_on_host_if_empty(self, step: Step, args: list, ctx: object) -> list | None:
        """Imperative mode: a step with an empty (zero-size) tensor input runs through the ONNX
        reference implementation on the host. Many MXNet kernels fail while running, after the
        step returned, on empty tensors (e.g. a broadcast of shapes (1,) and (0,))."""
        if step.subgraphs or not step.spec.foldable:
            return None
        if not any(isinstance(a, mx.nd.NDArray) and 0 in a.shape for a in args):
            return None
        values: list[object] = []
        for name, value in zip(step.inputs, args):
            if isinstance(value, mx.nd.NDArray):
                dtype = self.dtype_of(name)
                value = value.asnumpy()
                values.append(from_storage(value, dtype) if dtype is not None else value)
            elif value is None or isinstance(value, np.ndarray):
                values.append(value)
            else:
                return None  # sequences, optionals: the converter handles them
        outputs = _reference_fold(step.node, values, self.plan.opsets, self.plan.infos)
        if outputs is None or any(o is not None and (o.dtype == object or storage_dtype(o.dtype) is None)
                                  for o in outputs):
            return None
        results = []
        for value in outputs:
            if value is not None:
                value = to_storage(value)
                value = mx.nd.array(value, dtype=value.dtype, ctx=ctx or mx.cpu())
            results.append(value)
        return results

    def _fold_known(self, step: Step, env: dict) -> bool:
        """Evaluate a step at once when a converter made one of its inputs a known value and the
        others are constants (e.g. Not(OptionalHasElement(x)) feeding an If)."""
        if step.subgraphs or not step.spec.foldable or not step.inputs:
            return False
        values, any_known = [], False
        for name in step.inputs:
            if not name:
                values.append(None)
                continue
            value = env.get(name)
            if isinstance(value, np.ndarray):
                any_known = True
            elif name not in env and isinstance(self.plan.statics.get(name), np.ndarray):
                value = self.plan.statics[name]
            else:
                return False
            values.append(value)
        if not any_known:
            return False
        outputs = _reference_fold(step.node, values, self.plan.opsets, self.plan.infos)
        if outputs is None:
            return False
        for name, value in zip(step.outputs, outputs):
            if name:
                env[name] = value
        return True

    def _call(self, step: Step, cx: NodeContext, args: list, symbolic: bool) -> object:
        try:
            if symbolic:
                with mx.name.Prefix(safe_name(step.name) + "_"):
                    return step.spec.fn(cx, *args, **step.attrs)
            return step.spec.fn(cx, *args, **step.attrs)
        except (GluonOnnxError, NeedsSpecialization):
            raise
        except mx.base.MXNetError as exc:
            message = str(exc).strip().splitlines()
            detail = next((line for line in reversed(message) if line.strip()), "")
            raise ConversionError(f"MXNet rejected the converted operation: {detail}",
                                  op_type=step.op_type, node=step.name) from None
        except Exception as exc:  # a converter bug must still name the node
            raise ConversionError(f"conversion failed: {type(exc).__name__}: {exc}",
                                  op_type=step.op_type, node=step.name) from exc
