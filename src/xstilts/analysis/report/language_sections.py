"""Sections on languages: per-language scores and gains, gains against distance from English, the layer sweep."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from xstilts.analysis.plots import language_bars, layer_sweep
from xstilts.analysis.report.data import ReportData
from xstilts.analysis.report.display import (
    Section,
    Table,
    add_figure,
    condition_order,
    interval_cell,
    language_order,
    number_cell,
    p_cell,
    slug,
    sort_rows,
    target_order,
)
from xstilts.analysis.report.options import ReportOptions
from xstilts.analysis.report.statistics import Analysis, holm_column
from xstilts.analysis.report.summary import SLOPE_MIN_LANGUAGES, SLOPE_MIN_SEEDS, slope_gate
from xstilts.analysis.scores import BASELINE
from xstilts.errors import DataError


def _bars_target(data: ReportData, a: Analysis) -> str | None:
    if a.options.bars_target:
        if a.options.bars_target not in set(data.scores["target"]):
            raise DataError(
                f"--bars-target {a.options.bars_target!r} has no scores; targets with scores: {sorted(set(data.scores['target']))}"
            )
        return a.options.bars_target
    multi = data.scores.groupby("target")["language"].nunique()
    with_en = set(data.scores.loc[data.scores["language"] == "en", "target"])
    for t in data.targets:
        if multi.get(t, 0) > 1 and t in with_en:
            return t
    return next((t for t in data.targets if multi.get(t, 0) > 1), None)


def language_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Languages")
    target = _bars_target(data, a)
    if target is not None:
        bars = _language_scores(data, a, target)
        chance = data.scores[data.scores["target"] == target].groupby("language")["chance"].mean().dropna()
        langs = language_order(data, bars["language"])
        conds = condition_order(data, bars["intermediate"])
        bars = bars.assign(
            model=pd.Categorical(bars["model"], [m for m in data.models if m in set(bars["model"])], ordered=True)
        ).sort_values("model")
        bars["model"] = bars["model"].astype(str)
        add_figure(
            sec,
            a.options,
            f"languages-{slug(target)}",
            f"{target}: score per language and condition (dotted: chance)",
            lambda: language_bars(
                bars, title=f"{target}: score per language", languages=langs, conditions=conds, chance=chance
            ),
        )
    meta = data.language_metadata
    if meta is not None and not meta.empty:
        shown = meta.set_index("language").loc[language_order(data, meta["language"])].reset_index()
        shown["distance"] = shown["distance"].map(lambda v: number_cell(v, 1))
        sec.blocks.append(Table("Language metadata (xstilts.languages)", shown.loc[:, (shown != "").any(axis=0)]))
    gate_words = (
        f" '*' marks slopes whose Holm-adjusted p is below {a.options.alpha:g} with at least {SLOPE_MIN_LANGUAGES} "
        f"zero-shot languages and {SLOPE_MIN_SEEDS} seeds; other slopes are descriptive."
    )
    if a.relation is not None:
        sec.blocks.append(a.relation.description + gate_words)
        sec.blocks.append(Table("Gain against distance from English", _relation_display(data, a.relation.frame, a)))
    if a.divergence_relation is not None:
        sec.blocks.append(a.divergence_relation.description + gate_words)
        sec.blocks.append(
            Table(
                "Encoder-minus-decoder difference against distance from English",
                _relation_display(data, a.divergence_relation.frame, a),
            )
        )
    for t in a.groups:
        sec.blocks.append(t.description)
        f = sort_rows(data, t.frame)
        sec.blocks.append(
            Table(
                f"Gain by {t.column}",
                pd.DataFrame(
                    {
                        **{c: f[c] for c in ("model", "intermediate", "target", t.column)},
                        "gain": [interval_cell(*r, sign=True) for r in f[["mean", "low", "high"]].to_numpy()],
                        "languages": f["languages"],
                        "note": f["note"],
                    }
                ),
            )
        )
    if "language" in a.errors:
        sec.blocks.append(f"Gains are not related to language metadata: {a.errors['language']}.")
    return sec


def _relation_display(data: ReportData, frame: pd.DataFrame, a: Analysis) -> pd.DataFrame:
    f = sort_rows(data, frame)
    f = holm_column(f, "slope_p")
    keys = {c: f[c] for c in ("model", "intermediate", "target") if c in f}
    gate = slope_gate(a, f) if len(f) else np.zeros(0, dtype=bool)
    star = (f["slope_p_holm"] < a.options.alpha).fillna(False).to_numpy(dtype=bool) & gate
    return pd.DataFrame(
        {
            **keys,
            "languages": f["n_languages"],
            "slope per unit": [
                interval_cell(r.slope, r.slope_low, r.slope_high, sign=True, star=bool(s))
                for r, s in zip(f.itertuples(), star, strict=True)
            ],
            "p": f["slope_p"].map(p_cell),
            "p_holm": f["slope_p_holm"].map(p_cell),
            "Pearson r": f["pearson"].map(lambda v: number_cell(v, 2, True)),
            "Spearman": f["spearman"].map(lambda v: number_cell(v, 2, True)),
            "note": f["note"],
        }
    )


def _language_scores(data: ReportData, a: Analysis, target: str) -> pd.DataFrame:
    """Per (model, intermediate, language) of one target: seed-mean score with the interval of the
    per-language gain table where there is one."""
    part = data.scores[data.scores["target"] == target]
    means = part.groupby(["model", "intermediate", "language"], sort=False)["score"].mean().reset_index()
    means["low"], means["high"] = np.nan, np.nan
    if a.language_gains is not None and not a.language_gains.frame.empty:
        lg = a.language_gains.frame[a.language_gains.frame["target"] == target]
        bounds = {}
        for r in lg.itertuples():
            bounds[(r.model, r.intermediate, r.language)] = (r.score_low, r.score_high)
            bounds[(r.model, BASELINE, r.language)] = (r.baseline_score_low, r.baseline_score_high)
        for i, r in means.iterrows():
            low, high = bounds.get((r["model"], r["intermediate"], r["language"]), (np.nan, np.nan))
            means.loc[i, ["low", "high"]] = [low, high]
    return means


def per_language_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Per-language tables")
    sec.blocks.append(
        "Scores (mean over seeds) and gains over no intermediate training per language, with intervals. Chance in the last row of each score table."
    )
    s = data.scores
    for model in [m for m in data.models if m in set(s["model"])]:
        for target in target_order(data, s.loc[s["model"] == model, "target"]):
            part = s[(s["model"] == model) & (s["target"] == target)]
            langs = language_order(data, part["language"])
            table = (
                part.groupby(["intermediate", "language"])["score"]
                .mean()
                .unstack("language")
                .reindex(index=condition_order(data, part["intermediate"]), columns=langs)
            )
            shown = table.map(number_cell).reset_index()
            chance = part.groupby("language")["chance"].mean().reindex(langs)
            if chance.notna().any():
                shown.loc[len(shown)] = ["(chance)", *chance.map(number_cell)]
            sec.blocks.append(Table(f"{model} - {target}: score per language", shown))
            if a.language_gains is not None:
                lg = a.language_gains.frame
                lg = lg[(lg["model"] == model) & (lg["target"] == target)]
                if not lg.empty:
                    rows = []
                    for cond in condition_order(data, lg["intermediate"]):
                        row = {"intermediate": cond}
                        for lang in langs:
                            hit = lg[(lg["intermediate"] == cond) & (lg["language"] == lang)]
                            row[lang] = (
                                interval_cell(*hit[["gain", "gain_low", "gain_high"]].iloc[0], sign=True) if len(hit) else ""
                            )
                        rows.append(row)
                    sec.blocks.append(Table(f"{model} - {target}: gain per language", pd.DataFrame(rows)))
    return sec


def layer_section(data: ReportData, options: ReportOptions) -> Section | None:
    sweep = data.layer_sweep
    if sweep is None or sweep.empty:
        return None
    sec = Section("Layer sweep (retrieval)")
    sec.blocks.append(
        "Retrieval score when the sentence embedding is taken from each layer (thin lines: languages; bold: their mean). "
        "Decoders have no established retrieval layer, so the sweep shows where each family's cross-lingual alignment peaks."
    )
    for (target, intermediate), part in sweep.groupby(["target", "intermediate"], sort=False):
        name = f"layers-{slug(str(target))}-{slug(str(intermediate))}"
        add_figure(
            sec,
            options,
            name,
            f"{target}, intermediate {intermediate}: score by layer",
            partial(layer_sweep, part, title=f"{target} (intermediate: {intermediate}): score by layer"),
        )
    return sec
