"""The contract of a task kind: featurisation, batching, head, loss, and prediction decoding.

Each of the five kinds owns these for encoder and decoder backbones alike, so tasks are data and
the training and evaluation loops never branch on a task's name.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from xstilts.data.formatting import InputFormat
from xstilts.tasks.base import Example, Task, TaskKind

Feature = dict[str, Any]
Batch = dict[str, torch.Tensor]


@dataclass(frozen=True)
class FeaturizeOptions:
    max_length: int = 128
    stride: int = 32  # tokens of overlap between windows of long contexts (span extraction)
    max_query_length: int = 64


class KindHandler(ABC):
    kind: TaskKind
    # Whether the head reads one pooled vector per sequence (needs a pooling rule) or every token.
    pooled: bool = False

    @abstractmethod
    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        """Token ids (and labels) for each example; every feature records its `example_index`."""

    @abstractmethod
    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        """Pad a list of features into tensors (dynamic padding to the longest in the batch)."""

    @abstractmethod
    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        """A freshly initialised head for `task`."""

    @abstractmethod
    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor: ...

    @abstractmethod
    def decode(self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task) -> Any:
        """Predictions in the metric's format from per-feature logits (unpadded)."""

    @abstractmethod
    def references(self, examples: Sequence[Example], task: Task) -> Any:
        """Gold answers in the metric's format."""

    def chance(self, examples: Sequence[Example], task: Task) -> float | None:
        """The score of a uniform random guess, for the report; None where not meaningful."""
        return None

    def unpad(self, logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        """Split batch logits into per-feature tensors (token-level kinds drop padding positions)."""
        return list(logits)


class ChoiceHandler(KindHandler):
    """Kinds that pick one of several outputs per example (a label, or one of the choices): one
    logit row per example, cross-entropy, argmax, integer gold labels."""

    pooled = True

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(logits.float(), batch["labels"])

    def decode(self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task) -> list[int]:
        return [int(row.argmax()) for row in logits]

    def references(self, examples: Sequence[Example], task: Task) -> list[int]:
        return [ex["label"] for ex in examples]


def unpad_tokens(logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
    lengths = batch["attention_mask"].sum(-1).tolist()
    return [logits[i, : int(n)] for i, n in enumerate(lengths)]


def trim_offsets(text: str, offsets: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Token character spans without surrounding whitespace (byte-level BPE tokenizers such as
    GPT-2's report ' word' with the space included)."""
    out = []
    for s, e in offsets:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        out.append((s, e))
    return out


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int, value_dtype: torch.dtype = torch.long) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=value_dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=value_dtype)
        mask[i, : len(r)] = 1
    return ids, mask


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """One vector per sequence: `first` token, `last` non-padding token, or `mean` of non-padding.

    `last` finds the final position whose mask is 1, so it is right for left- and right-padded
    batches alike.
    """
    if how == "first":
        positions = attention_mask.argmax(-1)  # first non-padding position (0 unless left-padded)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), positions]
    if how == "last":
        idx = torch.arange(attention_mask.size(-1), device=hidden.device).expand_as(attention_mask)
        positions = (idx * attention_mask).argmax(-1)
        return hidden[torch.arange(hidden.size(0), device=hidden.device), positions]
    if how == "mean":
        m = attention_mask.unsqueeze(-1).to(hidden.dtype)
        return (hidden * m).sum(1) / m.sum(1).clamp(min=1.0)
    raise ValueError(f"unknown pooling {how!r}")


class PooledHead(nn.Module):
    """Pooling, then dense + tanh + dropout + linear, the same for both families (fair comparison)."""

    def __init__(self, hidden_size: int, outputs: int, pooling: str, dropout: float = 0.1) -> None:
        super().__init__()
        self.pooling = pooling
        self.dense = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = pool(hidden, attention_mask, self.pooling)
        x = self.dropout(torch.tanh(self.dense(self.dropout(x))))
        return self.out(x)


class TokenHead(nn.Module):
    """A linear layer over every token's hidden state."""

    def __init__(self, hidden_size: int, outputs: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden_size, outputs)

    def forward(self, hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.out(self.dropout(hidden))
