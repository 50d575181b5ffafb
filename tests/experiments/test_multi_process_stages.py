"""Training stages with `training.processes: 2` (two gloo CPU processes under torchrun), replicated
(DDP) and sharded (FSDP), through the real stage runner; the worker alone touches the store."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from xstilts.errors import ConfigError
from xstilts.experiments.results import load_scores
from xstilts.experiments.runner import STORE_NAME, run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_checkpoint
from xstilts.tasks import get_task

pytestmark = pytest.mark.xdist_group("torchrun")  # see tests/training/test_distributed.py


def _spec(tmp_path: Path, model: Path, **training: object) -> dict:
    return {
        "name": "multi",
        "models": [{"name": "tiny", "path": str(model)}],
        "intermediate": ["syn-nli"],
        "targets": ["syn-para"],
        "output_dir": str(tmp_path / "out"),
        "device": "cpu",
        "evaluation": {"max_examples": 20, "languages": ["en", "clo"]},
        "training": {
            "max_restarts": 0,
            "intermediate": {"max_steps": 6, "eval_every": 3, "batch_size": 8, "max_train_examples": 64, "max_dev_examples": 16},
            "target": {"max_steps": 4, "eval_every": 2, "batch_size": 8, "max_train_examples": 32, "max_dev_examples": 16},
            **training,
        },
    }


@pytest.mark.slow
@pytest.mark.parametrize("fsdp", [False, True], ids=["ddp", "fsdp"])
def test_a_grid_trains_its_stages_with_two_processes(tmp_path, tiny_encoder_dir, worker_env, fsdp):
    spec = spec_from_dict(_spec(tmp_path, tiny_encoder_dir, processes=2, fsdp=fsdp))
    summary = run_spec(spec, stop_on_error=False)
    ran = list(summary.ran)
    if summary.failed:  # a rank aborting (see test_distributed._scenario): rerun once, as a user would; it resumes
        with ResultsStore(Path(spec.output_dir) / STORE_NAME) as store:
            errors = [f"{row.id}: {row.error}" for row in store.stages() if row.status == "failed"]
        warnings.warn(f"a stage failed and the grid was run once more: {errors}", stacklevel=1)
        summary = run_spec(spec)
        ran += summary.ran
    assert not summary.failed and len(ran) == 3
    scores = load_scores(spec)
    assert set(scores["language"]) == {"en", "clo"}
    root = Path(spec.output_dir)
    trained = [d for d in (root / "stages").iterdir() if (d / "checkpoint" / "manifest.json").exists()]
    assert len(trained) == 2  # intermediate and target
    for folder in trained:
        model = load_checkpoint(folder / "checkpoint", BackboneOptions(), tasks={"syn-para": get_task("syn-para")})
        assert not any(type(p).__name__ == "DTensor" for p in model.parameters())
    with ResultsStore(root / STORE_NAME) as store:
        outcomes = [store.stage(d.name).outcome for d in trained]
    # Each process trains on half of the global batch of 8.
    assert all(o["processes"] == 2 and o["settings"]["batch_size"] == 4 and o["settings"]["fsdp"] is fsdp for o in outcomes)


@pytest.mark.slow
def test_a_batch_that_does_not_split_across_processes_fails_the_stage_in_one_line(tmp_path, tiny_encoder_dir, worker_env):
    data = _spec(tmp_path, tiny_encoder_dir, processes=2)
    data["training"]["intermediate"]["batch_size"] = 7
    summary = run_spec(spec_from_dict(data), stop_on_error=False)
    assert len(summary.failed) == 1
    with ResultsStore(Path(data["output_dir"]) / STORE_NAME) as store:
        failed = [row for row in store.stages() if row.status == "failed"]
    assert len(failed) == 1
    assert "batch size 7 is not divisible by 2 processes" in failed[0].error
    assert "\n" not in failed[0].error


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"training": {"processes": 0}}, "training.processes"),
        ({"training": {"fsdp": True}, "models": [{"name": "m", "path": "synthetic:encoder", "lora": {"r": 4}}]}, "models[0].lora"),
        ({"training": {"processes": 4}, "device": "cuda", "executor": {"kind": "slurm"}}, "executor.resources.intermediate.gpus"),
    ],
)
def test_bad_multi_process_settings_name_the_field(overrides, field):
    data = {"name": "bad", "models": [{"name": "m", "path": "synthetic:encoder"}], "targets": ["syn-para"]} | overrides
    with pytest.raises(ConfigError, match=field.replace("[", "\\[").replace("]", "\\]")):
        spec_from_dict(data)


def test_any_rank_that_fails_writes_the_stage_s_error(tmp_path, monkeypatch):
    """torchrun stops the other ranks as soon as one exits: when a rank other than the main one
    fails first, the main one may be stopped before it could write the error."""
    from xstilts.experiments.distributed import main

    monkeypatch.setenv("RANK", "1")
    spec_file, error = tmp_path / "spec.json", tmp_path / "launch" / "error.txt"
    spec_file.write_text(json.dumps(_spec(tmp_path, tmp_path / "model", processes=0)))
    arguments = ["--spec-json", str(spec_file), "--root", str(tmp_path), "--stage", "x", "--outcome", str(tmp_path / "outcome.json")]
    assert main([*arguments, "--error", str(error)]) == 1
    assert "training.processes" in error.read_text() and "\n" not in error.read_text()
    error.write_text("the first rank's error")
    assert main([*arguments, "--error", str(error)]) == 1
    assert error.read_text() == "the first rank's error"  # the first to fail is kept


def test_a_finished_process_closes_its_process_group():
    import torch.distributed as dist

    from xstilts.experiments.distributed import close_process_group

    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    assert dist.is_initialized()
    close_process_group()
    assert not dist.is_initialized()
    close_process_group()  # nothing to close: no error


def test_a_training_process_ends_without_the_interpreters_teardown(tmp_path):
    """The rank's exit code and its last output survive; the teardown, where a live gloo group can
    abort a finished rank, does not run (an atexit hook stands in for it)."""
    import os
    import subprocess
    import sys

    marker = tmp_path / "teardown-ran"
    script = (
        "import atexit, logging, pathlib, sys\n"
        f"atexit.register(lambda: pathlib.Path({str(marker)!r}).write_text('ran'))\n"
        "logging.basicConfig(stream=sys.stderr, level=logging.INFO)\n"
        "logging.getLogger('rank').info('logged before the end')\n"
        "sys.stdout.write('printed without a newline')\n"
        "from xstilts.experiments.distributed import end_process\n"
        "end_process(5)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 5
    assert out.stdout == "printed without a newline"  # a pipe buffers it: only the flush saves it
    assert "logged before the end" in out.stderr
    assert not marker.exists()
