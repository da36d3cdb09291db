"""Turn an ONNX graph into an ordered list of converter steps.

The plan is built once at import time. It

* orders the nodes topologically (refusing cycles, dangling and duplicate names),
* prunes what the requested outputs do not need (this is how ``outputs=`` cuts a graph),
* folds constant subgraphs and evaluates shape arithmetic over symbolic sizes,
* resolves one converter per remaining node and reports *all* unsupported operators at once,
* decides which initializers become trainable parameters, running statistics or constants.
"""

from __future__ import annotations

import re
import warnings
from collections import ChainMap, defaultdict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto

from .. import limits
from ..dtypes import np_dtype
from ..errors import ConversionError, GluonOnnxError, InvalidModelError, ResourceLimitError, UnsupportedOperatorError
from ..model import LoadedModel
from . import budget, shapes
from .registry import ConverterSpec, convert_attributes, lookup
from .shapes import SymArray
from .symdim import Dim, NotStatic, Symbol, is_invented, parse_expression

#: ops whose outputs depend on their inputs' sizes, never on their values
_SHAPE_ONLY_OPS = frozenset({"Shape", "Size"})
_FLOAT_ELEM_TYPES = (TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16)

#: folded tensors up to this many elements are given to ONNX inference as constants when planning again
_LEARNED_VALUE_SIZE = 4096
#: planning passes at most: each gives ONNX inference the shapes the previous one computed where it gave up
_MAX_PLANNING_PASSES = 6
#: ops whose outputs are bool whatever their inputs
_BOOL_OUTPUT_OPS = frozenset({"Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", "IsNaN", "IsInf", "Not",
                              "And", "Or", "Xor"})
#: ops whose outputs are random: never folded
_RANDOM_OPS = frozenset(
    {"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike", "Bernoulli", "Multinomial"}
)
#: ops folded only through the symbolic evaluators (never by running the reference)
_NO_REFERENCE_FOLD = frozenset({"If", "Loop", "Scan", "SequenceMap"}) | _RANDOM_OPS


@dataclass
class TensorInfo:
    """What import-time inference knows about one tensor."""

    dtype: np.dtype | None
    shape: tuple | None  # tuple of int | Dim, None when the rank is unknown


@dataclass
class Step:
    """One node that runs when the block runs."""

    node: onnx.NodeProto
    spec: ConverterSpec
    attrs: dict[str, object]
    inputs: list[str]
    outputs: list[str]
    static_inputs: list[bool]
    opset: int
    prefer_static: list[bool] = field(default_factory=list)
    subgraphs: dict[str, Subgraph] = field(default_factory=dict)  # graph attribute -> its plan

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def op_type(self) -> str:
        return self.node.op_type


@dataclass
class ParamInfo:
    """An initializer that becomes a Gluon Parameter."""

    onnx_name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    trainable: bool


@dataclass
class Plan:
    """Everything OnnxBlock needs to run a graph."""

    inputs: list[str]
    outputs: list[str]
    infos: dict[str, TensorInfo]
    steps: list[Step]
    statics: dict[str, object]  # name -> np.ndarray | SymArray
    params: dict[str, ParamInfo]
    witnesses: dict[str, tuple[str, int]]  # symbol -> (tensor, axis) that has that size
    opsets: dict[str, int]
    static_needs: set[str] = field(default_factory=set)  # graph inputs whose values must be static
    producers: dict[str, str] = field(default_factory=dict)  # tensor -> node name
    constant_params: dict[str, np.ndarray] = field(default_factory=dict)  # parameter values from Constant nodes
    outer_names: set[str] = field(default_factory=set)  # subgraphs: tensors read from enclosing graphs
    # symbol -> every runtime (tensor, axis) with that size, earliest first: where the witness
    # itself is not computed (a graph cut with outputs=), another one is
    size_sources: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def info(self, name: str) -> TensorInfo:
        return self.infos.get(name) or TensorInfo(None, None)


class Subgraph:
    """A graph attribute (If branch, Loop/Scan body, ...) of a runtime step, with its plan.

    ``plan`` runs the subgraph with its formal inputs as runtime values. :meth:`specialize`
    rebuilds it with some formal inputs fixed (e.g. the iteration number of an unrolled
    loop), so that everything depending only on them folds.
    """

    def __init__(self, attr: str, graph: onnx.GraphProto, outer: _Builder, plan: Plan, scope: str):
        self.attr = attr
        self.graph = graph
        self.plan = plan
        self.scope = scope
        self._outer = outer
        self._specialized: dict[tuple, Plan] = {}

    @property
    def input_names(self) -> list[str]:
        return list(self.plan.inputs)

    @property
    def output_names(self) -> list[str]:
        return list(self.plan.outputs)

    def specialize(self, input_values: Mapping[str, np.ndarray]) -> Plan:
        """The plan with the formal inputs in ``input_values`` fixed (cached per value)."""
        if not input_values:
            return self.plan
        arrays = {name: np.asarray(value) for name, value in input_values.items()}
        key = tuple((name, a.dtype, a.shape, a.tobytes()) for name, a in sorted(arrays.items()))
        plan = self._specialized.get(key)
        if plan is None:
            builder = _Builder(self._outer.model, self.graph, None, None, arrays, self._outer.freeze_params,
                               outer=self._outer, scope=self.scope)
            plan = builder.build()
            if builder.unsupported:
                raise _unsupported_error(builder.unsupported)
            self._specialized[key] = plan
        return plan


def _dims_of(type_proto: onnx.TypeProto) -> tuple | None:
    if not type_proto.HasField("tensor_type") or not type_proto.tensor_type.HasField("shape"):
        return None
    dims: list[object] = []
    for d in type_proto.tensor_type.shape.dim:
        if d.HasField("dim_value") and d.dim_value >= 0:
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param") and d.dim_param:
            dims.append(d.dim_param)
        else:
            dims.append(None)
    return tuple(dims)


def _elem_type(type_proto: onnx.TypeProto) -> int:
    """Element type of a tensor, or of the tensors inside a sequence/optional value."""
    if type_proto.HasField("tensor_type"):
        return type_proto.tensor_type.elem_type
    if type_proto.HasField("sequence_type"):
        return _elem_type(type_proto.sequence_type.elem_type)
    if type_proto.HasField("optional_type"):
        return _elem_type(type_proto.optional_type.elem_type)
    return 0


def _raw_info(vi: onnx.ValueInfoProto) -> TensorInfo:
    elem = _elem_type(vi.type)
    return TensorInfo(np_dtype(elem) if elem else None,
                      _dims_of(vi.type) if vi.type.HasField("tensor_type") else None)


