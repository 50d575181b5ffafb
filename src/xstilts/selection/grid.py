"""What a finished (or partial) grid measured, and how selection compares with it.

From a results store (`results.sqlite`, or the output folder holding it):
- `measured_gains`: gain of each intermediate condition over 'none' per (model, target): the
  primary score averaged over the target's languages per run, then over seeds, minus the same
  for 'none' (as the report's gain heatmaps).
- `stage_costs`: wall seconds of every stage (`stages.outcome` "wall_seconds", else "seconds").
- `intermediate_checkpoints`: the intermediate checkpoints of one model, for `--checkpoints`.
- `validation_table`: rankings (computed now, or read from `xstilts select --json` files)
  scored against the measured gains with `validate_ranking` (rank correlation, top-1/top-3 hit
  rate, regret) per target and model family, with the cost of selection next to the cost of the
  grid cells it stands in for.

Costs compared. Selection of one (model, target) stands in for training every candidate: the
candidates' target and evaluate stages, and their intermediate stages unless the ranking used
checkpoint estimates (which need those checkpoints). Intermediate stages are shared by all
targets of a model, so totals count them once per model. Selection costs are each ranking's
`wall_seconds` (the whole `xstilts select` run for that target: model loading, data, features,
estimates).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from xstilts.errors import ConfigError, DataError, XStiltsError, unknown_name
from xstilts.experiments.store import ResultsStore, store_path
from xstilts.selection.validation import ValidationReport, validate_ranking
from xstilts.tasks import get_task
from xstilts.tasks.base import TaskKind

BASELINE = "none"


def _open(path: Path | str):

    return ResultsStore.open_readonly(store_path(path))


def _spec(store, spec: str | None) -> str:
    names = store.spec_names()
    if spec is not None:
        if spec not in names:
            raise unknown_name("spec", spec, names, where=str(store.path))
        return spec
    if not names:
        raise DataError(f"{store.path}: the store has no planned grid")
    if len(names) > 1:
        raise ConfigError(f"{store.path}: the store holds several specs ({', '.join(names)}); pass --spec")
    return names[0]


def measured_gains(path: Path | str, spec: str | None = None) -> pd.DataFrame:
    """Columns model, model_path, family, target, intermediate, gain, score, baseline_score, n_seeds,
    n_languages: one row per measured non-baseline cell whose model and target have a baseline."""
    store = _open(path)
    try:
        frame = store.scores_frame(_spec(store, spec))
    finally:
        store.close()
    frame = frame[frame["is_primary"] == 1]
    columns = ["model", "model_path", "family", "target", "intermediate", "gain", "score", "baseline_score", "n_seeds", "n_languages"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    keys = ["model", "model_path", "target", "condition"]
    runs = frame.groupby([*keys, "seed"]).agg(score=("value", "mean"), n_languages=("language", "nunique")).reset_index()
    cells = runs.groupby(keys).agg(score=("score", "mean"), n_seeds=("seed", "nunique"), n_languages=("n_languages", "max")).reset_index()
    family = frame.dropna(subset=["family"]).groupby("model")["family"].first()
    baseline = cells[cells["condition"] == BASELINE].set_index(["model", "target"])["score"]
    rows = cells[cells["condition"] != BASELINE].copy()
    index = pd.MultiIndex.from_frame(rows[["model", "target"]])
    rows["baseline_score"] = baseline.reindex(index).to_numpy()
    rows = rows.dropna(subset=["baseline_score"])
    # Rounded so that equal means computed in different orders compare equal (exact ties stay ties).
    rows["gain"] = (rows["score"] - rows["baseline_score"]).round(9)
    rows["family"] = rows["model"].map(family)
    rows = rows.rename(columns={"condition": "intermediate"})
    return rows[columns].sort_values(["model", "target", "intermediate"]).reset_index(drop=True)


def stage_costs(path: Path | str, spec: str | None = None) -> pd.DataFrame:
    """Columns stage_id, kind, model, model_path, condition, target, seed, status, seconds (NaN if unrecorded)."""
    store = _open(path)
    try:
        cells = store.cells_frame(_spec(store, spec))
        outcomes = {s.id: s.outcome or {} for s in store.stages()}
    finally:
        store.close()

    def seconds(stage_id: str) -> float:
        outcome = outcomes.get(stage_id, {})
        value = outcome.get("wall_seconds", outcome.get("seconds"))
        return float(value) if isinstance(value, (int, float)) else math.nan

    cells["seconds"] = [seconds(s) for s in cells["stage_id"]]
    return cells[["stage_id", "kind", "model", "model_path", "condition", "target", "seed", "status", "seconds"]]


def _model_rows(cells: pd.DataFrame, model: str) -> pd.DataFrame:
    return cells[(cells["model"] == model) | (cells["model_path"] == model)]


def intermediate_checkpoints(path: Path | str, model: str, spec: str | None = None) -> dict[str, Path]:
    """{condition: checkpoint folder} of the finished intermediate stages of `model` (its name in
    the spec or its path), lowest seed first."""
    root = store_path(path)
    store = _open(root)
    try:
        cells = store.cells_frame(_spec(store, spec))
        rows = _model_rows(cells, model)
        if rows.empty:
            models = sorted(set(cells["model"]) | set(cells["model_path"]))
            raise unknown_name("model", model, models, where=f"{root} (--checkpoints)")
        rows = rows[(rows["kind"] == "intermediate") & (rows["status"] == "done")].sort_values("seed")
        found: dict[str, Path] = {}
        for r in rows.itertuples():
            if r.condition in found:
                continue
            outcome = store.stage(r.stage_id).outcome or {}
            recorded = Path(outcome.get("checkpoint", ""))
            local = root.parent / "stages" / r.stage_id / "checkpoint"  # the output folder may have moved
            found[r.condition] = recorded if outcome.get("checkpoint") and recorded.is_dir() else local
    finally:
        store.close()
    return found


def parse_checkpoints(value: str, model: str) -> dict[str, Path]:
    """`--checkpoints`: a results store / output folder, or name=DIR pairs separated by commas."""
    if "=" in value:
        found = {}
        for item in value.split(","):
            name, sep, folder = item.partition("=")
            if not sep or not name.strip() or not folder.strip():
                raise ConfigError(f"--checkpoints: {item!r} is not NAME=DIR")
            found[name.strip()] = Path(folder.strip())
        return found
    return intermediate_checkpoints(value, model)


# -- rankings ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RankingRecord:
    """The parts of a selection run that validation needs."""

    model: str
    target: str
    scores: dict[str, float]
    wall_seconds: float
    uses_checkpoints: bool
    source: str
    payload: dict | None = None  # the full `xstilts select --json` payload, when known

    @classmethod
    def from_dict(cls, payload: dict[str, Any], source: str) -> RankingRecord:
        from xstilts.selection.pipeline import FORMAT  # lazy: loads numpy

        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise DataError(f"{source}: not a ranking written by `xstilts select --json` (field 'format' is not {FORMAT!r})")
        try:
            scores = {str(r["intermediate"]): float(r["score"]) for r in payload["ranking"]}
            return cls(
                model=str(payload["model"]),
                target=str(payload["target"]),
                scores=scores,
                wall_seconds=float(payload["costs"]["wall_seconds"]),
                uses_checkpoints=bool(payload.get("checkpoints")),
                source=source,
                payload=payload,
            )
        except (KeyError, TypeError, ValueError) as err:
            raise DataError(f"{source}: malformed ranking ({type(err).__name__}: {err})") from None

    @classmethod
    def from_result(cls, result: Any, model: str | None = None) -> RankingRecord:
        """From a `SelectionResult`; `model` overrides its model (e.g. the grid's name for it)."""
        return cls(
            model=model or result.model,
            target=result.target,
            scores=dict(result.ranking.combined),
            wall_seconds=result.wall_seconds,
            uses_checkpoints=result.uses_checkpoints,
            source=f"computed ranking for {model or result.model} on {result.target}",
            payload=result.to_dict(),
        )


def read_ranking(path: Path | str) -> RankingRecord:
    path = Path(path)
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise DataError(f"{path}: cannot read the ranking ({err.strerror})") from None
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: not JSON ({err.msg}, line {err.lineno})") from None
    return RankingRecord.from_dict(payload, str(path))


# -- validation --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SelectionValidation:
    report: ValidationReport
    predictions: pd.DataFrame  # model, target, intermediate, score
    gains: pd.DataFrame  # measured_gains
    costs: pd.DataFrame  # per (model, target): selection_seconds, grid_seconds, uses_checkpoints
    totals: dict[str, float]
    notes: list[str] = field(default_factory=list)
    rankings: list[dict] = field(default_factory=list)  # the rankings' payloads, where known
    by_estimator: pd.DataFrame = field(default_factory=pd.DataFrame)  # each estimate alone as the ranking

    def to_dict(self) -> dict[str, Any]:
        def records(frame: pd.DataFrame) -> list[dict]:
            return json.loads(frame.to_json(orient="records"))

        return {
            "per_group": records(self.report.per_group),
            "by_family": records(self.report.by_family),
            "by_target": records(self.report.by_target),
            "by_model": records(self.report.by_model),
            "overall": records(self.report.overall),
            "predictions": records(self.predictions),
            "gains": records(self.gains),
            "costs": records(self.costs),
            "by_estimator": records(self.by_estimator),
            "totals": self.totals,
            "notes": self.notes,
            "rankings": self.rankings,
        }


def _match_model(record: RankingRecord, models: pd.DataFrame) -> str | None:
    names = sorted(set(models.loc[(models["model"] == record.model) | (models["model_path"] == record.model), "model"]))
    if len(names) > 1:
        raise DataError(f"{record.source}: model {record.model!r} is the path of several models in the grid ({', '.join(names)})")
    return names[0] if names else None


def _costs(records: Sequence[tuple[str, RankingRecord]], stages: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, float]]:
    rows = []
    replaced_intermediate: dict[str, set[str]] = {}
    for model, rec in records:
        own = stages[(stages["model"] == model) & (stages["condition"].isin(list(rec.scores))) & (stages["condition"] != BASELINE)]
        cells = own[own["target"] == rec.target]["seconds"].sum()
        intermediate = own[own["kind"] == "intermediate"]
        if not rec.uses_checkpoints:
            replaced_intermediate.setdefault(model, set()).update(intermediate["stage_id"])
        rows.append({
            "model": model,
            "target": rec.target,
            "uses_checkpoints": rec.uses_checkpoints,
            "selection_seconds": rec.wall_seconds,
            "target_stage_seconds": float(cells),
            "intermediate_stage_seconds": 0.0 if rec.uses_checkpoints else float(intermediate["seconds"].sum()),
        })
    costs = pd.DataFrame(rows, columns=["model", "target", "uses_checkpoints", "selection_seconds", "target_stage_seconds", "intermediate_stage_seconds"])
    costs["grid_seconds"] = costs["target_stage_seconds"] + costs["intermediate_stage_seconds"]
    shared_intermediate = sum(
        float(stages.loc[stages["stage_id"].isin(ids), "seconds"].sum()) for ids in replaced_intermediate.values()
    )
    replaced = float(costs["target_stage_seconds"].sum()) + shared_intermediate
    selection = float(costs["selection_seconds"].sum())
    done = stages[stages["status"] == "done"]
    totals = {
        "selection_seconds": selection,
        "replaced_grid_seconds": replaced,
        "grid_seconds": float(done["seconds"].sum()),
        "grid_stages_without_seconds": int(done["seconds"].isna().sum()),
        "grid_stages_unfinished": int(len(stages) - len(done)),
        "replaced_over_selection": replaced / selection if selection > 0 else math.nan,
    }
    return costs, totals


