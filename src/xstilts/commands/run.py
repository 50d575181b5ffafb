"""`xstilts run SPEC.yaml`: run (or resume) an experiment grid and write its report."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("run", help="run or resume the grid of an experiment spec, then write its report")
    p.add_argument("spec", type=Path, help="experiment spec (YAML)")
    p.add_argument("--output-dir", type=Path, help="override the spec's output_dir")
    p.add_argument("--keep-going", action="store_true", help="continue with other stages when one fails")
    p.add_argument("--no-report", action="store_true", help="do not write the report at the end")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from xstilts.experiments.spec import load_spec

    spec = load_spec(args.spec)
    if args.output_dir:
        spec = replace(spec, output_dir=str(args.output_dir))
    return execute(spec, keep_going=args.keep_going, report=not args.no_report)


def execute(spec, keep_going: bool = False, report: bool = True) -> int:
    from xstilts.analysis.report import write_report
    from xstilts.experiments.runner import run_spec

    def on_stage(stage, event: str) -> None:
        if event == "running":
            log.info("stage %s: %s", stage.label, event)
        elif event.startswith("failed"):
            log.error("stage %s: %s", stage.label, event)

    summary = run_spec(spec, on_stage=on_stage, stop_on_error=not keep_going)
    line = (
        f"{len(summary.ran)} stages run, {len(summary.reused)} reused, {len(summary.failed)} failed, "
        f"{len(summary.waiting)} waiting, in {summary.seconds:.0f}s; results: {summary.store}"
    )
    if report:
        paths = write_report(summary.store, summary.output_dir / "report", spec=spec.name)
        line += f"; report: {paths.html}"
    print(line)
    return 1 if summary.failed else 0
