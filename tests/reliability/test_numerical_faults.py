"""A NaN or infinite loss stops the stage through `xstilts run` with one line naming the step, the
task and the training features of the batch; the last checkpoint before it is kept (finite), the
stage is recorded as failed, and its children do not run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from xstilts.experiments.store import ResultsStore

from reliability_helpers import (
    Finished,
    assert_user_error,
    cli,
    stage_statuses,
    store_scores,
    tiny_spec,
    weight_digests,
    write_spec,
)

pytestmark = pytest.mark.slow


def latest_checkpoint(out: Path) -> Path:
    (pointer,) = (out / "work").glob("*/*/LATEST")
    return pointer.parent / pointer.read_text()


def assert_finite(checkpoint: Path) -> None:
    weights = load_file(str(checkpoint / "model.safetensors"))
    assert weights and all(torch.isfinite(w).all() for w in weights.values())


def test_injected_nan_names_step_and_batch_and_the_rerun_resumes(tiny_models, tmp_path, monkeypatch, tiny_grid_baseline: Finished):
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(out, tiny_models["encoder"]))
    monkeypatch.setenv("XSTILTS_FAULT", "nan:4")
    result = cli("-q", "run", spec, "--no-report", "--stage-runner", "reliability_faults:run_stage")
    line = assert_user_error(result, str(out / "work"), "loss is nan at step 4", "task syn-para", "training features [", "last good checkpoint is kept")
    checkpoint = latest_checkpoint(out)
    assert checkpoint.name == "checkpoint-0000004"
    assert_finite(checkpoint)
    statuses = stage_statuses(out)
    assert statuses == {tiny_grid_baseline.target: "failed", tiny_grid_baseline.evaluate: "pending"}
    with ResultsStore(out / "results.sqlite") as store:
        assert store.stage(tiny_grid_baseline.target).error in line

    monkeypatch.delenv("XSTILTS_FAULT")  # a transient fault: the rerun resumes from step 4
    rerun = cli("-q", "run", spec, "--no-report")
    assert rerun.code == 0, rerun.err
    with ResultsStore(out / "results.sqlite") as store:
        assert store.stage(tiny_grid_baseline.target).outcome["resumed_from"] == 4
    assert store_scores(out) == tiny_grid_baseline.scores
    assert weight_digests(out) == tiny_grid_baseline.weights


def test_a_learning_rate_that_diverges(tiny_models, tmp_path):
    """No injection: a learning rate of 1e30 makes the loss non-finite after the first update."""
    raw = tiny_spec(tmp_path / "out", tiny_models["encoder"])
    raw["training"]["target"] |= {"learning_rate": 1e30, "max_grad_norm": 1e30, "warmup_ratio": 0.0}
    result = cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report")
    line = assert_user_error(result, "loss is ", "at step ", "task syn-para", "training features [")
    step = int(line.split("at step ")[1].split()[0])
    checkpoint = latest_checkpoint(tmp_path / "out")
    assert checkpoint.name == f"checkpoint-{step:07d}"  # the checkpoint of the last step with a finite loss
    assert_finite(checkpoint)
    assert sorted(stage_statuses(tmp_path / "out").values()) == ["failed", "pending"]