def validate_records(
    records: Iterable[RankingRecord],
    gains: pd.DataFrame,
    stages: pd.DataFrame,
    *,
    ks: Sequence[int] = (1, 3),
    tolerance: float = 0.0,
    permutations: int = 2000,
) -> SelectionValidation:
    """Score rankings against measured gains (frames from `measured_gains` and `stage_costs`)."""
    models = stages[["model", "model_path"]].drop_duplicates()
    matched, notes = [], []
    for rec in records:
        name = _match_model(rec, models)
        if name is None:
            notes.append(f"{rec.source}: model {rec.model!r} is not in the grid; ranking left out")
            continue
        if rec.target not in set(gains.loc[gains["model"] == name, "target"]):
            notes.append(f"{rec.source}: no measured gains for {name} on {rec.target}; ranking left out")
            continue
        matched.append((name, rec))
    if not matched:
        raise DataError("no ranking matches a (model, target) with measured gains in the grid")
    predictions = pd.DataFrame(
        [{"model": m, "target": r.target, "intermediate": c, "score": s} for m, r in matched for c, s in r.scores.items()],
        columns=["model", "target", "intermediate", "score"],
    )
    dup = predictions.duplicated(["model", "target", "intermediate"])
    if dup.any():
        first = predictions.loc[dup].iloc[0]
        raise DataError(f"two rankings for model {first['model']} and target {first['target']}; pass one per (model, target)")
    used = gains[gains.set_index(["model", "target"]).index.isin(list({(m, r.target) for m, r in matched}))]
    report = validate_ranking(
        predictions, used[["model", "family", "target", "intermediate", "gain"]], ks=ks, tolerance=tolerance, permutations=permutations
    )
    costs, totals = _costs(matched, stages)
    thin = report.per_group[report.per_group["n_candidates"] < 3]
    if len(thin):
        notes.append(
            f"{len(thin)} of {len(report.per_group)} (model, target) groups have fewer than 3 measured candidates: "
            "their rank correlation is +1 or -1 and top-k hit rates are near chance by construction"
        )
    if int(used["n_seeds"].min()) < 2:
        notes.append("some gains come from a single fine-tuning seed: differences between candidates may be seed noise")
    payloads = [r.payload for _, r in matched if r.payload is not None]
    by_estimator = estimator_table(matched, used, ks=ks, tolerance=tolerance, permutations=permutations)
    return SelectionValidation(report, predictions, used.reset_index(drop=True), costs, totals, notes, payloads, by_estimator)


