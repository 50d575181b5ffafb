"""Metric registry and the metrics of XTREME / XTREME-R, agreeing with google-research/xtreme.

A metric maps (predictions, references) of one task and language to named scores. The formats
are fixed per task kind:
  classification, multiple_choice: list[int] predicted / gold label indices
  tagging:                         list[list[str]] predicted / gold tag names per word
  span_extraction:                 dict[id, str] predicted answer / dict[id, list[str]] gold answers
  retrieval:                       dict[query id, list[candidate id]] ranked / dict[query id, list[gold id]]
`Metric.primary` names the headline score used in aggregates (scores are in [0, 100]).

Options. Some metrics need more than the two inputs: `mlqa` needs the answer language. A metric
declares the keyword options it understands (`Metric.options`) and which of them it cannot do
without (`Metric.required`); call it as `metric(predictions, references, language="zh")`. Options
a metric does not understand are ignored, so generic code may pass `language=` to every metric.
`Metric.bind(language="zh")` returns a metric with the option fixed.

Registered metrics and what the official scorer does that they reproduce:
  accuracy          percentage of labels equal to gold (XNLI, PAWS-X, XCOPA).
  f1_seqeval        seqeval (1.2.2, default non-strict IOB2 mode) micro F1/precision/recall over
                    chunks (PAN-X / WikiANN NER). An I- tag without a B- opens a chunk.
  f1_pos            UD-POS exactly as XTREME's evaluate.py scores it: the same seqeval chunk F1,
                    applied to bare UPOS tags. This is *not* token accuracy: seqeval reads the first
                    letter of a tag as its BIOES prefix and the rest as its type, so adjacent equal
                    tags (NOUN NOUN) merge into one chunk, "SYM"/"SCONJ" act as single-token chunks
                    (S-), "INTJ" continues a chunk (I-) and so on.
  squad             SQuAD v1.1 exact match and F1 (max over gold answers; XQuAD, TyDiQA-GoldP).
  mlqa              MLQA exact match and F1 with the answer language's normalisation; option
                    `language` (en, es, de, ar, hi, vi, zh) is required.
  bucc_f1           F1/precision/recall of predicted (source id, target id) pairs against gold
                    pairs, both taken as sets (duplicates collapse, pairs outside gold count as
                    false positives).
  tatoeba_accuracy  share of queries whose top candidate is gold (same as retrieval_accuracy);
                    XTREME and XTREME-R score Tatoeba identically, only their language lists differ.
  map_at_20         mean average precision at 20 (LAReQA; for Mewsli-X, with one gold each, it is
                    the official MRR@20).
Missing predictions: the QA scorers and Mewsli-X give a missing id a score of 0 and keep it in
the denominator (official behaviour); accuracy, tagging and Tatoeba need aligned predictions and
raise `DataError` otherwise, as the official script refuses mismatched line counts.
"""

from __future__ import annotations

import functools
import logging
import warnings
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.answer_normalization import (
    check_mlqa_language,
    normalize_mlqa,
    normalize_squad,
    token_f1,
)
from xstilts.kinds.pairs import Pairs, as_id_list, pair_f1
from xstilts.registry import Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Metric:
    name: str
    compute: Callable[..., dict[str, float]]
    primary: str
    description: str = ""
    options: tuple[str, ...] = ()  # keyword options `compute` understands
    required: tuple[str, ...] = ()  # options without which the metric cannot score

    def __call__(self, predictions: Any, references: Any, **options: Any) -> dict[str, float]:
        missing = [o for o in self.required if options.get(o) is None]
        if missing:
            raise ConfigError(f"metric {self.name!r} needs the option {missing[0]!r} (e.g. {missing[0]}=...)")
        used = {k: v for k, v in options.items() if k in self.options}
        return self.compute(predictions, references, **used)

    def bind(self, **options: Any) -> Metric:
        """This metric with some options fixed (later calls may not override them)."""
        unknown = [o for o in options if o not in self.options]
        if unknown:
            raise ConfigError(f"metric {self.name!r} has no option {unknown[0]!r}")
        return Metric(
            name=self.name,
            compute=functools.partial(self.compute, **options),
            primary=self.primary,
            description=self.description,
            options=tuple(o for o in self.options if o not in options),
            required=tuple(o for o in self.required if o not in options),
        )


