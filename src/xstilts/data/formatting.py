"""How token sequences are framed with special tokens, per model family.

Encoders keep their own convention (`[CLS] A [SEP] B [SEP]`, `<s> A </s></s> B </s>`, ...), read
off the tokenizer itself. Decoders get `[BOS] A [EOS] B [EOS]` (BOS only if the tokenizer has one):
the final EOS is the last token, so last-token pooling sees the whole input. All segments are
tokenised without special tokens first, so offsets and word alignments stay exact.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any


class Family(str, Enum):
    """A model's architecture family, which decides how its inputs are framed."""

    ENCODER = "encoder"
    DECODER = "decoder"


@dataclass(frozen=True)
class InputFormat:
    single_prefix: tuple[int, ...]
    single_suffix: tuple[int, ...]
    pair_prefix: tuple[int, ...]
    pair_middle: tuple[int, ...]
    pair_suffix: tuple[int, ...]
    pad_id: int

    @property
    def single_overhead(self) -> int:
        return len(self.single_prefix) + len(self.single_suffix)

    @property
    def pair_overhead(self) -> int:
        return len(self.pair_prefix) + len(self.pair_middle) + len(self.pair_suffix)

    def single(self, a: list[int]) -> list[int]:
        return [*self.single_prefix, *a, *self.single_suffix]

    def pair(self, a: list[int], b: list[int]) -> tuple[list[int], int]:
        """Ids of the framed pair and the position where `b` starts."""
        head = [*self.pair_prefix, *a, *self.pair_middle]
        return [*head, *b, *self.pair_suffix], len(head)

    @classmethod
    def for_tokenizer(cls, tokenizer: Any, family: Family) -> InputFormat:
        pad = tokenizer.pad_token_id
        if family is Family.DECODER:
            bos = (tokenizer.bos_token_id,) if tokenizer.bos_token_id is not None else ()
            eos = tokenizer.eos_token_id
            if eos is None:
                raise ValueError("decoder tokenizer has no EOS token")
            return cls(bos, (eos,), bos, (eos,), (eos,), pad)
        return cls._from_encoder_template(tokenizer, pad)

    @classmethod
    def _from_encoder_template(cls, tokenizer: Any, pad: int) -> InputFormat:
        a = tokenizer("a", add_special_tokens=False)["input_ids"]
        b = tokenizer("b", add_special_tokens=False)["input_ids"]
        single = tokenizer("a")["input_ids"]
        pair = tokenizer("a", "b")["input_ids"]
        i = _find(single, a)
        j = _find(pair, a)
        k = _find(pair, b, start=j + len(a))
        if i < 0 or j < 0 or k < 0:
            cls_id = tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id
            sep_id = tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id
            return cls((cls_id,), (sep_id,), (cls_id,), (sep_id,), (sep_id,), pad)
        return cls(
            tuple(single[:i]), tuple(single[i + len(a):]),
            tuple(pair[:j]), tuple(pair[j + len(a):k]), tuple(pair[k + len(b):]), pad,
        )


def _find(seq: list[int], sub: list[int], start: int = 0) -> int:
    for i in range(start, len(seq) - len(sub) + 1):
        if seq[i : i + len(sub)] == sub:
            return i
    return -1


def truncate_pair(a: list[int], b: list[int], budget: int) -> tuple[list[int], list[int]]:
    """Longest-first truncation of two segments to at most `budget` tokens together."""
    a, b = list(a), list(b)
    while len(a) + len(b) > budget:
        if len(a) >= len(b):
            a.pop()
        else:
            b.pop()
    return a, b
