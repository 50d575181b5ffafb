"""Several workers on one grid and one results store: no stage runs in two live workers at once or
is recorded twice, no score row is lost or duplicated, under randomised SIGKILLs (a soak bounded in
time; XSTILTS_SOAK_SECONDS and XSTILTS_SOAK_SEED change its length and its kill schedule).

Stages are run by `reliability_fake_runner:run` (fast, deterministic scores), in worker processes
started as `xstilts run --workers N` starts them.
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import yaml

from xstilts.config import to_dict
from xstilts.experiments.executors import worker_command
from xstilts.experiments.runner import STORE_NAME, WorkerOptions, prepare
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_json

from reliability_fake_runner import expected_scores, read_log
from reliability_helpers import HERE, SRC, subprocess_env

SOAK_SECONDS = float(os.environ.get("XSTILTS_SOAK_SECONDS", "12"))
SOAK_SEED = int(os.environ.get("XSTILTS_SOAK_SEED", "20240611"))
LEASE = 60.0  # killed workers' stages are taken back at once; a live worker's lease never lapses, however busy the machine
RUNNER = "reliability_fake_runner:run"


def soak_grid(out: Path) -> dict:
    """1 model x {none, syn-nli, syn-mc} x {syn-para, syn-pos, syn-tatoeba} x 2 seeds: 34 stages."""
    return {
        "name": "soak",
        "models": [{"name": "m", "path": "synthetic:encoder"}],
        "intermediate": ["none", "syn-nli", "syn-mc"],
        "targets": ["syn-para", "syn-pos", "syn-tatoeba"],
        "seeds": [0, 1],
        "output_dir": str(out),
        "executor": {"lease_seconds": LEASE, "heartbeat_seconds": 0.2, "poll_seconds": 0.1, "max_attempts": 100},
    }


def store_rows(root: Path) -> tuple[list[tuple], dict[str, str], dict[str, list[str]]]:
    with ResultsStore(root / STORE_NAME) as store:
        scores = [tuple(r) for r in store._conn.execute("SELECT stage_id, task, language, split, metric, value FROM scores")]
        statuses = {r.id: r.status for r in store.stages()}
        attempts = defaultdict(list)
        for a in store.attempts():
            attempts[a["stage_id"]].append(a["status"])
    return scores, statuses, attempts


def executions(root: Path, killed_at: dict[int, float]) -> dict[str, list[tuple[float, float, int]]]:
    """Per stage, the (start, end, pid) of every execution; a killed worker's ends at its kill."""
    open_runs: dict[tuple[str, int], float] = {}
    runs: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for t, event, stage_id, pid in sorted(read_log(root)):
        if event == "start":
            open_runs[(stage_id, pid)] = t
        else:
            runs[stage_id].append((open_runs.pop((stage_id, pid)), t, pid))
    for (stage_id, pid), start in open_runs.items():
        assert pid in killed_at, f"worker {pid} started stage {stage_id} and neither finished it nor was killed"
        runs[stage_id].append((start, killed_at[pid], pid))
    return runs


def assert_grid_consistent(root: Path, stages: list, killed_at: dict[int, float]) -> None:
    scores, statuses, attempts = store_rows(root)
    assert statuses == {s.id: "done" for s in stages}
    assert len(scores) == len(set(scores)), "duplicated score rows"
    assert set(scores) == expected_scores(stages), "lost or wrong score rows"
    for s in stages:
        assert Counter(attempts[s.id])["done"] == 1, (s.id, attempts[s.id])
        assert set(attempts[s.id]) <= {"done", "lost"}, (s.id, attempts[s.id])
        assert (root / "stages" / s.id / "output.json").is_file()
    for stage_id, runs in executions(root, killed_at).items():
        runs.sort()
        for before, after in itertools.pairwise(runs):
            assert after[0] >= before[1] - 0.05, f"stage {stage_id} ran in workers {before[2]} and {after[2]} at once: {runs}"


@pytest.mark.slow
def test_workers_under_random_kills_finish_the_grid_once(tmp_path: Path) -> None:
    spec = spec_from_dict(soak_grid(tmp_path / "out"))
    root, stages = prepare(spec)
    spec_file = root / "spec.json"
    atomic_write_json(spec_file, to_dict(spec))
    options = WorkerOptions.from_spec(spec, run_started=time.time())
    env = subprocess_env(FAKE_SECONDS="0.4")
    rng = random.Random(SOAK_SEED)

    def start(label: str) -> subprocess.Popen:
        command = worker_command(spec_file, root, RUNNER, options, label=label)
        return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

    def finished() -> bool:
        return set(store_rows(root)[1].values()) == {"done"}

    workers = [start(f"w{i}") for i in range(3)]
    killed_at: dict[int, float] = {}
    deadline = time.time() + SOAK_SECONDS
    try:
        while time.time() < deadline and not finished():
            time.sleep(rng.uniform(0.4, 1.2))
            live = [w for w in workers if w.poll() is None]
            if not live:
                break
            victim = rng.choice(live)
            victim.kill()
            victim.wait()
            killed_at[victim.pid] = time.time()
            workers.append(start(f"r{len(killed_at)}"))
        survivors = [w for w in workers if w.pid not in killed_at]
        for w in survivors:
            _, err = w.communicate(timeout=120)
            assert w.returncode == 0, f"worker exited {w.returncode} (seed {SOAK_SEED}):\n{err[-2000:]}"
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    assert killed_at, "the soak killed no worker"
    assert_grid_consistent(root, stages, killed_at)
    starts = sum(1 for _, event, _, _ in read_log(root) if event == "start")
    print(f"soak seed {SOAK_SEED}: {len(killed_at)} workers killed, {starts} stage executions for {len(stages)} stages")


def test_two_run_commands_share_one_grid(tmp_path: Path) -> None:
    """Two `xstilts run --workers 2` on the same spec at once (four workers, one store)."""
    out = tmp_path / "out"
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump(soak_grid(out)))
    env = subprocess_env(FAKE_SECONDS="0.1")
    assert str(SRC) in env["PYTHONPATH"] and str(HERE) in env["PYTHONPATH"]
    command = [sys.executable, "-m", "xstilts", "-q", "run", str(spec_path), "--workers", "2", "--stage-runner", RUNNER, "--no-report"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        _, err = run.communicate(timeout=180)
        assert run.returncode == 0, err[-2000:]
    stages = prepare(spec_from_dict(soak_grid(out)))[1]
    assert_grid_consistent(out, stages, killed_at={})
    ends = Counter(stage_id for _, event, stage_id, _ in read_log(out) if event == "end")
    assert ends == {s.id: 1 for s in stages}  # nobody was killed: every stage ran exactly once
