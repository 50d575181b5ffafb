"""Averages over languages and the XTREME / XTREME-R scores, computed as the official evaluate.py.

Input everywhere: a plain mapping task -> language -> metric name -> score (0..100), e.g.
    {"xnli": {"en": {"accuracy": 88.1}, "de": {"accuracy": 81.0}}, ...}
Task names may use common spellings ("PAWS-X", "TyDiQA-GoldP"); see `xstilts.tasks.suites.canonical_task`.

Official rules reproduced:
* a task's average of a metric is the unweighted mean over its languages;
* a task's headline ("avg_metric") is, for the QA tasks, (mean exact match + mean F1) / 2, and
  otherwise the mean F1 if the task has F1, else the mean accuracy, else the mean mAP@20;
* a group's score is the mean headline of its tasks, given only when all of them are scored;
  the overall score is the mean headline of all the benchmark's tasks, given only when all are.
Beyond the official script: per task the English score, the mean over the other (zero-shot)
languages and their difference (the cross-lingual transfer gap).

Gaps. With `require_all_languages=False` a task with missing languages is averaged over the
languages present; such a task is *partial* (`TaskScore.partial`, its `coverage` "14/15"), and so
is every group and the overall score that include it (`BenchmarkScore.partial_groups`,
`overall_partial`): never a silent average over fewer languages. `coverage_line` says it in words.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from xstilts.errors import DataError, UnknownNameError
from xstilts.tasks.suites import Suite, canonical_task, get_suite, official_task

Scores = Mapping[str, Mapping[str, Mapping[str, float]]]  # task -> language -> metric -> value
QaHeadline = Literal["mean_em_f1", "f1"]


def language_means(per_language: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Mean of every metric over the languages (the official `avg_<metric>` values)."""
    if not per_language:
        raise DataError("language_means: no languages to average")
    metrics: list[str] = []
    for scores in per_language.values():
        metrics.extend(m for m in scores if m not in metrics)
    means = {}
    for metric in metrics:
        values = [scores[metric] for scores in per_language.values() if metric in scores]
        means[metric] = sum(values) / len(values)
    return means


def task_means(scores: Scores) -> dict[str, dict[str, float]]:
    """Per task, the mean of every metric over its languages (any task names, no benchmark)."""
    return {task: language_means(per_language) for task, per_language in scores.items()}


def headline(task: str, metrics: Mapping[str, float], qa_headline: QaHeadline = "mean_em_f1") -> float:
    """The official headline of one task from its (language or averaged) metric values."""
    if _mean_em_f1(task) and qa_headline == "mean_em_f1":
        _require(metrics, ("exact_match", "f1"), task)
        return (metrics["exact_match"] + metrics["f1"]) / 2
    for metric in ("f1", "accuracy", "map@20"):
        if metric in metrics:
            return metrics[metric]
    raise DataError(f"{task}: no headline metric among {sorted(metrics)} (expected f1, accuracy or map@20)")


def headline_name(task: str, qa_headline: QaHeadline = "mean_em_f1") -> str:
    if _mean_em_f1(task) and qa_headline == "mean_em_f1":
        return "(exact_match+f1)/2"
    return "f1 | accuracy | map@20"


def _mean_em_f1(task: str) -> bool:
    """Whether an official task's headline is the mean of exact match and F1 (the QA tasks)."""
    try:
        return official_task(task).mean_em_f1_headline
    except UnknownNameError:
        return False


def _require(metrics: Mapping[str, float], names: Sequence[str], task: str) -> None:
    missing = [n for n in names if n not in metrics]
    if missing:
        raise DataError(f"{task}: metric {missing[0]!r} is missing (have {sorted(metrics)})")


@dataclass(frozen=True)
class TaskScore:
    task: str
    languages: dict[str, dict[str, float]]  # language -> metric -> value (benchmark languages only)
    averages: dict[str, float]  # metric -> mean over languages
    headline: float  # the official avg_metric
    english: float | None  # headline metric in English
    zero_shot: float | None  # mean headline over the non-English languages
    gap: float | None  # english - zero_shot
    missing_languages: tuple[str, ...] = ()

    @property
    def partial(self) -> bool:
        """Averaged over fewer languages than the task has."""
        return bool(self.missing_languages)

    @property
    def coverage(self) -> str:
        """'present/wanted' languages, e.g. '14/15'."""
        return f"{len(self.languages)}/{len(self.languages) + len(self.missing_languages)}"

    def official(self) -> dict[str, Any]:
        """The task's entry in evaluate.py's output: {metric: {lang: v}, avg_<metric>: v, avg_metric: v}."""
        entry: dict[str, Any] = {}
        for metric in self.averages:
            entry[metric] = {lang: s[metric] for lang, s in self.languages.items() if metric in s}
        for metric, value in self.averages.items():
            entry[f"avg_{metric}"] = value
        entry["avg_metric"] = self.headline
        return entry


def score_task(
    task: str,
    per_language: Mapping[str, Mapping[str, float]],
    languages: Sequence[str] | None = None,
    *,
    require_all_languages: bool = True,
    qa_headline: QaHeadline = "mean_em_f1",
) -> TaskScore:
    """Average one task over `languages` (default: all given), with its headline and gap."""
    wanted = list(languages) if languages is not None else list(per_language)
    present = {lang: dict(per_language[lang]) for lang in wanted if lang in per_language}
    missing = tuple(lang for lang in wanted if lang not in per_language)
    if missing and require_all_languages:
        raise DataError(f"{task}: no scores for language(s) {', '.join(missing)}")
    if not present:
        raise DataError(f"{task}: no scores for any of its languages")
    averages = language_means(present)
    per_lang_headline = {lang: headline(task, s, qa_headline) for lang, s in present.items()}
    english = per_lang_headline.get("en")
    others = [v for lang, v in per_lang_headline.items() if lang != "en"]
    zero_shot = sum(others) / len(others) if others else None
    gap = english - zero_shot if english is not None and zero_shot is not None else None
    return TaskScore(
        task=task,
        languages=present,
        averages=averages,
        headline=headline(task, averages, qa_headline),
        english=english,
        zero_shot=zero_shot,
        gap=gap,
        missing_languages=missing,
    )


