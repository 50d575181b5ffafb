"""Bad cluster input for the slurm executor: one line, exit 2, nothing submitted. The unknown
partition is checked against a real cluster in test_slurm_cluster.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import grid, write_spec

from xstilts.cli import main


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
