"""Command line: ``gluon-onnx demo | info | check | zoo``.

Subcommands are registered in :data:`COMMANDS`; other modules (export, zoo) add theirs.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
from collections.abc import Callable, Sequence

from .errors import GluonOnnxError

COMMANDS: dict[str, tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, configure: Callable[[argparse.ArgumentParser], None]) -> Callable:
    def register(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
        COMMANDS[name] = (configure, fn)
        fn.__command_help__ = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        return fn

    return register


def _print_comparisons(comparisons: list) -> bool:
    ok = True
    for comparison in comparisons:
        for out in comparison.outputs:
            flag = "ok" if out.ok else "MISMATCH"
            print(f"  {comparison.mode:<11} {out.name:<24} shape={str(tuple(out.shape)):<18} "
                  f"max_abs={out.max_abs:.3g} max_rel={out.max_rel:.3g}  {flag}")
        ok = ok and comparison.ok
    return ok


def _configure_demo(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8], help="batch sizes to run")


@command("demo", _configure_demo)
def demo(args: argparse.Namespace) -> int:
    """Import a bundled model, hybridize it, run it and compare with onnxruntime."""
    import time  # noqa: PLC0415

    import mxnet as mx  # noqa: PLC0415

    from . import load_block  # noqa: PLC0415
    from .samples import tiny_cnn  # noqa: PLC0415
    from .verify import compare_with_onnxruntime, random_inputs  # noqa: PLC0415

    model = tiny_cnn()
    start = time.perf_counter()
    net = load_block(model, ctx=mx.cpu())
    took = time.perf_counter() - start
    n_params = sum(int(p.data().size) for p in net.collect_params().values())
    print(f"gluon_onnx demo: tiny_cnn (opset {model.opset_import[0].version}, {len(model.graph.node)} nodes) "
          f"imported in {took * 1000:.0f} ms; {len(net.onnx_params)} parameters, {n_params} weights")
    print(f"  inputs {net.input_names} -> outputs {net.output_names}")
    ok = True
    for batch in args.batch:
        feeds = random_inputs(model, seed=batch, sizes={"N": batch})
        print(f"batch {batch}:")
        ok = _print_comparisons(compare_with_onnxruntime(net, model, feeds)) and ok
    print("result:", "outputs match onnxruntime" if ok else "MISMATCH")
    return 0 if ok else 1


def _configure_info(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="path to an .onnx file")


@command("info", _configure_info)
def info(args: argparse.Namespace) -> int:
    """Opset, inputs/outputs, operator histogram and unsupported operators of a model."""
    from .importer.registry import lookup  # noqa: PLC0415
    from .model import read_model  # noqa: PLC0415
    from .verify import input_specs  # noqa: PLC0415

    loaded = read_model(args.model)
    proto = loaded.proto
    print(f"model: {args.model}")
    print(f"  ir_version {proto.ir_version}, producer {proto.producer_name} {proto.producer_version}".rstrip())
    print("  opsets: " + ", ".join(f"{d or 'ai.onnx'}:{v}" for d, v in sorted(loaded.opsets.items())))
    for name, dtype, dims in input_specs(proto):
        print(f"  input  {name}: {dtype} {dims}")
    for vi in proto.graph.output:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in vi.type.tensor_type.shape.dim]
        print(f"  output {vi.name}: {dims}")
    histogram = collections.Counter((n.domain or "", n.op_type) for n in proto.graph.node)
    unsupported = []
    print(f"  {len(proto.graph.node)} nodes, {len(proto.graph.initializer)} initializers")
    for (domain, op), count in sorted(histogram.items(), key=lambda kv: (-kv[1], kv[0])):
        opset = loaded.opsets.get("" if domain in ("", "ai.onnx") else domain, 0)
        supported = lookup(domain, op, opset) is not None or op == "Constant"
        if not supported:
            unsupported.append(f"{domain or 'ai.onnx'}::{op}")
        print(f"    {count:6d}  {(domain + '::') if domain else ''}{op}{'' if supported else '   (unsupported)'}")
    print("unsupported: " + (", ".join(unsupported) if unsupported else "none"))
    return 0


def _configure_export(p: argparse.ArgumentParser) -> None:
    from .exporter.cli import configure  # noqa: PLC0415

    configure(p)


@command("export", _configure_export)
def export(args: argparse.Namespace) -> int:
    """Export a Gluon/GluonCV model-zoo network or a symbol.json + params checkpoint to ONNX."""
    from .exporter.cli import run  # noqa: PLC0415

    return run(args)


def _configure_check(p: argparse.ArgumentParser) -> None:
    p.add_argument("model", help="path to an .onnx file")
    p.add_argument("--size", action="append", default=[], metavar="NAME=N",
                   help="value of a free dimension (default 2), e.g. --size batch=4")
    p.add_argument("--rtol", type=float, default=1e-4, help="tolerance relative to the output scale")
    p.add_argument("--seed", type=int, default=0)


@command("check", _configure_check)
def check(args: argparse.Namespace) -> int:
    """Import a model, run it imperatively and hybridized, compare with onnxruntime."""
    import mxnet as mx  # noqa: PLC0415

    from . import load_block  # noqa: PLC0415
    from .model import read_model  # noqa: PLC0415
    from .verify import compare_with_onnxruntime, random_inputs  # noqa: PLC0415

    sizes = {}
    for item in args.size:
        key, _, value = item.partition("=")
        sizes[key] = int(value)
    loaded = read_model(args.model)
    net = load_block(args.model, ctx=mx.cpu())
    feeds = random_inputs(loaded.proto, seed=args.seed, sizes=sizes)
    print(f"check {args.model}:")
    ok = _print_comparisons(compare_with_onnxruntime(net, loaded.self_contained(), feeds, rtol=args.rtol))
    print("result:", "ok" if ok else "MISMATCH")
    return 0 if ok else 1


def _configure_zoo(p: argparse.ArgumentParser) -> None:
    from .zoo.commands import configure  # noqa: PLC0415

    configure(p)


@command("zoo", _configure_zoo)
def zoo(args: argparse.Namespace) -> int:
    """Model zoo: list, fetch, register, validate catalogued models against onnxruntime, report."""
    from .zoo.commands import run  # noqa: PLC0415

    return run(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gluon-onnx", description="ONNX import/export for MXNet Gluon")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (configure, fn) in COMMANDS.items():
        p = sub.add_parser(name, help=getattr(fn, "__command_help__", ""))
        configure(p)
        p.set_defaults(func=fn)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except GluonOnnxError as exc:
        print(f"gluon-onnx {args.command}: error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - e.g. onnxruntime refusing a model: one line, not a traceback
        if os.environ.get("GLUON_ONNX_DEBUG"):
            raise
        print(f"gluon-onnx {args.command}: failed: {type(exc).__name__}: {exc} "
              "(set GLUON_ONNX_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
