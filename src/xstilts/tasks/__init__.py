"""Task declarations. The first lookup registers every built-in task and the plug-ins' tasks."""

import importlib

from xstilts.registry import load_plugins
from xstilts.tasks.base import Example, Hyperparameters, Role, Source, Task, TaskKind
from xstilts.tasks.registry import TASKS, register


def get_task(name: str, where: str = "") -> Task:
    _load_builtin()
    return TASKS.get(name, where)


def all_tasks() -> list[Task]:
    _load_builtin()
    return [TASKS.get(n) for n in TASKS.names()]


_loaded = False


def _load_builtin() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    load_plugins()
    for module in _BUILTIN_MODULES:
        importlib.import_module(f"xstilts.tasks.{module}")


# Modules declaring real tasks; each registers its tasks on import. They are imported on the first
# lookup, not with this package: they import xstilts.tasks.sources, which imports xstilts.tasks.base.
_BUILTIN_MODULES: list[str] = ["classification", "multiple_choice", "qa", "tagging", "retrieval"]

__all__ = [
    "Example", "Hyperparameters", "Role", "Source", "Task", "TaskKind", "TASKS", "register",
    "get_task", "all_tasks",
]
