"""A fast stand-in stage runner for the concurrency soak (`reliability_fake_runner:run`).

Each call appends `start` and `end` lines (time, event, stage id, pid) to <output>/executions.log
with single O_APPEND writes, refuses to run before its parent's output exists, sleeps a little,
and writes its own output atomically. Evaluate stages return two score rows whose values are a
pure function of the stage id, so the expected store content is known in advance.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from xstilts.io import atomic_write_json

LOG = "executions.log"
LANGUAGES = ("en", "clo")


def _log(root: Path, event: str, stage_id: str) -> None:
    fd = os.open(root / LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{time.time():.6f} {event} {stage_id} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


def read_log(root: Path) -> list[tuple[float, str, str, int]]:
    path = Path(root) / LOG
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        parts = line.split()
        if len(parts) == 4:  # a line cut by a kill mid-write would be shorter: single writes never are
            rows.append((float(parts[0]), parts[1], parts[2], int(parts[3])))
    return rows


def value(stage_id: str, language: str) -> float:
    return int(hashlib.sha256(f"{stage_id}/{language}".encode()).hexdigest()[:6], 16) % 10000 / 100


def expected_scores(stages) -> set[tuple]:
    return {(s.id, s.task, lang, "validation", "accuracy", value(s.id, lang)) for s in stages if s.kind == "evaluate" for lang in LANGUAGES}


def run(stage, ctx) -> tuple[dict, list[dict]]:
    _log(ctx.root, "start", stage.id)
    if stage.parent and not (ctx.stage_dir(stage.parent) / "output.json").exists():
        raise RuntimeError(f"parent {stage.parent} of {stage.id} has no output")
    time.sleep(float(os.environ.get("FAKE_SECONDS", "0.15")))
    atomic_write_json(ctx.stage_dir(stage.id) / "output.json", {"stage": stage.id, "pid": os.getpid()})
    _log(ctx.root, "end", stage.id)
    scores = [
        {"task": stage.task, "language": lang, "split": "validation", "metric": "accuracy", "value": value(stage.id, lang),
         "primary": True, "n_examples": 10, "chance": 50.0}
        for lang in LANGUAGES
    ] if stage.kind == "evaluate" else []
    return {"family": "encoder", "pid": os.getpid()}, scores
