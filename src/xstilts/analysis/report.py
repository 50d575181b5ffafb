"""The report: does transfer diverge between encoder-only and decoder-only models?

`write_report(store_path, out_dir)` reads the results store (plus the evaluate stages' prediction
files beside it, for per-example intervals) and writes `report.md`, a self-contained `report.html`
(figures embedded), `summary.json` (the generated findings) and `figures/*.png|svg`. It works on
a partial grid (listing what is missing) and on any mix of model families.

Pieces, each usable alone:
  load_store_data / frame_data   the scores (store or a DataFrame, e.g. `simulate_grid`) as ReportData
  analyse                        every statistic of the report (Analysis), computed once
  findings                       the generated summary: one Finding per statement
  build_sections                 tables and figures
  to_markdown / to_html          rendering

Conventions read from the store
  conditions  a condition whose spec has `lm_mix` or `translated` is a baseline variant of the
              plain English condition with the same tasks (the spec is in the stages' description
              as `condition_spec`; older stores: names like "mlm-mix:mnli" or "translated:mnli");
  layer sweep non-primary scores whose metric is named "<metric>@layer<k>" (k = index into the
              hidden states) are a layer sweep; the report plots them when present.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import re
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import pandas as pd

from xstilts.analysis import grid as g
from xstilts.analysis.scores import BASELINE, FAMILIES, validate_scores
from xstilts.errors import DataError, XStiltsError
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_bytes, atomic_write_text, read_jsonl

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from xstilts.analysis.divergence import DivergenceTable, InteractionTable, MixedModelResult, RankAgreementTable
    from xstilts.analysis.gains import GainTable, GapTable
    from xstilts.analysis.language import LanguageGroupTable, LanguageRelationTable

_T = TypeVar("_T")
_Table = TypeVar("_Table", bound="DataclassInstance")

log = logging.getLogger(__name__)

SCORE_COLUMNS = ["model", "family", "intermediate", "target", "language", "seed", "score"]
LAYER_METRIC = re.compile(r"^(?P<metric>.+)@layer(?P<layer>\d+)$")
DEFAULT_SPLIT_NOTE = (
    "XTREME's public test sets have no labels, so xstilts evaluates on dev/validation unless the spec names a split"
)


# ==================================================================================================
# Options
# ==================================================================================================
@dataclass(frozen=True)
class ReportOptions:
    per_language: bool = False  # per-language score and gain tables for every model and target
    bars_target: str | None = None  # target of the per-language bar chart (default: the first with English)
    level: float = 0.95
    alpha: float = 0.05  # significance level after correction
    ci_method: str = "t"  # "t" or "hierarchical" (see analysis.grid)
    n_permutations: int = 4999
    n_boot: int = 1000
    seed: int = 0
    title: str | None = None
    figures: bool = True  # False: tables only (faster)


# ==================================================================================================
# Conditions: plain English intermediate training and its baseline variants
# ==================================================================================================
ConditionKind = str  # "baseline" | "english" | "lm_mix" | "translated"
_VARIANT_NAME = re.compile(
    r"^(?P<kind>(?:m|c)?lm[-_]?mix|translated|translate[-_]?train|mt)[:/](?P<base>.+)$", re.IGNORECASE
)


@dataclass(frozen=True)
class Condition:
    name: str
    kind: ConditionKind
    tasks: tuple[str, ...] = ()
    base: str | None = None  # variants: the plain English condition they are compared with
    detail: str = ""


def classify_conditions(names: Sequence[str], specs: dict[str, dict] | None = None) -> dict[str, Condition]:
    """Condition name -> Condition, from the condition specs where known, else from the name."""
    specs = specs or {}
    out: dict[str, Condition] = {}
    for name in names:
        spec = specs.get(name)
        if name == BASELINE or (spec is not None and not spec.get("tasks")):
            out[name] = Condition(name, "baseline")
            continue
        if spec is not None:
            tasks = tuple(spec.get("tasks") or ())
            if spec.get("lm_mix"):
                mix = spec["lm_mix"]
                out[name] = Condition(
                    name,
                    "lm_mix",
                    tasks,
                    detail=f"LM steps {mix.get('ratio', '?')} of training, corpus {mix.get('corpus', '?')}",
                )
            elif spec.get("translated"):
                out[name] = Condition(
                    name, "translated", tasks, detail="translated into " + ", ".join(spec["translated"])
                )
            else:
                out[name] = Condition(name, "english", tasks)
            continue
        match = _VARIANT_NAME.match(name)
        if match:
            kind = "lm_mix" if "mix" in match["kind"].lower() else "translated"
            out[name] = Condition(
                name, kind, (match["base"],), base=match["base"], detail="(from the condition's name)"
            )
        else:
            out[name] = Condition(name, "english", (name,))
    plain = {frozenset(c.tasks): c.name for c in out.values() if c.kind == "english"}
    for name, c in out.items():
        if c.kind in ("lm_mix", "translated"):
            base = plain.get(frozenset(c.tasks)) or (
                c.base if c.base in out and out[c.base].kind == "english" else None
            )
            out[name] = Condition(c.name, c.kind, c.tasks, base, c.detail)
    return out


KIND_LABEL = {
    "baseline": "no intermediate task",
    "english": "English intermediate task",
    "lm_mix": "with LM mixing",
    "translated": "translated data",
}


# ==================================================================================================
# Data
# ==================================================================================================
@dataclass
class ReportData:
    """Everything the report reads. `scores` follows the analysis contract (analysis.scores) plus
    metric, chance, split, model_path; `metrics` holds every metric (for XTREME scores)."""

    scores: pd.DataFrame
    metrics: pd.DataFrame
    examples: dict
    conditions: dict[str, Condition]
    models: list[str]
    targets: list[str]
    source: str
    spec: str | None = None
    cells: pd.DataFrame | None = None  # grid status, from a store
    layer_sweep: pd.DataFrame | None = None
    language_metadata: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    gaps: pd.DataFrame | None = None  # languages evaluate stages could not score (store.gaps_frame + present)
    flags: pd.DataFrame | None = None  # flags of finished stages, e.g. not_learned (store.flags_frame)

    @property
    def family_of(self) -> dict[str, str]:
        return dict(zip(self.scores["model"], self.scores["family"], strict=False))

    @property
    def ordered_conditions(self) -> list[str]:
        rank = {"baseline": 0, "english": 1, "lm_mix": 2, "translated": 3}
        names = list(self.conditions)
        return sorted(names, key=lambda n: (rank[self.conditions[n].kind], names.index(n)))


def _ordered(values: Iterable[str], first: Sequence[str] = ()) -> list[str]:
    seen = list(dict.fromkeys(str(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))))
    return [v for v in first if v in seen] + [v for v in seen if v not in first]


def _family_from_path(path: str | None) -> str | None:
    if path in ("synthetic:encoder", "synthetic:decoder"):
        return path.split(":", 1)[1]
    return None


def load_store_data(store_path: Path, spec: str | None = None) -> ReportData:
    """Read the primary scores, all metrics, grid status and condition specs of a results store."""
    store_path = Path(store_path)
    if not store_path.exists():
        raise DataError(f"{store_path}: no results store here (run the experiment first)")
    store = ResultsStore.open_readonly(store_path)
    try:
        specs = store.spec_names()
        if spec is None and len(specs) > 1:
            raise DataError(f"{store_path}: holds several specs {specs}; choose one with --spec")
        if spec is not None and spec not in specs:
            raise DataError(f"{store_path}: no spec {spec!r}; the store has {specs}")
        spec = spec or (specs[0] if specs else None)
        raw = store.scores_frame(spec)
        cells = store.cells_frame(spec)
        descriptions = {s.id: s.description for s in store.stages()}
        gaps, flags = _gaps_and_flags(store, spec, raw)
    finally:
        store.close()
    if raw.empty:
        raise DataError(
            f"{store_path}: no scores yet"
            + (f" for spec {spec!r}" if spec else "")
            + " (no evaluate stage has finished)"
        )
    notes: list[str] = []
    raw = raw.rename(columns={"condition": "intermediate", "value": "score"})
    missing_family = raw["family"].isna()
    if missing_family.any():
        raw.loc[missing_family, "family"] = raw.loc[missing_family, "model_path"].map(_family_from_path)
        unknown = sorted(raw.loc[raw["family"].isna(), "model"].unique())
        if unknown:
            notes.append(f"models {unknown} have no recorded family and are left out")
            raw = raw[raw["family"].notna()]
    layer = raw["metric"].str.extract(LAYER_METRIC)
    is_sweep = layer["layer"].notna()
    sweep = None
    if is_sweep.any():
        sweep = raw[is_sweep].assign(
            layer=layer.loc[is_sweep, "layer"].astype(int), metric=layer.loc[is_sweep, "metric"]
        )
        sweep = sweep[["model", "family", "intermediate", "target", "language", "seed", "layer", "metric", "score"]]
    raw = raw[~is_sweep]
    primary = raw[raw["is_primary"] == 1]
    metrics = raw[["model", "intermediate", "target", "language", "seed", "metric", "score"]].copy()

    condition_specs: dict[str, dict] = {}
    for r in cells.itertuples():
        spec_of = (descriptions.get(r.stage_id) or {}).get("condition_spec")
        if spec_of is not None:
            condition_specs.setdefault(r.condition, spec_of)
    order_conditions = _ordered(cells["condition"], first=[BASELINE])
    conditions = classify_conditions(_ordered([*order_conditions, *primary["intermediate"]]), condition_specs)
    examples, example_notes = example_scores(primary, store_path.parent)
    notes += example_notes
    columns = [*SCORE_COLUMNS, "metric", "chance", "split", "model_path", "n_examples"]
    return ReportData(
        scores=primary[columns].reset_index(drop=True),
        metrics=metrics.reset_index(drop=True),
        examples=examples,
        conditions=conditions,
        models=_ordered([*cells["model"], *primary["model"]]),
        targets=_ordered([*cells["target"].dropna(), *primary["target"]]),
        source=f"results store {store_path}",
        spec=spec,
        cells=cells,
        layer_sweep=sweep,
        language_metadata=language_metadata(primary["language"].unique()),
        notes=notes,
        gaps=gaps,
        flags=flags,
    )


def _gaps_and_flags(store: ResultsStore, spec: str | None, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    from xstilts.experiments.gaps import with_present_languages

    gaps = store.gaps_frame(spec)
    return with_present_languages(gaps, scores), store.flags_frame(spec)


def frame_data(
    scores: pd.DataFrame,
    examples: dict | None = None,
    *,
    condition_specs: dict[str, dict] | None = None,
    metadata: pd.DataFrame | None = None,
    layer_sweep: pd.DataFrame | None = None,
    metrics: pd.DataFrame | None = None,
    source: str = "a score table",
) -> ReportData:
    """ReportData from a score table of the analysis contract (e.g. `simulate_grid(...).scores`);
    optional columns metric, chance, split, model_path, n_examples are filled when absent.
    `metrics` (model, intermediate, target, language, seed, metric, score) may add non-primary
    metrics, e.g. exact match for the XTREME QA headline."""
    df = validate_scores(scores)
    order = scores.drop_duplicates("model")
    for column, default in (
        ("metric", "score"),
        ("chance", np.nan),
        ("split", "unspecified"),
        ("model_path", None),
        ("n_examples", np.nan),
    ):
        if column not in df:
            df[column] = default
    metric_columns = ["model", "intermediate", "target", "language", "seed", "metric", "score"]
    all_metrics = df[metric_columns]
    if metrics is not None:
        all_metrics = pd.concat([all_metrics, metrics[metric_columns]]).drop_duplicates(
            metric_columns[:-1], keep="last"
        )
    names = _ordered(scores["intermediate"], first=[BASELINE])
    return ReportData(
        scores=df,
        metrics=all_metrics.reset_index(drop=True),
        examples=dict(examples or {}),
        conditions=classify_conditions(names, condition_specs),
        models=list(order["model"]),
        targets=_ordered(scores["target"]),
        source=source,
        layer_sweep=layer_sweep,
        language_metadata=metadata if metadata is not None else language_metadata(df["language"].unique()),
    )


def example_scores(frame: pd.DataFrame, root: Path) -> tuple[dict[tuple, np.ndarray], list[str]]:
    """Per-example scores from the evaluate stages' prediction files, for the targets where every
    run has them (a number per example, or [tp, fp, fn] for chunk F1)."""
    out: dict[tuple, np.ndarray] = {}
    lacking: list[str] = []
    for target, rows in frame.groupby("target", sort=False):
        arrays = {}
        for r in rows.itertuples():
            path = root / "stages" / r.stage_id / "predictions" / f"{r.language}.jsonl"
            if not path.exists():
                lacking.append(str(target))
                break
            values = [row.get("score") for row in read_jsonl(path)]
            if not values or any(v is None for v in values):
                lacking.append(str(target))
                break
            arrays[(r.model, r.intermediate, r.target, r.language, int(r.seed))] = np.asarray(values, dtype=float)
        else:
            out |= arrays
    notes = [f"no per-example scores for {', '.join(lacking)}: intervals there cover seeds only"] if lacking else []
    return out, notes


def language_metadata(codes: Iterable[str]) -> pd.DataFrame:
    """Metadata of the languages from xstilts.languages (unknown codes are left out), with
    `relation`: same genus as English / same family / other family, and `same_script`."""
    from xstilts.languages import LANGUAGES
    from xstilts.tasks import all_tasks

    all_tasks()  # registers the synthetic languages
    english = LANGUAGES["en"]
    rows = []
    for code in codes:
        lang = LANGUAGES.get(str(code))
        if lang is None:
            continue
        relation = (
            "same genus"
            if lang.genus == english.genus
            else "same family"
            if lang.family == english.family
            else "other family"
        )
        rows.append(
            {
                "language": lang.code,
                "name": lang.name,
                "family": lang.family,
                "genus": lang.genus,
                "script": lang.script,
                "same_script": "Latin script" if lang.script == english.script else "other script",
                "relation": relation,
                "distance": 0.0 if lang.code == "en" else lang.distance if lang.distance is not None else np.nan,
            }
        )
    return pd.DataFrame(
        rows, columns=["language", "name", "family", "genus", "script", "same_script", "relation", "distance"]
    )


# ==================================================================================================
# Statistics
# ==================================================================================================
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


def score_intervals(df: pd.DataFrame, examples: dict, options: ReportOptions) -> pd.DataFrame:
    """Score of every (model, intermediate, target) cell, mean over languages and seeds, with the
    interval method of the gain table."""
    rows = []
    for target in dict.fromkeys(df["target"]):
        grid = g.target_grid(df, target, examples or None, n_boot=options.n_boot, seed=options.seed)
        view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
        for (model, intermediate), c in view.index.items():
            res = g.contrast(view, {c: 1.0}, level=options.level, ci_method=options.ci_method, variance="pooled")
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
    from xstilts.analysis import (
        divergence_table,
        family_label_test,
        family_rank_agreement,
        gain_table,
        interaction_tests,
        language_group_table,
        language_relation,
        mixed_model_interaction,
        transfer_gap_table,
    )
    from xstilts.analysis.divergence import add_corrections

    options = options or ReportOptions()
    all_df, df, examples, notes = analysable(data, options)
    seeds = {k: int(v) for k, v in all_df.groupby(["model", "intermediate", "target"])["seed"].nunique().items()}
    a = Analysis(options, df, examples, seeds, notes=list(data.notes) + notes)
    common: dict[str, Any] = {"level": options.level, "ci_method": options.ci_method, "n_boot": options.n_boot, "seed": options.seed}
    ex = examples or None
    if all_df.empty:
        a.errors["scores"] = "no target has usable scores"
        return a
    a.score_ci = _attempt(a, "scores", lambda: score_intervals(all_df, examples, options))
    a.benchmarks = _attempt(a, "benchmarks", lambda: benchmark_tables(data)) or {}
    if df.empty:
        a.errors["gains"] = "no model has baseline ('none') runs yet: gains need them"
        return a
    gains = _attempt(a, "gains", lambda: gain_table(df, ex, **common))
    if gains is not None and not gains.frame.empty:
        gains = _replace_frame(gains, add_corrections(gains.frame, "gain_p"))
    a.gains = gains
    a.gaps = _attempt(a, "gaps", lambda: transfer_gap_table(df, ex, **common))
    multi_language = df.groupby("target")["language"].nunique().max() > 1
    if multi_language:
        a.language_gains = _attempt(a, "language gains", lambda: gain_table(df, ex, by="language", **common))
    a.variants = _attempt(a, "variants", lambda: variant_table(df, ex, data.conditions, a.gains, common))
    if a.both_families:
        a.divergence = _attempt(a, "divergence", lambda: divergence_table(df, ex, **common))
        a.interactions = _attempt(
            a, "interaction", lambda: interaction_tests(df, n_permutations=options.n_permutations, seed=options.seed)
        )
        ranks = _attempt(
            a,
            "ranks",
            lambda: family_rank_agreement(df, n_permutations=min(options.n_permutations, 9999), seed=options.seed),
        )
        if ranks is not None and not ranks.frame.empty:
            ranks = _replace_frame(ranks, _holm_column(ranks.frame, "spearman_p"))
        a.ranks = ranks
        if max(seeds.values()) > 1:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # singular fits are reported in the result's note
                a.mixed_results = [
                    r
                    for t in dict.fromkeys(df["target"])
                    if (
                        r := _attempt(
                            a, f"mixed model {t}", partial(mixed_model_interaction, df, t, level=options.level)
                        )
                    )
                    is not None
                ]
            if a.mixed_results:
                a.mixed = _holm_column(
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
        per_family = df.drop_duplicates("model").groupby("family")["model"].nunique()
        if per_family.max() > 1:
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
    meta = data.language_metadata
    if a.language_gains is not None and meta is not None and not meta.empty:
        gains_by_language = a.language_gains.frame
        zero_shot = sorted(set(df["language"]) - {"en"})
        known = meta.set_index("language").reindex(zero_shot)
        if zero_shot and known["distance"].notna().all():
            a.relation = _attempt(
                a,
                "distance",
                lambda: language_relation(
                    gains_by_language,
                    meta,
                    value="gain",
                    column="distance",
                    level=options.level,
                    n_permutations=min(options.n_permutations, 9999),
                    seed=options.seed,
                ),
            )
            if a.both_families:
                div_lang = _attempt(
                    a, "divergence by language", lambda: divergence_table(df, ex, by="language", **common)
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
                            n_permutations=min(options.n_permutations, 9999),
                            seed=options.seed,
                        ),
                    )
        elif zero_shot and known["relation"].notna().all():
            for column in ("relation", "same_script"):
                table = _attempt(
                    a,
                    f"language groups {column}",
                    partial(
                        language_group_table, gains_by_language, meta, value="gain", column=column, level=options.level
                    ),
                )
                if table is not None:
                    a.groups.append(table)
        else:
            a.errors["language"] = "no metadata (xstilts.languages) for languages " + ", ".join(
                sorted(set(zero_shot) - set(meta["language"]))
            )
    return a


def _replace_frame(table: _Table, frame: pd.DataFrame) -> _Table:
    from dataclasses import replace

    return replace(table, frame=frame)


def _holm_column(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    from xstilts.analysis import holm

    frame = frame.copy()
    frame[f"{column}_holm"] = np.nan
    ok = np.isfinite(frame[column].to_numpy(dtype=float))
    if ok.any():
        frame.loc[ok, f"{column}_holm"] = holm(frame.loc[ok, column].to_numpy(dtype=float))
    return frame


def variant_table(
    df: pd.DataFrame, examples: dict | None, conditions: dict[str, Condition], gains: GainTable | None, common: dict
) -> pd.DataFrame | None:
    """Each LM-mixing / translated-data variant against the plain English condition with the same
    tasks: both gains over no intermediate training and the variant-minus-plain difference."""
    from xstilts.analysis import gain_table
    from xstilts.analysis.divergence import add_corrections

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
        table = gain_table(sub, examples, baseline=v.base, **common)
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


# -- benchmark scores ------------------------------------------------------------------------------
def _task_benchmarks(target: str) -> tuple[str, ...]:
    from xstilts.tasks import get_task

    try:
        return tuple(get_task(target).benchmarks)
    except XStiltsError:
        return ()


def benchmark_tables(data: ReportData) -> dict[str, pd.DataFrame]:
    """Per benchmark, rows (model, intermediate) with the benchmark score and per-task headlines:
    the official XTREME / XTREME-R aggregation (xstilts.evaluation.aggregate) for real tasks, and
    a plain mean over tasks for the synthetic benchmark (and for targets of no benchmark)."""
    from xstilts.evaluation.aggregate import benchmark_score
    from xstilts.tasks.suites import canonical_task

    means = (
        data.metrics.assign(metric=data.metrics["metric"].replace({"map_at_20": "map@20"}))
        .groupby(["model", "intermediate", "target", "language", "metric"])["score"]
        .mean()
    )
    out: dict[str, pd.DataFrame] = {}
    members = {t: _task_benchmarks(t) for t in data.targets}
    cells = list(dict.fromkeys(zip(data.scores["model"], data.scores["intermediate"], strict=True)))
    cells.sort(
        key=lambda c: (
            data.models.index(c[0]) if c[0] in data.models else 99,
            data.ordered_conditions.index(c[1]) if c[1] in data.ordered_conditions else 99,
        )
    )
    for bench, label in (("xtreme", "XTREME"), ("xtreme-r", "XTREME-R")):
        tasks = [t for t in data.targets if bench in members[t]]
        if not tasks:
            continue
        rows = []
        for model, intermediate in cells:
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
            if not mapping:
                continue
            score = benchmark_score(mapping, bench, require_all_languages=False)
            row = {
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
            rows.append(row)
        if rows:
            out[label] = pd.DataFrame(rows)
    primary = (
        data.scores.groupby(["model", "intermediate", "target", "seed"], sort=False)["score"]
        .mean()
        .groupby(["model", "intermediate", "target"], sort=False)
        .mean()
    )
    gapped = _gapped_cells(data)
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


# Cells averaged over fewer languages than their task has: the column that lists them in a
# benchmark table (task columns, and "score" for the aggregate), shown as a "†" mark.
PARTIAL = "partial"
PARTIAL_MARK = " †"


def _gapped_cells(data: ReportData) -> set[tuple[str, str, str]]:
    """(model, intermediate, target) whose runs have recorded missing languages."""
    if data.gaps is None or data.gaps.empty:
        return set()
    return set(zip(data.gaps["model"], data.gaps["condition"], data.gaps["target"], strict=True))


# ==================================================================================================
# Findings: the generated summary
# ==================================================================================================
@dataclass(frozen=True)
class Finding:
    """One statement of the summary. Only statements with `significant=True` use the word
    "significant"; they hold after the multiple-comparison correction the text names."""

    topic: str
    text: str
    significant: bool = False


def _f(v: float, digits: int = 1, sign: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _p(p: float) -> str:
    """'= 0.012', '< 0.001' or '= n/a', to follow a p-value's name."""
    if p is None or not np.isfinite(p):
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _ci_words(low: float, high: float, level: float) -> str:
    return f"{100 * level:g}% CI {_f(low, sign=True)} to {_f(high, sign=True)}"


