"""The torch side of the kinds: padding, pooling and the two head shapes.

Kind modules import this inside their methods, so that importing a kind (to check examples, plan
a grid or lay out a submission) does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn

Batch = dict[str, torch.Tensor]

_WIDTH_MULTIPLE: ContextVar[int] = ContextVar("width_multiple", default=1)


@contextmanager
def widths_rounded_to(multiple: int | None) -> Iterator[None]:
    """Within the block, `pad_ids` pads every batch to a multiple of `multiple` positions (None or
    1: to its longest row). Fewer distinct batch shapes: on GPUs, kernels that are planned or
    compiled per shape (cuDNN attention's graphs) are made fewer times."""
    if multiple is not None and multiple < 1:
        raise ValueError(f"pad_to_multiple_of must be 1 or more, got {multiple}")
    token = _WIDTH_MULTIPLE.set(multiple or 1)
    try:
        yield
    finally:
        _WIDTH_MULTIPLE.reset(token)


def pad_ids(rows: Sequence[Sequence[int]], pad_id: int, value_dtype: torch.dtype = torch.long) -> tuple[torch.Tensor, torch.Tensor]:
    multiple = _WIDTH_MULTIPLE.get()
    width = -(-max(len(r) for r in rows) // multiple) * multiple
    ids = torch.full((len(rows), width), pad_id, dtype=value_dtype)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.as_tensor(r, dtype=value_dtype)
        mask[i, : len(r)] = 1
    return ids, mask


def unpad_tokens(logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
    lengths = batch["attention_mask"].sum(-1).tolist()
    return [logits[i, : int(n)] for i, n in enumerate(lengths)]


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
