"""Retrieval (Tatoeba, BUCC, LAReQA, Mewsli-X): sentences embedded by pooling one hidden layer of
the backbone, no head and no training; queries rank candidates by cosine similarity."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xstilts.data.formatting import InputFormat
from xstilts.kinds.base import Batch, Feature, FeaturizeOptions, KindHandler, pad_ids
from xstilts.tasks.base import Example, Task, TaskKind

TOP_K = 20


class RetrievalHandler(KindHandler):
    kind = TaskKind.RETRIEVAL
    pooled = True

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        ids = tokenizer([ex["text"] for ex in examples], add_special_tokens=False)["input_ids"]
        budget = options.max_length - fmt.single_overhead
        return [{"input_ids": fmt.single(row[:budget]), "example_index": i} for i, row in enumerate(ids)]

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        raise TypeError(f"{task.name} is a retrieval task: it has no head and is not trained")

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        raise TypeError("retrieval tasks are not trained")

    def decode(self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task) -> dict[str, list[str]]:
        """`logits` are the sentence embeddings; returns each query's top candidates, best first."""
        from xstilts.evaluation.retrieval import rank_candidates

        queries = [i for i, ex in enumerate(examples) if ex["side"] == "query"]
        candidates = [i for i, ex in enumerate(examples) if ex["side"] == "candidate"]
        emb = torch.stack([l.float() for l in logits])
        return rank_candidates(
            emb[queries], emb[candidates], [examples[i]["id"] for i in queries], [examples[i]["id"] for i in candidates],
            k=min(TOP_K, len(candidates)),
        )

    def references(self, examples: Sequence[Example], task: Task) -> dict[str, list[str]]:
        return {ex["id"]: list(ex["gold"]) for ex in examples if ex["side"] == "query"}

    def chance(self, examples: Sequence[Example], task: Task) -> float:
        n = sum(ex["side"] == "candidate" for ex in examples)
        return 100.0 / max(n, 1)
