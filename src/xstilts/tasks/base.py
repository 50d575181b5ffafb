"""What a task is: a declaration (data), never a code path.

A `Task` names its kind, languages, metric and data source. Behaviour that differs between tasks
lives in the task *kind*: a plug-in module of `xstilts.kinds` that registers its handler in
`KINDS` on import (five are built in). Adding a task is one declaration in a module of
`xstilts.tasks`; adding a kind is one module in `xstilts.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, ClassVar, Protocol

from xstilts.registry import Registry, load_plugins


class TaskKind(str):
    """The name of a task kind. The set is open: a kind is whatever `xstilts.kinds` registers in
    `KINDS`; the built-in five are named here for task declarations. One name is one object, so
    kinds compare with `is` as well as `==`, and `.value` is the plain string."""

    __slots__ = ()
    _named: ClassVar[dict[str, TaskKind]] = {}
    CLASSIFICATION: ClassVar[TaskKind]  # single sentence or sentence pair -> one label
    MULTIPLE_CHOICE: ClassVar[TaskKind]  # context (+ question) and N choices -> index of the right one
    SPAN_EXTRACTION: ClassVar[TaskKind]  # question + context -> answer span in the context
    TAGGING: ClassVar[TaskKind]  # words -> one label per word
    RETRIEVAL: ClassVar[TaskKind]  # queries and candidates -> ranked candidates (no training data)

    def __new__(cls, name: str) -> TaskKind:
        kind = cls._named.get(name)
        if kind is None:
            kind = cls._named[name] = super().__new__(cls, name)
        return kind

    def __repr__(self) -> str:
        return f"TaskKind({str(self)!r})"

    @property
    def value(self) -> str:
        return str(self)


TaskKind.CLASSIFICATION = TaskKind("classification")
TaskKind.MULTIPLE_CHOICE = TaskKind("multiple_choice")
TaskKind.SPAN_EXTRACTION = TaskKind("span_extraction")
TaskKind.TAGGING = TaskKind("tagging")
TaskKind.RETRIEVAL = TaskKind("retrieval")


class Role(str, Enum):
    INTERMEDIATE = "intermediate"  # English task trained between pretraining and the target
    TARGET = "target"  # task evaluated zero-shot in every language
    AUXILIARY = "auxiliary"  # English task used only as a stage of a target's training (SIQa, COPA)


# One example in the canonical schema of its task's kind (each kind's module documents its
# schema, `Kind.fields` and `Kind.example_problem` check it). Loaders convert every dataset into these.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", TaskKind(self.kind))

    @property
    def trainable(self) -> bool:
        """Whether the task's kind trains a head; retrieval has no training data: it embeds with
        the intermediate checkpoint."""
        return kind_of(self.kind).trainable

    def eval_split_for(self, language: str) -> str:
        """The split evaluated in `language` (UD-POS kk/th/tl/yo have only a test set)."""
        return self.eval_split_overrides.get(language, self.eval_split)

    def languages_for(self, benchmark: str | None = None) -> tuple[str, ...]:
        if benchmark and benchmark in self.benchmark_languages:
            return self.benchmark_languages[benchmark]
        return self.languages


class Kind(Protocol):
    """What tasks and data need of a task kind (its full behaviour: `xstilts.kinds.KindHandler`)."""

    kind: TaskKind
    trainable: bool  # False: no head and no training (retrieval embeds sentences instead)

    @property
    def fields(self) -> Mapping[str, type | tuple[type, ...]]:
        """The fields every example has, and their types."""
        ...

    def example_problem(self, task: Task, example: Example) -> str | None:
        """What is wrong with one example beyond `fields` (e.g. "field 'label' has label 7, ..."), or None."""
        ...


# Every task kind, by name; each module of `xstilts.kinds` registers its handler on import.
KINDS: Registry[Kind] = Registry("task kind")


def kind_of(name: str, where: str = "") -> Kind:
    """The registered kind `name`, loading the plug-ins (`xstilts.kinds` and installed ones) on first use."""
    if name not in KINDS:
        load_plugins()  # the kinds sit above tasks: they register themselves here when loaded
    return KINDS.get(name, where)
