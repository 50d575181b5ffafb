"""Extractive QA (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): question + context window -> start and end
logits over tokens. Long contexts are cut into overlapping windows; predictions take the best
span over all windows of an example and map it back to the original text by character offsets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from xstilts.data.formatting import InputFormat
from xstilts.errors import ConfigError
from xstilts.kinds.base import (
    Batch,
    Feature,
    FeaturizeOptions,
    KindHandler,
    TokenHead,
    pad_ids,
    trim_offsets,
    unpad_tokens,
)
from xstilts.tasks.base import Example, Task, TaskKind


class SpanExtractionHandler(KindHandler):
    kind = TaskKind.SPAN_EXTRACTION
    n_best = 20
    max_answer_length = 30

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        questions = tokenizer([ex["question"] for ex in examples], add_special_tokens=False)["input_ids"]
        contexts = tokenizer([ex["context"] for ex in examples], add_special_tokens=False, return_offsets_mapping=True)
        features = []
        for i, ex in enumerate(examples):
            q = questions[i][: options.max_query_length]
            ctx_ids = contexts["input_ids"][i]
            ctx_offsets = trim_offsets(ex["context"], contexts["offset_mapping"][i])
            budget = options.max_length - fmt.pair_overhead - len(q)
            if budget < 8:
                raise ConfigError(
                    f"{task.name}: max_length {options.max_length} leaves {budget} tokens for the context after a "
                    f"{len(q)}-token question; raise max_length"
                )
            step = max(budget - options.stride, 1)
            answer = _char_span(ex)
            start = 0
            while True:
                window = ctx_ids[start : start + budget]
                ids, ctx_start = fmt.pair(q, window)
                offsets: list[tuple[int, int] | None] = [None] * len(ids)
                for j, off in enumerate(ctx_offsets[start : start + budget]):
                    offsets[ctx_start + j] = (off[0], off[1])
                s_pos, e_pos = _token_span(offsets, answer)
                features.append(
                    {"input_ids": ids, "start": s_pos, "end": e_pos, "example_index": i, "example_id": ex["id"], "offset_mapping": offsets}
                )
                if start + budget >= len(ctx_ids):
                    break
                start += step
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "start_positions": torch.tensor([f["start"] for f in features]),
            "end_positions": torch.tensor([f["end"] for f in features]),
        }

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        return TokenHead(hidden_size, 2, dropout=0.0)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        logits = logits.float().masked_fill(batch["attention_mask"].unsqueeze(-1) == 0, -1e4)
        start = F.cross_entropy(logits[..., 0], batch["start_positions"])
        end = F.cross_entropy(logits[..., 1], batch["end_positions"])
        return (start + end) / 2

    def unpad(self, logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        return unpad_tokens(logits, batch)

    def decode(self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task) -> dict[str, str]:
        from xstilts.evaluation.qa import postprocess_qa

        start_logits = [l[:, 0].float().numpy() for l in logits]
        end_logits = [l[:, 1].float().numpy() for l in logits]
        return postprocess_qa(examples, features, start_logits, end_logits, n_best=self.n_best, max_answer_length=self.max_answer_length)

    def references(self, examples: Sequence[Example], task: Task) -> dict[str, list[str]]:
        return {ex["id"]: list(ex["answers"]["text"]) for ex in examples}


def _char_span(ex: Example) -> tuple[int, int] | None:
    answers = ex["answers"]
    if not answers["text"]:
        return None
    start = answers["answer_start"][0]
    return start, start + len(answers["text"][0])


def _token_span(offsets: list[tuple[int, int] | None], answer: tuple[int, int] | None) -> tuple[int, int]:
    """Token positions of the answer inside this window, or (0, 0) when it is not wholly inside."""
    if answer is None:
        return 0, 0
    start_char, end_char = answer
    start = end = None
    for j, off in enumerate(offsets):
        if off is None or off[0] == off[1]:
            continue
        s, e = off
        if start is None and e > start_char:
            if s > start_char:
                return 0, 0
            start = j
        if s < end_char:
            end = j
    if start is None or end is None or end < start or (last := offsets[end]) is None or last[1] < end_char:
        return 0, 0
    return start, end
