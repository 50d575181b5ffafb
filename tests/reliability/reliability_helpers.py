"""Helpers of the reliability suite: the CLI run in-process or as a subprocess, tiny specs,
and what a run left behind (scores, statuses, weights, temporaries)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import subprocess
import sys
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"

# A rerun takes a killed worker's stage back at once (its process is gone), whatever the lease; a
# long lease keeps a live worker's stage its own however busy the machine (no timing to race).
FAST_EXECUTOR = {"lease_seconds": 60.0, "heartbeat_seconds": 0.25, "poll_seconds": 0.1, "max_attempts": 5}


# -- the command line --------------------------------------------------------------------------------
@dataclass
class CliResult:
    code: int
    out: str
    err: str

    def err_lines(self) -> list[str]:
        """Non-empty stderr lines, progress-bar redraws (carriage returns) reduced to their last frame."""
        lines = []
        for line in self.err.split("\n"):
            frame = line.split("\r")[-1].strip()
            if frame:
                lines.append(frame)
        return lines


def assert_user_error(result: CliResult, *needles: str) -> str:
    """Exit code 2, exactly one stderr line, no traceback, and every needle in that line."""
    lines = result.err_lines()
    assert result.code == 2, f"exit code {result.code}; stderr:\n{result.err}"
    assert "Traceback" not in result.err, result.err
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{result.err}"
    line = lines[0]
    assert line.startswith("xstilts: error: "), line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


@contextlib.contextmanager
def _preserved_environment() -> Iterator[None]:
    saved = dict(os.environ)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cli(*args: str | Path) -> CliResult:
    """`xstilts ARGS` in this process (stdout and stderr captured)."""
    from xstilts.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _preserved_environment(), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([str(a) for a in args])
        except SystemExit as exit_:  # argparse errors
            code = int(exit_.code or 0)
        except Exception:  # what the interpreter does with an uncaught exception
            traceback.print_exc()
            code = 1
    return CliResult(code, out.getvalue(), err.getvalue())


def subprocess_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(HERE)])
    env["OMP_NUM_THREADS"] = "1"
    env["TOKENIZERS_PARALLELISM"] = "false"
    env["HF_HUB_OFFLINE"] = env["HF_DATASETS_OFFLINE"] = "1"
    for key in [k for k in env if k.startswith("XSTILTS_FAULT")]:
        del env[key]
    env.update(extra)
    return env


def cli_subprocess(*args: str | Path, timeout: float = 300, **env: str) -> CliResult:
    """`python -m xstilts ARGS` in a fresh process."""
    done = subprocess.run(
        [sys.executable, "-m", "xstilts", *map(str, args)], capture_output=True, text=True, timeout=timeout, env=subprocess_env(**env),
    )
    return CliResult(done.returncode, done.stdout, done.stderr)


# -- specs -----------------------------------------------------------------------------------------
def tiny_spec(out: Path, model: Path | str, **overrides: object) -> dict:
    """One target (syn-para), no intermediate training, 6 steps with a checkpoint after each."""
    spec = {
        "name": "tiny",
        "output_dir": str(out),
        "models": [{"name": "m", "path": str(model)}],
        "intermediate": ["none"],
        "targets": ["syn-para"],
        "device": "cpu",
        "training": {
            "max_restarts": 0,
            "target": {"max_steps": 6, "eval_every": 3, "checkpoint_every": 1, "max_train_examples": 48, "max_dev_examples": 24},
        },
        "evaluation": {"max_examples": 16},
        "executor": dict(FAST_EXECUTOR),
    }
    return spec | overrides


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# -- results ------------------------------------------------------------------------------------------
@dataclass
class Finished:
    """What a finished run of `tiny_spec`'s grid left: its score rows and checkpoint weights."""

    out: Path
    scores: list[tuple]
    weights: dict[str, str]
    target: str  # stage ids
    evaluate: str


def stage_ids(raw: dict) -> tuple[str, str]:
    """The (target, evaluate) stage ids of a one-target grid."""
    from xstilts.experiments.plan import plan
    from xstilts.experiments.spec import spec_from_dict

    stages = plan(spec_from_dict(raw))
    return next(s.id for s in stages if s.kind == "target"), next(s.id for s in stages if s.kind == "evaluate")


def store_scores(output: Path) -> list[tuple]:
    """Every score row of the store under `output`, sorted: (stage, task, language, split, metric, value, n)."""
    from xstilts.experiments.store import ResultsStore

    with ResultsStore(output / "results.sqlite") as store:
        rows = store._conn.execute("SELECT stage_id, task, language, split, metric, value, n_examples FROM scores").fetchall()
    return sorted(tuple(r) for r in rows)


def stage_statuses(output: Path) -> dict[str, str]:
    from xstilts.experiments.store import ResultsStore

    with ResultsStore(output / "results.sqlite") as store:
        return {r.id: r.status for r in store.stages()}


def weight_digests(output: Path) -> dict[str, str]:
    """sha256 of every weight file of every stage checkpoint, keyed by path under the output folder."""
    digests = {}
    for path in sorted((output / "stages").rglob("*.safetensors")):
        if ".tmp-" in str(path.relative_to(output)):
            continue  # a killed writer's temporary: never read (checked separately)
        digests[str(path.relative_to(output))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digests


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if re.search(r"\.tmp-", p.name)]
