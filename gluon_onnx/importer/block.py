"""OnnxBlock: an ONNX graph as a real, hybridizable Gluon HybridBlock."""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Mapping, Sequence

import mxnet as mx
import numpy as np
from mxnet import gluon
from mxnet.gluon.block import _regroup

from .. import limits
from ..dtypes import storage_dtype, to_storage
from ..errors import ExecutionError, HybridizationError, ResourceLimitError
from ..model import LoadedModel
from .context import ConstantProvider, Executor, NeedsSpecialization
from .mxops import is_symbol, reshape
from .plan import Plan, build_plan
from .symdim import Dim
from .symfold import fold_constant_subgraphs

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


class _ParamState:
    """Shared by the parameters and constants of one block.

    ``pending``: gradient buffers still to be allocated; ``in_forward``: the block's own forward
    (which allocates them when recording) is running; ``version`` changes whenever a parameter
    gets new arrays (cast, reset_ctx, grad_req), which invalidates the block's cached call.
    """

    __slots__ = ("pending", "in_forward", "params", "version")

    def __init__(self):
        self.pending = False
        self.in_forward = False
        self.params: list[_OnnxParameter] = []
        self.version = 0

    def allocate(self) -> None:
        self.pending = False
        for param in self.params:
            param._allocate_grad()


class _TrackedData:
    """Mixin: assigning a Parameter's ``_data`` list bumps its block's version."""

    _param_state: _ParamState

    @property
    def _data(self) -> list | None:
        return self.__dict__.get("_data_arrays")

    @_data.setter
    def _data(self, value: list | None) -> None:
        self.__dict__["_data_arrays"] = value
        self._param_state.version += 1


class _OnnxParameter(_TrackedData, gluon.Parameter):
    """A Parameter of an imported model.

    It takes its array at creation without another copy, and allocates its gradient buffer
    only once something needs it (autograd recording, ``grad()``, a Trainer), so a block that
    only runs inference holds its weights once.
    """

    def __init__(self, name: str, state: _ParamState, **kwargs: object):
        self._param_state = state
        self._lazy_grad = False
        super().__init__(name, **kwargs)
        state.params.append(self)

    # gradient buffers: Gluon reads ``_grad`` everywhere, so allocation hides behind it
    @property
    def _grad(self) -> list | None:
        if self._lazy_grad:
            self._allocate_grad()
        return self.__dict__.get("_grad_arrays")

    @_grad.setter
    def _grad(self, value: list | None) -> None:
        self.__dict__["_grad_arrays"] = value

    def _init_grad(self) -> None:
        if self.grad_req == "null":
            self._lazy_grad = False
            self._grad = None
            return
        self._lazy_grad = True
        self._param_state.pending = True

    def _allocate_grad(self) -> None:
        if self._lazy_grad:
            self._lazy_grad = False
            if self._data is not None:
                super()._init_grad()

    def data(self, ctx: mx.Context | None = None) -> mx.nd.NDArray:
        state = self._param_state
        if state.pending and not state.in_forward and mx.autograd.is_recording():
            state.allocate()  # read by an enclosing block's graph while recording
        return super().data(ctx)

    def list_data(self) -> list:
        state = self._param_state
        if state.pending and not state.in_forward and mx.autograd.is_recording():
            state.allocate()
        return super().list_data()

    def adopt(self, array: mx.nd.NDArray, ctx_list: Sequence[mx.Context]) -> None:
        """Initialize with ``array`` itself on its context (copies only for other contexts)."""
        _adopt(self, array, ctx_list)


class _OnnxConstant(_TrackedData, gluon.Constant):
    """A graph constant (Gluon Constant) whose array changes are tracked like parameters'."""

    def __init__(self, name: str, value: mx.nd.NDArray, state: _ParamState):
        self._param_state = state
        super().__init__(name, value)