class _Builder:
    """Mutable state while a plan is built.

    With ``outer`` set, the builder plans a subgraph: names of the enclosing graphs are visible
    (their static values fold, their runtime values are read from the enclosing environment
    when the subgraph runs), its own initializers are constants, and unsupported operators are
    collected in ``unsupported`` for the outermost builder to report.
    """

    def __init__(
        self,
        model: LoadedModel,
        graph: onnx.GraphProto,
        outputs: Sequence[str] | None,
        input_shapes: Mapping[str, Sequence[object]] | None,
        input_values: Mapping[str, np.ndarray] | None,
        freeze_params: bool,
        tensor_shapes: Mapping[str, Sequence[int]] | None = None,
        *,
        outer: _Builder | None = None,
        scope: str = "",
        learned_shapes: Mapping[str, tuple] | None = None,
        learned_witnesses: Mapping[str, tuple[str, int]] | None = None,
        learned_values: Mapping[str, np.ndarray] | None = None,
        learned_dtypes: Mapping[str, np.dtype] | None = None,
        planning_pass: int = 1,
    ):
        self.model = model
        # shapes the plan computed where ONNX inference gave up (a Reshape to a computed shape):
        # fed back to inference as value_info so the facts propagate downstream
        self.learned_shapes = dict(learned_shapes or {})
        # small tensors the first pass folded (Slice bounds, Resize scales computed from constants):
        # inference sees them as constants, which its own data propagation may not compute
        self.learned_values = dict(learned_values or {})
        self.learned_dtypes = dict(learned_dtypes or {})
        self.planning_pass = planning_pass
        self.learned: dict[str, tuple] = {}
        self._dim_params: dict[str, Dim] = {}
        self._witness_candidates: dict[str, list[tuple[str, int]]] = defaultdict(list)
        self._position: dict[str, int] = {}  # tensor -> index of its producer in the walk order
        self.size_sources: dict[str, list[tuple[str, int]]] = {}
        # sizes named by the graph inputs: exporters write other sizes as expressions of them
        self._input_size_names: set[str] = set(outer._input_size_names) if outer is not None else set()
        self.tensor_shapes = dict(tensor_shapes or {})
        self.graph = graph
        self.requested_outputs = list(outputs) if outputs else [o.name for o in graph.output]
        self.input_shapes = dict(input_shapes or {})
        self.input_values = dict(input_values or {})
        self.freeze_params = freeze_params
        self.outer = outer
        self.scope = scope
        self.initializers: dict[str, TensorProto] = {t.name: t for t in graph.initializer}
        self.infos: dict[str, TensorInfo] = {}
        self.statics: dict[str, object] = {}
        self.params: set[str] = set()  # float initializers (candidate parameters)
        self.constant_params: dict[str, np.ndarray] = {}  # float Constant nodes that train like initializers
        self.witnesses: dict[str, tuple[str, int]] = {}
        self.producer: dict[str, onnx.NodeProto] = {}
        self.unsupported: dict[tuple[str, str, int], list[str]] = defaultdict(list)
        # raw inferred types of tensors inside subgraphs, filled by the outermost builder
        self.nested_infos: dict[str, TensorInfo] = outer.nested_infos if outer is not None else {}
        # names of the enclosing graphs this graph may read
        self.visible: set[str] = outer.defined_names() if outer is not None else set()
        self._pending_subgraphs: dict[int, dict[str, Subgraph]] = {}
        self._runtime_reads: set[str] = set()
        self.learned_witnesses = dict(learned_witnesses or {})
        self.witnesses.update(self.learned_witnesses)
        if outer is not None:
            self.statics = ChainMap({}, outer.statics)
            self.witnesses = dict(outer.witnesses)
            self.params = set(outer.params)

    def defined_names(self) -> set[str]:
        """Every tensor name a subgraph of this graph may read."""
        names = set(self.visible) | set(self.initializers) | set(self.producer)
        names.update(i.name for i in self.graph.input)
        return names

    # ---------------------------------------------------------------------------------
    def build(self) -> Plan:
        graph = self.graph
        init_names = set(self.initializers)
        inputs = [i.name for i in graph.input if i.name not in init_names]
        unknown = set(self.input_shapes) - set(inputs)
        if unknown:
            raise InvalidModelError(
                f"input_shapes names {sorted(unknown)} are not graph inputs; inputs are {inputs}"
            )
        self._check_names(inputs)
        order = self._topological_order(inputs)
        needed = self._needed_nodes(order, inputs)
        order = [n for n in order if id(n) in needed]
        self._position = {out: index for index, node in enumerate(order) for out in node.output if out}
        if self.outer is None:
            self._check_domains(order)
            self._infer(inputs)
        else:
            self._subgraph_infos()
        self._seed_inputs(inputs)
        self._check_sizes()
        steps = self._walk(order, inputs)
        if self.unsupported and self.outer is None:
            raise _unsupported_error(self.unsupported)
        self._choose_witnesses(inputs)
        self.learned = {name: shape for name, shape in self.learned.items() if name not in self.statics}
        if self.outer is None and self.planning_pass < _MAX_PLANNING_PASSES and self._learned_more():
            return self._replan_with_learned_shapes()
        steps = self._prune_runtime(steps)
        params = self._params(steps)
        plan = Plan(
            inputs=inputs,
            outputs=self.requested_outputs,
            infos=self.infos,
            steps=steps,
            statics=self.statics,
            params=params,
            witnesses=self.witnesses,
            opsets=dict(self.model.opsets),
            producers={o: n.name for o, n in self.producer.items()},
            constant_params={n: v for n, v in self.constant_params.items() if n in params},
            size_sources=self.size_sources,
        )
        plan.static_needs = self._static_needs(steps, inputs)
        if self.outer is not None:
            plan.outer_names = {n for n in self._runtime_reads if n in self.visible and n not in inputs}
        return plan

    # --- structure -------------------------------------------------------------------
    def _check_names(self, inputs: list[str]) -> None:
        seen: dict[str, str] = {}
        for name in inputs:
            if name in seen:
                raise InvalidModelError(f"graph input {name!r} is declared twice")
            seen[name] = "graph input"
        for name in self.initializers:
            seen.setdefault(name, "initializer")
        for node in self.graph.node:
            for out in node.output:
                if not out:
                    continue
                if out in seen:
                    raise InvalidModelError(
                        f"tensor {out!r} is produced by node {node.name!r} ({node.op_type}) "
                        f"but is already defined as a {seen[out]}; ONNX tensor names must be unique"
                    )
                seen[out] = f"output of node {node.name!r}"
                self.producer[out] = node

    def _topological_order(self, inputs: list[str]) -> list[onnx.NodeProto]:
        available = set(inputs) | set(self.initializers) | self.visible | {""}
        nodes = list(self.graph.node)
        for index, node in enumerate(nodes):
            if not node.name:
                node.name = f"{self.scope}{node.op_type}_{index}"
        waiting: dict[str, list[int]] = defaultdict(list)
        missing_count = [0] * len(nodes)
        ready: deque[int] = deque()
        for index, node in enumerate(nodes):
            deps = {i for i in node.input if i not in available} | _outer_names(node)
            deps -= available
            for dep in deps:
                if dep not in self.producer:
                    raise InvalidModelError(
                        f"node {node.name!r} ({node.op_type}) uses tensor {dep!r}, which no node, "
                        "graph input or initializer defines"
                    )
                waiting[dep].append(index)
            missing_count[index] = len(deps)
            if not deps:
                ready.append(index)
        order: list[onnx.NodeProto] = []
        while ready:
            index = ready.popleft()
            node = nodes[index]
            order.append(node)
            for out in node.output:
                for consumer in waiting.pop(out, ()):
                    missing_count[consumer] -= 1
                    if missing_count[consumer] == 0:
                        ready.append(consumer)
        if len(order) != len(nodes):
            stuck = [nodes[i].name for i in range(len(nodes)) if missing_count[i] > 0]
            raise InvalidModelError(
                f"the graph has a cycle (or unreachable dependencies) through node(s) {stuck[:5]}"
            )
        return order

    def _needed_nodes(self, order: list[onnx.NodeProto], inputs: list[str]) -> set[int]:
        known = set(inputs) | set(self.initializers) | set(self.producer) | self.visible
        for out in self.requested_outputs:
            if out not in known:
                close = [n for n in known if out.lower() in n.lower()][:5]
                raise InvalidModelError(
                    f"requested output {out!r} is not a tensor of this graph"
                    + (f"; similar names: {close}" if close else "")
                )
        needed: set[int] = set()
        stack = list(self.requested_outputs)
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            node = self.producer.get(name)
            if node is None or id(node) in needed:
                continue
            needed.add(id(node))
            stack.extend(i for i in node.input if i)
            stack.extend(_outer_names(node))
        return needed

    def _check_domains(self, order: list[onnx.NodeProto]) -> None:
        """Refuse nodes of domains without a converter before inference chokes on them.

        The report also names every default-domain operator lacking a converter, so one error
        lists everything that is missing.
        """
        missing: dict[tuple[str, str, int], list[str]] = defaultdict(list)
        for node in order:
            domain = "" if node.domain in ("", "ai.onnx") else node.domain
            opset = self.model.opsets.get(domain)
            if domain and (opset is None or lookup(domain, node.op_type, opset) is None):
                missing[(domain, node.op_type, opset or 0)].append(node.name)
        if not missing:
            return
        for node in order:
            if node.domain in ("", "ai.onnx") and node.op_type != "Constant":
                opset = self.model.opsets[""]
                if lookup("", node.op_type, opset) is None:
                    missing[("", node.op_type, opset)].append(node.name)
        raise UnsupportedOperatorError([(d, op, v, names) for (d, op, v), names in missing.items()])

    # --- inference -------------------------------------------------------------------
    def _infer(self, inputs: list[str]) -> None:
        # a rewritten graph (optimize=True) infers on the original: ONNX knows no fused operators,
        # and every tensor the rewritten graph keeps has the same name and type there
        graph = self.model.shape_source.graph if self.model.shape_source is not None else self.graph
        light = onnx.GraphProto()
        light.name = graph.name or "main"
        light.node.extend(n for n in graph.node if not all(o in self.learned_values for o in n.output if o)
                          or not n.output)
        light.output.extend(graph.output)
        declared = {i.name: i for i in graph.input}
        for name in inputs:
            vi = onnx.ValueInfoProto()
            vi.CopyFrom(declared[name])
            if name in self.input_shapes:
                _set_shape(vi, self.input_shapes[name])
            light.input.append(vi)
        for name, value in list(self.input_values.items()) + list(self.learned_values.items()):
            light.initializer.append(onnx.numpy_helper.from_array(np.asarray(value), name))
        for tensor in graph.initializer:
            if tensor.name in self.input_values:
                continue
            small = tensor.data_type not in _FLOAT_ELEM_TYPES
            count = int(np.prod(tensor.dims, dtype=np.int64)) if tensor.dims else 1
            if (small or count <= 64) and tensor.data_location != TensorProto.EXTERNAL:
                light.initializer.append(tensor)
            else:
                light.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
        light.value_info.extend(graph.value_info)
        for name, shape in self.learned_shapes.items():
            dtype = self.learned_dtypes.get(name)
            if dtype is None or name in self.learned_values:
                continue
            light.value_info.append(onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(dtype), [self._dim_param(d) for d in shape]))

        _check_arity(graph, self.model.opsets)
        for function in self.model.proto.functions:
            _check_arity(function, self.model.opsets)
        proto = onnx.ModelProto()
        # IR >= 4 so that initializers need not be listed as graph inputs
        proto.ir_version = max(self.model.proto.ir_version or onnx.IR_VERSION, 4)
        proto.opset_import.extend(self.model.proto.opset_import)
        proto.functions.extend(self.model.proto.functions)
        proto.graph.CopyFrom(light)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # the replanning pass adds shapes the plan learned: only the model's own declarations are judged
                inferred = _infer_shapes(proto, strict=not self.learned_shapes)
        except onnx.shape_inference.InferenceError as exc:
            raise InvalidModelError(f"ONNX type/shape inference rejects the model: {exc}") from None
        except InvalidModelError:
            raise
        except Exception as exc:  # onnx raises bare RuntimeErrors for some malformed graphs
            raise InvalidModelError(f"ONNX type/shape inference failed: {exc}") from None
        g = inferred.graph
        for vi in list(g.input) + list(g.value_info) + list(g.output):
            self.infos[vi.name] = _raw_info(vi)
        _collect_nested_infos(g, self.nested_infos)
        for tensor in graph.initializer:
            self.infos[tensor.name] = TensorInfo(np_dtype(tensor.data_type), tuple(int(d) for d in tensor.dims))
        for name, shape in self.input_shapes.items():
            info = self.infos.get(name)
            if info is not None:
                info.shape = tuple(shape)
        for name, shape in self.tensor_shapes.items():
            info = self.infos.get(name)
            if info is None:
                self.infos[name] = TensorInfo(None, tuple(int(d) for d in shape))
            elif info.shape is None or not all(isinstance(d, int) for d in info.shape):
                info.shape = tuple(int(d) for d in shape)

    def _subgraph_infos(self) -> None:
        """Types of a subgraph's tensors: the enclosing graphs' plus what inference found inside."""
        self.infos = dict(self.outer.infos)
        own: dict[str, TensorInfo] = {}
        _collect_graph_infos(self.graph, own)  # declared types, when inference left a tensor out
        for name in list(own):
            if name in self.nested_infos:
                own[name] = self.nested_infos[name]
        for node in self.graph.node:
            for out in node.output:
                if out and out not in own and out in self.nested_infos:
                    own[out] = self.nested_infos[out]
        produced = [o for node in self.graph.node for o in node.output if o]
        if any(_vague(own.get(name)) for name in produced):
            # the main graph's inference cannot see enclosing constants (e.g. Unsqueeze axes) or
            # fixed formal inputs: infer this graph alone with them as initializers
            for name, info in self._infer_alone(own).items():
                if _vague(own.get(name)) and _more_specific(info, own.get(name)):
                    own[name] = info
        for name, info in own.items():
            self.infos[name] = TensorInfo(info.dtype, info.shape)

    def _infer_alone(self, own: Mapping[str, TensorInfo]) -> dict[str, TensorInfo]:
        """ONNX type/shape inference of this subgraph as a standalone model."""
        graph = onnx.GraphProto()
        graph.name = self.graph.name or "subgraph"
        graph.node.extend(self.graph.node)
        graph.output.extend(self.graph.output)
        graph.initializer.extend(self.graph.initializer)
        fixed = {name: np.asarray(v) for name, v in self.input_values.items()}
        for vi in self.graph.input:
            if vi.name in fixed:
                continue
            declared = onnx.ValueInfoProto()
            declared.CopyFrom(vi)
            info = own.get(vi.name)
            if info is not None and info.dtype is not None and not declared.type.HasField("sequence_type") \
                    and not declared.type.HasField("optional_type"):
                # function bodies often declare untyped inputs: use what inference knows
                dims = None if info.shape is None else [d if isinstance(d, (int, str)) else "" for d in info.shape]
                declared = onnx.helper.make_tensor_value_info(
                    vi.name, onnx.helper.np_dtype_to_tensor_dtype(info.dtype), dims)
            graph.input.append(declared)
        for name in sorted(_free_names(self.graph)):
            static = self.statics.get(name)
            if isinstance(static, np.ndarray) and static.dtype != object and static.size <= 4096:
                fixed[name] = static
                continue
            info = self.infos.get(name)
            if info is None or info.dtype is None or info.shape is None:
                continue
            dims = [d if isinstance(d, int) else _symbol_name(d) for d in info.shape]
            graph.input.append(onnx.helper.make_tensor_value_info(
                name, onnx.helper.np_dtype_to_tensor_dtype(info.dtype), dims))
        for name, value in fixed.items():
            graph.initializer.append(onnx.numpy_helper.from_array(value, name))
        proto = onnx.ModelProto()
        proto.ir_version = max(self.model.proto.ir_version or onnx.IR_VERSION, 4)
        proto.opset_import.extend(self.model.proto.opset_import)
        proto.functions.extend(self.model.proto.functions)
        proto.graph.CopyFrom(graph)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                inferred = onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
        except Exception:  # noqa: BLE001 - the main graph's inference stays
            return {}
        found: dict[str, TensorInfo] = {}
        _collect_graph_infos(inferred.graph, found)
        _collect_nested_infos(inferred.graph, found)
        for name in fixed:
            found.pop(name, None)
        self.nested_infos.update({k: v for k, v in found.items() if _vague(self.nested_infos.get(k))})
        return found

    def _seed_inputs(self, inputs: list[str]) -> None:
        """Turn inferred shapes into int | Dim tuples; record which tensor witnesses each size."""
        for name in inputs:
            if name in self.input_values:
                self.statics[name] = np.asarray(self.input_values[name])
        for name in inputs:
            info = self.infos.get(name)
            if info is not None and info.shape is not None:
                self._input_size_names.update(d for d in info.shape if isinstance(d, str) and d)
        for name, info in list(self.infos.items()):
            if info.shape is None:
                continue
            info.shape = tuple(self._dim(name, axis, d) for axis, d in enumerate(info.shape))
        # graph inputs witness the sizes named after them first
        for name in inputs:
            info = self.infos.get(name)
            if info and info.shape:
                for axis, d in enumerate(info.shape):
                    if isinstance(d, Dim):
                        for sym in d.symbols:
                            self.witnesses.setdefault(sym, (name, axis))

    def _dim_param(self, d: object) -> object:
        """A learned size as ONNX value_info wants it (Dims become named parameters)."""
        if d is None or isinstance(d, (int, np.integer)):
            return None if d is None else int(d)
        name = f"gluon_onnx:{len(self._dim_params)}"
        self._dim_params[name] = d
        return name

    def _check_sizes(self) -> None:
        """Refuse tensors whose known size is over the budget (declared or inferred), before anything runs."""
        outer_infos = self.outer.infos if self.outer is not None else {}
        for name, info in self.infos.items():
            shape = info.shape
            if not shape or outer_infos.get(name) is info or not all(isinstance(d, int) for d in shape):
                continue
            total = 1
            for d in shape:
                total *= max(d, 0)
            if total > limits.MAX_TENSOR_ELEMENTS:
                producer = self.producer.get(name)
                origin = f"output of {producer.op_type} node {producer.name!r}" if producer is not None else "declared"
                raise ResourceLimitError(
                    f"tensor {name!r} ({origin}) has shape {shape}: {total} elements, over "
                    f"gluon_onnx.limits.MAX_TENSOR_ELEMENTS = {limits.MAX_TENSOR_ELEMENTS}"
                )

    def _dim(self, tensor: str, axis: int, d: object) -> object:
        if isinstance(d, (int, np.integer)):
            return int(d)
        if isinstance(d, Dim):
            return d
        if isinstance(d, str) and d in self._dim_params:
            return self._dim_params[d]
        if isinstance(d, str) and d:
            expression = parse_expression(d, self._input_size_names.__contains__)
            if expression is not None:
                return Dim.simplify(expression)
        symbol = d if isinstance(d, str) and d else f"{tensor}[{axis}]"
        dim = Dim.symbol(symbol)
        if tensor in self.producer or tensor in self.infos:
            self.witnesses.setdefault(symbol, (tensor, axis))
            self._witness_candidates[symbol].append((tensor, axis))
        return dim

    def _replan_with_learned_shapes(self) -> Plan:
        """Plan again with the shapes this pass computed given to ONNX inference.

        Their symbols are renamed to names ONNX never generates: inference numbers the sizes it
        invents (``unk__7``) afresh on every run, so ``unk__7`` may mean another size next time.
        """
        symbols = {sym for shape in self.learned.values() for d in shape if isinstance(d, Dim) for sym in d.symbols}
        names = {sym: f"{sym}@{len(self.learned_shapes)}" for sym in symbols if sym.startswith("unk__")}
        learned = dict(self.learned_shapes)
        for tensor, shape in self.learned.items():
            # a size this pass only named (unk__7) tells inference nothing: it may do better now
            learned[tensor] = tuple(None if is_invented(d) else d.rename(names) if isinstance(d, Dim) else d
                                    for d in shape)
        witnesses = dict(self.learned_witnesses)
        for sym in symbols:
            if sym in self.witnesses:
                witnesses[names.get(sym, sym)] = self.witnesses[sym]
        dtypes = dict(self.learned_dtypes)
        dtypes.update({name: self.infos[name].dtype for name in learned
                       if name in self.infos and self.infos[name].dtype is not None})
        values = {name: value for name, value in self.statics.items()
                  if name in self.producer and isinstance(value, np.ndarray) and value.dtype.kind in "iu"
                  and value.size <= _LEARNED_VALUE_SIZE and self.producer[name].op_type not in _RANDOM_OPS
                  and name in self.infos and self.infos[name].dtype == value.dtype}
        again = _Builder(self.model, self.graph, self.requested_outputs, self.input_shapes, self.input_values,
                         self.freeze_params, self.tensor_shapes, learned_shapes=learned, learned_witnesses=witnesses,
                         learned_values=values, learned_dtypes=dtypes, planning_pass=self.planning_pass + 1)
        return again.build()

    def _learned_more(self) -> bool:
        """Whether this pass computed shapes (or sizes of them) that the last pass did not give inference."""
        for name, shape in self.learned.items():
            before = self.learned_shapes.get(name)
            if before is None or len(before) != len(shape):
                return True
            if sum(d is not None and not is_invented(d) for d in shape) > sum(d is not None for d in before):
                return True
        return False

    def _choose_witnesses(self, inputs: list[str]) -> None:
        """Let every size be read from a tensor that exists when the block runs (an input or a
        runtime value), not from one the plan folded (e.g. the output of a Shape node)."""
        available = set(inputs)

        def usable(candidate: tuple[str, int]) -> bool:
            return candidate[0] in available or candidate[0] not in self.statics

        def computed_at(candidate: tuple[str, int]) -> int:
            # the earliest tensor: a later one may be computed from a shape that needs the size
            return -1 if candidate[0] in available else self._position.get(candidate[0], -1)

        for symbol, candidates in self._witness_candidates.items():
            choices = [c for c in candidates if usable(c)]
            current = self.witnesses.get(symbol)
            if current is not None and usable(current):
                choices.append(current)
            if choices:
                choices = sorted(set(choices), key=computed_at)
                self.witnesses[symbol] = choices[0]
                self.size_sources[symbol] = choices

    def shape_of(self, name: str) -> tuple | None:
        static = self.statics.get(name)
        if static is not None:
            return tuple(static.shape)
        info = self.infos.get(name)
        return info.shape if info else None

    # --- walk ------------------------------------------------------------------------
    def _initializer_proto(self, name: str) -> TensorProto:
        builder: _Builder | None = self
        while builder is not None:
            if name in builder.initializers:
                return builder.initializers[name]
            builder = builder.outer
        raise KeyError(name)

    def _initializer_value(self, name: str) -> np.ndarray:
        if name in self.constant_params:
            return self.constant_params[name]
        return self.model.tensor_array(self._initializer_proto(name))

    def _seed_initializers(self) -> None:
        for name, tensor in self.initializers.items():
            if name in self.input_values:
                continue
            # rank-0 floats (eps, clip bounds, scale factors) are hyper-parameters, not weights;
            # a subgraph's own initializers are constants: Parameters belong to the main graph
            if (tensor.data_type in _FLOAT_ELEM_TYPES and len(tensor.dims) > 0 and not self.freeze_params
                    and self.outer is None):
                self.params.add(name)
            else:
                self.statics[name] = self._initializer_value(name)

    def _walk(self, order: list[onnx.NodeProto], inputs: list[str]) -> list[Step]:
        self._seed_initializers()
        steps: list[Step] = []
        for node in order:
            try:
                step = self._plan_node(node)
            except GluonOnnxError:
                raise
            except Exception as exc:  # a malformed node met a planner bug: still name the node
                raise ConversionError(f"the node cannot be planned: {type(exc).__name__}: {exc}",
                                      op_type=node.op_type, node=node.name) from exc
            if step is not None:
                steps.append(step)
        return steps

    def _plan_node(self, node: onnx.NodeProto) -> Step | None:
        """The runtime step of ``node``; None when it folded or is unsupported (collected)."""
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        opset = self.model.opsets.get(domain)
        if opset is None:
            self.unsupported[(domain, node.op_type, 0)].append(node.name)
            return None
        spec = lookup(domain, node.op_type, opset)
        self._check_types(node, domain, opset)
        self._fill_output_shapes(node, opset)
        if self._try_static(node, spec, opset):
            return None
        subgraphs = self._pending_subgraphs.pop(id(node), None)
        if subgraphs is None:
            subgraphs = self._build_subgraphs(node, _graph_attributes(node))
        try:
            if "body" in subgraphs and node.op_type in ("Scan", "Loop"):
                self._shapes_from_body(node, subgraphs["body"].plan, opset)
            elif node.op_type == "If" and subgraphs:
                self._shapes_from_branches(node, [sub.plan for sub in subgraphs.values()])
        except (TypeError, ValueError, IndexError, KeyError):
            pass  # malformed attributes or arity: the shapes stay unknown, the converter reports the node

        if spec is None:
            self.unsupported[(domain, node.op_type, opset)].append(node.name)
            return None
        attrs = convert_attributes(spec, node)
        static_flags = [spec.is_static_input(i) for i in range(len(node.input))]
        prefer_flags = [
            spec.prefers_static_input(i) and isinstance(self.statics.get(name), np.ndarray)
            for i, name in enumerate(node.input)
        ]
        return Step(node, spec, attrs, list(node.input), list(node.output), static_flags, opset, prefer_flags,
                    subgraphs)

    def _check_types(self, node: onnx.NodeProto, domain: str, opset: int) -> None:
        """Input element types against the schema's type constraints (allowed types, one type per
        type parameter). onnx's inference does not refuse e.g. a Sigmoid of int64 or a ScatterND
        with float64 updates into float32 data, and MXNet's kernels only fail on them while running."""
        schema = _schema(node.op_type, opset, domain)
        if schema is None or not schema.inputs:
            return
        params = list(schema.inputs)
        allowed_of = {c.type_param_str: c.allowed_type_strs for c in schema.type_constraints}
        bound: dict[str, tuple[str, str]] = {}
        for index, name in enumerate(node.input):
            info = self.infos.get(name) if name else None
            if info is None or info.dtype is None or index >= len(params) and (
                    params[-1].option != onnx.defs.OpSchema.FormalParameterOption.Variadic):
                continue
            param = params[min(index, len(params) - 1)]
            type_str = _tensor_type_str(info.dtype)
            allowed = allowed_of.get(param.type_str)
            # inputs of a fixed type (shape, axes, scales...) are read as values, whatever their type;
            # sequences and optionals are not checked here
            if type_str is None or allowed is None or not any(a.startswith("tensor(") for a in allowed):
                continue
            if type_str not in allowed:
                raise InvalidModelError(
                    f"{node.op_type} node {node.name!r}: input {index} ({name!r}) is a {type_str}, which "
                    f"{node.op_type} (opset {opset}) does not take for {param.name!r}"
                )
            if index < len(params) or param.is_homogeneous:
                first = bound.setdefault(param.type_str, (type_str, name))
                if first[0] != type_str:
                    raise InvalidModelError(
                        f"{node.op_type} node {node.name!r}: inputs {first[1]!r} ({first[0]}) and {name!r} "
                        f"({type_str}) must have the same type ({param.type_str})"
                    )

    def _build_subgraphs(self, node: onnx.NodeProto, graphs: list[tuple[str, onnx.GraphProto]]) -> dict[str, Subgraph]:
        """Plans of ``node``'s subgraphs; their unsupported operators join this graph's report."""
        built: dict[str, Subgraph] = {}
        for attr, graph in graphs:
            scope = f"{node.name}/{attr}/"
            builder = _Builder(self.model, graph, None, None, None, self.freeze_params, outer=self, scope=scope)
            plan = builder.build()
            for key, names in builder.unsupported.items():
                self.unsupported[key].extend(names)
            built[attr] = Subgraph(attr, graph, self, plan, scope)
        return built

    def _shapes_from_branches(self, node: onnx.NodeProto, branches: list[Plan]) -> None:
        """Shapes of If outputs that inference left vague, when the planned branches agree."""
        for index, out in enumerate(node.output):
            info = self.infos.get(out)
            if not out or (info is not None and info.shape is not None):
                continue
            shapes = {tuple(b.info(b.outputs[index]).shape or ()) if b.info(b.outputs[index]).shape is not None
                      else None for b in branches if index < len(b.outputs)}
            if len(shapes) != 1 or None in shapes:
                continue
            dtype = info.dtype if info is not None else branches[0].info(branches[0].outputs[index]).dtype
            self.infos[out] = TensorInfo(dtype, shapes.pop())

    def _shapes_from_body(self, node: onnx.NodeProto, body: Plan, opset: int) -> None:
        """Shapes of Scan/Loop outputs that inference left vague, from the planned body."""
        attrs = _attrs_plain(node)
        inputs = [i for i in node.input]
        if node.op_type == "Scan":
            if opset < 9:
                return
            num_scan_inputs = int(attrs.get("num_scan_inputs", 0))
            states = len(inputs) - num_scan_inputs
            scan_shape = self.shape_of(inputs[states]) if num_scan_inputs else None
            in_axis = (attrs.get("scan_input_axes") or [0])[0]
            length = None
            if scan_shape is not None:
                length = scan_shape[in_axis + len(scan_shape) if in_axis < 0 else in_axis]
            out_axes = attrs.get("scan_output_axes") or []
        else:
            states = len(inputs) - 2
            length, out_axes = None, []
        offset = 0 if node.op_type == "Scan" else 1  # Loop bodies return the condition first
        for index, out in enumerate(node.output):
            info = self.infos.get(out)
            if not out or (info is not None and info.shape is not None and all(
                    not isinstance(d, Dim) or d.symbols != {f"{out}[{k}]"} for k, d in enumerate(info.shape))):
                continue
            body_info = body.info(body.outputs[index + offset]) if index + offset < len(body.outputs) else None
            if body_info is None or body_info.shape is None:
                continue
            shape = list(body_info.shape)
            if index >= states:
                k = index - states
                axis = out_axes[k] if k < len(out_axes) else 0
                axis = axis + len(shape) + 1 if axis < 0 else axis
                shape.insert(axis, length if length is not None else self._dim(out, axis, None))
            dtype = info.dtype if info is not None and info.dtype is not None else body_info.dtype
            self.infos[out] = TensorInfo(dtype, tuple(shape))

    def _fold_if(self, node: onnx.NodeProto, cond: np.ndarray) -> bool:
        """An If whose condition is known: plan only the branch taken; fold it when it is static."""
        values = np.asarray(cond).reshape(-1)
        if values.size != 1:
            return False
        attr = "then_branch" if bool(values[0]) else "else_branch"
        graphs = [(name, g) for name, g in _graph_attributes(node) if name == attr]
        if not graphs:
            return False
        subgraphs = self._build_subgraphs(node, graphs)
        plan = subgraphs[attr].plan
        outputs = [plan.statics.get(name) for name in plan.outputs]
        folded = not plan.steps and all(isinstance(v, np.ndarray) for v in outputs)
        if folded and len(plan.outputs) == len(node.output):
            for name, value in zip(node.output, outputs):
                if name:
                    self.statics[name] = value
            return True
        self._pending_subgraphs[id(node)] = subgraphs
        return False

    def _static_inputs(self, node: onnx.NodeProto) -> list[object] | None:
        values = []
        for name in node.input:
            if not name:
                values.append(None)
            elif name in self.statics:
                values.append(self.statics[name])
            else:
                return None
        return values

    def _try_static(self, node: onnx.NodeProto, spec: ConverterSpec | None, opset: int) -> bool:
        """Evaluate ``node`` at import time when possible; True if all outputs became static."""
        op = node.op_type
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        if domain or op in _RANDOM_OPS:
            return False
        if op == "Constant":
            value = _constant_value(node, self.model)
            if value is None:
                return False
            if (self.outer is None and not self.freeze_params and value.dtype.kind == "f" and value.ndim >= 1
                    and value.size > 1):
                # some exporters (paddle2onnx, older tf2onnx) store weights as Constant nodes:
                # they train like initializers
                self.constant_params[node.output[0]] = value
                self.params.add(node.output[0])
                return True
            self.statics[node.output[0]] = value
            return True
        values = self._static_inputs(node)
        size = self._fold_size(node, values, opset)
        evaluator = shapes.EVALUATORS.get(op)
        # the evaluators work element by element on Python objects: use them for symbolic sizes
        # and small arrays; plain numpy constants fold faster through the reference below
        symbolic_or_small = values is not None and all(
            v is None or isinstance(v, SymArray) or np.size(v) <= 64 for v in values)
        if evaluator is not None and (symbolic_or_small or op in ("Shape", "Size")):
            info = _EvalInfo(self, node, opset)
            try:
                outputs = evaluator(values or [self.statics.get(n) for n in node.input], _attrs_plain(node), info)
            except (NotStatic, ValueError, IndexError, TypeError, ZeroDivisionError, KeyError, OverflowError):
                outputs = None
            if outputs is not None:
                for name, value in zip(node.output, outputs):
                    if name:
                        self.statics[name] = value
                return True
        if values is None or any(isinstance(v, SymArray) for v in values):
            return False
        if op == "If" and spec is not None:
            return self._fold_if(node, values[0])
        if spec is not None and not spec.foldable:
            return False
        if op in _NO_REFERENCE_FOLD or _has_subgraph(node):
            return False
        if not self._small_outputs(node) or (size is not None and size > limits.MAX_FOLDED_ELEMENTS):
            return False
        outputs = _reference_fold(node, values, self.model.opsets, self.infos)
        if outputs is None:
            return False
        for name, value in zip(node.output, outputs):
            if name:
                self.statics[name] = value
        return True

    def _fold_size(self, node: onnx.NodeProto, values: list[object] | None, opset: int) -> int | None:
        """Output size of a node with static inputs, from the values; refuses sizes over the budget."""
        if values is None:
            return None
        try:
            attrs = _attrs_plain(node)
        except Exception:  # noqa: BLE001 - malformed attributes are reported by the converter
            attrs = {}
        size = budget.output_elements(node.op_type, opset, values, attrs)
        if size is not None and size > limits.MAX_TENSOR_ELEMENTS:
            raise ResourceLimitError(
                f"{node.op_type} node {node.name!r} would create a tensor of {size} elements from its constant "
                f"inputs, over gluon_onnx.limits.MAX_TENSOR_ELEMENTS = {limits.MAX_TENSOR_ELEMENTS}"
            )
        return size

    def _small_outputs(self, node: onnx.NodeProto) -> bool:
        for out in node.output:
            info = self.infos.get(out)
            if info is None or info.shape is None:
                continue
            count = 1
            for d in info.shape:
                if not isinstance(d, int):
                    return True  # unknown size: let the reference decide (inputs are small)
                count *= d
            if count > limits.MAX_FOLDED_ELEMENTS:
                return False
        return True

    def _output_dtype(self, node: onnx.NodeProto) -> np.dtype | None:
        """The dtype of a node's outputs when inference did not give it (ops of shapes.OUTPUT_SHAPES)."""
        op = node.op_type
        if op in _BOOL_OUTPUT_OPS:
            return np.dtype(bool)
        if op == "Cast":
            to = _attrs_plain(node).get("to")
            return np_dtype(to) if to else None
        if op in ("CastLike", "Where"):
            source = node.input[1] if len(node.input) > 1 else ""
        elif op in ("ConstantOfShape", "ConvInteger", "MatMulInteger", "QLinearConv"):
            return None
        else:
            source = node.input[0] if node.input else ""
        info = self.infos.get(source)
        return info.dtype if info is not None else None

    def _known_value(self, name: str) -> object:
        """The value of a tensor known at import: a static, or a small float weight (Resize scales)."""
        value = self.statics.get(name)
        if value is None and name in self.params:
            if name in self.constant_params:
                value = self.constant_params[name]
            elif int(np.prod(self._initializer_proto(name).dims, dtype=np.int64)) <= 64:
                value = self._initializer_value(name)
        return value

    def _fill_output_shapes(self, node: onnx.NodeProto, opset: int) -> None:
        """Output shapes ONNX inference left unknown, from the static inputs of the node."""
        fn = shapes.OUTPUT_SHAPES.get(node.op_type)
        if fn is None or node.domain not in ("", "ai.onnx"):
            return
        if not any(_has_invented_size(self.shape_of(o)) for o in node.output if o):
            return
        values = [self._known_value(n) if n else None for n in node.input]
        try:
            outputs = fn(values, _attrs_plain(node), _EvalInfo(self, node, opset))
        except (NotStatic, ValueError, IndexError, TypeError, ZeroDivisionError, KeyError, OverflowError):
            return
        for name, dims in zip(node.output, outputs):
            if not name or dims is None:
                continue
            old = self.shape_of(name)
            if old is not None:
                # inference knew the rank: replace only the sizes it invented
                if len(old) != len(dims):
                    continue
                dims = tuple(new if new is not None and is_invented(prev) and not is_invented(new) else prev
                             for prev, new in zip(old, dims))
                if dims == tuple(old):
                    continue
            info = self.infos.get(name)
            dtype = info.dtype if info is not None else None
            if dtype is None:
                dtype = self._output_dtype(node)
            shape = tuple(self._dim(name, axis, d) for axis, d in enumerate(dims))
            self.infos[name] = TensorInfo(dtype, shape)
            if self.outer is None:
                self.learned[name] = tuple(dims)

    # --- after the walk --------------------------------------------------------------
    def _prune_runtime(self, steps: list[Step]) -> list[Step]:
        """Drop runtime steps whose outputs nothing needs at run time."""
        produced_by = {out: step for step in steps for out in step.outputs if out}
        needed: set[int] = set()
        stack = [o for o in self.requested_outputs]
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            step = produced_by.get(name)
            if step is None:
                static = self.statics.get(name)
                if isinstance(static, SymArray):
                    stack.extend(self._witness_tensors(static))
                continue
            if id(step) in needed:
                continue
            needed.add(id(step))
            for index, inp in enumerate(step.inputs):
                if not inp:
                    continue
                static = self.statics.get(inp)
                if isinstance(static, SymArray):
                    stack.extend(self._witness_tensors(static))
                elif static is None:
                    stack.append(inp)
            if step.subgraphs:
                for sub in step.subgraphs.values():
                    stack.extend(sub.plan.outer_names)
            else:
                stack.extend(_outer_names(step.node))
            for axis_tensor in self._shape_witnesses(step):
                stack.append(axis_tensor)
        self._runtime_reads = {
            n for n in seen if n not in produced_by and not isinstance(self.statics.get(n), np.ndarray)
        }
        return [s for s in steps if id(s) in needed]

    def _witness_tensors(self, value: SymArray) -> list[str]:
        return [self.witnesses[s][0] for s in value.symbols() if s in self.witnesses]

    def _shape_witnesses(self, step: Step) -> list[str]:
        """Tensors whose sizes the converter may read through symbolic output shapes."""
        found: list[str] = []
        for out in step.outputs:
            info = self.infos.get(out)
            if info and info.shape:
                for d in info.shape:
                    if isinstance(d, Dim):
                        found.extend(self.witnesses[s][0] for s in d.symbols if s in self.witnesses)
        return found

    def _params(self, steps: list[Step]) -> dict[str, ParamInfo]:
        used: dict[str, bool] = {}
        read_statically: set[str] = set()
        for step in steps:
            for index, name in enumerate(step.inputs):
                if name in self.params and not step.static_inputs[index]:
                    trainable = not step.spec.is_aux_input(index)
                    used[name] = used.get(name, True) and trainable
                elif name in self.params:
                    read_statically.add(name)
            for sub in step.subgraphs.values():
                for name, info in sub.plan.params.items():
                    used[name] = used.get(name, True) and info.trainable
        for name in self.requested_outputs:
            if name in self.params:
                used.setdefault(name, True)
        params = {}
        for name, trainable in used.items():
            if name in self.constant_params:
                value = self.constant_params[name]
                params[name] = ParamInfo(name, tuple(value.shape), value.dtype, trainable)
                continue
            tensor = self._initializer_proto(name)
            params[name] = ParamInfo(name, tuple(int(d) for d in tensor.dims), np_dtype(tensor.data_type), trainable)
        # parameters read only statically are constants (a subgraph: only those it reads)
        for name in self.params if self.outer is None else read_statically:
            if name not in params and name not in self.statics:
                self.statics[name] = self._initializer_value(name)
        return params

    def _static_needs(self, steps: list[Step], inputs: list[str]) -> set[str]:
        """Graph inputs (for a subgraph: also enclosing-graph tensors) whose values a converter
        needs at graph-construction time."""
        produced_by = {out: step for step in steps for out in step.outputs if out}
        input_set = set(inputs) | self.visible
        roots: list[str] = []
        for step in steps:
            roots.extend(name for index, name in enumerate(step.inputs) if name and step.static_inputs[index])
            for sub in step.subgraphs.values():
                roots.extend(n for n in sub.plan.static_needs if n not in sub.plan.inputs)
        needs: set[str] = set()
        for name in roots:
            if name in self.statics or name in self.params:
                continue
            stack, seen = [name], set()
            while stack:
                cur = stack.pop()
                if cur in seen:
                    continue
                seen.add(cur)
                if cur in input_set:
                    needs.add(cur)
                    continue
                producer = produced_by.get(cur)
                if producer is not None and producer.op_type in _SHAPE_ONLY_OPS:
                    continue  # depends on sizes only: a trace specialized to the input shapes knows them
                if producer is not None:
                    stack.extend(i for i in producer.inputs if i and i not in self.statics)
                    for sub in producer.subgraphs.values():
                        stack.extend(n for n in sub.plan.outer_names if n not in self.statics)
        return needs


