"""Executors with a fast fake stage runner: several local worker processes, a worker killed with
SIGKILL mid-grid, submitit's local executor (with a requeue), and Ray through a stand-in module
(Ray itself is not installed here)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import types
import typing
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from xstilts.config import to_dict
from xstilts.errors import ConfigError, XStiltsError
from xstilts.experiments.executors import (
    EXECUTORS,
    ExecutorRequest,
    InProcessExecutor,
    ProcessExecutor,
    run_grid,
    worker_command,
)
from xstilts.experiments.plan import plan
from xstilts.experiments.runner import STORE_NAME, WorkerOptions, prepare
from xstilts.experiments.spec import ExecutorSpec, spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_json

import fake_stages
from experiment_helpers import grid, sigint


def _executions(root: Path) -> tuple[dict[str, int], dict[str, int], set[int]]:
    starts: dict[str, int] = {}
    ends: dict[str, int] = {}
    pids = set()
    for _, event, stage_id, pid in fake_stages.read_log(root):
        (starts if event == "start" else ends)[stage_id] = (starts if event == "start" else ends).get(stage_id, 0) + 1
        pids.add(pid)
    return starts, ends, pids


def _assert_parents_first(root: Path, stages: list) -> None:
    log = fake_stages.read_log(root)
    end = {sid: t for t, event, sid, _ in log if event == "end"}
    for s in stages:
        if s.parent:
            starts = [t for t, event, sid, _ in log if event == "start" and sid == s.id]
            assert min(starts) >= end[s.parent], f"{s.label} started before its parent finished"


def _all_done(store_path: Path) -> bool:
    with ResultsStore(store_path) as store:
        return all(r.status == "done" for r in store.stages())


def test_every_executor_kind_of_the_spec_is_registered(tmp_path: Path) -> None:
    kinds = typing.get_args(typing.get_type_hints(ExecutorSpec)["kind"])
    assert sorted(EXECUTORS.names()) == sorted(kinds)
    with pytest.raises(ConfigError, match="unknown executor 'kubernetes'"):
        run_grid(spec_from_dict(grid(tmp_path / "out")), executor="kubernetes")
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_one_local_worker_runs_in_this_process(tmp_path: Path) -> None:
    local = EXECUTORS.get("local")
    assert isinstance(local(ExecutorRequest(1, None, True, None)), InProcessExecutor)
    assert isinstance(local(ExecutorRequest(2, None, True, None)), ProcessExecutor)
    spec = spec_from_dict(grid(tmp_path / "out"))
    summary = run_grid(spec, run_stage="fake_stages:sleepy")
    assert len(summary.ran) == len(plan(spec)) and not summary.failed


def test_several_worker_processes_share_a_grid(tmp_path: Path, worker_env: dict) -> None:
    spec = spec_from_dict(grid(tmp_path / "out", seeds=[0, 1]))
    summary = run_grid(spec, workers=2, run_stage="fake_stages:sleepy")
    stages = plan(spec)
    assert sorted(summary.ran) == sorted(s.id for s in stages) and not summary.failed
    starts, ends, pids = _executions(summary.output_dir)
    assert starts == ends == {s.id: 1 for s in stages}  # every stage exactly once
    assert len(pids) == 2  # both workers took part
    _assert_parents_first(summary.output_dir, stages)
    with ResultsStore(summary.store) as store:
        workers = {r.outcome["pid"] for r in store.stages()}
    assert workers == pids


def test_each_worker_gets_its_threads_and_gpu(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("xstilts.experiments.executors.available_cores", lambda: 8)
    monkeypatch.setenv("OMP_NUM_THREADS", "16")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    spec = spec_from_dict(grid(tmp_path / "out", seeds=[0, 1]))
    summary = run_grid(spec, workers=2, run_stage="fake_stages:sleepy")
    with ResultsStore(summary.store) as store:
        hardware = [json.loads(h) for (h,) in store._conn.execute("SELECT hardware FROM stages")]
    assert {h["omp_threads"] for h in hardware} == {"4"}  # 8 cores / 2 workers
    assert {h["cuda_visible_devices"] for h in hardware} == {"3", "5"}  # one GPU per worker


def test_each_worker_gets_one_gpu_per_training_process(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    spec = spec_from_dict(grid(tmp_path / "out", seeds=[0, 1], training={"processes": 2}))
    summary = run_grid(spec, workers=2, run_stage="fake_stages:sleepy")
    with ResultsStore(summary.store) as store:
        hardware = [json.loads(h) for (h,) in store._conn.execute("SELECT hardware FROM stages")]
    assert {h["cuda_visible_devices"] for h in hardware} == {"0,1", "2,3"}
    with pytest.raises(ConfigError, match=r"each worker takes 2 \(training.processes\); use --workers 2"):
        run_grid(spec_from_dict(grid(tmp_path / "out2", training={"processes": 2})), workers=3, run_stage="fake_stages:sleepy")


def test_more_workers_than_gpus_is_refused(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0")
    spec = spec_from_dict(grid(tmp_path / "out"))
    with pytest.raises(ConfigError, match="only 1 GPU"):
        run_grid(spec, workers=2, run_stage="fake_stages:sleepy")


def test_a_killed_worker_is_replaced_and_every_stage_completes_once(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_INTERMEDIATE_SECONDS", "30")  # long enough to be killed in the middle
    spec = spec_from_dict(grid(tmp_path / "out", seeds=[0, 1]))
    root, stages = prepare(spec)
    spec_file = root / "spec.json"
    atomic_write_json(spec_file, to_dict(spec))
    options = WorkerOptions.from_spec(spec, run_started=time.time())
    command = worker_command(spec_file, root, "fake_stages:sleepy", options, label="A")
    first = subprocess.Popen(command, env=dict(os.environ))
    intermediate = {s.id for s in stages if s.kind == "intermediate"}
    deadline = time.time() + 60
    killed = None
    while killed is None and time.time() < deadline:
        started = [sid for _, event, sid, _ in fake_stages.read_log(root) if event == "start" and sid in intermediate]
        if started:
            killed = started[0]
            first.send_signal(signal.SIGKILL)
            first.wait()
        time.sleep(0.05)
    assert killed is not None, "worker A never reached an intermediate stage"
    monkeypatch.setenv("FAKE_INTERMEDIATE_SECONDS", "0.2")
    second = subprocess.run(worker_command(spec_file, root, "fake_stages:sleepy", WorkerOptions.from_spec(spec), label="B"), env=dict(os.environ), timeout=120)
    assert second.returncode == 0
    assert _all_done(root / STORE_NAME)
    starts, ends, _ = _executions(root)
    assert ends == {s.id: 1 for s in stages}  # every stage ran to completion exactly once
    assert starts[killed] == 2 and all(starts[s.id] == 1 for s in stages if s.id != killed)
    with ResultsStore(root / STORE_NAME) as store:
        assert [a["status"] for a in store.attempts(killed)] == ["lost", "done"]
    _assert_parents_first(root, stages)


def test_submitit_local_executor_runs_the_grid(tmp_path: Path, worker_env: dict) -> None:
    pytest.importorskip("submitit")
    spec = spec_from_dict(grid(tmp_path / "out", executor={**grid(tmp_path)["executor"], "slurm": {"array_parallelism": 3}}))
    summary = run_grid(spec, executor="submitit-local", run_stage="fake_stages:sleepy")
    stages = plan(spec)
    assert sorted(summary.ran) == sorted(s.id for s in stages) and not summary.failed
    starts, ends, pids = _executions(summary.output_dir)
    assert starts == ends == {s.id: 1 for s in stages}
    assert len(pids) == len(stages)  # one job (process) per stage
    _assert_parents_first(summary.output_dir, stages)
    with ResultsStore(summary.store) as store:
        assert {r.worker.split(":")[0] for r in store.stages()} == {"local"}
    assert (tmp_path / "out" / "slurm" / "intermediate").is_dir()


@pytest.mark.slow
def test_submitit_requeues_a_timed_out_job_and_the_stage_resumes(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("submitit")
    # A 16 s limit, signalled 4 s before; the stage needs 18 s. Each attempt also spends its start-up
    # (1-5 s on a busy machine) inside the limit, so the stage takes 2 or 3 attempts, within
    # submitit's 3 requeues after a timeout. A 4 s limit left no progress per attempt under load.
    monkeypatch.setenv("FAKE_STEPS", "36")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.5")
    resources = {"evaluate": {"hours": 16 / 3600}}
    data = grid(tmp_path / "out", intermediate=["none"], targets=["syn-tatoeba"])
    data["executor"] = {**data["executor"], "resources": resources}
    spec = spec_from_dict(data)
    summary = run_grid(spec, executor="submitit-local", run_stage="fake_stages:resumable")
    (stage,) = plan(spec)
    assert summary.ran == [stage.id]
    with ResultsStore(summary.store) as store:
        row = store.stage(stage.id)
        statuses = [a["status"] for a in store.attempts(stage.id)]
    assert row.status == "done" and row.outcome["resumed_from"] > 0  # the requeued job resumed
    assert statuses[0] == "preempted" and statuses[-1] == "done"
    starts, ends, _ = _executions(summary.output_dir)
    assert starts[stage.id] >= 2 and ends[stage.id] == 1


def test_slurm_job_parameters_follow_the_spec(tmp_path: Path) -> None:
    from xstilts.experiments.executors import job_parameters

    data = grid(tmp_path / "out")
    data["executor"] = {
        "resources": {"intermediate": {"gpus": 2, "cpus": 16, "memory_gb": 128, "hours": 12}},
        "slurm": {"partition": "gpu", "account": "lab", "array_parallelism": 8, "setup": ["module load cuda"], "additional": {"mail-type": "FAIL"}},
    }
    params = job_parameters(spec_from_dict(data), "intermediate", "slurm", "1234")
    assert params["gpus_per_node"] == 2 and params["cpus_per_task"] == 16 and params["mem_gb"] == 128 and params["timeout_min"] == 720
    assert params["slurm_partition"] == "gpu" and params["slurm_account"] == "lab" and params["slurm_array_parallelism"] == 8
    assert params["slurm_additional_parameters"] == {"mail-type": "FAIL", "dependency": "afterany:1234"}
    assert params["slurm_setup"] == ["module load cuda"]
    evaluate = job_parameters(spec_from_dict(data), "evaluate", "slurm", None)
    assert evaluate["mem_gb"] == 32 and "dependency" not in evaluate["slurm_additional_parameters"]


# -- Ray, through a stand-in module ----------------------------------------------------------------
class _Ref:
    def __init__(self, future: Future) -> None:
        self.future = future


def _fake_ray(calls: list[dict]) -> types.ModuleType:
    """The part of Ray's API the executor uses: tasks run in threads once their argument refs resolve."""
    ray = types.ModuleType("ray")
    pool = ThreadPoolExecutor(max_workers=3)
    state = {"initialized": False}

    def remote(fn):
        class Remote:
            def options(self, **opts):
                class Bound:
                    def remote(self, *args):
                        calls.append({"options": opts, "stage": args[5]})

                        def run():
                            resolved = [a.future.result() if isinstance(a, _Ref) else a for a in args]
                            return fn(*resolved)

                        return _Ref(pool.submit(run))

                return Bound()

        return Remote()

    def wait(refs, num_returns=1):
        while True:
            done = [r for r in refs if r.future.done()]
            if done:
                return done[:num_returns], [r for r in refs if r not in done[:num_returns]]
            time.sleep(0.01)

    ray.remote = remote
    ray.wait = wait
    ray.get = lambda ref: ref.future.result()
    ray.is_initialized = lambda: state["initialized"]
    ray.init = lambda **kw: state.update(initialized=True)
    return ray


