"""Walk a traced MXNet graph and emit ONNX nodes through the translation registry.

Translations receive a :class:`NodeTranslator` (``tx``): the MXNet node's attributes, the
ONNX tensor names of its inputs, MXNet's inferred shapes/dtypes (and which dimensions are
dynamic), and builders for ONNX nodes and constants. The node that produces a
translation's first output is named after the MXNet node (``resnetv10_conv0_fwd``), as is
its output tensor; helper nodes get ``<mxnet name>_<op>`` names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import onnx
from onnx import helper

from ..dtypes import elem_type_of
from ..errors import ExportError, UnsupportedOperatorError
from .attrs import AttrParseError, Attrs
from .graph import OnnxGraph
from .registry import lookup
from .trace import Entry, EntryInfo, MxNode, TracedGraph

INT64_MAX = np.iinfo(np.int64).max
INT64_MIN = np.iinfo(np.int64).min


class _Poison:
    """Stands for the outputs of a node whose translation failed; raised when used."""

    def __init__(self, error: Exception):
        self.error = error


class NodeTranslator:
    """What a translation sees: one MXNet node and the ONNX graph being built."""

    def __init__(self, session: Session, node: MxNode):
        self.session = session
        self.mx = node
        self.graph = session.graph
        self.opset = session.opset
        self.emitted: list[onnx.NodeProto] = []
        self.produced: dict[str, onnx.NodeProto] = {}
        self.new_shapes: dict[str, str] = {}

    # --- identity ----------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.mx.name

    @property
    def op(self) -> str:
        return self.mx.op

    @property
    def attrs(self) -> Attrs:
        return self.mx.attrs

    def fail(self, message: str) -> ExportError:
        """An error naming this node: ``raise tx.fail('...')``."""
        return ExportError(f"{self.op} node {self.name!r}: {message}")

    # --- inputs --------------------------------------------------------------------
    @property
    def num_inputs(self) -> int:
        return len(self.mx.inputs)

    def input(self, i: int) -> str:
        """ONNX tensor name of input ``i``."""
        value = self.session.tensor_of[self.mx.inputs[i]]
        if isinstance(value, _Poison):
            raise value.error
        return value

    def inputs(self) -> list[str]:
        return [self.input(i) for i in range(self.num_inputs)]

    def producer(self, i: int) -> MxNode:
        return self.session.traced.nodes[self.mx.inputs[i][0]]

    def input_entry(self, i: int) -> Entry:
        return self.mx.inputs[i]

    def _in_info(self, i: int) -> EntryInfo:
        return self.session.traced.info(self.mx.inputs[i])

    def _out_info(self, i: int) -> EntryInfo:
        return self.session.traced.info((self.mx.index, i))

    def in_shape(self, i: int) -> tuple[int, ...]:
        shape = self._in_info(i).shape
        if shape is None:
            raise self.fail(f"the shape of input {i} is unknown (MXNet shape inference failed)")
        return shape

    def in_rank(self, i: int) -> int:
        return len(self.in_shape(i))

    def in_dtype(self, i: int) -> np.dtype:
        dtype = self._in_info(i).dtype
        return np.dtype("float32") if dtype is None else dtype

    def in_dynamic(self, i: int) -> tuple[bool, ...]:
        dynamic = self._in_info(i).dynamic
        return dynamic if dynamic is not None else (True,) * self.in_rank(i)

    def out_shape(self, i: int = 0) -> tuple[int, ...]:
        shape = self._out_info(i).shape
        if shape is None:
            raise self.fail(f"the shape of output {i} is unknown (MXNet shape inference failed)")
        return shape

    def out_rank(self, i: int = 0) -> int:
        return len(self.out_shape(i))

    def out_dtype(self, i: int = 0) -> np.dtype:
        dtype = self._out_info(i).dtype
        return np.dtype("float32") if dtype is None else dtype

    def out_dynamic(self, i: int = 0) -> tuple[bool, ...]:
        dynamic = self._out_info(i).dynamic
        return dynamic if dynamic is not None else (True,) * self.out_rank(i)

    def is_static(self, i: int) -> bool:
        """True when every dimension of input ``i`` is fixed."""
        return not any(self.in_dynamic(i))

    def is_param(self, i: int) -> bool:
        node = self.producer(i)
        return node.is_variable and node.name in self.session.traced.params

    def is_constant(self, i: int) -> bool:
        """True when input ``i`` depends only on parameters and constants."""
        return not self.session.traced.depends_on_input[self.mx.inputs[i][0]]

    def constant_value(self, i: int) -> np.ndarray:
        """The value of a constant input (parameters folded by MXNet)."""
        if not self.is_constant(i):
            raise self.fail(f"input {i} must be a constant (it depends on the graph inputs)")
        return self.session.traced.evaluate(self.mx.inputs[i])

    def param_value(self, name: str) -> np.ndarray:
        return self.session.traced.params[name].asnumpy()

    # --- emitting ------------------------------------------------------------------
    def node(self, op_type: str, inputs: Sequence[str | None], outputs: int = 1, *, domain: str = "",
              **attributes: object) -> str | list[str]:
        """Emit one ONNX node; returns its output name (or names when ``outputs > 1``)."""
        base = f"{self.name}_{op_type.lower()}"
        node_name = self.graph.unique_node(base)
        out_names = [self.graph.unique_tensor(base if outputs == 1 else f"{base}_out{k}") for k in range(outputs)]
        attrs = {k: v for k, v in attributes.items() if v is not None}
        node = helper.make_node(op_type, [x or "" for x in inputs], out_names, name=node_name, domain=domain or None,
                                **attrs)
        self.emitted.append(node)
        for out in out_names:
            self.produced[out] = node
        return out_names[0] if outputs == 1 else out_names

    def const(self, value: np.ndarray | Callable[[], np.ndarray], hint: str = "const", *,
              dtype: object = None, shape: Sequence[int] | None = None) -> str:
        """A constant (initializer); ``value`` may be a function computed when written."""
        name = self.graph.unique_tensor(f"{self.name}_{hint}")
        if callable(value):
            if dtype is None or shape is None:
                raise ValueError("lazy constants need dtype and shape")
            return self.graph.add_initializer(name, np.dtype(dtype), tuple(shape), value)
        array = np.asarray(value) if dtype is None else np.asarray(value, dtype=dtype)
        return self.graph.add_initializer(name, array.dtype, array.shape, lambda a=array: a)

    def scalar(self, value: float | int | bool, dtype: object, hint: str = "scalar") -> str:
        """A 0-d constant of ``dtype`` (scalars of MXNet's ``*_scalar`` operators)."""
        dtype = np.dtype(dtype)
        if dtype.kind in "iu" and isinstance(value, float) and np.isfinite(value):
            value = int(value)
        return self.const(np.array(value).astype(dtype), hint)

    def ints(self, values: Sequence[int], hint: str = "ints") -> str:
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), hint)

    # --- common patterns --------------------------------------------------------------
    def shape_of(self, x: str) -> str:
        """Shape(x), emitted once per tensor."""
        cached = self.session.shape_cache.get(x) or self.new_shapes.get(x)
        if cached is None:
            cached = self.node("Shape", [x])
            self.new_shapes[x] = cached
        return cached

    def dims_of(self, x: str, start: int, end: int | None = None) -> str:
        """Shape(x)[start:end] as an int64 tensor."""
        shape = self.shape_of(x)
        if start == 0 and end is None:
            return shape
        return self.slice(shape, [start], [INT64_MAX if end is None else end], [0])

    def dim_of(self, x: str, axis: int) -> str:
        """Shape(x)[axis] as a 1-D int64 tensor of one element."""
        return self.node("Gather", [self.shape_of(x), self.ints([axis], "axis")], axis=0)

    def cast(self, x: str, dtype: object) -> str:
        return self.node("Cast", [x], to=elem_type_of(np.dtype(dtype)))

    def unsqueeze(self, x: str, axes: Sequence[int]) -> str:
        return self.node("Unsqueeze", [x, self.ints(axes, "axes")])

    def squeeze(self, x: str, axes: Sequence[int] | None = None) -> str:
        if axes is None:
            return self.node("Squeeze", [x])
        return self.node("Squeeze", [x, self.ints(axes, "axes")])

    def slice(self, x: str, starts: Sequence[int], ends: Sequence[int], axes: Sequence[int],
              steps: Sequence[int] | None = None) -> str:
        ins = [x, self.ints(starts, "starts"), self.ints(ends, "ends"), self.ints(axes, "axes")]
        if steps is not None and any(s != 1 for s in steps):
            ins.append(self.ints(steps, "steps"))
        return self.node("Slice", ins)

    def reduce(self, op_type: str, x: str, axes: Sequence[int] | None, keepdims: bool) -> str:
        """Reduce* with axes as an attribute or an input depending on the opset."""
        axes_as_input = op_type == "ReduceSum" or self.opset >= 18
        if axes is None:
            return self.node(op_type, [x], keepdims=int(keepdims))
        if axes_as_input:
            return self.node(op_type, [x, self.ints(axes, "axes")], keepdims=int(keepdims))
        return self.node(op_type, [x], axes=list(axes), keepdims=int(keepdims))

    def concat(self, parts: Sequence[str], axis: int = 0) -> str:
        if len(parts) == 1:
            return parts[0]
        return self.node("Concat", list(parts), axis=axis)

    def shape_tensor(self, dims: Sequence[object]) -> str:
        """An int64 shape from parts: ints, or 1-element int64 tensors (dynamic sizes)."""
        pieces: list[str] = []
        run: list[int] = []
        for d in dims:
            if isinstance(d, (int, np.integer)):
                run.append(int(d))
                continue
            if run:
                pieces.append(self.ints(run, "shape"))
                run = []
            pieces.append(d)
        if run:
            pieces.append(self.ints(run, "shape"))
        return self.concat(pieces, 0)

    def target_shape(self, out: int = 0, dynamic_dim: Callable[[int], str] | None = None) -> str:
        """Shape of output ``out`` as a Reshape target: fixed dims as ints, one dynamic as -1.

        With more than one dynamic dimension, ``dynamic_dim(k)`` must return a 1-element
        tensor holding dimension ``k``.
        """
        shape = self.out_shape(out)
        dynamic = self.out_dynamic(out)
        dyn = [k for k, d in enumerate(dynamic) if d]
        if len(dyn) <= 1:
            return self.ints([-1 if dynamic[k] else shape[k] for k in range(len(shape))], "shape")
        if dynamic_dim is None:
            raise self.fail("the output has several dynamic dimensions, which this translation cannot express")
        return self.shape_tensor([dynamic_dim(k) if dynamic[k] else shape[k] for k in range(len(shape))])


