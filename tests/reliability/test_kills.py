"""SIGKILL at chosen points of a real (tiny) grid, then a plain rerun: the results equal those of an
uninterrupted run, bit for bit, and nothing a killed writer left half-done is read as complete.

The grid: a tiny random-weight encoder, no intermediate task, target syn-para (6 steps, a
resumable checkpoint after every step), zero-shot evaluation on the four synthetic languages.
The killed run is `xstilts run --stage-runner reliability_faults:run_stage` in a subprocess with
the fault armed (see reliability_faults.py); the rerun is a plain `xstilts run`.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from xstilts.experiments.store import ResultsStore

from reliability_helpers import (
    Finished,
    cli,
    cli_subprocess,
    stage_statuses,
    store_scores,
    temporaries,
    tiny_spec,
    weight_digests,
    write_spec,
)

pytestmark = pytest.mark.slow

KILLED = -signal.SIGKILL


@pytest.fixture
def baseline(tiny_grid_baseline: Finished) -> Finished:
    return tiny_grid_baseline


def killed_then_rerun(tmp_path: Path, model: Path, fault: str, only: str | None = None, check_killed=None) -> Path:
    """Run with `fault` armed (the process must die of SIGKILL), inspect, then rerun to the end.
    The rerun does not wait for the dead worker's lease (60 s, see FAST_EXECUTOR) to end: it sees
    that the process holding the stage is gone and takes the stage back at once."""
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(out, model))
    env = {"XSTILTS_FAULT": fault} | ({"XSTILTS_FAULT_STAGE": only} if only else {})
    first = cli_subprocess("-q", "run", spec, "--no-report", "--stage-runner", "reliability_faults:run_stage", **env)
    assert first.code == KILLED, f"the fault {fault} did not kill the run (exit {first.code}):\n{first.err[-3000:]}"
    if check_killed is not None:
        check_killed(out)
    held = [sid for sid, status in stage_statuses(out).items() if status == "running"]
    started = time.time()
    rerun = cli("-q", "run", spec, "--no-report")
    assert rerun.code == 0, rerun.err
    assert set(stage_statuses(out).values()) == {"done"}
    with ResultsStore(out / "results.sqlite") as store:
        for sid in held:
            attempts = store.attempts(sid)
            assert [a["status"] for a in attempts] == ["lost", "done"]
            claimed_after = attempts[1]["started"] - started
            print(f"{fault}: the rerun claimed the killed worker's stage {claimed_after:.2f} s after it started")
            assert claimed_after < 30, f"the rerun waited {claimed_after:.0f} s for a dead worker's stage"
    return out


def assert_same_results(out: Path, baseline: Finished) -> None:
    assert store_scores(out) == baseline.scores
    assert weight_digests(out) == baseline.weights
    assert temporaries(out) == [], "a killed writer's temporaries were left behind"


def outcome(out: Path, stage_id: str) -> dict:
    with ResultsStore(out / "results.sqlite") as store:
        return store.stage(stage_id).outcome


def test_killed_mid_training_resumes_from_its_last_checkpoint(tiny_models, tmp_path, baseline):
    work = None

    def check(out: Path) -> None:
        nonlocal work
        (work,) = (out / "work" / baseline.target).glob("*/LATEST")
        assert work.read_text() == "checkpoint-0000004"
        assert stage_statuses(out)[baseline.target] == "running"  # held by the dead worker until a rerun sees it is gone

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], "step:4", check_killed=check)
    assert outcome(out, baseline.target)["resumed_from"] == 4
    assert_same_results(out, baseline)


def test_killed_while_writing_a_training_checkpoint(tiny_models, tmp_path, baseline):
    def check(out: Path) -> None:
        (work,) = (out / "work" / baseline.target).glob("*/LATEST")
        assert work.read_text() == "checkpoint-0000002"  # the torn checkpoint-0000003 is not pointed at
        assert [p.name.split(".tmp-")[0] for p in temporaries(work.parent)] == ["checkpoint-0000003"]

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], "rename:*/checkpoint-0000003", check_killed=check)
    assert outcome(out, baseline.target)["resumed_from"] == 2
    assert_same_results(out, baseline)


def test_killed_while_moving_the_latest_pointer(tiny_models, tmp_path, baseline):
    def check(out: Path) -> None:
        (work,) = (out / "work" / baseline.target).glob("*-seed0")
        assert not (work / "LATEST").exists()  # the first pointer never landed: nothing to resume

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], "rename:*/LATEST", check_killed=check)
    assert outcome(out, baseline.target)["resumed_from"] is None
    assert_same_results(out, baseline)


def test_killed_while_publishing_the_stage_checkpoint(tiny_models, tmp_path, baseline):
    def check(out: Path) -> None:
        stage_dir = out / "stages" / baseline.target
        assert not (stage_dir / "checkpoint").exists()
        assert len(temporaries(stage_dir)) == 1

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], f"rename:*/{baseline.target}/checkpoint", check_killed=check)
    assert outcome(out, baseline.target)["resumed_from"] == 6  # every step was done: only the copy is redone
    assert_same_results(out, baseline)


def test_killed_during_evaluation(tiny_models, tmp_path, baseline):
    def check(out: Path) -> None:
        assert not (out / "stages" / baseline.evaluate).exists()  # predictions appear all at once or not at all
        assert [s for s in store_scores(out)] == []

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], "evaluate:2", only="evaluate", check_killed=check)
    assert_same_results(out, baseline)


def test_killed_inside_the_results_store_transaction(tiny_models, tmp_path, baseline):
    def check(out: Path) -> None:
        statuses = stage_statuses(out)
        assert statuses[baseline.target] == "done" and statuses[baseline.evaluate] == "running"
        assert store_scores(out) == []  # the inserted score rows died with the transaction
        assert (out / "stages" / baseline.evaluate / "scores.json").exists()

    out = killed_then_rerun(tmp_path, tiny_models["encoder"], "store-finish", only="evaluate", check_killed=check)
    assert_same_results(out, baseline)

