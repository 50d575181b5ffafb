"""The slurm executor without a cluster: bad cluster input gets one line and exit 2 with nothing
submitted (the unknown partition is checked against a real cluster in test_slurm_cluster.py), and
how a dead job's stage is settled in the store."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from xstilts.cli import main

from experiment_helpers import grid, write_spec


def _bin(tmp_path: Path, **scripts: str) -> Path:
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for name, body in scripts.items():
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}\n")
        path.chmod(0o755)
    return folder


def _run(spec: Path, capsys: pytest.CaptureFixture) -> tuple[int, str]:
    code = main(["run", str(spec), "--executor", "slurm", "--stage-runner", "fake_stages:sleepy", "--no-report", "--no-wait"])
    return code, capsys.readouterr().err.strip()


def test_sbatch_missing_from_path(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(_bin(tmp_path, python3="exit 1")))  # a PATH without sbatch
    code, err = _run(write_spec(tmp_path / "spec.yaml", grid(tmp_path / "out")), capsys)
    assert code == 2 and "\n" not in err
    assert err.startswith("xstilts: error: executor slurm: sbatch not found on PATH")
    assert not (tmp_path / "out" / "slurm").exists()  # nothing submitted


def test_time_limit_shorter_than_one_checkpoint_interval(tmp_path: Path, worker_env: dict, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    pytest.importorskip("submitit")
    submitted = tmp_path / "submitted"
    monkeypatch.setenv("PATH", f"{_bin(tmp_path, sbatch=f'touch {submitted}; echo Submitted batch job 1')}{os.pathsep}{os.environ['PATH']}")
    data = grid(tmp_path / "out", intermediate=["syn-nli"], targets=["syn-tatoeba"])
    data["training"] = {"intermediate": {"max_steps": 200000, "checkpoint_every": 100000}}
    data["executor"] = {**data["executor"], "resources": {"intermediate": {"hours": 0.05, "gpus": 0}}}
    code, err = _run(write_spec(tmp_path / "spec.yaml", data), capsys)
    assert code == 2 and "\n" not in err
    assert "executor.resources.intermediate.hours: a 3-minute time limit is shorter than one checkpoint interval" in err
    assert "lower training.intermediate.checkpoint_every" in err
    assert not submitted.exists()
    # the same grid with checkpoints every 100 steps fits the limit: it gets as far as sbatch
    data["training"]["intermediate"]["checkpoint_every"] = 100
    code, err = _run(write_spec(tmp_path / "spec.yaml", data), capsys)
    assert submitted.exists(), err


@pytest.mark.parametrize(
    ("slurm", "field"),
    [
        ({"gres": "gpu:a100:2"}, "executor.slurm.gres"),
        ({"additional": {"--time": "10"}}, "executor.slurm.additional.--time"),
        ({"additional": {"partition": "gpu"}}, "executor.slurm.additional.partition"),
        ({"signal_seconds": 0}, "executor.slurm.signal_seconds"),
    ],
)
def test_bad_slurm_settings_name_their_field(tmp_path: Path, capsys: pytest.CaptureFixture, slurm: dict, field: str) -> None:
    data = grid(tmp_path / "out")
    data["executor"] = {**data["executor"], "slurm": slurm}
    code = main(["plan", str(write_spec(tmp_path / "spec.yaml", data))])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and field in err, err


def test_only_crashed_slurm_attempts_count_against_max_attempts(tmp_path: Path) -> None:
    """A job requeued at its time limit gave its stage back ('preempted'); a job that died without
    a result ('lost') counts. The stage fails once the crashes reach max_attempts."""
    from xstilts.experiments.executors import settle_dead_job
    from xstilts.experiments.plan import plan
    from xstilts.experiments.spec import spec_from_dict
    from xstilts.experiments.store import ResultsStore

    spec = spec_from_dict(grid(tmp_path / "out", intermediate=["none"], targets=["syn-tatoeba"]))
    (stage,) = plan(spec)
    with ResultsStore(tmp_path / "results.sqlite") as store:
        store.register(spec.name, [stage])
        assert store.claim(stage.id, "slurm:5_0@node", 600)
        assert store.release(stage.id, "slurm:5_0@node", "preempted")  # time limit: requeued
        assert store.claim(stage.id, "slurm:5_0@node", 600)
        assert settle_dead_job(store, stage.id, "5_0", "NODE_FAIL", max_attempts=2)  # first crash: run again
        assert store.stage(stage.id).status == "pending"
        assert store.claim(stage.id, "slurm:6_0@node", 600)
        assert not settle_dead_job(store, stage.id, "7_0", "FAILED", max_attempts=2)  # not the job holding it
        assert store.stage(stage.id).status == "running"
        assert not settle_dead_job(store, stage.id, "6_0", "OUT_OF_MEMORY", max_attempts=2)  # second crash: failed
        row = store.stage(stage.id)
        assert row.status == "failed" and "slurm job 6_0 ended OUT_OF_MEMORY" in row.error and "2 attempts used" in row.error
        assert [a["status"] for a in store.attempts(stage.id)] == ["preempted", "lost", "failed"]


def test_gres_and_signal_seconds_reach_the_job_parameters(tmp_path: Path) -> None:
    from xstilts.experiments.executors import job_parameters
    from xstilts.experiments.spec import spec_from_dict

    data = grid(tmp_path / "out")
    data["executor"] = {
        "slurm": {"gres": "gpu:a100", "signal_seconds": 300},
        "resources": {"intermediate": {"gpus": 2, "hours": 2}, "evaluate": {"gpus": 0, "hours": 0.1}},
    }
    spec = spec_from_dict(data)
    intermediate = job_parameters(spec, "intermediate", "slurm", None)
    assert intermediate["slurm_gres"] == "gpu:a100:2" and "gpus_per_node" not in intermediate
    assert intermediate["timeout_min"] == 120 and intermediate["slurm_signal_delay_s"] == 300
    evaluate = job_parameters(spec, "evaluate", "slurm", None)  # no GPUs; a 6-minute limit: signalled at half of it
    assert "slurm_gres" not in evaluate and "gpus_per_node" not in evaluate and evaluate["slurm_signal_delay_s"] == 180
