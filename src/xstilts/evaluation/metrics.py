"""Metric registry.

A metric maps (predictions, references) of one task and language to named scores. The formats
are fixed per task kind:
  classification, multiple_choice: list[int] predicted / gold label indices
  tagging:                         list[list[str]] predicted / gold tag names per word
  span_extraction:                 dict[id, str] predicted answer / dict[id, list[str]] gold answers
  retrieval:                       dict[query id, list[candidate id]] ranked / dict[query id, list[gold id]]
`Metric.primary` names the headline score used in aggregates (scores are in [0, 100]).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from xstilts.errors import DataError
from xstilts.registry import Registry


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[[Any, Any], dict[str, float]]
    primary: str
    description: str = ""

    def __call__(self, predictions: Any, references: Any) -> dict[str, float]:
        return self.compute(predictions, references)


METRICS: Registry[Metric] = Registry("metric")


def register(name: str, primary: str, description: str = "") -> Callable:
    def wrap(fn: Callable[[Any, Any], dict[str, float]]) -> Callable:
        METRICS.register(name, Metric(name, fn, primary, description))
        return fn

    return wrap


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def check_aligned(predictions: Sequence, references: Sequence, what: str = "predictions") -> None:
    if len(predictions) != len(references):
        raise DataError(f"{what}: {len(predictions)} predictions for {len(references)} gold examples")


@register("accuracy", primary="accuracy", description="percentage of exactly right labels")
def accuracy(predictions: Sequence[int], references: Sequence[int]) -> dict[str, float]:
    check_aligned(predictions, references)
    if not references:
        raise DataError("accuracy: no examples to score")
    right = sum(int(p == r) for p, r in zip(predictions, references))
    return {"accuracy": 100.0 * right / len(references)}


@register("f1_seqeval", primary="f1", description="entity-level F1 over BIO chunks (seqeval), as XTREME")
def f1_seqeval(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    import warnings

    from seqeval.metrics import f1_score, precision_score, recall_score

    check_aligned(predictions, references)
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise DataError(f"f1_seqeval: sentence {i} has {len(p)} predicted tags for {len(r)} gold tags")
    preds, refs = [list(p) for p in predictions], [list(r) for r in references]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on tags without B-/I- prefixes (POS)
        return {
            "f1": 100.0 * float(f1_score(refs, preds)),
            "precision": 100.0 * float(precision_score(refs, preds)),
            "recall": 100.0 * float(recall_score(refs, preds)),
        }


@register("tatoeba_accuracy", primary="accuracy", description="share of queries whose nearest candidate is gold")
def retrieval_accuracy(predictions: dict[str, list[str]], references: dict[str, list[str]]) -> dict[str, float]:
    missing = [q for q in references if q not in predictions]
    if missing:
        raise DataError(f"retrieval_accuracy: no prediction for query {missing[0]!r}")
    right = sum(int(bool(predictions[q]) and predictions[q][0] in gold) for q, gold in references.items())
    return {"accuracy": 100.0 * right / len(references)}


# XTREME scores UD-POS with the same seqeval F1 applied to the raw POS tags.
METRICS.register("f1_pos", Metric("f1_pos", f1_seqeval, "f1", "seqeval F1 on raw POS tags, as XTREME's evaluate.py"))
