"""The results store: migrations, leases, and the rule that a finished stage is never redone."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from xstilts.errors import XStiltsError
from xstilts.experiments.leases import process_start
from xstilts.experiments.plan import plan
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import _V1, _V2, SCHEMA_VERSION, ResultsStore

from experiment_helpers import grid


def _v1_database(path: Path) -> None:
    """A store as schema version 1 wrote it, with one finished evaluate stage and its scores."""
    c = sqlite3.connect(path)
    c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    for statement in _V1:
        c.execute(statement)
    c.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    c.execute(
        "INSERT INTO stages (id, kind, parent, description, status, attempts, started, finished, provenance, outcome) "
        "VALUES ('s1', 'evaluate', NULL, ?, 'done', 1, 1.0, 2.0, '{}', ?)",
        (json.dumps({"id": "s1", "kind": "evaluate"}), json.dumps({"family": "encoder"})),
    )
    c.execute("INSERT INTO cells VALUES ('old', 's1', 'evaluate', 'm', 'synthetic:encoder', 'none', 'syn-para', 0)")
    c.execute("INSERT INTO scores VALUES ('s1', 'syn-para', 'en', 'validation', 'accuracy', 71.5, 1, 300, 33.3)")
    c.execute("INSERT INTO scores VALUES ('s1', 'syn-para', 'clo', 'validation', 'accuracy', 60.0, 1, 300, 33.3)")
    c.commit()
    c.close()


def test_upgrading_a_v1_database_keeps_its_results(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    _v1_database(path)
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        frame = store.scores_frame("old")
        assert sorted(frame["value"]) == [60.0, 71.5] and set(frame["family"]) == {"encoder"}
        assert store.stage("s1").status == "done"
        # the new key admits a second split of the same metric and language
        with store.transaction() as c:
            c.execute("INSERT INTO scores VALUES ('s1', 'syn-para', 'en', 'test', 'accuracy', 70.0, 1, 300, 33.3)")
        assert len(store.scores_frame("old")) == 3
        assert store.attempts() == [] and store.spec_records() == []
    with ResultsStore(path) as again:  # reopening does not migrate twice
        assert again.schema_version() == SCHEMA_VERSION


def test_a_newer_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    ResultsStore(path).close()
    c = sqlite3.connect(path)
    c.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    c.commit()
    c.close()
    with pytest.raises(XStiltsError, match="newer xstilts"):
        ResultsStore(path)


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.write_text("hello, not sqlite " * 100)
    with pytest.raises(XStiltsError, match=r"not an xstilts results store \(not an SQLite database\)"):
        ResultsStore(path)


def test_journal_mode_is_chosen_at_creation(tmp_path: Path) -> None:
    with ResultsStore(tmp_path / "a.sqlite") as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with ResultsStore(tmp_path / "b.sqlite", journal_mode="delete") as store:
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    with ResultsStore(tmp_path / "b.sqlite") as store:  # an existing store keeps its mode
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


@pytest.fixture
def store(tmp_path: Path) -> ResultsStore:
    spec = spec_from_dict(grid(tmp_path / "out"))
    s = ResultsStore(tmp_path / "results.sqlite")
    s.register(spec.name, plan(spec), spec.fingerprint(), {"name": spec.name})
    yield s
    s.close()


def _first(store: ResultsStore) -> str:
    return store.stages()[0].id


def test_two_workers_never_hold_one_stage(store: ResultsStore) -> None:
    sid = _first(store)
    assert store.claim(sid, "a", lease_seconds=60)
    assert not store.claim(sid, "b", lease_seconds=60)
    assert store.heartbeat(sid, "a") and not store.heartbeat(sid, "b")
    assert not store.finish(sid, "b", {}, {})  # only the holder records a result
    assert store.finish(sid, "a", {"ok": 1}, {"spec_hash": "h", "code_version": "v", "hardware": {"host": "x"}})
    row = store.stage(sid)
    assert row.status == "done" and row.outcome == {"ok": 1} and row.seconds is not None


def test_an_expired_lease_is_retaken_and_the_lost_attempt_recorded(store: ResultsStore) -> None:
    sid = _first(store)
    assert store.claim(sid, "a", lease_seconds=60)
    with store.transaction() as c:
        c.execute("UPDATE stages SET heartbeat=? WHERE id=?", (time.time() - 120, sid))
    assert store.claim(sid, "b", lease_seconds=60)
    assert not store.heartbeat(sid, "a")  # the old holder learns it lost the stage
    attempts = store.attempts(sid)
    assert [(a["worker"], a["status"]) for a in attempts] == [("a", "lost"), ("b", "running")]
    assert store.stage(sid).attempts == 2


def _held_by(store: ResultsStore, sid: str, pid: int, started: str | None, host: str | None = None) -> None:
    """`sid` claimed by worker 'gone', then its lease pointed at process `pid` (of this machine unless `host`)."""
    assert store.claim(sid, "gone", lease_seconds=600)
    with store.transaction() as c:
        c.execute("UPDATE stages SET lease_pid=?, lease_started=?, lease_host=COALESCE(?, lease_host) WHERE id=?", (pid, started, host, sid))


def _child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_a_stage_held_by_a_dead_process_of_this_machine_is_taken_back_at_once(store: ResultsStore) -> None:
    sid = _first(store)
    child = _child()
    _held_by(store, sid, child.pid, process_start(child.pid))
    assert store.take_back_dead() == [] and not store.claim(sid, "b", lease_seconds=600)  # alive: its lease holds
    child.kill()
    deadline = time.monotonic() + 30
    while process_start(child.pid) is not None and time.monotonic() < deadline:  # SIGKILL lands asynchronously
        time.sleep(0.01)
    (gone,) = store.take_back_dead()  # killed, not yet reaped (a zombie): dead all the same
    assert gone[0] == sid and gone[1] == "gone" and gone[2].pid == child.pid
    child.wait()
    assert store.claim(sid, "b", lease_seconds=600)  # no waiting for the 600 s lease
    assert [(a["worker"], a["status"]) for a in store.attempts(sid)] == [("gone", "lost"), ("b", "running")]
    assert store.take_back_dead() == []  # this process holds it now, and lives


def test_a_reused_pid_does_not_keep_a_dead_workers_lease(store: ResultsStore) -> None:
    sid = _first(store)
    child = _child()
    try:
        _held_by(store, sid, child.pid, "proc:1")  # the PID now names a process started later
        assert [g[0] for g in store.take_back_dead()] == [sid]
    finally:
        child.kill()
        child.wait()


def test_leases_of_other_machines_and_live_processes_are_left_to_expire(store: ResultsStore) -> None:
    first, second = store.stages()[0].id, store.stages()[1].id
    _held_by(store, first, 2**22 + 12345, "proc:1", host="another-host")  # no such PID here, but not our machine
    assert store.claim(second, "me", lease_seconds=600)  # this very process: alive
    assert store.take_back_dead() == []
    assert not store.claim(first, "b", lease_seconds=600) and not store.claim(second, "b", lease_seconds=600)
    assert store.holders()[first][:2] == ("gone", "another-host")


def test_a_requeued_job_takes_its_own_stage_back(store: ResultsStore) -> None:
    sid = _first(store)
    assert store.claim(sid, "slurm:123_4", lease_seconds=600)
    assert store.claim(sid, "slurm:123_4", lease_seconds=600)


def test_a_finished_stage_is_never_claimed_or_overwritten(store: ResultsStore) -> None:
    sid = _first(store)
    store.claim(sid, "a", 60)
    store.finish(sid, "a", {"first": True}, {}, [])
    assert not store.claim(sid, "b", 60)
    assert not store.finish(sid, "a", {"second": True}, {})
    assert store.stage(sid).outcome == {"first": True}


def test_failed_stages_are_retried_only_by_later_runs(store: ResultsStore) -> None:
    sid = _first(store)
    run_started = time.time()
    store.claim(sid, "a", 60)
    assert store.fail(sid, "a", "ValueError: bad\nsecond line", "traceback...")
    row = store.stage(sid)
    assert row.status == "failed" and row.error == "ValueError: bad second line"
    assert not store.claim(sid, "b", 60, retry_failed_before=run_started)  # same run: not retried
    assert store.claim(sid, "b", 60, retry_failed_before=time.time() + 1)  # a later run retries it
    assert [a["status"] for a in store.attempts(sid)] == ["failed", "running"]


def test_release_gives_a_stage_back(store: ResultsStore) -> None:
    sid = _first(store)
    store.claim(sid, "a", 600)
    assert store.release(sid, "a", "preempted")
    assert store.stage(sid).status == "pending"
    assert store.claim(sid, "b", 600)
    assert [a["status"] for a in store.attempts(sid)] == ["preempted", "running"]


def test_stages_whose_workers_keep_dying_are_abandoned(store: ResultsStore) -> None:
    sid = _first(store)
    for worker in ("a", "b", "c"):
        assert store.claim(sid, worker, lease_seconds=60)
        with store.transaction() as c:
            c.execute("UPDATE stages SET heartbeat=? WHERE id=?", (time.time() - 120, sid))
    assert store.abandon_expired(lease_seconds=60, max_attempts=3) == [sid]
    row = store.stage(sid)
    assert row.status == "failed" and "3 attempts" in row.error


def test_scores_and_done_are_written_together(store: ResultsStore) -> None:
    sid = next(r.id for r in store.stages() if r.kind == "evaluate")
    store.claim(sid, "a", 60)
    bad = [{"task": "syn-para", "language": "en", "split": "validation", "metric": "accuracy", "value": 1.0, "primary": True}]  # no n_examples
    with pytest.raises(KeyError):
        store.finish(sid, "a", {}, {}, bad)
    assert store.stage(sid).status == "running" and store.scores_frame().empty


def test_registering_again_keeps_statuses_and_records_the_spec(store: ResultsStore, tmp_path: Path) -> None:
    sid = _first(store)
    store.claim(sid, "a", 60)
    store.finish(sid, "a", {}, {})
    spec = spec_from_dict(grid(tmp_path / "out"))
    store.register(spec.name, plan(spec), spec.fingerprint(), {"name": spec.name})
    assert store.stage(sid).status == "done"
    assert [r["hash"] for r in store.spec_records()] == [spec.fingerprint()]


def test_an_edited_spec_does_not_mix_old_and_new_results(tmp_path: Path) -> None:
    from xstilts.experiments.results import load_scores
    from xstilts.experiments.runner import run_spec

    from fake_stages import sleepy

    data = grid(tmp_path / "out", targets=["syn-para"])
    run_spec(spec_from_dict(data), run_stage=sleepy)
    first = load_scores(tmp_path / "out")
    data["evaluation"] = {"languages": ["en", "clo"]}  # new evaluate stages for the same cells
    edited = spec_from_dict(data)
    summary = run_spec(edited, run_stage=sleepy)
    assert len(summary.ran) == 2 and len(summary.reused) == 3  # only the evaluations run again
    scores = load_scores(tmp_path / "out", spec="grid")
    assert set(scores["stage_id"]).isdisjoint(first["stage_id"]) and len(scores) == len(first)
    with ResultsStore(tmp_path / "out" / "results.sqlite") as store:
        assert len(store.stages()) == 7  # the old evaluate stages keep their results in the store


def test_upgrading_a_v2_database_adds_gaps_and_flags_and_keeps_its_results(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    _v1_database(path)
    c = sqlite3.connect(path)
    for statement in _V2:
        c.execute(statement)
    c.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
    c.commit()
    c.close()
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        assert sorted(store.scores_frame("old")["value"]) == [60.0, 71.5]
        assert store.gaps_frame("old").empty and store.flags_frame("old").empty


def test_a_finished_stage_records_its_missing_languages_and_flags(store: ResultsStore) -> None:
    evaluate = next(r for r in store.stages() if r.kind == "evaluate")
    target = next(r for r in store.stages() if r.kind == "target")
    score = {"task": "syn-para", "language": "en", "split": "validation", "metric": "accuracy", "value": 70.0, "primary": True, "n_examples": 9}
    gap = {"task": "syn-para", "language": "ord", "split": "validation", "reason": "ord: data file\n not found"}
    store.claim(evaluate.id, "a", 60)
    assert store.finish(evaluate.id, "a", {"missing_languages": [gap]}, {}, [score])
    flag = {"tasks": [{"task": "syn-para", "dev": 50.0, "chance": 50.0, "majority": 50.0}]}
    store.claim(target.id, "a", 60)
    assert store.finish(target.id, "a", {"flags": {"not_learned": flag}}, {})
    gaps = store.gaps_frame("grid")
    assert gaps[["stage_id", "language", "split", "reason"]].values.tolist() == [[evaluate.id, "ord", "validation", "ord: data file not found"]]
    assert gaps["model"].tolist() == ["m"] and gaps["target"].tolist() == ["syn-para"]
    flags = store.flags_frame("grid")
    assert flags[["stage_id", "kind", "flag"]].values.tolist() == [[target.id, "target", "not_learned"]]
    assert flags["detail"][0] == flag
    assert store.gaps_frame("another spec").empty



def test_results_of_a_spec_export_only_its_cells_from_a_shared_folder(tmp_path: Path) -> None:
    """Two specs run into one output folder: `results SPEC --output-dir DIR --export` writes the
    scores of that spec's grid, not of the whole store."""
    import csv

    import yaml

    from xstilts.cli import main
    from xstilts.experiments.runner import run_spec

    from fake_stages import sleepy

    first = grid(tmp_path / "out", targets=["syn-para"])
    second = grid(tmp_path / "out", targets=["syn-pos"]) | {"name": "other"}
    for data in (first, second):
        run_spec(spec_from_dict(data), run_stage=sleepy)
    path = tmp_path / "other.yaml"
    path.write_text(yaml.safe_dump(second | {"output_dir": str(tmp_path / "elsewhere")}))
    assert main(["results", str(path), "--output-dir", str(tmp_path / "out"), "--export", str(tmp_path / "other.csv")]) == 0
    rows = list(csv.DictReader((tmp_path / "other.csv").read_text(encoding="utf-8").splitlines()))
    assert rows and {r["spec"] for r in rows} == {"other"} and {r["target"] for r in rows} == {"syn-pos"}