def _capped(findings: list[Finding], limit: int, topic: str, what: str) -> list[Finding]:
    if len(findings) <= limit:
        return findings
    return findings[:limit] + [
        Finding(topic, f"... and {len(findings) - limit} more {what} (see the tables)", findings[0].significant)
    ]


def findings(data: ReportData, a: Analysis) -> list[Finding]:
    out: list[Finding] = []
    out += _grid_findings(data)
    out += _coverage_findings(data)
    out += _answer_findings(data, a)
    out += _divergence_findings(a)
    out += _gain_findings(data, a)
    out += _variant_findings(a)
    out += _rank_findings(a)
    out += _language_findings(a)
    out += _gap_findings(data, a)
    out += _reference_findings(data, a)
    if not out:
        out.append(
            Finding("scores", f"Scores of {len(data.models)} models on {len(data.targets)} targets; see the tables.")
        )
    return out


def _grid_findings(data: ReportData) -> list[Finding]:
    if data.cells is None or data.cells.empty:
        return []
    evaluate = data.cells[data.cells["kind"] == "evaluate"]
    done = int((evaluate["status"] == "done").sum())
    if done == len(evaluate):
        return [Finding("grid", f"Complete grid: all {len(evaluate)} evaluation runs have scores.")]
    missing = evaluate[evaluate["status"] != "done"]
    what = ", ".join(sorted({f"{r.model}/{r.condition}/{r.target}" for r in missing.itertuples()})[:6])
    more = "" if len(missing) <= 6 else f" and {len(missing) - 6} more"
    return [
        Finding(
            "grid",
            f"Partial grid: {done} of {len(evaluate)} evaluation runs have scores; missing {what}{more}. "
            "Statistics use the runs present (see 'Missing from the grid').",
        )
    ]


