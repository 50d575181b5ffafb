"""The experiment spec: one YAML file describing a grid of models x intermediate conditions x
targets x seeds, validated before anything runs.

Every problem is a `ConfigError` naming the file, the line where YAML gives one, the key path and,
where there is one, a suggestion:

    examples/grid.yaml:7: models[0].lora.target_modules: 'q_proj' is not a module of ...

Validation needs no network and no model download: models are checked against the table of known
models, their local config files or the synthetic benchmark (`xstilts.experiments.catalog`).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from xstilts.config import from_dict, load_yaml, to_dict
from xstilts.errors import ConfigError, UnknownNameError, closest
from xstilts.experiments.catalog import LINEAR_MODULES, model_facts, module_names
from xstilts.experiments.throughput import gpu_names
from xstilts.languages import LANGUAGES
from xstilts.models.backbone import (
    BackboneOptions,
    attention_problem,
    attention_support_of_type,
    builtin_retrieval_layer,
)
from xstilts.models.sdpa import checked_sdpa_backends
from xstilts.synthetic.spec import MODEL_NAMES as SYNTHETIC_MODELS
from xstilts.tasks import all_tasks, get_task
from xstilts.tasks.base import Role, TaskKind
from xstilts.tasks.suites import SUITES, suite_names
from xstilts.tasks.suites.phang2020 import INTERMEDIATE_TASKS as PAPER_INTERMEDIATE_TASKS

NONE = "none"
MULTITASK = "multitask"
# Names under `intermediate:` that expand to one condition per task of a published set.
INTERMEDIATE_SETS = {"phang2020": "PAPER_INTERMEDIATE_TASKS"}
BENCHMARK_NAMES = suite_names()
STAGE_KINDS = ("intermediate", "target", "evaluate")


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
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = "auto"  # auto: per model class
    # Kernels sdpa attention may use: auto (no cuDNN attention on CUDA), torch, or e.g. flash,efficient,math.
    # Not part of stage ids: it moves scores within rounding, as a change of device does.
    sdpa_backends: str = "auto"
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    revision: str | None = None
    pooling: Literal["first", "last", "mean"] | None = None  # None: first (encoders) / last (decoders)
    retrieval_layer: int | None = None  # index into hidden_states; None: the built-in model's choice, else num_layers // 2 + 2
    retrieval_pooling: Literal["mean", "first", "last"] = "mean"
    lora: LoraSpec | None = None
    freeze_embeddings: bool = False

    def backbone_options(self) -> BackboneOptions:
        """How to load this model's backbone."""
        return BackboneOptions(
            family=self.family, dtype=self.dtype, attn_implementation=self.attn_implementation, sdpa_backends=self.sdpa_backends,
            gradient_checkpointing=self.gradient_checkpointing, trust_remote_code=self.trust_remote_code, revision=self.revision,
        )

    def resolved_retrieval_layer(self) -> int | None:
        """`retrieval_layer`, or where it is unset the layer a built-in model's plug-in chose for
        it (the synthetic models'); None leaves the general default to the loaded model."""
        return self.retrieval_layer if self.retrieval_layer is not None else builtin_retrieval_layer(self.path)


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
    packing: bool | None = None  # None: off; on: padding-free packed training batches (xstilts.models.packing)

    def merged(self, other: PhaseSettings | None) -> PhaseSettings:
        if other is None:
            return self
        return replace(self, **{k: v for k, v in vars(other).items() if v is not None})


@dataclass(frozen=True)
class TrainingSpec:
    intermediate: PhaseSettings = PhaseSettings()
    target: PhaseSettings = PhaseSettings()
    tasks: dict[str, PhaseSettings] = field(default_factory=dict)  # per task, applied last
    max_restarts: int = 2  # restarts with a new seed when a run collapses to chance on English dev
    # Experiment trackers (accelerate): e.g. [tensorboard], [wandb], [mlflow]. Logging only: not in stage ids.
    log_with: list[Literal["tensorboard", "wandb", "mlflow", "aim", "comet_ml", "clearml", "dvclive"]] = field(default_factory=list)
    # Processes per training stage (torchrun, one per GPU; gloo processes on a CPU): batch_size stays
    # the global batch. They replicate the model (DDP), or shard it with fsdp: true (torch FSDP2) for
    # models that do not fit one GPU. Neither changes what a stage computes, so neither is in stage ids.
    processes: int = 1
    fsdp: bool = False


