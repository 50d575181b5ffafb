"""`xstilts evaluate`: score predictions in XTREME's submission layout against gold labels.

  xstilts evaluate --predictions DIR --labels DIR --benchmark xtreme|xtreme-r|synthetic [--json OUT]
  xstilts evaluate --task NAME --predictions FILE --labels FILE [--language L] [--json OUT]
  xstilts evaluate --task NAME --predictions <output>/stages/<id>/predictions/<lang>.jsonl
      (the pipeline's own prediction file, which holds the gold: no --labels)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from xstilts.errors import ConfigError


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score an XTREME / XTREME-R submission folder (or one file) against gold labels",
        description=(
            "Score predictions laid out as <task>/test-<lang>.<tsv|json|jsonl> against gold files in the "
            "same layout, with the metrics of google-research/xtreme's evaluate.py. With --task, score "
            "one prediction file against one gold file, or one of the pipeline's own prediction files "
            "(<output>/stages/<stage>/predictions/<lang>.jsonl, gold inside) with the task's metric."
        ),
    )
    p.add_argument("--predictions", required=True, type=Path, help="submission folder (or one file with --task)")
    p.add_argument(
        "--labels", type=Path,
        help="gold folder in the same layout (or one file with --task; not with a pipeline <lang>.jsonl file)",
    )
    p.add_argument(
        "--benchmark", default="xtreme", choices=["xtreme", "xtreme-r", "synthetic"],
        help="task set and grouping (default: xtreme; synthetic: the built-in benchmark's tasks)",
    )
    p.add_argument("--task", help="score a single file of this task (xnli, pawsx, udpos, panx, xquad, mlqa, ...)")
    p.add_argument("--language", help="language of the single file (default: from its name test-<lang>.<ext>)")
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the scores as JSON to OUT")
    p.add_argument(
        "--allow-missing",
        action="store_true",
        help="score questions without a prediction as 0 (the official behaviour) instead of failing",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    strict = not args.allow_missing
    if args.task:
        return _run_one_file(args, strict)
    return _run_folder(args, strict)


def _run_one_file(args: argparse.Namespace, strict: bool) -> int:
    from xstilts.evaluation.stage_predictions import is_prediction_rows_file

    if is_prediction_rows_file(args.predictions) or (args.labels is None and args.predictions.suffix == ".jsonl"):
        # Without --labels only a pipeline file can be meant: its reader says what is wrong with it.
        return _run_pipeline_file(args)
    from xstilts.evaluation.submission import file_format, language_from_file_name, score_file

    if args.labels is None:
        raise ConfigError(
            f"{args.predictions}: --labels is needed (only the pipeline's own <lang>.jsonl prediction files hold their gold)"
        )
    task = file_format(args.task).task
    language = args.language or language_from_file_name(args.predictions) or language_from_file_name(args.labels)
    scores = score_file(task, args.predictions, args.labels, language, strict=strict)
    _print_file_scores(task, language, scores)
    if args.json:
        _write_json(args.json, {"task": task, "language": language, "scores": scores})
    return 0


def _run_pipeline_file(args: argparse.Namespace) -> int:
    from xstilts.evaluation.stage_predictions import language_of, pipeline_task, score_prediction_rows

    if args.labels is not None:
        raise ConfigError(
            f"{args.predictions}: a pipeline prediction file holds its gold; drop --labels "
            "(or export the cell with `xstilts export` to score against other gold files)"
        )
    task = pipeline_task(args.task).name
    language = args.language or language_of(args.predictions)
    scores = score_prediction_rows(task, args.predictions, language)
    _print_file_scores(task, language, scores)
    if args.json:
        _write_json(args.json, {"task": task, "language": language, "scores": scores, "source": "pipeline predictions"})
    return 0


def _run_folder(args: argparse.Namespace, strict: bool) -> int:
    from xstilts.evaluation.submission import score_submission

    if args.labels is None:
        raise ConfigError("--labels is needed: the gold folder in the same layout as --predictions")

    result = score_submission(args.predictions, args.labels, args.benchmark, strict=strict)
    _print_submission(result, quiet=bool(os.environ.get("XSTILTS_QUIET")))
    if args.json:
        payload = result.scores.to_dict()
        payload["skipped_tasks"] = result.skipped_tasks
        payload["extra_files"] = list(result.extra_files)
        _write_json(args.json, payload)
    return 0


def _write_json(path: Path, payload: dict[str, Any]) -> None:
    from xstilts.io import atomic_write_text

    atomic_write_text(path, json.dumps(payload, indent=1, ensure_ascii=False) + "\n")


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _print_file_scores(task: str, language: str | None, scores: dict[str, float]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{task} ({language or 'language unknown'})")
    for metric in scores:
        table.add_column(metric, justify="right")
    table.add_row(*(_fmt(v) for v in scores.values()))
    Console().print(table)


def _print_submission(result: Any, quiet: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    scores = result.scores
    if not quiet:
        for task, task_score in scores.tasks.items():
            metrics = list(task_score.averages)
            table = Table(title=task, title_justify="left")
            table.add_column("language")
            for metric in metrics:
                table.add_column(metric, justify="right")
            for lang, values in task_score.languages.items():
                table.add_row(lang, *(_fmt(values.get(m)) for m in metrics))
            table.add_section()
            table.add_row("average", *(_fmt(task_score.averages[m]) for m in metrics), style="bold")
            console.print(table)

    summary = Table(title=f"{scores.benchmark} summary", title_justify="left")
    for column in ("task", "score", "en", "zero-shot", "gap", "languages"):
        summary.add_column(column, justify="left" if column == "task" else "right")
    for task, s in scores.tasks.items():
        summary.add_row(task, _fmt(s.headline), _fmt(s.english), _fmt(s.zero_shot), _fmt(s.gap), str(len(s.languages)))
    summary.add_section()
    for group, value in scores.groups.items():
        summary.add_row(f"group: {group}", _fmt(value), "", "", "", "")
    summary.add_row("overall", _fmt(scores.overall), "", "", _fmt(scores.mean_gap), "", style="bold")
    console.print(summary)
    if scores.overall is None:
        console.print(f"overall score needs every task; missing: {', '.join(scores.missing_tasks)}")
    for task, why in result.skipped_tasks.items():
        console.print(f"skipped {task}: {why}")