class _FastCall:
    """Everything a hybridized call needs besides its inputs, resolved once: the CachedOp and
    its argument list with the parameter arrays in place (Gluon rebuilds it on every call)."""

    __slots__ = ("op", "version", "template", "arg_slots", "num_args", "out_format", "shapes", "ctx")

    def __init__(self, block: OnnxBlock, args: Sequence[mx.nd.NDArray]):
        self.op = block._cached_op
        self.version = block._param_state.version
        self.num_args = len(args)
        # other shapes or devices take the full path: size budgets, specialization, parameter copies
        self.shapes = tuple(a.shape for a in args)
        self.ctx = args[0].context if args else None
        self.out_format = block._out_format
        self.template: list = []
        self.arg_slots: list[tuple[int, int]] = []
        for position, (is_arg, item) in enumerate(block._cached_op_args):
            if is_arg:
                self.arg_slots.append((position, item))
                self.template.append(None)
            else:
                self.template.append(item.data())

    @staticmethod
    def possible(block: OnnxBlock, args: Sequence[object]) -> bool:
        if block._cached_op is None or block._callback or block._specialized or block._input_layout != ():
            return False
        if not all(type(a) is mx.nd.NDArray for a in args) or len({a.context for a in args}) != 1:
            return False
        if any(is_arg and item >= len(args) for is_arg, item in block._cached_op_args):
            return False
        return all(is_arg or len(item.list_ctx()) == 1 for is_arg, item in block._cached_op_args)


def _adopt(param: gluon.Parameter, array: mx.nd.NDArray, ctx_list: Sequence[mx.Context]) -> None:
    """Gluon's ``_load_init`` without its copy: ``array`` becomes the data on its own context."""
    param._ctx_list = list(ctx_list)
    param._ctx_map = [[], []]
    for i, ctx in enumerate(param._ctx_list):
        devices = param._ctx_map[ctx.device_typeid & 1]
        while len(devices) <= ctx.device_id:
            devices.append(None)
        devices[ctx.device_id] = i
    param._data = [array if ctx == array.context else array.copyto(ctx) for ctx in param._ctx_list]
    param._deferred_init = ()
    param._init_grad()


def _nd_from_host(array: np.ndarray, dtype: str, ctx: mx.Context) -> mx.nd.NDArray:
    """An NDArray holding ``array`` converted to ``dtype``: the numpy buffer itself for large,
    writeable, contiguous CPU arrays (``array`` becomes read-only), otherwise a copy.

    Read-only arrays (views of protobuf bytes or of a mapped file) are always copied.
    """
    array = to_storage(array)
    if (ctx.device_type == "cpu" and array.nbytes >= _ZERO_COPY_BYTES and array.dtype.name == dtype
            and _zero_copy_ok(array)):
        return mx.nd.from_numpy(array, zero_copy=True)
    return mx.nd.array(array, dtype=dtype, ctx=ctx)


def _zero_copy_ok(array: np.ndarray) -> bool:
    return (array.dtype.name in _ZERO_COPY_DTYPES and array.flags.c_contiguous and array.flags.writeable
            and array.ndim > 0 and array.size > 0)


def _parameter_array(value: np.ndarray, dtype: str, ctx: mx.Context) -> mx.nd.NDArray:
    """A new NDArray with ``value``: one copy into a 64-byte aligned host buffer that MXNet then
    uses as it is (creating many small NDArrays through the engine costs a synchronization each)."""
    value = to_storage(value)
    if ctx.device_type != "cpu" or value.dtype.name != dtype or value.dtype.name not in _ZERO_COPY_DTYPES \
            or value.size == 0:
        return mx.nd.array(value, dtype=dtype, ctx=ctx)
    buffer = np.empty(value.nbytes + _ALIGNMENT, np.uint8)
    start = -buffer.ctypes.data % _ALIGNMENT
    host = buffer[start:start + value.nbytes].view(value.dtype).reshape(value.shape)
    np.copyto(host, value)
    return mx.nd.from_numpy(host, zero_copy=True)