def test_ray_executor_with_a_stand_in_ray(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict] = []
    monkeypatch.setitem(sys.modules, "ray", _fake_ray(calls))
    data = grid(tmp_path / "out", seeds=[0, 1])
    data["executor"] = {**data["executor"], "resources": {"intermediate": {"gpus": 2, "cpus": 4}, "evaluate": {"gpus": 0, "cpus": 2}}}
    spec = spec_from_dict(data)
    summary = run_grid(spec, executor="ray", run_stage=fake_stages.sleepy)
    stages = plan(spec)
    assert sorted(summary.ran) == sorted(s.id for s in stages) and not summary.failed
    starts, ends, _ = _executions(summary.output_dir)
    assert starts == ends == {s.id: 1 for s in stages}
    _assert_parents_first(summary.output_dir, stages)
    kinds = {s.id: s.kind for s in stages}
    for call in calls:
        expected = {"intermediate": (2, 4), "target": (1, 8), "evaluate": (0, 2)}[kinds[call["stage"]]]
        assert (call["options"]["num_gpus"], call["options"]["num_cpus"]) == expected
    again = run_grid(spec, executor="ray", run_stage=fake_stages.sleepy)
    assert again.ran == [] and len(again.reused) == len(stages) and len(calls) == len(stages)  # nothing resubmitted