class _EvalInfo:
    def __init__(self, builder: _Builder, node: onnx.NodeProto, opset: int):
        self.builder = builder
        self.node = node
        self.opset = opset

    def shape_of(self, index: int) -> tuple | None:
        return self.builder.shape_of(self.node.input[index])

    def out_dtype(self, index: int) -> np.dtype | None:
        info = self.builder.infos.get(self.node.output[index])
        return info.dtype if info else None


#: onnx inference messages of a declared type or rank (graph inputs/outputs, value_info) that
#: contradicts what the nodes compute; differing sizes only warn, as in onnxruntime
_CONTRADICTIONS = ("differ in rank", "elem type differs from existing")


def _infer_shapes(proto: onnx.ModelProto, strict: bool = True) -> onnx.ModelProto:
    """onnx shape inference; strict first, so that declared types contradicting the graph are caught."""
    if not strict:
        return onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)
    try:
        return onnx.shape_inference.infer_shapes(proto, strict_mode=True, data_prop=True)
    except onnx.shape_inference.InferenceError as exc:
        lines = [line.strip() for line in str(exc).splitlines() if any(c in line for c in _CONTRADICTIONS)]
        if lines:
            raise InvalidModelError(
                f"declared types or ranks contradict what the graph computes: {'; '.join(lines)}"
            ) from None
    return onnx.shape_inference.infer_shapes(proto, strict_mode=False, data_prop=True)


