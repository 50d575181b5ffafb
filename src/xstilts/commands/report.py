"""`xstilts report RESULTS`: write the Markdown and HTML report of a results store."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "report",
        help="write the report (Markdown + self-contained HTML + figures) of a results store or output folder",
        description="Tables, figures and a generated summary of findings: gains over no intermediate training, "
        "encoder vs decoder divergence with confidence intervals and tests, XTREME scores, published numbers.",
    )
    p.add_argument("results", type=Path, help="results.sqlite, the experiment's output folder, or its spec (YAML)")
    p.add_argument("--spec", help="only this spec's grid (default: the only one in the store)")
    p.add_argument("--out", type=Path, help="folder for the report (default: <output folder>/report)")
    p.add_argument("--per-language", action="store_true", help="add score and gain tables per language")
    p.add_argument(
        "--bars-target", metavar="TARGET", help="target of the per-language bar chart (default: the first with English)"
    )
    p.add_argument("--level", type=float, default=0.95, help="confidence level of the intervals (default: 0.95)")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level after correction (default: 0.05)")
    p.add_argument("--ci", choices=["t", "hierarchical"], default="t", help="interval method (default: t)")
    p.add_argument(
        "--permutations", type=int, default=4999, help="permutations of the interaction test (default: 4999)"
    )
    p.add_argument("--title", help="title of the report")
    p.add_argument(
        "--null-control", metavar="FAMILY", choices=["encoder", "decoder"],
        help="instead of the report: split FAMILY's models (4 or more, one recipe) into pseudo-families in every balanced way, "
        "run the interaction test on each split and target, and write how often it fires (null-control.csv)",
    )
    p.add_argument(
        "--control-models", metavar="M1,M2,...",
        help="with --null-control: split only these models of the family (default: all of them)",
    )
    p.add_argument(
        "--planted-control", metavar="A1,A2,...|B1,B2,...",
        help="instead of the report: test the one split of models into halves A and B, built to differ (a positive control); "
        "write each half's mean gain and the interaction test's p-value per target (planted-control.csv)",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from xstilts.analysis.report import ReportOptions, write_report
    from xstilts.errors import ConfigError
    from xstilts.experiments.results import locate_store

    if not 0 < args.level < 1:
        raise ConfigError(f"--level: must be between 0 and 1, got {args.level}")
    if not 0 < args.alpha < 1:
        raise ConfigError(f"--alpha: must be between 0 and 1, got {args.alpha}")
    if args.permutations < 99:
        raise ConfigError(f"--permutations: at least 99, got {args.permutations}")
    store, spec_name = locate_store(args.results)
    out = args.out or store.parent / "report"
    if args.out is not None:
        _check_out(args.out)
    if args.control_models and not args.null_control:
        raise ConfigError("--control-models: only with --null-control")
    if args.null_control and args.planted_control:
        raise ConfigError("--planted-control: give it or --null-control, not both")
    if args.null_control:
        return _null_control(store, args.spec or spec_name, out, args)
    if args.planted_control:
        return _planted_control(store, args.spec or spec_name, out, args)
    options = ReportOptions(
        per_language=args.per_language,
        bars_target=args.bars_target,
        level=args.level,
        alpha=args.alpha,
        ci_method=args.ci,
        n_permutations=args.permutations,
        title=args.title,
    )
    paths = write_report(store, out, spec=args.spec or spec_name, options=options)
    print(f"report: {paths.html} (markdown: {paths.markdown}, {len(paths.figures)} figure files)")
    return 0


def _check_out(out: Path) -> None:
    """Refuse, before the report is computed, a --out that is a file or lies under one."""
    from xstilts.errors import ConfigError

    for folder in (out, *out.parents):
        if folder.exists():
            if not folder.is_dir():
                what = "is a file" if folder == out else f"lies under {folder}, a file"
                raise ConfigError(f"--out {out}: {what}; the report needs a folder")
            return


def _null_control(store: Path, spec: str | None, out: Path, args: argparse.Namespace) -> int:
    from xstilts.analysis.controls import null_control
    from xstilts.analysis.report.data import load_store_data

    data = load_store_data(store, spec)
    members = _model_list(args.control_models, "--control-models") if args.control_models else None
    result = null_control(data.scores, args.null_control, members=members, alpha=args.alpha, n_permutations=args.permutations)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "null-control.csv"
    result.tests.to_csv(path, index=False)
    print(f"{result.summary()}; tests: {path}")
    return 0


def _planted_control(store: Path, spec: str | None, out: Path, args: argparse.Namespace) -> int:
    from xstilts.analysis.controls import planted_control
    from xstilts.analysis.report.data import load_store_data
    from xstilts.errors import ConfigError

    first, bar, second = args.planted_control.partition("|")
    if not bar:
        raise ConfigError(f"--planted-control: expected two comma-separated model lists joined by '|', got {args.planted_control!r}")
    data = load_store_data(store, spec)
    result = planted_control(
        data.scores, _model_list(first, "--planted-control"), _model_list(second, "--planted-control"),
        alpha=args.alpha, n_permutations=args.permutations,
    )
    out.mkdir(parents=True, exist_ok=True)
    path = out / "planted-control.csv"
    result.tests.to_csv(path, index=False)
    print(f"{result.summary()}; tests: {path}")
    return 0


def _model_list(text: str, option: str) -> list[str]:
    from xstilts.errors import ConfigError

    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ConfigError(f"{option}: no model names in {text!r}")
    return names
