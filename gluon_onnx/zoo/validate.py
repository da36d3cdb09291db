"""Validate zoo entries: import, run imperative and hybridized, compare with onnxruntime.

One :class:`Row` per (entry, context). A failure at any stage (download, import with a
missing converter, a run, onnxruntime itself) becomes a row with ``status='error'`` and the
stage and message; validation never stops on a bad entry. GPU contexts are validated only
where MXNet sees a GPU; elsewhere their rows say ``not run``.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..verify import diff
from .catalogue import Entry, get_entry, load_catalogue
from .inputs import load_test_data_set, reference_inputs
from .store import availability, bundle_model_and_tests, cached_bundle, load_proto, offline_default

MODES = ("imperative", "hybridized")
CLASSIFICATION_TASKS = ("classification", "file-type-classification")


@dataclass
class ModeResult:
    """One execution mode of one row."""

    mode: str
    ok: bool = False
    max_abs: float | None = None
    max_rel: float | None = None
    latency_ms: float | None = None
    first_call_ms: float | None = None
    error: str | None = None


@dataclass
class Row:
    """The validation of one entry on one context."""

    name: str
    source: str
    task: str
    ctx: str
    status: str = "not run"  # pass | fail | error | unavailable | not run
    reason: str = ""
    rtol: float = 1e-4
    inputs: str = ""
    reference: str = ""
    import_s: float | None = None
    ort_latency_ms: float | None = None
    modes: list[ModeResult] = field(default_factory=list)
    top5: float | None = None
    top1: bool | None = None
    stored_max_rel: float | None = None

    def mode(self, name: str) -> ModeResult | None:
        return next((m for m in self.modes if m.mode == name), None)

    def to_dict(self) -> dict:
        return asdict(self)


def _ctx_name(ctx: object) -> str:
    return f"{ctx.device_type}({ctx.device_id})" if ctx.device_type == "gpu" else ctx.device_type


def parse_contexts(spec: str | Sequence[object] | object | None) -> list[object]:
    """``'cpu,gpu'`` / ``mx.Context`` / list of them -> list of ``mx.Context``."""
    import mxnet as mx  # noqa: PLC0415

    if spec is None:
        return [mx.cpu()]
    if isinstance(spec, mx.Context):
        return [spec]
    if isinstance(spec, str):
        spec = [s.strip() for s in spec.split(",") if s.strip()]
    out = []
    for item in spec:
        if isinstance(item, mx.Context):
            out.append(item)
            continue
        kind, _, index = str(item).partition(":")
        kind = kind.strip().lower()
        if kind not in ("cpu", "gpu"):
            raise ValueError(f"unknown context {item!r}: use cpu, gpu or gpu:N")
        out.append(mx.cpu() if kind == "cpu" else mx.gpu(int(index or 0)))
    return out


def _ort_providers(ctx: object) -> tuple[list[str], str]:
    import onnxruntime as ort  # noqa: PLC0415

    if ctx.device_type == "gpu" and "CUDAExecutionProvider" in ort.get_available_providers():
        return ["CUDAExecutionProvider", "CPUExecutionProvider"], "onnxruntime CUDA"
    return ["CPUExecutionProvider"], "onnxruntime CPU"


def _ort_run(model: object, feeds: dict, providers: list[str], repeats: int) -> tuple[list[np.ndarray], float]:
    """onnxruntime's outputs and median latency; ``model`` is a ModelProto or a file path."""
    import onnxruntime as ort  # noqa: PLC0415

    options = ort.SessionOptions()
    options.log_severity_level = 3
    source = model.SerializeToString() if hasattr(model, "SerializeToString") else str(model)
    session = ort.InferenceSession(source, options, providers=providers)
    outputs = session.run(None, feeds)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        session.run(None, feeds)
        times.append(time.perf_counter() - start)
    return outputs, (statistics.median(times) * 1000 if times else float("nan"))


def _top5(ours: np.ndarray, ref: np.ndarray) -> tuple[float, bool] | None:
    """Mean overlap of the top-5 classes per sample, and whether every top-1 agrees."""
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    if ours.shape != ref.shape or ref.ndim < 1 or ref.size == 0:
        return None
    rows_ref = ref.reshape(ref.shape[0], -1) if ref.ndim > 1 else ref.reshape(1, -1)
    rows_ours = ours.reshape(rows_ref.shape)
    if rows_ref.shape[1] < 5:
        return None
    overlap = []
    top1 = True
    for a, b in zip(rows_ours, rows_ref):
        top_a = set(np.argsort(-a, kind="stable")[:5].tolist())
        top_b = set(np.argsort(-b, kind="stable")[:5].tolist())
        overlap.append(len(top_a & top_b) / 5)
        top1 = top1 and int(np.argmax(a)) == int(np.argmax(b))
    return float(np.mean(overlap)), top1


