"""Torn or damaged files in a grid's folders (training checkpoints, pointers, the feature cache,
prediction files, the results store) are detected, never used: the run either fails with a
one-line error naming the file (exit code 2) or rebuilds what was damaged and ends with exactly
the results of an undamaged run.

The damaged training folders come from `tiny_spec`'s grid interrupted at step 4 (a resumable
checkpoint after every step), in this process.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore

from reliability_faults import armed
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


def interrupted(tmp_path: Path, model: Path) -> tuple[Path, Path]:
    """The grid stopped during step 4 of its target stage: (spec file, the trainer's work folder)."""
    raw = tiny_spec(tmp_path / "out", model)
    with armed("interrupt:4"), pytest.raises(KeyboardInterrupt):
        run_spec(spec_from_dict(raw))
    (pointer,) = (tmp_path / "out" / "work").glob("*/*/LATEST")
    assert pointer.read_text() == "checkpoint-0000004"
    return write_spec(tmp_path / "spec.yaml", raw), pointer.parent


def rerun(spec: Path):
    return cli("-q", "run", spec, "--no-report")


def assert_baseline(out: Path, baseline: Finished) -> None:
    assert set(stage_statuses(out).values()) == {"done"}
    assert store_scores(out) == baseline.scores
    assert weight_digests(out) == baseline.weights


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_checkpoint_weights_are_refused(tiny_models, tmp_path):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    weights = work / "checkpoint-0000004" / "model.safetensors"
    truncate(weights)
    assert_user_error(rerun(spec), str(weights), "checksum mismatch")


def test_a_pointer_to_a_missing_checkpoint_restarts_training(tiny_models, tmp_path, tiny_grid_baseline):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    (work / "LATEST").write_text("checkpoint-0009999")
    result = rerun(spec)
    assert result.code == 0, result.err
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        assert store.stage(tiny_grid_baseline.target).outcome["resumed_from"] is None
    assert_baseline(tmp_path / "out", tiny_grid_baseline)


def test_a_garbled_pointer_is_detected(tiny_models, tmp_path):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    (work / "LATEST").write_bytes(b"\xff\xfe\x00garbage")
    result = rerun(spec)
    assert result.code == 0 or "LATEST" in result.err_lines()[-1]
    assert "Traceback" not in result.err


def test_truncated_training_state_is_refused(tiny_models, tmp_path):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    state = work / "checkpoint-0000004" / "state.json"
    truncate(state)
    assert_user_error(rerun(spec), str(state), "not valid JSON")


def test_corrupt_scheduler_state_is_refused(tiny_models, tmp_path):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    scheduler = work / "checkpoint-0000004" / "scheduler.json"
    scheduler.write_text("{")
    assert_user_error(rerun(spec), str(scheduler), "checksum mismatch")


@pytest.mark.parametrize("name", ["optimizer.pt", "rng.safetensors"])
def test_truncated_optimizer_or_rng_state_is_refused_in_one_line(tiny_models, tmp_path, name):
    spec, work = interrupted(tmp_path, tiny_models["encoder"])
    truncate(work / "checkpoint-0000004" / name)
    assert_user_error(rerun(spec), name)


def test_damaged_feature_cache_is_rebuilt_not_read(tiny_models, tmp_path, monkeypatch, session_cache, tiny_grid_baseline, caplog):
    cache = tmp_path / "cache"
    shutil.copytree(session_cache, cache)  # holds this grid's features from the baseline run
    monkeypatch.setenv("XSTILTS_CACHE", str(cache))
    arrows = sorted((cache / "features").rglob("*.arrow"))
    assert arrows
    for path in arrows:
        truncate(path)
    out = tmp_path / "out"
    with caplog.at_level(logging.WARNING, logger="xstilts.models.features"):
        summary = run_spec(spec_from_dict(tiny_spec(out, tiny_models["encoder"])))
    assert not summary.failed
    assert any("is damaged" in r.getMessage() for r in caplog.records)
    assert_baseline(out, tiny_grid_baseline)
    again = [p for p in (cache / "features").rglob("*.arrow")]
    assert again and all(p.stat().st_size > 0 for p in again)


def test_half_written_prediction_file_stops_the_report(tmp_path, tiny_grid_baseline):
    out = tmp_path / "out"
    shutil.copytree(tiny_grid_baseline.out, out, ignore=shutil.ignore_patterns("work"))
    predictions = out / "stages" / tiny_grid_baseline.evaluate / "predictions" / "clo.jsonl"
    predictions.write_text(predictions.read_text()[:-25])
    assert_user_error(cli("report", out), str(predictions), "not valid JSON")


def test_truncated_results_store_is_refused(tmp_path, tiny_grid_baseline):
    out = tmp_path / "out"
    out.mkdir()
    store = out / "results.sqlite"
    shutil.copy(tiny_grid_baseline.out / "results.sqlite", store)
    truncate(store)
    assert_user_error(cli("results", out), str(store), "not a readable xstilts results store")
