"""Running one stage: intermediate training, target training, or zero-shot evaluation."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from xstilts.data.loading import english_training, load_examples, load_translated_train
from xstilts.errors import CheckpointError, ConfigError, DataError, XStiltsError
from xstilts.evaluation.floors import majority_score
from xstilts.evaluation.metrics import get_metric
from xstilts.evaluation.predict import evaluate
from xstilts.experiments.plan import Stage
from xstilts.experiments.processes import barrier, is_main_process, world_size
from xstilts.experiments.settings import StageEvaluation, StageTraining
from xstilts.experiments.spec import ExperimentSpec
from xstilts.experiments.store import FLAGS_KEY, GAPS_KEY
from xstilts.io import atomic_dir, atomic_write_json, cache_root, write_jsonl
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import resolve_model_path
from xstilts.models.model import XStiltsModel, load_checkpoint, load_pretrained, read_manifest
from xstilts.models.sdpa import backends_for
from xstilts.tasks import Task, get_task
from xstilts.training.loop import TaskData, Trainer
from xstilts.training.settings import TrainSettings

log = logging.getLogger(__name__)

# A run whose best English-dev score is within this many points of chance has collapsed.
COLLAPSE_MARGIN = 2.0


@dataclass
class StageContext:
    spec: ExperimentSpec
    root: Path  # the experiment's output folder
    device: torch.device

    @property
    def feature_cache(self) -> Path:

        return cache_root() / "features"

    def features(self, model: XStiltsModel, task: Task, examples: list, options: FeaturizeOptions) -> list:
        from xstilts.models.features import cached_features  # lazy: loads torch

        return cached_features(model, task, examples, options, self.feature_cache)

    def stage_dir(self, stage_id: str) -> Path:
        return self.root / "stages" / stage_id

    def work_dir(self, stage_id: str) -> Path:
        return self.root / "work" / stage_id

    def checkpoint(self, stage_id: str) -> Path:
        path = self.stage_dir(stage_id) / "checkpoint"
        if not (path / "manifest.json").exists():
            raise CheckpointError(f"{path}: checkpoint of stage {stage_id} is missing; was the stage run?")
        return path

    def parent_checkpoint(self, stage: Stage) -> Path:
        """The parent's checkpoint, refused unless it continues this stage's model: a stage folder
        holding another model's (or family's) checkpoint would otherwise be trained or scored as it."""
        path = self.checkpoint(stage.parent or "")
        manifest = read_manifest(path)
        declared = stage.model.family if stage.model.family != "auto" else None
        if manifest.get("base_model") != stage.model.path or (declared and manifest.get("family") != declared):
            raise CheckpointError(
                f"{path}: checkpoint of {manifest.get('base_model')} ({manifest.get('family')}), but stage {stage.label} "
                f"continues {stage.model.path}{f' ({declared})' if declared else ''}; the stage folder holds another model's checkpoint"
            )
        return path


def model_provenance(model: XStiltsModel) -> dict:
    """How the backbone ran, for the stage's provenance record: what `auto` options resolved to."""
    weights = next(model.body.parameters())
    backends = backends_for(model.sdpa_backends, weights.device.type) if model.attn_implementation == "sdpa" else None
    return {
        "attn_implementation": model.attn_implementation, "dtype": str(weights.dtype).removeprefix("torch."),
        "sdpa_backends": ",".join(backends) if backends else ("torch's choice" if model.attn_implementation == "sdpa" else None),
    }