@dataclass(frozen=True)
class EvaluationSpec:
    split: str | None = None  # None: each task's eval split (validation; XTREME test labels are hidden)
    languages: list[str] | None = None  # None: every language of the task
    batch_size: int = 64
    max_examples: int | None = None  # per language, for quick runs
    # Retrieval targets: also score these hidden_states indices (0 = embeddings), reported as
    # "<metric>@layer<k>" rows beside the primary score from the model's retrieval_layer.
    retrieval_layers: list[int] | None = None
    # Retrieval targets: subtract from each side's embeddings (queries, candidates) their mean
    # before the search (Libovický et al. 2020, "language-specific centering"). Off: the official
    # XTREME/XTREME-R scorers search the embeddings as they are.
    retrieval_centering: bool = False


@dataclass(frozen=True)
class Resources:
    """What one stage's job asks the cluster for."""

    gpus: int = 1
    cpus: int = 8
    memory_gb: int = 64
    hours: float = 24.0


@dataclass(frozen=True)
class StageResources:
    intermediate: Resources = Resources()
    target: Resources = Resources()
    evaluate: Resources = Resources(memory_gb=32, hours=4.0)

    def for_kind(self, kind: str) -> Resources:
        return getattr(self, kind)


@dataclass(frozen=True)
class SlurmSpec:
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_parallelism: int = 32  # array tasks of one stage kind running at once
    setup: list[str] = field(default_factory=list)  # shell lines run before each job (module load, venv)
    additional: dict[str, str] = field(default_factory=dict)  # further sbatch options, e.g. {mail-type: FAIL}
    folder: str | None = None  # submitit's job folder (logs, pickles); default <output_dir>/slurm
    # GPUs as a generic resource: "gpu" or "gpu:<type>" (e.g. gpu:a100); each job then asks
    # --gres=<gres>:<resources.<kind>.gpus> instead of --gpus-per-node.
    gres: str | None = None
    # Seconds before its time limit a job is signalled to give its stage back and requeue itself
    # (at most half the limit); the requeued job resumes the stage from its last checkpoint.
    signal_seconds: int = 120


@dataclass(frozen=True)
class RaySpec:
    address: str | None = None  # None: ray.init()'s default (RAY_ADDRESS, or a local cluster)


@dataclass(frozen=True)
class ExecutorSpec:
    """How the grid runs. None of it changes results, so none of it enters stage ids or the spec hash."""

    kind: Literal["local", "slurm", "submitit-local", "ray"] = "local"
    workers: int = 1  # local: worker processes (one GPU each where there are GPUs)
    # A stage whose worker stopped heart-beating this long is retaken (a crashed worker of another
    # machine: within 2 minutes); one whose worker on this machine died is retaken at once.
    lease_seconds: float = 90.0
    heartbeat_seconds: float = 20.0
    poll_seconds: float = 10.0  # how often an idle worker looks for runnable stages
    max_attempts: int = 3  # crashed attempts (lease expired) before a stage is marked failed
    gpu: str | None = None  # GPU type for `xstilts plan`'s estimate (default h100)
    store_journal: Literal["wal", "delete"] = "wal"  # delete: network filesystems shared by nodes
    resources: StageResources = StageResources()
    slurm: SlurmSpec = SlurmSpec()
    ray: RaySpec = RaySpec()


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
    executor: ExecutorSpec = ExecutorSpec()

    # -- derived ------------------------------------------------------------------------------------
    def conditions(self) -> list[ConditionSpec]:
        return [c for item in self.intermediate for c in _conditions(item)]

    def target_names(self) -> list[str]:
        return expand_targets(self.targets, "targets")

    def output_path(self, base: Path | None = None) -> Path:
        path = Path(self.output_dir or f"runs/{self.name}")
        return path if path.is_absolute() or base is None else base / path

    def fingerprint(self) -> str:
        """Hash of what determines results: everything but where and how the grid runs."""
        data = to_dict(self)
        data.pop("executor")
        data.pop("output_dir")
        for model in data["models"]:
            model.pop("sdpa_backends")  # which kernels compute attention (see ModelSpec)
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def _conditions(item: str | ConditionSpec) -> list[ConditionSpec]:
    if isinstance(item, ConditionSpec):
        return [item]
    if item == NONE:
        return [ConditionSpec(name=NONE)]
    if item == MULTITASK:
        return [ConditionSpec(name=MULTITASK, tasks=list(_paper_tasks()))]
    if item in INTERMEDIATE_SETS:
        return [ConditionSpec(name=t, tasks=[t]) for t in _paper_tasks()]
    return [ConditionSpec(name=item, tasks=[item])]