METRICS: Registry[Metric] = Registry("metric")


def register(
    name: str, primary: str, description: str = "", options: Sequence[str] = (), required: Sequence[str] = ()
) -> Callable:
    def wrap(fn: Callable[..., dict[str, float]]) -> Callable:
        METRICS.register(name, Metric(name, fn, primary, description, tuple(options), tuple(required)))
        return fn

    return wrap


def get_metric(name: str) -> Metric:
    return METRICS.get(name)


def check_aligned(predictions: Sequence, references: Sequence, what: str = "predictions") -> None:
    if len(predictions) != len(references):
        raise DataError(f"{what}: {len(predictions)} predictions for {len(references)} gold examples")


def _check_not_empty(references: Sequence | Mapping, name: str) -> None:
    if not len(references):
        raise DataError(f"{name}: no examples to score")


# --- labels ---------------------------------------------------------------------------------


@register("accuracy", primary="accuracy", description="percentage of exactly right labels")
def accuracy(predictions: Sequence[Hashable], references: Sequence[Hashable]) -> dict[str, float]:
    check_aligned(predictions, references, "accuracy")
    _check_not_empty(references, "accuracy")
    right = sum(int(p == r) for p, r in zip(predictions, references))
    return {"accuracy": 100.0 * right / len(references)}


# --- tagging --------------------------------------------------------------------------------


@register("token_accuracy", primary="accuracy", description="percentage of words with the right tag (CCG supertagging)")
def token_accuracy(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    check_aligned(predictions, references, "token_accuracy")
    _check_not_empty(references, "token_accuracy")
    right = total = 0
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise DataError(f"token_accuracy: sentence {i} has {len(p)} predicted tags for {len(r)} gold tags")
        right += sum(a == b for a, b in zip(p, r))
        total += len(r)
    if total == 0:
        raise DataError("token_accuracy: the gold sentences have no words")
    return {"accuracy": 100.0 * right / total}


def _seqeval_scores(
    predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]], name: str
) -> dict[str, float]:
    from seqeval.metrics.sequence_labeling import precision_recall_fscore_support  # lazy: loads seqeval

    check_aligned(predictions, references, name)
    _check_not_empty(references, name)
    for i, (p, r) in enumerate(zip(predictions, references)):
        if len(p) != len(r):
            raise DataError(f"{name}: sentence {i} has {len(p)} predicted tags for {len(r)} gold tags")
        if not all(isinstance(t, str) for t in p) or not all(isinstance(t, str) for t in r):
            raise DataError(f"{name}: sentence {i} has a tag that is not a string (tags are names like 'B-PER')")
    preds, refs = [list(p) for p in predictions], [list(r) for r in references]
    with warnings.catch_warnings():
        # seqeval warns about tags without B-/I- prefixes (every UPOS tag) and about 0/0.
        warnings.simplefilter("ignore")
        precision, recall, f1, _ = precision_recall_fscore_support(refs, preds, average="micro")
    return {"f1": 100.0 * float(f1), "precision": 100.0 * float(precision), "recall": 100.0 * float(recall)}


