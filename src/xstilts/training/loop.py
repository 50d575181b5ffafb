"""The training loop shared by both phases: single- or multi-task, with English-dev model
selection, checkpoints that resume exactly, and a divergence guard.

Determinism: the data order of each task in each epoch and the task sampled at each step are pure
functions of (seed, task, epoch) and (seed, step), so a resumed run only needs the step counter,
the per-task stream positions, the optimizer/scheduler states and the torch RNG state.
"""

from __future__ import annotations

import json
import logging
import math
import re
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, load_model, save_file, save_model

from xstilts.errors import CheckpointError, XStiltsError
from xstilts.evaluation.predict import evaluate
from xstilts.io import atomic_dir, atomic_write_json, atomic_write_text, read_json, sha256_file
from xstilts.kinds import handler_for
from xstilts.kinds.base import Feature
from xstilts.kinds.tensors import widths_rounded_to
from xstilts.models.model import LM_TASK, XStiltsModel
from xstilts.models.packing import attention_parity, pack, packing_problem
from xstilts.models.sdpa import sdpa_backends
from xstilts.progress import progress_bar
from xstilts.tasks.base import Example, Task
from xstilts.training.lm import LMData, lm_batch
from xstilts.training.settings import TrainSettings
from xstilts.training.sharding import (
    full_model_state,
    full_optimizer_state,
    load_full_state,
    shard_copy,
    unwrap_optimizer,
)

log = logging.getLogger(__name__)


# The files of a resumable training checkpoint, each checksummed in its state.json.
CHECKPOINT_FILES = ("model.safetensors", "optimizer.pt", "rng.safetensors", "scheduler.json")


class TrainingDiverged(XStiltsError):
    """The loss became NaN or infinite."""


@dataclass
class TaskData:
    task: Task
    train: list[Feature]
    dev_examples: list[Example]
    dev_features: list[Feature]


@dataclass
class TrainOutcome:
    best_score: float
    best_step: int
    steps: int
    history: list[dict] = field(default_factory=list)
    task_steps: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    resumed_from: int | None = None
    # Throughput of this process's training steps (evaluation and checkpointing excluded); tokens
    # are non-padding tokens. Counted from the (re)start of this run.
    train_seconds: float = 0.0
    train_examples: int = 0
    train_tokens: int = 0


# -- sampling -------------------------------------------------------------------------------------
def task_probabilities(sizes: Sequence[int], how: str, temperature: float = 2.0, cap: int | None = None) -> np.ndarray:
    """Probability of sampling each task at a step: proportional to size, temperature-scaled
    (size ** (1/T)), or uniform; sizes are first capped at `cap` if given."""
    s = np.asarray([min(n, cap) if cap else n for n in sizes], dtype=np.float64)
    if how == "uniform":
        w = np.ones_like(s)
    elif how == "proportional":
        w = s
    elif how == "temperature":
        w = s ** (1.0 / temperature)
    else:
        raise XStiltsError(f"sampling: {how!r} is not one of proportional, temperature, uniform")
    return w / w.sum()


def task_for_step(seed: int, step: int, probabilities: np.ndarray) -> int:
    if len(probabilities) == 1:
        return 0
    rng = np.random.default_rng([seed, 104729, step])
    return int(rng.choice(len(probabilities), p=probabilities))


class BatchStream:
    """Batches of one task's training features in a deterministic order per (seed, epoch).

    With length grouping, each window of 50 batches is sorted by length before it is cut into
    batches (less padding), and the batches are then shuffled.
    """

    def __init__(self, features: Sequence[Feature], batch_size: int, seed: int, task_index: int, length_grouping: bool) -> None:
        if not features:
            raise XStiltsError(f"task {task_index}: no training features")
        self.features = features
        self.batch_size = batch_size
        self.seed = seed
        self.task_index = task_index
        self.length_grouping = length_grouping
        self.epoch = 0
        self.position = 0
        self._batches: list[list[int]] = self._epoch_batches(0)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        rng = np.random.default_rng([self.seed, self.task_index, epoch])
        order = rng.permutation(len(self.features)).tolist()
        if self.length_grouping:
            window = self.batch_size * 50
            lengths = [_feature_length(f) for f in self.features]
            order = [i for s in range(0, len(order), window) for i in sorted(order[s : s + window], key=lambda j: lengths[j])]
        batches = [order[s : s + self.batch_size] for s in range(0, len(order), self.batch_size)]
        if self.length_grouping:
            perm = rng.permutation(len(batches)).tolist()
            batches = [batches[p] for p in perm]
        return batches

    def next(self) -> list[int]:
        if self.position >= len(self._batches):
            self.epoch += 1
            self.position = 0
            self._batches = self._epoch_batches(self.epoch)
        batch = self._batches[self.position]
        self.position += 1
        return batch

    def state(self) -> dict[str, int]:
        return {"epoch": self.epoch, "position": self.position}

    def restore(self, state: dict[str, int]) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._batches = self._epoch_batches(self.epoch)