def _paper_tasks() -> tuple[str, ...]:
    return PAPER_INTERMEDIATE_TASKS


def expand_targets(names: list[str], where: str = "targets") -> list[str]:
    """Task names, with benchmark names expanded to their tasks in the benchmark's official order."""

    official = {name: suite.targets_in_listing_order for name, suite in SUITES.items()}
    out: list[str] = []
    for name in names:
        if name in BENCHMARK_NAMES:
            members = [t.name for t in all_tasks() if name in t.benchmarks and t.role is Role.TARGET]
            order = official.get(name, ())
            out += sorted(members, key=lambda t: order.index(t) if t in order else len(order))
        else:
            out.append(name)
    return list(dict.fromkeys(out))


# -- loading ----------------------------------------------------------------------------------------
# Errors raised while building and validating carry this mark and the key path; `_locate` turns
# them into "file:line: key: problem".
_MARK = "\x00"


def load_spec(path: Path) -> ExperimentSpec:
    path = Path(path)
    data = load_yaml(path)
    text = path.read_text(encoding="utf-8")
    return _build(data, str(path), text)


def spec_from_dict(data: dict, where: str = "spec") -> ExperimentSpec:
    return _build(data, where, None)


def _build(data: Any, source: str, text: str | None) -> ExperimentSpec:
    try:
        if isinstance(data, dict):
            _precheck_conditions(data)
        spec = from_dict(ExperimentSpec, data, _MARK)
        validate(spec)
    except ConfigError as err:
        raise type(err)(_locate(str(err), source, text)) from None
    return spec


def _precheck_conditions(data: dict) -> None:
    """`intermediate` items are a name or a mapping; a mapping's own error beats "expected str"."""
    items = data.get("intermediate")
    if isinstance(items, list):
        for i, item in enumerate(items):
            if isinstance(item, dict):
                from_dict(ConditionSpec, item, f"{_MARK}.intermediate[{i}]")
            elif not isinstance(item, str):
                raise ConfigError(f"{_MARK}.intermediate[{i}]: expected a condition name (none, multitask, phang2020, a task) or a mapping with name and tasks, got {item!r}")


def _locate(message: str, source: str, text: str | None) -> str:
    if not message.startswith(_MARK):
        return message if message.startswith(source) else f"{source}: {message}"
    rest = message[len(_MARK):].lstrip(".")
    key, _, problem = rest.partition(": ")
    lookup = key
    unknown = re.match(r"unknown key '([^']+)'", problem)
    if unknown:
        lookup = f"{key}.{unknown.group(1)}" if key else unknown.group(1)
    line = _line_of(text, lookup) if text else None
    where = f"{source}:{line}" if line else source
    return f"{where}: {key}: {problem}" if key else f"{where}: {problem}"


