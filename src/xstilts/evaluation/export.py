"""Export one grid cell's predictions in the XTREME / XTREME-R submission layout.

A cell is one model x intermediate condition x seed of a spec; its evaluate stages (one per
target task) wrote `<output>/stages/<stage id>/predictions/<lang>.jsonl` (see
`stage_predictions`). `export_cell` turns them into `<dir>/<task>/test-<lang>.<ext>` as
google-research/xtreme's evaluate.py reads them, and optionally the matching gold folder, so that

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

import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import ConfigError, DataError, unknown_name
from xstilts.evaluation.stage_predictions import PredictionRows, language_of, read_prediction_rows
from xstilts.evaluation.submission import FileFormat, file_format, write_labels, write_submission
from xstilts.io import atomic_dir, atomic_write_json
from xstilts.tasks.base import Task

log = logging.getLogger(__name__)

MANIFEST = "xstilts-export.json"
# Task folders google-research/xtreme's evaluate.py lists without languages: it gives them no score,
# and with --xtreme_version xtreme-r and every other task present it stops (KeyError 'avg_metric').
OFFICIAL_SCRIPT_UNSCORED = ("lareqa",)
STORE_NAME = "results.sqlite"  # as experiments.runner names it


# --- one prediction file ----------------------------------------------------------------------

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


# --- the cell ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LanguageResult:
    split: str
    n_examples: int
    scores: dict[str, float]


@dataclass(frozen=True)
class TargetStage:
    stage_id: str
    target: str
    status: str
    languages: dict[str, LanguageResult]


@dataclass(frozen=True)
class Cell:
    store: Path
    spec: str
    model: str
    condition: str
    seed: int
    stages: list[TargetStage]

    @property
    def label(self) -> str:
        return f"{self.model} / {self.condition} / seed {self.seed}"


@dataclass
class ExportResult:
    cell: Cell
    predictions_dir: Path
    labels_dir: Path | None
    files: dict[str, dict[str, str]] = field(default_factory=dict)  # task folder -> language -> file
    splits: tuple[str, ...] = ()
    benchmarks: tuple[str, ...] = ()  # benchmarks whose folder mode scores this export completely


def store_path(results: str | Path) -> Path:
    """results.sqlite, or the experiment output folder holding it."""
    results = Path(results)
    path = results / STORE_NAME if results.is_dir() else results
    if not path.is_file():
        raise DataError(f"{path}: no results store (expected {STORE_NAME} or the experiment's output folder)")
    return path


def select_cell(
    results: str | Path,
    spec: str | None = None,
    model: str | None = None,
    condition: str | None = None,
    seed: int | None = None,
) -> Cell:
    """The cell's evaluate stages and stored scores; a choice left out must be unambiguous."""
    from xstilts.experiments.store import ResultsStore

    path = store_path(results)
    store = ResultsStore.open_readonly(path)
    try:
        spec = _choose_spec(store, path, spec)
        cells = store.cells_frame(spec)
        scores = store.scores_frame(spec)
    finally:
        store.close()
    evaluations = cells[cells["kind"] == "evaluate"]
    if evaluations.empty:
        raise DataError(f"{path}: spec {spec!r} has no evaluate stages")
    chosen: dict[str, Any] = {}
    for column, wanted in (("model", model), ("condition", condition), ("seed", seed)):
        values = sorted(set(evaluations[column].tolist()))
        if wanted is None:
            if len(values) > 1:
                shown = ", ".join(str(v) for v in values)
                raise ConfigError(f"{path}: spec {spec!r} has several {column}s ({shown}); choose one with --{column}")
            wanted = values[0]
        elif wanted not in values:
            raise unknown_name(column, str(wanted), [str(v) for v in values], where=f"{path} spec {spec!r}")
        chosen[column] = wanted
        evaluations = evaluations[evaluations[column] == wanted]
    stages = [
        TargetStage(row.stage_id, row.target, row.status, _languages(scores, row.stage_id))
        for row in evaluations.sort_values("target").itertuples()
    ]
    cell = Cell(path, spec, chosen["model"], chosen["condition"], int(chosen["seed"]), stages)
    unfinished = [s for s in stages if s.status != "done"]
    if unfinished:
        s = unfinished[0]
        raise DataError(
            f"{path}: the {s.target} evaluation (stage {s.stage_id}) of cell {cell.label} is {s.status}; "
            f"{len(unfinished)} of {len(stages)} evaluate stages are not done (run the spec to finish the cell)"
        )
    return cell


def _choose_spec(store: Any, path: Path, spec: str | None) -> str:
    names = store.spec_names()
    if spec is not None:
        if spec not in names:
            raise unknown_name("spec", spec, names, where=str(path))
        return spec
    if not names:
        raise DataError(f"{path}: the results store has no grid (no spec was run with it)")
    if len(names) > 1:
        raise ConfigError(f"{path}: holds several specs ({', '.join(names)}); choose one with --spec")
    return names[0]