# -- device and settings ----------------------------------------------------------------------------
def choose_device(spec: ExperimentSpec) -> torch.device:
    if spec.device == "cpu" or (spec.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise XStiltsError("device: cuda was asked for but no CUDA device is available")
    return torch.device("cuda")


def training_of(stage: Stage) -> StageTraining:
    if stage.training is None:
        raise XStiltsError(f"{stage.label}: a {stage.kind} stage has no training settings")
    return stage.training


def evaluation_of(stage: Stage) -> StageEvaluation:
    if stage.evaluation is None:
        raise XStiltsError(f"{stage.label}: a {stage.kind} stage has no evaluation settings")
    return stage.evaluation


# -- data ------------------------------------------------------------------------------------------
def _cap(examples: list, n: int | None) -> list:
    """The first `n` examples; for retrieval, the first `n` queries with their gold candidates
    and the first `n` candidates (a pool to search, not only the answers)."""
    if not n or len(examples) <= n:
        return examples
    if not examples or "side" not in examples[0]:
        return examples[:n]
    queries = [ex for ex in examples if ex["side"] == "query"][:n]
    gold = {g for q in queries for g in q["gold"]}
    candidates = [ex for ex in examples if ex["side"] == "candidate"]
    kept = {ex["id"] for ex in candidates[:n]} | gold
    return queries + [ex for ex in candidates if ex["id"] in kept]


# -- model loading ----------------------------------------------------------------------------------
def load_start_model(stage: Stage, ctx: StageContext) -> tuple[XStiltsModel, dict]:
    """The model a training stage starts from: the base model or the parent's checkpoint body."""
    options = stage.model.backbone_options()
    if stage.parent is None:
        model = load_pretrained(stage.model.path, options, pooling=stage.model.pooling)
        loaded = {"loaded": stage.model.path, "weights": "pretrained backbone", "heads": "none"}
    else:
        path = ctx.parent_checkpoint(stage)
        model = load_checkpoint(path, options, tasks=None, keep_heads=False)
        dropped = [h["task"] for h in read_manifest(path)["heads"]]
        loaded = {"loaded": str(path), "weights": f"body of stage {stage.parent}", "heads": f"discarded {dropped}"}
    log.info("%s loads %s (%s; heads: %s; %s, pooling %s)", stage.label, loaded["loaded"], loaded["weights"], loaded["heads"], model.family.value, model.pooling)
    return model, loaded


# -- intermediate ----------------------------------------------------------------------------------
def run_intermediate(stage: Stage, ctx: StageContext) -> dict:
    condition = stage.condition
    training = training_of(stage)
    model, loaded = load_start_model(stage, ctx)
    data, settings_per_task = [], []
    for name in condition.tasks:
        task, resolved = get_task(name), training.tasks[name]
        train = load_examples(task, task.train_split, "en", ctx.spec.data_dir)
        if condition.translated:
            for language in condition.translated:
                train = train + load_translated_train(task, language, ctx.spec.data_dir)
        train = _cap(train, resolved.max_train_examples)
        dev = _cap(load_examples(task, task.dev_split, "en", ctx.spec.data_dir), resolved.max_dev_examples)
        settings_per_task.append(resolved.train_settings(len(train), stage.seed, stage.model.freeze_embeddings))
        options = FeaturizeOptions(max_length=resolved.max_length)
        data.append(TaskData(task, ctx.features(model, task, train, options), dev, ctx.features(model, task, dev, options)))
    first = settings_per_task[0]
    steps = training.max_steps or sum(s.max_steps for s in settings_per_task)
    settings = dataclasses.replace(
        first, max_steps=steps, eval_every=min(first.eval_every, steps), sampling=condition.sampling,
        temperature=condition.temperature, max_examples_per_task=condition.max_examples_per_task,
    )
    lm = None
    if condition.lm_mix:
        from xstilts.training.lm import LMData, attach_lm_head, lm_features, read_corpus  # lazy: loads torch

        mix = condition.lm_mix
        attach_lm_head(model, resolve_model_path(stage.model.path))
        # Enough documents for every LM step of the run, and never fewer than 1,000.
        wanted = max(1000, int(settings.max_steps * mix.ratio * settings.batch_size * 2))
        lm = LMData(lm_features(model, read_corpus(mix.corpus, limit=wanted), mix.max_length), mix.ratio, mix.mask_rate)
        loaded["lm_head"] = f"pretrained LM head of {stage.model.path} ({mix.ratio:.0%} of steps, corpus {mix.corpus})"
    return _train_and_save(stage, ctx, model, data, settings, loaded, lm=lm)


# -- target ----------------------------------------------------------------------------------------
def run_target(stage: Stage, ctx: StageContext) -> dict:
    target = get_task(stage.task or "")
    resolved = training_of(stage).tasks[target.name]
    options = FeaturizeOptions(max_length=resolved.max_length)
    model, loaded = load_start_model(stage, ctx)
    outcome: dict[str, Any] = {"loaded": loaded, "phases": []}
    phases = english_training(target)
    for i, phase in enumerate(phases):
        task = phase.task
        _check_compatible(target, task)
        train = _cap(load_examples(task, phase.train_split, "en", ctx.spec.data_dir), resolved.max_train_examples)
        dev = _cap(load_examples(task, phase.dev_split, "en", ctx.spec.data_dir), resolved.max_dev_examples)
        settings = resolved.train_settings(len(train), stage.seed, stage.model.freeze_embeddings)
        # The head is the target's, trained on the English training task's data (XNLI <- MNLI).
        head_task = dataclasses.replace(task, name=target.name, labels=target.labels or task.labels)
        data = [TaskData(head_task, ctx.features(model, task, train, options), dev, ctx.features(model, task, dev, options))]
        result = _train_and_save(stage, ctx, model, data, settings, loaded, phase_name=task.name, final=i == len(phases) - 1)
        outcome["phases"].append(result)
        model = load_checkpoint(Path(result["checkpoint"]), stage.model.backbone_options(), tasks={target.name: target})
    outcome |= outcome["phases"][-1]
    return outcome


def _check_compatible(target: Task, train_task: Task) -> None:
    if train_task.kind is not target.kind:
        raise ConfigError(f"{target.name}: trains on {train_task.name}, a {train_task.kind.value} task, but is {target.kind.value}")
    if target.labels and train_task.labels and tuple(target.labels) != tuple(train_task.labels):
        raise ConfigError(f"{target.name}: label set {target.labels} differs from its training task {train_task.name}'s {train_task.labels}")


def _train_and_save(stage: Stage, ctx: StageContext, model: XStiltsModel, data: list[TaskData], settings: TrainSettings, loaded: dict, phase_name: str = "", final: bool = True, lm: Any = None) -> dict:
    """Train with collapse restarts; the best English-dev checkpoint becomes the stage's output."""
    restarts = []
    if stage.model.lora is not None:
        lora = stage.model.lora
        trainable = model.apply_lora(lora.r, lora.alpha, lora.dropout, lora.target_modules)
        loaded["lora"] = f"r={lora.r} alpha={lora.alpha}: {trainable} trainable backbone parameters; merged into the saved checkpoint"
    base_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    base_heads = set(model.head_info)
    max_restarts = training_of(stage).max_restarts
    for attempt in range(max_restarts + 1):
        seed = settings.seed + 1000 * attempt
        work = ctx.work_dir(stage.id) / f"{phase_name or 'train'}-seed{seed}"
        if attempt:  # start again from the same weights, with fresh heads drawn from the new seed
            model.drop_heads(keep=base_heads)
            model.load_state_dict(base_state)
        run_settings = dataclasses.replace(
            settings, seed=seed, log_with=tuple(ctx.spec.training.log_with), run_name=stage.label.replace("/", "_"),
            fsdp=ctx.spec.training.fsdp, batch_size=_per_process_batch(settings.batch_size, stage),
        )
        trainer = Trainer(model, data, run_settings, work, device=ctx.device, lm=lm)
        outcome = trainer.train()
        chance = _dev_chance(data)
        collapsed = chance is not None and outcome.best_score <= chance + COLLAPSE_MARGIN
        if not collapsed or attempt == max_restarts:
            break
        log.warning("%s collapsed to chance (dev %.1f, chance %.1f) with seed %d; restarting with seed %d", stage.label, outcome.best_score, chance, seed, seed + 1000)
        restarts.append({"seed": seed, "best_dev": outcome.best_score, "chance": chance})
    flags = _not_learned_flag(stage, data, outcome, trainer.settings, phase_name)
    best = trainer.best_checkpoint()
    destination = ctx.stage_dir(stage.id) / ("checkpoint" if final else f"checkpoint-{phase_name}")
    if is_main_process() and not destination.exists():
        with atomic_dir(destination) as tmp:
            shutil.copytree(best, tmp, dirs_exist_ok=True)
    barrier()  # the other processes of a multi-process stage read it next (target phases)
    return {
        "checkpoint": str(destination),
        "family": model.family.value,
        "best_dev": outcome.best_score,
        "best_step": outcome.best_step,
        "steps": outcome.steps,
        "seed_used": seed,
        "restarts": restarts,
        "collapsed": collapsed,
        "history": outcome.history,
        "task_steps": outcome.task_steps,
        "resumed_from": outcome.resumed_from,
        "seconds": round(outcome.seconds, 2),
        "settings": dataclasses.asdict(trainer.settings),
        "loaded": loaded,
        "provenance": model_provenance(model),
        FLAGS_KEY: flags,
    }


def _per_process_batch(batch_size: int, stage: Stage) -> int:
    """Each process's share of the global batch in a multi-process stage."""
    processes = world_size()
    if batch_size % processes:
        raise ConfigError(f"training.processes: {stage.label}'s batch size {batch_size} is not divisible by {processes} processes")
    return batch_size // processes


def _dev_chance(data: list[TaskData]) -> float | None:
    chances = [handler_for(d.task).chance(d.dev_examples, d.task) for d in data]
    if any(c is None for c in chances):
        return None
    return sum(chances) / len(chances)  # type: ignore[arg-type]


def _not_learned_flag(stage: Stage, data: list[TaskData], outcome: Any, settings: TrainSettings, phase_name: str) -> dict:
    """{'not_learned': details} when the chosen checkpoint's English dev score of some task is
    still within COLLAPSE_MARGIN of chance (the collapse notion above) or of its majority-class
    floor (`xstilts.evaluation.floors`); {} otherwise. Warns once, naming stage, score and level."""

    at_best: dict[str, float] = next((h["dev"] for h in outcome.history if h.get("step") == outcome.best_step), {})
    tasks = []
    for d in data:
        score = at_best.get(d.task.name, outcome.best_score if len(data) == 1 else None)
        if score is None:
            continue
        task_chance = handler_for(d.task).chance(d.dev_examples, d.task)
        majority = majority_score(d.task, d.dev_examples)
        floors = [v for v in (task_chance, majority) if v is not None]
        if not floors or score > max(floors) + COLLAPSE_MARGIN:
            continue
        tasks.append({
            "task": d.task.name, "metric": get_metric(d.task.metric).primary, "dev": round(float(score), 2),
            "chance": None if task_chance is None else round(task_chance, 2), "majority": None if majority is None else round(majority, 2),
        })
    if not tasks:
        return {}
    advice = "lower the learning rate" if settings.learning_rate > 1e-3 else "raise the learning rate or max_steps"
    hint = f"learning rate {settings.learning_rate:g} and {outcome.steps} steps: {advice} (training.{stage.kind})"
    levels = "; ".join(
        f"{t['task']} {t['metric']} {t['dev']:.1f}" + "".join(f", {k} {t[k]:.1f}" for k in ("chance", "majority") if t[k] is not None)
        for t in tasks
    )
    if is_main_process():
        log.warning("%s%s did not learn: English dev at chance or majority-class level (%s); %s", stage.label, f" ({phase_name} phase)" if phase_name and phase_name != getattr(stage, "task", None) else "", levels, hint)
    return {"not_learned": {"tasks": tasks, "margin": COLLAPSE_MARGIN, "phase": phase_name or None, "hint": hint}}


# -- evaluation ------------------------------------------------------------------------------------
def run_evaluate(stage: Stage, ctx: StageContext) -> tuple[dict, list[dict]]:
    task = get_task(stage.task or "")
    options = stage.model.backbone_options()
    if stage.parent is None:
        model = load_pretrained(stage.model.path, options, pooling=stage.model.pooling)
        loaded = stage.model.path
    else:
        path = ctx.parent_checkpoint(stage)
        model = load_checkpoint(path, options, tasks={task.name: task})
        loaded = str(path)
        if task.trainable and not model.has_head(task.name):
            raise CheckpointError(f"{path}: has no {task.name} head to evaluate")
    model.to(ctx.device)
    log.info("%s evaluates %s (%s head: %s)", stage.label, loaded, task.name, "trained" if task.trainable else "none, embeddings")
    settings = evaluation_of(stage)
    languages = list(settings.languages)
    scores, summary, missing = [], {}, []
    started = time.time()
    predictions_dir = ctx.stage_dir(stage.id)
    with atomic_dir(predictions_dir) as tmp:
        for language in languages:
            split = settings.split or task.eval_split_for(language)
            try:
                result = _evaluate_language(model, task, language, split, stage, ctx, settings)
            except XStiltsError as err:  # missing or bad data of one language: score the others
                reason = " ".join(str(err).split()) or type(err).__name__
                missing.append({"task": task.name, "language": language, "split": split, "reason": reason})
                continue
            summary[language] = result.scores
            for metric, value in result.scores.items():
                scores.append({
                    "task": task.name, "language": language, "split": split, "metric": metric, "value": float(value),
                    "primary": metric == result.primary, "n_examples": result.n_examples, "chance": result.chance,
                })
            write_jsonl(tmp / "predictions" / f"{language}.jsonl", _prediction_rows(result))
        if languages and not summary:
            raise DataError(
                f"{stage.label}: no language could be evaluated: " + "; ".join(f"{m['language']}: {m['reason']}" for m in missing)
            )
        atomic_write_json(tmp / "scores.json", summary)
    evaluated = [lang for lang in languages if lang in summary]
    outcome: dict[str, Any] = {
        "family": model.family.value, "loaded": loaded, "languages": evaluated, "seconds": round(time.time() - started, 2),
        "provenance": model_provenance(model),
    }
    if settings.retrieval_centering:
        outcome["retrieval_centering"] = True
    if missing:
        outcome[GAPS_KEY] = missing
        log.warning(
            "%s: %s: %d/%d languages evaluated; recorded as missing: %s", stage.label, task.name, len(evaluated), len(languages),
            "; ".join(f"{m['language']} ({m['reason']})" for m in missing),
        )
    return outcome, scores


def _evaluate_language(model: XStiltsModel, task: Task, language: str, split: str, stage: Stage, ctx: StageContext, settings: StageEvaluation) -> Any:
    """Load, featurise and score one language (with the layer sweep of retrieval targets)."""
    examples = _cap(load_examples(task, split, language, ctx.spec.data_dir), settings.max_examples)
    features = ctx.features(model, task, examples, FeaturizeOptions(max_length=settings.max_length))
    result = evaluate(
        model, task, examples, features, batch_size=settings.batch_size,
        retrieval_layer=stage.model.resolved_retrieval_layer(), retrieval_pooling=stage.model.retrieval_pooling, language=language,
        data_dir=ctx.spec.data_dir, retrieval_centering=settings.retrieval_centering,
    )
    result.scores |= _layer_sweep(model, task, examples, features, settings, stage, language, data_dir=ctx.spec.data_dir, primary=result.primary)
    return result


def _layer_sweep(model: XStiltsModel, task: Task, examples: list, features: list, settings: StageEvaluation, stage: Stage, language: str, data_dir: str | None, primary: str) -> dict[str, float]:
    """The retrieval score from each layer of the stage's `retrieval_layers` (the layer sweep of retrieval targets)."""
    scores = {}
    for layer in settings.retrieval_layers:
        swept = evaluate(
            model, task, examples, features, batch_size=settings.batch_size, retrieval_layer=layer,
            retrieval_pooling=stage.model.retrieval_pooling, language=language, data_dir=data_dir,
            retrieval_centering=settings.retrieval_centering,
        )
        scores[f"{primary}@layer{layer}"] = swept.scores[primary]
    return scores


def _prediction_rows(result: Any) -> list[dict]:
    preds, refs, per = result.predictions, result.references, result.per_example
    if isinstance(refs, dict):
        keys = list(refs)
        rows = [{"id": k, "prediction": preds.get(k), "gold": refs[k]} for k in keys]
    else:
        rows = [{"index": i, "prediction": p, "gold": r} for i, (p, r) in enumerate(zip(preds, refs))]
    if per is not None:
        for row, score in zip(rows, per):
            row["score"] = score
    return rows
