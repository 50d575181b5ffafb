"""Working through a spec's grid: plan, register in the store, claim runnable stages, run them.

A worker repeatedly takes the first runnable stage in plan order (parents before children):
pending, failed in an earlier run, or held by a worker whose lease expired, and whose parent is
done. It claims the stage in the store (one atomic UPDATE, so two workers never both win), runs
it while a heartbeat thread renews the lease, and records the outcome and scores in one
transaction. A worker that finds nothing runnable while stages still run elsewhere polls until
they finish. Stages that fail during this run are not retried by it (the next run retries
them); their descendants are reported as blocked. A finished stage is never run again.

The function that runs one stage is injectable (`run_stage(stage, ctx) -> (outcome, scores)`);
the default trains or evaluates with `xstilts.experiments.stages`.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import platform
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from xstilts.config import to_dict
from xstilts.errors import ConfigError, XStiltsError
from xstilts.experiments.distributed import launch, launched_here
from xstilts.experiments.leases import LOST, STOP_SIGNAL, keeper_command
from xstilts.experiments.leases import describe as describe_holder
from xstilts.experiments.plan import Stage, plan
from xstilts.experiments.spec import ExperimentSpec
from xstilts.experiments.store import STORE_NAME, ResultsStore, worker_id
from xstilts.io import TMP_MARK, clean_stale_temporaries
from xstilts.version import __version__

log = logging.getLogger(__name__)

# Defaults of the spec's executor section, kept here for callers of earlier versions.
LEASE_SECONDS = 90.0
HEARTBEAT_SECONDS = 20.0

DEFAULT_RUNNER = "xstilts.experiments.runner:default_run_stage"


@dataclass
class WorkerContext:
    """What a stage runner gets besides the stage: the spec, the output folder, who runs it."""

    spec: ExperimentSpec
    root: Path  # the experiment's output folder (absolute)
    worker: str = field(default_factory=worker_id)
    executor: str = "local"

    def stage_dir(self, stage_id: str) -> Path:
        return self.root / "stages" / stage_id

    def work_dir(self, stage_id: str) -> Path:
        return self.root / "work" / stage_id


StageRunner = Callable[[Stage, WorkerContext], tuple[dict, list[dict]]]
Notify = Callable[[Stage, str], None]


@dataclass
class WorkerOptions:
    lease_seconds: float = LEASE_SECONDS
    heartbeat_seconds: float = HEARTBEAT_SECONDS
    poll_seconds: float = 10.0
    max_attempts: int = 3
    stop_on_error: bool = True
    run_started: float | None = None  # stages failed after this are not retried in this run
    wait: bool = True  # poll while stages this worker needs run elsewhere
    stop_file: Path | None = None  # stop claiming new stages once this file exists (drain)
    only: frozenset[str] | None = None  # run only these stages (a job assigned one stage)

    @classmethod
    def from_spec(cls, spec: ExperimentSpec, **overrides: Any) -> WorkerOptions:
        x = spec.executor
        base = cls(lease_seconds=x.lease_seconds, heartbeat_seconds=x.heartbeat_seconds, poll_seconds=x.poll_seconds, max_attempts=x.max_attempts)
        return replace(base, **overrides)

    def to_json(self) -> dict:
        data = {k: v for k, v in vars(self).items()}
        data["stop_file"] = str(self.stop_file) if self.stop_file else None
        data["only"] = sorted(self.only) if self.only is not None else None
        return data

    @classmethod
    def from_json(cls, data: dict) -> WorkerOptions:
        data = dict(data)
        data["stop_file"] = Path(data["stop_file"]) if data.get("stop_file") else None
        data["only"] = frozenset(data["only"]) if data.get("only") is not None else None
        return cls(**data)


@dataclass
class RunSummary:
    output_dir: Path
    store: Path
    ran: list[str] = field(default_factory=list)  # run to completion by this worker (or executor)
    reused: list[str] = field(default_factory=list)  # already done when the run started
    failed: list[str] = field(default_factory=list)  # failed during this run
    waiting: list[str] = field(default_factory=list)  # not finished: held elsewhere or parent unfinished
    blocked: list[str] = field(default_factory=list)  # an ancestor failed during this run
    seconds: float = 0.0


# -- the default stage runner ---------------------------------------------------------------------
def default_run_stage(stage: Stage, ctx: WorkerContext) -> tuple[dict, list[dict]]:
    """Train or evaluate with the real pipeline (`xstilts.experiments.stages`)."""
    # Imported here: the pipeline loads torch, which workers that only coordinate never need.
    import torch  # lazy: loads torch

    # lazy: loads torch
    from xstilts.experiments.stages import StageContext, choose_device, run_evaluate, run_intermediate, run_target

    threads = os.environ.get("OMP_NUM_THREADS")
    if threads and threads.isdigit():
        torch.set_num_threads(int(threads))
    scores: list[dict] = []
    if launched_here(stage.kind, ctx.spec.training.processes):
        return launch(stage, ctx.root, ctx.spec, ctx.work_dir(stage.id)), scores
    sctx = StageContext(spec=ctx.spec, root=ctx.root, device=choose_device(ctx.spec))
    if stage.kind == "intermediate":
        outcome = run_intermediate(stage, sctx)
    elif stage.kind == "target":
        outcome = run_target(stage, sctx)
    else:
        outcome, scores = run_evaluate(stage, sctx)
    return outcome, scores


def resolve_runner(runner: str | StageRunner | None) -> StageRunner:
    """A stage runner from a callable or a 'module:function' reference (None: the default)."""
    if runner is None:
        return default_run_stage
    if callable(runner):
        return runner
    module_name, _, attr = runner.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"stage runner {runner!r}: expected 'module:function'")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as err:
        raise ConfigError(f"stage runner {runner!r}: cannot import it ({err})") from None
    if not callable(obj):
        raise ConfigError(f"stage runner {runner!r}: not callable")
    return obj


def runner_reference(runner: str | StageRunner | None) -> str:
    """The 'module:function' form of a runner, for worker processes and cluster jobs."""
    if runner is None:
        return DEFAULT_RUNNER
    if isinstance(runner, str):
        resolve_runner(runner)
        return runner
    module, name = getattr(runner, "__module__", None), getattr(runner, "__qualname__", "")
    if not module or module == "__main__" or "<" in name:
        raise ConfigError(f"stage runner {runner!r}: worker processes import it by name; define it at the top level of an importable module")
    return f"{module}:{name}"


# -- provenance ----------------------------------------------------------------------------------
_PACKAGES = ("torch", "transformers", "tokenizers", "datasets", "accelerate", "peft", "safetensors", "numpy")


@lru_cache(maxsize=1)
def code_version() -> str:
    """xstilts' version plus the git commit of its source tree when it runs from a checkout."""
    source = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return __version__
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10)
        return f"{__version__}+g{commit.stdout.strip()}" + (".dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return __version__


@lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def hardware() -> dict:
    info: dict[str, Any] = {
        "host": socket.gethostname(), "platform": platform.platform(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "omp_threads": os.environ.get("OMP_NUM_THREADS"),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    torch = sys.modules.get("torch")  # describe GPUs only where the stage loaded torch
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpus"] = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return info


def provenance_record(stage: Stage, ctx: WorkerContext, started: float, runner_extra: dict | None) -> dict:
    finished = time.time()
    return {
        "spec": ctx.spec.name,
        "spec_hash": ctx.spec.fingerprint(),
        "stage": stage.describe(),
        "seed": stage.seed,
        "code_version": code_version(),
        "packages": package_versions(),
        "hardware": hardware(),
        "worker": ctx.worker,
        "executor": ctx.executor,
        "timings": {"started": started, "finished": finished, "seconds": round(finished - started, 3)},
        "runner": runner_extra or {},
    }


# -- leases ----------------------------------------------------------------------------------------
@contextmanager
def stop_signal_interrupts() -> Iterator[bool]:
    """While active, `leases.STOP_SIGNAL` raises KeyboardInterrupt in this process, whatever its
    SIGINT disposition. Only the main thread can handle signals: elsewhere this does nothing and
    yields False."""
    if threading.current_thread() is not threading.main_thread():
        yield False
        return
    previous = signal.signal(STOP_SIGNAL, signal.default_int_handler)  # raises KeyboardInterrupt
    try:
        yield True
    finally:
        signal.signal(STOP_SIGNAL, signal.SIG_DFL if previous is None else previous)


class Heartbeat:
    """Renews a stage's lease while it runs, from a child process (`leases.keep`) that no
    GIL-holding call of this one can starve. If the lease is lost (this worker stalled past it and
    another took the stage over), the stage is interrupted: its result would be discarded anyway."""

    def __init__(self, store_path: Path, stage_id: str, worker: str, interval: float = HEARTBEAT_SECONDS) -> None:
        self._store_path, self._stage_id, self._worker, self._interval = str(store_path), stage_id, worker, interval
        self._handler = ExitStack()
        self._process: subprocess.Popen | None = None
        self._lost: bool | None = None

    @property
    def lost(self) -> bool:
        """Whether the keeper found the lease taken over: it says so on its stdout before it interrupts."""
        if self._lost is None and self._process is not None and self._process.stdout is not None:
            ready, _, _ = select.select([self._process.stdout], [], [], 0)
            if ready:
                self._lost = self._process.stdout.read(len(LOST)) == LOST
        return bool(self._lost)

    def __enter__(self) -> Heartbeat:
        interrupt = self._handler.enter_context(stop_signal_interrupts())  # before the keeper can signal
        command = keeper_command(self._store_path, self._stage_id, self._worker, self._interval, interrupt=interrupt)
        try:
            self._process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        except BaseException:
            self._handler.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        with self._handler:  # restored once the keeper is dead: it cannot signal after that
            self._stop_keeper()

    def _stop_keeper(self) -> None:
        process = self._process
        if process is None:
            return
        with suppress(OSError):
            process.stdin.close()  # type: ignore[union-attr]  # started with stdin=PIPE
        # No waiting for it to notice: a kill costs nothing (SQLite survives a killed writer), and
        # whether it lost the lease is already in its stdout.
        process.kill()
        process.wait()
        if self._lost is None:
            self._lost = process.stdout.read() == LOST if process.stdout else False
        if process.stdout:
            process.stdout.close()


def _error_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    if isinstance(err, XStiltsError):
        return text or type(err).__name__
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def remove_dead_attempts_temporaries(ctx: WorkerContext, stage_id: str) -> None:
    """Half-built outputs of earlier attempts of a stage (a killed worker's temporaries, possibly a
    whole model copy). Safe once the stage is claimed: no other live worker writes them."""
    stages = ctx.root / "stages"
    removed = clean_stale_temporaries(stages, prefix=f"{stage_id}{TMP_MARK}") + clean_stale_temporaries(stages / stage_id)
    if removed:
        log.info("stage %s: removed %d temporaries of an earlier attempt", stage_id, removed)


PREVIOUS_SUFFIX = ".previous"


def set_aside_previous(ctx: WorkerContext, stage: Stage) -> Path | None:
    """Move the folder of an earlier evaluation of `stage` (a stage reopened to fill its gaps, or an
    attempt killed before it was recorded) to stages/<id>.previous, so that the new evaluation
    writes its own; `restore_previous` puts it back if the new one is not recorded. A folder left
    aside by a killed attempt is restored first: the store still holds the result it belongs to."""
    if stage.kind != "evaluate":
        return None
    folder = ctx.stage_dir(stage.id)
    previous = folder.with_name(folder.name + PREVIOUS_SUFFIX)
    if previous.exists():
        restore_previous(folder, previous)
    if not folder.exists():
        return None
    os.rename(folder, previous)
    return previous


def restore_previous(folder: Path, previous: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.rename(previous, folder)


def execute_stage(stage: Stage, ctx: WorkerContext, store: ResultsStore, run_stage: StageRunner, options: WorkerOptions, notify: Notify) -> bool:
    """Run one claimed stage and record it: done with its scores, or failed with a one-line error.
    True when it finished. Interrupts give the stage back (pending) and propagate. The folder of an
    earlier result of the stage is kept aside until the new result is recorded."""
    started = time.time()
    notify(stage, "running")
    remove_dead_attempts_temporaries(ctx, stage.id)
    previous = set_aside_previous(ctx, stage)
    recorded = False
    beat = Heartbeat(store.path, stage.id, ctx.worker, options.heartbeat_seconds)
    try:
        try:
            with beat:
                outcome, scores = run_stage(stage, ctx)
        except (KeyboardInterrupt, SystemExit):
            if beat.lost:
                notify(stage, "lease lost: another worker took the stage over; abandoned")
                return False
            store.release(stage.id, ctx.worker, "interrupted")
            raise
        except Exception as err:
            line = _error_line(err)
            store.fail(stage.id, ctx.worker, line, traceback.format_exc())
            kept = store.stage(stage.id)
            if kept is not None and kept.status == "done":
                line += "; its earlier result is kept"
            notify(stage, f"failed: {line}")
            if options.stop_on_error:
                raise
            return False
        outcome = dict(outcome)
        extra = outcome.pop("provenance", None)
        outcome.setdefault("wall_seconds", round(time.time() - started, 2))
        recorded = store.finish(stage.id, ctx.worker, outcome, provenance_record(stage, ctx, started, extra), scores)
        if not recorded:
            notify(stage, "lease lost: the result was discarded (another worker holds or finished the stage)")
            return False
    finally:
        if previous is not None and previous.exists():
            if recorded:
                shutil.rmtree(previous, ignore_errors=True)
            else:
                restore_previous(ctx.stage_dir(stage.id), previous)
    shutil.rmtree(ctx.work_dir(stage.id), ignore_errors=True)
    notify(stage, "done")
    return True


# -- the worker loop -------------------------------------------------------------------------------
DONE, FAILED, BLOCKED, WAITING, HELD, RUNNABLE = "done", "failed", "blocked", "waiting", "held", "runnable"


def classify(stages: list[Stage], statuses: dict, worker: str, run_started: float, lease_seconds: float, now: float | None = None) -> dict[str, str]:
    """The state of every stage for `worker`: done, failed (in this run), blocked (an ancestor
    failed in this run), waiting (parent unfinished), held (running elsewhere, live lease) or
    runnable. `stages` are in plan order, parents first."""
    now = time.time() if now is None else now
    state: dict[str, str] = {}

    def own(stage_id: str) -> str:
        status, heartbeat, finished, holder = statuses.get(stage_id, ("pending", None, None, None))
        if status == "done":
            return DONE
        if status == "failed" and (finished or 0) >= run_started:
            return FAILED
        if status == "running" and (heartbeat or 0) >= now - lease_seconds and holder != worker:
            return HELD
        return RUNNABLE

    for s in stages:
        mine = own(s.id)
        if mine in (DONE, FAILED) or not s.parent:
            state[s.id] = mine
            continue
        parent = state.get(s.parent) or own(s.parent)
        if parent == DONE:
            state[s.id] = mine
        elif parent in (FAILED, BLOCKED):
            state[s.id] = BLOCKED
        else:
            state[s.id] = WAITING if mine != HELD else HELD
    return state


def _waits_on_live_work(stage: Stage, by_id: dict[str, Stage], state: dict[str, str]) -> bool:
    """Whether an unfinished ancestor of `stage` is being run (or waited for) somewhere else."""
    parent = stage.parent
    while parent:
        if state.get(parent) == HELD:
            return True
        if state.get(parent) == RUNNABLE:
            return False
        parent = by_id[parent].parent if parent in by_id else None
    return False


def take_back_dead(store: ResultsStore, by_id: dict[str, Stage]) -> list[str]:
    """End the leases of stages whose worker process on this machine is gone (see `leases`)."""
    ids = []
    for stage_id, worker, holder in store.take_back_dead():
        stage = by_id.get(stage_id)
        name = f"{stage.label} ({stage_id})" if stage else stage_id
        log.info("stage %s was held by %s, which no longer runs: taken back", name, describe_holder(worker, holder.host))
        ids.append(stage_id)
    return ids


def held_needed(unfinished: list[Stage], by_id: dict[str, Stage], state: dict[str, str]) -> list[Stage]:
    """The stages held elsewhere that `unfinished` stages wait for: themselves or an ancestor."""
    held: dict[str, Stage] = {}
    for s in unfinished:
        current: Stage | None = s
        while current is not None:
            if state.get(current.id) == HELD:
                held[current.id] = current
                break
            current = by_id.get(current.parent) if current.parent else None
    return list(held.values())


class WaitingLines:
    """'waiting for <stage> held by <worker> on <host> (lease ends in N s)': at once when a stage
    is first waited for, then every `every` seconds while it still is."""

    def __init__(self, every: float = 60.0) -> None:
        self.every = every
        self._shown: dict[tuple[str, str], float] = {}

    def show(self, held: list[Stage], holders: dict[str, tuple[str, str | None, float | None]], lease_seconds: float) -> None:
        now = time.time()
        for stage in held:
            worker, host, heartbeat = holders.get(stage.id, ("another worker", None, None))
            key = (stage.id, worker)
            if now - self._shown.get(key, -float("inf")) < self.every:
                continue
            self._shown[key] = now
            ends = max(0.0, (heartbeat or now) + lease_seconds - now)
            log.info("waiting for %s (%s) held by %s (lease ends in %.0f s)", stage.label, stage.id, describe_holder(worker, host), ends)


def work(
    spec: ExperimentSpec, stages: list[Stage], root: Path, run_stage: StageRunner | None = None,
    options: WorkerOptions | None = None, worker: str | None = None, executor: str = "local", notify: Notify | None = None,
) -> RunSummary:
    """One worker: claim and run runnable stages until the grid (or `options.only`) is finished
    or blocked. `stages` must be `plan(spec)` (or a prefix-closed part of it), parents first."""
    options = options or WorkerOptions.from_spec(spec)
    run_stage = run_stage or default_run_stage
    notify = notify or (lambda s, e: None)
    worker = worker or worker_id()
    run_started = options.run_started or time.time()
    started = time.time()
    ctx = WorkerContext(spec=spec, root=root, worker=worker, executor=executor)
    store = ResultsStore(root / STORE_NAME, spec.executor.store_journal)
    summary = RunSummary(output_dir=root, store=store.path)
    by_id = {s.id: s for s in stages}
    mine = [s for s in stages if options.only is None or s.id in options.only]
    waiting = WaitingLines()
    try:
        first = classify(stages, store.statuses(), worker, run_started, options.lease_seconds)
        summary.reused = [s.id for s in mine if first[s.id] == DONE]
        for s in mine:
            if first[s.id] == DONE:
                notify(s, "reused")
        while True:
            if options.stop_file is not None and options.stop_file.exists():
                break
            take_back_dead(store, by_id)
            for stage_id in store.abandon_expired(options.lease_seconds, options.max_attempts):
                log.warning("stage %s abandoned after %d attempts whose workers stopped", stage_id, options.max_attempts)
            state = classify(stages, store.statuses(), worker, run_started, options.lease_seconds)
            claimed = None
            for s in mine:
                if state[s.id] == RUNNABLE and store.claim(s.id, worker, options.lease_seconds, run_started, executor):
                    claimed = s
                    break
            if claimed is not None:
                # With stop_on_error a failure raises out of execute_stage; otherwise go on.
                if execute_stage(claimed, ctx, store, run_stage, options, notify):
                    summary.ran.append(claimed.id)
                continue
            unfinished = [s for s in mine if state[s.id] in (WAITING, HELD)]
            if options.only is not None:
                unfinished = [s for s in unfinished if state[s.id] == HELD or _waits_on_live_work(s, by_id, state)]
            if unfinished and options.wait:
                waiting.show(held_needed(unfinished, by_id, state), store.holders(), options.lease_seconds)
                time.sleep(options.poll_seconds)
                continue
            break
        final = classify(stages, store.statuses(), worker, run_started, options.lease_seconds)
        summary.failed = [s.id for s in mine if final[s.id] == FAILED]
        summary.blocked = [s.id for s in mine if final[s.id] == BLOCKED]
        summary.waiting = [s.id for s in mine if final[s.id] in (WAITING, HELD, RUNNABLE)]
    finally:
        store.close()
    summary.seconds = time.time() - started
    return summary


# -- a grid in this process -------------------------------------------------------------------------
def prepare(spec: ExperimentSpec, base_dir: Path | None = None) -> tuple[Path, list[Stage]]:
    """Plan the grid and register it in the store of its (absolute) output folder."""
    root = spec.output_path(base_dir).expanduser().resolve()
    stages = plan(spec)
    store = ResultsStore(root / STORE_NAME, spec.executor.store_journal)
    try:
        store.register(spec.name, stages, spec.fingerprint(), to_dict(spec))
        take_back_dead(store, {s.id: s for s in stages})
    finally:
        store.close()
    return root, stages


def reopen_gaps(spec: ExperimentSpec, base_dir: Path | None = None) -> list[str]:
    """Set the spec's finished evaluate stages that have gaps back to pending (see
    `ResultsStore.reopen_gaps`); nothing when the grid has no store yet."""
    path = spec.output_path(base_dir).expanduser().resolve() / STORE_NAME
    if not path.exists():
        return []
    with ResultsStore(path, spec.executor.store_journal) as store:
        return store.reopen_gaps(s.id for s in plan(spec))


def gaps_line(count: int, spec_file: str | Path = "SPEC") -> str:
    """What a run and the plan say about evaluate stages that finished with gaps."""
    return (
        f"{count} evaluate stage{'s' if count != 1 else ''} finished with missing languages (gaps); once their data exists, "
        f"`xstilts run {spec_file} --retry-gaps` evaluates them again"
    )


def run_spec(
    spec: ExperimentSpec, base_dir: Path | None = None, on_stage: Notify | None = None, stop_on_error: bool = True,
    run_stage: str | StageRunner | None = None, wait: bool = True,
) -> RunSummary:
    """Run every unfinished stage of `spec` in this process, parents first (one local worker)."""
    root, stages = prepare(spec, base_dir)
    options = WorkerOptions.from_spec(spec, stop_on_error=stop_on_error, wait=wait)
    return work(spec, stages, root, resolve_runner(run_stage), options, notify=on_stage)
