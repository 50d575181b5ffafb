"""Executors: the same grid on a laptop, on one machine's GPUs, on Slurm, or on a Ray cluster.

  local           one worker in this process (the default)
  local, N > 1    N worker processes (`xstilts run SPEC --workers N`), each with cores/N torch
                  threads and, where there are GPUs, its own GPU (CUDA_VISIBLE_DEVICES)
  slurm           submitit job arrays, one array per stage kind (intermediate, target, evaluate)
                  with the resources the spec gives that kind; each array waits for the previous
                  one (afterany); a preempted or timed-out job is requeued and its stage resumes
                  from its training checkpoint
  submitit-local  the same jobs as slurm, run by submitit's LocalExecutor on this machine
  ray             one Ray task per stage with the kind's GPUs and CPUs; children depend on their
                  parents' tasks (needs `pip install 'xstilts[ray]'` and a Ray cluster)

Every executor coordinates through the results store: a stage is claimed with a lease before it
runs, so executors and plain `xstilts run` workers can share a grid without running any stage
twice. Cluster workers must see the output folder on a shared filesystem (and, across nodes, a
store created with `executor.store_journal: delete`).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from xstilts.config import to_dict
from xstilts.errors import ConfigError, XStiltsError
from xstilts.experiments.estimate import default_device, estimate_stage, training_phases
from xstilts.experiments.leases import STOP_SIGNAL
from xstilts.experiments.plan import Stage, plan
from xstilts.experiments.processes import worker_pythonpath
from xstilts.experiments.runner import (
    STORE_NAME,
    Notify,
    RunSummary,
    StageRunner,
    WorkerOptions,
    classify,
    prepare,
    resolve_runner,
    runner_reference,
    work,
)
from xstilts.experiments.spec import STAGE_KINDS, ExperimentSpec, spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.experiments.throughput import Throughput, load_throughput
from xstilts.io import atomic_write_json
from xstilts.progress import progress_bar
from xstilts.registry import Registry

log = logging.getLogger(__name__)

class Executor(Protocol):
    def run(self, spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> RunSummary:
        """Run the stages of the grid not done yet; a summary of the run, read back from the store."""
        ...


@dataclass(frozen=True)
class ExecutorRequest:
    """What a run asks of its executor besides the grid."""

    workers: int  # local: worker processes
    run_stage: str | StageRunner | None  # None: the default stage runner
    wait: bool  # slurm: wait for the jobs to finish (False: submit and return)
    notify: Notify | None  # told of each stage's progress (a worker in this process only)


# The executors by `executor.kind`, each a factory of an Executor for a request.
EXECUTORS: Registry[Callable[[ExecutorRequest], Executor]] = Registry("executor")


def run_grid(
    spec: ExperimentSpec, executor: str | None = None, workers: int | None = None, base_dir: Path | None = None,
    run_stage: str | StageRunner | None = None, stop_on_error: bool = True, wait: bool = True, notify: Notify | None = None,
) -> RunSummary:
    """Plan, register and run the grid of `spec` with an executor (default: the spec's)."""
    make = EXECUTORS.get(executor or spec.executor.kind)
    chosen = make(ExecutorRequest(workers or spec.executor.workers, run_stage, wait, notify))
    root, stages = prepare(spec, base_dir)
    options = WorkerOptions.from_spec(spec, stop_on_error=stop_on_error, wait=wait, run_started=time.time())
    started = time.time()
    summary = chosen.run(spec, root, stages, options)
    summary.seconds = time.time() - started
    return summary


def summarize(spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions, before: dict[str, str]) -> RunSummary:
    """A run's summary read back from the store (for executors whose workers run elsewhere)."""
    with ResultsStore(root / STORE_NAME, spec.executor.store_journal) as store:
        statuses = store.statuses()
    started = options.run_started or 0.0
    state = classify(stages, statuses, "", started, options.lease_seconds)
    summary = RunSummary(output_dir=root, store=root / STORE_NAME)
    for s in stages:
        if before.get(s.id) == "done":
            summary.reused.append(s.id)
        elif state[s.id] == "done":
            summary.ran.append(s.id)
        elif state[s.id] == "failed":
            summary.failed.append(s.id)
        elif state[s.id] == "blocked":
            summary.blocked.append(s.id)
        else:
            summary.waiting.append(s.id)
    return summary


def _statuses(spec: ExperimentSpec, root: Path) -> dict[str, str]:
    with ResultsStore(root / STORE_NAME, spec.executor.store_journal) as store:
        return {k: v[0] for k, v in store.statuses().items()}


def _to_run(spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> list[Stage]:
    """Stages not done and not running elsewhere under a live lease."""
    with ResultsStore(root / STORE_NAME, spec.executor.store_journal) as store:
        state = classify(stages, store.statuses(), "", options.run_started or time.time(), options.lease_seconds)
    return [s for s in stages if state[s.id] not in ("done", "held")]


# -- one worker in this process ---------------------------------------------------------------------
@dataclass
class InProcessExecutor:
    """One worker in this process: the default."""

    run_stage: str | StageRunner | None = None
    notify: Notify | None = None

    def run(self, spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> RunSummary:
        return work(spec, stages, root, resolve_runner(self.run_stage), options, notify=self.notify)


# -- several local worker processes -----------------------------------------------------------------
def visible_gpus(spec: ExperimentSpec) -> list[str]:
    if spec.device == "cpu":
        return []
    declared = os.environ.get("CUDA_VISIBLE_DEVICES")
    if declared is not None:
        gpus = [d.strip() for d in declared.split(",") if d.strip() and d.strip() != "-1"]
    else:
        try:
            import torch  # lazy: loads torch

            gpus = [str(i) for i in range(torch.cuda.device_count())]
        except ImportError:
            gpus = []
    if spec.device == "cuda" and not gpus:
        raise XStiltsError("device: cuda was asked for but no CUDA device is visible")
    return gpus


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass
class ProcessExecutor:
    """N worker processes on this machine, coordinating through the store."""

    workers: int
    run_stage: str | StageRunner | None = None

    def run(self, spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> RunSummary:
        before = _statuses(spec, root)
        if not _to_run(spec, root, stages, options):
            return summarize(spec, root, stages, options, before)  # nothing left: start no workers
        gpus = visible_gpus(spec)
        per_worker = spec.training.processes if gpus else 1  # GPUs per worker: one per training process
        if gpus and self.workers * per_worker > len(gpus):
            raise ConfigError(
                f"--workers {self.workers}: only {len(gpus)} GPU(s) visible and each worker takes {per_worker} "
                f"(training.processes); use --workers {max(1, len(gpus) // per_worker)}, or device: cpu"
            )
        threads = max(1, available_cores() // self.workers)
        if os.environ.get("OMP_NUM_THREADS", "").isdigit():
            threads = min(threads, int(os.environ["OMP_NUM_THREADS"]))
        run_id = uuid.uuid4().hex[:8]
        work_dir = root / "work"
        spec_file = work_dir / f"spec-{run_id}.json"
        atomic_write_json(spec_file, to_dict(spec))
        stop_file = work_dir / f"stop-{run_id}"
        worker_options = WorkerOptions(**{**vars(options), "stop_file": stop_file})
        reference = runner_reference(self.run_stage)
        processes = []
        try:
            for i in range(self.workers):
                env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="false", PYTHONPATH=worker_pythonpath())
                if self.workers > 1:
                    env["XSTILTS_QUIET"] = "1"  # one stage-level bar here instead of interleaved step bars
                if gpus:
                    env["CUDA_VISIBLE_DEVICES"] = ",".join(gpus[i * per_worker : (i + 1) * per_worker])
                command = worker_command(spec_file, root, reference, worker_options, label=f"w{i}")
                processes.append(subprocess.Popen(command, env=env))
            log.info("%d workers started (%d threads each%s)", self.workers, threads, f", GPUs {', '.join(gpus)}" if gpus else "")
            _wait_all(processes, stop_file if options.stop_on_error else None, progress=(spec, root, stages))
        except KeyboardInterrupt:
            for p in processes:
                if p.poll() is None:
                    p.send_signal(STOP_SIGNAL)  # each worker gives its stage back, then exits
            for p in processes:
                try:
                    p.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    p.kill()
            raise
        finally:
            spec_file.unlink(missing_ok=True)
            stop_file.unlink(missing_ok=True)
        return summarize(spec, root, stages, options, before)


def worker_command(spec_file: Path, root: Path, runner: str, options: WorkerOptions, label: str = "") -> list[str]:
    return [
        sys.executable, "-m", "xstilts.experiments.worker", "--spec-json", str(spec_file), "--root", str(root),
        "--stage-runner", runner, "--options", json.dumps(options.to_json()), *(["--label", label] if label else []),
    ]


def _wait_all(processes: list[subprocess.Popen], stop_file: Path | None, progress: tuple | None = None) -> None:
    """Wait for the workers; with `progress` (spec, root, stages), show the grid's stages done."""
    bar, done, last_poll = None, 0, 0.0
    if progress is not None:

        spec, root, stages = progress
        ids = {s.id for s in stages}
        bar = progress_bar(total=len(ids), description="grid stages done")
        done = sum(1 for k, v in _statuses(spec, root).items() if k in ids and v == "done")
        bar.update(done)
    while any(p.poll() is None for p in processes):
        if stop_file is not None and any(p.returncode not in (None, 0) for p in processes) and not stop_file.exists():
            log.warning("a worker failed: the others finish their current stage and stop (--keep-going runs on)")
            stop_file.touch()
        if bar is not None and time.time() - last_poll > 2.0:
            last_poll = time.time()
            now = sum(1 for k, v in _statuses(spec, root).items() if k in ids and v == "done")
            bar.update(now - done)
            done = now
        time.sleep(0.2)
    if bar is not None:
        bar.close()


# -- Slurm (and submitit's local executor) -----------------------------------------------------------
def _import_submitit() -> Any:
    try:
        import submitit  # lazy: loads submitit
    except ImportError:
        raise XStiltsError("the slurm executor needs submitit: pip install 'xstilts[slurm]'") from None
    return submitit


class StageJob:
    """A submitit job running one assigned stage. Requeued on preemption or timeout: it gives its
    stage back first, and the requeued job resumes the stage's training from its checkpoint."""

    def __init__(self, spec: dict, root: str, runner: str, options: dict, cluster: str) -> None:
        self.spec, self.root, self.runner, self.options, self.cluster = spec, root, runner, options, cluster

    def worker(self) -> str:
        submitit = _import_submitit()
        try:
            env = submitit.JobEnvironment()
            job = env.job_id  # stable across requeues, so the requeued job may take its stage back
        except RuntimeError:
            job = str(os.getpid())
        return f"{self.cluster}:{job}@{socket.gethostname()}"

    def __call__(self, stage_id: str) -> dict:
        spec = spec_from_dict(self.spec, "job spec")
        options = WorkerOptions.from_json({**self.options, "only": [stage_id]})
        summary = work(spec, plan(spec), Path(self.root), resolve_runner(self.runner), options, worker=self.worker(), executor=self.cluster)
        return {"stage": stage_id, "ran": summary.ran, "failed": summary.failed, "blocked": summary.blocked, "waiting": summary.waiting}

    def checkpoint(self, stage_id: str) -> Any:
        submitit = _import_submitit()
        journal = self.spec.get("executor", {}).get("store_journal", "wal")
        try:
            with ResultsStore(Path(self.root) / STORE_NAME, journal, timeout=10) as store:
                store.release(stage_id, self.worker(), "preempted")
        except Exception as err:  # the lease expires on its own
            log.warning("could not give stage %s back before requeue: %s", stage_id, err)
        return submitit.helpers.DelayedSubmission(self, stage_id)


def time_limit_minutes(spec: ExperimentSpec, kind: str) -> int:
    """The Slurm time limit of one stage kind's jobs: resources.<kind>.hours in whole minutes."""
    return max(1, round(spec.executor.resources.for_kind(kind).hours * 60))


def signal_seconds(spec: ExperimentSpec, kind: str) -> int:
    """How long before its time limit a job is told to give its stage back and requeue itself."""
    return max(1, min(spec.executor.slurm.signal_seconds, time_limit_minutes(spec, kind) * 60 // 2))


def job_parameters(spec: ExperimentSpec, kind: str, cluster: str, dependency: str | None) -> dict:
    """submitit parameters of one stage kind's jobs: AutoExecutor's for slurm, LocalExecutor's for local."""
    r = spec.executor.resources.for_kind(kind)
    if cluster == "local":
        seconds = r.hours * 3600
        return {"timeout_min": seconds / 60, "gpus_per_node": r.gpus, "signal_delay_s": max(1, min(30, int(seconds / 4)))}
    s = spec.executor.slurm
    additional = dict(s.additional)
    if dependency:
        additional["dependency"] = f"afterany:{dependency}"
    params: dict[str, Any] = {
        "name": f"xstilts-{spec.name}-{kind}", "timeout_min": time_limit_minutes(spec, kind),
        "cpus_per_task": r.cpus, "mem_gb": r.memory_gb, "tasks_per_node": 1, "nodes": 1,
        "slurm_array_parallelism": s.array_parallelism, "slurm_additional_parameters": additional,
        "slurm_signal_delay_s": signal_seconds(spec, kind),
    }
    if r.gpus and s.gres:
        params["slurm_gres"] = f"{s.gres}:{r.gpus}"
    elif r.gpus:
        params["gpus_per_node"] = r.gpus
    for key in ("partition", "account", "qos", "constraint"):
        if getattr(s, key):
            params[f"slurm_{key}"] = getattr(s, key)
    if s.setup:
        params["slurm_setup"] = list(s.setup)
    return params


# -- checks against the cluster before anything is submitted --------------------------------------------
def check_cluster(spec: ExperimentSpec, stages: list[Stage]) -> None:
    """One-line errors for what would otherwise fail job by job: no sbatch, an unknown partition,
    a time limit that ends jobs before they can save a checkpoint."""
    if shutil.which("sbatch") is None:
        raise XStiltsError("executor slurm: sbatch not found on PATH; run on a Slurm login node (or use --executor local or submitit-local)")
    partition = spec.executor.slurm.partition
    if partition:
        partitions = cluster_partitions()
        if partition not in partitions:
            raise ConfigError(
                f"executor.slurm.partition: {partition!r} is not a partition of this cluster (sinfo lists: {', '.join(partitions) or 'none'})"
            )
    check_time_limits(spec, stages)


def cluster_partitions() -> list[str]:
    try:
        done = subprocess.run(["sinfo", "--noheader", "--format=%R"], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise XStiltsError("executor slurm: sinfo not found on PATH; run on a Slurm login node") from None
    except subprocess.TimeoutExpired:
        raise XStiltsError("executor slurm: sinfo did not answer within 60s; is the Slurm controller up?") from None
    if done.returncode != 0:
        problem = " ".join((done.stderr or done.stdout).split())[:300]
        raise XStiltsError(f"executor slurm: sinfo failed ({problem}); is the Slurm controller up?")
    return sorted({line.strip() for line in done.stdout.splitlines() if line.strip()})


def checkpoint_interval_hours(stage: Stage, throughput: Throughput) -> float | None:
    """Estimated hours between two training checkpoints of `stage` (None: no training, or no estimate)."""
    if stage.training is None:
        return None
    estimate = estimate_stage(stage, throughput)
    if estimate.hours is None:
        return None
    phases = training_phases(stage)
    steps = stage.training.max_steps or sum(p.steps for p in phases)
    every = stage.training.first().checkpoint_every or min(p.eval_every for p in phases)
    return estimate.hours * min(1.0, every / max(1, steps))


def check_time_limits(spec: ExperimentSpec, stages: list[Stage]) -> None:
    """A job stopped at its time limit resumes from its last checkpoint; a limit shorter than one
    checkpoint interval would requeue the stage forever without progress."""
    throughput = load_throughput(default_device(spec))
    for kind in ("intermediate", "target"):
        usable = (time_limit_minutes(spec, kind) * 60 - signal_seconds(spec, kind)) / 3600
        worst: tuple[float, Stage] | None = None
        for stage in (s for s in stages if s.kind == kind):
            hours = checkpoint_interval_hours(stage, throughput)
            if hours is not None and (worst is None or hours > worst[0]):
                worst = (hours, stage)
        if worst is not None and worst[0] > usable:
            hours, stage = worst
            raise ConfigError(
                f"executor.resources.{kind}.hours: a {time_limit_minutes(spec, kind)}-minute time limit is shorter than one checkpoint "
                f"interval of stage {stage.label} (~{hours * 60:.0f} min on {throughput.device}); a job stopped at its limit would "
                f"resume without progress: raise the hours or lower training.{kind}.checkpoint_every"
            )


@dataclass
class SubmititExecutor:
    cluster: str = "slurm"  # slurm | local
    run_stage: str | StageRunner | None = None
    wait: bool = True

    def run(self, spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> RunSummary:
        submitit = _import_submitit()
        if self.cluster == "slurm":
            check_cluster(spec, stages)
        before = _statuses(spec, root)
        todo = _to_run(spec, root, stages, options)
        folder = Path(spec.executor.slurm.folder).expanduser() if spec.executor.slurm.folder else root / "slurm"
        job = StageJob(to_dict(spec), str(root), runner_reference(self.run_stage), {**options.to_json(), "stop_file": None}, self.cluster)
        dependency = None
        saved = os.environ.get("PYTHONPATH")
        os.environ["PYTHONPATH"] = worker_pythonpath()  # jobs inherit this environment: they import this code
        try:
            for kind in STAGE_KINDS:
                ids = [s.id for s in todo if s.kind == kind]
                if not ids:
                    continue
                if self.cluster == "local":
                    executor = submitit.LocalExecutor(folder=folder / kind)
                    executor.update_parameters(**job_parameters(spec, kind, "local", None))
                    self._run_local(executor, job, ids, spec.executor.slurm.array_parallelism)
                    continue
                executor = submitit.AutoExecutor(folder=folder / kind, cluster=self.cluster)
                if self.wait:
                    executor.update_parameters(**job_parameters(spec, kind, self.cluster, None))
                    self._run_and_retry(executor, job, ids, spec, root)
                    continue
                # --no-wait: every kind's array now, each waiting for the previous one
                executor.update_parameters(**job_parameters(spec, kind, self.cluster, dependency))
                jobs = executor.map_array(job, ids)
                dependency = str(jobs[0].job_id).split("_")[0]
                log.info("submitted %d %s stages as job array %s", len(ids), kind, dependency)
        finally:
            if saved is None:
                os.environ.pop("PYTHONPATH", None)
            else:
                os.environ["PYTHONPATH"] = saved
        return summarize(spec, root, stages, options, before)

    @staticmethod
    def _run_and_retry(executor: Any, job: StageJob, ids: list[str], spec: ExperimentSpec, root: Path) -> None:
        """Submit the stages as one array and wait; a job that ended without finishing its stage
        (killed, cancelled, out of memory, node failure: its Slurm state says so) has its stage given
        back and resubmitted, up to executor.max_attempts; the new job resumes from the checkpoint."""
        submissions = dict.fromkeys(ids, 0)
        pending = list(ids)
        poll = min(60.0, max(2.0, spec.executor.poll_seconds))
        while pending:
            for stage_id in pending:
                submissions[stage_id] += 1
            jobs = executor.map_array(job, pending)
            log.info("submitted %d stages as job array %s", len(pending), str(jobs[0].job_id).split("_")[0])
            # One sacct call per poll refreshes every job's state (submitit alone backs off to 10 minutes).
            while not jobs[0].done(force_check=True) or not all(j.done() for j in jobs):
                time.sleep(poll)
            # A job without a result did not complete: no need to wait for one (submitit would, 15 s).
            # sacct says CANCELLED as soon as scancel runs, but the job's processes may run a few
            # seconds more (and could claim its stage again): settle only jobs Slurm has cleaned up.
            dead = {stage_id: j for stage_id, j in zip(pending, jobs) if not j.paths.result_pickle.exists()}
            for stage_id, j in zip(pending, jobs):
                if stage_id not in dead and _job_result(j) is None:
                    dead[stage_id] = j  # the job's function raised: the store holds what happened
            _wait_until_gone([str(j.job_id) for j in dead.values()])
            if dead:
                next(iter(dead.values())).get_info(mode="force")  # fresh states for every job of the array
            pending = []
            with ResultsStore(root / STORE_NAME, spec.executor.store_journal) as store:
                for stage_id, j in dead.items():
                    state = _slurm_state(j)
                    log.error("slurm job %s ended %s without a result (log: %s)", j.job_id, state, j.paths.stderr)
                    if settle_dead_job(store, stage_id, str(j.job_id), state, spec.executor.max_attempts) and submissions[stage_id] < spec.executor.max_attempts:
                        pending.append(stage_id)

    @staticmethod
    def _run_local(executor: Any, job: StageJob, ids: list[str], parallel: int) -> None:
        queue, running = list(ids), []  # type: list[str], list[Any]
        while queue or running:
            while queue and len(running) < parallel:
                running.append(executor.submit(job, queue.pop(0)))
            time.sleep(0.2)
            for j in [j for j in running if j.done()]:
                _job_result(j)
                running.remove(j)


def _wait_until_gone(job_ids: list[str], timeout: float = 300.0) -> None:
    """Wait until squeue no longer lists these jobs (their processes are gone)."""
    deadline = time.time() + timeout
    while job_ids and time.time() < deadline:
        try:
            listed = subprocess.run(["squeue", "--noheader", "--format=%i", "--jobs", ",".join(job_ids)], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return
        if listed.returncode != 0 or not listed.stdout.strip():
            return  # squeue forgets finished jobs: an unknown id is an ended one
        time.sleep(1.0)
    if job_ids and time.time() >= deadline:
        log.warning("slurm jobs %s are still listed by squeue after %.0fs", ", ".join(job_ids), timeout)


def _slurm_state(job: Any) -> str:
    try:
        return str(job.state).split()[0]  # e.g. FAILED, CANCELLED (from "CANCELLED by 0"), TIMEOUT, NODE_FAIL
    except Exception as err:  # sacct unreachable: the job still ended without a result
        return f"UNKNOWN ({err})"


def settle_dead_job(store: ResultsStore, stage_id: str, job_id: str, state: str, max_attempts: int) -> bool:
    """Record that Slurm job `job_id` ended (`state`) without finishing `stage_id`: the stage it
    held is given back (attempt 'lost'), or failed once it has used `max_attempts`. True when the
    stage may run again (pending), False when it is done, failed, or held by another live worker."""
    row = store.stage(stage_id)
    if row is None:
        return False
    if row.status == "running" and row.worker and row.worker.startswith(f"slurm:{job_id}@"):
        # Only crashed attempts count: a job requeued at its time limit gave its stage back in time.
        crashed = 1 + sum(1 for a in store.attempts(stage_id) if a["status"] in ("lost", "failed"))
        if crashed >= max_attempts:
            store.fail(stage_id, row.worker, f"slurm job {job_id} ended {state} without a result; {crashed} attempts used (executor.max_attempts)")
            log.error("stage %s failed: slurm job %s ended %s, attempt %d of %d", stage_id, job_id, state, crashed, max_attempts)
            return False
        store.release(stage_id, row.worker, "lost")
        log.warning("slurm job %s ended %s during stage %s (attempt %d of %d): resubmitting it", job_id, state, stage_id, crashed, max_attempts)
        return True
    return row.status == "pending"


def _job_result(job: Any) -> dict | None:
    try:
        return job.result()
    except Exception as err:  # the store holds the stage's state; the job's failure is only logged
        log.error("job %s ended without a result: %s", job.job_id, _failure_summary(err))
        return None


def _failure_summary(err: BaseException, limit: int = 600) -> str:
    """One line: a job's error text with the traceback's end kept (submitit puts the remote
    traceback first and the exception that ended the job last)."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else f"{text[: limit // 3]} … {text[-(limit - limit // 3):]}"


# -- Ray --------------------------------------------------------------------------------------------
def _import_ray() -> Any:
    try:
        import ray  # lazy: loads ray
    except ImportError:
        raise XStiltsError("the ray executor needs Ray: pip install 'xstilts[ray]'") from None
    return ray


def ray_stage_task(spec: dict, root: str, runner: str, options: dict, threads: int, stage_id: str, *parents: Any) -> dict:
    """A Ray task running one stage; `parents` are the parent stage's task results (Ray starts
    this task only once they exist). Ray sets CUDA_VISIBLE_DEVICES to the task's GPUs."""
    os.environ["OMP_NUM_THREADS"] = str(threads)  # the default stage runner sets torch's threads from it
    experiment = spec_from_dict(spec, "ray task spec")
    worker = f"ray:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    summary = work(
        experiment, plan(experiment), Path(root), resolve_runner(runner),
        WorkerOptions.from_json({**options, "only": [stage_id]}), worker=worker, executor="ray",
    )
    return {"stage": stage_id, "ran": summary.ran, "failed": summary.failed, "blocked": summary.blocked}


@dataclass
class RayExecutor:
    run_stage: str | StageRunner | None = None

    def run(self, spec: ExperimentSpec, root: Path, stages: list[Stage], options: WorkerOptions) -> RunSummary:
        ray = _import_ray()
        before = _statuses(spec, root)
        todo = _to_run(spec, root, stages, options)
        if not ray.is_initialized():
            if spec.executor.ray.address:
                ray.init(address=spec.executor.ray.address)
            else:
                ray.init()
        remote = ray.remote(ray_stage_task)
        spec_dict, runner = to_dict(spec), runner_reference(self.run_stage)
        task_options = {**options.to_json(), "stop_on_error": False, "stop_file": None}
        refs: dict[str, Any] = {}
        for s in todo:  # parents first
            r = spec.executor.resources.for_kind(s.kind)
            deps = [refs[s.parent]] if s.parent in refs else []
            refs[s.id] = remote.options(
                num_gpus=r.gpus, num_cpus=r.cpus, memory=int(r.memory_gb * 2**30),
                max_retries=spec.executor.max_attempts - 1, name=f"xstilts-{s.kind}-{s.id}",
            ).remote(spec_dict, str(root), runner, task_options, r.cpus, s.id, *deps)
        pending = list(refs.values())
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                try:
                    ray.get(ref)
                except Exception as err:  # a task that died: the store holds its stage's state
                    log.error("ray task ended without a result: %s", _failure_summary(err))
        return summarize(spec, root, stages, options, before)


# -- the registry -----------------------------------------------------------------------------------
def _local(request: ExecutorRequest) -> Executor:
    if request.workers == 1:
        return InProcessExecutor(request.run_stage, request.notify)
    return ProcessExecutor(request.workers, request.run_stage)


def _slurm(request: ExecutorRequest) -> Executor:
    return SubmititExecutor("slurm", request.run_stage, wait=request.wait)


def _submitit_local(request: ExecutorRequest) -> Executor:
    return SubmititExecutor("local", request.run_stage, wait=True)  # its jobs are this machine's processes


def _ray(request: ExecutorRequest) -> Executor:
    return RayExecutor(request.run_stage)


EXECUTORS.register("local", _local)
EXECUTORS.register("slurm", _slurm)
EXECUTORS.register("submitit-local", _submitit_local)
EXECUTORS.register("ray", _ray)
