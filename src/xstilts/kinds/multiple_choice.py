"""Multiple choice (XCOPA, COPA, SIQa, HellaSwag, CommonsenseQA, CosmosQA): one sequence per choice,
a scalar score each, softmax over the choices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xstilts.data.formatting import InputFormat, truncate_pair
from xstilts.kinds.base import Batch, ChoiceHandler, Feature, FeaturizeOptions, PooledHead, pad_ids
from xstilts.tasks.base import Example, Task, TaskKind


class MultipleChoiceHandler(ChoiceHandler):
    kind = TaskKind.MULTIPLE_CHOICE

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        firsts = [" ".join(s for s in (ex["context"], ex["question"]) if s) for ex in examples]
        first_ids = tokenizer(firsts, add_special_tokens=False)["input_ids"]
        flat_choices = [c for ex in examples for c in ex["choices"]]
        choice_ids = tokenizer(flat_choices, add_special_tokens=False)["input_ids"]
        features, k = [], 0
        budget = options.max_length - fmt.pair_overhead
        for i, ex in enumerate(examples):
            rows = []
            for _ in ex["choices"]:
                a, b = truncate_pair(first_ids[i], choice_ids[k], budget)
                rows.append(fmt.pair(a, b)[0])
                k += 1
            features.append({"input_ids": rows, "label": ex["label"], "example_index": i})
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        n_choices = max(len(f["input_ids"]) for f in features)
        if any(len(f["input_ids"]) != n_choices for f in features):
            raise ValueError("examples in one batch have different numbers of choices")
        flat = [row for f in features for row in f["input_ids"]]
        ids, mask = pad_ids(flat, pad_id)
        shape = (len(features), n_choices, ids.size(-1))
        return {
            "input_ids": ids.view(shape),
            "attention_mask": mask.view(shape),
            "labels": torch.tensor([f["label"] for f in features]),
        }

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        return PooledHead(hidden_size, 1, pooling)

    def chance(self, examples: Sequence[Example], task: Task) -> float:
        return 100.0 * sum(1.0 / len(ex["choices"]) for ex in examples) / len(examples)
