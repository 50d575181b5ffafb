"""Validation of canonical examples, so bad data fails before any training starts.

The schema is the task kind's (`Kind.fields` and `Kind.example_problem`, in `xstilts.kinds`).
"""

from __future__ import annotations

from collections.abc import Sequence

from xstilts.errors import DataError
from xstilts.tasks.base import Example, Task, kind_of


def validate_examples(task: Task, examples: Sequence[Example], origin: str, split: str, language: str) -> None:
    """Raise a one-line `DataError` naming `origin` (file or dataset id) and the bad field."""
    where = f"{origin} [{task.name} {split}/{language}]"
    if not examples:
        raise DataError(f"{where}: split is empty")
    kind = kind_of(task.kind, where=task.name)
    for i, ex in enumerate(examples):
        for key, typ in kind.fields.items():
            if key not in ex:
                raise DataError(f"{where}: example {i} has no field {key!r}")
            value = ex[key]
            if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
                raise DataError(
                    f"{where}: example {i} field {key!r} should be {_name(typ)}, got {type(value).__name__}"
                )
        problem = kind.example_problem(task, ex)
        if problem is not None:
            raise DataError(f"{where}: example {i} {problem}")


def _name(typ: type | tuple[type, ...]) -> str:
    return typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)