#: constants at least this large share their numpy buffer with MXNet
_ZERO_COPY_BYTES = 1 << 16
_ZERO_COPY_DTYPES = frozenset({"float32", "float64", "float16", "int32", "int64", "uint8"})
#: MXNet's own CPU allocations are 64-byte aligned (what oneDNN's vector loads like)
_ALIGNMENT = 64


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
        self._param_state = _ParamState()
        self._auto_backend = False
        self._backend_proven = False
        self._traced_graph: tuple = ()
        self._fast_call: _FastCall | None = None
        with mx.util.np_shape(True):  # zero-size parameters exist only with numpy shapes
            self._create_parameters()

    # --- construction ------------------------------------------------------------------
    def _create_parameters(self) -> None:
        taken: set[str] = set()
        initializers = {t.name: t for t in self._onnx_model.proto.graph.initializer if t.name in self._plan.params}
        for onnx_name, info in self._plan.params.items():
            key = _param_key(onnx_name, taken)
            dtype = storage_dtype(info.dtype) or "float32"
            param = _OnnxParameter(
                self.params.prefix + key,
                self._param_state,
                shape=info.shape,
                dtype=dtype,
                grad_req="write" if info.trainable else "null",
                differentiable=info.trainable,
                allow_deferred_init=False,
            )
            self.params._params[param.name] = param
            self._reg_params[key] = param
            self._param_keys[onnx_name] = key
            if onnx_name in self._plan.constant_params:
                value = np.asarray(self._plan.constant_params[onnx_name])
            else:
                # weights still in the model file are copied from the mapping straight into the NDArray
                value = np.asarray(self._onnx_model.tensor_array(initializers[onnx_name], mapped=True))
            param.adopt(_parameter_array(value, dtype, self._ctx_list[0]), self._ctx_list)
            del value

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
        """The imported ``onnx.ModelProto`` (a self-contained copy: weights included)."""
        return self._onnx_model.self_contained()

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
        """Gluon's hybridize; inference-optimized blocks default to the oneDNN backend on CPU.

        A graph the oneDNN partitioner or its fused operators cannot handle (some 7-D tensors,
        some graphs with numpy operators) then runs unpartitioned instead of failing.
        """
        self._auto_backend = False
        if (backend is None and active and self._build_options.get("freeze_params")
                and all(c.device_type == "cpu" for c in self._ctx_list) and mx.runtime.Features().is_enabled("MKLDNN")):
            backend = "MKLDNN"
            self._auto_backend = True
        self._backend_proven = False
        if backend is not None:
            kwargs["backend"] = backend
        super().hybridize(active, **kwargs)

    def _build_cache(self, *args: object) -> None:
        _, out = self._get_graph(*args)
        flags = self._flags
        if _has_data_dependent_shapes(out):
            # memory planned once for all calls cannot hold sizes that depend on the values
            # (MXNet fails with 'Shape is unknown'): such graphs run with dynamic allocation
            self._flags = [(k, False if k in ("static_alloc", "static_shape") else v) for k, v in flags]
        try:
            try:
                super()._build_cache(*args)
            except mx.base.MXNetError as exc:
                if not (self._auto_backend and self._backend):
                    raise
                self._without_backend(exc)
                super()._build_cache(*args)
        finally:
            self._flags = flags

    def _call_cached_op(self, *args: object) -> object:
        if not (self._auto_backend and self._backend and not self._backend_proven):
            return super()._call_cached_op(*args)
        # the first run of a partitioned graph: fused-operator errors surface when outputs are read
        try:
            out = super()._call_cached_op(*args)
            for value in out if isinstance(out, (list, tuple)) else [out]:
                if isinstance(value, mx.nd.NDArray):
                    value.wait_to_read()
        except mx.base.MXNetError as exc:
            self._without_backend(exc)
            return super()._call_cached_op(*args)
        self._backend_proven = True
        return out

    def _without_backend(self, exc: Exception) -> None:
        reason = str(exc).strip().splitlines()
        warnings.warn(f"oneDNN graph partitioning failed ({reason[-1] if reason else exc}); "
                      "running the graph unpartitioned", RuntimeWarning, stacklevel=3)
        self._backend = None
        self._auto_backend = False
        traced = self._traced_graph
        self._clear_cached_op()
        if traced:
            self._cached_graph = traced  # the partitioner replaced it; the trace itself is fine

    def _clear_cached_op(self) -> None:
        self._fast_call = None
        self._traced_graph = ()
        super()._clear_cached_op()

    def _get_graph(self, *args: object) -> tuple:
        graph = super()._get_graph(*args)
        if not self._traced_graph:
            self._traced_graph = graph
        return graph

    def forward(self, *args: object) -> object:
        state = self._param_state
        if state.pending and mx.autograd.is_recording():
            state.allocate()
        fast = self._fast_call
        if (fast is not None and fast.op is self._cached_op and fast.version == state.version
                and len(args) == fast.num_args and all(type(a) is mx.nd.NDArray for a in args)
                and tuple(a.shape for a in args) == fast.shapes and (not args or args[0].context == fast.ctx)):
            # hybridized steady state: straight to the CachedOp
            cargs = fast.template.copy()
            for position, index in fast.arg_slots:
                cargs[position] = args[index]
            with mx.util.np_shape(True):
                out = fast.op(*cargs)
            out = _regroup([out] if isinstance(out, mx.nd.NDArray) else out, fast.out_format)
            return tuple(out) if isinstance(out, list) else out
        state.in_forward = True
        try:
            out = self._forward(args)
        finally:
            state.in_forward = False
        if self._active and _FastCall.possible(self, args):
            self._fast_call = _FastCall(self, args)
        return out

    def _forward(self, args: tuple) -> object:
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
            if self._build_options.get("freeze_params"):
                outputs = self._fold_constants(outputs)
            self._drop_unused_constants(outputs)
        else:
            first = _first_ndarray(args)
            ctx = first.context if first is not None else self._ctx_list[0]
            outputs = self._executor.run(F, args, by_onnx, ctx)
        outputs = [self._fix_scalar(F, name, out) for name, out in zip(self._plan.outputs, outputs)]
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def _fold_constants(self, outputs: list) -> list:
        """Frozen weights: evaluate once what converters compute from constants alone (weight
        packing, transposes) instead of on every call."""
        if not outputs or not all(isinstance(o, mx.sym.Symbol) for o in outputs):
            return outputs
        ctx = self._ctx_list[0]
        constants = {p.name: p.data(ctx) for p in self._const_params.values()}

        def new_constant(value: mx.nd.NDArray) -> str:
            name = f"const{self._const_counter}"
            self._const_counter += 1
            param = _OnnxConstant(self.params.prefix + name, value, self._param_state)
            self.params._params[param.name] = param
            _adopt(param, value, self._ctx_list)
            self._const_params[f"folded:{param.name}"] = param
            return param.name

        folded = fold_constant_subgraphs(outputs, constants, new_constant, limits.MAX_FOLDED_ELEMENTS)
        return outputs if folded is None else folded

    def _drop_unused_constants(self, outputs: Sequence[object]) -> None:
        """Forget constants the traced graph does not read (made for inputs a converter took as a
        static value, or by a trace abandoned for a specialized one): Gluon warns about them."""
        symbols = []
        stack = list(outputs)
        while stack:
            item = stack.pop()
            if isinstance(item, mx.sym.Symbol):
                symbols.append(item)
            elif isinstance(item, (list, tuple)):
                stack.extend(item)
        used = set(mx.sym.Group(symbols).list_inputs()) if symbols else set()
        for key, param in list(self._const_params.items()):
            if param.name not in used:
                del self._const_params[key]
                self.params._params.pop(param.name, None)

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
                value = _nd_from_host(array, array.dtype.name, ctx)
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
            value = _nd_from_host(array, array.dtype.name, self._ctx_list[0])
            param = _OnnxConstant(self.params.prefix + name, value, self._param_state)
            self.params._params[param.name] = param
            _adopt(param, value, self._ctx_list)
            self._const_params[key] = param
        return param.var()

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
