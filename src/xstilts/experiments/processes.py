"""Where this process stands among the processes of a grid: its rank in a multi-process training
launch (torchrun), and the import path its child processes need to run the same code."""

from __future__ import annotations

import os
from pathlib import Path


def world_size() -> int:
    """Processes of the torchrun launch this process belongs to (1 outside one)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def barrier() -> None:
    """Wait for every process of the launch (nothing outside one)."""
    import torch.distributed as dist  # only where a stage runs: planning never loads torch

    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _source_path() -> str:
    """The folder holding the xstilts package this process runs, for workers to import the same code."""
    return str(Path(__file__).resolve().parents[2])


def worker_pythonpath(extra: str | None = None) -> str:
    """PYTHONPATH for child processes: this checkout's code first, then the inherited path."""
    parts = [_source_path(), *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    if extra:
        parts.insert(0, extra)
    return os.pathsep.join(dict.fromkeys(parts))
