"""``gluon-onnx export``: a model-zoo network or a symbol.json + params checkpoint to ONNX."""

from __future__ import annotations

import argparse
import glob
import os
import time

from ..errors import ExportError


def configure(p: argparse.ArgumentParser) -> None:
    """Arguments of ``gluon-onnx export``."""
    p.add_argument("model", help="GluonCV or Gluon model-zoo name (e.g. resnet50_v1b), or a symbol file "
                                 "(prefix-symbol.json, with --params or as symbol.json+weights.params)")
    p.add_argument("output", help="path of the .onnx file to write")
    p.add_argument("--params", help="parameters of a symbol file (default: the newest prefix-NNNN.params)")
    p.add_argument("--shape", action="append", default=[], metavar="D0,D1,...",
                   help="input shape, once per input (default 1,3,224,224)")
    p.add_argument("--dtype", default="float32", help="input dtype (default float32)")
    p.add_argument("--opset", type=int, default=None, help="target opset (default: newest runnable)")
    p.add_argument("--dynamic-batch", action="store_true", help="make the first dimension of every input free (N)")
    p.add_argument("--input-name", action="append", default=None, help="ONNX input name, once per input")
    p.add_argument("--output-name", action="append", default=None, help="ONNX output name, once per output")
    p.add_argument("--pretrained", action="store_true",
                   help="zoo models: download pretrained weights (default: random initialization)")
    p.add_argument("--check", action="store_true", help="verify with onnx.checker and onnxruntime")
    p.add_argument("--external-data", action="store_true", help="store tensors in <output>.data")


def _shapes(args: argparse.Namespace) -> list[tuple[int, ...]]:
    texts = args.shape or ["1,3,224,224"]
    try:
        return [tuple(int(v) for v in text.replace("x", ",").split(",") if v) for text in texts]
    except ValueError:
        raise ExportError(f"--shape takes comma-separated integers, got {texts}") from None


def _zoo_block(name: str, pretrained: bool) -> object:
    import mxnet as mx  # noqa: PLC0415

    errors = []
    try:
        from gluoncv.model_zoo import get_model  # noqa: PLC0415

        kwargs = {} if pretrained else {"pretrained_base": False}
        try:
            net = get_model(name, pretrained=pretrained, **kwargs)
        except TypeError:
            net = get_model(name, pretrained=pretrained)
        return net
    except ImportError:
        errors.append("gluoncv is not installed")
    except ValueError as exc:
        errors.append(f"gluoncv: {str(exc).splitlines()[0]}")
    try:
        return mx.gluon.model_zoo.vision.get_model(name, pretrained=pretrained)
    except ValueError as exc:
        errors.append(f"gluon model zoo: {str(exc).splitlines()[0]}")
    raise ExportError(f"unknown model {name!r} ({'; '.join(errors)})")


def _symbol_files(args: argparse.Namespace) -> tuple[str, str]:
    symbol, _, params = args.model.partition("+")
    params = params or args.params
    if not params:
        prefix = symbol[: -len("-symbol.json")] if symbol.endswith("-symbol.json") else os.path.splitext(symbol)[0]
        candidates = sorted(glob.glob(glob.escape(prefix) + "-*.params"))
        if not candidates:
            raise ExportError(f"no parameters for {symbol}: pass --params FILE")
        params = candidates[-1]
    for path in (symbol, params):
        if not os.path.exists(path):
            raise ExportError(f"{path} does not exist")
    return symbol, params


def run(args: argparse.Namespace) -> int:
    """Export a model-zoo network or an MXNet checkpoint (symbol.json + params) to ONNX."""
    import mxnet as mx  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    shapes = _shapes(args)
    dtype = np.dtype(args.dtype)
    start = time.perf_counter()
    if args.model.endswith(".json") or ".json+" in args.model:
        from ..serde import export_model  # noqa: PLC0415

        symbol, params = _symbol_files(args)
        sym = mx.sym.load(symbol)
        values = mx.nd.load(params)
        names = args.input_name or [n for n in sym.list_arguments()
                                    if f"arg:{n}" not in values and n not in values]
        axes = {name: {0: "N"} for name in names} if args.dynamic_batch else None
        model = export_model(sym, values, shapes, dtype, args.output, input_names=names, opset=args.opset,
                             output_names=args.output_name, dynamic_axes=axes, check=args.check,
                             external_data=args.external_data or None)
        source = f"{symbol} + {params}"
    else:
        from . import export_block  # noqa: PLC0415
        from .export import default_input_names  # noqa: PLC0415

        net = _zoo_block(args.model, args.pretrained)
        if not args.pretrained:
            net.initialize(mx.init.Xavier(), force_reinit=True)
        names = args.input_name or default_input_names(len(shapes))
        axes = {name: {0: "N"} for name in names} if args.dynamic_batch else None
        model = export_block(net, shapes, args.output, opset=args.opset, input_names=names,
                             output_names=args.output_name, dynamic_axes=axes, input_types=[dtype] * len(shapes),
                             check=args.check, external_data=args.external_data or None)
        source = args.model + ("" if args.pretrained else " (random weights)")
    took = time.perf_counter() - start
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    size = os.path.getsize(args.output)
    print(f"exported {source} -> {args.output}")
    print(f"  opset {opset}, {len(model.graph.node)} nodes, {len(model.graph.initializer)} initializers, "
          f"{size / 2**20:.1f} MiB, {took:.1f} s" + (", checked with onnxruntime" if args.check else ""))
    for vi in model.graph.input:
        dims = [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim]
        print(f"  input  {vi.name}: {dims}")
    for vi in model.graph.output:
        dims = [d.dim_param or (d.dim_value if d.HasField("dim_value") else "?") for d in vi.type.tensor_type.shape.dim]
        print(f"  output {vi.name}: {dims}")
    return 0
