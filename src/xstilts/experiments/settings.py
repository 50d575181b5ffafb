"""The settings chain: every setting of a stage, resolved once, by the planner.

The training settings of one task of a stage, lowest precedence first:

  1. the task's hyper-parameters (`Task.hyperparameters`, whose defaults are those of
     `xstilts.tasks.base.Hyperparameters`), and the trainer's defaults for what no task sets
     (`xstilts.training.settings.TRAINER_DEFAULTS`: max_grad_norm, precision);
  2. the spec's `training.<phase>` (intermediate or target);
  3. the spec's `training.tasks.<name>` of each task of the stage, in the stage's order (in a
     multi-task condition, each task's entry applies to all of the condition's tasks).

`max_steps` or `epochs` from the spec wins over a task's default `max_steps`. Precision "auto" is
resolved where the spec fixes the device: "no" with `device: cpu` (as the trainer resolves it
there); elsewhere it stays "auto", which the trainer resolves on the GPU it runs on (bf16 where
supported). The model's own training option (`freeze_embeddings`) comes with the stage's model.
A target stage trains every English phase of its target (XNLI: on MNLI) with the target's settings.

An evaluate stage's settings are the spec's `evaluation`, with the sequence length its target
trains with and the layer sweep only for retrieval targets.

The stage runners, the estimate and the executors read these resolved settings, never the spec's
training or evaluation sections.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from xstilts.experiments.spec import ExperimentSpec, PhaseSettings
from xstilts.tasks import get_task
from xstilts.tasks.base import Hyperparameters
from xstilts.training.settings import TRAINER_DEFAULTS, TrainSettings, steps_for_epochs

T = TypeVar("T")


@dataclass(frozen=True)
class TaskTraining:
    """The resolved training settings of one task of a stage."""

    learning_rate: float
    batch_size: int
    epochs: float
    max_steps: int | None  # None: `epochs` passes over the (capped) training set
    max_length: int
    warmup_ratio: float
    weight_decay: float
    gradient_accumulation: int
    max_grad_norm: float
    eval_every: int | None  # steps between English-dev evaluations; None: once per epoch
    patience: int | None
    precision: str  # no | bf16 | fp16; auto: bf16 if the GPU the stage runs on supports it, else no
    max_train_examples: int | None
    max_dev_examples: int | None
    checkpoint_every: int | None
    packing: bool = False  # padding-free packed training batches; in stage ids only when on

    def steps_per_epoch(self, n_train: int) -> int:
        return steps_for_epochs(n_train, self.batch_size, 1.0, self.gradient_accumulation)

    def steps(self, n_train: int) -> int:
        """Optimizer steps over a training set of `n_train` examples."""
        if self.max_steps is not None:
            return self.max_steps
        return steps_for_epochs(n_train, self.batch_size, self.epochs, self.gradient_accumulation)

    def eval_interval(self, n_train: int) -> int:
        return min(self.eval_every or self.steps_per_epoch(n_train), self.steps(n_train))

    def train_settings(self, n_train: int, seed: int, freeze_embeddings: bool) -> TrainSettings:
        return TrainSettings(
            learning_rate=self.learning_rate, batch_size=self.batch_size, max_steps=self.steps(n_train),
            warmup_ratio=self.warmup_ratio, weight_decay=self.weight_decay, max_grad_norm=self.max_grad_norm,
            gradient_accumulation=self.gradient_accumulation, eval_every=self.eval_interval(n_train),
            patience=self.patience, checkpoint_every=self.checkpoint_every, seed=seed, precision=self.precision,
            freeze_embeddings=freeze_embeddings, packing=self.packing,
        )


@dataclass(frozen=True)
class StageTraining:
    """The resolved settings of a training stage."""

    # By the task whose hyper-parameters apply: each task of an intermediate condition; the target
    # of a target stage (for every English phase of it).
    tasks: dict[str, TaskTraining]
    max_steps: int | None  # the spec's max_steps: the whole stage's steps; None: the sum of its tasks' steps
    max_restarts: int  # restarts with a new seed when a run collapses to chance on English dev

    def first(self) -> TaskTraining:
        """The settings of the stage's first task: those of a multi-task run as a whole."""
        return next(iter(self.tasks.values()))