@dataclass(frozen=True)
class BenchmarkScore:
    benchmark: str
    tasks: dict[str, TaskScore]  # official task name -> score, in the benchmark's order
    groups: dict[str, float]  # groups whose tasks are all scored
    overall: float | None  # mean headline over all tasks; None unless every task is scored
    missing_tasks: tuple[str, ...] = ()
    ignored: tuple[str, ...] = field(default=())  # tasks / languages in the input outside the benchmark
    group_members: dict[str, tuple[str, ...]] = field(default_factory=dict)  # group -> its tasks

    @property
    def partial_tasks(self) -> tuple[str, ...]:
        """Tasks averaged over fewer languages than they have."""
        return tuple(t for t, s in self.tasks.items() if s.partial)

    @property
    def partial_groups(self) -> tuple[str, ...]:
        """Groups given whose mean includes a partial task."""
        partial = set(self.partial_tasks)
        return tuple(g for g in self.groups if partial & set(self.group_members.get(g, ())))

    @property
    def overall_partial(self) -> bool:
        """The overall score is given but includes a partial task."""
        return self.overall is not None and bool(self.partial_tasks)

    @property
    def mean_gap(self) -> float | None:
        """Mean transfer gap over the tasks that have English and other languages."""
        gaps = [t.gap for t in self.tasks.values() if t.gap is not None]
        return sum(gaps) / len(gaps) if gaps else None

    def official(self) -> dict[str, Any]:
        """The layout of evaluate.py's --output_file: overall and group scores, then tasks."""
        out: dict[str, Any] = {}
        if self.overall is not None:
            out["all_task"] = self.overall
        out.update(self.groups)
        for task, score in self.tasks.items():
            out[task] = score.official()
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "overall": self.overall,
            "groups": dict(self.groups),
            "mean_gap": self.mean_gap,
            "missing_tasks": list(self.missing_tasks),
            "partial_tasks": list(self.partial_tasks),
            "partial_groups": list(self.partial_groups),
            "overall_partial": self.overall_partial,
            "ignored": list(self.ignored),
            "tasks": {
                task: {
                    "headline": s.headline,
                    "averages": s.averages,
                    "english": s.english,
                    "zero_shot": s.zero_shot,
                    "gap": s.gap,
                    "languages": s.languages,
                    "missing_languages": list(s.missing_languages),
                    "coverage": s.coverage,
                }
                for task, s in self.tasks.items()
            },
            "official": self.official(),
        }


def benchmark_score(
    scores: Scores,
    benchmark: str | Suite,
    *,
    require_all_languages: bool = True,
    qa_headline: QaHeadline = "mean_em_f1",
) -> BenchmarkScore:
    """Task averages, group scores and the overall score of `benchmark` ("xtreme", "xtreme-r",
    or "synthetic", whose tasks keep their xstilts names).

    Only the benchmark's tasks and languages count (others are listed in `ignored`). A task with
    some of its languages missing raises `DataError` unless `require_all_languages=False`, in which
    case it is averaged over the languages present.
    """
    bench = benchmark if isinstance(benchmark, Suite) else get_suite(benchmark)
    by_task: dict[str, Mapping[str, Mapping[str, float]]] = {}
    ignored: list[str] = []
    for name, per_language in scores.items():
        try:
            task = name if name in bench.languages else canonical_task(name)
        except UnknownNameError:
            ignored.append(name)
            continue
        if task not in bench.languages:
            ignored.append(name)
            continue
        if task in by_task:
            raise DataError(f"{bench.name}: task {task!r} is given twice (as {name!r} and another spelling)")
        by_task[task] = per_language
        ignored.extend(f"{name}/{lang}" for lang in per_language if lang not in bench.languages[task])

    tasks = {
        task: score_task(
            task,
            by_task[task],
            bench.languages[task],
            require_all_languages=require_all_languages,
            qa_headline=qa_headline,
        )
        for task in bench.tasks
        if task in by_task
    }
    groups = {
        group: sum(tasks[t].headline for t in members) / len(members)
        for group, members in bench.groups.items()
        if all(t in tasks for t in members)
    }
    missing = tuple(t for t in bench.tasks if t not in tasks)
    overall = sum(t.headline for t in tasks.values()) / len(tasks) if not missing else None
    members = {group: tuple(tasks_of) for group, tasks_of in bench.groups.items()}
    return BenchmarkScore(bench.name, tasks, groups, overall, missing, tuple(ignored), members)


def coverage_line(task: str, present: Sequence[str], missing: Mapping[str, str | None]) -> str:
    """'xnli: 14/15 languages; missing: sw (data file not found: ...)': the languages a task's
    scores cover and, per missing language, why (None: no reason recorded)."""
    line = f"{task}: {len(present)}/{len(present) + len(missing)} languages"
    if missing:
        line += "; missing: " + ", ".join(f"{lang} ({why})" if why else lang for lang, why in missing.items())
    return line
