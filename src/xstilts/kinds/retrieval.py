"""Retrieval (Tatoeba, BUCC, LAReQA, Mewsli-X): sentences embedded by pooling one hidden layer of
the backbone, no head and no training.

Examples: {"id": str, "text": str, "side": "query" | "candidate", "gold": list[str]}: queries
(`gold` = ids of their correct candidates) and candidates (`gold` = []); a candidate may have a
`context` (LAReQA: its paragraph). What is searched, and how, is the procedure of the task's *metric* (the official
one for each task), not of the task's name:

  tatoeba_accuracy  XTREME's direction: every English sentence (a candidate that is some query's
                    gold) takes its cosine nearest neighbour among the other-language sentences
                    (the queries); predictions and references are keyed by the English id
                    ({english id: [nearest query id]} / {english id: [its translation's id]}),
                    exactly `retrieval_search.tatoeba_predictions(source, english)`.
  map_at_20,        each query ranks the candidates by cosine, the best 20 kept (LAReQA,
  retrieval_accuracy  Mewsli-X; Mewsli-X's official search is inner product with normalised
                    candidates, the same ranking as cosine).
  bucc_f1           BUCC's mining: queries are the source sentences, candidates the English ones;
                    ratio-margin "max" mining, threshold chosen for the best F1 on the gold pairs
                    of the task's dev split, applied to the evaluated split
                    (`retrieval_search.bucc_evaluate`). Predictions: {source id: [target ids]}.

BUCC's threshold. Decoding one split cannot see another, so the dev split comes in as
`calibration`: the dev examples with their embeddings, made by the same model, layer and pooling.
`calibration_split(task)` names the split (the task's dev_split) and `evaluation.predict.evaluate`
loads it for the same language (`data.loading.load_examples`, with the spec's data_dir), embeds
it, turns it into `calibration(...)` and passes that to `decode`.

The search itself (cosine k-NN, margin mining) is `xstilts.kinds.retrieval_search` (torch),
imported where a procedure runs. Evaluating the dev split itself tunes the threshold on the split it
scores, an optimistic number.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from xstilts.data.formatting import InputFormat, truncate_pair
from xstilts.errors import ConfigError, DataError
from xstilts.kinds.base import Batch, Feature, FeaturizeOptions, Fields, KindHandler, register_kind
from xstilts.tasks.base import Example, Task, TaskKind

if TYPE_CHECKING:
    import torch
    from torch import nn

log = logging.getLogger(__name__)

TOP_K = 20


@dataclass(frozen=True)
class Embedded:
    """Retrieval examples with one embedding per example (row i belongs to example i)."""

    examples: Sequence[Example]
    embeddings: torch.Tensor

    def side(self, name: str) -> tuple[list[Example], torch.Tensor]:
        rows = [i for i, ex in enumerate(self.examples) if ex["side"] == name]
        return [self.examples[i] for i in rows], self.embeddings[rows]


def gold_of_queries(examples: Sequence[Example]) -> dict[str, list[str]]:
    return {ex["id"]: list(ex["gold"]) for ex in examples if ex["side"] == "query"}


def queries_of_gold_candidates(examples: Sequence[Example]) -> dict[str, list[str]]:
    """{candidate id: ids of the queries whose gold it is}, candidates in example order."""
    pointing: dict[str, list[str]] = {}
    for ex in examples:
        if ex["side"] == "query":
            for candidate_id in ex["gold"]:
                pointing.setdefault(candidate_id, []).append(ex["id"])
    return {ex["id"]: pointing[ex["id"]] for ex in examples if ex["side"] == "candidate" and ex["id"] in pointing}


def _ids(examples: Sequence[Example]) -> list[str]:
    return [ex["id"] for ex in examples]


# --- the procedures ---------------------------------------------------------------------------


def nearest_query_of_english(data: Embedded, calibration: Embedded | None, task: Task) -> dict[str, list[str]]:
    """Tatoeba: each gold candidate (English sentence) -> [its cosine nearest query]."""
    from xstilts.kinds.retrieval_search import tatoeba_predictions  # deferred: torch

    queries, query_emb = data.side("query")
    candidates, candidate_emb = data.side("candidate")
    if not queries:
        raise DataError(f"{task.name}: no queries to retrieve among")
    paired = queries_of_gold_candidates(data.examples)
    english = [i for i, ex in enumerate(candidates) if ex["id"] in paired]
    nearest = tatoeba_predictions(query_emb, candidate_emb[english])
    query_ids = _ids(queries)
    return {candidates[i]["id"]: [query_ids[j]] for i, j in zip(english, nearest)}


def ranked_candidates(data: Embedded, calibration: Embedded | None, task: Task) -> dict[str, list[str]]:
    """Each query -> its TOP_K candidates by cosine, best first."""
    from xstilts.kinds.retrieval_search import rank_candidates  # deferred: torch

    queries, query_emb = data.side("query")
    candidates, candidate_emb = data.side("candidate")
    if not candidates:
        raise DataError(f"{task.name}: no candidates to rank")
    return rank_candidates(query_emb, candidate_emb, _ids(queries), _ids(candidates), k=min(TOP_K, len(candidates)))


def mined_pairs(data: Embedded, calibration: Embedded | None, task: Task) -> dict[str, list[str]]:
    """BUCC: each query (source sentence) -> the English ids mined for it (at most one)."""
    from xstilts.kinds.retrieval_search import bucc_evaluate  # deferred: torch

    if calibration is None:
        raise ConfigError(
            f"{task.name}: {task.metric} mines with a threshold chosen on the {task.dev_split!r} split's gold pairs; "
            "decode needs that split's embedded examples (calibration=), which evaluation.predict.evaluate provides"
        )
    dev = _bucc_split(calibration, with_gold=True)
    if not any(dev.gold.values()):
        raise DataError(f"{task.name}: the {task.dev_split!r} split has no gold pairs to choose the mining threshold on")
    result = bucc_evaluate(dev, _bucc_split(data, with_gold=False))
    log.info(
        "%s: mining threshold %.6f (dev F1 %.2f), %d pairs mined", task.name, result.threshold, result.dev_scores["f1"], len(result.test_pairs)
    )
    predictions: dict[str, list[str]] = {ex["id"]: [] for ex in data.examples if ex["side"] == "query"}
    for source_id, target_id in result.test_pairs:
        predictions[source_id].append(target_id)
    return predictions


def _bucc_split(data: Embedded, with_gold: bool) -> Any:
    from xstilts.kinds.retrieval_search import BuccSplit  # deferred: torch

    sources, source_emb = data.side("query")
    targets, target_emb = data.side("candidate")
    return BuccSplit(
        source_ids=_ids(sources), source_texts=[ex["text"] for ex in sources], source_embeddings=source_emb,
        target_ids=_ids(targets), target_texts=[ex["text"] for ex in targets], target_embeddings=target_emb,
        gold=gold_of_queries(sources) if with_gold else None,
    )


def _chance_one_of_queries(examples: Sequence[Example]) -> float | None:
    n = sum(ex["side"] == "query" for ex in examples)
    return 100.0 / max(n, 1)


def _chance_one_of_candidates(examples: Sequence[Example]) -> float | None:
    n = sum(ex["side"] == "candidate" for ex in examples)
    return 100.0 / max(n, 1)


@dataclass(frozen=True)
class Procedure:
    decode: Callable[[Embedded, Embedded | None, Task], dict[str, list[str]]]
    references: Callable[[Sequence[Example]], dict[str, list[str]]]
    chance: Callable[[Sequence[Example]], float | None]
    layout: str  # the official task whose submission file format it has
    calibrated: bool = False  # needs the dev split's embeddings (BUCC's threshold)


PROCEDURES: dict[str, Procedure] = {
    "tatoeba_accuracy": Procedure(nearest_query_of_english, queries_of_gold_candidates, _chance_one_of_queries, "tatoeba"),
    "map_at_20": Procedure(ranked_candidates, gold_of_queries, _chance_one_of_candidates, "lareqa"),
    "retrieval_accuracy": Procedure(ranked_candidates, gold_of_queries, _chance_one_of_candidates, "lareqa"),
    "bucc_f1": Procedure(mined_pairs, gold_of_queries, lambda examples: None, "bucc2018", calibrated=True),
}


def procedure_for(task: Task) -> Procedure:
    try:
        return PROCEDURES[task.metric]
    except KeyError:
        raise ConfigError(
            f"{task.name}: no retrieval procedure for metric {task.metric!r}; known: {', '.join(sorted(PROCEDURES))}"
        ) from None


# --- the kind ---------------------------------------------------------------------------------


@register_kind
class RetrievalHandler(KindHandler):
    kind = TaskKind.RETRIEVAL
    pooled = True
    trainable = False
    fields: ClassVar[Fields] = {"id": str, "text": str, "side": str, "gold": list}

    def example_problem(self, task: Task, example: Example) -> str | None:
        if example["side"] not in ("query", "candidate"):
            return f"field 'side' should be 'query' or 'candidate', got {example['side']!r}"
        return None

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        """One sequence per example; a candidate with a `context` (LAReQA: the answer sentence's
        paragraph) is the pair (sentence, context), truncated longest first, as XTREME encodes it."""
        ids = tokenizer([ex["text"] for ex in examples], add_special_tokens=False)["input_ids"]
        contexts = [ex.get("context") if ex.get("side") == "candidate" else None for ex in examples]
        # A paragraph is the context of each of its sentences: tokenize each one once.
        unique = list(dict.fromkeys(c for c in contexts if c))
        context_ids = dict(zip(unique, tokenizer(unique, add_special_tokens=False)["input_ids"], strict=True)) if unique else {}
        features = []
        for i, row in enumerate(ids):
            if contexts[i]:
                sentence, context = truncate_pair(row, context_ids[contexts[i]], options.max_length - fmt.pair_overhead)
                input_ids, _ = fmt.pair(sentence, context)
            else:
                input_ids = fmt.single(row[: options.max_length - fmt.single_overhead])
            features.append({"input_ids": input_ids, "example_index": i})
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        from xstilts.kinds.tensors import pad_ids  # deferred: torch

        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        raise TypeError(f"{task.name} is a retrieval task: it has no head and is not trained")

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise TypeError("retrieval tasks are not trained")

    def calibration_split(self, task: Task) -> str | None:
        """The split whose embedded examples `decode` needs besides the evaluated ones, if any."""
        return task.dev_split if procedure_for(task).calibrated else None

    def calibration(self, outputs: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example]) -> Embedded:
        return embedded(outputs, features, examples)

    def decode(
        self,
        logits: list[torch.Tensor],
        features: Sequence[Feature],
        examples: Sequence[Example],
        task: Task,
        calibration: Embedded | None = None,
    ) -> dict[str, list[str]]:
        """`logits` are the sentence embeddings (one per feature); predictions as the metric reads them."""
        return procedure_for(task).decode(embedded(logits, features, examples), calibration, task)

    def references(self, examples: Sequence[Example], task: Task) -> dict[str, list[str]]:
        return procedure_for(task).references(examples)

    def chance(self, examples: Sequence[Example], task: Task) -> float | None:
        return procedure_for(task).chance(examples)

    def submission_layout(self, task: Task) -> str | None:
        procedure = PROCEDURES.get(task.metric)
        return procedure.layout if procedure else None


def centered_by_side(embeddings: Sequence[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example]) -> list[torch.Tensor]:
    """Per-feature embeddings less the mean embedding of their side (queries, candidates): what
    the side's sentences share, their language above all, drops out of the cosine. Tatoeba and
    BUCC evaluate one language against English at a time, so each side is one language there
    (Libovický et al. 2020's language-specific centering); LAReQA and Mewsli-X pool languages on a side."""
    import torch  # deferred: importing a kind does not import torch

    sides = [examples[f["example_index"]]["side"] for f in features]
    means = {side: torch.stack([e.float() for e, s in zip(embeddings, sides) if s == side]).mean(0) for side in set(sides)}
    return [e.float() - means[s] for e, s in zip(embeddings, sides)]


def embedded(embeddings: Sequence[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example]) -> Embedded:
    """Per-feature embeddings (one feature per example) in example order."""
    if len(embeddings) != len(examples) or len(features) != len(examples):
        raise DataError(f"retrieval: {len(embeddings)} embeddings and {len(features)} features for {len(examples)} examples")
    rows: list[torch.Tensor | None] = [None] * len(examples)
    for feature, vector in zip(features, embeddings):
        rows[feature["example_index"]] = vector.float()
    if any(r is None for r in rows):
        raise DataError("retrieval: some examples have no embedding")
    import torch  # deferred: importing a kind does not import torch

    return Embedded(examples, torch.stack(rows))  # type: ignore[arg-type]