def _feature_length(f: Feature) -> int:
    ids = f["input_ids"]
    return max(len(r) for r in ids) if ids and isinstance(ids[0], list) else len(ids)


# -- the loop -------------------------------------------------------------------------------------
def resolve_auto_precision(cpu: bool) -> str:
    """bf16 autocast on a GPU with bf16 support (weights and optimizer stay float32); float32 on
    the CPU, where bf16 autocast measured no faster (benchmarks/)."""
    return "bf16" if not cpu and torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "no"


def make_accelerator(precision: str, device: torch.device | None, log_with: tuple = (), project_dir: Path | None = None, objectives: int = 1) -> Any:
    """An `accelerate.Accelerator` for this run; in a single process its state is reset so that runs
    with different precisions can follow each other (a multi-process launch keeps its state).

    With several objectives (multi-task heads, LM mixing) each step trains one of them, so the other
    heads get no gradient: DDP must be told to look for unused parameters."""
    from accelerate import Accelerator, DistributedDataParallelKwargs  # lazy: loads accelerate
    from accelerate.state import AcceleratorState, PartialState  # lazy: loads accelerate

    # accelerate only sets up multi-process CPU training (gloo) when told the run is on the CPU.
    cpu = (device is not None and device.type == "cpu") or not torch.cuda.is_available()
    mixed = {"no": "no", "bf16": "bf16", "fp16": "fp16", "auto": resolve_auto_precision(cpu)}.get(precision)
    if mixed is None:
        raise XStiltsError(f"precision: {precision!r} is not one of auto, no, bf16, fp16")
    if PartialState._shared_state and PartialState().num_processes == 1:
        AcceleratorState._reset_state(True)
    handlers = [DistributedDataParallelKwargs(find_unused_parameters=True)] if objectives > 1 else []
    if not log_with:
        return Accelerator(mixed_precision=mixed, cpu=cpu, kwargs_handlers=handlers)
    import accelerate.utils  # lazy: loads accelerate

    for tracker in log_with:
        available = getattr(accelerate.utils, f"is_{tracker}_available", None) if isinstance(tracker, str) else None
        if isinstance(tracker, str) and (available is None or not available()):
            raise XStiltsError(f"training.log_with: tracker {tracker!r} is not installed (pip install {tracker})")
    try:
        return Accelerator(mixed_precision=mixed, cpu=cpu, kwargs_handlers=handlers, log_with=list(log_with), project_dir=str(project_dir) if project_dir else None)
    except (ValueError, ImportError) as err:
        raise XStiltsError(f"training.log_with: {str(err).splitlines()[0]} (install the tracker's package, e.g. pip install tensorboard)") from None