def _coverage_findings(data: ReportData) -> list[Finding]:
    """Missing languages and stages that did not learn, in the summary."""
    out = []
    if data.gaps is not None and not data.gaps.empty:
        targets = sorted(set(data.gaps["target"].dropna()))
        runs = data.gaps["stage_id"].nunique()
        out.append(
            Finding(
                "gaps",
                f"{runs} evaluation run{'s' if runs > 1 else ''} of {', '.join(targets)} lack{'' if runs > 1 else 's'} languages "
                f"({', '.join(sorted(set(data.gaps['language'])))}): their averages cover fewer languages (see 'Missing languages').",
            )
        )
    if data.flags is not None and not data.flags.empty:
        flagged = data.flags[data.flags["flag"] == "not_learned"]
        if not flagged.empty:
            what = sorted({f"{r.model}/{r.condition}" + (f"/{r.target}" if isinstance(r.target, str) else "") for r in flagged.itertuples()})
            out.append(
                Finding(
                    "not learned",
                    f"{len(flagged)} training stage{'s' if len(flagged) > 1 else ''} did not learn (English dev at chance "
                    f"or majority-class level): {', '.join(what[:6])}{' ...' if len(what) > 6 else ''}; "
                    "check the learning rate and steps (see 'Stages that did not learn').",
                )
            )
    return out


def _answer_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.df.empty:
        return [
            Finding(
                "interaction",
                "No model has baseline (no intermediate training) runs yet, so no gain and no divergence can be assessed.",
            )
        ]
    families = sorted(set(a.df["family"]))
    if set(families) < set(FAMILIES):
        present = families[0]
        return [
            Finding(
                "interaction",
                f"Only {present} models have scores with a baseline so far: whether transfer diverges between "
                "encoder-only and decoder-only models cannot be assessed yet.",
            )
        ]
    if a.interactions is None:
        return [
            Finding(
                "interaction",
                f"The interaction test was not computed: {a.errors.get('interaction', 'unknown reason')}.",
            )
        ]
    frame = a.interactions.frame
    testable = frame[np.isfinite(frame["p_value"].to_numpy(dtype=float))]
    out = []
    if testable.empty:
        reasons = "; ".join(dict.fromkeys(n for n in frame["note"] if n))
        return [
            Finding(
                "interaction",
                "Whether transfer diverges between encoder and decoder models cannot be tested yet: "
                f"{reasons or 'no target has the runs it needs'}. Run at least two seeds per condition.",
            )
        ]
    alpha = a.options.alpha
    scope = _inference_words(a)
    diverging = testable[testable["p_holm"] < alpha]
    if len(diverging):
        where = _and(
            [
                f"{r.target} (interaction test p {_p(r.p_value)}, Holm-adjusted p {_p(r.p_holm)})"
                for r in diverging.itertuples()
            ]
        )
        out.append(
            Finding(
                "interaction",
                f"Yes: transfer diverges between encoder and decoder models on {where}; the families gain "
                f"differently from the intermediate tasks, significant at {alpha:g} after Holm correction across {len(testable)} targets"
                f"{scope}.",
                True,
            )
        )
    quiet = testable[testable["p_holm"] >= alpha]
    if len(quiet):
        out.append(
            Finding(
                "interaction",
                f"No evidence of divergence on {_and(list(quiet['target']))}: the encoder-decoder difference in gains stays within "
                f"noise (interaction test, smallest Holm-adjusted p {_p(quiet['p_holm'].min())}){scope}.",
            )
        )
    untestable = frame[~np.isfinite(frame["p_value"].to_numpy(dtype=float))]
    if len(untestable):
        out.append(
            Finding(
                "interaction",
                f"Not testable on {', '.join(untestable['target'])}: "
                + "; ".join(dict.fromkeys(n for n in untestable["note"] if n))
                + ".",
            )
        )
    return out


def _inference_words(a: Analysis) -> str:
    """The headline's scope: which inference the interaction test made, what it generalises to,
    and the fixed-models caveat whenever a family has one model."""
    from xstilts.analysis.divergence import RANDOM

    per_family = a.df.drop_duplicates("model").groupby("family")["model"].nunique()
    lone = [f for f in FAMILIES if per_family.get(f, 0) == 1]
    inferences = set(a.interactions.frame["inference"]) if a.interactions is not None else set()
    words = ""
    if RANDOM in inferences:
        words = (
            "; models are treated as random draws from their family, so this speaks for the architectures "
            "as far as these models represent them"
        )
    if lone and RANDOM not in inferences:
        words += (
            "; with one model per family this compares two models, not two architectures"
            if len(lone) == 2
            else f"; models are treated as fixed and the {lone[0]} family has one model: this compares models, "
            "not two architectures"
        )
    elif lone:
        words += f" (the {lone[0]} family has one model, so it rests on that model alone)"
    return words


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _min_seeds(a: Analysis, cells: Iterable[tuple[str, str, str]]) -> int:
    return min((a.seeds.get(c, 0) for c in cells), default=0)