def test_ray_missing_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    spec = spec_from_dict(grid(tmp_path / "out"))
    with pytest.raises(XStiltsError, match=r"pip install 'xstilts\[ray\]'"):
        run_grid(spec, executor="ray", run_stage=fake_stages.sleepy)


@pytest.mark.parametrize("sigint_disposition", ["handled", "ignored"])
def test_interrupting_a_pool_gives_stages_back(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch, sigint_disposition: str) -> None:
    """`ignored`: the pool and its workers were started with SIGINT ignored (a script's
    `xstilts run ... &`), and the pool is interrupted by another signal its caller handles."""
    monkeypatch.setenv("FAKE_STAGE_SECONDS", "30")
    spec = spec_from_dict(grid(tmp_path / "out"))
    root, stages = prepare(spec)
    options = WorkerOptions.from_spec(spec, run_started=time.time())
    interrupt = signal.SIGINT if sigint_disposition == "handled" else signal.SIGUSR2

    def interrupt_when_running() -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            if len([1 for _, e, _, _ in fake_stages.read_log(root) if e == "start"]) >= 2:
                os.kill(os.getpid(), interrupt)
                return
            time.sleep(0.05)

    previous = signal.signal(signal.SIGUSR2, signal.default_int_handler)
    try:
        threading.Thread(target=interrupt_when_running, daemon=True).start()
        with sigint(sigint_disposition), pytest.raises(KeyboardInterrupt):
            ProcessExecutor(2, "fake_stages:sleepy").run(spec, root, stages, options)
    finally:
        signal.signal(signal.SIGUSR2, previous)
    with ResultsStore(root / STORE_NAME) as store:
        rows = store.stages()
        assert all(r.status == "pending" for r in rows)
        assert sorted(a["status"] for a in store.attempts()) == ["interrupted", "interrupted"]


