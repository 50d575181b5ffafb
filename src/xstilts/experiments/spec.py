"""The experiment spec: one YAML file describing a grid of models x intermediate conditions x
targets x seeds, validated before anything runs."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from xstilts.config import from_dict, load_yaml, to_dict
from xstilts.errors import ConfigError, unknown_name
from xstilts.tasks.base import Role, TaskKind

NONE = "none"
MULTITASK = "multitask"


@dataclass(frozen=True)
class LoraSpec:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.05
    target_modules: list[str] | None = None  # None: peft's default for the architecture


@dataclass(frozen=True)
class ModelSpec:
    name: str  # label used in tables and reports
    path: str  # hub id, local folder, or synthetic:encoder / synthetic:decoder
    family: Literal["auto", "encoder", "decoder"] = "auto"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    attn_implementation: Literal["sdpa", "eager", "flash_attention_2"] = "sdpa"
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    revision: str | None = None
    pooling: Literal["first", "last", "mean"] | None = None  # None: first (encoders) / last (decoders)
    retrieval_layer: int | None = None  # index into hidden_states; None: num_layers // 2 + 2
    retrieval_pooling: Literal["mean", "first", "last"] = "mean"
    lora: LoraSpec | None = None
    freeze_embeddings: bool = False


@dataclass(frozen=True)
class LMMixSpec:
    """Continued multilingual language modelling mixed into intermediate training (the paper's
    MLM baseline; causal LM for decoders)."""

    ratio: float = 0.2  # share of training steps that are LM steps
    corpus: str = "synthetic"  # "synthetic", a local text file (one document per line), or a hub dataset id
    max_length: int = 64
    mask_rate: float = 0.15


@dataclass(frozen=True)
class ConditionSpec:
    """One intermediate-training condition; `tasks: []` is the no-intermediate baseline."""

    name: str
    tasks: list[str] = field(default_factory=list)
    sampling: Literal["proportional", "temperature", "uniform"] = "proportional"
    temperature: float = 2.0
    max_examples_per_task: int | None = None
    lm_mix: LMMixSpec | None = None
    translated: list[str] | None = None  # train on machine-translated data in these languages

    @property
    def is_baseline(self) -> bool:
        return not self.tasks


@dataclass(frozen=True)
class PhaseSettings:
    """Overrides of the training defaults (task hyper-parameters); None keeps the default."""

    learning_rate: float | None = None
    batch_size: int | None = None
    epochs: float | None = None
    max_steps: int | None = None
    warmup_ratio: float | None = None
    weight_decay: float | None = None
    gradient_accumulation: int | None = None
    max_grad_norm: float | None = None
    eval_every: int | None = None
    patience: int | None = None
    precision: Literal["auto", "no", "bf16", "fp16"] | None = None  # None: auto (bf16 on GPUs that support it)
    max_length: int | None = None
    max_train_examples: int | None = None
    max_dev_examples: int | None = None
    checkpoint_every: int | None = None

    def merged(self, other: "PhaseSettings | None") -> "PhaseSettings":
        if other is None:
            return self
        return replace(self, **{k: v for k, v in vars(other).items() if v is not None})


@dataclass(frozen=True)
class TrainingSpec:
    intermediate: PhaseSettings = PhaseSettings()
    target: PhaseSettings = PhaseSettings()
    tasks: dict[str, PhaseSettings] = field(default_factory=dict)  # per task, applied last
    max_restarts: int = 2  # restarts with a new seed when a run collapses to chance on English dev


@dataclass(frozen=True)
class EvaluationSpec:
    split: str | None = None  # None: each task's eval split (validation; XTREME test labels are hidden)
    languages: list[str] | None = None  # None: every language of the task
    batch_size: int = 64
    max_examples: int | None = None  # per language, for quick runs


@dataclass(frozen=True)
class ExperimentSpec:
    name: str
    models: list[ModelSpec]
    targets: list[str]
    intermediate: list[str | ConditionSpec] = field(default_factory=lambda: [NONE])
    seeds: list[int] = field(default_factory=lambda: [0])
    output_dir: str | None = None  # default: runs/<name>
    data_dir: str | None = None
    training: TrainingSpec = TrainingSpec()
    evaluation: EvaluationSpec = EvaluationSpec()
    keep_target_checkpoints: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"

    # -- derived ------------------------------------------------------------------------------------
    def conditions(self) -> list[ConditionSpec]:
        return [_condition(c) for c in self.intermediate]

    def target_names(self) -> list[str]:
        return expand_targets(self.targets, "targets")

    def output_path(self, base: Path | None = None) -> Path:
        path = Path(self.output_dir or f"runs/{self.name}")
        return path if path.is_absolute() or base is None else base / path

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(to_dict(self), sort_keys=True).encode()).hexdigest()[:16]


def _condition(item: str | ConditionSpec) -> ConditionSpec:
    if isinstance(item, ConditionSpec):
        return item
    if item == NONE:
        return ConditionSpec(name=NONE)
    if item == MULTITASK:
        from xstilts.tasks.benchmarks import PAPER_INTERMEDIATE_TASKS

        return ConditionSpec(name=MULTITASK, tasks=list(PAPER_INTERMEDIATE_TASKS))
    return ConditionSpec(name=item, tasks=[item])


BENCHMARK_NAMES = ("xtreme", "xtreme-r", "synthetic")


def expand_targets(names: list[str], where: str) -> list[str]:
    from xstilts.tasks import all_tasks

    out: list[str] = []
    for name in names:
        if name in BENCHMARK_NAMES:
            out += [t.name for t in all_tasks() if name in t.benchmarks and t.role is Role.TARGET]
        else:
            out.append(name)
    return list(dict.fromkeys(out))


def load_spec(path: Path) -> ExperimentSpec:
    data = load_yaml(path)
    spec = from_dict(ExperimentSpec, data, str(path))
    validate(spec, str(path))
    return spec


def spec_from_dict(data: dict, where: str = "spec") -> ExperimentSpec:
    spec = from_dict(ExperimentSpec, data, where)
    validate(spec, where)
    return spec


def validate(spec: ExperimentSpec, where: str) -> None:
    """Every check that needs no network and no model: names, roles, combinations."""
    from xstilts.tasks import get_task

    if not spec.models:
        raise ConfigError(f"{where}.models: at least one model is needed")
    _unique([m.name for m in spec.models], f"{where}.models", "model name")
    _unique([str(s) for s in spec.seeds], f"{where}.seeds", "seed")
    if not spec.seeds:
        raise ConfigError(f"{where}.seeds: at least one seed is needed")
    for i, m in enumerate(spec.models):
        if not m.path:
            raise ConfigError(f"{where}.models[{i}].path: empty")
        if m.path.startswith("synthetic:") and m.path not in ("synthetic:encoder", "synthetic:decoder"):
            raise unknown_name("model", m.path, ["synthetic:encoder", "synthetic:decoder"], where=f"{where}.models[{i}].path")
        if m.path == "synthetic:encoder" and m.family == "decoder" or m.path == "synthetic:decoder" and m.family == "encoder":
            raise ConfigError(f"{where}.models[{i}].family: {m.path} is not a {m.family}")
    if not spec.targets:
        raise ConfigError(f"{where}.targets: at least one target task is needed")
    for i, name in enumerate(spec.targets):
        if name in BENCHMARK_NAMES:
            continue
        task = get_task(name, where=f"{where}.targets[{i}]")
        if task.role is not Role.TARGET:
            raise ConfigError(f"{where}.targets[{i}]: {name!r} is an {task.role.value} task, not a target")
    conditions = spec.conditions()
    _unique([c.name for c in conditions], f"{where}.intermediate", "condition name")
    for i, c in enumerate(conditions):
        for task_name in c.tasks:
            task = get_task(task_name, where=f"{where}.intermediate[{i}]")
            if not task.trainable:
                raise ConfigError(f"{where}.intermediate[{i}]: {task_name!r} is a retrieval task and has no training data")
        if c.lm_mix and not 0 < c.lm_mix.ratio < 1:
            raise ConfigError(f"{where}.intermediate[{i}].lm_mix.ratio: must be between 0 and 1, got {c.lm_mix.ratio}")
        if c.is_baseline and (c.lm_mix or c.translated):
            raise ConfigError(f"{where}.intermediate[{i}]: the no-intermediate baseline cannot mix in LM or translated data; give it tasks")
    for name, settings in spec.training.tasks.items():
        task = get_task(name, where=f"{where}.training.tasks")
        if task.kind is TaskKind.RETRIEVAL:
            raise ConfigError(
                f"{where}.training.tasks.{name}: {name} is a retrieval task; it has no training phase "
                "(it is evaluated with the intermediate checkpoint)"
            )
    for phase_name in ("intermediate", "target"):
        s = getattr(spec.training, phase_name)
        _check_positive(s, f"{where}.training.{phase_name}")
    for name, s in spec.training.tasks.items():
        _check_positive(s, f"{where}.training.tasks.{name}")
    if spec.evaluation.languages:
        known = {lang for t in spec.target_names() for lang in get_task(t).languages} | {
            lang for t in spec.target_names() for langs in get_task(t).benchmark_languages.values() for lang in langs
        }
        for lang in spec.evaluation.languages:
            if lang not in known:
                raise unknown_name("language", lang, known, where=f"{where}.evaluation.languages")


def _check_positive(s: PhaseSettings, where: str) -> None:
    for key in ("learning_rate", "batch_size", "epochs", "max_steps", "gradient_accumulation", "eval_every", "max_length"):
        value = getattr(s, key)
        if value is not None and value <= 0:
            raise ConfigError(f"{where}.{key}: must be positive, got {value}")


def _unique(values: list[str], where: str, what: str) -> None:
    seen = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"{where}: {what} {v!r} appears twice")
        seen.add(v)