def _run_mode(block: object, args: list, mode: str, refs: list[np.ndarray], rtol: float, repeats: int,
              scale_floor: float = 0.0) -> tuple[ModeResult, list[np.ndarray] | None]:
    import mxnet as mx  # noqa: PLC0415

    from ..backend import to_numpy  # noqa: PLC0415

    result = ModeResult(mode)
    try:
        if mode == "hybridized":
            block.hybridize(static_alloc=True, static_shape=True)
        else:
            block.hybridize(False)
        start = time.perf_counter()
        out = block(*args)
        outs = list(out) if isinstance(out, (tuple, list)) else [out]
        arrays = [to_numpy(o, block.plan.info(n).dtype) for n, o in zip(block.output_names, outs)]
        result.first_call_ms = (time.perf_counter() - start) * 1000
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            again = block(*args)
            mx.nd.waitall()
            times.append(time.perf_counter() - start)
            del again
        result.latency_ms = statistics.median(times) * 1000 if times else None
    except Exception as exc:  # noqa: BLE001 - a row records any failure
        result.error = f"{type(exc).__name__}: {_first_line(exc)}"
        return result, None
    finally:
        block.hybridize(False)
    if len(arrays) != len(refs):
        result.error = f"{len(arrays)} outputs, onnxruntime gives {len(refs)}"
        return result, arrays
    diffs = [diff(n, a, r, rtol, scale_floor) for n, a, r in zip(block.output_names, arrays, refs)]
    result.max_abs = max((d.max_abs for d in diffs), default=0.0)
    result.max_rel = max((d.max_rel for d in diffs), default=0.0)
    result.ok = all(d.ok for d in diffs)
    if not result.ok:
        bad = [d for d in diffs if not d.ok]
        result.error = "; ".join(f"{d.name}: max_rel {d.max_rel:.3g} (shape {tuple(d.shape)})" for d in bad[:3])
    return result, arrays


def _first_line(exc: BaseException, limit: int = 400) -> str:
    text = str(exc).strip().splitlines()
    line = " ".join(t.strip() for t in text[:4]) if text else ""
    return line[:limit] + ("..." if len(line) > limit else "")


def validate_entry(entry: Entry, contexts: Sequence[object], *, offline: bool, root: object = None,
                   modes: Sequence[str] = MODES, repeats: int = 3, seed: int = 0, progress: bool = False
                   ) -> list[Row]:
    """Rows of one entry for each context (never raises for a bad model)."""
    import mxnet as mx  # noqa: PLC0415

    from ..backend import to_nd  # noqa: PLC0415
    from ..importer import load_block  # noqa: PLC0415

    def rows(status: str, reason: str) -> list[Row]:
        return [Row(entry.name, entry.source, entry.task, _ctx_name(c), status, reason, entry.rtol) for c in contexts]

    available, how = availability(entry, root)
    if offline and not available:
        return rows("unavailable", how)
    try:
        model, path = load_proto(entry, root=root, offline=offline, progress=progress)
    except Exception as exc:  # noqa: BLE001
        status = "unavailable" if type(exc).__name__ == "ModelUnavailableError" else "error"
        return rows(status, f"get model: {type(exc).__name__}: {_first_line(exc)}")
    try:
        stored: list[np.ndarray] = []
        bundle = cached_bundle(entry, root) if entry.source == "hub" else None
        tests = bundle_model_and_tests(bundle)[1] if bundle is not None else []
        if tests:
            feeds, stored = load_test_data_set(tests[0], model)
            origin = f"bundle {tests[0].name}"
        else:
            feeds, origin = reference_inputs(entry, model, seed=seed)
    except Exception as exc:  # noqa: BLE001
        return rows("error", f"inputs: {type(exc).__name__}: {_first_line(exc)}")

    out: list[Row] = []
    gpus = mx.context.num_gpus()
    for ctx in contexts:
        row = Row(entry.name, entry.source, entry.task, _ctx_name(ctx), rtol=entry.rtol, inputs=origin)
        out.append(row)
        if ctx.device_type == "gpu" and ctx.device_id >= gpus:
            row.reason = f"no GPU here (mx.context.num_gpus() == {gpus})"
            continue
        try:
            start = time.perf_counter()
            block = load_block(path or model, ctx=ctx)  # a path keeps external data next to the file
            row.import_s = time.perf_counter() - start
            args = [to_nd(feeds[n], ctx) for n in block.input_names]
        except Exception as exc:  # noqa: BLE001
            row.status, row.reason = "error", f"import: {type(exc).__name__}: {_first_line(exc)}"
            continue
        providers, row.reference = _ort_providers(ctx)
        try:
            refs, row.ort_latency_ms = _ort_run(path or model, feeds, providers, repeats)
        except Exception as exc:  # noqa: BLE001
            row.status, row.reason = "error", f"onnxruntime: {type(exc).__name__}: {_first_line(exc)}"
            del block, args
            continue
        first_arrays = None
        for mode in modes:
            result, arrays = _run_mode(block, args, mode, refs, entry.rtol, repeats, entry.output_scale)
            row.modes.append(result)
            if first_arrays is None and arrays is not None:
                first_arrays = arrays
        if first_arrays is not None and refs:
            if entry.task in CLASSIFICATION_TASKS:
                agreement = _top5(first_arrays[0], refs[0])
                if agreement is not None:
                    row.top5, row.top1 = agreement
            if stored and len(stored) <= len(first_arrays):
                try:
                    row.stored_max_rel = max(diff("", a, s, entry.rtol).max_rel for a, s in zip(first_arrays, stored))
                except (ValueError, TypeError):
                    row.stored_max_rel = None
        errors = [f"{m.mode}: {m.error}" for m in row.modes if m.error]
        crashed = any(m.max_rel is None for m in row.modes)
        row.status = "pass" if row.modes and all(m.ok for m in row.modes) else ("error" if crashed else "fail")
        row.reason = "; ".join(errors)
        del block, args
        gc.collect()
    return out


