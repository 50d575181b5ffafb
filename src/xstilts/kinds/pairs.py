"""Scoring mined (source id, target id) pairs against gold pairs: BUCC's F1.

One definition for both users: the `bucc_f1` metric (`xstilts.evaluation.metrics`) and the BUCC
procedure of the retrieval kind, which scores its dev and test pairs with it and sits below
evaluation. Torch-free, so the metrics stay light to import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from xstilts.errors import DataError

Pairs = Mapping[str, Sequence[str]] | Iterable[tuple[str, str]]


def as_id_list(value: Any, query: str, name: str) -> Sequence[str]:
    """`value`, a list of ids for `query`; a DataError naming the metric `name` otherwise."""
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise DataError(f"{name}: entry for {query!r} should be a list of ids, got {type(value).__name__}")
    return value


def pair_set(pairs: Pairs) -> set[tuple[str, str]]:
    """(source id, target id) pairs from a retrieval mapping or from an iterable of pairs."""
    if isinstance(pairs, Mapping):
        return {(src, trg) for src, trgs in pairs.items() for trg in as_id_list(trgs, src, "bucc_f1")}
    result = set()
    for pair in pairs:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise DataError(f"bucc_f1: expected (source id, target id) pairs, got {pair!r}")
        result.add((pair[0], pair[1]))
    return result


def pair_f1(predictions: Pairs, references: Pairs) -> dict[str, float]:
    """F1, precision and recall (0..100) of the predicted pairs against the gold ones."""
    predicted, gold = pair_set(predictions), pair_set(references)
    correct = len(predicted & gold)
    if correct == 0:
        return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
    precision = correct / len(predicted)
    recall = correct / len(gold)
    f1 = 2 * precision * recall / (precision + recall)
    return {"f1": 100.0 * f1, "precision": 100.0 * precision, "recall": 100.0 * recall}
