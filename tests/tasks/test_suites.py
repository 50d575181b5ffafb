"""The suite declarations and `xstilts tasks --validate`, which checks them against the tasks."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from xstilts.errors import UnknownNameError
from xstilts.evaluation.metrics import METRICS
from xstilts.evaluation.submission import file_format
from xstilts.experiments.spec import expand_targets
from xstilts.tasks import all_tasks
from xstilts.tasks.suites import SUITES, dataset_facts, get_suite, suite_names, task_languages
from xstilts.tasks.suites.check import problems
from xstilts.tasks.suites.phang2020 import INTERMEDIATE_TASKS
from xstilts.tasks.suites.xtreme import XTREME, XTREME_R

SRC = Path(__file__).resolve().parents[2] / "src"


def test_suite_definitions() -> None:
    assert set(SUITES) == {"xtreme", "xtreme-r"}
    xtreme, xtreme_r = get_suite("xtreme"), get_suite("XTREME_R")
    assert len(xtreme.tasks) == 9 and len(xtreme_r.tasks) == 10
    assert len(xtreme.languages["panx"]) == 40 and len(xtreme_r.languages["panx"]) == 48
    assert len(xtreme_r.languages["udpos"]) == 38 and len(xtreme_r.languages["tatoeba"]) == 41
    assert len(xtreme_r.languages["xquad"]) == 12
    all_languages = {lang for langs in xtreme.languages.values() for lang in langs}
    assert len(all_languages | {"en"}) == 40
    assert task_languages("xquad")[-1] == "ro"
    with pytest.raises(UnknownNameError):
        get_suite("xglue")


def test_every_suite_and_paper_task_has_dataset_sizes() -> None:
    for name in suite_names():
        for task in get_suite(name).tasks:
            assert dataset_facts(task) is not None, (name, task)
    assert all(dataset_facts(task) is not None for task in (*INTERMEDIATE_TASKS, "siqa", "copa"))


def test_benchmark_targets_are_listed_in_the_papers_order() -> None:
    assert expand_targets(["xtreme"]) == list(XTREME.listing_order)
    assert expand_targets(["xtreme-r"]) == list(XTREME_R.listing_order)


def test_the_declarations_are_consistent() -> None:
    assert problems(METRICS.names(), file_format) == []


def test_a_broken_suite_gives_one_line_per_problem() -> None:
    broken = replace(
        XTREME,
        languages={**XTREME.languages, "xnli": (*XTREME.languages["xnli"], "zz"), "nosuchtask": ("en",)},
        groups={**XTREME.groups, "qa": ("xquad", "mlqa", "gone")},
        official_tasks={**XTREME.official_tasks, "pawsx": replace(XTREME.official_tasks["pawsx"], metric="nometric")},
    )
    found = problems(METRICS.names(), file_format, suites=[broken])
    assert "suite xtreme task xnli: unknown language code 'zz'" in found
    assert "suite xtreme task xnli: languages differ from the task's for xtreme" in found
    assert "suite xtreme task nosuchtask: not a registered task" in found
    assert "suite xtreme task nosuchtask: no dataset sizes declared" in found
    assert any(line.startswith("suite xtreme task nosuchtask: no submission layout") for line in found)
    assert "suite xtreme group qa: 'gone' is not a task of the suite" in found
    assert "suite xtreme task pawsx: unknown metric 'nometric'" in found
    assert "suite xtreme task pawsx: metric 'nometric' but the task's is 'accuracy'" in found
    assert "suite xtreme: listing_order does not name each of its tasks once" in found


def test_a_target_missing_from_its_suite_and_a_broken_task_are_reported() -> None:
    tasks = all_tasks()
    xnli = next(t for t in tasks if t.name == "xnli")
    odd = replace(xnli, name="odd", metric="nometric", languages=("en", "zz"), benchmarks=("xtreme", "nosuite"))
    found = problems(METRICS.names(), file_format, tasks=[*tasks, odd], suites=[XTREME])
    assert "task odd: unknown metric 'nometric'" in found
    assert "task odd: unknown language code 'zz'" in found
    assert "task odd: unknown benchmark 'nosuite'" in found
    assert "task odd: no dataset sizes declared" in found
    assert "suite xtreme: target task odd names the suite but the suite does not list it" in found


def _tasks_command(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(SRC), "HF_DATASETS_OFFLINE": "1", "HF_HUB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "xstilts", "tasks", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_validate_command_passes_on_the_built_in_declarations() -> None:
    done = _tasks_command("--validate")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "consistent" in done.stdout


def test_validate_command_exits_non_zero_with_one_line_per_problem(monkeypatch, capsys) -> None:
    from xstilts.cli import main
    from xstilts.tasks import suites

    broken = replace(XTREME, languages={**XTREME.languages, "pawsx": ("en", "zz")})
    monkeypatch.setitem(suites.SUITES, "xtreme", broken)
    assert main(["tasks", "--validate"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "suite xtreme task pawsx: unknown language code 'zz'",
        "suite xtreme task pawsx: languages differ from the task's for xtreme",
    ]
