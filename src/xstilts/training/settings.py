"""What one training run is told: `TrainSettings`, and the defaults of the settings no task sets.

Free of torch, so the planner reads these defaults without loading the training stack. The
defaults a task can set (learning rate, batch size, ...) are the task's `Hyperparameters`, stated
there once; the trainer's own (gradient clipping, mixed precision) are stated here once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from xstilts.tasks.base import Hyperparameters

_TASK_DEFAULTS = Hyperparameters()


@dataclass(frozen=True)
class TrainSettings:
    learning_rate: float = _TASK_DEFAULTS.learning_rate
    batch_size: int = _TASK_DEFAULTS.batch_size
    max_steps: int = 1000
    warmup_ratio: float = _TASK_DEFAULTS.warmup_ratio
    weight_decay: float = _TASK_DEFAULTS.weight_decay
    max_grad_norm: float = 1.0
    gradient_accumulation: int = _TASK_DEFAULTS.gradient_accumulation
    eval_every: int = 200
    patience: int | None = None  # evaluations without improvement before stopping early
    checkpoint_every: int | None = None  # steps between resumable checkpoints; default: every evaluation
    seed: int = 0
    precision: str = "auto"  # auto | no | bf16 | fp16 (autocast); auto: bf16 on GPUs that support it, else no
    sampling: str = "proportional"  # proportional | temperature | uniform (multi-task)
    temperature: float = 2.0
    max_examples_per_task: int | None = None  # cap on each task's share of the sampling weights
    freeze_embeddings: bool = False
    length_grouping: bool = True
    # Padding-free packing (`xstilts.models.packing`): each batch's features share rows, each
    # attending only to itself; the examples of a step are the same as without it.
    packing: bool = False
    # Training batches padded to a multiple of this many positions (None: to their longest row).
    # Not in experiment specs: on an H200 it gained nothing (benchmarks/README.md, GPU results).
    pad_to_multiple_of: int | None = None
    eval_batch_size: int = 64
    # Experiment trackers through accelerate (tensorboard, wandb, mlflow, ... or GeneralTracker
    # instances); logs go under <work_dir>/logs for file-based trackers.
    log_with: tuple = ()
    run_name: str = "xstilts"
    # Shard weights, gradients and optimizer states across the processes of a multi-process launch
    # (torch FSDP2) instead of replicating them (DDP); one process trains unsharded.
    fsdp: bool = False


TRAINER_DEFAULTS = TrainSettings()


def steps_for_epochs(n_examples: int, batch_size: int, epochs: float, accumulation: int = 1) -> int:
    return max(1, math.ceil(n_examples / (batch_size * accumulation) * epochs))
