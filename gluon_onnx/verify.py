"""Run a model through gluon_onnx and onnxruntime and compare the outputs.

Used by ``gluon-onnx check``, ``gluon-onnx demo``, the zoo validation and the tests.
Errors are reported relative to the reference output's scale:
``max|ours - ref| / max(|ref|)``, which is what matters for deep networks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import mxnet as mx
import numpy as np
import onnx

from .dtypes import np_dtype


@dataclass
class OutputDiff:
    name: str
    shape: tuple
    max_abs: float
    max_rel: float  # relative to max |reference|
    ok: bool


@dataclass
class Comparison:
    mode: str
    outputs: list[OutputDiff] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outputs)


def input_specs(model: onnx.ModelProto) -> list[tuple[str, np.dtype, list]]:
    """(name, dtype, dims) of the real inputs (initializers excluded); dims may hold str/None."""
    inits = {t.name for t in model.graph.initializer}
    specs = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in tt.shape.dim]
        specs.append((vi.name, np_dtype(tt.elem_type), dims))
    return specs


def random_inputs(model: onnx.ModelProto, *, seed: int = 0, sizes: Mapping[str, int] | None = None,
                  default_size: int = 2) -> dict[str, np.ndarray]:
    """Seeded inputs for every real input; free sizes take ``sizes[name]`` or ``default_size``."""
    rng = np.random.default_rng(seed)
    sizes = dict(sizes or {})
    feeds = {}
    for name, dtype, dims in input_specs(model):
        shape = [d if isinstance(d, int) and d > 0 else sizes.get(str(d), default_size) for d in dims]
        if dtype.kind == "f":
            value = rng.standard_normal(shape).astype(dtype)
        elif dtype.kind == "b":
            value = rng.random(shape) > 0.5
        elif dtype.kind in "iu":
            value = rng.integers(0, 10, size=shape).astype(dtype)
        else:
            raise ValueError(f"cannot generate inputs of type {dtype} for {name!r}")
        feeds[name] = value
    return feeds


def run_onnxruntime(model: onnx.ModelProto | bytes, feeds: Mapping[str, np.ndarray],
                    providers: Sequence[str] = ("CPUExecutionProvider",),
                    optimization: str = "all") -> list[np.ndarray]:
    """onnxruntime's outputs for ``feeds``."""
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.graph_optimization_level = {
        "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[optimization]
    options.log_severity_level = 3
    data = model if isinstance(model, bytes) else model.SerializeToString()
    session = ort.InferenceSession(data, options, providers=list(providers))
    return session.run(None, dict(feeds))


def diff(name: str, ours: np.ndarray, ref: np.ndarray, rtol: float, scale_floor: float = 0.0) -> OutputDiff:
    """Compare one output; ``max_rel`` is relative to ``max(max|ref|, scale_floor)``.

    ``scale_floor`` gives outputs with a natural scale (probabilities: 1.0) a fair yardstick when
    every reference value happens to be tiny.
    """
    ours = np.asarray(ours)
    ref = np.asarray(ref)
    if ours.shape != ref.shape:
        return OutputDiff(name, ours.shape, float("inf"), float("inf"), False)
    if ref.dtype.kind in "biu":
        bad = float(np.abs(ours.astype(np.int64) - ref.astype(np.int64)).max()) if ref.size else 0.0
        return OutputDiff(name, ref.shape, bad, bad, bad == 0)
    o = ours.astype(np.float64)
    r = ref.astype(np.float64)
    if not r.size:
        return OutputDiff(name, ref.shape, 0.0, 0.0, True)
    same_nan = np.array_equal(np.isnan(o), np.isnan(r))
    finite = np.isfinite(r) & np.isfinite(o)
    max_abs = float(np.abs(o[finite] - r[finite]).max()) if finite.any() else 0.0
    scale = max(float(np.abs(r[finite]).max()) if finite.any() else 0.0, scale_floor)
    max_rel = max_abs / scale if scale > 0 else max_abs
    return OutputDiff(name, ref.shape, max_abs, max_rel, same_nan and max_rel <= rtol)


def first_divergence(block: object, model: onnx.ModelProto, feeds: Mapping[str, np.ndarray], *,
                     rtol: float = 1e-4, ctx: mx.Context | None = None) -> list[tuple[str, str, OutputDiff]]:
    """Nodes (in execution order) whose outputs differ from onnxruntime's, earliest first.

    Runs ``block`` imperatively, keeping every intermediate value, and onnxruntime with every
    tensor of the graph exposed as an output. The first entry is where a mismatch starts.
    Returns ``[(node name, op type, diff), ...]``.
    """
    from .backend import to_nd  # noqa: PLC0415

    ctx = ctx or mx.cpu()
    values = block.intermediate_values(*[to_nd(feeds[name], ctx) for name in block.input_names])
    exposed = onnx.ModelProto()
    exposed.CopyFrom(model)
    known = {o.name for o in exposed.graph.output}
    names = [n for n in values if n not in known]
    for name in names:
        exposed.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.log_severity_level = 3
    session = ort.InferenceSession(exposed.SerializeToString(), options, providers=["CPUExecutionProvider"])
    wanted = [o.name for o in session.get_outputs() if o.name in values]
    refs = dict(zip(wanted, session.run(wanted, dict(feeds))))
    found = []
    for step in block.plan.steps:
        for out in step.outputs:
            if out in refs and isinstance(values.get(out), mx.nd.NDArray):
                with mx.util.np_shape(True):
                    ours = values[out].asnumpy()
                result = diff(out, ours, refs[out], rtol)
                if not result.ok:
                    found.append((step.name, step.op_type, result))
    return found


def compare_with_onnxruntime(
    block: object,
    model: onnx.ModelProto,
    feeds: Mapping[str, np.ndarray],
    *,
    modes: Sequence[str] = ("imperative", "hybridized"),
    rtol: float = 1e-4,
    ctx: mx.Context | None = None,
    reference: Sequence[np.ndarray] | None = None,
) -> list[Comparison]:
    """Run ``block`` in each mode and compare with onnxruntime (or ``reference``)."""
    from .backend import to_nd, to_numpy  # noqa: PLC0415

    ctx = ctx or mx.cpu()
    refs = list(reference) if reference is not None else run_onnxruntime(model, feeds)
    args = [to_nd(feeds[name], ctx) for name in block.input_names]
    results = []
    for mode in modes:
        if mode == "hybridized":
            block.hybridize(static_alloc=True, static_shape=True)
        else:
            block.hybridize(False)
        start = time.perf_counter()
        out = block(*args)
        outs = out if isinstance(out, (tuple, list)) else (out,)
        arrays = [to_numpy(o, block.plan.info(n).dtype) for n, o in zip(block.output_names, outs)]
        comparison = Comparison(mode, seconds=time.perf_counter() - start)
        for name, ours, ref in zip(block.output_names, arrays, refs):
            comparison.outputs.append(diff(name, ours, ref, rtol))
        results.append(comparison)
    block.hybridize(False)
    return results