@dataclass
class Report:
    """Rows plus the environment they were produced in."""

    rows: list[Row]
    environment: dict
    command: str = ""

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.rows:
            counts[row.status] = counts.get(row.status, 0) + 1
        return counts

    @property
    def ok(self) -> bool:
        """No row failed or crashed (unavailable and not-run rows are not failures)."""
        return not any(r.status in ("fail", "error") for r in self.rows)

    def to_dict(self) -> dict:
        return {"command": self.command, "environment": self.environment, "summary": self.counts(),
                "rows": [r.to_dict() for r in self.rows]}


def validate(names: Sequence[str] | None = None, ctx: object = None, *, offline: bool | None = None,
             root: object = None, modes: Sequence[str] = MODES, repeats: int = 3, seed: int = 0,
             progress: bool = False, log: Callable[[str], None] | None = None, command: str = "") -> Report:
    """Validate zoo entries against onnxruntime.

    Parameters
    ----------
    names : list of str, optional
        Entries to validate; all of them when None.
    ctx : mx.Context, list of them, or ``'cpu,gpu'``
        Contexts (default CPU). GPU rows are produced only where MXNet sees a GPU, and are
        marked ``not run`` otherwise.
    offline : bool, optional
        Validate only what is available without network (built entries, installed wheels,
        cached or registered hub files); the others get ``unavailable`` rows. Default: the
        ``GLUON_ONNX_OFFLINE`` environment variable.
    root : path, optional
        Cache root.
    modes : sequence of str
        ``'imperative'`` and/or ``'hybridized'``.
    repeats : int
        Timed runs per mode after the first call (latency is their median).
    log : callable, optional
        Called with one line per row as rows complete.

    Returns
    -------
    Report
        ``report.rows``; write it with :func:`gluon_onnx.zoo.report.write_report`.
    """
    from .report import environment  # noqa: PLC0415

    offline = offline_default(offline)
    contexts = parse_contexts(ctx)
    entries = list(load_catalogue()) if names is None else [get_entry(n) for n in names]
    rows: list[Row] = []
    for entry in entries:
        try:
            new = validate_entry(entry, contexts, offline=offline, root=root, modes=modes, repeats=repeats,
                                 seed=seed, progress=progress)
        except Exception as exc:  # noqa: BLE001 - last resort: one entry never stops the run
            traceback.print_exc(file=sys.stderr)
            new = [Row(entry.name, entry.source, entry.task, _ctx_name(c), "error",
                       f"validation crashed: {type(exc).__name__}: {_first_line(exc)}", entry.rtol) for c in contexts]
        rows.extend(new)
        if log is not None:
            for row in new:
                log(format_row(row))
    return Report(rows, environment(contexts), command)


def format_row(row: Row) -> str:
    """One line for the terminal."""
    parts = [f"{row.name:<30} {row.ctx:<7} {row.status.upper():<11}"]
    for mode in row.modes:
        if mode.max_rel is not None:
            parts.append(f"{mode.mode[:4]} rel={mode.max_rel:.2g} {mode.latency_ms or 0:.1f}ms")
    if row.top5 is not None:
        parts.append(f"top5={row.top5:.2f}")
    if row.reason and row.status != "pass":
        parts.append(row.reason[:160])
    return "  ".join(parts)
