"""User-facing errors.

Every error a user can cause (bad spec, bad data, unknown name, incompatible checkpoint) is an
`XStiltsError`: the CLI prints its message as one line and exits with code 2, without a traceback
unless `--debug` is given. Anything else is a bug and exits with code 1.
"""

from __future__ import annotations

import difflib
import errno
import os
from collections.abc import Iterable
from dataclasses import dataclass


class XStiltsError(Exception):
    """An error caused by the user's input; its message is one self-contained line."""

    exit_code = 2


class ConfigError(XStiltsError):
    """A spec or configuration value is invalid."""


class DataError(XStiltsError):
    """A data file or dataset is missing, malformed, or inconsistent."""


class CheckpointError(XStiltsError):
    """A checkpoint is missing, corrupt, or incompatible with what loads it."""


class UnknownNameError(ConfigError):
    """A name (task, model, metric, executor, ...) is not registered."""


@dataclass(frozen=True)
class Problem:
    """One thing that would make a stage fail, found before any training (`xstilts plan`).

    `subject` names what is wrong ("model bloom-560m", "data xnli/de/validation"), `problem` says
    what, and `fix` what the user can do about it; each is one line.
    """

    subject: str
    problem: str
    fix: str


def closest(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The registered names most similar to `name`, best first."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    if not hits:
        hits = [c for c in lowered if name.lower() in c or c in name.lower()][:n]
    return [lowered[h] for h in hits]


def unknown_name(what: str, name: str, choices: Iterable[str], where: str = "") -> UnknownNameError:
    """Build the standard 'unknown X' error, naming the closest valid names."""
    choices = sorted(choices)
    near = closest(name, choices)
    hint = f"; closest: {', '.join(near)}" if near else f"; valid: {', '.join(choices[:12])}"
    prefix = f"{where}: " if where else ""
    return UnknownNameError(f"{prefix}unknown {what} {name!r}{hint}")


# Errors of the storage rather than of the program: reported in one line, like a user error.
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES})
_STORAGE_PHRASES = ("No space left on device", "Disk quota exceeded", "Read-only file system", "Permission denied")


def storage_problem(err: BaseException | None) -> str | None:
    """One line describing a full, read-only or forbidden storage behind `err` (an OSError, or a
    library's error caused by or quoting one, such as safetensors' "I/O error: No space left on
    device"); None when `err` is something else."""
    seen: set[int] = set()
    while err is not None and id(err) not in seen:
        seen.add(id(err))
        if isinstance(err, OSError) and err.errno in STORAGE_ERRNOS:
            where = f"{err.filename}: " if err.filename else ""
            return f"{where}{err.strerror or os.strerror(err.errno)}"
        text = " ".join(str(err).split())
        for phrase in _STORAGE_PHRASES:
            if phrase in text:
                return f"{phrase} ({type(err).__name__}: {text[:300]})"
        err = err.__cause__ or err.__context__
    return None
