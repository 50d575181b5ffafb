"""Export one grid cell's predictions in the XTREME / XTREME-R submission layout.

A cell is one model x intermediate condition x seed of a spec; its evaluate stages (one per
target task) wrote their predictions beside the results store. `select_cell` reads the cell from
the store; `export_cell` writes each stage's files with `xstilts.evaluation.export` (the layouts
are described there), plus a manifest recording the split of every language.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import ConfigError, DataError, unknown_name
from xstilts.evaluation.export import complete_benchmarks, export_prediction_file
from xstilts.evaluation.stage_predictions import language_of
from xstilts.evaluation.submission import FileFormat, file_format
from xstilts.experiments.store import ResultsStore, store_path
from xstilts.io import atomic_dir, atomic_write_json
from xstilts.tasks import get_task

MANIFEST = "xstilts-export.json"


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


def select_cell(
    results: str | Path,
    spec: str | None = None,
    model: str | None = None,
    condition: str | None = None,
    seed: int | None = None,
) -> Cell:
    """The cell's evaluate stages and stored scores; a choice left out must be unambiguous."""
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
