"""Token tagging (UD-POS, PAN-X/WikiANN NER, CCG): word-level labels on each word's first
sub-word; the other sub-words are ignored in the loss. Long sentences are split into several
windows of whole words, so every word gets a prediction.

Examples: {"id": str, "tokens": list[str], "tags": list[int]}.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from xstilts.data.formatting import InputFormat
from xstilts.kinds.base import (
    Batch,
    Feature,
    FeaturizeOptions,
    Fields,
    KindHandler,
    ProbeRows,
    label_problem,
    register_kind,
    trim_offsets,
)
from xstilts.tasks.base import Example, Task, TaskKind

if TYPE_CHECKING:
    import torch
    from torch import nn

IGNORE = -100


def first_subword_positions(words: Sequence[str], tokenizer: Any) -> tuple[list[int], list[list[int]]]:
    """Token ids of the words joined by spaces, and for each word the indices of its sub-words."""
    text, starts = "", []
    for word in words:
        starts.append(len(text))
        text += word + " "
    text = text.rstrip()
    enc = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    pieces: list[list[int]] = [[] for _ in words]
    w = 0
    for t, (s, e) in enumerate(trim_offsets(text, enc["offset_mapping"])):
        if e <= s:
            continue
        while w + 1 < len(words) and s >= starts[w + 1]:
            w += 1
        pieces[w].append(t)
    return enc["input_ids"], pieces


@register_kind
class TaggingHandler(KindHandler):
    kind = TaskKind.TAGGING
    needs_offsets = True
    packable = True
    fields: ClassVar[Fields] = {"id": str, "tokens": list, "tags": list}

    def example_problem(self, task: Task, example: Example) -> str | None:
        tokens, tags = example["tokens"], example["tags"]
        if len(tokens) != len(tags):
            return f"has {len(tokens)} tokens but {len(tags)} tags"
        if not tokens:
            return "field 'tokens' is empty"
        return next((p for p in (label_problem(tag, task.num_labels, "tags") for tag in tags) if p), None)

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        budget = options.max_length - fmt.single_overhead
        features = []
        for i, ex in enumerate(examples):
            ids, pieces = first_subword_positions(ex["tokens"], tokenizer)
            window: list[int] = []
            labels: list[int] = []
            first_word = 0
            word_starts: list[int] = []  # word index -> position in window, -1 when the word has no sub-word
            for w, positions in enumerate(pieces):
                word_ids = [ids[p] for p in positions][:budget]
                if window and len(window) + len(word_ids) > budget:
                    features.append(self._feature(fmt, window, labels, i, first_word, word_starts))
                    window, labels, word_starts, first_word = [], [], [], w
                word_starts.append(len(window) if word_ids else -1)
                for j, tok in enumerate(word_ids):
                    window.append(tok)
                    labels.append(ex["tags"][w] if j == 0 else IGNORE)
            features.append(self._feature(fmt, window, labels, i, first_word, word_starts))
        return features

    @staticmethod
    def _feature(fmt: InputFormat, window: list[int], labels: list[int], index: int, first_word: int, word_starts: list[int]) -> Feature:
        offset = len(fmt.single_prefix)
        return {
            "input_ids": fmt.single(window),
            "labels": [IGNORE] * offset + labels + [IGNORE] * len(fmt.single_suffix),
            "example_index": index,
            "first_word": first_word,
            "word_positions": [p + offset if p >= 0 else -1 for p in word_starts],
        }

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        from xstilts.kinds.tensors import pad_ids  # deferred: torch

        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        labels, _ = pad_ids([f["labels"] for f in features], IGNORE)
        return {"input_ids": ids, "attention_mask": mask, "labels": labels}

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        from xstilts.kinds.tensors import TokenHead  # deferred: torch

        return TokenHead(hidden_size, task.num_labels)

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        from torch.nn import functional as F  # deferred: importing a kind does not import torch

        return F.cross_entropy(logits.float().flatten(0, 1), batch["labels"].flatten(), ignore_index=IGNORE)

    def unpad(self, logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        from xstilts.kinds.tensors import unpad_tokens  # deferred: torch

        return unpad_tokens(logits, batch)

    def decode(
        self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task, calibration: Any = None
    ) -> list[list[str]]:
        predicted: list[list[str]] = [[task.labels[0]] * len(ex["tokens"]) for ex in examples]
        for f, lg in zip(features, logits):
            tags = lg.argmax(-1).tolist()
            for k, pos in enumerate(f["word_positions"]):
                if pos >= 0:
                    predicted[f["example_index"]][f["first_word"] + k] = task.labels[tags[pos]]
        return predicted

    def references(self, examples: Sequence[Example], task: Task) -> list[list[str]]:
        return [[task.labels[t] for t in ex["tags"]] for ex in examples]

    def chance(self, examples: Sequence[Example], task: Task) -> float | None:
        return None

    def trivial_predictions(self, examples: Sequence[Example], task: Task) -> list[Any]:
        """Every word gets the most frequent gold tag (for NER chunk F1 that is all "O", F1 0)."""
        references = self.references(examples, task)
        tag = Counter(t for row in references for t in row).most_common(1)[0][0]
        return [[[tag] * len(row) for row in references]]

    def submission_layout(self, task: Task) -> str | None:
        return "udpos"  # one tag per line, a blank line after each sentence

    def parallel_text(self, example: Example) -> str:
        return " ".join(example["tokens"])

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        """One row per word, the hidden state of its first sub-word (the token the head reads);
        label = the word's tag."""
        positions = {i: [p for p, t in enumerate(f["labels"]) if t != IGNORE] for i, f in enumerate(features)}
        positions = {i: p for i, p in positions.items() if p}
        labels = [features[i]["labels"][p] for i in sorted(positions) for p in positions[i]]
        return ProbeRows(labels, positions)
