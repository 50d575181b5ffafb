"""Published numbers to set beside ours, each with the source it was read from.

Data files (`<name>.json` in this folder) hold `sources` (citation, url, the quoted text, split)
and `entries` (task, metric, system, value, source). Only numbers that can be cited are shipped;
each data file's `notes` say what was left out and why.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from xstilts.errors import DataError, unknown_name

ENTRY_FIELDS = ("task", "metric", "system", "value", "source")


@dataclass(frozen=True)
class ReferenceSet:
    name: str
    title: str
    model: str  # the backbone the numbers were obtained with (hub id without organisation)
    sources: dict[str, dict[str, str]]
    systems: dict[str, str]
    notes: tuple[str, ...]
    frame: pd.DataFrame  # task, metric, system, value, source

    def citation(self, source: str) -> str:
        s = self.sources[source]
        return f"{s['citation']} ({s['url']})"

    def scores(self, system: str) -> dict[str, float]:
        """task -> value for one system."""
        part = self.frame[self.frame["system"] == system]
        return dict(zip(part["task"], part["value"], strict=True))


def available() -> list[str]:
    folder = resources.files(__name__)
    return sorted(p.name.removesuffix(".json") for p in folder.iterdir() if p.name.endswith(".json"))


def load_reference(name: str = "phang2020") -> ReferenceSet:
    names = available()
    if name not in names:
        raise unknown_name("reference data", name, names)
    where = f"analysis/reference/{name}.json"
    data = json.loads(resources.files(__name__).joinpath(f"{name}.json").read_text(encoding="utf-8"))
    sources = data.get("sources") or {}
    for key, source in sources.items():
        for field in ("citation", "url", "quote"):
            if not source.get(field):
                raise DataError(f"{where}: sources.{key}.{field} is missing: every number needs a citable source")
    entries = data.get("entries") or []
    for i, entry in enumerate(entries):
        missing = [f for f in ENTRY_FIELDS if f not in entry]
        if missing:
            raise DataError(f"{where}: entries[{i}] lacks {missing}")
        if entry["source"] not in sources:
            raise DataError(f"{where}: entries[{i}].source {entry['source']!r} is not among sources {sorted(sources)}")
        if not isinstance(entry["value"], (int, float)):
            raise DataError(f"{where}: entries[{i}].value must be a number")
    frame = pd.DataFrame(entries, columns=list(ENTRY_FIELDS))
    return ReferenceSet(
        name=data.get("name", name),
        title=data.get("title", name),
        model=data.get("model", ""),
        sources=sources,
        systems=data.get("systems", {}),
        notes=tuple(data.get("notes", [])),
        frame=frame,
    )


def reproduces(reference: ReferenceSet, model_paths: Iterable[str], targets: Iterable[str]) -> bool:
    """Whether a grid is comparable with the reference: one of its models is the reference's
    backbone (by hub name, any organisation or local folder of that name) and it has one of the
    reference's target tasks."""
    model = reference.model.lower()
    uses_model = any(str(p).rstrip("/").lower().split("/")[-1] == model for p in model_paths)
    tasks = set(reference.frame["task"])
    return uses_model and any(t in tasks for t in targets)
