"""Consistency of the task registry with the suite declarations (`xstilts tasks --validate`).

Every problem is one line. Metric names and submission layouts belong to higher layers, so the
caller passes the names the metric registry knows and, optionally, a function that raises when a
task has no submission layout.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence

from xstilts.languages import LANGUAGES
from xstilts.tasks import all_tasks
from xstilts.tasks.base import Role, Task
from xstilts.tasks.suites import dataset_facts, get_suite, suite_names
from xstilts.tasks.suites.base import Suite
from xstilts.tasks.suites.phang2020 import PAPER


def problems(
    known_metrics: Collection[str],
    layout_of: Callable[[str], object] | None = None,
    *,
    tasks: Sequence[Task] | None = None,
    suites: Iterable[Suite] | None = None,
) -> list[str]:
    """Every inconsistency between the registered tasks and the suites (all of them by default)."""
    if tasks is None:
        tasks = all_tasks()
    suites = [get_suite(name) for name in suite_names()] if suites is None else list(suites)
    found = [line for task in tasks for line in task_problems(task, known_metrics, {s.name for s in suites})]
    by_name = {task.name: task for task in tasks}
    for suite in suites:
        found += suite_problems(suite, by_name, known_metrics, layout_of)
    return found


def task_problems(task: Task, known_metrics: Collection[str], suites: Collection[str]) -> list[str]:
    where = f"task {task.name}"
    found = [f"{where}: unknown metric {task.metric!r}"] if task.metric not in known_metrics else []
    found += _unknown_languages(where, task.languages)
    for benchmark, languages in task.benchmark_languages.items():
        found += _unknown_languages(f"{where} ({benchmark})", languages)
        if benchmark not in task.benchmarks:
            found.append(f"{where}: languages for {benchmark!r}, which is not one of its benchmarks")
    found += [f"{where}: unknown benchmark {b!r}" for b in task.benchmarks if b not in suites and b != PAPER]
    if task.benchmarks and dataset_facts(task.name) is None:
        found.append(f"{where}: no dataset sizes declared")
    return found


def suite_problems(
    suite: Suite,
    tasks: dict[str, Task],
    known_metrics: Collection[str],
    layout_of: Callable[[str], object] | None = None,
) -> list[str]:
    where = f"suite {suite.name}"
    found: list[str] = []
    for name, languages in suite.languages.items():
        found += _unknown_languages(f"{where} task {name}", languages)
        if not languages:
            found.append(f"{where} task {name}: no languages")
        found += _registered_task_problems(suite, name, tasks.get(name), known_metrics)
        if suite.dataset_facts(name) is None:
            found.append(f"{where} task {name}: no dataset sizes declared")
        if layout_of is not None:
            try:
                layout_of(name)
            except Exception as err:  # any failure to lay the task out is the problem reported
                found.append(f"{where} task {name}: no submission layout ({err})")
    for name, facts in suite.official_tasks.items():
        if facts.submission.like and facts.submission.like not in suite.official_tasks:
            found.append(f"{where} task {name}: laid out like {facts.submission.like!r}, not an official task")
    for group, members in suite.groups.items():
        found += [f"{where} group {group}: {m!r} is not a task of the suite" for m in members if m not in suite.languages]
    if suite.listing_order and sorted(suite.listing_order) != sorted(suite.tasks):
        found.append(f"{where}: listing_order does not name each of its tasks once")
    for name, task in tasks.items():
        if suite.name in task.benchmarks and task.role is Role.TARGET and name not in suite.languages:
            found.append(f"{where}: target task {name} names the suite but the suite does not list it")
    return found


def _registered_task_problems(suite: Suite, name: str, task: Task | None, known_metrics: Collection[str]) -> list[str]:
    where = f"suite {suite.name} task {name}"
    if task is None:
        return [f"{where}: not a registered task"]
    found = []
    if suite.name not in task.benchmarks:
        found.append(f"{where}: the task does not name {suite.name!r} among its benchmarks")
    if task.role is not Role.TARGET:
        found.append(f"{where}: the task is {task.role.value}, not a target")
    if tuple(sorted(suite.languages[name])) != tuple(sorted(task.languages_for(suite.name))):
        found.append(f"{where}: languages differ from the task's for {suite.name}")
    facts = suite.official_tasks.get(name)
    if facts is not None:
        if facts.metric not in known_metrics:
            found.append(f"{where}: unknown metric {facts.metric!r}")
        if facts.metric != task.metric:
            found.append(f"{where}: metric {facts.metric!r} but the task's is {task.metric!r}")
    return found


def _unknown_languages(where: str, languages: Iterable[str]) -> list[str]:
    return [f"{where}: unknown language code {code!r}" for code in languages if code not in LANGUAGES]