def test_slurm_submission_with_a_stand_in_sbatch(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Slurm here: a stand-in `sbatch` keeps the scripts submitit writes. One job array per
    stage kind, each waiting for the previous one, with that kind's resources."""
    pytest.importorskip("submitit")
    bin_dir, scripts = tmp_path / "bin", tmp_path / "scripts"
    bin_dir.mkdir()
    scripts.mkdir()
    sbatch = bin_dir / "sbatch"
    sbatch.write_text(f'#!/bin/sh\nn=$(ls {scripts} | wc -l)\ncp "$1" {scripts}/$n.sh\necho "Submitted batch job 7$n"\n')
    sbatch.chmod(0o755)
    srun = bin_dir / "srun"  # submitit only checks that it exists
    srun.write_text("#!/bin/sh\nexit 1\n")
    srun.chmod(0o755)
    sinfo = bin_dir / "sinfo"  # the executor checks the partition before submitting
    sinfo.write_text("#!/bin/sh\necho gpu\necho cpu\n")
    sinfo.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    data = grid(tmp_path / "out", seeds=[0, 1])
    data["executor"] = {
        **data["executor"], "slurm": {"partition": "gpu", "array_parallelism": 2, "setup": ["module load cuda"]},
        "resources": {"intermediate": {"gpus": 2, "hours": 10}},
    }
    spec = spec_from_dict(data)
    summary = run_grid(spec, executor="slurm", wait=False, run_stage="fake_stages:sleepy")
    assert summary.ran == [] and len(summary.waiting) == len(plan(spec))  # submitted, not run
    texts = [(scripts / f"{n}.sh").read_text() for n in range(3)]
    counts = {k: sum(1 for s in plan(spec) if s.kind == k) for k in ("intermediate", "target", "evaluate")}
    for n, (kind, text) in enumerate(zip(counts, texts)):
        assert f"#SBATCH --job-name=xstilts-grid-{kind}" in text
        assert f"#SBATCH --array=0-{counts[kind] - 1}%2" in text and "#SBATCH --partition=gpu" in text
        assert ("#SBATCH --dependency=afterany:7" + str(n - 1)) in text if n else "--dependency" not in text
        assert "module load cuda" in text
    assert "#SBATCH --gpus-per-node=2" in texts[0] and "#SBATCH --time=600" in texts[0]
    assert "#SBATCH --gpus-per-node=1" in texts[2] and "#SBATCH --mem=32GB" in texts[2]


@pytest.mark.slow
def test_ray_executor_on_a_real_local_ray(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    ray = pytest.importorskip("ray", reason="ray is an optional extra: pip install 'xstilts[ray]'")
    data = grid(tmp_path / "out")
    data["executor"] = {**data["executor"], "resources": {kind: {"gpus": 0, "cpus": 1, "memory_gb": 1} for kind in ("intermediate", "target", "evaluate")}}
    spec = spec_from_dict(data)
    env = {k: worker_env[k] for k in ("PYTHONPATH", "XSTILTS_CACHE", "OMP_NUM_THREADS", "FAKE_STAGE_SECONDS")}
    ray.init(num_cpus=2, include_dashboard=False, runtime_env={"env_vars": env})
    try:
        summary = run_grid(spec, executor="ray", run_stage=fake_stages.sleepy)
    finally:
        ray.shutdown()
    stages = plan(spec)
    assert sorted(summary.ran) == sorted(s.id for s in stages) and not summary.failed
    starts, ends, _ = _executions(summary.output_dir)
    assert starts == ends == {s.id: 1 for s in stages}
    _assert_parents_first(summary.output_dir, stages)
