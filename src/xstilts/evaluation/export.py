"""Prediction files in the XTREME / XTREME-R submission layout.

An evaluate stage writes `<output>/stages/<stage id>/predictions/<lang>.jsonl` (see
`stage_predictions`). `export_prediction_file` turns one into `<dir>/<task>/test-<lang>.<ext>` as
google-research/xtreme's evaluate.py reads them, and optionally the matching gold file; exporting
a whole grid cell (`xstilts.experiments.export.export_cell`) does this for each of its stages, so that

    xstilts evaluate --predictions DIR --labels LABELS --benchmark B

gives the numbers the results store holds for the cell. How rows become files, per layout:
  labels (xnli, pawsx)   label index -> official label (PAWS-X: 0/1; XNLI: the label name)
  xcopa                  choice index, one {"idx", "label"} line per example
  tags (udpos, panx)     tag names, one per line, a blank line after each sentence
  answers (QA)           {question id: answer text}; gold as SQuAD v1.1 JSON
  bucc2018               one "source id<TAB>target id" line per predicted / gold pair
  tatoeba                line i: the row index whose gold is row i's top prediction; gold line
                         i is i (rows are in file order and each gold is one sentence, so the
                         index of a gold id is its sentence's line)
  rankings (lareqa, mewslix)  {query id: [candidate ids, best first]}
Tasks that are not XTREME's (the synthetic benchmark) are laid out like the official task of
their kind, in a folder named after the task (`submission.file_format`).

The file names say "test" because the layout requires it, whatever split the stage evaluated;
the split of every language is recorded in `xstilts-export.json` beside the task folders. Submit
only folders whose split is test.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.stage_predictions import PredictionRows, read_prediction_rows
from xstilts.evaluation.submission import FileFormat, file_format, write_labels, write_submission
from xstilts.tasks.base import Task
from xstilts.tasks.suites import get_suite, suite_names

log = logging.getLogger(__name__)

# Task folders google-research/xtreme's evaluate.py lists without languages: it gives them no score,
# and with --xtreme_version xtreme-r and every other task present it stops (KeyError 'avg_metric').
OFFICIAL_SCRIPT_UNSCORED = ("lareqa",)


Converted = tuple[Any, Any, Sequence[str] | None]  # predictions, references, label names


def _require_keyed(rows: PredictionRows, fmt: FileFormat, keyed: bool) -> None:
    if rows.keyed != keyed:
        have, want = ("id", "index") if rows.keyed else ("index", "id")
        raise DataError(f"{rows.path}: rows are keyed by {have!r}, but {fmt.task} predictions are keyed by {want!r}")


def _labels(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, False)
    names = fmt.label_values or task.labels
    if len(names) != len(task.labels):
        raise ConfigError(f"{fmt.task}: {len(names)} official labels for the {len(task.labels)} labels of {task.name}")
    return list(rows.predictions), list(rows.gold), names


def _in_order(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, False)
    return list(rows.predictions), list(rows.gold), None


def _answers(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, True)
    predictions = {k: p for k, p in zip(rows.ids, rows.predictions) if p is not None}
    if len(predictions) < len(rows):
        log.warning("%s: %d questions have no prediction (score with --allow-missing)", rows.path, len(rows) - len(predictions))
    return predictions, dict(zip(rows.ids, rows.gold)), None


def _id_list(value: Any, rows: PredictionRows, number: int, field_name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise DataError(f"{rows.path} line {number}: {field_name!r} should be a list of id strings")
    return value


def _pairs(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, True)
    predicted, gold = [], []
    for number, (key, prediction, references) in enumerate(zip(rows.ids, rows.predictions, rows.gold), start=1):
        predicted += [(key, target) for target in _id_list(prediction, rows, number, "prediction")]
        gold += [(key, target) for target in _id_list(references, rows, number, "gold")]
    return predicted, gold, None


def _indices(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, True)
    line_of: dict[str, int] = {}
    for line, references in enumerate(rows.gold):
        ids = _id_list(references, rows, line + 1, "gold")
        if len(ids) != 1:
            raise DataError(f"{rows.path} line {line + 1}: {fmt.task} needs exactly one gold id per row, got {len(ids)}")
        if ids[0] in line_of:
            raise DataError(f"{rows.path} line {line + 1}: gold id {ids[0]!r} is also the gold of line {line_of[ids[0]] + 1}")
        line_of[ids[0]] = line
    predicted = []
    for line, prediction in enumerate(rows.predictions):
        ids = _id_list(prediction, rows, line + 1, "prediction")
        if not ids:
            raise DataError(f"{rows.path} line {line + 1}: no prediction")
        if ids[0] not in line_of:
            raise DataError(f"{rows.path} line {line + 1}: predicted id {ids[0]!r} is not the gold of any row, so it has no sentence index")
        predicted.append(line_of[ids[0]])
    return predicted, list(range(len(rows))), None


def _rankings(fmt: FileFormat, task: Task, rows: PredictionRows) -> Converted:
    _require_keyed(rows, fmt, True)
    predicted = {}
    for number, (key, prediction) in enumerate(zip(rows.ids, rows.predictions), start=1):
        predicted[key] = _id_list(prediction, rows, number, "prediction")
    gold = {key: _id_list(g, rows, n, "gold") for n, (key, g) in enumerate(zip(rows.ids, rows.gold), start=1)}
    return predicted, gold, None


CONVERTERS: dict[str, Callable[[FileFormat, Task, PredictionRows], Converted]] = {
    "xnli": _labels,
    "pawsx": _labels,
    "xcopa": _in_order,
    "udpos": _in_order,
    "panx": _in_order,
    "xquad": _answers,
    "mlqa": _answers,
    "tydiqa": _answers,
    "bucc2018": _pairs,
    "tatoeba": _indices,
    "mewslix": _rankings,
    "lareqa": _rankings,
}


def export_prediction_file(
    task: Task,
    language: str,
    source: str | Path,
    out_dir: str | Path,
    labels_dir: str | Path | None = None,
    *,
    expected_rows: int | None = None,
) -> tuple[Path, Path | None]:
    """Write one pipeline prediction file (and its gold) in the submission layout."""
    source = Path(source)
    fmt = file_format(task.name)
    if language not in fmt.languages:
        raise DataError(f"{source}: unknown language {language!r} for {fmt.task}; it has {', '.join(fmt.languages)}")
    rows = read_prediction_rows(source)
    if expected_rows is not None and len(rows) != expected_rows:
        raise DataError(f"{source}: {len(rows)} rows but the results store counts {expected_rows} {task.name} examples in {language!r}")
    predictions, references, names = CONVERTERS[fmt.layout](fmt, task, rows)
    try:
        written = write_submission(fmt.task, language, predictions, out_dir, label_names=names)
        gold = write_labels(fmt.task, language, references, labels_dir, label_names=names) if labels_dir is not None else None
    except DataError as err:
        raise DataError(f"{source}: {err}") from None
    return written, gold


def complete_benchmarks(exported: dict[str, set[str]]) -> tuple[str, ...]:
    """Benchmarks whose folder mode can score this export: each of their tasks that was exported
    has all its languages. Those scoring more exported tasks first."""
    covered: dict[str, int] = {}
    for name in suite_names():
        bench = get_suite(name)
        tasks = [t for t in exported if t in bench.languages]
        if tasks and all(set(bench.languages[t]) <= exported[t] for t in tasks):
            covered[name] = len(tasks)
    return tuple(sorted(covered, key=lambda name: -covered[name]))
