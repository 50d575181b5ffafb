"""Benchmark suites, one declaration each: XTREME and XTREME-R (`xtreme`), the synthetic suite
(`synthetic`); and the paper's intermediate tasks (`phang2020`). Lookups by name live here.

Adding a task to a suite: declare the task (a module of `xstilts.tasks`) and add it to the
suite's declaration; `xstilts tasks --validate` checks that the two agree.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from xstilts.errors import unknown_name
from xstilts.tasks.suites import phang2020, synthetic, xtreme
from xstilts.tasks.suites.base import BenchmarkTask, DatasetFacts, Submission, Suite

# Suites declared as data, and those built from the task registry when asked for.
SUITES: dict[str, Suite] = {suite.name: suite for suite in xtreme.SUITES}
REGISTRY_SUITES: dict[str, Callable[[], Suite]] = {synthetic.NAME: synthetic.synthetic_suite}


def suite_names() -> tuple[str, ...]:
    return (*SUITES, *REGISTRY_SUITES)


def get_suite(name: str) -> Suite:
    key = name.lower().replace("_", "-")
    if key in SUITES:
        return SUITES[key]
    if key in REGISTRY_SUITES:
        return REGISTRY_SUITES[key]()
    raise unknown_name("benchmark", name, suite_names())


def _key(spelling: str) -> str:
    return re.sub(r"[^a-z0-9]", "", spelling.lower())


_SPELLINGS: dict[str, str] = {
    _key(spelling): task.name for task in xtreme.TASKS.values() for spelling in (task.name, *task.aliases)
}


def canonical_task(name: str) -> str:
    """The official folder name of a task, accepting common spellings ('PAWS-X', 'wikiann')."""
    key = _key(name)
    if key not in _SPELLINGS:
        raise unknown_name("XTREME task", name, sorted(xtreme.TASKS))
    return _SPELLINGS[key]


def official_task(name: str) -> BenchmarkTask:
    """The facts of an official task, by any common spelling."""
    return xtreme.TASKS[canonical_task(name)]


def task_languages(task: str) -> tuple[str, ...]:
    """Every language a task has in either XTREME suite (XTREME's order, then XTREME-R's additions)."""
    task = canonical_task(task)
    langs: list[str] = []
    for suite in xtreme.SUITES:
        for lang in suite.languages.get(task, ()):
            if lang not in langs:
                langs.append(lang)
    return tuple(langs)


def dataset_facts(task: str) -> DatasetFacts | None:
    """A task's dataset sizes from whichever declaration has them; None when none does."""
    for suite in xtreme.SUITES:
        facts = suite.dataset_facts(task)
        if facts is not None:
            return facts
    return phang2020.SIZES.get(task) or synthetic.SIZES.get(task)


__all__ = [
    "BenchmarkTask", "DatasetFacts", "Submission", "Suite", "SUITES", "REGISTRY_SUITES",
    "suite_names", "get_suite", "canonical_task", "official_task", "task_languages", "dataset_facts",
]
