"""Per-example scores for confidence intervals over test examples.

Metrics that are means over examples (accuracy, SQuAD/MLQA EM-F1, retrieval accuracy, mAP@k) give
one score per example: the metric applied to that example alone. Chunk F1 (seqeval) is not a mean,
so tagging gives per-sentence (true positive, false positive, false negative) chunk counts, from
which any resample's micro F1 is recomputed exactly.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from xstilts.evaluation.metrics import Metric

MEAN_METRICS = frozenset({"accuracy", "squad", "mlqa", "tatoeba_accuracy", "retrieval_accuracy", "map_at_20"})
CHUNK_METRICS = frozenset({"f1_seqeval", "f1_pos"})


def per_example_scores(metric: Metric, predictions: Any, references: Any, language: str) -> list[Any] | None:
    """One score (or one [tp, fp, fn] triple for chunk F1) per example, in reference order."""
    if metric.name in MEAN_METRICS:
        if isinstance(references, Mapping):
            return [
                metric({k: predictions[k]} if k in predictions else {}, {k: gold}, language=language)[metric.primary]
                for k, gold in references.items()
            ]
        return [metric([p], [r], language=language)[metric.primary] for p, r in zip(predictions, references)]
    if metric.name in CHUNK_METRICS:
        return [chunk_counts(p, r) for p, r in zip(predictions, references)]
    return None


def chunk_counts(predicted: Sequence[str], gold: Sequence[str]) -> list[int]:
    from seqeval.metrics.sequence_labeling import get_entities  # lazy: loads seqeval

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, g = set(get_entities(list(predicted))), set(get_entities(list(gold)))
    tp = len(p & g)
    return [tp, len(p) - tp, len(g) - tp]
