"""The data the report reads (ReportData): from a results store, or from a score table."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts.analysis.report.conditions import Condition, classify_conditions
from xstilts.analysis.scores import BASELINE, validate_scores
from xstilts.errors import DataError
from xstilts.experiments.gaps import with_present_languages
from xstilts.experiments.store import ResultsStore
from xstilts.io import read_jsonl
from xstilts.languages import LANGUAGES
from xstilts.synthetic.spec import ModelVariant, model_variant
from xstilts.tasks import all_tasks

SCORE_COLUMNS = ["model", "family", "intermediate", "target", "language", "seed", "score"]
LAYER_METRIC = re.compile(r"^(?P<metric>.+)@layer(?P<layer>\d+)$")
DEFAULT_SPLIT_NOTE = (
    "XTREME's public test sets have no labels, so xstilts evaluates on dev/validation unless the spec names a split"
)


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
    protocol: list[str] = field(default_factory=list)  # departures from the official scoring, shown at the top
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


def _synthetic_variant(path: str | None) -> ModelVariant | None:
    prefix, colon, name = (path or "").partition(":")
    return model_variant(name) if prefix == "synthetic" and colon else None


def _family_from_path(path: str | None) -> str | None:
    variant = _synthetic_variant(path)
    return variant.family if variant else None


def model_variation(data: ReportData, models: Iterable[str]) -> str:
    """How `models` differ within their families, in words, where that is known: the synthetic
    benchmark's models of a family share the pretraining recipe and differ in its seed. Empty
    otherwise."""
    paths = data.scores.loc[data.scores["model"].isin(list(models)), "model_path"].unique()
    if len(paths) and all(_synthetic_variant(p) for p in paths):
        return "pretrained by this recipe (the synthetic benchmark's) from other pretraining seeds"
    return ""


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
        stages = store.stages()
        descriptions = {s.id: s.description for s in stages}
        centred = {s.id for s in stages if s.outcome and s.outcome.get("retrieval_centering")}
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
    raw = _with_families(raw.rename(columns={"condition": "intermediate", "value": "score"}), notes)
    raw, sweep = _split_layer_sweep(raw)
    primary = raw[raw["is_primary"] == 1]
    metrics = raw[["model", "intermediate", "target", "language", "seed", "metric", "score"]].copy()
    order_conditions = _ordered(cells["condition"], first=[BASELINE])
    conditions = classify_conditions(
        _ordered([*order_conditions, *primary["intermediate"]]), _condition_specs(cells, descriptions)
    )
    examples, example_notes = example_scores(primary, store_path.parent)
    notes += example_notes
    protocol = _centering_protocol(primary, centred)
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
        protocol=protocol,
        gaps=gaps,
        flags=flags,
    )


def _centering_protocol(primary: pd.DataFrame, centred_stages: set[str]) -> list[str]:
    """A line naming the targets whose retrieval was searched with centering (recorded in their
    evaluate stages' outcome), which the official scorers do not do."""
    targets = sorted(set(primary.loc[primary["stage_id"].isin(centred_stages), "target"]))
    if not targets:
        return []
    return [
        f"Retrieval: {', '.join(targets)} searched with language-specific centering (evaluation.retrieval_centering: each "
        "side's mean embedding removed first), not as the official scorers do: those scores do not compare with published ones"
    ]


def _with_families(raw: pd.DataFrame, notes: list[str]) -> pd.DataFrame:
    """Scores with the family of models that recorded none taken from their path (synthetic
    models); models of unknown family are left out, with a note."""
    missing_family = raw["family"].isna()
    if missing_family.any():
        raw.loc[missing_family, "family"] = raw.loc[missing_family, "model_path"].map(_family_from_path)
        unknown = sorted(raw.loc[raw["family"].isna(), "model"].unique())
        if unknown:
            notes.append(f"models {unknown} have no recorded family and are left out")
            raw = raw[raw["family"].notna()]
    return raw


def _split_layer_sweep(raw: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """(the scores without the layer sweep, the layer sweep's scores with their layer, or None)."""
    layer = raw["metric"].str.extract(LAYER_METRIC)
    is_sweep = layer["layer"].notna()
    sweep = None
    if is_sweep.any():
        sweep = raw[is_sweep].assign(
            layer=layer.loc[is_sweep, "layer"].astype(int), metric=layer.loc[is_sweep, "metric"]
        )
        sweep = sweep[["model", "family", "intermediate", "target", "language", "seed", "layer", "metric", "score"]]
    return raw[~is_sweep], sweep


def _condition_specs(cells: pd.DataFrame, descriptions: dict[str, dict]) -> dict[str, dict]:
    """Condition name -> its spec, from the stages' descriptions (older stores have none)."""
    condition_specs: dict[str, dict] = {}
    for r in cells.itertuples():
        spec_of = (descriptions.get(r.stage_id) or {}).get("condition_spec")
        if spec_of is not None:
            condition_specs.setdefault(r.condition, spec_of)
    return condition_specs


def _gaps_and_flags(store: ResultsStore, spec: str | None, scores: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
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
