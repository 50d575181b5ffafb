"""One worker in this process, with fake stage runners: reuse, failures, interrupts, lost leases,
waiting for parents held elsewhere, provenance; and the results command and loader."""

from __future__ import annotations

import ctypes
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from xstilts.cli import main
from xstilts.experiments.leases import process_start
from xstilts.experiments.plan import plan
from xstilts.experiments.results import grid_status, load_scores
from xstilts.experiments.runner import STORE_NAME, WaitingLines, WorkerOptions, prepare, run_spec, work
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore

import fake_stages
from experiment_helpers import SRC, grid, sigint, write_spec


@pytest.fixture(autouse=True)
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STAGE_SECONDS", "0.05")


def _ends(root: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, event, stage_id, _ in fake_stages.read_log(root):
        if event == "end":
            counts[stage_id] = counts.get(stage_id, 0) + 1
    return counts


def test_a_grid_runs_once_and_is_reused(tmp_path: Path) -> None:
    spec = spec_from_dict(grid(tmp_path / "out"))
    summary = run_spec(spec, run_stage=fake_stages.sleepy)
    stages = plan(spec)
    assert sorted(summary.ran) == sorted(s.id for s in stages) and not summary.failed
    again = run_spec(spec, run_stage=fake_stages.sleepy)
    assert again.ran == [] and sorted(again.reused) == sorted(s.id for s in stages)
    assert _ends(summary.output_dir) == {s.id: 1 for s in stages}
    with ResultsStore(summary.store) as store:
        scores = store.scores_frame(spec.name)
        assert len(scores) == 2 * sum(1 for s in stages if s.kind == "evaluate")
        row = store.stage(stages[0].id)
        assert row.status == "done" and row.seconds > 0


def test_provenance_is_recorded_with_every_score(tmp_path: Path) -> None:
    spec = spec_from_dict(grid(tmp_path / "out", seeds=[3]))
    run_spec(spec, run_stage=fake_stages.sleepy)
    frame = load_scores(spec)
    assert (frame["spec_hash"] == spec.fingerprint()).all()
    assert frame["code_version"].str.startswith("0.1.0").all()
    assert (frame["seed"] == 3).all() and frame["seconds"].gt(0).all()
    assert "torch" in frame["packages"].iloc[0] and frame["hardware"].iloc[0].startswith("{")
    assert frame["worker"].notna().all()


def test_children_of_a_failed_stage_are_blocked_and_the_error_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_FAIL_TASK", "syn-para")
    spec = spec_from_dict(grid(tmp_path / "out"))
    with pytest.raises(ValueError, match="simulated failure"):
        run_spec(spec, run_stage=fake_stages.failing)  # stops at the first failure
    summary = run_spec(spec, run_stage=fake_stages.failing, stop_on_error=False)
    stages = {s.id: s for s in plan(spec)}
    failed = [stages[i] for i in summary.failed]
    assert sorted((s.kind, s.condition.name, s.task) for s in failed) == [("target", "none", "syn-para"), ("target", "syn-nli", "syn-para")]
    assert sorted((stages[i].kind, stages[i].task) for i in summary.blocked) == [("evaluate", "syn-para")] * 2
    with ResultsStore(summary.store) as store:
        assert store.stage(failed[0].id).error == "ValueError: simulated failure of syn-para second line of the message"
        assert "Traceback" in store.attempts(failed[0].id)[-1]["detail"]
    status = grid_status(spec)
    assert status.counts == {"done": 3, "failed": 2, "pending": 2} and status.blocked == 2
    assert all("simulated failure" in line.detail for line in status.failed)
    # a later run retries the failed stages
    monkeypatch.delenv("FAKE_FAIL_TASK")
    retry = run_spec(spec, run_stage=fake_stages.failing)
    assert len(retry.ran) == 4 and not retry.failed and grid_status(spec).counts == {"done": 7}


def test_an_interrupt_gives_the_stage_back(tmp_path: Path) -> None:
    def interrupted(stage, ctx):
        raise KeyboardInterrupt

    spec = spec_from_dict(grid(tmp_path / "out"))
    with pytest.raises(KeyboardInterrupt):
        run_spec(spec, run_stage=interrupted)
    with ResultsStore(tmp_path / "out" / STORE_NAME) as store:
        first = plan(spec)[0].id
        assert store.stage(first).status == "pending"
        assert [a["status"] for a in store.attempts(first)] == ["interrupted"]


@pytest.mark.parametrize("sigint_disposition", ["handled", "ignored"])
def test_a_worker_that_loses_its_lease_abandons_the_stage(tmp_path: Path, sigint_disposition: str) -> None:
    """Also when SIGINT is ignored, as in a worker a script started with `xstilts run ... &`."""
    spec = spec_from_dict(grid(tmp_path / "out", targets=["syn-tatoeba"], intermediate=["none"]))
    root, stages = prepare(spec)
    (stage,) = stages

    def thief() -> None:  # another worker that took the stage over, and keeps its lease
        with ResultsStore(root / STORE_NAME) as store:
            for _ in range(30):
                store.heartbeat(stage.id, "thief")
                time.sleep(0.2)

    def stolen(stage, ctx):
        with ResultsStore(ctx.root / STORE_NAME) as store, store.transaction() as c:
            c.execute("UPDATE stages SET worker='thief' WHERE id=?", (stage.id,))
        threading.Thread(target=thief, daemon=True).start()
        time.sleep(60)  # the heartbeat (every 0.3 s) notices and interrupts this sleep
        raise AssertionError("not interrupted")

    started = time.time()
    with sigint(sigint_disposition):
        summary = work(spec, stages, root, stolen, WorkerOptions.from_spec(spec, wait=False))
    assert time.time() - started < 30  # interrupted, not slept through (generous: a busy machine is slow)
    assert summary.ran == [] and summary.waiting == [stage.id]
    with ResultsStore(root / STORE_NAME) as store:
        row = store.stage(stage.id)
        assert row.status == "running" and row.worker == "thief" and row.outcome is None


def test_a_worker_waits_for_a_parent_running_elsewhere(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A lease far longer than the wait: a busy machine must not let it expire.
    executor = {"lease_seconds": 60, "heartbeat_seconds": 0.3, "poll_seconds": 0.1}
    spec = spec_from_dict(grid(tmp_path / "out", intermediate=["syn-nli"], targets=["syn-tatoeba"], executor=executor))
    root, stages = prepare(spec)
    parent, child = stages
    with ResultsStore(root / STORE_NAME) as store:
        assert store.claim(parent.id, "elsewhere", 60)
    finished_at: list[float] = []

    def other_worker() -> None:
        with ResultsStore(root / STORE_NAME) as store:
            for _ in range(5):
                time.sleep(0.2)
                store.heartbeat(parent.id, "elsewhere")
            (root / "stages" / parent.id).mkdir(parents=True)
            (root / "stages" / parent.id / "output.json").write_text("{}")
            finished_at.append(time.time())
            store.finish(parent.id, "elsewhere", {}, {})

    thread = threading.Thread(target=other_worker)
    thread.start()
    with caplog.at_level(logging.INFO, logger="xstilts.experiments.runner"):
        summary = work(spec, stages, root, fake_stages.sleepy, WorkerOptions.from_spec(spec))
    thread.join()
    assert summary.ran == [child.id] and summary.reused == []
    (start,) = [t for t, event, sid, _ in fake_stages.read_log(root) if event == "start"]
    assert start >= finished_at[0]
    # said at once (and not again within a minute), naming the stage, its holder and the lease
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("waiting for")]
    assert f"waiting for {parent.label} ({parent.id}) held by elsewhere on {socket.gethostname()} (lease ends in" in line
    assert 55 <= int(line.rsplit("in ", 1)[1].split()[0]) <= 60


def test_a_waiting_worker_takes_the_stage_back_once_its_holder_dies(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    executor = {"lease_seconds": 600, "heartbeat_seconds": 0.3, "poll_seconds": 0.1}
    spec = spec_from_dict(grid(tmp_path / "out", intermediate=["syn-nli"], targets=["syn-tatoeba"], executor=executor))
    root, stages = prepare(spec)
    parent, child = stages
    holder = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    with ResultsStore(root / STORE_NAME) as store:
        assert store.claim(parent.id, f"{socket.gethostname()}:{holder.pid}", 600)
        with store.transaction() as c:  # as if that process had claimed it
            c.execute("UPDATE stages SET lease_pid=?, lease_started=? WHERE id=?", (holder.pid, process_start(holder.pid), parent.id))
    killer = threading.Timer(1.0, holder.kill)
    killer.start()
    started = time.time()
    try:
        with caplog.at_level(logging.INFO, logger="xstilts.experiments.runner"):
            summary = work(spec, stages, root, fake_stages.sleepy, WorkerOptions.from_spec(spec))
    finally:
        killer.cancel()
        holder.kill()
        holder.wait()
    assert summary.ran == [parent.id, child.id]
    assert time.time() - started < 30  # not the 600 s lease
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith(f"waiting for {parent.label}") and f"held by process {holder.pid} on " in m for m in messages)
    assert any(f"held by process {holder.pid} on {socket.gethostname()}, which no longer runs: taken back" in m for m in messages)


def test_waiting_lines_repeat_only_every_so_often() -> None:
    spec = spec_from_dict(grid(Path("unused"), intermediate=["none"], targets=["syn-tatoeba"]))
    (stage,) = plan(spec)
    holders = {stage.id: ("w", "h", time.time())}
    lines = WaitingLines(every=60)
    with pytest.MonkeyPatch.context() as mp:
        shown: list[str] = []
        mp.setattr("xstilts.experiments.runner.log.info", lambda fmt, *args: shown.append(fmt % args))
        lines.show([stage], holders, 90)
        lines.show([stage], holders, 90)
        assert len(shown) == 1 and shown[0].endswith("held by w on h (lease ends in 90 s)")
        lines.every = 0
        lines.show([stage], holders, 90)
        assert len(shown) == 2


GIL_THIEF = """
import sys, time
from xstilts.experiments.store import ResultsStore
path, stage_id, lease, fd = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
verdict = b"?"
try:
    time.sleep(lease + 1)
    with ResultsStore(path) as store:
        verdict = b"1" if store.claim(stage_id, "thief", lease) else b"0"
finally:
    import os
    os.write(fd, verdict)
"""


def test_a_stage_holding_the_gil_keeps_its_lease(tmp_path: Path) -> None:
    """A C call that holds the GIL longer than the lease (a checkpoint written to slow storage, say)
    does not starve the heartbeat: another worker trying to take the stage meanwhile is refused."""
    lease = 3.0
    executor = {"lease_seconds": lease, "heartbeat_seconds": 0.25, "poll_seconds": 0.1}
    spec = spec_from_dict(grid(tmp_path / "out", targets=["syn-tatoeba"], intermediate=["none"], executor=executor))
    root, stages = prepare(spec)
    verdicts: list[bytes] = []

    def holds_the_gil(stage, ctx):
        read_end, write_end = os.pipe()
        thief = subprocess.Popen(
            [sys.executable, "-c", GIL_THIEF, str(root / STORE_NAME), stage.id, str(lease), str(write_end)],
            pass_fds=(write_end,), env={**os.environ, "PYTHONPATH": str(SRC)},
        )
        os.close(write_end)
        buffer = ctypes.create_string_buffer(1)
        # libc read() through PyDLL: blocks until the thief has tried, without releasing the GIL
        assert ctypes.PyDLL(None).read(read_end, buffer, 1) == 1
        os.close(read_end)
        thief.wait(timeout=60)
        verdicts.append(buffer.raw)
        return {}, []

    summary = work(spec, stages, root, holds_the_gil, WorkerOptions.from_spec(spec, wait=False))
    assert verdicts == [b"0"], "another worker took the stage while this one held the GIL"
    assert summary.ran == [stages[0].id]


def test_results_command_shows_status_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_spec(tmp_path / "spec.yaml", grid(tmp_path / "out"))
    assert main(["results", str(path)]) == 0
    assert "not created yet" in capsys.readouterr().out
    monkeypatch.setenv("FAKE_FAIL_TASK", "syn-para")
    assert main(["run", str(path), "--stage-runner", "fake_stages:failing", "--keep-going", "--no-report"]) == 1
    assert "3 stages run, 0 reused, 2 failed, 2 blocked" in capsys.readouterr().out
    assert main(["results", str(path), "--export", str(tmp_path / "scores.csv")]) == 0
    out = capsys.readouterr().out
    assert "status: pending 2, running 0, done 3, failed 2 (2 pending behind a failed stage)" in out
    assert out.count("failed  target/m/") == 2 and "simulated failure of syn-para" in out
    assert "exported 4 score rows" in out
    csv = pd.read_csv(tmp_path / "scores.csv")
    assert set(csv["target"]) == {"syn-tatoeba"} and {"spec_hash", "code_version", "seed", "split"} <= set(csv.columns)
    assert main(["results", str(tmp_path / "out"), "--export", str(tmp_path / "scores.parquet"), "--primary"]) == 0
    assert len(pd.read_parquet(tmp_path / "scores.parquet")) == 4
    assert main(["results", str(path), "--export", str(tmp_path / "scores.xlsx")]) == 2


def test_results_names_a_dead_holder_of_this_machine_without_writing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_spec(tmp_path / "spec.yaml", grid(tmp_path / "out"))
    spec = spec_from_dict(yaml.safe_load(path.read_text()))
    root, stages = prepare(spec)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        with ResultsStore(root / STORE_NAME) as store:
            assert store.claim(stages[0].id, "gone", lease_seconds=600)
            with store.transaction() as c:
                c.execute("UPDATE stages SET lease_pid=?, lease_started=? WHERE id=?", (child.pid, process_start(child.pid), stages[0].id))
        assert main(["results", str(path)]) == 0
        assert "has died" not in capsys.readouterr().out  # alive: plainly running
    finally:
        child.kill()
        child.wait()
    files = {f: f.read_bytes() for f in root.iterdir() if f.is_file()}
    assert main(["results", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"running {stages[0].label} ({stages[0].id}): worker gone, heartbeat" in out
    assert f"(holder process {child.pid} has died; the next run takes it back)" in out
    assert {f: f.read_bytes() for f in root.iterdir() if f.is_file()} == files  # read-only: the lease is not taken back here
    with ResultsStore.open_readonly(root / STORE_NAME) as store:
        assert store.stage(stages[0].id).heartbeat > 0


def test_load_scores_accepts_a_spec_file_a_folder_or_a_store(tmp_path: Path) -> None:
    data = grid(tmp_path / "out")
    path = write_spec(tmp_path / "spec.yaml", data)
    run_spec(spec_from_dict(data), run_stage=fake_stages.sleepy)
    frames = [load_scores(p) for p in (path, tmp_path / "out", tmp_path / "out" / STORE_NAME)]
    assert all(len(f) == 8 for f in frames)
    assert {"model", "condition", "target", "language", "metric", "split", "value", "family"} <= set(frames[0].columns)


def test_run_command_with_a_stage_runner(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_spec(tmp_path / "spec.yaml", grid(tmp_path / "out"))
    assert main(["run", str(path), "--stage-runner", "fake_stages:sleepy", "--no-report"]) == 0
    assert "7 stages run, 0 reused, 0 failed, 0 blocked, 0 waiting" in capsys.readouterr().out
    assert main(["run", str(path), "--stage-runner", "nope:nothing", "--no-report"]) == 2
    assert "cannot import it" in capsys.readouterr().err


def test_spec_file_round_trip(tmp_path: Path) -> None:
    data = yaml.safe_load(write_spec(tmp_path / "s.yaml", grid(tmp_path / "out")).read_text())
    assert spec_from_dict(data).name == "grid"
