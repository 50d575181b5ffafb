"""Faults injected into real stage runs.

`xstilts run SPEC --stage-runner reliability_faults:run_stage` runs the built-in pipeline with the
fault named by XSTILTS_FAULT armed (XSTILTS_FAULT_STAGE=target|evaluate limits it to one kind of
stage):

  step:N        SIGKILL while the trainer computes the loss of step N (0-based, counted in this process)
  rename:GLOB   SIGKILL right before a finished temporary is renamed onto a path matching GLOB (fnmatch
                on the whole path): inside `atomic_dir` / `atomic_write_*`, the temporary complete and
                the target not yet in place
  evaluate:N    SIGKILL while the N-th language (1-based) of an evaluate stage is being scored
  store-finish  SIGKILL inside the results-store transaction that records the stage as done, after
                its score rows are inserted, before the commit
  nan:N         the loss of step N is NaN (no kill: the divergence guard has to stop the run)
  interrupt:N   KeyboardInterrupt at step N (in-process tests: leaves a resumable work folder)

`armed(fault)` does the same inside a `with` block in the calling process and undoes it after.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import signal
from collections.abc import Callable, Iterator

FAULT = "XSTILTS_FAULT"
FAULT_STAGE = "XSTILTS_FAULT_STAGE"


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def run_stage(stage, ctx):
    from xstilts.experiments.runner import default_run_stage

    fault = os.environ.get(FAULT, "")
    only = os.environ.get(FAULT_STAGE)
    if not fault or (only and stage.kind != only):
        return default_run_stage(stage, ctx)
    with armed(fault):
        return default_run_stage(stage, ctx)


@contextlib.contextmanager
def armed(fault: str) -> Iterator[None]:
    name, _, argument = fault.partition(":")
    undo: list[Callable[[], None]] = []

    def patch(owner: object, attribute: str, value: object) -> None:
        original = getattr(owner, attribute)
        setattr(owner, attribute, value)
        undo.append(lambda: setattr(owner, attribute, original))

    if name in ("step", "nan", "interrupt"):
        _arm_loss(patch, name, int(argument))
    elif name == "rename":
        _arm_rename(patch, argument)
    elif name == "evaluate":
        _arm_evaluate(patch, int(argument))
    elif name == "store-finish":
        _arm_store_finish()
    else:
        raise ValueError(f"unknown fault {fault!r}")
    try:
        yield
    finally:
        for restore in reversed(undo):
            restore()


def _arm_loss(patch: Callable, name: str, step: int) -> None:
    from xstilts.training.loop import Trainer

    original = Trainer._loss
    calls = {"n": 0}

    def loss(self, t, batch):
        index = calls["n"]
        calls["n"] += 1
        if index == step and name == "step":
            die()
        if index == step and name == "interrupt":
            raise KeyboardInterrupt
        value = original(self, t, batch)
        return value * float("nan") if index == step and name == "nan" else value

    patch(Trainer, "_loss", loss)


def _arm_rename(patch: Callable, pattern: str) -> None:
    for function in ("rename", "replace"):
        original = getattr(os, function)

        def moved(src, dst, *args, _original=original, **kwargs):
            if fnmatch.fnmatch(os.fspath(dst), pattern):
                die()
            return _original(src, dst, *args, **kwargs)

        patch(os, function, moved)


def _arm_evaluate(patch: Callable, n: int) -> None:
    from xstilts.experiments import stages

    original = stages.evaluate
    calls = {"n": 0}

    def evaluate(*args, **kwargs):
        calls["n"] += 1
        result = original(*args, **kwargs)
        if calls["n"] == n:
            die()  # the language is scored, its predictions not yet written
        return result

    patch(stages, "evaluate", evaluate)


def _arm_store_finish() -> None:
    """Kills the next `ResultsStore.finish` mid-transaction (it runs after the stage runner returns)."""
    from xstilts.experiments.store import ResultsStore

    original = ResultsStore.finish

    def finish(self, *args, **kwargs):
        ResultsStore.finish = original

        def trace(statement: str) -> None:
            if "SET status='done'" in statement:
                die()

        self._conn.set_trace_callback(trace)
        return original(self, *args, **kwargs)

    ResultsStore.finish = finish
