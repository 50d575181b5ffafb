"""Benchmark scores of every model and condition: official XTREME / XTREME-R aggregation, plain means otherwise."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xstilts.analysis.report.data import ReportData
from xstilts.errors import XStiltsError
from xstilts.evaluation.aggregate import benchmark_score
from xstilts.tasks import get_task
from xstilts.tasks.suites import canonical_task

# Cells averaged over fewer languages than their task has: the column that lists them in a
# benchmark table (task columns, and "score" for the aggregate), shown as a "†" mark.
PARTIAL = "partial"
PARTIAL_MARK = " †"

Cell = tuple[str, str]  # (model, intermediate)


def _task_benchmarks(target: str) -> tuple[str, ...]:
    try:
        return tuple(get_task(target).benchmarks)
    except XStiltsError:
        return ()


def benchmark_tables(data: ReportData) -> dict[str, pd.DataFrame]:
    """Per benchmark, rows (model, intermediate) with the benchmark score and per-task headlines:
    the official XTREME / XTREME-R aggregation (xstilts.evaluation.aggregate) for real tasks, and
    a plain mean over tasks for the synthetic benchmark (and for targets of no benchmark)."""
    members = {t: _task_benchmarks(t) for t in data.targets}
    cells = _ordered_cells(data)
    out = _xtreme_tables(data, members, cells)
    out |= _plain_mean_tables(data, members, cells)
    return out


def _ordered_cells(data: ReportData) -> list[Cell]:
    """The (model, intermediate) pairs with scores, in spec order (baseline first)."""
    cells = list(dict.fromkeys(zip(data.scores["model"], data.scores["intermediate"], strict=True)))
    cells.sort(
        key=lambda c: (
            data.models.index(c[0]) if c[0] in data.models else 99,
            data.ordered_conditions.index(c[1]) if c[1] in data.ordered_conditions else 99,
        )
    )
    return cells


def _xtreme_tables(data: ReportData, members: dict[str, tuple[str, ...]], cells: list[Cell]) -> dict[str, pd.DataFrame]:
    """XTREME and XTREME-R scores by the official aggregation, for the benchmarks with a target."""
    means = (
        data.metrics.assign(metric=data.metrics["metric"].replace({"map_at_20": "map@20"}))
        .groupby(["model", "intermediate", "target", "language", "metric"])["score"]
        .mean()
    )
    out: dict[str, pd.DataFrame] = {}
    for bench, label in (("xtreme", "XTREME"), ("xtreme-r", "XTREME-R")):
        tasks = [t for t in data.targets if bench in members[t]]
        if not tasks:
            continue
        rows = []
        for model, intermediate in cells:
            mapping = _task_language_metrics(means, model, intermediate, tasks)
            if mapping:
                rows.append(_xtreme_row(model, intermediate, mapping, bench))
        if rows:
            out[label] = pd.DataFrame(rows)
    return out


def _task_language_metrics(
    means: pd.Series, model: str, intermediate: str, tasks: list[str]
) -> dict[str, dict[str, dict[str, float]]]:
    """canonical task -> language -> metric -> score of one (model, intermediate), for the tasks with scores."""
    mapping: dict[str, dict[str, dict[str, float]]] = {}
    for t in tasks:
        try:
            part = means.loc[(model, intermediate, t)]
        except KeyError:
            continue
        per_language: dict[str, dict[str, float]] = {}
        for (lang, metric), value in part.items():
            per_language.setdefault(lang, {})[metric] = float(value)
        mapping[canonical_task(t)] = per_language
    return mapping


def _xtreme_row(model: str, intermediate: str, mapping: dict[str, dict[str, dict[str, float]]], bench: str) -> dict[str, Any]:
    score = benchmark_score(mapping, bench, require_all_languages=False)
    row: dict[str, Any] = {
        "model": model,
        "intermediate": intermediate,
        "score": score.overall,
        "tasks": f"{len(score.tasks)} of {len(score.tasks) + len(score.missing_tasks)}",
        "missing": ", ".join(score.missing_tasks),
    }
    partial = score.partial_tasks
    row |= {t: s.headline for t, s in score.tasks.items()}
    row["note"] = (
        "averaged over the languages present: " + ", ".join(f"{t} {score.tasks[t].coverage}" for t in partial)
        if partial
        else ""
    )
    row[PARTIAL] = (*partial, *(("score",) if score.overall_partial else ()))
    return row


def _plain_mean_tables(
    data: ReportData, members: dict[str, tuple[str, ...]], cells: list[Cell]
) -> dict[str, pd.DataFrame]:
    """Plain means over tasks: of the synthetic benchmark, and of the targets of no benchmark."""
    primary = (
        data.scores.groupby(["model", "intermediate", "target", "seed"], sort=False)["score"]
        .mean()
        .groupby(["model", "intermediate", "target"], sort=False)
        .mean()
    )
    gapped = _gapped_cells(data)
    out: dict[str, pd.DataFrame] = {}
    for label, tasks in (
        (
            "synthetic (plain mean over tasks, not an XTREME score)",
            [t for t in data.targets if "synthetic" in members[t]],
        ),
        (
            "mean over targets of no benchmark (plain mean, not an XTREME score)",
            [t for t in data.targets if not members[t]],
        ),
    ):
        if not tasks:
            continue
        rows = []
        for model, intermediate in cells:
            values = {t: primary.get((model, intermediate, t), np.nan) for t in tasks}
            have = [t for t in tasks if np.isfinite(values[t])]
            if not have:
                continue
            partial = tuple(t for t in have if (model, intermediate, t) in gapped)
            complete = len(have) == len(tasks)
            rows.append(
                {
                    "model": model,
                    "intermediate": intermediate,
                    "score": float(np.mean([values[t] for t in tasks])) if complete else np.nan,
                    "tasks": f"{len(have)} of {len(tasks)}",
                    "missing": ", ".join(t for t in tasks if t not in have),
                }
                | values
                | {PARTIAL: (*partial, *(("score",) if partial and complete else ()))}
            )
        if rows:
            out[label] = pd.DataFrame(rows)
    return out


def _gapped_cells(data: ReportData) -> set[tuple[str, str, str]]:
    """(model, intermediate, target) whose runs have recorded missing languages."""
    if data.gaps is None or data.gaps.empty:
        return set()
    return set(zip(data.gaps["model"], data.gaps["condition"], data.gaps["target"], strict=True))
