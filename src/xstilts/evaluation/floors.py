"""The score of a model that learned nothing: the best trivial predictor of a task's examples.

A stage whose English dev score does not rise above this floor (or above chance) did not learn;
`xstilts.experiments.stages` flags it. The floor is the task's own metric on constant predictions,
computed from the gold answers of the examples (the English dev set), per kind:

  classification     every example gets the most frequent gold label (majority class)
  multiple choice    every example gets the most frequent gold choice position (e.g. always "A")
  tagging            every word gets the most frequent gold tag (all-majority-tag; for NER chunk
                     F1 that is all "O", F1 0)
  span extraction    the better of an empty answer for every question and the first word of every
                     context: the answers of a model that points at a fixed position
  retrieval          none (not trained)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from xstilts.evaluation.metrics import get_metric
from xstilts.kinds import handler_for
from xstilts.tasks.base import Example, Task, TaskKind


def majority_predictions(task: Task, examples: Sequence[Example]) -> list:
    """Constant predictions of a kind (see the module docstring), in the metric's format; for
    span extraction, one list per trivial answerer."""
    references = handler_for(task).references(examples, task)
    if task.kind in (TaskKind.CLASSIFICATION, TaskKind.MULTIPLE_CHOICE):
        label = Counter(references).most_common(1)[0][0]
        return [[label] * len(references)]
    if task.kind is TaskKind.TAGGING:
        tag = Counter(t for row in references for t in row).most_common(1)[0][0]
        return [[[tag] * len(row) for row in references]]
    if task.kind is TaskKind.SPAN_EXTRACTION:
        empty = {ex["id"]: "" for ex in examples}
        first_word = {ex["id"]: (ex["context"].split() or [""])[0] for ex in examples}
        return [empty, first_word]
    return []


def majority_score(task: Task, examples: Sequence[Example], language: str = "en") -> float | None:
    """The task's primary metric of its best trivial predictor on `examples` (0..100); None for
    kinds without one (retrieval) or no examples."""
    if not examples:
        return None
    candidates = majority_predictions(task, examples)
    if not candidates:
        return None
    metric = get_metric(task.metric)
    references = handler_for(task).references(examples, task)
    return max(metric(p, references, language=language)[metric.primary] for p in candidates)
