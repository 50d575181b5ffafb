"""Device-hours of a plan, estimated offline from dataset sizes and a throughput table.

    tokens of a training stage  = optimizer steps x examples per step x tokens per example
                                  + English-dev evaluations during training
    tokens of an evaluate stage = examples of every evaluated language x tokens per example
    hours = stage overhead + training tokens / training tokens-per-second
            + inference tokens / inference tokens-per-second

Steps come from the stage's resolved settings by the stage runner's rules (epochs over the capped
training set, or max_steps); early stopping can only make a stage shorter, so training estimates
are upper bounds. Float32 weights run at the table's (bf16) rates times its `fp32_factor` unless
the stage trains in mixed precision: bf16 / fp16, or "auto" on a device whose row has bf16 (all
GPU rows but v100's), dev evaluations during training included; evaluate stages run in float32.
Tokens per second come from `throughput.json` (per device and model size, interpolated log-log in
the parameter count), with optional fixed seconds per stage and device (start-up, model loading,
featurisation: what dominates small stages): `stage_overhead_seconds`, and for evaluate stages
`evaluate_overhead_seconds` where the row has it; its GPU rows are derived from peak FLOP/s,
not measured. `python -m benchmarks.calibrate SPEC --store DIR` fits a device's row to the stage
times of a finished grid and writes a table for `xstilts plan --throughput FILE`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from xstilts.experiments.catalog import DatasetFacts, dataset_facts, model_facts
from xstilts.experiments.plan import Stage
from xstilts.experiments.settings import TaskTraining
from xstilts.experiments.spec import ExperimentSpec
from xstilts.experiments.throughput import Throughput, load_throughput
from xstilts.tasks import Task, get_task

DEFAULT_GPU = "h100"


@dataclass
class StageEstimate:
    stage_id: str
    kind: str
    train_tokens: float = 0.0
    inference_tokens: float = 0.0
    hours: float | None = None
    missing: str | None = None  # why there is no estimate
    # Multipliers of the table's rates for this stage (float32, LoRA, gradient checkpointing) and the
    # model's parameter count: what `benchmarks.calibrate` needs to fit a table to measured times.
    train_speed: float = 1.0
    inference_speed: float = 1.0
    parameters: float | None = None


@dataclass
class PlanEstimate:
    device: str
    stages: list[StageEstimate] = field(default_factory=list)

    def hours(self, stage_ids: set[str] | None = None, kind: str | None = None) -> float:
        return sum(
            s.hours or 0.0 for s in self.stages
            if (stage_ids is None or s.stage_id in stage_ids) and (kind is None or s.kind == kind)
        )

    def missing(self, stage_ids: set[str] | None = None) -> list[StageEstimate]:
        return [s for s in self.stages if s.hours is None and (stage_ids is None or s.stage_id in stage_ids)]


def default_device(spec: ExperimentSpec) -> str:
    if spec.executor.gpu:
        return spec.executor.gpu
    if spec.device == "cpu" or (all(m.path.startswith("synthetic:") for m in spec.models) and spec.device != "cuda"):
        return "cpu"
    return DEFAULT_GPU


def estimate_plan(stages: list[Stage], spec: ExperimentSpec, device: str | None = None, table: Path | None = None) -> PlanEstimate:
    throughput = load_throughput(device or default_device(spec), table)
    return PlanEstimate(throughput.device, [estimate_stage(s, throughput) for s in stages])


def estimate_stage(stage: Stage, throughput: Throughput) -> StageEstimate:
    out = StageEstimate(stage.id, stage.kind)
    try:
        if stage.kind == "intermediate":
            out.train_tokens, out.inference_tokens = _intermediate_tokens(stage)
        elif stage.kind == "target":
            out.train_tokens, out.inference_tokens = _target_tokens(stage)
        else:
            out.inference_tokens = _evaluate_tokens(stage)
    except UnknownSize as err:
        out.missing = str(err)
        return out
    facts = model_facts(stage.model.path)
    if facts is None:
        out.missing = f"size of {stage.model.path} unknown offline"
        return out
    inference_speed = 1.0
    if stage.model.dtype == "float32":  # half-precision weights run at the table's rates
        # A training stage's model (dev evaluations included) runs under its precision's autocast;
        # an evaluate stage loads its checkpoint without one, in float32.
        inference_speed = throughput.precision_factor(stage.training.first().precision if stage.training else "no")
    train_speed = inference_speed
    if stage.model.lora is not None:
        train_speed *= 6 / 4  # no weight gradients for the frozen body
    if stage.model.gradient_checkpointing:
        train_speed *= 6 / 8  # the forward pass runs twice
    out.train_speed, out.inference_speed, out.parameters = train_speed, inference_speed, facts.parameters
    seconds = throughput.overhead_seconds(stage.kind)
    seconds += out.train_tokens / (throughput.tokens_per_second(facts.parameters, "train") * train_speed)
    seconds += out.inference_tokens / (throughput.tokens_per_second(facts.parameters, "inference") * inference_speed)
    out.hours = seconds / 3600
    return out


class UnknownSize(Exception):
    """A dataset size the estimate needs is not in the catalog."""


def _facts(name: str) -> DatasetFacts:
    facts = dataset_facts(name)
    if facts is None:
        raise UnknownSize(f"size of {name} unknown")
    return facts


def _example_tokens(task: Task, facts: DatasetFacts, max_length: int, evaluation: bool = False) -> float:
    choices = task.num_choices or 1
    tokens = facts.eval_tokens if evaluation and facts.eval_tokens is not None else facts.tokens
    return choices * min(tokens / choices, max_length)


class PhaseTokens(NamedTuple):
    """Training on one task's English data, as the stage runner would run it."""

    steps: int
    tokens_per_step: float
    dev_tokens: float  # of one English-dev evaluation
    eval_every: int  # steps between evaluations


