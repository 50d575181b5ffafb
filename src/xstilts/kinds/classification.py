"""Single-sentence and sentence-pair classification (XNLI, PAWS-X, MNLI, QQP, SST-2, ANLI).

Examples: {"id": str, "text": str, "text_pair": str | None, "label": int}.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from xstilts.data.formatting import InputFormat, truncate_pair
from xstilts.kinds.base import (
    Batch,
    ChoiceHandler,
    Feature,
    FeaturizeOptions,
    Fields,
    ProbeRows,
    label_problem,
    register_kind,
)
from xstilts.tasks.base import Example, Task, TaskKind

if TYPE_CHECKING:
    from torch import nn


@register_kind
class ClassificationHandler(ChoiceHandler):
    kind = TaskKind.CLASSIFICATION
    fields: ClassVar[Fields] = {"id": str, "text": str, "label": int}
    packable = True

    def example_problem(self, task: Task, example: Example) -> str | None:
        pair = example.get("text_pair")
        if pair is not None and not isinstance(pair, str):
            return "field 'text_pair' should be str or null"
        return label_problem(example["label"], task.num_labels, "label")

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
        import torch  # deferred: importing a kind does not import torch

        from xstilts.kinds.tensors import pad_ids  # lazy: loads torch

        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {"input_ids": ids, "attention_mask": mask, "labels": torch.tensor([f["label"] for f in features])}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        from xstilts.kinds.tensors import PooledHead  # deferred: torch

        return PooledHead(hidden_size, task.num_labels, pooling)

    def chance(self, examples: Sequence[Example], task: Task) -> float:
        return 100.0 / task.num_labels

    def submission_layout(self, task: Task) -> str | None:
        return "xnli"  # label names, one per line

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        """One row per example, the pooled sequence (or sequence pair); label = the class."""
        return ProbeRows([f["label"] for f in features])
