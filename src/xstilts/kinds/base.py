"""The contract of a task kind: one plug-in module per kind owns everything that differs by kind.

A kind's handler (a `KindHandler`) holds its example schema checks, featurisation, batching,
head and loss, the decoding of outputs into predictions, the gold references, its trivial
predictors, its submission layout and its rows for the selection estimators, for encoder and
decoder backbones alike, so tasks are data and the training, evaluation and selection code
never branch on a kind. `register_kind` adds a handler to `xstilts.tasks.base.KINDS`.

Importing a kind does not import torch (plans, schema checks and submission layouts use kinds
without it): kind modules import torch and `xstilts.kinds.tensors` inside the methods that need
them. Metrics are named by string (`Task.metric`) and resolved by `xstilts.evaluation`.
"""

from __future__ import annotations

import random
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from xstilts.data.formatting import InputFormat
from xstilts.tasks.base import KINDS, Example, Hyperparameters, Task, TaskKind

if TYPE_CHECKING:
    import torch
    from torch import nn

Feature = dict[str, Any]
Fields = Mapping[str, type | tuple[type, ...]]  # field name -> its type(s)
Batch = dict[str, "torch.Tensor"]


@dataclass(frozen=True)
class FeaturizeOptions:
    max_length: int = Hyperparameters.max_length
    stride: int = 32  # tokens of overlap between windows of long contexts (span extraction)
    max_query_length: int = 64


@dataclass(frozen=True)
class ProbeRows:
    """The labelled rows a kind gives the selection estimators (`xstilts.selection.features`).

    `positions` None: one row per sequence of the features in order (the choices of a multiple
    choice feature in order), pooled as the representation pools. Otherwise token rows: for each
    feature index (ascending), the hidden states at its listed token positions, in that order.
    `labels` has one label per row, in row order.
    """

    labels: list[int]
    positions: dict[int, list[int]] | None = None


class KindHandler(ABC):
    kind: TaskKind
    # Whether the head reads one pooled vector per sequence (needs a pooling rule) or every token.
    pooled: bool = False
    # False: no head and no training; evaluation embeds sentences (`XStiltsModel.embed`) instead.
    trainable: bool = True
    # Whether featurisation needs the tokenizer's character offsets (answer spans, word alignment).
    needs_offsets: bool = False
    # Whether training batches can be packed (`xstilts.models.packing`): one sequence per feature,
    # whose head reads only that feature's tokens.
    packable: bool = False
    # The fields every example has, and their types (the canonical schema of the kind).
    fields: ClassVar[Fields] = {"id": str}

    def example_problem(self, task: Task, example: Example) -> str | None:
        """What is wrong with one example beyond `fields`, phrased after "example <i> ", or None."""
        return None

    @abstractmethod
    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        """Token ids (and labels) for each example; every feature records its `example_index`."""

    @abstractmethod
    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        """Pad a list of features into tensors (dynamic padding to the longest in the batch)."""

    @abstractmethod
    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        """A freshly initialised head for `task`."""

    def head_outputs(self, task: Task) -> int:
        """The output count a checkpoint's manifest records for the head of `task`."""
        return task.num_labels or task.num_choices or 1

    @abstractmethod
    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor: ...

    def unpad(self, logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        """Split batch logits into per-feature tensors (token-level kinds drop padding positions)."""
        return list(logits)

    def calibration_split(self, task: Task) -> str | None:
        """The split whose outputs `decode` needs besides the evaluated ones (`calibration`), if any."""
        return None

    def calibration(self, outputs: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example]) -> Any:
        """The `calibration` argument of `decode` from the calibration split's outputs."""
        return None

    @abstractmethod
    def decode(
        self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task, calibration: Any = None
    ) -> Any:
        """Predictions in the metric's format from per-feature logits (unpadded)."""

    @abstractmethod
    def references(self, examples: Sequence[Example], task: Task) -> Any:
        """Gold answers in the metric's format."""

    def chance(self, examples: Sequence[Example], task: Task) -> float | None:
        """The score of a uniform random guess, for the report; None where not meaningful."""
        return None

    def trivial_predictions(self, examples: Sequence[Example], task: Task) -> list[Any]:
        """Predictions of models that learned nothing (constant answers), each in the metric's
        format; the best of them is the task's floor (`xstilts.evaluation.floors`). None here."""
        return []

    def submission_layout(self, task: Task) -> str | None:
        """The official XTREME task whose submission file format `task` is written in
        (`xstilts.evaluation.submission`), or None."""
        return None

    def parallel_text(self, example: Example) -> str:
        """The text of an example that translations of it translate (cross-lingual alignment)."""
        return str(example["text"])

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        """Labelled rows of `features` for the selection estimators (see `ProbeRows`)."""
        raise NotImplementedError(f"{task.name}: a {task.kind} task has no labelled rows")


H = TypeVar("H", bound=KindHandler)


def register_kind(handler_class: type[H]) -> type[H]:
    """Class decorator: register one instance of a kind's handler under its kind's name."""
    KINDS.register(handler_class.kind.value, handler_class())
    return handler_class


class ChoiceHandler(KindHandler):
    """Kinds that pick one of several outputs per example (a label, or one of the choices): one
    logit row per example, cross-entropy, argmax, integer gold labels."""

    pooled = True

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        from torch.nn import functional as F  # deferred: importing a kind does not import torch

        return F.cross_entropy(logits.float(), batch["labels"])

    def decode(
        self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task, calibration: Any = None
    ) -> list[int]:
        return [int(row.argmax()) for row in logits]

    def references(self, examples: Sequence[Example], task: Task) -> list[int]:
        return [ex["label"] for ex in examples]

    def trivial_predictions(self, examples: Sequence[Example], task: Task) -> list[Any]:
        """Every example gets the most frequent gold label (or choice position, e.g. always "A")."""
        references = self.references(examples, task)
        label = Counter(references).most_common(1)[0][0]
        return [[label] * len(references)]


def label_problem(label: object, num_labels: int, field: str) -> str | None:
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_labels:
        return f"field {field!r} has label {label!r}, expected 0..{num_labels - 1}"
    return None


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
