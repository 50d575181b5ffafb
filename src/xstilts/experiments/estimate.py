"""Device-hours of a plan, estimated offline from dataset sizes and a throughput table.

    tokens of a training stage  = optimizer steps x examples per step x tokens per example
                                  + English-dev evaluations during training
    tokens of an evaluate stage = examples of every evaluated language x tokens per example
    hours = stage overhead + training tokens / training tokens-per-second
            + inference tokens / inference tokens-per-second

Steps follow the same rules as the stage runner (epochs over the capped training set, or
max_steps); early stopping can only make a stage shorter, so training estimates are upper bounds.
Tokens per second come from `throughput.json` (per device and model size, interpolated log-log in
the parameter count), with an optional fixed `stage_overhead_seconds` per device (start-up, model
loading, featurisation: what dominates small stages); its GPU rows are derived from peak FLOP/s,
not measured. `python -m benchmarks.calibrate SPEC --store DIR` fits a device's row to the stage
times of a finished grid and writes a table for `xstilts plan --throughput FILE`.
"""

from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from xstilts.errors import ConfigError, unknown_name
from xstilts.experiments.catalog import DatasetFacts, dataset_facts, model_facts
from xstilts.experiments.plan import Stage
from xstilts.experiments.spec import ExperimentSpec, PhaseSettings
from xstilts.tasks import Task, get_task

THROUGHPUT_FILE = Path(__file__).with_name("throughput.json")
DEFAULT_GPU = "h100"


@dataclass(frozen=True)
class Throughput:
    device: str
    sizes: dict[str, float]
    train: dict[str, float]
    inference: dict[str, float]
    fp32_factor: float
    stage_overhead_seconds: float = 0.0

    def tokens_per_second(self, parameters: float, mode: str) -> float:
        table = self.train if mode == "train" else self.inference
        points = sorted((self.sizes[label], value) for label, value in table.items())
        if parameters <= points[0][0]:
            return points[0][1]  # smaller models are overhead-bound: no faster than the smallest row
        for (n0, v0), (n1, v1) in itertools.pairwise(points):
            if parameters <= n1:
                t = (math.log(parameters) - math.log(n0)) / (math.log(n1) - math.log(n0))
                return math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0)))
        n, v = points[-1]
        return v * n / parameters  # cost grows with the parameter count beyond the table


@lru_cache(maxsize=8)
def _read_table(path: str) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: throughput table not found") from None
    except ValueError as err:
        raise ConfigError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or "sizes" not in data or "devices" not in data:
        raise ConfigError(f"{path}: a throughput table needs 'sizes' and 'devices' (see {THROUGHPUT_FILE.name} shipped with xstilts)")
    return data


def gpu_names(path: Path | None = None) -> list[str]:
    return sorted(_read_table(str(path or THROUGHPUT_FILE))["devices"])


def load_throughput(device: str, path: Path | None = None) -> Throughput:
    table_path = str(path or THROUGHPUT_FILE)
    data = _read_table(table_path)
    if device not in data["devices"]:
        raise unknown_name("device in the throughput table", device, data["devices"], where=table_path)
    row = data["devices"][device]
    sizes = {label: float(n) for label, n in data["sizes"].items()}
    for mode in ("train", "inference"):
        for label in row.get(mode, {}):
            if label not in sizes:
                raise ConfigError(f"{table_path}: devices.{device}.{mode}: size {label!r} is not listed under 'sizes'")
    overhead = row.get("stage_overhead_seconds", 0.0)
    if not isinstance(overhead, (int, float)) or overhead < 0:
        raise ConfigError(f"{table_path}: devices.{device}.stage_overhead_seconds: expected a number of seconds >= 0, got {overhead!r}")
    return Throughput(device, sizes, row["train"], row["inference"], float(row.get("fp32_factor", 1.0)), float(overhead))


@dataclass
class StageEstimate:
    stage_id: str
    kind: str
    train_tokens: float = 0.0
    inference_tokens: float = 0.0
    hours: float | None = None
    missing: str | None = None  # why there is no estimate
    # Multipliers of the table's rates for this stage (fp32, LoRA, gradient checkpointing) and the
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
    return PlanEstimate(throughput.device, [estimate_stage(s, spec, throughput) for s in stages])


def estimate_stage(stage: Stage, spec: ExperimentSpec, throughput: Throughput) -> StageEstimate:
    out = StageEstimate(stage.id, stage.kind)
    try:
        if stage.kind == "intermediate":
            out.train_tokens, out.inference_tokens = _intermediate_tokens(stage)
        elif stage.kind == "target":
            out.train_tokens, out.inference_tokens = _target_tokens(stage)
        else:
            out.inference_tokens = _evaluate_tokens(stage, spec)
    except _Unknown as err:
        out.missing = str(err)
        return out
    facts = model_facts(stage.model.path)
    if facts is None:
        out.missing = f"size of {stage.model.path} unknown offline"
        return out
    speed = 1.0
    settings = stage.settings or PhaseSettings()
    if stage.model.dtype == "float32" and (settings.precision in (None, "no") or stage.kind == "evaluate"):
        speed *= throughput.fp32_factor
    train_speed = speed
    if stage.model.lora is not None:
        train_speed *= 6 / 4  # no weight gradients for the frozen body
    if stage.model.gradient_checkpointing:
        train_speed *= 6 / 8  # the forward pass runs twice
    out.train_speed, out.inference_speed, out.parameters = train_speed, speed, facts.parameters
    seconds = throughput.stage_overhead_seconds
    seconds += out.train_tokens / (throughput.tokens_per_second(facts.parameters, "train") * train_speed)
    seconds += out.inference_tokens / (throughput.tokens_per_second(facts.parameters, "inference") * speed)
    out.hours = seconds / 3600
    return out


