"""The task registry. Task modules register their declarations on import."""

from __future__ import annotations

from xstilts.registry import Registry
from xstilts.tasks.base import Task

TASKS: Registry[Task] = Registry("task")


def register(task: Task) -> Task:
    return TASKS.register(task.name, task)