def _divergence_findings(a: Analysis) -> list[Finding]:
    if a.divergence is None or a.divergence.frame.empty:
        return []
    frame = a.divergence.frame
    alpha, level = a.options.alpha, a.options.level
    models = a.df.drop_duplicates("model")
    out, caveat = [], []
    for r in frame[frame["testable"]].itertuples():
        cells = [(m, i, r.target) for m in models["model"] for i in (r.intermediate, BASELINE)]
        seeds = _min_seeds(a, cells)
        words = (
            f"{r.intermediate} → {r.target}: encoder gain {_f(r.encoder_gain, sign=True)}, decoder gain "
            f"{_f(r.decoder_gain, sign=True)}, difference {_f(r.difference, sign=True)} ({_ci_words(r.difference_low, r.difference_high, level)}"
        )
        if seeds >= 2 and r.p_holm < alpha:
            out.append(
                Finding("divergence", words + f", Holm-adjusted p {_p(r.p_holm)}): a significant divergence.", True)
            )
        elif (seeds < 2 and r.difference_low > 0) or (seeds < 2 and r.difference_high < 0):
            caveat.append(r)
    out = _capped(out, 8, "divergence", "diverging cells")
    if caveat:
        biggest = max(caveat, key=lambda r: abs(r.difference))
        out.append(
            Finding(
                "divergence",
                f"{len(caveat)} encoder-decoder differences exceed test-set sampling noise (largest: "
                f"{biggest.intermediate} → {biggest.target}, {_f(biggest.difference, sign=True)} points), but with one seed per "
                "condition their intervals leave seed-to-seed variation out, so they are not evidence of divergence.",
            )
        )
    return out


def _gain_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.gains is None or a.gains.frame.empty:
        if "gains" in a.errors:
            return [Finding("gain", f"Gains not computed: {a.errors['gains']}.")]
        return []
    frame, alpha, level = a.gains.frame, a.options.alpha, a.options.level
    out, caveat = [], []
    for r in frame.itertuples():
        seeds = min(r.n_seeds, r.n_baseline_seeds)
        if seeds >= 2 and r.p_holm < alpha:
            out.append(
                Finding(
                    "gain",
                    f"{r.model}: {r.intermediate} changes {r.target} by {_f(r.gain, sign=True)} points "
                    f"({_ci_words(r.gain_low, r.gain_high, level)}, Holm-adjusted p {_p(r.p_holm)} across {len(frame)} gains): significant.",
                    True,
                )
            )
        elif seeds < 2 and (r.gain_low > 0 or r.gain_high < 0):
            caveat.append(r)
    out = _capped(out, 10, "gain", "gains")
    replicated = frame[frame[["n_seeds", "n_baseline_seeds"]].min(axis=1) >= 2]
    if not out and len(replicated):
        out.append(
            Finding(
                "gain",
                f"No gain or loss from an intermediate task is distinguishable from zero after Holm correction across "
                f"{len(frame)} gains ({len(replicated)} with at least two seeds).",
            )
        )
    if len(replicated) < len(frame) and not caveat:
        out.append(
            Finding(
                "gain",
                f"{len(frame) - len(replicated)} gains rest on a single seed: seed-to-seed variation cannot be estimated for them, "
                "and none exceeds even test-set sampling noise.",
            )
        )
    if caveat:
        biggest = max(caveat, key=lambda r: abs(r.gain))
        out.append(
            Finding(
                "gain",
                f"{len(caveat)} gains exceed test-set sampling noise (largest: {biggest.model}, {biggest.intermediate} on "
                f"{biggest.target}, {_f(biggest.gain, sign=True)} points), but single seeds leave seed-to-seed variation out of their intervals.",
            )
        )
    mean = frame.groupby(["model", "intermediate"], sort=False)["gain"].mean()
    for model in [m for m in data.models if m in mean.index.get_level_values(0)]:
        best = mean.loc[model].idxmax()
        out.append(
            Finding(
                "gain",
                f"{model}: the intermediate task with the largest mean gain over targets is {best} "
                f"({_f(mean.loc[(model, best)], sign=True)} points; descriptive, no test).",
            )
        )
    return out


def _variant_findings(a: Analysis) -> list[Finding]:
    if a.variants is None or a.variants.empty:
        return []
    v, alpha, level = a.variants, a.options.alpha, a.options.level
    out = []
    for r in v.itertuples():
        if r.n_seeds >= 2 and r.p_holm < alpha:
            out.append(
                Finding(
                    "variant",
                    f"{r.model}, {r.target}: {r.variant} ({r.kind}) differs from plain {r.plain} by "
                    f"{_f(r.difference, sign=True)} points ({_ci_words(r.difference_low, r.difference_high, level)}, Holm-adjusted p {_p(r.p_holm)}): significant.",
                    True,
                )
            )
    if not out:
        out.append(
            Finding(
                "variant",
                f"LM mixing and translated intermediate data do not differ from plain English intermediate training "
                f"beyond noise in any of {len(v)} comparisons (Holm-adjusted).",
            )
        )
    return out


def _rank_findings(a: Analysis) -> list[Finding]:
    if a.ranks is None or a.ranks.frame.empty:
        return []
    out = []
    for r in a.ranks.frame.itertuples():
        if not np.isfinite(r.spearman):
            continue
        sig = np.isfinite(r.spearman_p_holm) and r.spearman_p_holm < a.options.alpha
        tail = (
            f"; significant {'agreement' if r.spearman > 0 else 'disagreement'} (Holm-adjusted p {_p(r.spearman_p_holm)})"
            if sig
            else f" (p {_p(r.spearman_p)})"
        )
        out.append(
            Finding(
                "rank",
                f"{r.target}: encoder and decoder rank the {r.n_intermediates} intermediate tasks with Spearman rho "
                f"{_f(r.spearman, 2, sign=True)}, Kendall tau {_f(r.kendall, 2, sign=True)}{tail}.",
                bool(sig),
            )
        )
    return _capped(out, 6, "rank", "targets")


# The findings' gate for slopes over languages: a slope is evidence only with at least two residual
# degrees of freedom (four languages) and seeds behind every gain; otherwise scores quantised on
# small test sets can line up exactly. Tables star (and bold) only slopes that pass it.
SLOPE_MIN_LANGUAGES = 4
SLOPE_MIN_SEEDS = 2


def _slope_gate(a: Analysis, frame: pd.DataFrame) -> np.ndarray:
    """Which slope rows pass the findings' gate (rows keyed by target, intermediate and, when
    present, model; without a model column every model's seeds count)."""
    models = list(dict.fromkeys(a.df["model"]))
    ok = []
    for r in frame.itertuples():
        owners = [r.model] if "model" in frame.columns else models
        cells = [(m, i, r.target) for m in owners for i in (r.intermediate, BASELINE)]
        ok.append(r.n_languages >= SLOPE_MIN_LANGUAGES and _min_seeds(a, cells) >= SLOPE_MIN_SEEDS)
    return np.array(ok, dtype=bool)


def _language_findings(a: Analysis) -> list[Finding]:
    if a.relation is None or a.relation.frame.empty:
        return []
    frame = a.relation.frame.dropna(subset=["slope_p"])
    if frame.empty:
        return []
    frame = _holm_column(frame, "slope_p")
    frame = frame[_slope_gate(a, frame)]
    if frame.empty:
        return [
            Finding(
                "language",
                f"Gains against distance from English are shown descriptively: testing a trend needs at least "
                f"{SLOPE_MIN_LANGUAGES} zero-shot languages and {SLOPE_MIN_SEEDS} seeds.",
            )
        ]
    out = []
    for r in frame[frame["slope_p_holm"] < a.options.alpha].itertuples():
        out.append(
            Finding(
                "language",
                f"{r.model}, {r.intermediate} on {r.target}: the gain changes by {_f(r.slope, sign=True)} points per unit of "
                f"distance from English ({_ci_words(r.slope_low, r.slope_high, a.options.level)}, Holm-adjusted p {_p(r.slope_p_holm)}): significant.",
                True,
            )
        )
    if not out:
        mean_slope = frame["slope"].mean()
        out.append(
            Finding(
                "language",
                f"Gains show no trend with the languages' distance from English that survives Holm correction "
                f"({len(frame)} slopes over {int(frame['n_languages'].max())} zero-shot languages; mean slope {_f(mean_slope, sign=True)} points per unit).",
            )
        )
    return _capped(out, 6, "language", "slopes")


def _gap_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.gaps is None or a.gaps.frame.empty:
        return []
    frame = a.gaps.frame
    base = frame[frame["intermediate"] == BASELINE]
    out = []
    for model in [m for m in data.models if m in set(base["model"])]:
        rows = base[base["model"] == model]
        out.append(
            Finding(
                "gap",
                f"{model} without intermediate training: English {_f(rows['english'].mean())}, zero-shot "
                f"{_f(rows['zero_shot'].mean())} (mean over {len(rows)} targets with English; gap {_f(rows['gap'].mean(), sign=True)} points).",
            )
        )
    return out


def _reference_findings(data: ReportData, a: Analysis) -> list[Finding]:
    table = reference_comparison(data)
    if table is None or table.empty:
        return []
    rows = table.dropna(subset=["ours_gain"])
    if rows.empty:
        return []
    text = "; ".join(
        f"{r.task} {_f(r.ours_gain, sign=True)} (paper {_f(r.paper_gain, sign=True)})" for r in rows.itertuples()
    )
    return [
        Finding(
            "reference",
            f"Gain of the best intermediate task per target over no intermediate task, ours ({', '.join(sorted(set(data.scores['split'])))}) "
            f"vs Phang et al. 2020 (test): {text}.",
        )
    ]


# -- published numbers ------------------------------------------------------------------------------
def reference_comparison(data: ReportData) -> pd.DataFrame | None:
    """Per reference task: our baseline and best condition (seed means of the task's mean over
    languages, the paper's metric) beside the paper's XLM-R and X-STILTs numbers; None when the
    grid does not reproduce the paper's setting (XLM-R Large on XTREME tasks)."""
    from xstilts.analysis.reference import load_reference, reproduces

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