@dataclass(frozen=True)
class StageEvaluation:
    """The resolved settings of an evaluate stage."""

    languages: tuple[str, ...]
    split: str | None  # None: each language's evaluation split
    batch_size: int
    max_examples: int | None  # per language
    max_length: int  # the sequence length the target trains with
    retrieval_layers: tuple[int, ...]  # hidden-state indices also scored (retrieval targets only)
    retrieval_centering: bool = False  # each side's mean embedding subtracted before the search (retrieval targets only)


def spec_overrides(spec: ExperimentSpec, phase: str, task_names: list[str]) -> PhaseSettings:
    """What the spec sets for a phase and its tasks (links 2 and 3 of the chain); None: not set."""
    settings: PhaseSettings = getattr(spec.training, phase)
    for name in task_names:
        settings = settings.merged(spec.training.tasks.get(name))
    return settings


def resolve_precision(requested: str, device: str) -> str:
    """The precision a run on the spec's `device` (auto, cpu, cuda) uses: "auto" is float32 ("no")
    on the CPU, as `xstilts.training.loop.resolve_auto_precision` decides; on a GPU it depends on the
    GPU, known only when the stage runs, so it stays "auto"."""
    return "no" if requested == "auto" and device == "cpu" else requested


def resolve_task(hp: Hyperparameters, given: PhaseSettings, device: str) -> TaskTraining:
    """A task's hyper-parameters and the trainer's defaults, overridden by what the spec sets, on
    the spec's `device`."""
    if given.max_steps is not None:
        max_steps = given.max_steps
    elif given.epochs is not None:
        max_steps = None  # the spec's epochs win over the task's default max_steps
    else:
        max_steps = hp.max_steps
    return TaskTraining(
        learning_rate=_given_or(given.learning_rate, hp.learning_rate),
        batch_size=_given_or(given.batch_size, hp.batch_size),
        epochs=_given_or(given.epochs, hp.epochs),
        max_steps=max_steps,
        max_length=_given_or(given.max_length, hp.max_length),
        warmup_ratio=_given_or(given.warmup_ratio, hp.warmup_ratio),
        weight_decay=_given_or(given.weight_decay, hp.weight_decay),
        gradient_accumulation=_given_or(given.gradient_accumulation, hp.gradient_accumulation),
        max_grad_norm=_given_or(given.max_grad_norm, TRAINER_DEFAULTS.max_grad_norm),
        eval_every=_given_or(given.eval_every, hp.eval_every),
        patience=_given_or(given.patience, hp.patience),
        precision=resolve_precision(_given_or(given.precision, TRAINER_DEFAULTS.precision), device),
        max_train_examples=_given_or(given.max_train_examples, hp.max_train_examples),
        max_dev_examples=given.max_dev_examples,
        checkpoint_every=given.checkpoint_every,
        packing=bool(given.packing),
    )


def _given_or(value: T | None, default: T) -> T:
    return default if value is None else value


def resolve_training(spec: ExperimentSpec, given: PhaseSettings, task_names: list[str]) -> StageTraining:
    """The settings of a training stage whose tasks' hyper-parameters are those of `task_names`,
    given what the spec sets for it (`spec_overrides`)."""
    tasks = {name: resolve_task(get_task(name).hyperparameters, given, spec.device) for name in task_names}
    return StageTraining(tasks, given.max_steps, spec.training.max_restarts)


def resolve_evaluation(spec: ExperimentSpec, task_name: str) -> StageEvaluation:
    """The settings of the evaluate stage of target `task_name`."""
    task = get_task(task_name)
    e = spec.evaluation
    languages = [lang for lang in (e.languages or task.languages) if lang in task.languages]
    # The sequence length the target trained with (a retrieval target: that of training.target).
    max_length = spec_overrides(spec, "target", [task_name]).max_length or task.hyperparameters.max_length
    return StageEvaluation(
        languages=tuple(languages), split=e.split, batch_size=e.batch_size, max_examples=e.max_examples,
        max_length=max_length, retrieval_layers=() if task.trainable else tuple(e.retrieval_layers or ()),
        retrieval_centering=e.retrieval_centering and not task.trainable,
    )
