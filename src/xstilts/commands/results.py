"""`xstilts results SPEC.yaml`: where the grid stands, and its scores exported as a table."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("results", help="show the grid's status (per status and kind, failures) and export its scores")
    p.add_argument("spec", type=Path, help="experiment spec (YAML), or an output folder / results.sqlite")
    p.add_argument("--output-dir", type=Path, help="override the spec's output_dir")
    p.add_argument("--export", type=Path, metavar="FILE", help="write the scores to FILE (.csv or .parquet), one row per stage, task, language, metric, split")
    p.add_argument("--primary", action="store_true", help="export only each task's primary metric")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.spec.suffix in (".yaml", ".yml"):
        status_of_spec(args)
    else:
        status_of_store(args.spec)
    if args.export:
        from xstilts.experiments.results import export_scores, load_scores

        source, spec_name = args.spec, None
        if args.output_dir and args.spec.suffix in (".yaml", ".yml"):
            from xstilts.experiments.spec import load_spec

            # The folder may hold other specs' grids too: export this spec's cells only.
            source, spec_name = args.output_dir, load_spec(args.spec).name
        frame = load_scores(source, spec=spec_name, primary_only=args.primary)
        path = export_scores(frame, args.export)
        print(f"exported {len(frame)} score rows to {path}")
    return 0


def status_of_spec(args: argparse.Namespace) -> None:
    from dataclasses import replace

    from xstilts.experiments.results import grid_status
    from xstilts.experiments.spec import STAGE_KINDS, load_spec
    from xstilts.experiments.store import STATUSES

    spec = load_spec(args.spec)
    if args.output_dir:
        spec = replace(spec, output_dir=str(args.output_dir))
    g = grid_status(spec)
    where = g.store if g.exists else f"{g.store} (not created yet: nothing has run)"
    print(f"{g.spec}: {g.total} stages; results: {where}")
    print("status: " + ", ".join(f"{s} {g.counts.get(s, 0)}" for s in STATUSES) + (f" ({g.blocked} pending behind a failed stage)" if g.blocked else ""))
    print(f"{'':14}" + "".join(f"{s:>9}" for s in STATUSES))
    for kind in STAGE_KINDS:
        print(f"{kind:14}" + "".join(f"{g.by_kind[kind][s]:>9}" for s in STATUSES))
    for line in g.running:
        print(f"running {line.label} ({line.id}): {line.detail}")
    for line in g.failed:
        print(f"failed  {line.label} ({line.id}): {line.detail}")
    if g.exists:
        print(f"{g.score_rows} score rows")
        print_gaps_and_flags(g.store, g.spec)


def status_of_store(path: Path) -> None:
    from xstilts.errors import DataError
    from xstilts.experiments.results import locate_store
    from xstilts.experiments.spec import STAGE_KINDS
    from xstilts.experiments.store import STATUSES, ResultsStore

    store_path, _ = locate_store(path)
    if not store_path.exists():
        raise DataError(f"{store_path}: no results store here (run the experiment first)")
    with ResultsStore.open_readonly(store_path) as store:
        rows = store.stages()
        specs = store.spec_names()
        n_scores = len(store.scores_frame())
    print(f"{store_path}: {len(rows)} stages of spec(s) {', '.join(specs) or '-'}")
    print(f"{'':14}" + "".join(f"{s:>9}" for s in STATUSES))
    for kind in STAGE_KINDS:
        print(f"{kind:14}" + "".join(f"{sum(1 for r in rows if r.kind == kind and r.status == s):>9}" for s in STATUSES))
    for r in rows:
        if r.status == "failed":
            d = r.description
            label = "/".join(str(x) for x in (d.get("kind"), d.get("model"), d.get("condition"), d.get("task")) if x)
            print(f"failed  {label}/seed{d.get('seed')} ({r.id}): {r.error}")
    print(f"{n_scores} score rows")
    print_gaps_and_flags(store_path, None)


def print_gaps_and_flags(store_path: Path, spec: str | None) -> None:
    """Languages that finished evaluations lack (with why) and stages that did not learn."""
    from xstilts.experiments.gaps import flag_lines, gap_lines, with_present_languages
    from xstilts.experiments.store import ResultsStore

    with ResultsStore.open_readonly(store_path) as store:
        gaps = store.gaps_frame(spec)
        if not gaps.empty:
            gaps = with_present_languages(gaps, store.scores_frame(spec))
        flags = store.flags_frame(spec)
    if not gaps.empty:
        print("missing languages (evaluate stages finished without them; their averages cover the languages scored):")
        for line in gap_lines(gaps):
            print(f"  {line}")
    lines = flag_lines(flags)
    if lines:
        print(f"did not learn ({len(lines)} training stage{'s' if len(lines) > 1 else ''}; scores below them may only reflect chance):")
        for line in lines:
            print(f"  {line}")
