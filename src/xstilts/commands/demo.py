"""`xstilts demo`: the whole method on the built-in synthetic benchmark, offline, on a CPU."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEMO_SPEC = Path(__file__).resolve().parent.parent / "synthetic" / "demo.yaml"


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "demo",
        help="run the offline demo: tiny encoder and decoder, intermediate tasks, zero-shot transfer, report",
    )
    p.add_argument("--output-dir", type=Path, default=Path("runs/demo"), help="where results and the report go (default: runs/demo)")
    p.add_argument("--family", choices=["encoder", "decoder", "both"], default="both", help="which model family to run")
    p.add_argument(
        "--workers", type=int, default=None,
        help="worker processes (default: 2 on a CPU with at least 2 cores, one thread each; tiny models run "
        "faster as two single-threaded workers than as one two-threaded process)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xstilts.commands.run import execute
    from xstilts.experiments.spec import load_spec
    from xstilts.synthetic.files import SyntheticBenchmark
    from xstilts.synthetic.pretrain import ensure_pretrained

    spec = load_spec(DEMO_SPEC)
    spec = replace(spec, output_dir=str(args.output_dir))
    if args.family != "both":
        spec = replace(spec, models=[m for m in spec.models if m.path == f"synthetic:{args.family}"])
    bench = SyntheticBenchmark()
    log.info("synthetic benchmark %s in %s", bench.spec.fingerprint, bench.root)
    for model in spec.models:
        ensure_pretrained(model.path.split(":", 1)[1])
    return execute(spec, workers=args.workers or default_workers())


def default_workers() -> int:
    import os

    import torch

    if torch.cuda.is_available():
        return 1
    return 2 if (os.cpu_count() or 1) >= 2 else 1
