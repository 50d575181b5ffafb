"""What a task is: a declaration (data), never a code path.

A `Task` names its kind, languages, metric and data source. Behaviour that differs between tasks
lives in the task *kind* (`xstilts.kinds`), of which there are five; adding a task is one
declaration in a module of `xstilts.tasks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, Protocol


class TaskKind(str, Enum):
    CLASSIFICATION = "classification"  # single sentence or sentence pair -> one label
    MULTIPLE_CHOICE = "multiple_choice"  # context (+ question) and N choices -> index of the right one
    SPAN_EXTRACTION = "span_extraction"  # question + context -> answer span in the context
    TAGGING = "tagging"  # words -> one label per word
    RETRIEVAL = "retrieval"  # queries and candidates -> ranked candidates (no training data)


class Role(str, Enum):
    INTERMEDIATE = "intermediate"  # English task trained between pretraining and the target
    TARGET = "target"  # task evaluated zero-shot in every language
    AUXILIARY = "auxiliary"  # English task used only as a stage of a target's training (SIQa, COPA)


# Canonical example schemas, one per kind. Loaders convert every dataset into these.
#   classification:  {"id": str, "text": str, "text_pair": str | None, "label": int}
#   multiple_choice: {"id": str, "context": str, "question": str, "choices": list[str], "label": int}
#   span_extraction: {"id": str, "context": str, "question": str,
#                     "answers": {"text": list[str], "answer_start": list[int]}}
#   tagging:         {"id": str, "tokens": list[str], "tags": list[int]}
#   retrieval:       {"id": str, "text": str, "side": "query" | "candidate", "gold": list[str]}
#                    (queries list the ids of their correct candidates in "gold"; candidates have [])
Example = dict[str, Any]


class Source(Protocol):
    """Where a task's examples come from (hub dataset, local files, generated)."""

    def describe(self) -> str:
        """One line for `xstilts tasks`, e.g. 'hub google/xtreme (PAWS-X.{lang})'."""
        ...

    def load(self, task: Task, split: str, language: str, data_dir: Path | None) -> list[Example]:
        """Examples of one split and language in the canonical schema of the task's kind."""
        ...


@dataclass(frozen=True)
class Hyperparameters:
    """Per-task fine-tuning defaults; experiment specs override them per phase."""

    learning_rate: float = 1e-5
    batch_size: int = 32
    epochs: float = 3.0
    max_steps: int | None = None  # when set, overrides epochs
    max_length: int = 128
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    gradient_accumulation: int = 1
    max_train_examples: int | None = None  # cap for very large training sets
    eval_every: int | None = None  # steps between English-dev evaluations; None: once per epoch
    patience: int | None = None  # stop after this many evaluations without improvement


@dataclass(frozen=True)
class Task:
    name: str
    kind: TaskKind
    role: Role
    languages: tuple[str, ...]
    metric: str
    source: Source
    description: str = ""
    labels: tuple[str, ...] = ()  # label names for classification / tagging
    num_choices: int | None = None  # multiple choice
    train_task: str | None = None  # target whose English training data is another task's (XNLI <- mnli)
    train_first: tuple[str, ...] = ()  # tasks trained, in order, before the English training set (XCOPA: siqa)
    train_split: str = "train"
    dev_split: str = "validation"  # this task's English dev split used for model selection
    eval_split: str = "validation"  # split evaluated in every language (XTREME test labels are hidden)
    eval_split_overrides: Mapping[str, str] = field(default_factory=dict)  # language -> split (no dev set)
    benchmarks: tuple[str, ...] = ()  # e.g. ("xtreme", "xtreme-r")
    benchmark_languages: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    hyperparameters: Hyperparameters = Hyperparameters()
    notes: str = ""  # documented choices where the sources are ambiguous

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    @property
    def trainable(self) -> bool:
        """Retrieval tasks have no training data: they embed with the intermediate checkpoint."""
        return self.kind is not TaskKind.RETRIEVAL

    def eval_split_for(self, language: str) -> str:
        """The split evaluated in `language` (UD-POS kk/th/tl/yo have only a test set)."""
        return self.eval_split_overrides.get(language, self.eval_split)

    def languages_for(self, benchmark: str | None = None) -> tuple[str, ...]:
        if benchmark and benchmark in self.benchmark_languages:
            return self.benchmark_languages[benchmark]
        return self.languages
