"""Task declarations. Importing this package registers every built-in task."""

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
    import importlib

    from xstilts.tasks import synthetic  # noqa: F401

    for module in _BUILTIN_MODULES:
        importlib.import_module(f"xstilts.tasks.{module}")


# Modules declaring real tasks; each registers its tasks on import.
_BUILTIN_MODULES: list[str] = ["classification", "multiple_choice", "qa", "tagging", "retrieval"]

__all__ = [
    "Example", "Hyperparameters", "Role", "Source", "Task", "TaskKind", "TASKS", "register",
    "get_task", "all_tasks",
]
