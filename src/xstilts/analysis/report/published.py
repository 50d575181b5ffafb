"""Our scores beside the published numbers of Phang et al. 2020 (X-STILTs), when the grid reproduces their setting."""

from __future__ import annotations

import numpy as np
import pandas as pd

from xstilts.analysis.reference import load_reference, reproduces
from xstilts.analysis.report.data import ReportData
from xstilts.analysis.scores import BASELINE
from xstilts.tasks.suites import get_suite


def reference_comparison(data: ReportData) -> pd.DataFrame | None:
    """Per reference task: our baseline and best condition (seed means of the task's mean over
    languages, the paper's metric) beside the paper's XLM-R and X-STILTs numbers; None when the
    grid does not reproduce the paper's setting (XLM-R Large on XTREME tasks)."""
    ref = load_reference("phang2020")
    paths = [p for p in data.scores["model_path"].dropna().unique()]
    if not reproduces(ref, paths, data.targets):
        return None
    stilts, xlmr = ref.scores("X-STILTs"), ref.scores("XLM-R Large")
    metric_of = dict(zip(ref.frame["task"], ref.frame["metric"], strict=False))
    models = [
        m
        for m in data.models
        if any(
            str(p).rstrip("/").split("/")[-1].lower() == ref.model
            for p in data.scores.loc[data.scores["model"] == m, "model_path"].dropna()
        )
    ]
    rows = []
    for model in models:
        m = data.metrics[(data.metrics["model"] == model)]
        for task in [t for t in data.targets if t in stilts]:
            part = m[(m["target"] == task) & (m["metric"] == metric_of[task])]
            if part.empty:
                continue
            cond = part.groupby(["intermediate", "seed"])["score"].mean().groupby("intermediate").mean()
            baseline = cond.get(BASELINE, np.nan)
            others = cond.drop(BASELINE, errors="ignore")
            best = others.idxmax() if len(others) else None
            rows.append(
                {
                    "model": model,
                    "task": task,
                    "metric": metric_of[task],
                    "ours_baseline": baseline,
                    "ours_best": others.max() if best else np.nan,
                    "best_intermediate": best or "",
                    "ours_gain": (others.max() - baseline) if best else np.nan,
                    "paper_xlmr": xlmr.get(task, np.nan),
                    "paper_xstilts": stilts.get(task, np.nan),
                    "paper_gain": stilts.get(task, np.nan) - xlmr.get(task, np.nan),
                }
            )
    return pd.DataFrame(rows)


def xtreme_best_per_target(table: pd.DataFrame | None) -> dict[str, tuple[float, float]]:
    """model -> (XTREME score without intermediate training, XTREME score when each task takes its
    best condition), for models with every XTREME task scored under the baseline."""
    out: dict[str, tuple[float, float]] = {}
    if table is None or table.empty:
        return out
    tasks = list(get_suite("xtreme").tasks)
    for model, rows in table.groupby("model", sort=False):
        base = pd.to_numeric(rows.loc[rows["intermediate"] == BASELINE, "score"], errors="coerce")
        if base.empty or not np.isfinite(base.iloc[0]) or any(t not in rows for t in tasks):
            continue
        best = float(np.mean([rows[t].max() for t in tasks]))
        out[str(model)] = (float(base.iloc[0]), best)
    return out