ESTIMATOR_COLUMNS = ["estimator", "family", "n_groups", "spearman", "spearman_p", "top1", "top1_chance", "regret", "random_regret"]


def estimator_table(
    matched: Sequence[tuple[str, RankingRecord]], gains: pd.DataFrame, *, ks: Sequence[int] = (1, 3), tolerance: float = 0.0, permutations: int = 2000
) -> pd.DataFrame:
    """Validation of each estimate alone as the ranking (from the rankings' payloads), per model
    family and over all groups: which estimate carries the prediction, if any does."""
    rows: dict[str, list[dict]] = {}
    for model, rec in matched:
        for entry in (rec.payload or {}).get("ranking", []):
            for name, estimate in entry.get("estimates", {}).items():
                value = estimate.get("value")
                if isinstance(value, (int, float)) and math.isfinite(value):
                    rows.setdefault(name, []).append({"model": model, "target": rec.target, "intermediate": entry["intermediate"], "score": float(value)})
    out = []
    for name, items in sorted(rows.items()):
        predictions = pd.DataFrame(items)
        report = validate_ranking(
            predictions, gains[["model", "family", "target", "intermediate", "gain"]], ks=ks, tolerance=tolerance, permutations=permutations
        )
        blocks = report.by_family.to_dict("records") if "family" in report.per_group.columns else []
        if len(blocks) != 1:
            blocks.append({"family": "all", **report.overall.iloc[0].to_dict()})
        for r in blocks:
            out.append({"estimator": name, **{c: r.get(c) for c in ESTIMATOR_COLUMNS[1:]}})
    return pd.DataFrame(out, columns=ESTIMATOR_COLUMNS)


