"""Fast stand-ins for the stage runner, for concurrency tests. Worker processes import them by
name (`fake_stages:sleepy`), so the tests put this folder on PYTHONPATH.

Every call appends `start` and `end` lines (time, stage id, pid) to <output folder>/executions.log
with single O_APPEND writes, so tests can count executions across processes.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

LOG_NAME = "executions.log"


def _log(root: Path, event: str, stage_id: str) -> None:
    line = f"{time.time():.6f} {event} {stage_id} {os.getpid()}\n".encode()
    fd = os.open(root / LOG_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


def read_log(root: Path) -> list[tuple[float, str, str, int]]:
    path = Path(root) / LOG_NAME
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        t, event, stage_id, pid = line.split()
        rows.append((float(t), event, stage_id, int(pid)))
    return rows


def _seconds(kind: str) -> float:
    return float(os.environ.get(f"FAKE_{kind.upper()}_SECONDS", os.environ.get("FAKE_STAGE_SECONDS", "0.3")))


def _scores(stage) -> list[dict]:
    if stage.kind != "evaluate":
        return []
    return [
        {"task": stage.task, "language": lang, "split": "validation", "metric": "accuracy", "value": 50.0 + stage.seed + i,
         "primary": True, "n_examples": 10, "chance": 25.0}
        for i, lang in enumerate(("en", "clo"))
    ]


def sleepy(stage, ctx) -> tuple[dict, list[dict]]:
    """Sleeps, checks that its parent's output exists, writes its own output."""
    _log(ctx.root, "start", stage.id)
    if stage.parent and not (ctx.stage_dir(stage.parent) / "output.json").exists():
        raise RuntimeError(f"parent {stage.parent} has no output")
    time.sleep(_seconds(stage.kind))
    out = ctx.stage_dir(stage.id)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".output.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"stage": stage.id}))
    tmp.replace(out / "output.json")
    _log(ctx.root, "end", stage.id)
    return {"family": "encoder", "pid": os.getpid()}, _scores(stage)


def failing(stage, ctx) -> tuple[dict, list[dict]]:
    """Like sleepy, but the target stages of FAKE_FAIL_TASK raise."""
    if stage.kind == "target" and stage.task == os.environ.get("FAKE_FAIL_TASK"):
        _log(ctx.root, "start", stage.id)
        raise ValueError(f"simulated failure of {stage.task}\nsecond line of the message")
    return sleepy(stage, ctx)


def resumable(stage, ctx) -> tuple[dict, list[dict]]:
    """FAKE_STEPS steps of FAKE_STEP_SECONDS each, saving progress in the stage's work folder
    after every step and resuming from it, like the trainer's checkpoints."""
    _log(ctx.root, "start", stage.id)
    work = ctx.work_dir(stage.id)
    work.mkdir(parents=True, exist_ok=True)
    progress = work / "progress"
    first = int(progress.read_text()) if progress.exists() else 0
    for step in range(first, int(os.environ.get("FAKE_STEPS", "10"))):
        time.sleep(float(os.environ.get("FAKE_STEP_SECONDS", "0.5")))
        tmp = work / "progress.tmp"
        tmp.write_text(str(step + 1))
        tmp.replace(progress)
    out = ctx.stage_dir(stage.id)
    out.mkdir(parents=True, exist_ok=True)
    (out / "output.json").write_text("{}")
    _log(ctx.root, "end", stage.id)
    return {"family": "encoder", "resumed_from": first or None}, _scores(stage)


def gappy(stage, ctx) -> tuple[dict, list[dict]]:
    """Like sleepy, but evaluate stages lack FAKE_MISSING_LANGUAGE (recorded as a gap) and target
    stages of FAKE_FLAT_TASK did not learn (flagged)."""
    outcome, scores = sleepy(stage, ctx)
    missing = os.environ.get("FAKE_MISSING_LANGUAGE")
    if stage.kind == "evaluate" and missing:
        scores = [s for s in scores if s["language"] != missing]
        reason = f"{stage.task}: data file not found: /data/{missing}.jsonl"
        outcome["missing_languages"] = [{"task": stage.task, "language": missing, "split": "validation", "reason": reason}]
    if stage.kind == "target" and stage.task == os.environ.get("FAKE_FLAT_TASK"):
        tasks = [{"task": stage.task, "metric": "accuracy", "dev": 50.0, "chance": 50.0, "majority": 50.0}]
        outcome["flags"] = {"not_learned": {"tasks": tasks, "hint": "learning rate 2e-05 and 6 steps: raise it"}}
    return outcome, scores
