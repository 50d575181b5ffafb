"""The slurm executor against a real single-node Slurm cluster with accounting (the slurm_cluster
fixture): grids through sbatch job arrays, each stage kind's resources as Slurm recorded them,
a job killed mid-stage noticed from its Slurm state and resubmitted to resume from its checkpoint,
two `xstilts run` commands sharing one grid, and an unknown partition refused before submission.
All in one xdist group: one worker owns the cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from xstilts.experiments.executors import run_grid
from xstilts.experiments.plan import plan
from xstilts.experiments.results import load_scores
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore

import fake_stages
from experiment_helpers import grid, write_spec

pytestmark = [pytest.mark.xdist_group("slurm"), pytest.mark.skipif(sys.platform != "linux", reason="Slurm runs on Linux")]

pytest.importorskip("submitit")

# Tiny jobs: the node has 4 CPUs and 8 GB; no GPUs.
RESOURCES = {
    "intermediate": {"gpus": 0, "cpus": 2, "memory_gb": 2, "hours": 0.5},
    "target": {"gpus": 0, "cpus": 1, "memory_gb": 1, "hours": 0.25},
    "evaluate": {"gpus": 0, "cpus": 1, "memory_gb": 1, "hours": 0.1},
}


def _slurm_grid(output: Path, **overrides: object) -> dict:
    data = grid(output, **overrides)
    data["executor"] = {**data["executor"], "kind": "slurm", "resources": RESOURCES, "slurm": {"partition": "debug", "array_parallelism": 4}}
    return data


def _sacct(cluster, *fields: str) -> list[dict[str, str]]:
    out = cluster.run("sacct", "-X", "-n", "-P", "-S", "now-2hours", f"--format={','.join(fields)}").stdout
    return [dict(zip(fields, line.split("|"))) for line in out.splitlines() if line.strip()]


def _cli(spec: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "xstilts", "run", str(spec), "--executor", "slurm", "--stage-runner", "fake_stages:sleepy", "--no-report", *extra]
    return subprocess.Popen(command, env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def test_two_runs_share_a_grid_through_slurm_each_stage_once(slurm_cluster, tmp_path: Path, worker_env: dict) -> None:
    data = _slurm_grid(tmp_path / "out", seeds=[0])
    spec_file = write_spec(tmp_path / "spec.yaml", data)
    first = _cli(spec_file)
    time.sleep(1.0)  # the second command starts while the first one's jobs are queued or running
    second = _cli(spec_file)
    outputs = [p.communicate(timeout=240)[0] for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, outputs
    stages = plan(spec_from_dict(data))
    starts, ends = {}, {}
    for _, event, stage_id, _ in fake_stages.read_log(tmp_path / "out"):
        counts = starts if event == "start" else ends
        counts[stage_id] = counts.get(stage_id, 0) + 1
    assert starts == ends == {s.id: 1 for s in stages}  # every stage ran exactly once, across both commands
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        rows = store.stages()
        assert all(r.status == "done" for r in rows)
        assert {r.worker.split(":")[0] for r in rows} == {"slurm"}  # each ran in a Slurm job
    # Each stage kind ran with its own resources, as Slurm's accounting recorded the jobs.
    jobs = _sacct(slurm_cluster, "JobName", "ReqCPUS", "ReqMem", "Timelimit", "State", "Partition")
    for kind, r in RESOURCES.items():
        mine = [j for j in jobs if j["JobName"] == f"xstilts-grid-{kind}"]
        assert mine, f"no {kind} job in sacct: {jobs}"
        minutes = round(r["hours"] * 60)
        for j in mine:
            assert j["ReqCPUS"] == str(r["cpus"]) and j["ReqMem"] == f"{r['memory_gb']}G", j
            assert j["Timelimit"] == f"00:{minutes:02d}:00" and j["Partition"] == "debug", j


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_killed_job_is_noticed_from_its_slurm_state_and_resumes(slurm_cluster, tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    """Attempt 1 is killed with SIGKILL (its process), attempt 2 with scancel; both are noticed from
    the jobs' Slurm states (the lease is 10 minutes: lease expiry cannot be what notices them),
    and attempt 3 finishes the stage from its checkpoint."""
    monkeypatch.setenv("FAKE_STEPS", "16")
    monkeypatch.setenv("FAKE_STEP_SECONDS", "0.5")
    data = _slurm_grid(tmp_path / "out", intermediate=["none"], targets=["syn-tatoeba"], name="killed")
    data["executor"].update(lease_seconds=600, heartbeat_seconds=1, max_attempts=3)
    spec = spec_from_dict(data)
    (stage,) = plan(spec)
    progress = tmp_path / "out" / "work" / stage.id / "progress"
    outcome: dict = {}
    runner = threading.Thread(target=lambda: outcome.update(summary=run_grid(spec, run_stage="fake_stages:resumable")), daemon=True)
    started = time.time()
    runner.start()

    def steps() -> int:
        try:
            return int(progress.read_text())
        except (FileNotFoundError, ValueError):
            return 0

    _wait_for(lambda: steps() >= 2, 120, "the first job's progress")
    (pid,) = {pid for _, event, _, pid in fake_stages.read_log(tmp_path / "out") if event == "start"}
    os.kill(pid, signal.SIGKILL)
    killed_at = steps()
    _wait_for(lambda: len(fake_stages.read_log(tmp_path / "out")) >= 2 and steps() >= killed_at + 2, 120, "the second job's progress")
    running = slurm_cluster.run("squeue", "-h", "-o", "%i").stdout.split()
    assert len(running) == 1, running
    slurm_cluster.run("scancel", running[0])
    noticed = time.time()
    runner.join(timeout=180)
    assert not runner.is_alive(), "the executor hung on a killed job"
    summary = outcome["summary"]
    assert summary.ran == [stage.id] and not summary.failed
    with ResultsStore(summary.store) as store:
        row = store.stage(stage.id)
        attempts = store.attempts(stage.id)
    assert [a["status"] for a in attempts] == ["lost", "lost", "done"]
    assert row.outcome["resumed_from"] >= killed_at + 2  # the third job resumed, it did not restart
    starts = [e for _, e, _, _ in fake_stages.read_log(tmp_path / "out") if e == "start"]
    assert len(starts) == 3
    jobs = [j for j in _sacct(slurm_cluster, "JobID", "JobName", "State") if j["JobName"] == "xstilts-killed-evaluate"]
    states = [j["State"].split()[0] for j in sorted(jobs, key=lambda j: int(j["JobID"].split("_")[0]))]
    assert states[:2] == ["FAILED", "CANCELLED"], jobs  # what the executor read from sacct (the third job may not be recorded yet)
    print(f"\nkilled job noticed, resubmitted and finished {time.time() - noticed:.0f}s after scancel; whole test {time.time() - started:.0f}s")


def test_an_unknown_partition_is_refused_before_submission(slurm_cluster, tmp_path: Path, worker_env: dict) -> None:
    data = _slurm_grid(tmp_path / "out")
    data["executor"]["slurm"] = {"partition": "gpu-nodes"}
    process = _cli(write_spec(tmp_path / "spec.yaml", data))
    out = process.communicate(timeout=120)[0].strip()
    assert process.returncode == 2, out
    assert out.splitlines()[-1] == "xstilts: error: executor.slurm.partition: 'gpu-nodes' is not a partition of this cluster (sinfo lists: debug)", out
    assert not (tmp_path / "out" / "slurm").exists()


def test_a_real_grid_through_slurm_scores_like_the_local_executor(slurm_cluster, tmp_path: Path, tiny_encoder_dir: Path, worker_env: dict) -> None:
    """The real stage runner (a tiny random-weight encoder, a few training steps) in Slurm jobs."""
    data = {
        "name": "real", "models": [{"name": "tiny", "path": str(tiny_encoder_dir)}], "intermediate": ["none"],
        "targets": ["syn-para"], "device": "cpu", "evaluation": {"max_examples": 40},
        "training": {"max_restarts": 0, "target": {"max_steps": 4, "eval_every": 2, "max_train_examples": 64, "max_dev_examples": 32}},
        "executor": {"lease_seconds": 60, "heartbeat_seconds": 1, "poll_seconds": 0.5, "resources": RESOURCES},
    }
    local = run_grid(spec_from_dict({**data, "output_dir": str(tmp_path / "local")}))
    slurm = run_grid(spec_from_dict({**data, "output_dir": str(tmp_path / "slurm")}), executor="slurm")
    assert sorted(slurm.ran) == sorted(local.ran) and len(local.ran) == 2 and not slurm.failed
    columns = ["stage_id", "task", "language", "metric", "value"]
    expected = load_scores(local.store).sort_values(columns[:4]).reset_index(drop=True)[columns]
    got = load_scores(slurm.store).sort_values(columns[:4]).reset_index(drop=True)[columns]
    assert len(expected) > 0 and got.equals(expected)
    with ResultsStore(slurm.store) as store:
        assert {r.worker.split(":")[0] for r in store.stages()} == {"slurm"}
