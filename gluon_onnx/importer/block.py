"""OnnxBlock: an ONNX graph as a real, hybridizable Gluon HybridBlock."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon

from .. import limits
from ..dtypes import storage_dtype, to_storage
from ..errors import ExecutionError, HybridizationError, ResourceLimitError
from ..model import LoadedModel
from .context import ConstantProvider, Executor, NeedsSpecialization
from .mxops import is_symbol, reshape
from .plan import Plan, build_plan
from .symdim import Dim

_PARAM_SAFE = re.compile(r"[^0-9A-Za-z_]")


def _param_key(onnx_name: str, taken: set[str]) -> str:
    base = _PARAM_SAFE.sub("_", onnx_name).strip("_") or "param"
    if base[0].isdigit():
        base = "p" + base
    key, n = base, 1
    while key in taken:
        key = f"{base}_{n}"
        n += 1
    taken.add(key)
    return key


def _first_ndarray(value: object) -> mx.nd.NDArray | mx.sym.Symbol | None:
    """The first NDArray (or Symbol, when a parent block traces this one) in a (nested) list of
    inputs: sequences are lists, empty optionals None."""
    if isinstance(value, (mx.nd.NDArray, mx.sym.Symbol)):
        return value
    if isinstance(value, (list, tuple)):
        for item in value:
            found = _first_ndarray(item)
            if found is not None:
                return found
    return None


def _structure(value: object) -> object:
    """Shapes of a (nested) input list; lists and None kept as structure."""
    if isinstance(value, (list, tuple)):
        return tuple(_structure(v) for v in value)
    if value is None:
        return None
    return ("T", tuple(value.shape))


def _as_ctx_list(ctx: object) -> list[mx.Context]:
    if ctx is None:
        return [mx.cpu()]
    if isinstance(ctx, mx.Context):
        return [ctx]
    ctxs = list(ctx)
    if not ctxs or not all(isinstance(c, mx.Context) for c in ctxs):
        raise TypeError("ctx must be an mx.Context or a non-empty list of them")
    return ctxs


class OnnxBlock(gluon.HybridBlock):
    """A Gluon HybridBlock that runs an imported ONNX graph.

    Create it with :func:`gluon_onnx.load_block`. Inputs are positional in ONNX order
    (``net.input_names``); one output is returned as an NDArray, several as a tuple in
    ONNX order (``net.output_names``).

    Attributes
    ----------
    input_names : list of str
        ONNX names of the inputs, in call order.
    output_names : list of str
        ONNX names of the outputs, in return order.
    onnx_params : dict
        ONNX initializer name -> :class:`mxnet.gluon.Parameter`.
    """

    def __init__(
        self,
        model: LoadedModel,
        plan: Plan,
        *,
        ctx: object = None,
        build_options: Mapping[str, object] | None = None,
        prefix: str | None = None,
    ):
        super().__init__(prefix=prefix)
        self._onnx_model = model
        self._plan = plan
        self._build_options = dict(build_options or {})
        self._ctx_list = _as_ctx_list(ctx)
        self._executor = Executor(plan, _BlockConstants(self))
        self._const_params: dict[str, gluon.Parameter] = {}
        self._const_counter = 0  # constant names are never reused (pruned ones may still be cached)
        self._const_arrays: dict[tuple[str, str], mx.nd.NDArray] = {}
        self._param_keys: dict[str, str] = {}
        self._specialized = bool(plan.static_needs)
        self._specialization_reason: str | None = (
            f"the graph needs the values of input(s) {sorted(plan.static_needs)} to be built"
            if plan.static_needs else None)
        self._spec_key: tuple | None = None
        self._spec_executors: dict[tuple, Executor] = {}
        self._pending_inputs: tuple = ()
        self._budget_checked: set[tuple] = set()
        self._size_guards: list[tuple[str, tuple]] = []
        self._input_layout: object = None
        with mx.util.np_shape(True):  # zero-size parameters exist only with numpy shapes
            self._create_parameters()

    # --- construction ------------------------------------------------------------------
    def _create_parameters(self) -> None:
        taken: set[str] = set()
        for onnx_name, info in self._plan.params.items():
            key = _param_key(onnx_name, taken)
            dtype = storage_dtype(info.dtype) or "float32"
            param = self.params.get(
                key,
                shape=info.shape,
                dtype=dtype,
                grad_req="write" if info.trainable else "null",
                differentiable=info.trainable,
                allow_deferred_init=False,
            )
            self._reg_params[key] = param
            self._param_keys[onnx_name] = key
            if onnx_name in self._plan.constant_params:
                value = to_storage(np.asarray(self._plan.constant_params[onnx_name]))
            else:
                value = to_storage(np.asarray(self._onnx_model.tensor_array(self._plan_initializer(onnx_name))))
            param._load_init(mx.nd.array(value, dtype=dtype, ctx=mx.cpu()), self._ctx_list)

    def _plan_initializer(self, name: str) -> object:
        for tensor in self._onnx_model.proto.graph.initializer:
            if tensor.name == name:
                return tensor
        raise KeyError(name)

    # --- public views ------------------------------------------------------------------
    @property
    def input_names(self) -> list[str]:
        return list(self._plan.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self._plan.outputs)

    @property
    def onnx_params(self) -> dict[str, gluon.Parameter]:
        return {name: self._reg_params[key] for name, key in self._param_keys.items()}

    @property
    def param_name_map(self) -> dict[str, str]:
        """ONNX initializer name -> Gluon parameter name."""
        return {name: self._reg_params[key].name for name, key in self._param_keys.items()}

    @property
    def plan(self) -> Plan:
        return self._plan

    @property
    def onnx_model(self) -> object:
        """The imported ``onnx.ModelProto``."""
        return self._onnx_model.proto

    @property
    def is_shape_specialized(self) -> bool:
        """True when the hybridized graph was built for the last input shapes/values."""
        return self._specialized

    @property
    def specialization_reason(self) -> str | None:
        """Why the hybridized graph is built per input shape (None while it is one symbolic graph).

        The message names the node and the size or value a symbolic trace could not express; set
        once a hybridized call found it (or at import, for graphs that need input values).
        """
        return self._specialization_reason

    def summary(self) -> str:
        """One line per node that runs: name, operator and the output shapes ONNX inference knows."""
        lines = [repr(self), f"{'node':<48} {'op':<22} outputs"]
        for step in self._plan.steps:
            shapes = []
            for out in step.outputs:
                if out:
                    shape = self._plan.info(out).shape
                    shapes.append("?" if shape is None else "(" + ", ".join(str(d) for d in shape) + ")")
            lines.append(f"{step.name[:48]:<48} {step.op_type:<22} {' '.join(shapes)}")
        return "\n".join(lines)

    def intermediate_values(self, *args: object) -> dict[str, mx.nd.NDArray]:
        """Run imperatively and return every tensor the graph computes, by ONNX name.

        Inputs and parameters are not included; folded constants are not computed at run time
        and therefore not listed either.
        """
        ctx = args[0].context if args and isinstance(args[0], mx.nd.NDArray) else self._ctx_list[0]
        values: dict[str, mx.nd.NDArray] = {}

        def record(step: object, outputs: list) -> None:
            for name, value in zip(step.outputs, outputs):
                if name and value is not None:
                    values[name] = value

        params = {name: self._reg_params[key].data(ctx) for name, key in self._param_keys.items()}
        with mx.util.np_shape(True), ctx:
            self._executor.run(mx.nd, list(args), params, ctx, on_step=record)
        return values

    def __repr__(self) -> str:
        weights = sum(int(np.prod(info.shape)) for info in self._plan.params.values())
        graph = self._onnx_model.proto.graph
        return (f"OnnxBlock(graph {graph.name or '?'!r}, opset {self._onnx_model.opsets.get('', '?')}, "
                f"inputs {self.input_names}, outputs {self.output_names}, {len(self._plan.steps)} nodes, "
                f"{len(self._plan.params)} parameters / {weights:,} weights)")

    # --- running -----------------------------------------------------------------------
    def hybridize(self, active: bool = True, backend: str | None = None, **kwargs: object) -> None:
        """Gluon's hybridize; inference-optimized blocks default to the oneDNN backend on CPU."""
        if (backend is None and active and self._build_options.get("freeze_params")
                and all(c.device_type == "cpu" for c in self._ctx_list) and mx.runtime.Features().is_enabled("MKLDNN")):
            backend = "MKLDNN"
        if backend is not None:
            kwargs["backend"] = backend
        super().hybridize(active, **kwargs)

    def forward(self, *args: object) -> object:
        with mx.util.np_shape(True):
            if not args and not self._plan.inputs:
                return self._forward_without_inputs()
            if len(args) != len(self._plan.inputs):
                raise TypeError(
                    f"this model takes {len(self._plan.inputs)} input(s) {self._plan.inputs}, got {len(args)}"
                )
            if any(isinstance(a, np.ndarray) for a in args):
                return self._forward_host_values(args)
            if _first_ndarray(args) is None:
                return self._forward_without_inputs(args)
            if isinstance(_first_ndarray(args), mx.nd.NDArray):
                self._check_budget(args)
            if self._active and isinstance(_first_ndarray(args), mx.nd.NDArray):
                self._pending_inputs = args
                layout = _structure([a for a in args if not isinstance(a, mx.nd.NDArray)])
                if layout != self._input_layout:
                    # sequence inputs of another length: the cached graph has other inputs
                    self._input_layout = layout
                    self._clear_cached_op()
                if self._specialized:
                    key = self._specialization_key(args)
                    if key != self._spec_key:
                        self._clear_cached_op()
                        self._spec_key = key
            try:
                out = super().forward(*args)
            except mx.base.MXNetError as exc:
                # hybridized: MXNet builds and shape-checks the cached graph here (imperative steps
                # are wrapped one by one by the executor)
                lines = [line for line in str(exc).splitlines() if line.strip()]
                raise ExecutionError(f"MXNet rejected the graph or its inputs: {lines[-1] if lines else exc}") from None
            return tuple(out) if isinstance(out, list) else out

    def _check_budget(self, args: Sequence[object]) -> None:
        """Refuse inputs whose sizes make a planned tensor exceed ``limits.MAX_TENSOR_ELEMENTS``
        (sizes that depend on free input dimensions), before MXNet allocates anything.

        Checked once per distinct input shapes.
        """
        key = tuple(tuple(a.shape) if isinstance(a, mx.nd.NDArray) else None for a in args)
        if key in self._budget_checked:
            return
        sizes = self._input_sizes(args)
        producers = self._plan.producers
        shapes = [(f"tensor {name!r}" + (f" (output of node {producers[name]!r})" if name in producers else ""),
                   info.shape) for name, info in self._plan.infos.items()
                  if info.shape and not all(isinstance(d, int) for d in info.shape)]  # static ones: at import
        for where, dims in shapes + self._size_guards:
            total, concrete = 1, []
            for d in dims:
                if isinstance(d, Dim):
                    if not d.symbols <= sizes.keys():
                        break
                    d = d.evaluate(sizes.__getitem__)
                concrete.append(int(d))
                total *= max(int(d), 0)
            else:
                if total > limits.MAX_TENSOR_ELEMENTS:
                    raise ResourceLimitError(
                        f"with inputs of shapes {[s for s in key if s is not None]}, {where} would have shape "
                        f"{tuple(concrete)} = {total} elements, over gluon_onnx.limits.MAX_TENSOR_ELEMENTS = "
                        f"{limits.MAX_TENSOR_ELEMENTS}"
                    )
        if len(self._budget_checked) < 256:
            self._budget_checked.add(key)

    def _input_sizes(self, args: Sequence[object]) -> dict[str, int]:
        """Free dimension symbol -> its size in ``args`` (for the symbols graph inputs carry)."""
        position = {name: index for index, name in enumerate(self._plan.inputs)}
        sizes: dict[str, int] = {}
        for symbol, (tensor, axis) in self._plan.witnesses.items():
            value = args[position[tensor]] if tensor in position and position[tensor] < len(args) else None
            if isinstance(value, mx.nd.NDArray) and axis < len(value.shape):
                sizes[symbol] = int(value.shape[axis])
        return sizes

    def _traced(self, executor: Executor, F: object, args: Sequence[object], params: dict) -> list:
        """Trace with ``executor``, evaluating size checks for the pending inputs and collecting the
        symbolic ones as guards for later input shapes."""
        self._size_guards.clear()
        self._budget_checked.clear()
        executor.known_sizes = self._input_sizes(self._pending_inputs) if self._pending_inputs else {}
        executor.size_guards = self._size_guards
        try:
            return executor.run(F, args, params, None)
        finally:
            executor.known_sizes, executor.size_guards = {}, None

    def _forward_without_inputs(self, args: Sequence[object] = ()) -> object:
        """Models without inputs, or whose inputs are all empty sequences/optionals, run imperatively."""
        ctx = self._ctx_list[0]
        with ctx:
            params = {k: v.data(ctx) for k, v in self._reg_params.items()}
            return self.hybrid_forward(mx.nd, *args, **params)

    def _forward_host_values(self, args: Sequence[object]) -> object:
        """Imperative run with numpy string inputs, which MXNet arrays cannot hold."""
        if self._active:
            raise HybridizationError(
                "string inputs (numpy object arrays) cannot enter a hybridized MXNet graph; "
                "run the block without hybridize()"
            )
        return self._forward_without_inputs(args)

    def hybrid_forward(self, F: object, *args: object, **params: object) -> object:
        by_onnx = {name: params[key] for name, key in self._param_keys.items() if key in params}
        if is_symbol(F):
            outputs = self._trace(F, args, by_onnx)
        else:
            first = _first_ndarray(args)
            ctx = first.context if first is not None else self._ctx_list[0]
            outputs = self._executor.run(F, args, by_onnx, ctx)
        outputs = [self._fix_scalar(F, name, out) for name, out in zip(self._plan.outputs, outputs)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _fix_scalar(self, F: object, name: str, value: object) -> object:
        info = self._plan.info(name)
        if isinstance(value, np.ndarray):
            return value.reshape(()) if info.shape == () else value
        if not isinstance(value, (mx.nd.NDArray, mx.sym.Symbol)):
            return value  # a sequence (list) or an empty optional (None)
        if info.shape == () and (is_symbol(F) or value.shape != ()):
            return reshape(F, value, ())
        return value

    def _trace(self, F: object, args: Sequence[object], params: dict) -> list:
        if not self._specialized:
            try:
                return self._traced(self._executor, F, args, params)
            except NeedsSpecialization as exc:
                self._specialized = True
                self._specialization_reason = exc.reason
                if self._pending_inputs:
                    self._spec_key = self._specialization_key(self._pending_inputs)
        if self._spec_key is None:
            raise HybridizationError(
                "this graph can only be traced for concrete input shapes; call the hybridized "
                "block with NDArrays (not Symbols)"
            )
        executor = self._spec_executors.get(self._spec_key)
        if executor is None:
            executor = self._specialized_executor()
            self._spec_executors[self._spec_key] = executor
        try:
            return self._traced(executor, F, args, params)
        except NeedsSpecialization as exc:
            reason = exc.reason
        # ONNX shape inference left some intermediate sizes unknown (e.g. Pad with computed pads):
        # take every size from one imperative run on the pending inputs and plan again
        tensor_shapes = self._runtime_shapes()
        if tensor_shapes is not None:
            executor = self._specialized_executor(tensor_shapes)
            try:
                outputs = self._traced(executor, F, args, params)
            except NeedsSpecialization as exc:
                reason = exc.reason
            else:
                self._spec_executors[self._spec_key] = executor
                return outputs
        raise HybridizationError(
            f"the graph cannot be expressed as a static MXNet graph even for fixed inputs: {reason}"
        )

    def _specialized_executor(self, tensor_shapes: Mapping[str, tuple[int, ...]] | None = None) -> Executor:
        shapes, values = self._spec_key
        plan = build_plan(
            self._onnx_model,
            outputs=self._build_options.get("outputs"),
            input_shapes={n: s for n, s in zip(self._plan.inputs, shapes) if "nested" not in s[:1]},
            input_values={n: np.frombuffer(b, dtype=d).reshape(s) for n, d, s, b in values},
            freeze_params=self._build_options.get("freeze_params", False),
            tensor_shapes=tensor_shapes,
        )
        return Executor(plan, _BlockConstants(self))

    def _runtime_shapes(self) -> dict[str, tuple[int, ...]] | None:
        """Shape of every tensor the plan computes for the pending inputs, or None."""
        if not self._pending_inputs:
            return None
        ctx = self._pending_inputs[0].context
        params = {name: self._reg_params[key].data(ctx) for name, key in self._param_keys.items()}
        seen: dict[str, tuple[int, ...]] = {}
        # sizes that depend on the values of this call would be wrong for the next one of the same shapes
        value_dependent = _value_dependent_tensors(self._plan)

        def record(step: object, values: list) -> None:
            for name, value in zip(step.outputs, values):
                if name and name not in value_dependent and isinstance(value, mx.nd.NDArray):
                    seen[name] = tuple(value.shape)

        try:
            with mx.autograd.pause():
                self._executor.run(mx.nd, self._pending_inputs, params, ctx, on_step=record)
        except Exception:  # noqa: BLE001 - the caller reports the original reason
            return None
        return seen

    def _specialization_key(self, args: Sequence[object]) -> tuple:
        shapes = tuple(tuple(a.shape) if isinstance(a, mx.nd.NDArray) else ("nested", _structure(a)) for a in args)
        values = []
        for name in sorted(self._plan.static_needs):
            index = self._plan.inputs.index(name)
            if not isinstance(args[index], mx.nd.NDArray):
                continue  # a sequence: its structure is part of the shapes
            array = args[index].asnumpy()
            dtype = self._plan.info(name).dtype
            if dtype is not None:
                array = array.astype(dtype)
            values.append((name, array.dtype, array.shape, array.tobytes()))
        return shapes, tuple(values)

    # --- constants ---------------------------------------------------------------------
    def _constant(self, key: str, array: np.ndarray, F: object, ctx: object) -> object:
        if not is_symbol(F):
            ctx = ctx or self._ctx_list[0]
            cache_key = (key, str(ctx))
            value = self._const_arrays.get(cache_key)
            if value is None:
                value = mx.nd.array(array, dtype=array.dtype, ctx=ctx)
                self._const_arrays[cache_key] = value
            return value
        if array.size == 0:
            # Gluon parameters cannot have zero-size shapes (0 means "unknown" to them): keep a
            # one-element parameter (so the graph still has an input) and repeat it zero times
            # (zero-size slices of rank <= 2 break MXNet's engine; tile does not)
            one = self._constant(key + ":one", np.zeros((1,), dtype=array.dtype), F, ctx)
            return reshape(F, F.tile(one, reps=(0,)), array.shape)
        param = self._const_params.get(key)
        if param is None:
            name = f"const{self._const_counter}"
            self._const_counter += 1
            param = self.params.get_constant(name, mx.nd.array(array, dtype=array.dtype, ctx=mx.cpu()))
            param.initialize(ctx=self._ctx_list)
            self._const_params[key] = param
        return param.var()

    def _build_cache(self, *args: object) -> None:
        # constants created by an abandoned trace (one that asked for specialization) or by an
        # earlier specialization are not inputs of this graph: drop them before Gluon collects
        # parameters, so they are neither fed nor exported
        _, out = self._get_graph(*args)
        used = set(out.list_inputs())
        for key, param in list(self._const_params.items()):
            if param.name not in used:
                del self._const_params[key]
                self.params._params.pop(param.name, None)
        flags = self._flags
        if _has_data_dependent_shapes(out):
            # memory planned once for all calls cannot hold sizes that depend on the values
            # (MXNet fails with 'Shape is unknown'): such graphs run with dynamic allocation
            self._flags = [(k, False if k in ("static_alloc", "static_shape") else v) for k, v in flags]
        try:
            super()._build_cache(*args)
        finally:
            self._flags = flags


#: ONNX operators whose output shapes may depend on their input values
_VALUE_DEPENDENT_ONNX_OPS = frozenset({"NonZero", "Compress", "Unique", "NonMaxSuppression", "If", "Loop",
                                       "StringSplit", "SequenceConstruct", "SplitToSequence", "SequenceInsert",
                                       "SequenceErase"})


def _value_dependent_tensors(plan: Plan) -> set[str]:
    """Tensors whose shapes may depend on input values other than those keying a specialization:
    outputs of data-dependent operators, of steps that read such a value while the graph is built,
    and what follows from them."""
    # values fixed by the specialization key: constants, parameters, the inputs read as values,
    # and what is computed from them and from sizes that are not value-dependent
    keyed = set(plan.statics) | set(plan.params) | (set(plan.inputs) & set(plan.static_needs))
    tainted: set[str] = set()
    for step in plan.steps:
        names = [n for n in step.inputs if n]
        if step.op_type in ("Shape", "Size"):
            computed_from_key = bool(names) and names[0] not in tainted
        else:
            computed_from_key = all(n in keyed for n in names)
        reads_other_values = any(name and step.static_inputs[i] and name not in keyed
                                 for i, name in enumerate(step.inputs))
        outputs = [o for o in step.outputs if o]
        if step.op_type in _VALUE_DEPENDENT_ONNX_OPS or reads_other_values or any(n in tainted for n in names):
            tainted.update(outputs)
        elif computed_from_key:
            keyed.update(outputs)
    return tainted


#: MXNet operators whose output shapes depend on their input values
_DATA_DEPENDENT_OPS = frozenset({"_npi_nonzero", "_npx_nonzero", "_contrib_boolean_mask", "_npi_unique"})


def _has_data_dependent_shapes(symbol: mx.sym.Symbol) -> bool:
    def search(graph: dict) -> bool:
        # control flow operators (cond, while_loop) hold their bodies as subgraphs
        return any(node["op"] in _DATA_DEPENDENT_OPS or any(search(sub) for sub in node.get("subgraphs", ()))
                   for node in graph["nodes"])

    return search(json.loads(symbol.tojson()))


class _BlockConstants(ConstantProvider):
    def __init__(self, block: OnnxBlock):
        self.block = block

    def constant(self, key: str, array: np.ndarray, F: object, ctx: object) -> object:
        return self.block._constant(key, array, F, ctx)

    def param_value(self, name: str) -> np.ndarray:
        key = self.block._param_keys[name]
        return self.block._reg_params[key].data(self.block._ctx_list[0]).asnumpy()