_SCHEMAS: dict[tuple[str, str, int], object] = {}
#: what an Einsum equation may hold (onnx's inference loops forever on e.g. a '-' without '>')
_EINSUM_TERM = r"(?:[A-Za-z ]|\.\.\.)*"
_EINSUM_EQUATION = re.compile(rf"{_EINSUM_TERM}(?:,{_EINSUM_TERM})*(?:->{_EINSUM_TERM})?")


def _schema(op_type: str, version: int, domain: str) -> object:
    key = (domain, op_type, version)
    if key not in _SCHEMAS:
        try:
            _SCHEMAS[key] = onnx.defs.get_schema(op_type, version, domain)
        except onnx.defs.SchemaError:
            _SCHEMAS[key] = None
    return _SCHEMAS[key]


def _tensor_type_str(dtype: np.dtype) -> str | None:
    try:
        elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    except (KeyError, TypeError, ValueError):
        return None
    return f"tensor({TensorProto.DataType.Name(elem).lower()})"


def _check_arity(graph: onnx.GraphProto | onnx.FunctionProto, opsets: Mapping[str, int]) -> None:
    """Input/output counts and required attributes of every node (subgraphs included) against the
    ONNX schemas.

    Runs before onnx's shape inference, whose C++ code indexes inputs and outputs by position
    and aborts the whole process on some malformed nodes (e.g. a Split with more outputs than
    its num_outputs).
    """
    for index, node in enumerate(graph.node):
        domain = "" if node.domain in ("", "ai.onnx") else node.domain
        version = opsets.get(domain)
        schema = _schema(node.op_type, version, domain) if version is not None else None
        where = f"{node.op_type} node " + (repr(node.name) if node.name else f"#{index} of graph {graph.name!r}")
        if schema is not None:
            for kind, count, low, high in (("inputs", len(node.input), schema.min_input, schema.max_input),
                                           ("outputs", len(node.output), schema.min_output, schema.max_output)):
                if not low <= count <= high:
                    raise InvalidModelError(
                        f"{where} has {count} {kind}; {node.op_type} (opset {version}) takes {low} to {high}"
                    )
            optional = onnx.defs.OpSchema.FormalParameterOption.Optional
            for position, name in enumerate(node.input):
                param = schema.inputs[min(position, len(schema.inputs) - 1)] if schema.inputs else None
                if not name and param is not None and param.option != optional:
                    raise InvalidModelError(f"{where}: the required input {position} ({param.name!r}) is omitted")
            present = {a.name for a in node.attribute}
            missing = sorted(name for name, attr in schema.attributes.items() if attr.required and name not in present)
            if missing:
                raise InvalidModelError(f"{where} lacks the required attribute(s) {missing}")
            if node.op_type == "Einsum" and domain == "":
                equation = next((a.s for a in node.attribute if a.name == "equation"), b"")
                if not _EINSUM_EQUATION.fullmatch(equation.decode("ascii", "replace")):
                    raise InvalidModelError(f"{where}: invalid equation {equation[:80]!r}")
            if node.op_type == "Split" and domain == "":
                parts = [a.i for a in node.attribute if a.name == "num_outputs" and a.type == onnx.AttributeProto.INT]
                if parts and parts[0] != len(node.output):
                    raise InvalidModelError(f"{where} has {len(node.output)} outputs but num_outputs={parts[0]}")
        for _, sub in _graph_attributes(node):
            _check_arity(sub, opsets)


