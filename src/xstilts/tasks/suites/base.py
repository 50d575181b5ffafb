"""What a benchmark suite declares: its scored tasks with their languages, its groups, and per
task the metric, the dataset sizes and the layout of a submission's files.

A suite is data: `xstilts.tasks.suites.xtreme` declares XTREME and XTREME-R, and
`xstilts.tasks.suites.synthetic` the synthetic suite; the scoring (`xstilts.evaluation.aggregate`),
the submission files (`xstilts.evaluation.submission`) and the planner's size estimates
(`xstilts.experiments.catalog`) read them from there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetFacts:
    """Sizes the planner needs offline, from the dataset papers and cards (English training and
    dev sets exact where the source gives them; evaluation sets per language are typical values,
    marked approximate). Tokens per example are rough averages in XLM-R sentencepiece tokens, used
    only for time estimates."""

    train: int  # English training examples
    dev: int  # English dev examples (model selection)
    eval_per_language: int  # evaluation examples per language (items embedded, for retrieval)
    tokens: float  # average tokens per example, all choices of a multiple-choice example together
    approximate: bool = False  # True where eval_per_language or tokens are rough values
    eval_shared: int = 0  # retrieval: candidates embedded once for all languages (Mewsli-X, LAReQA)
    eval_tokens: float | None = None  # tokens per dev / evaluation example, where not `tokens`


@dataclass(frozen=True)
class Submission:
    """The files of one task in a submission folder: `<task>/test-<lang>.<suffix>`."""

    suffix: str
    labels: tuple[str, ...] = ()  # the labels / tags a file may hold besides those in its gold file
    label_values: tuple[str, ...] = ()  # label index -> the value a file holds, where not the label name
    choices: int | None = None  # multiple choice: the number of choices
    like: str = ""  # the official task whose file format (reader and writer) it has; "": its own


@dataclass(frozen=True)
class BenchmarkTask:
    """The facts of one official task, the same in every suite that scores it."""

    name: str  # the official folder name of a submission, also the xstilts task name
    metric: str  # metric registry name (xstilts.evaluation.metrics)
    submission: Submission
    size: DatasetFacts
    aliases: tuple[str, ...] = ()  # other spellings, compared lower-case with only letters and digits
    mean_em_f1_headline: bool = False  # headline (mean exact match + mean F1) / 2, as the QA tasks

    @property
    def layout(self) -> str:
        """The official task whose files these are like (itself for every official task so far)."""
        return self.submission.like or self.name


@dataclass(frozen=True)
class Suite:
    """A benchmark: the tasks it scores, in the official order, and how they are grouped."""

    name: str
    languages: Mapping[str, tuple[str, ...]]  # scored task -> its languages, in the official order
    groups: Mapping[str, tuple[str, ...]]  # group -> tasks
    official_tasks: Mapping[str, BenchmarkTask] = field(default_factory=dict)  # {} for suites of xstilts tasks
    sizes: Mapping[str, DatasetFacts] = field(default_factory=dict)  # sizes of tasks without a BenchmarkTask
    listing_order: tuple[str, ...] = ()  # the order targets are listed in, where not `tasks` (the paper's tables)

    @property
    def tasks(self) -> tuple[str, ...]:
        return tuple(self.languages)

    @property
    def targets_in_listing_order(self) -> tuple[str, ...]:
        return self.listing_order or self.tasks

    def sorted_languages(self, task: str) -> tuple[str, ...]:
        """A task's languages in code order, as the task declarations list them."""
        return tuple(sorted(self.languages[task]))

    def dataset_facts(self, task: str) -> DatasetFacts | None:
        if task in self.official_tasks:
            return self.official_tasks[task].size
        return self.sizes.get(task)
