"""Task kinds, one plug-in module each; `handler_for(task)` gives the object that owns a kind's behaviour.

Each kind module registers its handler in `xstilts.tasks.base.KINDS` on import (`register_kind`).
The imports below are the one list of built-in kinds: adding a kind is a module here and a line
below. Importing this package does not import torch.
"""

from typing import cast

from xstilts.kinds import classification, multiple_choice, retrieval, span_extraction, tagging  # noqa: F401  (they register)
from xstilts.kinds.base import FeaturizeOptions, KindHandler, ProbeRows, register_kind
from xstilts.tasks.base import KINDS, Task


def handler_for(task: Task) -> KindHandler:
    return cast(KindHandler, KINDS.get(task.kind, where=task.name))


def handler_named(kind: str) -> KindHandler:
    return cast(KindHandler, KINDS.get(kind))


__all__ = ["KINDS", "FeaturizeOptions", "KindHandler", "ProbeRows", "handler_for", "handler_named", "register_kind"]