def _attrs_plain(node: onnx.NodeProto) -> dict[str, object]:
    from .registry import attribute_value  # noqa: PLC0415

    return {a.name: attribute_value(a) for a in node.attribute}


def _graph_attributes(node: onnx.NodeProto) -> list[tuple[str, onnx.GraphProto]]:
    """(attribute name, graph) of every subgraph of ``node`` (GRAPHS attributes as 'name[i]')."""
    found = []
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            found.append((attr.name, attr.g))
        elif attr.type == onnx.AttributeProto.GRAPHS:
            found.extend((f"{attr.name}[{i}]", g) for i, g in enumerate(attr.graphs))
    return found


def _collect_graph_infos(graph: onnx.GraphProto, into: dict[str, TensorInfo]) -> None:
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        into[vi.name] = _raw_info(vi)
    for tensor in graph.initializer:
        into[tensor.name] = TensorInfo(np_dtype(tensor.data_type), tuple(int(d) for d in tensor.dims))


def _collect_nested_infos(graph: onnx.GraphProto, into: dict[str, TensorInfo]) -> None:
    """Inferred types of the tensors of every subgraph (at any depth) of ``graph``."""
    for node in graph.node:
        for _, sub in _graph_attributes(node):
            _collect_graph_infos(sub, into)
            _collect_nested_infos(sub, into)