# ==================================================================================================
# Sections: tables and figures
# ==================================================================================================
@dataclass
class Table:
    """A display table (strings). Note parts shared by every row of a `note` column move to the
    table's note, so a long caveat is said once."""

    caption: str
    frame: pd.DataFrame
    note: str = ""

    def __post_init__(self) -> None:
        if "note" not in self.frame.columns or self.frame.empty:
            return
        parts = [[p.strip() for p in str(n or "").split(";") if p.strip()] for n in self.frame["note"]]
        common = [p for p in parts[0] if all(p in row for row in parts)]
        frame = self.frame.copy()
        frame["note"] = ["; ".join(p for p in row if p not in common) for row in parts]
        if (frame["note"] == "").all():
            frame = frame.drop(columns="note")
        self.frame = frame
        if common:
            self.note = " ".join(filter(None, [self.note, f"All rows: {'; '.join(common)}."]))


@dataclass
class Figure:
    name: str  # file stem under figures/
    caption: str
    png: bytes
    svg: bytes


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)  # str: a paragraph ("- " starts a bullet)

    @property
    def anchor(self) -> str:
        return _slug(self.title)


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in text.lower())).strip("-")


def _num(v: float | str | None, digits: int = 1, sign: bool = False) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    v = float(v)
    if not np.isfinite(v):
        return ""
    if round(v, digits) == 0:
        v = 0.0  # no "-0.0"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _ci(est: float, low: float, high: float, digits: int = 1, *, sign: bool = False, star: bool = False) -> str:
    if est is None or not np.isfinite(est):
        return ""
    text = _num(est, digits, sign)
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{_num(low, digits, sign)}, {_num(high, digits, sign)}]"
    return text + (" *" if star else "")


