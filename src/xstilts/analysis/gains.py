"""Gain tables: each intermediate condition against the no-intermediate baseline, per model and
target (or language), and the English versus zero-shot gap, all with confidence intervals."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

import xstilts.analysis.grid as g
from xstilts.analysis.scores import BASELINE, ExampleScores, validate_scores
from xstilts.errors import ConfigError, DataError

BY_OPTIONS = ("target", "language")


@dataclass(frozen=True)
class GainTable:
    """One row per (model, intermediate, target[, language]); `description` is one sentence."""

    description: str
    frame: pd.DataFrame
    by: str
    level: float
    ci_method: str
    notes: tuple[str, ...] = ()


def uncertainty_words(level: float, ci_method: str, with_examples: bool) -> str:
    pct = f"{100 * level:g}%"
    if ci_method == "hierarchical" and with_examples:
        return f"{pct} percentile intervals from a bootstrap over fine-tuning seeds and then test examples"
    source = "fine-tuning seeds and test examples" if with_examples else "fine-tuning seeds"
    return f"{pct} t-intervals over {source}"


def join_notes(*notes: str) -> str:
    seen: list[str] = []
    for n in notes:
        for part in filter(None, (p.strip() for p in n.split(";"))):
            if part not in seen:
                seen.append(part)
    return "; ".join(seen)


def units(grid: g.TargetGrid, by: str) -> Iterator[tuple[str | None, np.ndarray]]:
    """(language or None, language weights) for each reported unit of a target."""
    n = len(grid.languages)
    if by == "target":
        yield None, g.mean_weights(n)
    else:
        for i, lang in enumerate(grid.languages):
            yield lang, g.unit_weights(n, i)


def select_targets(df: pd.DataFrame, targets: Sequence[str] | None) -> list[str]:
    available = sorted(df["target"].unique())
    if targets is None:
        return available
    unknown = [t for t in targets if t not in available]
    if unknown:
        raise DataError(f"targets {unknown} have no scores; available: {available}")
    return list(targets)


def require_baseline(view: g.CellView, model: str, target: str, baseline: str) -> int:
    if not view.has(model, baseline):
        raise DataError(
            f"model {model!r}, target {target!r}: no runs with intermediate {baseline!r} (the "
            "no-intermediate baseline), so its gains cannot be computed; add those runs or drop the model"
        )
    return view.cell(model, baseline)


def _ci_columns(prefix: str, res: g.ContrastResult) -> dict[str, float]:
    return {prefix: res.estimate, f"{prefix}_low": res.interval.low, f"{prefix}_high": res.interval.high}


def gain_table(
    scores: pd.DataFrame,
    examples: ExampleScores | None = None,
    *,
    by: str = "target",
    baseline: str = BASELINE,
    targets: Sequence[str] | None = None,
    level: float = 0.95,
    ci_method: str = "t",
    variance: str = "pooled",
    n_boot: int = 1000,
    seed: int = 0,
) -> GainTable:
    """Gain of every intermediate condition over `baseline`, per model and target (by="target",
    the mean over the target's languages) or per language (by="language").

    Columns: model, family, intermediate, target, [language], score/_low/_high,
    baseline_score/_low/_high, gain/_low/_high, gain_p (two-sided, gain = 0), n_seeds,
    n_baseline_seeds, ci_method, note. A model without baseline runs for a target is an error.
    """
    g.check_options(ci_method, variance, level)
    if by not in BY_OPTIONS:
        raise ConfigError(f"by must be one of {list(BY_OPTIONS)}, got {by!r}")
    df = validate_scores(scores)
    rows, with_examples = [], False
    for target in select_targets(df, targets):
        grid = g.target_grid(df, target, examples, n_boot=n_boot, seed=seed)
        with_examples |= grid.replicates is not None
        family = dict(zip(grid.runs["model"], grid.runs["family"], strict=False))
        for language, weights in units(grid, by):
            view = g.cell_view(grid, weights)
            for model in sorted(family):
                b = require_baseline(view, model, target, baseline)
                base = g.contrast(view, {b: 1.0}, level=level, ci_method=ci_method, variance=variance)
                for (m, intermediate), c in view.index.items():
                    if m != model or intermediate == baseline:
                        continue
                    score = g.contrast(view, {c: 1.0}, level=level, ci_method=ci_method, variance=variance)
                    gain = g.contrast(view, {c: 1.0, b: -1.0}, level=level, ci_method=ci_method, variance=variance)
                    row = {"model": model, "family": family[model], "intermediate": intermediate, "target": target}
                    if by == "language":
                        row["language"] = language
                    row |= _ci_columns("score", score) | _ci_columns("baseline_score", base) | _ci_columns("gain", gain)
                    row |= {
                        "gain_p": gain.p_value,
                        "n_seeds": int(view.k[c]),
                        "n_baseline_seeds": int(view.k[b]),
                        "ci_method": gain.interval.method,
                        "note": join_notes(score.interval.note, base.interval.note, gain.interval.note),
                    }
                    rows.append(row)
    where = (
        "per model, target and language"
        if by == "language"
        else "per model and target (mean over the target's languages)"
    )
    description = (
        f"Gain in score of each intermediate task over no intermediate training ({baseline!r}), "
        f"{where}, with {uncertainty_words(level, ci_method, with_examples)}."
    )
    return GainTable(description, pd.DataFrame(rows), by, level, ci_method)


@dataclass(frozen=True)
class GapTable:
    """One row per (model, intermediate, target): English score, zero-shot mean, their gap, and
    (for non-baseline conditions) the change of the gap relative to the baseline."""

    description: str
    frame: pd.DataFrame
    level: float
    ci_method: str
    notes: tuple[str, ...] = ()


def transfer_gap_table(
    scores: pd.DataFrame,
    examples: ExampleScores | None = None,
    *,
    english: str = "en",
    baseline: str = BASELINE,
    targets: Sequence[str] | None = None,
    level: float = 0.95,
    ci_method: str = "t",
    variance: str = "pooled",
    n_boot: int = 1000,
    seed: int = 0,
) -> GapTable:
    """English score minus the mean zero-shot (non-English) score, per model, intermediate and
    target, with intervals; `gap_change` is the condition's gap minus the baseline's gap.

    Targets without an English test set, or with no other language, are listed in `notes` and
    skipped. Columns: model, family, intermediate, target, english/_low/_high,
    zero_shot/_low/_high, gap/_low/_high, gap_change/_low/_high (NaN for the baseline row, which
    the note says), n_seeds, ci_method, note.
    """
    g.check_options(ci_method, variance, level)
    df = validate_scores(scores)
    rows, notes, with_examples = [], [], False
    for target in select_targets(df, targets):
        langs = sorted(df.loc[df["target"] == target, "language"].unique())
        if english not in langs or len(langs) < 2:
            notes.append(f"target {target!r} skipped: needs {english!r} and at least one other language")
            continue
        grid = g.target_grid(df, target, examples, n_boot=n_boot, seed=seed)
        with_examples |= grid.replicates is not None
        n = len(grid.languages)
        en = grid.languages.index(english)
        zero_shot = np.where(np.arange(n) == en, 0.0, 1.0 / (n - 1))
        views = {
            "english": g.cell_view(grid, g.unit_weights(n, en)),
            "zero_shot": g.cell_view(grid, zero_shot),
            "gap": g.cell_view(grid, g.unit_weights(n, en) - zero_shot),
        }
        family = dict(zip(grid.runs["model"], grid.runs["family"], strict=False))
        gap_view = views["gap"]
        for (model, intermediate), c in gap_view.index.items():
            row: dict[str, object] = {
                "model": model,
                "family": family[model],
                "intermediate": intermediate,
                "target": target,
            }
            results = {
                name: g.contrast(v, {c: 1.0}, level=level, ci_method=ci_method, variance=variance)
                for name, v in views.items()
            }
            for name, res in results.items():
                row |= _ci_columns(name, res)
            change_note = ""
            if intermediate == baseline:
                row |= {"gap_change": np.nan, "gap_change_low": np.nan, "gap_change_high": np.nan}
                change_note = "baseline row: no gap change"
            else:
                b = require_baseline(gap_view, model, target, baseline)
                change = g.contrast(gap_view, {c: 1.0, b: -1.0}, level=level, ci_method=ci_method, variance=variance)
                row |= _ci_columns("gap_change", change)
                change_note = change.interval.note
            row |= {
                "n_seeds": int(gap_view.k[c]),
                "ci_method": results["gap"].interval.method,
                "note": join_notes(*(r.interval.note for r in results.values()), change_note),
            }
            rows.append(row)
    description = (
        "Gap between the English score and the mean zero-shot score over the other languages, "
        "and its change relative to no intermediate training, "
        f"with {uncertainty_words(level, ci_method, with_examples)}."
    )
    return GapTable(description, pd.DataFrame(rows), level, ci_method, tuple(notes))