class Session:
    """State while one traced graph is translated."""

    def __init__(self, traced: TracedGraph, opset: int, graph: OnnxGraph | None = None):
        self.traced = traced
        self.opset = opset
        self.graph = graph or OnnxGraph(opset)
        self.tensor_of: dict[Entry, str | _Poison] = {}
        self.shape_cache: dict[str, str] = {}

    def check_supported(self) -> None:
        """Raise one UnsupportedOperatorError listing every operator without a translation."""
        missing: dict[str, list[str]] = {}
        for node in self.traced.nodes:
            if not node.is_variable and lookup(node.op, self.opset) is None:
                missing.setdefault(node.op, []).append(node.name)
        if missing:
            raise UnsupportedOperatorError(
                [("mxnet", op, self.opset, names) for op, names in missing.items()], what="export"
            )

    def run(self) -> list[str]:
        """Translate every node; returns the ONNX tensor names of the heads."""
        self.check_supported()
        traced = self.traced
        for name in traced.inputs:
            self.graph.reserve_tensor(name)
        for node in traced.nodes:
            if node.is_variable:
                self.graph.reserve_tensor(node.name)
        for node in traced.nodes:
            if node.is_variable:
                self._variable(node)
            else:
                self._translate(node)
        heads = []
        for entry in traced.heads:
            value = self.tensor_of[entry]
            if isinstance(value, _Poison):
                raise value.error
            heads.append(value)
        return heads

    def _variable(self, node: MxNode) -> None:
        self.tensor_of[(node.index, 0)] = node.name
        if node.name in self.traced.params:
            array = self.traced.params[node.name]
            self.graph.add_initializer(node.name, np.dtype(array.dtype), tuple(array.shape),
                                       lambda a=array: a.asnumpy())

    def _translate(self, node: MxNode) -> None:
        spec = lookup(node.op, self.opset)
        tx = NodeTranslator(self, node)
        try:
            result = spec.fn(tx)
        except ExportError as exc:
            self._poison(node, exc)
            return
        except AttrParseError as exc:
            self._poison(node, tx.fail(str(exc)))
            return
        except Exception as exc:  # a bug in a translation: name the node it failed on
            raise tx.fail(f"translation failed ({type(exc).__name__}: {exc})") from exc
        outputs = list(result) if isinstance(result, (list, tuple)) else [result]
        if len(outputs) < node.num_outputs:
            outputs += [None] * (node.num_outputs - len(outputs))
        self._commit(tx, outputs)

    def _poison(self, node: MxNode, error: Exception) -> None:
        for k in range(max(node.num_outputs, 1)):
            self.tensor_of[(node.index, k)] = _Poison(error)

    def _commit(self, tx: NodeTranslator, outputs: list[str | None]) -> None:
        node = tx.mx
        renames: dict[str, str] = {}
        for k, tensor in enumerate(outputs[:node.num_outputs]):
            if tensor is None:
                self.tensor_of[(node.index, k)] = _Poison(tx.fail(f"output {k} is not supported"))
                continue
            if tensor in tx.produced and tensor not in renames:
                desired = node.name if node.num_outputs == 1 else node.output_names[k]
                self.graph.release_tensor_name(tensor)
                renames[tensor] = self.graph.unique_tensor(desired)
            self.tensor_of[(node.index, k)] = renames.get(tensor, tensor)
        if renames:
            for onnx_node in tx.emitted:
                for j, name in enumerate(onnx_node.input):
                    if name in renames:
                        onnx_node.input[j] = renames[name]
                for j, name in enumerate(onnx_node.output):
                    if name in renames:
                        onnx_node.output[j] = renames[name]
        for key, value in tx.new_shapes.items():
            self.shape_cache[renames.get(key, key)] = renames.get(value, value)
        main = outputs[0]
        main = renames.get(main, main) if main is not None else None
        for onnx_node in tx.emitted:
            if main is not None and main in onnx_node.output:
                self.graph.release_node_name(onnx_node.name)
                onnx_node.name = self.graph.unique_node(node.name)
                break
        self.graph.nodes.extend(tx.emitted)