def _symbol_name(dim: object) -> str:
    """The name of a size that is one plain symbol ('N'), else '' (unknown to ONNX inference)."""
    if isinstance(dim, Dim) and len(dim.terms) == 1:
        ((monomial, coeff),) = dim.terms.items()
        if coeff == 1 and len(monomial) == 1 and isinstance(monomial[0], Symbol):
            return monomial[0].name
    return ""


def _has_invented_size(shape: tuple | None) -> bool:
    return shape is None or any(is_invented(d) for d in shape)


def _vague(info: TensorInfo | None) -> bool:
    """Rank or a size unknown (dims that are None or inference's 'unk__' names)."""
    if info is None or info.shape is None:
        return True
    return any(d is None or (isinstance(d, str) and d.startswith("unk__")) for d in info.shape)


def _more_specific(new: TensorInfo, old: TensorInfo | None) -> bool:
    if new.shape is None:
        return False
    if old is None or old.shape is None:
        return True
    if len(new.shape) != len(old.shape):
        return False
    return sum(isinstance(d, int) for d in new.shape) > sum(isinstance(d, int) for d in old.shape)


def _unsupported_error(unsupported: Mapping[tuple[str, str, int], list[str]]) -> UnsupportedOperatorError:
    return UnsupportedOperatorError([(d, op, v, names) for (d, op, v), names in unsupported.items()])