def _line_of(text: str, key: str) -> int | None:
    """1-based line of the YAML node at `key` (e.g. models[0].lora.r), or of its nearest parent."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in re.findall(r"[^.\[\]]+|\[\d+\]", key):
        if node is None:
            break
        if part.startswith("[") and isinstance(node, yaml.SequenceNode):
            index = int(part[1:-1])
            node = node.value[index] if index < len(node.value) else None
        elif isinstance(node, yaml.MappingNode):
            match = [(k, v) for k, v in node.value if getattr(k, "value", None) == part]
            if not match:
                break
            line = match[0][0].start_mark.line + 1
            node = match[0][1]
            continue
        else:
            break
        if node is not None:
            line = node.start_mark.line + 1
    return line


# -- validation -------------------------------------------------------------------------------------
def _error(key: str, problem: str) -> ConfigError:
    return ConfigError(f"{_MARK}{key}: {problem}")


def _unknown(what: str, key: str, name: str, choices: list[str]) -> ConfigError:
    near = closest(name, choices)
    hint = f"did you mean {' or '.join(repr(n) for n in near)}?" if near else f"valid: {', '.join(sorted(choices)[:15])}"
    return UnknownNameError(f"{_MARK}{key}: unknown {what} {name!r}; {hint}")


def validate(spec: ExperimentSpec, where: str | None = None) -> None:
    """Every check that needs no network and no model: names, roles, values, combinations.

    Raises ConfigError; when `where` is given (a file name or label) the message starts with it.
    """
    try:
        _validate_name(spec)
        _validate_models(spec)
        _validate_seeds(spec)
        _validate_targets(spec)
        _validate_conditions(spec)
        _validate_training(spec)
        _validate_evaluation(spec)
        _validate_executor(spec)
    except ConfigError as err:
        if where is None or not str(err).startswith(_MARK):
            raise
        raise type(err)(_locate(str(err), where, None)) from None


def _validate_name(spec: ExperimentSpec) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", spec.name):
        raise _error("name", f"{spec.name!r} must be letters, digits, '.', '_' or '-' (it names folders and cluster jobs)")


def _model_family(model: ModelSpec) -> tuple[str | None, str]:
    """(encoder | decoder | None, how it is known) without downloading anything."""

    facts = model_facts(model.path)
    if model.family != "auto":
        return model.family, "declared"
    if facts and facts.family:
        return facts.family, f"model type {facts.model_type}"
    return None, "unknown"


def _validate_models(spec: ExperimentSpec) -> None:

    if not spec.models:
        raise _error("models", "at least one model is needed, e.g. - {name: xlmr-large, path: FacebookAI/xlm-roberta-large}")
    seen: dict[str, int] = {}
    identity: dict[str, int] = {}
    for i, m in enumerate(spec.models):
        key = f"models[{i}]"
        if m.name in seen:
            raise _error(f"{key}.name", f"{m.name!r} is also the name of models[{seen[m.name]}]; model names must be unique")
        seen[m.name] = i
        content = json.dumps({k: v for k, v in to_dict(m).items() if k not in ("name", "sdpa_backends")}, sort_keys=True)
        if content in identity:
            j = identity[content]
            raise _error(key, f"same model and options as models[{j}] ({spec.models[j].name!r}; sdpa_backends aside, which does not change results); list each model once")
        identity[content] = i
        if not m.path.strip():
            raise _error(f"{key}.path", "empty; give a hub id (e.g. FacebookAI/xlm-roberta-large), a local folder or synthetic:encoder")
        if m.path.startswith("synthetic:") and m.path.split(":", 1)[1] not in SYNTHETIC_MODELS:
            raise _unknown("synthetic model", f"{key}.path", m.path, [f"synthetic:{n}" for n in SYNTHETIC_MODELS])
        facts = model_facts(m.path)
        if facts and facts.family and m.family != "auto" and m.family != facts.family:
            raise _error(
                f"{key}.family",
                f"{m.path} is an {facts.family} (model type {facts.model_type}), not a {m.family}; remove `family` or set it to {facts.family}",
            )
        family, _ = _model_family(m)
        if family == "decoder":
            for option in ("pooling", "retrieval_pooling"):
                if getattr(m, option) == "first":
                    raise _error(
                        f"{key}.{option}",
                        f"'first' on a decoder ({m.path}) pools a token that attends to nothing after it (causal attention); use last or mean",
                    )
        if m.attn_implementation == "flash_attention_2" and m.dtype == "float32":
            raise _error(f"{key}.attn_implementation", "flash_attention_2 needs dtype bfloat16 or float16; set dtype: bfloat16, or use auto")
        if m.attn_implementation in ("sdpa", "flash_attention_2") and facts and facts.model_type:
            _validate_attention(m, key, facts.model_type)
        try:
            checked_sdpa_backends(m.sdpa_backends, spec.device)
        except ValueError as err:
            raise _error(f"{key}.sdpa_backends", str(err)) from None
        if facts and m.retrieval_layer is not None and not -facts.layers - 1 <= m.retrieval_layer <= facts.layers:
            raise _error(f"{key}.retrieval_layer", f"{m.retrieval_layer} is outside 0..{facts.layers} ({m.path} has {facts.layers} layers; index 0 is the embeddings)")
        if m.lora is not None:
            _validate_lora(m, key, module_names(m.path), facts.model_type if facts else None, LINEAR_MODULES)


def _validate_attention(m: ModelSpec, key: str, model_type: str) -> None:
    """An explicit attention implementation the model's class lacks fails at load time: refuse it now."""

    support = attention_support_of_type(model_type)
    if support.model_class is None:
        return
    problem = attention_problem(support, m.attn_implementation, m.dtype)
    if problem and "not installed" not in problem:  # flash-attn may be installed where the stage runs
        raise _error(f"{key}.attn_implementation", f"{problem} ({m.path})")


