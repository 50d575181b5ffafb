"""The score of a model that learned nothing: the best trivial predictor of a task's examples.

A stage whose English dev score does not rise above this floor (or above chance) did not learn;
`xstilts.experiments.stages` flags it. The floor is the task's own metric on constant predictions,
computed from the gold answers of the examples (the English dev set), per kind (each kind's
`trivial_predictions`, in `xstilts.kinds`):

  classification     every example gets the most frequent gold label (majority class)
  multiple choice    every example gets the most frequent gold choice position (e.g. always "A")
  tagging            every word gets the most frequent gold tag (all-majority-tag; for NER chunk
                     F1 that is all "O", F1 0)
  span extraction    the better of an empty answer for every question and the first word of every
                     context: the answers of a model that points at a fixed position
  retrieval          none (not trained)
"""

from __future__ import annotations

from collections.abc import Sequence

from xstilts.evaluation.metrics import get_metric
from xstilts.kinds import handler_for
from xstilts.tasks.base import Example, Task


def majority_predictions(task: Task, examples: Sequence[Example]) -> list:
    """Constant predictions of a kind (see the module docstring), in the metric's format, one list
    per trivial predictor (`KindHandler.trivial_predictions`)."""
    return handler_for(task).trivial_predictions(examples, task)


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