class Trainer:
    """Trains `model` on one or more tasks (and optionally an LM objective) with accelerate:
    the same code runs on CPU, one GPU, or several processes launched by `accelerate launch`
    (each process takes its slice of every global batch; the main process evaluates and saves)."""

    def __init__(self, model: XStiltsModel, data: Sequence[TaskData], settings: TrainSettings, work_dir: Path, device: torch.device | None = None, on_event: Callable[[dict], None] | None = None, lm: LMData | None = None) -> None:
        if not data:
            raise XStiltsError("nothing to train: no tasks")
        self.model = model
        self.data = list(data)
        self.settings = settings
        self.work_dir = Path(work_dir)
        self.on_event = on_event or (lambda e: None)
        self.lm = lm
        self.accelerator = make_accelerator(settings.precision, device, settings.log_with, self.work_dir / "logs", objectives=len(self.data) + (lm is not None))
        self.device = self.accelerator.device
        self.processes = self.accelerator.num_processes
        probabilities = task_probabilities([len(d.train) for d in self.data], settings.sampling, settings.temperature, settings.max_examples_per_task)
        if lm is not None:
            if not 0 < lm.ratio < 1:
                raise XStiltsError(f"lm_mix.ratio: must be between 0 and 1, got {lm.ratio}")
            probabilities = np.append(probabilities * (1 - lm.ratio), lm.ratio)
        self.probabilities = probabilities
        global_batch = settings.batch_size * self.processes
        feature_sets = [d.train for d in self.data] + ([lm.features] if lm else [])
        self.streams = [BatchStream(f, global_batch, settings.seed, i, settings.length_grouping) for i, f in enumerate(feature_sets)]
        # Packing: each batch's features share rows of up to the task's longest feature (its
        # max_length, where features are truncated); the examples of a step stay the same.
        self.pack_budgets = [max(_feature_length(f) for f in d.train) for d in self.data] if settings.packing else None
        self.attention_parity = attention_parity(model.body)
        if settings.packing:
            problem = packing_problem(str(model.body.config.model_type), [d.task.kind.value for d in self.data])
            if problem:
                raise XStiltsError(f"{self.work_dir}: {problem}")
        torch.manual_seed(settings.seed)  # fresh heads are a function of the seed
        for d in self.data:
            if not model.has_head(d.task.name):
                model.add_head(d.task)
        if settings.freeze_embeddings:
            for p in model.body.get_input_embeddings().parameters():
                p.requires_grad_(False)
        # Sharded: a sharded copy trains, `model` stays whole on the CPU for writing checkpoints.
        self.sharded = settings.fsdp and self.processes > 1
        if self.sharded:
            self.wrapped = shard_copy(model, self.device, where=f"{self.work_dir}: ")
            self.optimizer = self._make_optimizer(self.wrapped)
        else:
            self.optimizer = self._make_optimizer(model)
        warmup = int(settings.warmup_ratio * settings.max_steps)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, _linear_schedule(warmup, settings.max_steps))
        if self.sharded:
            self.optimizer = self.accelerator.prepare(self.optimizer)
        else:
            self.wrapped, self.optimizer = self.accelerator.prepare(model, self.optimizer)

    @property
    def names(self) -> list[str]:
        return [d.task.name for d in self.data] + ([LM_TASK] if self.lm else [])

    def _make_optimizer(self, model: torch.nn.Module) -> torch.optim.Optimizer:
        decay: list[torch.nn.Parameter] = []
        no_decay: list[torch.nn.Parameter] = []
        for name, p in model.named_parameters():
            if not p.requires_grad:
                continue
            (no_decay if p.ndim < 2 or "norm" in name.lower() else decay).append(p)
        groups = [{"params": decay, "weight_decay": self.settings.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
        # The fused kernel is several times faster than the per-parameter loop, on CPU too.
        return torch.optim.AdamW(groups, lr=self.settings.learning_rate, fused=_fused_adamw_supported(self.device))

    # -- checkpoints --------------------------------------------------------------------------------
    @property
    def best_dir(self) -> Path:
        return self.work_dir / "best"

    def _pointer(self, name: str, prefix: str) -> Path | None:
        """The folder a LATEST/BEST pointer names, or None when it is missing or not a valid name
        (a garbled or crafted pointer never becomes a path outside the work folder)."""
        pointer = self.work_dir / name
        if not pointer.exists():
            return None
        text = pointer.read_bytes().decode("ascii", errors="replace").strip()
        if not re.fullmatch(rf"{prefix}-\d{{7}}", text):
            log.warning("%s: ignoring a damaged pointer (%r)", pointer, text[:40])
            return None
        return self.work_dir / text

    def _latest_checkpoint(self) -> Path | None:
        path = self._pointer("LATEST", "checkpoint")
        if path is not None and not (path / "state.json").exists():
            log.warning("%s: the checkpoint LATEST names is gone; training starts again", path)
            return None
        return path

    def _sync_whole_model(self) -> None:
        """Sharded: gather the trained weights into the whole CPU model (a collective)."""
        if self.sharded:
            weights = full_model_state(self.wrapped)
            if self.accelerator.is_main_process:
                self.model.load_state_dict(weights)

    def _save_checkpoint(self, step: int, state: dict) -> None:
        """Called by every process: a sharded run gathers its state first; the main process writes."""
        optimizer_state = None
        rng = self._rng_states()
        if self.sharded:
            self._sync_whole_model()
            optimizer_state = full_optimizer_state(self.wrapped, unwrap_optimizer(self.optimizer))
            state = state | {"optimizer_keys": "names"}
        if not self.accelerator.is_main_process:
            return
        name = f"checkpoint-{step:07d}"
        target = self.work_dir / name
        if not target.exists():
            with atomic_dir(target) as tmp:
                # The raw state (LoRA adapters unmerged, LM head included) so that training resumes exactly.
                save_model(self.model, str(tmp / "model.safetensors"))
                torch.save(optimizer_state if optimizer_state is not None else self.optimizer.state_dict(), tmp / "optimizer.pt")
                save_file(rng, str(tmp / "rng.safetensors"))
                atomic_write_json(tmp / "scheduler.json", self.scheduler.state_dict())
                checksums = {f: sha256_file(tmp / f) for f in CHECKPOINT_FILES}
                atomic_write_json(tmp / "state.json", state | {"checksums": checksums})
        atomic_write_text(self.work_dir / "LATEST", name)
        for old in self.work_dir.glob("checkpoint-*"):
            if old.name != name and ".tmp-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)

    def _restore(self, path: Path) -> dict:
        state = read_json(path / "state.json")
        checksums = state.get("checksums") or {}
        for name in CHECKPOINT_FILES:
            if not (path / name).exists():
                raise CheckpointError(f"{path / name}: missing from the training checkpoint")
            if sha256_file(path / name) != checksums.get(name):
                raise CheckpointError(f"{path / name}: checksum mismatch (file damaged or partly written)")
        # Sharded: the whole model stays on the CPU; its weights are scattered into the shards below.
        # (Plain "cpu": safetensors and torch.load refuse "cpu:0", a multi-process CPU run's device.)
        home = torch.device("cpu") if self.sharded or self.device.type == "cpu" else self.device
        try:
            load_model(self.model, str(path / "model.safetensors"), device=str(home))
        except RuntimeError as err:
            raise CheckpointError(f"{path}: saved weights do not match the model ({str(err).splitlines()[0]})") from None
        # Optimizer state holds only tensors and plain containers: safe to load with weights_only.
        try:
            optimizer_state = torch.load(path / "optimizer.pt", weights_only=True, map_location=home)
        except Exception as err:  # noqa: BLE001 - any unpickling failure is a refused file
            raise CheckpointError(f"{path / 'optimizer.pt'}: refused ({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
        keyed_by_name = state.get("optimizer_keys") == "names"
        if self.sharded != keyed_by_name:
            raise CheckpointError(
                f"{path / 'optimizer.pt'}: written by a {'sharded (fsdp)' if keyed_by_name else 'non-sharded'} run; "
                f"resume it with training.fsdp {'on' if keyed_by_name else 'off'} and the same number of processes"
            )
        if self.sharded:
            load_full_state(self.wrapped, unwrap_optimizer(self.optimizer), self.model.state_dict(), optimizer_state)
        else:
            self.optimizer.load_state_dict(optimizer_state)
        self.scheduler.load_state_dict(read_json(path / "scheduler.json"))
        self._restore_rng_states(load_file(str(path / "rng.safetensors")), path)
        for stream, s in zip(self.streams, state["streams"]):
            stream.restore(s)
        return state

    def _rng_states(self) -> dict[str, torch.Tensor]:
        """Every process's RNG states (a collective in a multi-process run): each process draws its
        own dropout masks, so an exact resume restores each one's own state. Keys: "torch", "cuda<i>"
        for the main process, "rank<r>/..." for the others."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng |= {f"cuda{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())}
        if self.processes == 1:
            return rng
        gathered: list[Any] = [None] * self.processes
        torch.distributed.all_gather_object(gathered, rng)
        return {(f"rank{r}/" if r else "") + k: v for r, states in enumerate(gathered) for k, v in states.items()}

    def _restore_rng_states(self, rng: dict[str, torch.Tensor], path: Path) -> None:
        rank = self.accelerator.process_index
        prefix = f"rank{rank}/" if rank else ""
        if prefix and f"{prefix}torch" not in rng:
            log.warning("%s: no RNG state saved for process %d (saved with fewer processes); it continues with the main process's", path, rank)
            prefix = ""
        mine = {k[len(prefix):]: v for k, v in rng.items() if k.startswith(prefix) and "/" not in k[len(prefix):]}
        torch.set_rng_state(mine["torch"])
        if torch.cuda.is_available():
            torch.cuda.set_rng_state_all([mine[k] for k in sorted(k for k in mine if k.startswith("cuda"))])

    # -- evaluation -----------------------------------------------------------------------------------
    def evaluate_dev(self) -> dict[str, float]:
        """Primary English-dev score of every task (main process, unwrapped model; sharded: every
        process, since each forward pass gathers the weights from all of them)."""
        scores = {}
        for d in self.data:
            result = evaluate(self.wrapped if self.sharded else self.model, d.task, d.dev_examples, d.dev_features, batch_size=self.settings.eval_batch_size)
            scores[d.task.name] = result.score
        return scores

    # -- main loop ------------------------------------------------------------------------------------
    def train(self) -> TrainOutcome:
        s = self.settings
        acc = self.accelerator
        self.work_dir.mkdir(parents=True, exist_ok=True)
        started = time.time()
        step, best, best_step, history, stale = 0, -math.inf, -1, [], 0
        task_steps = dict.fromkeys(self.names, 0)
        resumed_from = None
        recent: list[float] = []  # the last 20 losses, logged as the running loss
        latest = self._latest_checkpoint()
        if latest is not None:
            state = self._restore(latest)
            step, best, best_step, history, stale = state["step"], state["best"], state["best_step"], state["history"], state["stale"]
            task_steps = state["task_steps"]
            recent = list(state.get("recent_losses", []))  # older checkpoints lack it
            resumed_from = step
            log.info("resumed %s at step %d (best dev %.2f at step %d)", self.work_dir, step, best, best_step)
        else:
            torch.manual_seed(s.seed)
        checkpoint_every = s.checkpoint_every or s.eval_every
        if s.log_with:
            config = {k: v for k, v in asdict(s).items() if isinstance(v, (int, float, str, bool))}
            acc.init_trackers(s.run_name, config=config)
        self.wrapped.train()
        bar = progress_bar(total=s.max_steps, description=f"training {'+'.join(task_steps)}", enabled=acc.is_main_process)
        bar.update(step)
        train_seconds, train_examples, train_tokens = 0.0, 0, 0
        while step < s.max_steps:
            step_started = time.perf_counter()
            t = task_for_step(s.seed, step, self.probabilities)
            name = self.names[t]
            for _ in range(s.gradient_accumulation):
                idx = self._local_slice(self.streams[t].next())
                cpu_batch = self._collate(t, idx)
                train_examples += len(idx)
                train_tokens += int(cpu_batch["attention_mask"].sum())
                batch = {k: v.to(self.device) for k, v in cpu_batch.items()}
                with acc.autocast():
                    loss = self._loss(t, batch)
                if not torch.isfinite(loss):
                    raise TrainingDiverged(
                        f"{self.work_dir}: loss is {loss.item()} at step {step} (task {name}, training features {idx[:8]}"
                        f"{'…' if len(idx) > 8 else ''}); the last good checkpoint is kept"
                    )
                # Forwards recomputed in the backward pass (gradient checkpointing) get the model's attention kernels too.
                with sdpa_backends(self.model.sdpa_backends, self.device.type):
                    acc.backward(loss / s.gradient_accumulation)
            if s.max_grad_norm:
                acc.clip_grad_norm_(self.wrapped.parameters(), s.max_grad_norm)
            self.optimizer.step()
            self.scheduler.step()
            self.optimizer.zero_grad(set_to_none=True)
            step += 1
            task_steps[name] += 1
            recent = (recent + [loss.item()])[-20:]
            train_seconds += time.perf_counter() - step_started
            bar.update(1, loss=sum(recent) / len(recent))
            if step % s.eval_every == 0 or step == s.max_steps:
                if acc.is_main_process or self.sharded:
                    dev = self.evaluate_dev()
                    score = float(np.mean(list(dev.values())))
                    entry = {"step": step, "dev": dev, "score": score, "loss": sum(recent) / len(recent)}
                    if acc.is_main_process:
                        history.append(entry)
                        self.on_event(entry)
                    if s.log_with:
                        acc.log({"train/loss": entry["loss"], "dev/score": score, **{f"dev/{k}": v for k, v in dev.items()}}, step=step)
                    if score > best:
                        best, best_step, stale = score, step, 0
                        self._save_best(step, score)
                    else:
                        stale += 1
                best, best_step, stale = self._broadcast((best, best_step, stale))
                if s.patience is not None and stale >= s.patience:
                    log.info("early stop at step %d: %d evaluations without improvement", step, stale)
                    step = s.max_steps
            if step % checkpoint_every == 0 or step >= s.max_steps:
                self._save_checkpoint(step, {
                    "step": step, "best": best, "best_step": best_step, "history": history, "stale": stale,
                    "task_steps": task_steps, "streams": [st.state() for st in self.streams], "recent_losses": recent,
                    "settings": asdict(s) | {"log_with": [str(t) for t in s.log_with]},
                })
                acc.wait_for_everyone()
        bar.close()
        if s.log_with:
            acc.end_training()
        return TrainOutcome(
            best, best_step, step, history, task_steps, time.time() - started, resumed_from, train_seconds, train_examples, train_tokens
        )

    def _local_slice(self, global_batch: list[int]) -> list[int]:
        """This process's share of a global batch (all of it in a single process)."""
        if self.processes == 1:
            return global_batch
        per = math.ceil(len(global_batch) / self.processes)
        i = self.accelerator.process_index
        return global_batch[i * per : (i + 1) * per] or global_batch[-1:]

    def _collate(self, t: int, idx: list[int]) -> dict[str, torch.Tensor]:
        with widths_rounded_to(self.settings.pad_to_multiple_of):
            return self._collate_rows(t, idx)

    def _collate_rows(self, t: int, idx: list[int]) -> dict[str, torch.Tensor]:
        if t == len(self.data):
            assert self.lm is not None
            return lm_batch(self.model, [self.lm.features[i] for i in idx], self.lm.mask_rate)
        d = self.data[t]
        pad_id = self.model.input_format.pad_id
        batch = handler_for(d.task).collate([d.train[i] for i in idx], pad_id)
        return pack(batch, self.pack_budgets[t], pad_id, attention_parity=self.attention_parity) if self.pack_budgets else batch

    def _loss(self, t: int, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if t == len(self.data):
            return self.wrapped(LM_TASK, batch)
        d = self.data[t]
        return handler_for(d.task).loss(self.wrapped(d.task.name, batch), batch)

    def _broadcast(self, values: tuple) -> tuple:
        if self.processes == 1:
            return values
        from accelerate.utils import broadcast_object_list  # lazy: loads accelerate

        return tuple(broadcast_object_list(list(values)))

    def _save_best(self, step: int, score: float) -> None:
        self._sync_whole_model()
        if not self.accelerator.is_main_process:
            return
        target = self.work_dir / f"best-{step:07d}"
        with atomic_dir(target) as tmp:
            self.model.save(tmp, extra={"selected_step": step, "dev_score": score})
        atomic_write_text(self.work_dir / "BEST", target.name)
        for old in self.work_dir.glob("best-*"):
            if old.name != target.name and ".tmp-" not in old.name:
                shutil.rmtree(old, ignore_errors=True)

    def best_checkpoint(self) -> Path:
        path = self._pointer("BEST", "best")
        if path is None or not path.exists():
            raise CheckpointError(f"{self.work_dir}: training produced no best checkpoint (BEST is missing or damaged)")
        return path


def _fused_adamw_supported(device: torch.device) -> bool:
    try:
        from torch.utils._foreach_utils import _get_fused_kernels_supported_devices  # lazy: loads torch

        return device.type in _get_fused_kernels_supported_devices()
    except ImportError:  # older torch: fused AdamW existed on CUDA only
        return device.type == "cuda"


def _linear_schedule(warmup: int, total: int) -> Callable[[int], float]:
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / max(1, warmup)
        return max(0.0, (total - step) / max(1, total - warmup))

    return factor


def history_json(outcome: TrainOutcome) -> str:
    return json.dumps(asdict(outcome), indent=1)