def _validate_lora(m: ModelSpec, key: str, names: set[str] | None, model_type: str | None, linear: dict[str, tuple[str, ...]]) -> None:
    lora = m.lora
    assert lora is not None
    if lora.r <= 0:
        raise _error(f"{key}.lora.r", f"must be positive, got {lora.r}")
    if lora.alpha <= 0:
        raise _error(f"{key}.lora.alpha", f"must be positive, got {lora.alpha}")
    if not 0 <= lora.dropout < 1:
        raise _error(f"{key}.lora.dropout", f"must be in [0, 1), got {lora.dropout}")
    if lora.target_modules is not None and not lora.target_modules:
        raise _error(f"{key}.lora.target_modules", "empty; leave it out to use peft's default for the architecture")
    if not lora.target_modules or names is None:
        return
    for j, module in enumerate(lora.target_modules):
        if module not in names:
            known = linear.get(model_type or "", ())
            near = closest(module, known or sorted(names))
            kind = f"model type {model_type}" if model_type else "its weights"
            suggestion = f"; its linear layers: {', '.join(known)}" if known else (f"; did you mean {near[0]!r}?" if near else "")
            raise _error(f"{key}.lora.target_modules[{j}]", f"{module!r} is not a module of {m.path} ({kind}){suggestion}")


# Seeds are stored as SQLite integers (signed 64-bit) and seed torch, numpy and Python generators;
# a collapsed run restarts with seed + 1000 * attempt. 2**31 - 1 leaves room for all of them.
MAX_SEED = 2**31 - 1


def _validate_seeds(spec: ExperimentSpec) -> None:
    if not spec.seeds:
        raise _error("seeds", "at least one seed is needed, e.g. [0, 1, 2]")
    seen = set()
    for i, s in enumerate(spec.seeds):
        if s < 0:
            raise _error(f"seeds[{i}]", f"must be 0 or more, got {s}")
        if s > MAX_SEED:
            raise _error(f"seeds[{i}]", f"must be at most {MAX_SEED} (2**31 - 1), got {s}")
        if s in seen:
            raise _error(f"seeds[{i}]", f"seed {s} appears twice")
        seen.add(s)


def _task_names() -> list[str]:

    return [t.name for t in all_tasks()]


