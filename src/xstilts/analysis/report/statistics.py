"""Every statistic of the report (Analysis), computed once from the ReportData."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import numpy as np
import pandas as pd

import xstilts.analysis.grid as g
from xstilts.analysis.divergence import (
    DivergenceTable,
    InteractionTable,
    MixedModelResult,
    RankAgreementTable,
    add_corrections,
    divergence_table,
    family_label_test,
    family_rank_agreement,
    interaction_tests,
    mixed_model_interaction,
)
from xstilts.analysis.gains import GainTable, GapTable, gain_table, transfer_gap_table
from xstilts.analysis.language import (
    LanguageGroupTable,
    LanguageRelationTable,
    language_group_table,
    language_relation,
)
from xstilts.analysis.report.conditions import KIND_LABEL, Condition
from xstilts.analysis.report.data import SCORE_COLUMNS, ReportData
from xstilts.analysis.report.options import IntervalOptions, ReportOptions
from xstilts.analysis.report.suite_tables import benchmark_tables
from xstilts.analysis.scores import BASELINE, FAMILIES, validate_scores
from xstilts.analysis.stats import holm
from xstilts.errors import DataError

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


_T = TypeVar("_T")
_Table = TypeVar("_Table", bound="DataclassInstance")

log = logging.getLogger(__name__)


@dataclass
class Analysis:
    """Every statistic of the report; a None entry was not computable and `errors` says why."""

    options: ReportOptions
    df: pd.DataFrame  # the analysable scores (contract columns)
    examples: dict
    seeds: dict[tuple[str, str, str], int]  # (model, intermediate, target) -> number of seeds
    notes: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)
    score_ci: pd.DataFrame | None = None
    gains: GainTable | None = None  # frame with p_holm and p_bh added
    gaps: GapTable | None = None
    divergence: DivergenceTable | None = None
    interactions: InteractionTable | None = None
    mixed: pd.DataFrame | None = None
    mixed_results: list[MixedModelResult] = field(default_factory=list)
    ranks: RankAgreementTable | None = None  # frame with spearman_p_holm added
    family_label: pd.DataFrame | None = None
    language_gains: GainTable | None = None  # by language
    relation: LanguageRelationTable | None = None  # gains on distance
    divergence_relation: LanguageRelationTable | None = None
    groups: list[LanguageGroupTable] = field(default_factory=list)
    variants: pd.DataFrame | None = None
    benchmarks: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def both_families(self) -> bool:
        return set(self.df["family"]) >= set(FAMILIES)

    def min_seeds(self, cells: Iterable[tuple[str, str, str]]) -> int:
        """The fewest seeds of the (model, intermediate, target) cells; 0 for a cell without runs."""
        return min((self.seeds.get(c, 0) for c in cells), default=0)


def _attempt(analysis: Analysis, key: str, compute: Callable[[], _T]) -> _T | None:
    try:
        return compute()
    except (DataError, ValueError) as err:
        analysis.errors[key] = str(err)
        log.info("report: %s not computed: %s", key, err)
        return None


def analysable(data: ReportData, options: ReportOptions) -> tuple[pd.DataFrame, pd.DataFrame, dict, list[str]]:
    """(scores usable for score intervals, scores usable for gains, per-example scores, notes).

    Targets whose runs disagree on languages are dropped; gains need the baseline, so a model's
    target without baseline runs is left out of the gain statistics; per-example scores that do
    not fit (other examples, other scale) are dropped per target."""
    df = validate_scores(data.scores[SCORE_COLUMNS])
    notes: list[str] = []
    examples = dict(data.examples)
    for target in list(dict.fromkeys(df["target"])):
        part = df[df["target"] == target]
        try:
            g.target_grid(part, target)
        except DataError as err:
            notes.append(f"target {target!r} left out of the statistics: {err}")
            df = df[df["target"] != target]
            continue
        if examples:
            try:
                g.target_grid(part, target, examples, n_boot=2)
            except DataError as err:
                notes.append(f"per-example scores of {target!r} not used: {err}")
                examples = {k: v for k, v in examples.items() if k[2] != target}
    has_baseline = set(
        map(tuple, df.loc[df["intermediate"] == BASELINE, ["model", "target"]].drop_duplicates().to_numpy())
    )
    pairs = df[["model", "target"]].apply(tuple, axis=1)
    without = sorted(set(pairs) - has_baseline)
    if without:
        notes.append(
            "no baseline ('none') runs yet for "
            + ", ".join(f"{m} on {t}" for m, t in without)
            + ": their gains are not computed"
        )
    with_baseline = df[pairs.isin(has_baseline)].reset_index(drop=True)
    return df.reset_index(drop=True), with_baseline, examples, notes


def score_intervals(df: pd.DataFrame, examples: dict, intervals: IntervalOptions) -> pd.DataFrame:
    """Score of every (model, intermediate, target) cell, mean over languages and seeds, with the
    interval method of the gain table."""
    rows = []
    for target in dict.fromkeys(df["target"]):
        grid = g.target_grid(df, target, examples or None, n_boot=intervals.n_boot, seed=intervals.seed)
        view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
        for (model, intermediate), c in view.index.items():
            res = g.contrast(view, {c: 1.0}, level=intervals.level, ci_method=intervals.ci_method, variance="pooled")
            rows.append(
                {
                    "model": model,
                    "intermediate": intermediate,
                    "target": target,
                    "score": res.estimate,
                    "low": res.interval.low,
                    "high": res.interval.high,
                    "n_seeds": int(view.k[c]),
                    "note": res.interval.note,
                }
            )
    return pd.DataFrame(rows)


def analyse(data: ReportData, options: ReportOptions | None = None) -> Analysis:
    options = options or ReportOptions()
    intervals = options.intervals
    all_df, df, examples, notes = analysable(data, options)
    seeds = {k: int(v) for k, v in all_df.groupby(["model", "intermediate", "target"])["seed"].nunique().items()}
    a = Analysis(options, df, examples, seeds, notes=list(data.notes) + notes)
    ex = examples or None
    if all_df.empty:
        a.errors["scores"] = "no target has usable scores"
        return a
    a.score_ci = _attempt(a, "scores", lambda: score_intervals(all_df, examples, intervals))
    a.benchmarks = _attempt(a, "benchmarks", lambda: benchmark_tables(data)) or {}
    if df.empty:
        a.errors["gains"] = "no model has baseline ('none') runs yet: gains need them"
        return a
    gains = _attempt(a, "gains", lambda: gain_table(df, ex, **intervals.as_kwargs()))
    if gains is not None and not gains.frame.empty:
        gains = _replace_frame(gains, add_corrections(gains.frame, "gain_p"))
    a.gains = gains
    a.gaps = _attempt(a, "gaps", lambda: transfer_gap_table(df, ex, **intervals.as_kwargs()))
    multi_language = df.groupby("target")["language"].nunique().max() > 1
    if multi_language:
        a.language_gains = _attempt(
            a, "language gains", lambda: gain_table(df, ex, by="language", **intervals.as_kwargs())
        )
    a.variants = _attempt(a, "variants", lambda: variant_table(df, ex, data.conditions, a.gains, intervals))
    if a.both_families:
        _analyse_families(a, ex)
    _analyse_languages(a, data, ex)
    return a


def _analyse_families(a: Analysis, examples: dict | None) -> None:
    """The encoder-decoder statistics: divergence table, interaction tests, rank agreement, mixed
    models (with more than one seed) and family-label tests (with more than one model per family)."""
    df, options = a.df, a.options
    a.divergence = _attempt(a, "divergence", lambda: divergence_table(df, examples, **options.intervals.as_kwargs()))
    a.interactions = _attempt(
        a, "interaction", lambda: interaction_tests(df, n_permutations=options.n_permutations, seed=options.seed)
    )
    ranks = _attempt(
        a,
        "ranks",
        lambda: family_rank_agreement(df, n_permutations=min(options.n_permutations, 9999), seed=options.seed),
    )
    if ranks is not None and not ranks.frame.empty:
        ranks = _replace_frame(ranks, holm_column(ranks.frame, "spearman_p"))
    a.ranks = ranks
    if max(a.seeds.values()) > 1:
        _analyse_mixed_models(a)
    per_family = df.drop_duplicates("model").groupby("family")["model"].nunique()
    if per_family.max() > 1:
        _analyse_family_labels(a)


def _analyse_mixed_models(a: Analysis) -> None:
    df = a.df
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # singular fits are reported in the result's note
        a.mixed_results = [
            r
            for t in dict.fromkeys(df["target"])
            if (r := _attempt(a, f"mixed model {t}", partial(mixed_model_interaction, df, t, level=a.options.level)))
            is not None
        ]
    if a.mixed_results:
        a.mixed = holm_column(
            pd.DataFrame(
                [
                    {
                        "target": r.target,
                        "wald": r.wald_statistic,
                        "df": r.df,
                        "p_value": r.p_value,
                        "converged": r.converged,
                        "note": r.note,
                    }
                    for r in a.mixed_results
                ]
            ),
            "p_value",
        )


def _analyse_family_labels(a: Analysis) -> None:
    df = a.df
    tests = [
        test
        for t in dict.fromkeys(df["target"])
        if (test := _attempt(a, f"family labels {t}", partial(family_label_test, df, t))) is not None
    ]
    a.family_label = pd.DataFrame(
        [
            {
                "target": r.target,
                "statistic": r.statistic,
                "p_value": r.p_value,
                "labelings": r.n_labelings,
                "min_p": r.min_attainable_p,
                "note": r.note,
            }
            for r in tests
        ]
    )


def _analyse_languages(a: Analysis, data: ReportData, examples: dict | None) -> None:
    """Gains against the languages' metadata: slopes over distance from English where every
    zero-shot language has one, else gains grouped by relation to English and script."""
    meta = data.language_metadata
    if a.language_gains is None or meta is None or meta.empty:
        return
    gains_by_language = a.language_gains.frame
    zero_shot = sorted(set(a.df["language"]) - {"en"})
    known = meta.set_index("language").reindex(zero_shot)
    if zero_shot and known["distance"].notna().all():
        _analyse_distance(a, gains_by_language, meta, examples)
    elif zero_shot and known["relation"].notna().all():
        for column in ("relation", "same_script"):
            table = _attempt(
                a,
                f"language groups {column}",
                partial(
                    language_group_table, gains_by_language, meta, value="gain", column=column, level=a.options.level
                ),
            )
            if table is not None:
                a.groups.append(table)
    else:
        a.errors["language"] = "no metadata (xstilts.languages) for languages " + ", ".join(
            sorted(set(zero_shot) - set(meta["language"]))
        )


def _analyse_distance(a: Analysis, gains_by_language: pd.DataFrame, meta: pd.DataFrame, examples: dict | None) -> None:
    """Gains, and with both families the encoder-minus-decoder differences, against distance from English."""
    df, options = a.df, a.options
    n_permutations = min(options.n_permutations, 9999)
    a.relation = _attempt(
        a,
        "distance",
        lambda: language_relation(
            gains_by_language,
            meta,
            value="gain",
            column="distance",
            level=options.level,
            n_permutations=n_permutations,
            seed=options.seed,
        ),
    )
    if not a.both_families:
        return
    div_lang = _attempt(
        a,
        "divergence by language",
        lambda: divergence_table(df, examples, by="language", **options.intervals.as_kwargs()),
    )
    if div_lang is not None and not div_lang.frame.empty:  # empty: no intermediate task ran
        a.divergence_relation = _attempt(
            a,
            "divergence distance",
            lambda: language_relation(
                div_lang.frame.dropna(subset=["difference"]),
                meta,
                value="difference",
                column="distance",
                by=("intermediate", "target"),
                level=options.level,
                n_permutations=n_permutations,
                seed=options.seed,
            ),
        )


def _replace_frame(table: _Table, frame: pd.DataFrame) -> _Table:
    return replace(table, frame=frame)


def holm_column(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    frame = frame.copy()
    frame[f"{column}_holm"] = np.nan
    ok = np.isfinite(frame[column].to_numpy(dtype=float))
    if ok.any():
        frame.loc[ok, f"{column}_holm"] = holm(frame.loc[ok, column].to_numpy(dtype=float))
    return frame


def variant_table(
    df: pd.DataFrame,
    examples: dict | None,
    conditions: dict[str, Condition],
    gains: GainTable | None,
    intervals: IntervalOptions,
) -> pd.DataFrame | None:
    """Each LM-mixing / translated-data variant against the plain English condition with the same
    tasks: both gains over no intermediate training and the variant-minus-plain difference."""
    variants = [
        c
        for c in conditions.values()
        if c.kind in ("lm_mix", "translated") and c.base and c.name in set(df["intermediate"])
    ]
    if not variants:
        return None
    gain_of = {}
    if gains is not None:
        gain_of = {(r.model, r.intermediate, r.target): r for r in gains.frame.itertuples()}
    rows = []
    for v in variants:
        sub = df[df["intermediate"].isin([v.base, v.name])]
        both = sub.groupby(["model", "target"])["intermediate"].nunique()
        pairs = set(both[both == 2].index)
        sub = sub[sub[["model", "target"]].apply(tuple, axis=1).isin(pairs)]
        if sub.empty:
            continue
        assert v.base is not None  # variants without a base were filtered out above
        table = gain_table(sub, examples, baseline=v.base, **intervals.as_kwargs())
        for r in table.frame.itertuples():
            plain, variant = gain_of.get((r.model, v.base, r.target)), gain_of.get((r.model, v.name, r.target))
            rows.append(
                {
                    "model": r.model,
                    "target": r.target,
                    "plain": v.base,
                    "variant": v.name,
                    "kind": KIND_LABEL[v.kind],
                    "detail": v.detail,
                    "plain_gain": getattr(plain, "gain", np.nan),
                    "plain_low": getattr(plain, "gain_low", np.nan),
                    "plain_high": getattr(plain, "gain_high", np.nan),
                    "variant_gain": getattr(variant, "gain", np.nan),
                    "variant_low": getattr(variant, "gain_low", np.nan),
                    "variant_high": getattr(variant, "gain_high", np.nan),
                    "difference": r.gain,
                    "difference_low": r.gain_low,
                    "difference_high": r.gain_high,
                    "p_value": r.gain_p,
                    "n_seeds": min(r.n_seeds, r.n_baseline_seeds),
                    "note": r.note,
                }
            )
    if not rows:
        return None
    return add_corrections(pd.DataFrame(rows), "p_value")
