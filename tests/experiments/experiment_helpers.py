"""Plain helpers of the experiment tests (fixtures stay in conftest.py): a small grid spec and writing it.
A module of its own, uniquely named, so that `from experiment_helpers import ...` cannot resolve to
another test folder's conftest.py when several folders run in one pytest process."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

SRC = Path(__file__).resolve().parents[2] / "src"

# Long leases (a busy machine cannot make a live worker lose its stage); killed workers' stages are taken back at once.
FAST_EXECUTOR = {"lease_seconds": 60.0, "heartbeat_seconds": 0.3, "poll_seconds": 0.1, "max_attempts": 3}


def grid(output: Path, **overrides: object) -> dict:
    """A small grid: 1 model x {none, syn-nli} x {syn-para, syn-tatoeba} x seeds -> 7 stages per seed."""
    data = {
        "name": "grid",
        "models": [{"name": "m", "path": "synthetic:encoder"}],
        "intermediate": ["none", "syn-nli"],
        "targets": ["syn-para", "syn-tatoeba"],
        "seeds": [0],
        "output_dir": str(output),
        "executor": dict(FAST_EXECUTOR),
    }
    data.update(overrides)
    return data


def write_spec(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@contextmanager
def sigint(disposition: str) -> Iterator[None]:
    """SIGINT `handled` (Python's KeyboardInterrupt, as in a terminal) or `ignored` (as in a process a
    non-interactive shell started in the background, and every child it starts), whatever the
    test process itself was started with; restored afterwards. Main thread only."""
    handler = {"handled": signal.default_int_handler, "ignored": signal.SIG_IGN}[disposition]
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