def _validate_targets(spec: ExperimentSpec) -> None:

    if not spec.targets:
        raise _error("targets", "at least one target is needed: a task (xnli, tatoeba, ...) or a benchmark (xtreme, xtreme-r, synthetic)")
    for i, name in enumerate(spec.targets):
        key = f"targets[{i}]"
        if name in BENCHMARK_NAMES:
            continue
        if name in INTERMEDIATE_SETS or name == MULTITASK:
            raise _error(key, f"{name!r} names intermediate tasks; list it under `intermediate`, and targets such as xtreme here")
        if name not in _task_names():
            raise _unknown("target", key, name, [*_task_names(), *BENCHMARK_NAMES])
        task = get_task(name)
        if task.role is not Role.TARGET:
            users = [t.name for t in all_tasks() if t.role is Role.TARGET and (t.train_task == name or name in t.train_first)]
            hint = f"; it is the English training data of {', '.join(users)}: did you mean {users[0]!r}?" if users else "; list it under `intermediate`"
            raise _error(key, f"{name!r} is an {task.role.value} task, not a target{hint}")
    seen: dict[str, str] = {}
    for i, item in enumerate(spec.targets):
        for name in expand_targets([item]):
            if name in seen:
                raise _error(f"targets[{i}]", f"{name!r} appears twice (also from {seen[name]!r}; benchmarks expand to their tasks)")
            seen[name] = item


def _validate_conditions(spec: ExperimentSpec) -> None:

    if not spec.intermediate:
        raise _error("intermediate", "empty; list at least `none` (no intermediate training)")
    keywords = [NONE, MULTITASK, *INTERMEDIATE_SETS]
    names: dict[str, str] = {}
    contents: dict[str, str] = {}
    for i, item in enumerate(spec.intermediate):
        key = f"intermediate[{i}]"
        if isinstance(item, str) and item not in keywords and item not in _task_names():
            raise _unknown("intermediate task", key, item, [*keywords, *(t.name for t in all_tasks() if t.role is not Role.TARGET)])
        if isinstance(item, ConditionSpec):
            if item.name in (NONE, MULTITASK) and (item.tasks if item.name == NONE else sorted(item.tasks) != sorted(_paper_tasks())):
                raise _error(f"{key}.name", f"{item.name!r} is reserved for {'no intermediate training' if item.name == NONE else 'the nine paper tasks together'}; choose another name")
            if item.is_baseline and item.name != NONE:
                raise _error(f"{key}.tasks", f"condition {item.name!r} has no tasks; the no-intermediate baseline is written `none`")
        for condition in _conditions(item):
            _validate_condition(condition, key, isinstance(item, str), get_task, LANGUAGES)
            if condition.name in names:
                raise _error(key, f"condition name {condition.name!r} appears twice (also at {names[condition.name]})")
            names[condition.name] = key
            content = json.dumps({k: v for k, v in to_dict(condition).items() if k != "name"}, sort_keys=True)
            if content in contents:
                raise _error(key, f"condition {condition.name!r} trains exactly like {contents[content]!r}; keep one of them")
            contents[content] = condition.name


def _validate_condition(c: ConditionSpec, key: str, from_name: bool, get_task: Any, languages: dict) -> None:
    seen = set()
    for j, name in enumerate(c.tasks):
        tkey = key if from_name else f"{key}.tasks[{j}]"
        if name not in _task_names():
            raise _unknown("intermediate task", tkey, name, _task_names())
        if name in seen:
            raise _error(tkey, f"{name!r} appears twice in condition {c.name!r}")
        seen.add(name)
        task = get_task(name)
        if not task.trainable:
            raise _error(tkey, f"{name!r} is a retrieval task: it has no training data, so it cannot be an intermediate task")
        if task.train_task:
            raise _error(tkey, f"{name!r} is a target whose English training data is {task.train_task}'s; use {task.train_task!r} as the intermediate task")
    if c.is_baseline and (c.lm_mix or c.translated):
        raise _error(key, "the no-intermediate baseline cannot mix in LM or translated data; give the condition tasks")
    if c.temperature <= 0:
        raise _error(f"{key}.temperature", f"must be positive, got {c.temperature}")
    if c.max_examples_per_task is not None and c.max_examples_per_task < 1:
        raise _error(f"{key}.max_examples_per_task", f"must be 1 or more, got {c.max_examples_per_task}")
    if c.lm_mix:
        if not 0 < c.lm_mix.ratio < 1:
            raise _error(f"{key}.lm_mix.ratio", f"must be between 0 and 1 (the share of LM steps), got {c.lm_mix.ratio}")
        if c.lm_mix.max_length <= 0:
            raise _error(f"{key}.lm_mix.max_length", f"must be positive, got {c.lm_mix.max_length}")
        if not 0 < c.lm_mix.mask_rate < 1:
            raise _error(f"{key}.lm_mix.mask_rate", f"must be between 0 and 1, got {c.lm_mix.mask_rate}")
        if not c.lm_mix.corpus.strip():
            raise _error(f"{key}.lm_mix.corpus", "empty; give synthetic, a local text file or a hub dataset id")
    if c.translated is not None:
        if not c.translated:
            raise _error(f"{key}.translated", "empty; list the languages of the translated training data, or leave it out")
        for j, lang in enumerate(c.translated):
            if lang == "en":
                raise _error(f"{key}.translated[{j}]", "'en' is the original data; list only the translation languages")
            if lang not in languages:
                raise _unknown("language", f"{key}.translated[{j}]", lang, list(languages))
        if len(set(c.translated)) != len(c.translated):
            raise _error(f"{key}.translated", "a language appears twice")