def phase_tokens(name: str, settings: TaskTraining, extra_copies: int = 0) -> PhaseTokens:
    """Training on task `name`'s data (plus `extra_copies` translations of it) with `settings`."""
    task = get_task(name)
    facts = _facts(name)
    n = facts.train * (1 + extra_copies)
    n = min(n, settings.max_train_examples) if settings.max_train_examples else n
    dev = min(facts.dev, settings.max_dev_examples) if settings.max_dev_examples else facts.dev
    per_step = settings.batch_size * settings.gradient_accumulation * _example_tokens(task, facts, settings.max_length)
    return PhaseTokens(settings.steps(n), per_step, dev * _example_tokens(task, facts, settings.max_length, True), settings.eval_interval(n))


def training_phases(stage: Stage) -> list[PhaseTokens]:
    """The phases of a training stage: one per intermediate task (trained together), or each
    English phase of the target in turn, with the target's settings. Raises UnknownSize."""
    if stage.training is None:
        return []
    if stage.kind == "intermediate":
        copies = len(stage.condition.translated or [])
        return [phase_tokens(name, stage.training.tasks[name], copies) for name in stage.condition.tasks]
    target = get_task(stage.task or "")
    settings = stage.training.tasks[target.name]
    return [phase_tokens(name, settings) for name in (*target.train_first, target.train_task or target.name)]


def _evaluations(steps: int, eval_every: int) -> int:
    """Dev evaluations of a training phase: every `eval_every` steps and after the last (once
    when the last step is also an evaluation step), as the training loop runs them."""
    return math.ceil(steps / eval_every)


def _intermediate_tokens(stage: Stage) -> tuple[float, float]:
    assert stage.training is not None
    condition = stage.condition
    phases = training_phases(stage)
    if stage.training.max_steps is not None:
        per_step = sum(p.tokens_per_step for p in phases) / len(phases)
        steps = stage.training.max_steps
        train = steps * per_step
    else:
        steps = sum(p.steps for p in phases)
        train = sum(p.steps * p.tokens_per_step for p in phases)
    evaluations = _evaluations(steps, phases[0].eval_every)
    inference = evaluations * sum(p.dev_tokens for p in phases)
    if condition.lm_mix:
        batch = stage.training.first().batch_size
        train += steps * condition.lm_mix.ratio / (1 - condition.lm_mix.ratio) * batch * condition.lm_mix.max_length
    return train, inference


def _target_tokens(stage: Stage) -> tuple[float, float]:
    train = inference = 0.0
    for phase in training_phases(stage):
        train += phase.steps * phase.tokens_per_step
        inference += _evaluations(phase.steps, phase.eval_every) * phase.dev_tokens
    return train, inference


def _evaluate_tokens(stage: Stage) -> float:
    assert stage.evaluation is not None
    settings = stage.evaluation
    task = get_task(stage.task or "")
    facts = _facts(task.name)
    per_language = facts.eval_per_language
    if settings.max_examples:
        per_language = min(per_language, settings.max_examples)
    tokens = _example_tokens(task, facts, settings.max_length, evaluation=True)
    return (per_language * len(settings.languages) + facts.eval_shared) * tokens


__all__ = [
    "PhaseTokens", "PlanEstimate", "StageEstimate", "UnknownSize", "default_device", "estimate_plan", "estimate_stage",
    "phase_tokens", "training_phases",
]
