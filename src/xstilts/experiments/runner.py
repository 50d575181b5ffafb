"""Running a spec's grid: plan, register in the store, execute pending stages, skip finished ones."""

from __future__ import annotations

import logging
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from xstilts.errors import XStiltsError
from xstilts.experiments.plan import Stage, plan
from xstilts.experiments.spec import ExperimentSpec
from xstilts.experiments.stages import StageContext, provenance, run_evaluate, run_intermediate, run_target
from xstilts.experiments.store import ResultsStore, worker_id

log = logging.getLogger(__name__)

LEASE_SECONDS = 600.0
HEARTBEAT_SECONDS = 30.0
STORE_NAME = "results.sqlite"


@dataclass
class RunSummary:
    output_dir: Path
    store: Path
    ran: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # held by another worker
    seconds: float = 0.0


def choose_device(spec: ExperimentSpec) -> torch.device:
    if spec.device == "cpu" or (spec.device == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise XStiltsError("device: cuda was asked for but no CUDA device is available")
    return torch.device("cuda")


class Heartbeat:
    """Renews a stage's lease in the background while it runs."""

    def __init__(self, store_path: Path, stage_id: str, worker: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(store_path, stage_id, worker), daemon=True)

    def _beat(self, store_path: Path, stage_id: str, worker: str) -> None:
        store = ResultsStore(store_path)
        try:
            while not self._stop.wait(HEARTBEAT_SECONDS):
                store.heartbeat(stage_id, worker)
        finally:
            store.close()

    def __enter__(self) -> "Heartbeat":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def execute_stage(stage: Stage, ctx: StageContext, store: ResultsStore, worker: str) -> None:
    """Run one claimed stage and record it as done (its scores in the same transaction)."""
    started = time.time()
    with Heartbeat(store.path, stage.id, worker):
        scores: list[dict] = []
        if stage.kind == "intermediate":
            outcome = run_intermediate(stage, ctx)
        elif stage.kind == "target":
            outcome = run_target(stage, ctx)
        else:
            outcome, scores = run_evaluate(stage, ctx)
    outcome["wall_seconds"] = round(time.time() - started, 2)
    store.finish(stage.id, worker, outcome, provenance(stage, ctx), scores)
    shutil.rmtree(ctx.work_dir(stage.id), ignore_errors=True)


def run_spec(spec: ExperimentSpec, base_dir: Path | None = None, on_stage: Callable[[Stage, str], None] | None = None, stop_on_error: bool = True) -> RunSummary:
    """Run every pending stage of `spec` in this process, parents first."""
    started = time.time()
    root = spec.output_path(base_dir)
    stages = plan(spec)
    store = ResultsStore(root / STORE_NAME)
    store.register(spec.name, stages)
    ctx = StageContext(spec=spec, root=root, device=choose_device(spec))
    worker = worker_id()
    summary = RunSummary(output_dir=root, store=store.path)
    notify = on_stage or (lambda s, e: None)
    try:
        for stage in stages:
            row = store.stage(stage.id)
            if row is not None and row.status == "done":
                summary.reused.append(stage.id)
                notify(stage, "reused")
                continue
            if stage.parent and stage.parent in summary.failed + summary.waiting:
                summary.waiting.append(stage.id)
                continue
            if not store.claim(stage.id, worker, LEASE_SECONDS):
                summary.waiting.append(stage.id)
                notify(stage, "held by another worker")
                continue
            notify(stage, "running")
            try:
                execute_stage(stage, ctx, store, worker)
            except XStiltsError as err:
                store.fail(stage.id, worker, str(err))
                summary.failed.append(stage.id)
                notify(stage, f"failed: {err}")
                if stop_on_error:
                    raise
                continue
            except BaseException as err:
                store.fail(stage.id, worker, f"{type(err).__name__}: {err}")
                raise
            summary.ran.append(stage.id)
            notify(stage, "done")
    finally:
        store.close()
    summary.seconds = time.time() - started
    return summary