def _validate_training(spec: ExperimentSpec) -> None:

    t = spec.training
    if t.max_restarts < 0:
        raise _error("training.max_restarts", f"must be 0 or more, got {t.max_restarts}")
    if t.processes < 1:
        raise _error("training.processes", f"must be 1 or more, got {t.processes}")
    if t.fsdp:
        for i, m in enumerate(spec.models):
            if m.lora is not None:
                raise _error(f"models[{i}].lora", "LoRA with training.fsdp is not supported (a LoRA model trains well with DDP: set fsdp: false)")
    if t.processes > 1 and spec.device != "cpu" and spec.executor.kind in ("slurm", "ray", "submitit-local"):
        for kind in ("intermediate", "target"):
            gpus = spec.executor.resources.for_kind(kind).gpus
            if gpus < t.processes:
                raise _error(f"executor.resources.{kind}.gpus", f"{gpus} GPU(s) per job, but training.processes is {t.processes} (one GPU each)")
    _check_phase(t.intermediate, "training.intermediate", spec)
    _check_phase(t.target, "training.target", spec)
    used = {name for c in spec.conditions() for name in c.tasks}
    for target in spec.target_names():
        task = get_task(target)
        used |= {target, *task.train_first, *([task.train_task] if task.train_task else [])}
    for name, settings in t.tasks.items():
        key = f"training.tasks.{name}"
        if name not in _task_names():
            raise _unknown("task", key, name, _task_names())
        task = get_task(name)
        if task.kind is TaskKind.RETRIEVAL:
            raise _error(key, f"{name} is a retrieval target: it has no training phase (it is evaluated with the intermediate checkpoint); remove these settings")
        if name not in used:
            raise _error(key, f"{name} is neither an intermediate task nor a target of this spec, so these settings would change nothing")
        _check_phase(settings, key, spec)


def _check_phase(s: PhaseSettings, key: str, spec: ExperimentSpec) -> None:
    for name in ("learning_rate", "batch_size", "epochs", "max_steps", "gradient_accumulation", "eval_every", "max_length", "max_grad_norm"):
        value = getattr(s, name)
        if value is not None and value <= 0:
            raise _error(f"{key}.{name}", f"must be positive, got {value}")
    for name in ("patience", "max_train_examples", "max_dev_examples", "checkpoint_every"):
        value = getattr(s, name)
        if value is not None and value < 1:
            raise _error(f"{key}.{name}", f"must be 1 or more, got {value}")
    if s.warmup_ratio is not None and not 0 <= s.warmup_ratio < 1:
        raise _error(f"{key}.warmup_ratio", f"must be in [0, 1), got {s.warmup_ratio}")
    if s.weight_decay is not None and s.weight_decay < 0:
        raise _error(f"{key}.weight_decay", f"must be 0 or more, got {s.weight_decay}")
    if s.precision == "fp16" and spec.device == "cpu":
        raise _error(f"{key}.precision", "fp16 mixed precision needs a GPU (device is cpu); use bf16 or no")


