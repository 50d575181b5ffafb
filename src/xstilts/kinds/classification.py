"""Single-sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, QQP, SST-2, ANLI)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from xstilts.data.formatting import InputFormat, truncate_pair
from xstilts.kinds.base import Batch, ChoiceHandler, Feature, FeaturizeOptions, PooledHead, pad_ids
from xstilts.tasks.base import Example, Task, TaskKind


class ClassificationHandler(ChoiceHandler):
    kind = TaskKind.CLASSIFICATION

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        texts = [ex["text"] for ex in examples]
        a_ids = tokenizer(texts, add_special_tokens=False)["input_ids"]
        pairs = [ex.get("text_pair") for ex in examples]
        has_pair = [p is not None for p in pairs]
        b_ids = tokenizer([p or "" for p in pairs], add_special_tokens=False)["input_ids"] if any(has_pair) else None
        features = []
        for i, ex in enumerate(examples):
            if b_ids is not None and has_pair[i]:
                a, b = truncate_pair(a_ids[i], b_ids[i], options.max_length - fmt.pair_overhead)
                ids, _ = fmt.pair(a, b)
            else:
                ids = fmt.single(a_ids[i][: options.max_length - fmt.single_overhead])
            features.append({"input_ids": ids, "label": ex["label"], "example_index": i})
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f["label"] for f in features])}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        return PooledHead(hidden_size, task.num_labels, pooling)

    def chance(self, examples: Sequence[Example], task: Task) -> float:
        return 100.0 / task.num_labels