def validation_table(
    results: Path | str,
    rankings: Sequence[Path | str | dict | RankingRecord] | None = None,
    *,
    spec: str | None = None,
    models: Sequence[str] | None = None,
    targets: Sequence[str] | None = None,
    candidates: Sequence[str] | None = None,
    use_checkpoints: bool = False,
    settings: Any = None,
    ks: Sequence[int] = (1, 3),
    tolerance: float = 0.0,
    permutations: int = 2000,
) -> SelectionValidation:
    """Validate selection against the grid in `results` (a store or its output folder).

    With `rankings` (paths of `xstilts select --json` files, their parsed payloads, or records)
    nothing is computed; without, a ranking is computed now (`select_intermediate`) for every
    (model, target) with measured gains, restricted to `models` / `targets` if given, over the
    candidates measured in the grid (or `candidates`), with the grid's own intermediate
    checkpoints when `use_checkpoints`. Reading the store and scoring need no model.
    """
    gains = measured_gains(results, spec)
    if gains.empty:
        raise DataError(f"{results}: no measured gains (no scores with both a baseline 'none' and another condition)")
    stages = stage_costs(results, spec)
    if rankings is not None:
        records = [
            r if isinstance(r, RankingRecord)
            else RankingRecord.from_dict(r, "ranking payload") if isinstance(r, dict)
            else read_ranking(r)
            for r in rankings
        ]
    else:
        records = list(_compute_rankings(results, gains, spec, models, targets, candidates, use_checkpoints, settings))
    return validate_records(records, gains, stages, ks=ks, tolerance=tolerance, permutations=permutations)


def _compute_rankings(results, gains, spec, models, targets, candidates, use_checkpoints, settings) -> Iterable[RankingRecord]:
    from xstilts.selection.pipeline import SelectionSettings, select_intermediate  # lazy: loads numpy

    chosen = gains
    if models:
        chosen = chosen[chosen["model"].isin(models) | chosen["model_path"].isin(models)]
    if targets:
        chosen = chosen[chosen["target"].isin(targets)]
    if chosen.empty:
        raise DataError("no measured (model, target) matches --model / --target")
    for (model, path, target), rows in chosen.groupby(["model", "model_path", "target"], sort=True):
        names = list(candidates) if candidates else [
            c for c in rows["intermediate"] if _is_labelled_task(c, get_task, TaskKind)
        ]
        if len(names) < 2:
            continue
        checkpoints = None
        if use_checkpoints:
            found = intermediate_checkpoints(results, model, spec)
            names = [n for n in names if n in found]
            checkpoints = {n: found[n] for n in names}
            if len(names) < 2:
                continue
        result = select_intermediate(
            path, target, candidates=names, checkpoints=checkpoints, settings=settings or SelectionSettings()
        )
        yield RankingRecord.from_result(result, model=model)


def _is_labelled_task(name: str, get_task, task_kind) -> bool:
    """Conditions such as 'multitask' or 'mlm-mix:mnli' are not single registered tasks."""
    try:
        return get_task(name).kind is not task_kind.RETRIEVAL
    except XStiltsError:
        return False
