"""One real small grid through the worker machinery: a tiny random-weight encoder, synthetic tasks,
the real stage runner. The worker is killed (SIGKILL) while it trains the intermediate stage; a
second worker takes the stage back at once (its holder's process is gone), resumes it from its training checkpoint
and finishes the grid, every stage recorded exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from xstilts.config import to_dict
from xstilts.experiments.executors import worker_command
from xstilts.experiments.results import grid_status, load_scores
from xstilts.experiments.runner import STORE_NAME, WorkerOptions, prepare
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_json


@pytest.mark.slow
def test_a_real_grid_survives_a_killed_worker(tmp_path: Path, tiny_encoder_dir: Path, worker_env: dict) -> None:
    spec = spec_from_dict({
        "name": "real",
        "models": [{"name": "tiny", "path": str(tiny_encoder_dir)}],
        "intermediate": ["none", "syn-nli"],
        "targets": ["syn-para", "syn-tatoeba"],
        "output_dir": str(tmp_path / "out"),
        "device": "cpu",
        "training": {
            "max_restarts": 0,
            "intermediate": {"max_steps": 120, "eval_every": 40, "checkpoint_every": 5, "max_train_examples": 300, "max_dev_examples": 50},
            "target": {"max_steps": 10, "eval_every": 5, "max_train_examples": 100, "max_dev_examples": 50},
        },
        "executor": {"lease_seconds": 60, "heartbeat_seconds": 0.5, "poll_seconds": 0.3},
    })
    root, stages = prepare(spec)
    spec_file = root / "spec.json"
    atomic_write_json(spec_file, to_dict(spec))
    intermediate = next(s for s in stages if s.kind == "intermediate")
    first = subprocess.Popen(worker_command(spec_file, root, "xstilts.experiments.runner:default_run_stage", WorkerOptions.from_spec(spec), "A"), env=dict(os.environ))
    deadline = time.time() + 300
    checkpoints = root / "work" / intermediate.id
    while time.time() < deadline and first.poll() is None:
        if list(checkpoints.glob("*/LATEST")):  # the trainer has saved a resumable checkpoint
            break
        time.sleep(0.1)
    assert first.poll() is None, "worker A finished before it could be killed"
    first.send_signal(signal.SIGKILL)
    first.wait()
    with ResultsStore(root / STORE_NAME) as store:
        assert store.stage(intermediate.id).status == "running"  # held by a dead worker
    second = subprocess.run(worker_command(spec_file, root, "xstilts.experiments.runner:default_run_stage", WorkerOptions.from_spec(spec), "B"), env=dict(os.environ), timeout=600)
    assert second.returncode == 0
    status = grid_status(spec)
    assert status.counts == {"done": len(stages)}
    with ResultsStore(root / STORE_NAME) as store:
        row = store.stage(intermediate.id)
        assert [a["status"] for a in store.attempts(intermediate.id)] == ["lost", "done"]
        assert all(len(store.attempts(s.id)) == 1 for s in stages if s.id != intermediate.id)
    assert row.outcome["resumed_from"] is not None and row.outcome["resumed_from"] > 0  # resumed, not restarted
    scores = load_scores(spec, primary_only=True)
    assert set(scores["condition"]) == {"none", "syn-nli"} and set(scores["target"]) == {"syn-para", "syn-tatoeba"}
    assert scores["value"].between(0, 100).all()
