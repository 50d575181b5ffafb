"""`xstilts report RESULTS`: write the Markdown and HTML report of a results store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("report", help="write the report (Markdown + HTML) of a results store or output folder")
    p.add_argument("results", type=Path, help="results.sqlite, or the experiment's output folder")
    p.add_argument("--spec", help="only this spec's grid (default: the only one in the store)")
    p.add_argument("--out", type=Path, help="folder for the report (default: <output folder>/report)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from xstilts.analysis.report import write_report
    from xstilts.experiments.runner import STORE_NAME

    store = args.results / STORE_NAME if args.results.is_dir() else args.results
    out = args.out or store.parent / "report"
    paths = write_report(store, out, spec=args.spec)
    print(f"report: {paths.html} (markdown: {paths.markdown}, {len(paths.figures)} figures)")
    return 0
