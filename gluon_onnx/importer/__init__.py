"""ONNX -> Gluon import: :func:`load_block` and :class:`OnnxBlock`."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence

from ..model import ModelSource, read_model
from .block import OnnxBlock
from .optimize import optimize_for_inference
from .plan import build_plan

__all__ = ["OnnxBlock", "load_block"]


def load_block(
    source: ModelSource,
    ctx: object = None,
    *,
    outputs: Sequence[str] | None = None,
    input_shapes: Mapping[str, Sequence[object]] | None = None,
    dynamic_batch: bool = False,
    base_dir: str | None = None,
    prefix: str | None = None,
    optimize: bool = False,
) -> OnnxBlock:
    """Import an ONNX model as a hybridizable Gluon block.

    Parameters
    ----------
    source : str, path, bytes, binary file object or onnx.ModelProto
        The model.
    ctx : mx.Context or list of mx.Context, optional
        Where parameters live (default ``mx.cpu()``).
    outputs : list of str, optional
        Tensor names to return instead of the graph outputs: cuts the graph there
        (feature extraction).
    input_shapes : dict, optional
        Input name -> shape. Entries are ints or strings naming a free size; overrides the
        declared shapes (e.g. ``{'data': ('N', 3, 224, 224)}``).
    dynamic_batch : bool
        Make the first dimension of every input free, whatever the model declares.
    base_dir : str, optional
        Directory of external data files (default: the model file's directory).
    prefix : str, optional
        Gluon name prefix of the block.
    optimize : bool
        Build an inference-only block: BatchNorm folded into convolutions, GELU and LayerNorm
        patterns fused, all initializers constants (so constant subgraphs fold), and
        ``hybridize()`` partitions the graph with MXNet's oneDNN backend on CPU contexts.
        The block is not trainable and exports the optimized graph.

    Returns
    -------
    OnnxBlock
        Float initializers are trainable parameters (``grad_req='write'``), running
        statistics of BatchNormalization are non-trainable parameters.

    Raises
    ------
    gluon_onnx.errors.InvalidModelError
        The model is malformed.
    gluon_onnx.errors.UnsupportedOperatorError
        Some operators have no converter; all of them are listed.
    """
    with _gc_paused():
        return _load_block(source, ctx, outputs, input_shapes, dynamic_batch, base_dir, prefix, optimize)


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Import allocates many long-lived objects (protobuf wrappers, plan steps, sizes) and no
    garbage cycles; Python's cyclic collector would rescan them over and over (40% of the
    import time of a 10k-node graph)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_block(source: ModelSource, ctx: object, outputs: Sequence[str] | None,
                input_shapes: Mapping[str, Sequence[object]] | None, dynamic_batch: bool, base_dir: str | None,
                prefix: str | None, optimize: bool) -> OnnxBlock:
    model = read_model(source, base_dir=base_dir)
    shapes = dict(input_shapes or {})
    if dynamic_batch:
        init_names = {t.name for t in model.proto.graph.initializer}
        for vi in model.proto.graph.input:
            if vi.name in init_names or vi.name in shapes:
                continue
            dims = vi.type.tensor_type.shape.dim
            if len(dims):
                declared = [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in dims]
                shapes[vi.name] = ["batch"] + declared[1:]
    if optimize:
        model, _ = optimize_for_inference(model)
    plan = build_plan(model, outputs=outputs, input_shapes=shapes, freeze_params=optimize)
    options = {"outputs": list(outputs) if outputs else None, "input_shapes": shapes, "freeze_params": optimize}
    return OnnxBlock(model, plan, ctx=ctx, build_options=options, prefix=prefix)