@register("f1_seqeval", primary="f1", description="chunk-level micro F1 over BIO tags (seqeval), as XTREME")
def f1_seqeval(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    return _seqeval_scores(predictions, references, "f1_seqeval")


@register(
    "f1_pos",
    primary="f1",
    description="UD-POS as XTREME's evaluate.py scores it: seqeval chunk F1 over bare UPOS tags",
)
def f1_pos(predictions: Sequence[Sequence[str]], references: Sequence[Sequence[str]]) -> dict[str, float]:
    return _seqeval_scores(predictions, references, "f1_pos")


# --- extractive QA --------------------------------------------------------------------------


def _qa_scores(
    predictions: Mapping[str, str],
    references: Mapping[str, Sequence[str]],
    normalize: Callable[[str], str],
    name: str,
) -> dict[str, float]:
    _check_not_empty(references, name)
    exact = f1 = 0.0
    missing = 0
    for qid, golds in references.items():
        if isinstance(golds, str) or not golds:
            raise DataError(f"{name}: question {qid!r} has no gold answers (expected a non-empty list)")
        if qid not in predictions:
            missing += 1  # official: an unanswered question scores 0 and still counts
            continue
        predicted = predictions[qid]
        if not isinstance(predicted, str):
            raise DataError(f"{name}: prediction for {qid!r} should be a string, got {type(predicted).__name__}")
        predicted_norm = normalize(predicted)
        gold_norms = [normalize(g) for g in golds]
        exact += max(float(predicted_norm == g) for g in gold_norms)
        f1 += max(token_f1(predicted_norm.split(), g.split()) for g in gold_norms)
    if missing:
        log.warning("%s: %d of %d questions have no prediction and score 0", name, missing, len(references))
    return {"exact_match": 100.0 * exact / len(references), "f1": 100.0 * f1 / len(references)}


@register("squad", primary="f1", description="SQuAD v1.1 exact match and F1 (XQuAD, TyDiQA-GoldP)")
def squad(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    return _qa_scores(predictions, references, normalize_squad, "squad")


@register(
    "mlqa",
    primary="f1",
    description="MLQA exact match and F1 with the answer language's normalisation (option language=)",
    options=("language",),
    required=("language",),
)
def mlqa(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], language: str | None = None
) -> dict[str, float]:
    lang = check_mlqa_language(language)
    return _qa_scores(predictions, references, functools.partial(normalize_mlqa, language=lang), "mlqa")


# --- retrieval ------------------------------------------------------------------------------


@register("bucc_f1", primary="f1", description="F1 of mined (source, target) pairs against gold pairs")
def bucc_f1(predictions: Pairs, references: Pairs) -> dict[str, float]:
    return pair_f1(predictions, references)


def _top1_accuracy(
    predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]], name: str
) -> dict[str, float]:
    _check_not_empty(references, name)
    right = 0
    for query, gold in references.items():
        if query not in predictions:
            raise DataError(f"{name}: no prediction for query {query!r}")
        ranked = as_id_list(predictions[query], query, name)
        right += int(bool(ranked) and ranked[0] in as_id_list(gold, query, name))
    return {"accuracy": 100.0 * right / len(references)}


@register("retrieval_accuracy", primary="accuracy", description="share of queries whose top candidate is gold")
def retrieval_accuracy(
    predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    return _top1_accuracy(predictions, references, "retrieval_accuracy")


@register(
    "tatoeba_accuracy",
    primary="accuracy",
    description="Tatoeba: share of sentences whose nearest neighbour is their translation (XTREME and XTREME-R)",
)
def tatoeba_accuracy(
    predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    return _top1_accuracy(predictions, references, "tatoeba_accuracy")


def average_precision_at_k(gold: Iterable[str], ranked: Sequence[str], k: int) -> float:
    """AP@k: mean of precision@i over the ranks i <= k holding a gold id (repeats count once),
    divided by min(|gold|, k). With a single gold id this is the reciprocal rank (0 beyond k)."""
    targets = set(gold)
    if not targets:
        return 0.0
    seen: set[str] = set()
    hits = 0
    total = 0.0
    for rank, candidate in enumerate(ranked[:k], start=1):
        if candidate in targets and candidate not in seen:
            hits += 1
            total += hits / rank
        seen.add(candidate)
    return total / min(len(targets), k)


def mean_average_precision_at_k(
    predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]], k: int, name: str
) -> float:
    _check_not_empty(references, name)
    total = 0.0
    missing = 0
    for query, gold in references.items():
        gold_ids = as_id_list(gold, query, name)
        if not gold_ids:
            raise DataError(f"{name}: query {query!r} has no gold ids")
        if query not in predictions:
            missing += 1  # official (Mewsli-X): a query without predictions scores 0
            continue
        total += average_precision_at_k(gold_ids, as_id_list(predictions[query], query, name), k)
    if missing:
        log.warning("%s: %d of %d queries have no prediction and score 0", name, missing, len(references))
    return total / len(references)


@register("map_at_20", primary="map@20", description="mean average precision at 20 (LAReQA, Mewsli-X MRR@20)")
def map_at_20(predictions: Mapping[str, Sequence[str]], references: Mapping[str, Sequence[str]]) -> dict[str, float]:
    return {"map@20": 100.0 * mean_average_precision_at_k(predictions, references, 20, "map_at_20")}