def _has_subgraph(node: onnx.NodeProto) -> bool:
    return any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute)


def _outer_names(node: onnx.NodeProto) -> set[str]:
    """Names a node's subgraphs read from the enclosing scope."""
    if not _has_subgraph(node):
        return set()
    found: set[str] = set()
    for attr in node.attribute:
        graphs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
        for g in graphs:
            found |= _free_names(g)
    return found


def _free_names(graph: onnx.GraphProto) -> set[str]:
    defined = {i.name for i in graph.input} | {t.name for t in graph.initializer}
    for node in graph.node:
        defined.update(o for o in node.output if o)
    used: set[str] = set()
    for node in graph.node:
        used.update(i for i in node.input if i)
        used |= _outer_names(node)
    used.update(o.name for o in graph.output)
    return used - defined


def _set_shape(vi: onnx.ValueInfoProto, shape: Sequence[object]) -> None:
    tensor_type = vi.type.tensor_type
    tensor_type.ClearField("shape")
    new_shape = tensor_type.shape
    for d in shape:
        dim = new_shape.dim.add()
        if isinstance(d, (int, np.integer)) and d >= 0:
            dim.dim_value = int(d)
        elif isinstance(d, str):
            dim.dim_param = d


def _constant_value(node: onnx.NodeProto, model: LoadedModel) -> np.ndarray | None:
    for attr in node.attribute:
        if attr.name == "value":
            return model.tensor_array(attr.t)
        if attr.name == "value_float":
            return np.array(attr.f, dtype=np.float32)
        if attr.name == "value_floats":
            return np.array(list(attr.floats), dtype=np.float32)
        if attr.name == "value_int":
            return np.array(attr.i, dtype=np.int64)
        if attr.name == "value_ints":
            return np.array(list(attr.ints), dtype=np.int64)
        if attr.name == "value_string":
            return np.array(attr.s.decode("utf-8"), dtype=object)
        if attr.name == "value_strings":
            return np.array([s.decode("utf-8") for s in attr.strings], dtype=object)
        if attr.name == "sparse_value":
            from onnx.reference.op_run import to_sparse_tensor  # noqa: PLC0415

            return np.asarray(to_sparse_tensor(attr.sparse_tensor).todense())
    raise ConversionError("Constant without a value attribute", op_type="Constant", node=node.name)


