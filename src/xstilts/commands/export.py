"""`xstilts export`: a finished grid cell's predictions in the XTREME / XTREME-R submission layout.

  xstilts export --xtreme-submission DIR RESULTS [--labels DIR] [--spec NAME]
                 [--model M] [--condition C] [--seed S]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="write a grid cell's predictions as an XTREME / XTREME-R submission folder",
        description=(
            "Write the predictions of one finished grid cell (model x intermediate condition x seed: every "
            "target of that cell) as <task>/test-<lang>.<tsv|json|jsonl>, the layout google-research/xtreme's "
            "evaluate.py reads. With --labels, also write the gold in the same layout, so that "
            "`xstilts evaluate --predictions DIR --labels LABELS` reproduces the stored scores. Files are named "
            "test-<lang> whatever split was evaluated; xstilts-export.json records the split of each."
        ),
    )
    p.add_argument("results", type=Path, help="results.sqlite, the experiment's output folder, or its spec (YAML)")
    p.add_argument("--xtreme-submission", required=True, type=Path, metavar="DIR", help="new folder for the predictions")
    p.add_argument("--labels", type=Path, metavar="DIR", help="new folder for the matching gold labels")
    p.add_argument("--spec", help="the spec whose grid to read (default: the only one in the store)")
    p.add_argument("--model", help="model name of the cell (default: the only one)")
    p.add_argument("--condition", help="intermediate condition of the cell, e.g. none or mnli (default: the only one)")
    p.add_argument("--seed", type=int, help="seed of the cell (default: the only one)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from xstilts.evaluation.export import OFFICIAL_SCRIPT_UNSCORED
    from xstilts.experiments.export import export_cell
    from xstilts.experiments.results import locate_store

    results, spec_name = locate_store(args.results)
    result = export_cell(
        results, args.xtreme_submission, args.labels,
        spec=args.spec or spec_name, model=args.model, condition=args.condition, seed=args.seed,
    )
    cell = result.cell
    n_files = sum(len(langs) for langs in result.files.values())
    print(
        f"exported {cell.label} of spec {cell.spec}: {len(result.files)} tasks, {n_files} files -> "
        f"{result.predictions_dir}" + (f" (gold: {result.labels_dir})" if result.labels_dir else "")
    )
    if any(split != "test" for split in result.splits):
        print(
            f"note: these are predictions on the {', '.join(result.splits)} split(s), named test-<lang> as the layout "
            "requires; do not submit them as test-set predictions"
        )
    unscored = [t for t in OFFICIAL_SCRIPT_UNSCORED if t in result.files]
    if unscored:
        print(
            f"note: google-research/xtreme's evaluate.py cannot score {', '.join(unscored)}/ (xtreme-r stops with "
            "KeyError 'avg_metric' when it is there); move it aside to run that script; `xstilts evaluate` scores it"
        )
    if result.labels_dir:
        if result.benchmarks:
            print(
                f"score: xstilts evaluate --predictions {result.predictions_dir} --labels {result.labels_dir} "
                f"--benchmark {result.benchmarks[0]}"
            )
        else:
            print(
                "score one file: xstilts evaluate --task TASK --predictions "
                f"{result.predictions_dir}/TASK/test-LANG.EXT --labels {result.labels_dir}/TASK/test-LANG.EXT "
                "(no benchmark has exactly these tasks and languages)"
            )
    return 0