def _pcell(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _figure(name: str, caption: str, fig: Any) -> Figure:
    from xstilts.analysis.plots import _pyplot, figure_bytes

    try:
        return Figure(name, caption, figure_bytes(fig, "png"), figure_bytes(fig, "svg"))
    finally:
        _pyplot().close(fig)


def _target_order(data: ReportData, targets: Iterable[str]) -> list[str]:
    present = set(targets)
    return [t for t in data.targets if t in present] + sorted(present - set(data.targets))


def _condition_order(data: ReportData, names: Iterable[str]) -> list[str]:
    present = set(names)
    return [c for c in data.ordered_conditions if c in present] + sorted(present - set(data.ordered_conditions))


def _sort_rows(data: ReportData, frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by model (spec order), target (spec order), intermediate (baseline first, spec order)."""
    keys = []
    if "model" in frame:
        keys.append(frame["model"].map({m: i for i, m in enumerate(data.models)}).fillna(99))
    if "target" in frame:
        keys.append(frame["target"].map({t: i for i, t in enumerate(data.targets)}).fillna(99))
    for column in ("intermediate", "variant"):
        if column in frame:
            keys.append(frame[column].map({c: i for i, c in enumerate(data.ordered_conditions)}).fillna(99))
    if "language" in frame:
        keys.append(frame["language"].map(lambda lang: (0 if lang == "en" else 1, lang)))
    if not keys:
        return frame
    order = sorted(range(len(frame)), key=lambda i: tuple(k.iloc[i] for k in keys))
    return frame.iloc[order].reset_index(drop=True)


def _language_order(data: ReportData, languages: Iterable[str]) -> list[str]:
    """English first, then by distance from English where the metadata has it, then by code."""
    distance = {}
    meta = data.language_metadata
    if meta is not None and not meta.empty:
        distance = dict(zip(meta["language"], meta["distance"], strict=False))

    def key(lang: str) -> tuple:
        d = distance.get(lang, np.nan)
        return (lang != "en", d if np.isfinite(d) else np.inf, lang)

    return sorted(set(languages), key=key)


def _target_info(data: ReportData) -> pd.DataFrame:
    s = data.scores
    rows = []
    for target in data.targets:
        part = s[s["target"] == target]
        if part.empty:
            rows.append({"target": target, "metric": "", "languages": "(no scores yet)", "chance": ""})
            continue
        chance = part.groupby("language")["chance"].mean()
        langs = _language_order(data, part["language"])
        rows.append(
            {
                "target": target,
                "metric": part["metric"].iloc[0],
                "languages": " ".join(langs),
                "chance": _num(chance.mean()) if chance.notna().any() else "",
                "split": ", ".join(sorted(part["split"].unique())),
            }
        )
    return pd.DataFrame(rows).fillna("")


def about_section(data: ReportData, a: Analysis) -> Section:
    s = data.scores
    splits = ", ".join(sorted(s["split"].unique()))
    sec = Section("About this report")
    sec.blocks.append(f"Source: {data.source}" + (f", spec {data.spec!r}" if data.spec else "") + ".")
    sec.blocks.append(
        f"Evaluation split: {splits}. {DEFAULT_SPLIT_NOTE}; scores are zero-shot (models trained on English data only) "
        "and every score is a target's primary metric in points (0-100), the unweighted mean over its languages."
    )
    models = pd.DataFrame(
        [
            {
                "model": m,
                "family": data.family_of.get(m, "?"),
                "path": ", ".join(map(str, s.loc[s["model"] == m, "model_path"].dropna().unique())),
                "seed values": ", ".join(map(str, sorted(s.loc[s["model"] == m, "seed"].unique()))),
            }
            for m in data.models
            if m in set(s["model"])
        ]
    )
    sec.blocks.append(Table("Models", models))
    conditions = pd.DataFrame(
        [
            {
                "condition": c.name,
                "kind": KIND_LABEL[c.kind],
                "tasks": ", ".join(c.tasks),
                "compared with": c.base or "",
                "detail": c.detail,
            }
            for c in (data.conditions[n] for n in data.ordered_conditions)
        ]
    )
    sec.blocks.append(Table("Intermediate conditions (baseline first)", conditions))
    sec.blocks.append(
        Table(
            "Targets (spec order) with their metric and chance level (score of a uniform random guess)",
            _target_info(data),
        )
    )
    methods = _methods(a)
    if methods:
        sec.blocks.append(
            Table("What each statistic tests", pd.DataFrame(methods, columns=["statistic", "what it shows or tests"]))
        )
    return sec


def _methods(a: Analysis) -> list[tuple[str, str]]:
    from xstilts.analysis.divergence import FAMILY_LABEL_DESCRIPTION, MIXED_DESCRIPTION
    from xstilts.analysis.gains import uncertainty_words

    with_examples = bool(a.examples)
    out = [
        (
            "score intervals",
            f"Score of each model, condition and target (mean over languages and seeds) with "
            f"{uncertainty_words(a.options.level, a.options.ci_method, with_examples)}.",
        )
    ]
    for name, table in (
        ("gain table", a.gains),
        ("English vs zero-shot gap", a.gaps),
        ("divergence table", a.divergence),
        ("interaction test", a.interactions),
        ("rank agreement", a.ranks),
        ("gain vs distance", a.relation),
        ("divergence vs distance", a.divergence_relation),
    ):
        if table is not None:
            out.append((name, table.description))
    for t in a.groups:
        out.append((f"gain by {t.column}", t.description))
    if a.mixed is not None:
        out.append(("mixed model", MIXED_DESCRIPTION))
    if a.family_label is not None:
        out.append(("family-label test", FAMILY_LABEL_DESCRIPTION))
    if a.variants is not None:
        out.append(
            (
                "baseline variants",
                "Difference in score between each LM-mixing or translated-data condition and the plain English "
                "condition with the same tasks, with the intervals of the gain table and Holm / Benjamini-Hochberg adjustment across comparisons.",
            )
        )
    out.append(
        (
            "multiple comparisons",
            f"'*' marks results whose Holm-adjusted p-value (family-wise error over all rows of the table) is below {a.options.alpha:g}; "
            "p_bh is the Benjamini-Hochberg (false discovery rate) adjustment.",
        )
    )
    return out


def scores_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Scores")
    if a.score_ci is None or a.score_ci.empty:
        sec.blocks.append(f"No score table: {a.errors.get('scores', 'no scores')}.")
        return sec
    sec.blocks.append(
        "Primary metric per model, condition (rows, baseline first) and target (columns, spec order): mean over the "
        "target's languages and seeds, with its interval in brackets; '(chance)' is the score of a uniform random guess, where the task has one."
    )
    info = _target_info(data).set_index("target")
    for model in [m for m in data.models if m in set(a.score_ci["model"])]:
        part = a.score_ci[a.score_ci["model"] == model]
        targets = _target_order(data, part["target"])
        rows = []
        for cond in _condition_order(data, part["intermediate"]):
            row = {"intermediate": cond}
            for t in targets:
                hit = part[(part["intermediate"] == cond) & (part["target"] == t)]
                row[t] = _ci(*hit[["score", "low", "high"]].iloc[0]) if len(hit) else "(missing)"
            rows.append(row)
        chance_row = {t: info.loc[t, "chance"] if t in info.index else "" for t in targets}
        if any(chance_row.values()):
            rows.append({"intermediate": "(chance)"} | chance_row)
        table = pd.DataFrame(rows).rename(
            columns={t: f"{t} ({info.loc[t, 'metric']})" for t in targets if t in info.index}
        )
        notes = "; ".join(dict.fromkeys(n for n in part["note"] if n))
        sec.blocks.append(
            Table(f"{model} ({data.family_of.get(model, '?')})", table, f"Intervals: {notes}." if notes else "")
        )
    return sec


def benchmark_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Benchmark scores")
    if not a.benchmarks:
        sec.blocks.append(f"No benchmark score: {a.errors.get('benchmarks', 'no targets')}.")
        return sec
    sec.blocks.append(
        "XTREME and XTREME-R scores follow the official evaluate.py (xstilts.evaluation.aggregate): per task the mean "
        "over its languages (QA: (exact match + F1) / 2), overall the mean over all the benchmark's tasks, given only "
        "when every task is scored. Synthetic targets get a plain mean over tasks, which is not an XTREME score."
    )
    for label, frame in a.benchmarks.items():
        frame = _sort_rows(data, frame)
        shown = frame.drop(columns=PARTIAL, errors="ignore")
        for c in shown.columns:
            if c not in ("model", "intermediate", "tasks", "missing", "note"):
                shown[c] = shown[c].map(_num)
        shown["score"] = [s or "(needs every task)" for s in shown["score"]]
        marked = _mark_partial(shown, frame)
        note = f"{PARTIAL_MARK.strip()} averaged over fewer languages than the task has (see 'Missing languages')." if marked else ""
        sec.blocks.append(Table(label, shown.loc[:, (shown != "").any(axis=0)], note))
    return sec


def _mark_partial(shown: pd.DataFrame, frame: pd.DataFrame) -> bool:
    """Append the partial mark to the cells `frame`'s PARTIAL column lists; True if any."""
    if PARTIAL not in frame:
        return False
    marked = False
    for i, cells in zip(shown.index, frame[PARTIAL], strict=True):
        for column in cells or ():
            if column in shown and shown.at[i, column] and not str(shown.at[i, column]).startswith("("):
                shown.at[i, column] = f"{shown.at[i, column]}{PARTIAL_MARK}"
                marked = True
    return marked


def gains_section(data: ReportData, a: Analysis) -> Section:
    from xstilts.analysis.plots import gain_heatmap

    sec = Section("Gains from intermediate training")
    if a.gains is None or a.gains.frame.empty:
        sec.blocks.append(
            f"No gains: {a.errors.get('gains', 'the grid has no intermediate conditions with a baseline yet')}."
        )
        return sec
    frame = a.gains.frame
    sec.blocks.append(
        a.gains.description + f" Matrices: intermediate condition (rows) x target (columns); '*' marks gains whose "
        f"Holm-adjusted p (across all {len(frame)} gains) is below {a.options.alpha:g} with at least two seeds."
    )
    for model in [m for m in data.models if m in set(frame["model"])]:
        part = frame[frame["model"] == model]
        targets = _target_order(data, part["target"])
        conds = _condition_order(data, part["intermediate"])
        values = part.pivot(index="intermediate", columns="target", values="gain").reindex(index=conds, columns=targets)
        sig = part.assign(
            sig=(part["p_holm"] < a.options.alpha) & (part[["n_seeds", "n_baseline_seeds"]].min(axis=1) >= 2)
        )
        significant = (
            sig.pivot(index="intermediate", columns="target", values="sig")
            .reindex(index=conds, columns=targets)
            .fillna(False)
        )
        display = []
        for cond in conds:
            row = {"intermediate": cond}
            for t in targets:
                hit = part[(part["intermediate"] == cond) & (part["target"] == t)]
                row[t] = (
                    _ci(*hit[["gain", "gain_low", "gain_high"]].iloc[0], sign=True, star=bool(significant.loc[cond, t]))
                    if len(hit)
                    else ""
                )
            display.append(row)
        _add_figure(
            sec,
            a.options,
            f"gains-{_slug(model)}",
            f"{model}: gain over no intermediate task (points)",
            partial(
                gain_heatmap,
                values,
                title=f"{model} ({data.family_of.get(model, '?')}): gain over no intermediate task",
                significant=significant,
            ),
        )
        sec.blocks.append(
            Table(f"{model}: gain matrix (points, {100 * a.options.level:g}% interval)", pd.DataFrame(display))
        )
    full = _sort_rows(data, frame)
    shown = pd.DataFrame(
        {
            "model": full["model"],
            "intermediate": full["intermediate"],
            "target": full["target"],
            "score": [_ci(*r) for r in full[["score", "score_low", "score_high"]].to_numpy()],
            "baseline": [
                _ci(*r) for r in full[["baseline_score", "baseline_score_low", "baseline_score_high"]].to_numpy()
            ],
            "gain": [_ci(*r, sign=True) for r in full[["gain", "gain_low", "gain_high"]].to_numpy()],
            "p": full["gain_p"].map(_pcell),
            "p_holm": full["p_holm"].map(_pcell),
            "p_bh": full["p_bh"].map(_pcell),
            "seeds": [f"{r.n_seeds}/{r.n_baseline_seeds}" for r in full.itertuples()],
            "note": full["note"],
        }
    )
    sec.blocks.append(Table("All gains with intervals and p-values (seeds: condition/baseline)", shown))
    return sec


def _add_figure(sec: Section, options: ReportOptions, name: str, caption: str, draw: Callable[[], object]) -> None:
    if options.figures:
        sec.blocks.append(_figure(name, caption, draw()))


def divergence_section(data: ReportData, a: Analysis) -> Section:
    from xstilts.analysis.plots import family_scatter

    sec = Section("Encoder vs decoder")
    if not a.both_families:
        present = sorted(set(data.scores["family"]))
        sec.blocks.append(
            f"The scores hold only {', '.join(present)} models (with baseline runs): the comparison needs both families."
        )
        return sec
    if a.divergence is not None and not a.divergence.frame.empty:
        d = _sort_rows(data, a.divergence.frame)
        sec.blocks.append(a.divergence.description + "".join(f" Note: {n}." for n in a.divergence.notes))
        try:
            _add_figure(
                sec,
                a.options,
                "encoder-vs-decoder",
                "Encoder gain against decoder gain; points off the diagonal diverge",
                lambda: family_scatter(d),
            )
        except DataError as err:
            sec.blocks.append(f"No scatter plot: {err}")
        models = list(dict.fromkeys(a.df["model"]))
        replicated = [
            _min_seeds(a, [(m, i, r.target) for m in models for i in (r.intermediate, BASELINE)]) >= 2
            for r in d.itertuples()
        ]
        star = (d["p_holm"] < a.options.alpha).fillna(False) & np.array(replicated, dtype=bool)
        shown = pd.DataFrame(
            {
                "intermediate": d["intermediate"],
                "target": d["target"],
                "encoder gain": [
                    _ci(*r, sign=True) for r in d[["encoder_gain", "encoder_gain_low", "encoder_gain_high"]].to_numpy()
                ],
                "decoder gain": [
                    _ci(*r, sign=True) for r in d[["decoder_gain", "decoder_gain_low", "decoder_gain_high"]].to_numpy()
                ],
                "difference": [
                    _ci(r.difference, r.difference_low, r.difference_high, sign=True, star=bool(s))
                    for r, s in zip(d.itertuples(), star, strict=True)
                ],
                "p": d["p_value"].map(_pcell),
                "p_holm": d["p_holm"].map(_pcell),
                "p_bh": d["p_bh"].map(_pcell),
                "note": d["note"],
            }
        )
        sec.blocks.append(Table("Difference of gains, encoder minus decoder", shown))
    elif "divergence" in a.errors:
        sec.blocks.append(f"Divergence table not computed: {a.errors['divergence']}.")
    if a.interactions is not None:
        from xstilts.analysis.divergence import generalises_to

        f = _sort_rows(data, a.interactions.frame)
        sec.blocks.append(a.interactions.description)
        for inference in dict.fromkeys(f["inference"]):
            sec.blocks.append(f"Inference made: {inference} ({generalises_to(inference)}).")
        shown = pd.DataFrame(
            {
                "target": f["target"],
                "statistic": f["statistic"].map(lambda v: _num(v, 2)),
                "p": f["p_value"].map(_pcell),
                "p_holm": [
                    (_pcell(p) + (" *" if p < a.options.alpha else "")) if np.isfinite(p) else "" for p in f["p_holm"]
                ],
                "p_bh": f["p_bh"].map(_pcell),
                "intermediates": f["n_intermediates"],
                "runs": f["n_runs"],
                "excluded": f["excluded"],
                "test": f["method"],
                "inference": f["inference"],
                "note": f["note"],
            }
        )
        if not np.isfinite(f["p_value"].to_numpy(dtype=float)).any():
            shown = shown.drop(columns=["statistic", "p", "p_holm", "p_bh"])
        sec.blocks.append(Table("Interaction test (architecture x intermediate task) per target", shown))
    elif "interaction" in a.errors:
        sec.blocks.append(f"Interaction test not computed: {a.errors['interaction']}.")
    if a.mixed is not None:
        m = a.mixed
        sec.blocks.append(
            Table(
                "Mixed model (secondary check): joint Wald test of the encoder-minus-decoder gain differences",
                pd.DataFrame(
                    {
                        "target": m["target"],
                        "Wald": m["wald"].map(lambda v: _num(v, 2)),
                        "df": m["df"],
                        "p": m["p_value"].map(_pcell),
                        "p_holm": m["p_value_holm"].map(_pcell),
                        "converged": m["converged"],
                        "note": m["note"],
                    }
                ).pipe(
                    lambda t: (
                        t
                        if np.isfinite(m["p_value"].to_numpy(dtype=float)).any()
                        else t.drop(columns=["Wald", "p", "p_holm"])
                    )
                ),
            )
        )
    elif a.both_families and max(a.seeds.values(), default=0) < 2:
        sec.blocks.append(
            "Mixed model not fitted: every condition has a single seed, so run-level variance cannot be separated from the interaction."
        )
    if a.ranks is not None:
        r = a.ranks.frame
        sec.blocks.append(a.ranks.description)
        sec.blocks.append(
            Table(
                "Rank agreement of the intermediate tasks between families, per target",
                pd.DataFrame(
                    {
                        "target": r["target"],
                        "tasks": r["n_intermediates"],
                        "Spearman": r["spearman"].map(lambda v: _num(v, 2, True)),
                        "p": r["spearman_p"].map(_pcell),
                        "p_holm": r["spearman_p_holm"].map(_pcell),
                        "Kendall": r["kendall"].map(lambda v: _num(v, 2, True)),
                        "p (Kendall)": r["kendall_p"].map(_pcell),
                        "smallest possible p": r["min_attainable_p"].map(_pcell),
                        "note": r["note"],
                    }
                ),
            )
        )
    if a.family_label is not None and not a.family_label.empty:
        f = a.family_label
        sec.blocks.append(
            Table(
                "Family-label permutation test (models as draws from their family)",
                pd.DataFrame(
                    {
                        "target": f["target"],
                        "statistic": f["statistic"].map(lambda v: _num(v, 2)),
                        "p": f["p_value"].map(_pcell),
                        "labelings": f["labelings"],
                        "smallest possible p": f["min_p"].map(_pcell),
                        "note": f["note"],
                    }
                ),
            )
        )
    return sec


def gap_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("English vs zero-shot")
    if a.gaps is None or a.gaps.frame.empty:
        sec.blocks.append(
            "No gap table: " + (a.errors.get("gaps") or "no target has English and another language") + "."
        )
        return sec
    f = _sort_rows(data, a.gaps.frame)
    sec.blocks.append(a.gaps.description + (" " + " ".join(a.gaps.notes) if a.gaps.notes else ""))
    shown = pd.DataFrame(
        {
            "model": f["model"],
            "target": f["target"],
            "intermediate": f["intermediate"],
            "English": [_ci(*r) for r in f[["english", "english_low", "english_high"]].to_numpy()],
            "zero-shot": [_ci(*r) for r in f[["zero_shot", "zero_shot_low", "zero_shot_high"]].to_numpy()],
            "gap": [_ci(*r, sign=True) for r in f[["gap", "gap_low", "gap_high"]].to_numpy()],
            "gap change vs baseline": [
                _ci(*r, sign=True) for r in f[["gap_change", "gap_change_low", "gap_change_high"]].to_numpy()
            ],
            "seeds": f["n_seeds"],
        }
    )
    sec.blocks.append(Table("English score, mean zero-shot score and their gap", shown))
    return sec


def variants_section(data: ReportData, a: Analysis) -> Section | None:
    variants = [c for c in data.conditions.values() if c.kind in ("lm_mix", "translated")]
    if not variants:
        return None
    sec = Section("LM mixing and translated data beside English intermediate training")
    if a.variants is None or a.variants.empty:
        unmatched = [c.name for c in variants if not c.base]
        why = (
            f"no plain English condition with the same tasks for {unmatched}"
            if unmatched
            else a.errors.get("variants", "their runs or their plain condition's runs have no scores yet")
        )
        sec.blocks.append(f"No comparison: {why}.")
        return sec
    v = _sort_rows(data, a.variants)
    sec.blocks.append(
        "Each variant beside the plain English condition with the same intermediate tasks: both gains over no "
        "intermediate training, and the variant minus plain difference with its interval (Holm / Benjamini-Hochberg across comparisons)."
    )
    star = (v["p_holm"] < a.options.alpha) & (v["n_seeds"] >= 2)
    sec.blocks.append(
        Table(
            "Baseline variants",
            pd.DataFrame(
                {
                    "model": v["model"],
                    "target": v["target"],
                    "plain": v["plain"],
                    "plain gain": [_ci(*r, sign=True) for r in v[["plain_gain", "plain_low", "plain_high"]].to_numpy()],
                    "variant": v["variant"],
                    "kind": v["kind"],
                    "variant gain": [
                        _ci(*r, sign=True) for r in v[["variant_gain", "variant_low", "variant_high"]].to_numpy()
                    ],
                    "variant - plain": [
                        _ci(r.difference, r.difference_low, r.difference_high, sign=True, star=bool(s))
                        for r, s in zip(v.itertuples(), star, strict=True)
                    ],
                    "p_holm": v["p_holm"].map(_pcell),
                    "note": v["note"],
                }
            ),
        )
    )
    return sec


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
    from xstilts.analysis.plots import language_bars

    sec = Section("Languages")
    target = _bars_target(data, a)
    if target is not None:
        bars = _language_scores(data, a, target)
        chance = data.scores[data.scores["target"] == target].groupby("language")["chance"].mean().dropna()
        langs = _language_order(data, bars["language"])
        conds = _condition_order(data, bars["intermediate"])
        bars = bars.assign(
            model=pd.Categorical(bars["model"], [m for m in data.models if m in set(bars["model"])], ordered=True)
        ).sort_values("model")
        bars["model"] = bars["model"].astype(str)
        _add_figure(
            sec,
            a.options,
            f"languages-{_slug(target)}",
            f"{target}: score per language and condition (dotted: chance)",
            lambda: language_bars(
                bars, title=f"{target}: score per language", languages=langs, conditions=conds, chance=chance
            ),
        )
    meta = data.language_metadata
    if meta is not None and not meta.empty:
        shown = meta.set_index("language").loc[_language_order(data, meta["language"])].reset_index()
        shown["distance"] = shown["distance"].map(lambda v: _num(v, 1))
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
        f = _sort_rows(data, t.frame)
        sec.blocks.append(
            Table(
                f"Gain by {t.column}",
                pd.DataFrame(
                    {
                        **{c: f[c] for c in ("model", "intermediate", "target", t.column)},
                        "gain": [_ci(*r, sign=True) for r in f[["mean", "low", "high"]].to_numpy()],
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
    f = _sort_rows(data, frame)
    f = _holm_column(f, "slope_p")
    keys = {c: f[c] for c in ("model", "intermediate", "target") if c in f}
    gate = _slope_gate(a, f) if len(f) else np.zeros(0, dtype=bool)
    star = (f["slope_p_holm"] < a.options.alpha).fillna(False).to_numpy(dtype=bool) & gate
    return pd.DataFrame(
        {
            **keys,
            "languages": f["n_languages"],
            "slope per unit": [
                _ci(r.slope, r.slope_low, r.slope_high, sign=True, star=bool(s))
                for r, s in zip(f.itertuples(), star, strict=True)
            ],
            "p": f["slope_p"].map(_pcell),
            "p_holm": f["slope_p_holm"].map(_pcell),
            "Pearson r": f["pearson"].map(lambda v: _num(v, 2, True)),
            "Spearman": f["spearman"].map(lambda v: _num(v, 2, True)),
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
        for target in _target_order(data, s.loc[s["model"] == model, "target"]):
            part = s[(s["model"] == model) & (s["target"] == target)]
            langs = _language_order(data, part["language"])
            table = (
                part.groupby(["intermediate", "language"])["score"]
                .mean()
                .unstack("language")
                .reindex(index=_condition_order(data, part["intermediate"]), columns=langs)
            )
            shown = table.map(_num).reset_index()
            chance = part.groupby("language")["chance"].mean().reindex(langs)
            if chance.notna().any():
                shown.loc[len(shown)] = ["(chance)", *chance.map(_num)]
            sec.blocks.append(Table(f"{model} - {target}: score per language", shown))
            if a.language_gains is not None:
                lg = a.language_gains.frame
                lg = lg[(lg["model"] == model) & (lg["target"] == target)]
                if not lg.empty:
                    rows = []
                    for cond in _condition_order(data, lg["intermediate"]):
                        row = {"intermediate": cond}
                        for lang in langs:
                            hit = lg[(lg["intermediate"] == cond) & (lg["language"] == lang)]
                            row[lang] = (
                                _ci(*hit[["gain", "gain_low", "gain_high"]].iloc[0], sign=True) if len(hit) else ""
                            )
                        rows.append(row)
                    sec.blocks.append(Table(f"{model} - {target}: gain per language", pd.DataFrame(rows)))
    return sec


def layer_section(data: ReportData, options: ReportOptions) -> Section | None:
    from xstilts.analysis.plots import layer_sweep

    sweep = data.layer_sweep
    if sweep is None or sweep.empty:
        return None
    sec = Section("Layer sweep (retrieval)")
    sec.blocks.append(
        "Retrieval score when the sentence embedding is taken from each layer (thin lines: languages; bold: their mean). "
        "Decoders have no established retrieval layer, so the sweep shows where each family's cross-lingual alignment peaks."
    )
    for (target, intermediate), part in sweep.groupby(["target", "intermediate"], sort=False):
        name = f"layers-{_slug(str(target))}-{_slug(str(intermediate))}"
        _add_figure(
            sec,
            options,
            name,
            f"{target}, intermediate {intermediate}: score by layer",
            partial(layer_sweep, part, title=f"{target} (intermediate: {intermediate}): score by layer"),
        )
    return sec


def xtreme_best_per_target(table: pd.DataFrame | None) -> dict[str, tuple[float, float]]:
    """model -> (XTREME score without intermediate training, XTREME score when each task takes its
    best condition), for models with every XTREME task scored under the baseline."""
    from xstilts.tasks.suites import get_suite

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


def reference_section(data: ReportData, a: Analysis) -> Section:
    from xstilts.analysis.reference import load_reference

    ref = load_reference("phang2020")
    sec = Section("Published numbers (Phang et al. 2020)")
    table = reference_comparison(data)
    if table is None:
        sec.blocks.append(
            f"This grid does not reproduce the paper's setting ({ref.model} on XTREME target tasks), so the paper's numbers "
            "are not set beside ours; they ship with xstilts in analysis/reference/phang2020.json with their sources."
        )
        return sec
    sec.blocks.append(
        f"{ref.title}. The paper's numbers are test-set scores; ours are on the split named above, "
        "so differences include the split. X-STILTs = the best intermediate task per target."
    )
    xtreme = xtreme_best_per_target(a.benchmarks.get("XTREME"))
    gain = ref.scores("X-STILTs minus XLM-R Large").get("xtreme")
    for model, (baseline, best) in xtreme.items():
        sec.blocks.append(
            f"{model}: XTREME score {_num(baseline)} without intermediate training and {_num(best)} with the best "
            f"intermediate task per target, a gain of {_num(best - baseline, 1, True)} points (paper: {_num(gain, 1, True)})."
        )
    if table.empty:
        sec.blocks.append("None of the paper's reported targets has scores in this grid yet.")
    else:
        sec.blocks.append(
            Table(
                "Ours beside the paper",
                pd.DataFrame(
                    {
                        "model": table["model"],
                        "task": table["task"],
                        "metric": table["metric"],
                        "ours: no intermediate": table["ours_baseline"].map(_num),
                        "ours: best": table["ours_best"].map(_num),
                        "best intermediate": table["best_intermediate"],
                        "ours: gain": table["ours_gain"].map(lambda v: _num(v, 1, True)),
                        "paper: XLM-R": table["paper_xlmr"].map(_num),
                        "paper: X-STILTs": table["paper_xstilts"].map(_num),
                        "paper: gain": table["paper_gain"].map(lambda v: _num(v, 1, True)),
                    }
                ),
            )
        )
    sources = pd.DataFrame(
        [
            {"source": k, "citation": v["citation"], "url": v["url"], "split": v.get("split", "")}
            for k, v in ref.sources.items()
        ]
    )
    sec.blocks.append(Table("Sources of the published numbers", sources, " ".join(ref.notes)))
    return sec


def missing_section(data: ReportData) -> Section | None:
    cells = data.cells
    if cells is None or cells.empty:
        return None
    missing = cells[cells["status"] != "done"]
    if missing.empty:
        return None
    counts = missing["status"].value_counts()
    sec = Section("Missing from the grid")
    sec.blocks.append(
        f"{len(missing)} of {len(cells)} stages have not finished ("
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + "); the tables and statistics omit their runs. "
        "Re-run the spec to complete the grid: finished stages are reused."
    )
    shown = _sort_rows(
        data,
        missing.rename(columns={"condition": "intermediate"})[
            ["kind", "model", "intermediate", "target", "seed", "status"]
        ].fillna(""),
    )
    sec.blocks.append(
        Table("Unfinished stages", shown.head(200), "" if len(shown) <= 200 else f"first 200 of {len(shown)}")
    )
    return sec


def gaps_section(data: ReportData) -> Section | None:
    """The languages finished evaluate stages could not score, with the reason for each."""
    from xstilts.experiments.gaps import gap_lines

    if data.gaps is None or data.gaps.empty:
        return None
    sec = Section("Missing languages")
    sec.blocks.append(
        "These evaluations finished without some of their languages (data missing, or their evaluation failed); "
        "their scores, gains and averages cover the languages scored, and benchmark aggregates that include them "
        f"are marked{PARTIAL_MARK}. Runs of one target that disagree on languages are left out of the statistics (see the notes)."
    )
    sec.blocks += [f"- {line}" for line in gap_lines(data.gaps)]
    return sec


def not_learned_section(data: ReportData) -> Section | None:
    """Training stages whose chosen checkpoint stayed at chance or majority-class level on English dev."""
    from xstilts.experiments.gaps import flag_lines

    lines = flag_lines(data.flags) if data.flags is not None and not data.flags.empty else []
    if not lines:
        return None
    sec = Section("Stages that did not learn")
    sec.blocks.append(
        "The best English dev score of these training stages is within 2 points of chance or of the majority-class "
        "score, after any restarts: their models may predict one class, so the scores that follow them (and a "
        "condition that ties with another) may only reflect that. Usual causes: a learning rate too low or too high "
        "for the model, or too few steps."
    )
    sec.blocks += [f"- {line}" for line in lines]
    return sec


def notes_section(data: ReportData, a: Analysis) -> Section | None:
    lines = list(dict.fromkeys(a.notes)) + [f"{k}: {v}" for k, v in a.errors.items() if k not in ("gains", "scores")]
    if not lines:
        return None
    return Section("Notes on the data", [f"- {line}" for line in lines])


def build_sections(data: ReportData, a: Analysis) -> list[Section]:
    sections: list[Section | None] = [
        missing_section(data),
        gaps_section(data),
        not_learned_section(data),
        scores_section(data, a),
        gains_section(data, a),
        divergence_section(data, a),
        benchmark_section(data, a),
        gap_section(data, a),
        variants_section(data, a),
        language_section(data, a),
        per_language_section(data, a) if a.options.per_language else None,
        layer_section(data, a.options),
        reference_section(data, a),
        about_section(data, a),
        notes_section(data, a),
    ]
    return [s for s in sections if s is not None]


# ==================================================================================================
# Rendering
# ==================================================================================================
@dataclass
class Report:
    title: str
    meta: list[str]
    findings: list[Finding]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    summary: Path
    figures: list[Path]


def build_report(data: ReportData, options: ReportOptions | None = None) -> Report:
    options = options or ReportOptions()
    a = analyse(data, options)
    s = data.scores
    families = ", ".join(f"{m} ({data.family_of.get(m, '?')})" for m in data.models if m in set(s["model"]))
    meta = [
        "Question: do encoder-only and decoder-only models show divergent zero-shot transfer after English intermediate training?",
        f"Source: {data.source}" + (f"; spec {data.spec!r}" if data.spec else ""),
        f"Evaluation split: {', '.join(sorted(s['split'].unique()))} ({DEFAULT_SPLIT_NOTE})",
        f"Models: {families}; seeds: {', '.join(map(str, sorted(s['seed'].unique())))}",
        f"Targets: {', '.join(t for t in data.targets)}; conditions: {', '.join(data.ordered_conditions)}",
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by xstilts report",
    ]
    title = options.title or f"xstilts report: {data.spec or 'scores'}"
    return Report(title, meta, findings(data, a), build_sections(data, a))


def _split_answer(items: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """The findings that answer the question (the interaction), and the rest."""
    return [f for f in items if f.topic == "interaction"], [f for f in items if f.topic != "interaction"]


def _md_cell(v: object) -> str:
    text = str(v).replace("|", "\\|").replace("\n", " ")
    if text.endswith(" *"):
        text = f"**{text[:-2]}** \\*"
    return text


def markdown_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def to_markdown(report: Report, figure_dir: str = "figures") -> str:
    out = [f"# {report.title}", "", *[f"- {m}" for m in report.meta], "", "## Summary of findings", ""]
    answer, rest = _split_answer(report.findings)
    out += [f"> **Answer.** {f.text}" if i == 0 else f"> {f.text}" for i, f in enumerate(answer)]
    out += ["", *[f"- {'**' if f.significant else ''}{f.text}{'**' if f.significant else ''}" for f in rest], ""]
    for s in report.sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                out += [b, ""]
            elif isinstance(b, Figure):
                out += [
                    f"![{b.caption}]({figure_dir}/{b.name}.png)",
                    "",
                    f"*{b.caption}* ([SVG]({figure_dir}/{b.name}.svg))",
                    "",
                ]
            else:
                out += [f"**{b.caption}**", "", markdown_table(b.frame), ""]
                if b.note:
                    out += [f"_{b.note}_", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1.2em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;border-bottom:2px solid #e3e3e3;padding-bottom:.2em;margin-top:2em}
ul.meta{color:#444;font-size:.92em;padding-left:1.2em}ul.findings li{margin:.35em 0}
li.sig{font-weight:600}li.sig::marker{color:#b3261e}
div.answer{background:#eef4fb;border-left:4px solid #24588f;padding:.7em 1em;margin:.8em 0;font-size:1.02em}div.answer span.sig{font-weight:700;color:#8c1d18}
nav{background:#f6f7f9;border:1px solid #e3e3e3;border-radius:6px;padding:.5em 1em;font-size:.9em;columns:2}
nav a{color:#24588f;text-decoration:none;display:block}
.tablewrap{overflow-x:auto;margin:.4em 0 1.4em}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
caption{font-weight:600;text-align:left;padding:4px 0;font-size:13px;caption-side:top}
th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f1f3f5;text-align:left}td.text{text-align:left;max-width:46em}
td.sig{font-weight:700;background:#fdf0ef}tr:nth-child(even) td{background-color:#fafbfc}tr:nth-child(even) td.sig{background:#fbe7e5}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.88em;color:#555}
p.note{font-size:.85em;color:#666;margin-top:-1em}
"""


def _is_number_like(text: str) -> bool:
    return bool(re.fullmatch(r"[-+<]?[\d.]+( \[[-+\d., ]+\])?( \*| †)?", text.strip())) or text == ""


def html_table(table: Table) -> str:
    df = table.frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            classes = []
            if text.endswith(" *"):
                classes.append("sig")
            if not _is_number_like(text):
                classes.append("text")
            cls = f" class='{' '.join(classes)}'" if classes else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = (
        f"<div class='tablewrap'><table><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
    if table.note:
        out += f"<p class='note'>{html.escape(table.note)}</p>"
    return out


def to_html(report: Report) -> str:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>"
    ]
    parts.append(
        f"<h1>{html.escape(report.title)}</h1><ul class='meta'>"
        + "".join(f"<li>{html.escape(m)}</li>" for m in report.meta)
        + "</ul>"
    )
    parts.append(
        "<nav>"
        + "<a href='#summary'>Summary of findings</a>"
        + "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in report.sections)
        + "</nav>"
    )
    answer, rest = _split_answer(report.findings)
    parts.append("<h2 id='summary'>Summary of findings</h2>")
    if answer:
        parts.append(
            "<div class='answer'><strong>Answer.</strong> "
            + " ".join(f"<span{' class=sig' if f.significant else ''}>{html.escape(f.text)}</span>" for f in answer)
            + "</div>"
        )
    parts.append(
        "<ul class='findings'>"
        + "".join(f"<li{' class=sig' if f.significant else ''}>{html.escape(f.text)}</li>" for f in rest)
        + "</ul>"
    )
    for s in report.sections:
        parts.append(f"<h2 id='{s.anchor}'>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, str):
                parts.append(
                    f"<ul><li>{html.escape(b[2:])}</li></ul>" if b.startswith("- ") else f"<p>{html.escape(b)}</p>"
                )
            elif isinstance(b, Figure):
                data = base64.b64encode(b.png).decode()
                parts.append(
                    f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                )
            else:
                parts.append(html_table(b))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_outputs(report: Report, out_dir: Path) -> ReportPaths:
    out_dir = Path(out_dir)
    figures = []
    for f in report.figures:
        for suffix, content in (("png", f.png), ("svg", f.svg)):
            path = out_dir / "figures" / f"{f.name}.{suffix}"
            atomic_write_bytes(path, content)
            figures.append(path)
    md, page, summary = out_dir / "report.md", out_dir / "report.html", out_dir / "summary.json"
    atomic_write_text(md, to_markdown(report))
    atomic_write_text(page, to_html(report))
    atomic_write_text(
        summary,
        json.dumps(
            {
                "title": report.title,
                "meta": report.meta,
                "findings": [{"topic": f.topic, "significant": f.significant, "text": f.text} for f in report.findings],
            },
            indent=1,
        ),
    )
    return ReportPaths(md, page, summary, figures)


def write_report(
    store_path: Path,
    out_dir: Path,
    spec: str | None = None,
    title: str | None = None,
    options: ReportOptions | None = None,
) -> ReportPaths:
    """Read a results store and write report.md, report.html, summary.json and figures/ to out_dir."""
    options = options or ReportOptions()
    if title:
        from dataclasses import replace

        options = replace(options, title=title)
    data = load_store_data(Path(store_path), spec)
    return write_outputs(build_report(data, options), out_dir)
