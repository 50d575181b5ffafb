"""Expanding a spec into stages with content-addressed ids.

Three kinds of stage:
  intermediate  base model + English intermediate condition          -> checkpoint
  target        intermediate checkpoint (or base model) + English target training -> checkpoint
  evaluate      checkpoint + every language of a target               -> predictions and scores
Retrieval targets have no target stage: they evaluate the intermediate checkpoint directly.

Each stage carries its settings, resolved once here through the settings chain
(`xstilts.experiments.settings`); whatever runs or estimates a stage reads them from the stage.

A stage's id hashes everything that determines its output (model, seed, tasks, the training
settings it resolves to, data, its parent's id) and nothing that is only a label or only changes
how it runs (names, output folder, executor, evaluation batch size, checkpoint frequency), so an
intermediate checkpoint is trained once and shared by every target, and by every spec and rerun
that uses the same output folder (its results store).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from xstilts.config import to_dict
from xstilts.experiments.settings import (
    StageEvaluation,
    StageTraining,
    resolve_evaluation,
    resolve_training,
    spec_overrides,
)
from xstilts.experiments.spec import ConditionSpec, ExperimentSpec, ModelSpec
from xstilts.models.backbone import builtin_model, builtin_retrieval_layer
from xstilts.synthetic.spec import SyntheticSpec
from xstilts.tasks import get_task
from xstilts.tasks.base import Task

# Bump when a change to the pipeline changes what a stage produces for the same inputs.
# 4: LAReQA candidates are encoded as (sentence, paragraph), as in XTREME.
# 5: ids hash the resolved settings (Stage.training / Stage.evaluation): precision "auto" apart from
#    "no", the spec's epochs over a task's default max_steps, a retrieval target's max_length.
PIPELINE_VERSION = 5

StageKind = Literal["intermediate", "target", "evaluate"]


@dataclass(frozen=True)
class Stage:
    id: str
    kind: StageKind
    model: ModelSpec
    seed: int
    condition: ConditionSpec
    task: str | None  # target task (target and evaluate stages)
    parent: str | None  # id of the stage whose checkpoint this one starts from; None: the base model
    training: StageTraining | None  # resolved training settings (intermediate and target stages)
    evaluation: StageEvaluation | None  # resolved evaluation settings (evaluate stages)

    @property
    def label(self) -> str:
        parts = [self.kind, self.model.name, self.condition.name]
        if self.task:
            parts.append(self.task)
        return "/".join(parts) + f"/seed{self.seed}"

    def describe(self) -> dict:
        return {
            "id": self.id, "kind": self.kind, "model": self.model.name, "model_path": self.model.path,
            "condition": self.condition.name,
            "task": self.task, "seed": self.seed, "parent": self.parent,
            # The condition's full spec (tasks, lm_mix, translated): the report tells baseline variants apart by it.
            "condition_spec": to_dict(self.condition),
        }


def _hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _data_fingerprint(task_names: list[str], model: ModelSpec) -> dict:
    """What identifies the data behind the tasks: the synthetic benchmark's spec where used."""

    synthetic = model.path.startswith("synthetic:") or any("synthetic" in get_task(t).benchmarks for t in task_names)
    return {"synthetic": SyntheticSpec().fingerprint} if synthetic else {}


def _model_key(model: ModelSpec) -> dict:
    key = to_dict(model)
    key.pop("name")
    key.pop("sdpa_backends")  # which kernels compute attention: scores move within rounding, as across devices
    if model.retrieval_layer is not None and model.retrieval_layer == builtin_retrieval_layer(model.path):
        key["retrieval_layer"] = None  # a built-in model's chosen layer, written out, resolves as left unset
    if key["attn_implementation"] == "auto":
        key["attn_implementation"] = "sdpa"  # auto replaced the default sdpa: same ids for the models that support it
    return key


def _condition_key(condition: ConditionSpec) -> dict:
    key = to_dict(condition)
    key.pop("name")
    return key