def _languages(scores: Any, stage_id: str) -> dict[str, LanguageResult]:
    out: dict[str, LanguageResult] = {}
    for language, group in scores[scores["stage_id"] == stage_id].groupby("language", sort=True):
        out[str(language)] = LanguageResult(
            split=str(group["split"].iloc[0]),
            n_examples=int(group["n_examples"].iloc[0]),
            scores={str(m): float(v) for m, v in zip(group["metric"], group["value"])},
        )
    return out


def predictions_dir(cell: Cell, stage: TargetStage) -> Path:
    return cell.store.parent / "stages" / stage.stage_id / "predictions"


def _stage_files(cell: Cell, stage: TargetStage, fmt: FileFormat) -> dict[str, Path]:
    """language -> prediction file, checked against the languages the store scored."""
    folder = predictions_dir(cell, stage)
    if not folder.is_dir():
        raise DataError(f"{folder}: not found (predictions of the {stage.target} evaluation, stage {stage.stage_id})")
    files: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or path.suffix != ".jsonl":
            continue
        language = language_of(path)
        if language not in fmt.languages:
            raise DataError(f"{path}: unknown language {language!r} for {fmt.task}; it has {', '.join(fmt.languages)}")
        if language not in stage.languages:
            raise DataError(f"{path}: the results store has no {stage.target} scores in {language!r} for stage {stage.stage_id}")
        files[language] = path
    for language in stage.languages:
        if language not in files:
            raise DataError(f"{folder / f'{language}.jsonl'}: file not found (stage {stage.stage_id} stored {stage.target} scores in {language!r})")
    return files


def export_cell(
    results: str | Path,
    out_dir: str | Path,
    labels_dir: str | Path | None = None,
    *,
    spec: str | None = None,
    model: str | None = None,
    condition: str | None = None,
    seed: int | None = None,
) -> ExportResult:
    """Write the cell's predictions (and gold, with `labels_dir`) in the submission layout.

    Both folders are built completely, then moved into place; an existing non-empty folder is
    never overwritten.
    """
    from xstilts.tasks import get_task

    cell = select_cell(results, spec, model, condition, seed)
    out = Path(out_dir)
    gold_out = Path(labels_dir) if labels_dir is not None else None
    for folder in (out, gold_out):
        if folder is not None and folder.exists() and not folder.is_dir():
            raise DataError(f"{folder}: is a file, not a folder; choose a new folder")
        if folder is not None and folder.exists() and any(folder.iterdir()):
            raise DataError(f"{folder}: already exists and is not empty; choose a new folder")
    if gold_out is not None and gold_out.resolve() == out.resolve():
        raise ConfigError(f"{out}: predictions and labels need different folders")
    result = ExportResult(cell, out, gold_out)
    plan = []
    for stage in cell.stages:
        task = get_task(stage.target)
        fmt = file_format(task.name)
        plan.append((stage, task, fmt, _stage_files(cell, stage, fmt)))
    gold_context = atomic_dir(gold_out) if gold_out is not None else contextlib.nullcontext(None)
    with atomic_dir(out) as tmp_out, gold_context as tmp_gold:
        for stage, task, fmt, files in plan:
            for language, path in files.items():
                expected = stage.languages[language].n_examples
                written, _ = export_prediction_file(task, language, path, tmp_out, tmp_gold, expected_rows=expected)
                result.files.setdefault(fmt.task, {})[language] = str(out / written.relative_to(tmp_out))
        result.splits = tuple(sorted({r.split for s in cell.stages for r in s.languages.values()}))
        result.benchmarks = complete_benchmarks({t: set(langs) for t, langs in result.files.items()})
        atomic_write_json(tmp_out / MANIFEST, manifest(result, plan))
    return result


def complete_benchmarks(exported: dict[str, set[str]]) -> tuple[str, ...]:
    """Benchmarks whose folder mode can score this export: each of their tasks that was exported
    has all its languages. Those scoring more exported tasks first."""
    from xstilts.tasks.suites import get_suite, suite_names

    covered: dict[str, int] = {}
    for name in suite_names():
        bench = get_suite(name)
        tasks = [t for t in exported if t in bench.languages]
        if tasks and all(set(bench.languages[t]) <= exported[t] for t in tasks):
            covered[name] = len(tasks)
    return tuple(sorted(covered, key=lambda name: -covered[name]))


def manifest(result: ExportResult, plan: list) -> dict[str, Any]:
    cell = result.cell
    return {
        "what": "xstilts predictions of one grid cell in the XTREME submission layout",
        "store": str(cell.store),
        "spec": cell.spec,
        "model": cell.model,
        "condition": cell.condition,
        "seed": cell.seed,
        "splits": list(result.splits),
        "note": "files are named test-<lang> as the layout requires; 'split' says which split each holds",
        "score_with": list(result.benchmarks),
        "tasks": {
            fmt.task: {
                "xstilts_task": task.name,
                "stage_id": stage.stage_id,
                "metric": task.metric,
                "languages": {
                    lang: {"split": r.split, "n_examples": r.n_examples, "stored_scores": r.scores}
                    for lang, r in stage.languages.items()
                },
            }
            for stage, task, fmt, _ in plan
        },
    }
