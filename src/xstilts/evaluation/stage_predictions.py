"""The pipeline's own prediction files: `<output>/stages/<stage id>/predictions/<lang>.jsonl`.

An evaluate stage writes one JSON object per line, in the order of the metric's references:
  {"index": i, "prediction": ..., "gold": ..., "score": ...}   list-shaped metrics (classification,
                                                               multiple choice: label indices;
                                                               tagging: tag-name lists)
  {"id": key, "prediction": ..., "gold": ..., "score": ...}    mapping-shaped metrics (QA: answer
                                                               text / gold texts; retrieval: ranked
                                                               ids / gold ids)
"score" (per-example score) is optional. The gold is inside the file, so such a file can be
scored on its own with the task's metric, and gives the number the stage stored.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.data.loading import all_languages
from xstilts.errors import DataError, UnknownNameError
from xstilts.evaluation.metrics import get_metric
from xstilts.io import DuplicateKey, duplicate_key_error, loads_unique, read_utf8
from xstilts.tasks import get_task
from xstilts.tasks.suites import canonical_task

KEYS = ("index", "id")


@dataclass(frozen=True)
class PredictionRows:
    path: Path
    keyed: bool  # rows carry "id" (mapping-shaped metric) rather than "index"
    ids: tuple[str, ...]  # the "id" of every row (empty when not keyed)
    predictions: tuple[Any, ...]
    gold: tuple[Any, ...]

    def __len__(self) -> int:
        return len(self.gold)

    def metric_inputs(self) -> tuple[Any, Any]:
        """(predictions, references) in the metric's format, as the stage scored them."""
        if self.keyed:
            predictions = {k: p for k, p in zip(self.ids, self.predictions) if p is not None}
            return predictions, dict(zip(self.ids, self.gold))
        return list(self.predictions), list(self.gold)


def read_prediction_rows(path: str | Path) -> PredictionRows:
    """Read and check one pipeline prediction file; one-line `DataError` naming file and line."""
    path = Path(path)
    keyed: bool | None = None
    ids: list[str] = []
    seen: set[str] = set()
    predictions: list[Any] = []
    gold: list[Any] = []
    for number, row in _rows(path):
        row_keyed = _row_key(row, path, number)
        if keyed is None:
            keyed = row_keyed
        elif keyed != row_keyed:
            raise DataError(f"{path} line {number}: mixes {KEYS[row_keyed]!r} rows with {KEYS[keyed]!r} rows")
        if keyed:
            key = row["id"]
            if not isinstance(key, str):
                raise DataError(f"{path} line {number}: \"id\" should be a string, got {json.dumps(key)}")
            if key in seen:
                raise DataError(f"{path} line {number}: id {key!r} occurs twice")
            seen.add(key)
            ids.append(key)
        elif row["index"] != len(gold):
            raise DataError(f"{path} line {number}: \"index\" is {json.dumps(row['index'])}, expected {len(gold)} (rows in order)")
        predictions.append(row["prediction"])
        gold.append(row["gold"])
    if keyed is None:
        raise DataError(f"{path}: no predictions (empty file)")
    return PredictionRows(path, keyed, tuple(ids), tuple(predictions), tuple(gold))


def _rows(path: Path) -> list[tuple[int, dict]]:
    text = read_utf8(path)
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise DataError(f"{path} line {number}: empty line")
        try:
            row = loads_unique(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number}: malformed JSON: {err.msg}") from None
        except DuplicateKey as err:
            raise duplicate_key_error(f"{path} line {number}", err) from None
        if not isinstance(row, dict):
            raise DataError(f"{path} line {number}: expected a JSON object with \"prediction\" and \"gold\"")
        rows.append((number, row))
    return rows


def _row_key(row: dict, path: Path, number: int) -> bool:
    """Whether the row is keyed by "id" (True) or by "index" (False); checks the fields."""
    missing = [field for field in ("prediction", "gold") if field not in row]
    if missing:
        raise DataError(f"{path} line {number}: no {missing[0]!r} field (a pipeline prediction row has prediction and gold)")
    has = [key in row for key in KEYS]
    if has.count(True) != 1:
        raise DataError(f"{path} line {number}: expected exactly one of \"index\" and \"id\"")
    return has[1]


def is_prediction_rows_file(path: str | Path) -> bool:
    """Whether `path` looks like a pipeline prediction file (JSON lines with prediction and gold)
    rather than an official submission file (XCOPA's .jsonl rows have "label")."""
    path = Path(path)
    if path.suffix != ".jsonl" or not path.is_file():
        return False
    try:
        with path.open("rb") as f:  # only the first line: a bad byte further on is read_prediction_rows' to report
            first = f.readline().decode("utf-8-sig")
        row = json.loads(first)
    except RecursionError:
        return True  # JSON no reader can parse: read_prediction_rows names the file and line
    except (UnicodeDecodeError, json.JSONDecodeError, OSError):
        return False
    return isinstance(row, dict) and "prediction" in row and "gold" in row


def pipeline_task(name: str) -> Any:
    """The xstilts task of a name: its registered name, or an XTREME spelling of it ('PAWS-X')."""

    try:
        return get_task(name)
    except UnknownNameError as not_registered:
        try:
            return get_task(canonical_task(name))
        except UnknownNameError:
            raise not_registered from None


def language_of(path: Path) -> str:
    """`<lang>.jsonl` -> lang."""
    return path.name.split(".", 1)[0]


def score_prediction_rows(task: str, path: str | Path, language: str | None = None) -> dict[str, float]:
    """Score a pipeline prediction file with its task's metric (the gold is in the file).

    The language defaults to the file's name (`<lang>.jsonl`) and must be one of the task's.
    """

    declared = pipeline_task(task)
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    language = language or language_of(path)
    if language not in all_languages(declared):
        raise DataError(f"{path}: unknown language {language!r} for {declared.name}; it has {', '.join(all_languages(declared))}")
    rows = read_prediction_rows(path)
    predictions, references = rows.metric_inputs()
    try:
        return get_metric(declared.metric)(predictions, references, language=language)
    except DataError as err:
        raise DataError(f"{path}: {err}") from None
    except (TypeError, AttributeError, KeyError) as err:
        raise DataError(
            f"{path}: predictions do not fit {declared.name}'s metric {declared.metric} ({type(err).__name__}: {err})"
        ) from None
