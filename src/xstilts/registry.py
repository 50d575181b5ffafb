"""A name -> object registry, one per concept (tasks, task kinds, metrics, executors), and the
loading of plug-ins, which fill registries when imported.

A plug-in is a module that registers what it provides (tasks, built-in models, LM corpora, ...)
into the registries of the layers below it; nothing imports it by name except `load_plugins`, which
the registries' lookups call before their first answer. The task kinds (`xstilts.kinds`, which
register into `xstilts.tasks.base.KINDS`) and the built-in synthetic benchmark are such plug-ins;
installed packages add theirs under the `xstilts.plugins` entry-point group.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from xstilts.errors import unknown_name

log = logging.getLogger(__name__)

T = TypeVar("T")

BUILTIN_PLUGINS = ("xstilts.kinds", "xstilts.synthetic.plugin")
PLUGIN_GROUP = "xstilts.plugins"
_plugins_loaded = False


def load_plugins() -> None:
    """Import the built-in plug-ins, then the installed ones, once per process."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True  # first: a plug-in's own lookups while it loads must not load it again
    for name in BUILTIN_PLUGINS:
        importlib.import_module(name)
    from importlib.metadata import entry_points  # lazy: ~70 ms to import, needed once

    for entry in entry_points(group=PLUGIN_GROUP):
        try:
            entry.load()
        except Exception as err:  # noqa: BLE001 - a broken installed plug-in must not break xstilts
            log.warning("plug-in %s (%s) failed to load: %s: %s", entry.name, entry.value, type(err).__name__, err)


class Registry(Generic[T]):
    """Holds objects by name; lookups of unknown names fail with the closest valid names."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._items: dict[str, T] = {}

    def register(self, name: str, item: T) -> T:
        if name in self._items:
            raise ValueError(f"{self.what} {name!r} is registered twice")
        self._items[name] = item
        return item

    def decorator(self, name: str) -> Callable[[T], T]:
        def wrap(item: T) -> T:
            return self.register(name, item)

        return wrap

    def get(self, name: str, where: str = "") -> T:
        try:
            return self._items[name]
        except KeyError:
            raise unknown_name(self.what, name, self._items, where) from None

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def names(self) -> list[str]:
        return list(self._items)

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())