class _Unknown(Exception):
    """Something the estimate needs is not in the catalog."""


def _facts(name: str) -> DatasetFacts:
    facts = dataset_facts(name)
    if facts is None:
        raise _Unknown(f"size of {name} unknown")
    return facts


def _example_tokens(task: Task, facts: DatasetFacts, max_length: int, evaluation: bool = False) -> float:
    choices = task.num_choices or 1
    tokens = facts.eval_tokens if evaluation and facts.eval_tokens is not None else facts.tokens
    return choices * min(tokens / choices, max_length)


def _steps(n: int, s: PhaseSettings, task_hp_max_steps: int | None, epochs: float, batch: int, accumulation: int) -> int:
    if s.max_steps is not None:
        return s.max_steps
    if s.epochs is not None or task_hp_max_steps is None:
        return max(1, math.ceil(n * epochs / (batch * accumulation)))
    return task_hp_max_steps


def _training_tokens(name: str, hp_task: Task, s: PhaseSettings, extra_copies: int = 0) -> tuple[int, float, float, int]:
    """(steps, tokens per step, dev tokens per evaluation, steps between evaluations) of one phase."""
    task = get_task(name)
    facts = _facts(name)
    hp = hp_task.hyperparameters
    n = facts.train * (1 + extra_copies)
    cap = s.max_train_examples or hp.max_train_examples
    n = min(n, cap) if cap else n
    batch = s.batch_size or hp.batch_size
    accumulation = s.gradient_accumulation or hp.gradient_accumulation
    max_length = s.max_length or hp.max_length
    steps = _steps(n, s, hp.max_steps, s.epochs or hp.epochs, batch, accumulation)
    per_epoch = max(1, math.ceil(n / (batch * accumulation)))
    eval_every = min(s.eval_every or hp.eval_every or per_epoch, steps)
    dev = min(facts.dev, s.max_dev_examples) if s.max_dev_examples else facts.dev
    return steps, batch * accumulation * _example_tokens(task, facts, max_length), dev * _example_tokens(task, facts, max_length, True), eval_every


def _evaluations(steps: int, eval_every: int) -> int:
    """Dev evaluations of a training phase: every `eval_every` steps and after the last (once
    when the last step is also an evaluation step), as the training loop runs them."""
    return math.ceil(steps / eval_every)


def _intermediate_tokens(stage: Stage) -> tuple[float, float]:
    s = stage.settings or PhaseSettings()
    condition = stage.condition
    copies = len(condition.translated or [])
    phases = [_training_tokens(name, get_task(name), s, copies) for name in condition.tasks]
    if s.max_steps is not None:
        per_step = sum(p[1] for p in phases) / len(phases)
        steps = s.max_steps
        train = steps * per_step
    else:
        steps = sum(p[0] for p in phases)
        train = sum(p[0] * p[1] for p in phases)
    evaluations = _evaluations(steps, phases[0][3])
    inference = evaluations * sum(p[2] for p in phases)
    if condition.lm_mix:
        batch = s.batch_size or get_task(condition.tasks[0]).hyperparameters.batch_size
        train += steps * condition.lm_mix.ratio / (1 - condition.lm_mix.ratio) * batch * condition.lm_mix.max_length
    return train, inference


def _target_tokens(stage: Stage) -> tuple[float, float]:
    target = get_task(stage.task or "")
    s = stage.settings or PhaseSettings()
    train = inference = 0.0
    for name in (*target.train_first, target.train_task or target.name):
        steps, per_step, dev, eval_every = _training_tokens(name, target, s)
        train += steps * per_step
        inference += _evaluations(steps, eval_every) * dev
    return train, inference


def _evaluate_tokens(stage: Stage, spec: ExperimentSpec) -> float:
    task = get_task(stage.task or "")
    facts = _facts(task.name)
    languages = [lang for lang in (spec.evaluation.languages or task.languages) if lang in task.languages]
    per_language = facts.eval_per_language
    if spec.evaluation.max_examples:
        per_language = min(per_language, spec.evaluation.max_examples)
    tokens = _example_tokens(task, facts, task.hyperparameters.max_length, evaluation=True)
    return (per_language * len(languages) + facts.eval_shared) * tokens


__all__ = [
    "PlanEstimate", "StageEstimate", "Throughput", "default_device", "estimate_plan", "estimate_stage",
    "gpu_names", "load_throughput",
]