def _settings_key(training: StageTraining) -> dict:
    """The resolved training settings of a stage: what it trains with, whether written in the spec
    or left to a default (a default written out explicitly resolves the same). `checkpoint_every`
    changes only how often training can resume, so it is left out; so is the stage's `max_steps`
    where it has one task, whose own max_steps it equals (it caps only multi-task stages).
    `packing` is in the key only when on, so the ids of stages trained without it stay those they
    had before the setting existed."""
    key = to_dict(training)
    for task in key["tasks"].values():
        task.pop("checkpoint_every")
        if not task["packing"]:
            task.pop("packing")
    if len(training.tasks) == 1:
        key.pop("max_steps")
    return key


def _evaluation_key(evaluation: StageEvaluation, model: ModelSpec, task: Task) -> dict:
    """The resolved evaluation settings of a stage, less the batch size: how many examples go
    through the model at once does not change the scores. Languages are a set: each is scored alone.
    `retrieval_centering` is in the key only when on (retrieval targets only).
    A retrieval target of a built-in model that embeds with its plug-in's chosen layer has that
    layer in the key (no other stage depends on it, so only those ids change with the choice)."""
    key = to_dict(evaluation)
    key.pop("batch_size")
    if not key["retrieval_centering"]:
        key.pop("retrieval_centering")  # in the key only when on: the ids of earlier stages stay
    key["languages"] = sorted(key["languages"])
    chosen = builtin_retrieval_layer(model.path)
    if not task.trainable and chosen is not None and model.retrieval_layer in (None, chosen):
        key["retrieval_layer"] = chosen
    return key


def plan(spec: ExperimentSpec) -> list[Stage]:
    """Every stage of the grid, parents before children, without duplicates."""
    stages: dict[str, Stage] = {}
    targets = spec.target_names()
    for model in spec.models:
        for seed in spec.seeds:
            for condition in spec.conditions():
                parent = None
                if not condition.is_baseline:
                    given = spec_overrides(spec, "intermediate", condition.tasks)
                    training = resolve_training(spec, given, condition.tasks)
                    key = {
                        "v": PIPELINE_VERSION, "kind": "intermediate", "model": _model_key(model), "seed": seed,
                        "condition": _condition_key(condition), "settings": _settings_key(training), "data_dir": spec.data_dir,
                        "data": _data_fingerprint(condition.tasks, model),
                    }
                    parent = _add(stages, Stage(_hash(key), "intermediate", model, seed, condition, None, None, training, None))
                for target in targets:
                    task = get_task(target)
                    source = parent
                    if task.trainable:
                        given = spec_overrides(spec, "target", [target])
                        training = resolve_training(spec, given, [target])
                        key = {
                            "v": PIPELINE_VERSION, "kind": "target", "model": _model_key(model), "seed": seed,
                            "parent": parent, "task": target, "settings": _settings_key(training), "data_dir": spec.data_dir,
                            "data": _data_fingerprint([target], model),
                        }
                        source = _add(stages, Stage(_hash(key), "target", model, seed, condition, target, parent, training, None))
                    evaluation = resolve_evaluation(spec, target)
                    key = {
                        "v": PIPELINE_VERSION, "kind": "evaluate", "model": _model_key(model), "seed": seed,
                        "parent": source, "task": target, "evaluation": _evaluation_key(evaluation, model, task), "data_dir": spec.data_dir,
                        "data": _data_fingerprint([target], model),
                    }
                    _add(stages, Stage(_hash(key), "evaluate", model, seed, condition, target, source, None, evaluation))
    return list(stages.values())


def _add(stages: dict[str, Stage], stage: Stage) -> str:
    # The same id can arise from two conditions with equal content but different names: keep the first.
    stages.setdefault(stage.id, stage)
    return stage.id


@dataclass(frozen=True)
class ModelToMake:
    path: str
    minutes: float | None  # measured CPU-core minutes to make it, where the plug-in knows


def models_to_make(stages: Iterable[Stage]) -> list[ModelToMake]:
    """Built-in models (`synthetic:encoder-3`, ...) of `stages` that have no copy yet: the run
    makes them (pretrains them) before their first stage."""
    needed = {s.model.path for s in stages}
    out = []
    for path in sorted(needed):
        builtin = builtin_model(path)
        if builtin and builtin[0].existing(builtin[1]) is None:
            out.append(ModelToMake(path, builtin[0].make_minutes))
    return out
