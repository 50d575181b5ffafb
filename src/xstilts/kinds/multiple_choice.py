"""Multiple choice (XCOPA, COPA, SIQa, HellaSwag, CommonsenseQA, CosmosQA): one sequence per choice,
a scalar score each, softmax over the choices.

Examples: {"id": str, "context": str, "question": str, "choices": list[str], "label": int}.
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
class MultipleChoiceHandler(ChoiceHandler):
    kind = TaskKind.MULTIPLE_CHOICE
    fields: ClassVar[Fields] = {"id": str, "context": str, "question": str, "choices": list, "label": int}

    def example_problem(self, task: Task, example: Example) -> str | None:
        choices = example["choices"]
        if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            return "field 'choices' should be a list of at least 2 strings"
        if task.num_choices is not None and len(choices) != task.num_choices:
            return f"field 'choices' has {len(choices)} choices, expected {task.num_choices}"
        return label_problem(example["label"], len(choices), "label")

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
        import torch  # deferred: importing a kind does not import torch

        from xstilts.kinds.tensors import pad_ids  # lazy: loads torch

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
        from xstilts.kinds.tensors import PooledHead  # deferred: torch

        return PooledHead(hidden_size, 1, pooling)

    def chance(self, examples: Sequence[Example], task: Task) -> float:
        return 100.0 * sum(1.0 / len(ex["choices"]) for ex in examples) / len(examples)

    def submission_layout(self, task: Task) -> str | None:
        return "xcopa"  # {"label": i} per line

    def parallel_text(self, example: Example) -> str:
        return str(example["context"])

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        """One row per (context, choice) sequence, pooled as the head pools it; label 1 for the
        correct choice, 0 for the others."""
        return ProbeRows([int(j == f["label"]) for f in features for j in range(len(f["input_ids"]))])