def _validate_evaluation(spec: ExperimentSpec) -> None:

    e = spec.evaluation
    if e.batch_size <= 0:
        raise _error("evaluation.batch_size", f"must be positive, got {e.batch_size}")
    if e.max_examples is not None and e.max_examples < 1:
        raise _error("evaluation.max_examples", f"must be 1 or more, got {e.max_examples}")
    if e.languages is not None:
        if not e.languages:
            raise _error("evaluation.languages", "empty; leave it out to evaluate every language of each target")
        known: set[str] = set()
        for name in spec.target_names():
            task = get_task(name)
            known |= set(task.languages) | {lang for langs in task.benchmark_languages.values() for lang in langs}
        for i, lang in enumerate(e.languages):
            if lang not in known:
                raise _unknown("language (for these targets)", f"evaluation.languages[{i}]", lang, sorted(known))
    if e.retrieval_centering and all(get_task(name).trainable for name in spec.target_names()):
        raise _error("evaluation.retrieval_centering", "no target of this grid is a retrieval task (tatoeba, bucc2018, lareqa, mewslix, ...); remove it")


def _validate_executor(spec: ExperimentSpec) -> None:
    x = spec.executor
    if x.workers < 1:
        raise _error("executor.workers", f"must be 1 or more, got {x.workers}")
    if x.heartbeat_seconds <= 0 or x.poll_seconds <= 0:
        raise _error("executor.heartbeat_seconds" if x.heartbeat_seconds <= 0 else "executor.poll_seconds", "must be positive")
    if x.lease_seconds < 2 * x.heartbeat_seconds:
        raise _error("executor.lease_seconds", f"{x.lease_seconds} is less than two heartbeats ({x.heartbeat_seconds}s each): live workers would lose their stages")
    if x.max_attempts < 1:
        raise _error("executor.max_attempts", f"must be 1 or more, got {x.max_attempts}")
    if x.gpu is not None and x.gpu not in gpu_names():
        raise _unknown("GPU type", "executor.gpu", x.gpu, gpu_names())
    for kind in STAGE_KINDS:
        r = x.resources.for_kind(kind)
        key = f"executor.resources.{kind}"
        if r.gpus < 0:
            raise _error(f"{key}.gpus", f"must be 0 or more, got {r.gpus}")
        for name in ("cpus", "memory_gb", "hours"):
            if getattr(r, name) <= 0:
                raise _error(f"{key}.{name}", f"must be positive, got {getattr(r, name)}")
    if x.slurm.array_parallelism < 1:
        raise _error("executor.slurm.array_parallelism", f"must be 1 or more, got {x.slurm.array_parallelism}")
    if x.slurm.signal_seconds < 1:
        raise _error("executor.slurm.signal_seconds", f"must be 1 or more, got {x.slurm.signal_seconds}")
    if x.slurm.gres is not None and not re.fullmatch(r"[A-Za-z0-9_-]+(:[A-Za-z0-9_.-]+)?", x.slurm.gres):
        raise _error("executor.slurm.gres", f"{x.slurm.gres!r} is not a generic resource name: write gpu or gpu:<type>, without a count (the count is resources.<kind>.gpus)")
    for option in x.slurm.additional:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", option) or option.replace("_", "-") in _SBATCH_OPTIONS_SET_BY_XSTILTS:
            raise _error(
                f"executor.slurm.additional.{option}",
                "not an sbatch option xstilts passes through: write the long name without dashes (mail-type, exclusive, ...); "
                f"{', '.join(sorted(_SBATCH_OPTIONS_SET_BY_XSTILTS))} come from the executor's own settings",
            )


# sbatch options the executor writes itself (from resources, slurm.* and the job arrays).
_SBATCH_OPTIONS_SET_BY_XSTILTS = frozenset({
    "array", "dependency", "time", "partition", "account", "qos", "constraint", "gres", "gpus-per-node", "cpus-per-task",
    "mem", "ntasks-per-node", "nodes", "job-name", "output", "error", "signal", "open-mode",
})