def _reference_fold(
    node: onnx.NodeProto, values: list[object], opsets: dict[str, int], infos: dict[str, TensorInfo]
) -> list[np.ndarray] | None:
    """Evaluate one node on constant inputs with onnx's reference implementation."""
    from onnx.reference import ReferenceEvaluator  # noqa: PLC0415

    names = [f"in{i}" if n else "" for i, n in enumerate(node.input)]
    inner = onnx.NodeProto()
    inner.CopyFrom(node)
    del inner.input[:]
    inner.input.extend(names)
    feeds = {}
    graph_inputs = []
    for name, value in zip(names, values):
        if not name:
            continue
        arr = np.asarray(value)
        feeds[name] = arr
        elem = onnx.helper.np_dtype_to_tensor_dtype(arr.dtype)
        graph_inputs.append(onnx.helper.make_tensor_value_info(name, elem, arr.shape))
    outs = [onnx.helper.make_empty_tensor_value_info(o) for o in node.output if o]
    graph = onnx.helper.make_graph([inner], "fold", graph_inputs, outs)
    model = onnx.helper.make_model(
        graph, opset_imports=[onnx.helper.make_opsetid(d, v) for d, v in opsets.items()]
    )
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            results = ReferenceEvaluator(model).run(None, feeds)
    except Exception:  # noqa: BLE001 - any failure just means "not folded"
        return None
    out_iter = iter(results)
    outputs = []
    for name in node.output:
        if not name:
            outputs.append(None)
            continue
        value = next(out_iter)
        if not isinstance(value, np.ndarray):
            if isinstance(value, (list, tuple)) or value is None:
                return None  # sequences and optionals stay runtime values
            value = np.asarray(value)
        info = infos.get(name)
        if info is not None and info.dtype is not None and value.dtype != info.dtype and value.dtype != object:
            value = value.astype(info.dtype)
        outputs.append(value)
    return outputs


def build_plan(
    model: LoadedModel,
    *,
    outputs: Sequence[str] | None = None,
    input_shapes: Mapping[str, Sequence[object]] | None = None,
    input_values: Mapping[str, np.ndarray] | None = None,
    freeze_params: bool = False,
    tensor_shapes: Mapping[str, Sequence[int]] | None = None,
) -> Plan:
    """Build the execution plan of ``model``'s main graph.

    Parameters
    ----------
    model : LoadedModel
        From :func:`gluon_onnx.model.read_model`.
    outputs : list of str, optional
        Tensor names to return (default: the graph outputs). Cutting the graph.
    input_shapes : dict, optional
        Overrides the declared shape of inputs; entries are ints or names of free sizes.
    input_values : dict, optional
        Inputs whose values are fixed (used to specialize a symbolic trace).
    freeze_params : bool
        Treat float initializers as constants (inference optimisation: enables folding).
    tensor_shapes : dict, optional
        Concrete shapes of intermediate tensors (observed in a run), used where ONNX shape
        inference leaves sizes unknown.
    """
    return _Builder(model, model.proto.graph, outputs, input_shapes, input_values, freeze_params,
                    tensor_shapes).build()
