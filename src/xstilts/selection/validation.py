"""Compare predicted rankings of intermediate tasks with the gains a finished grid measured.

`validate_ranking(predictions, gains)` scores, for each (model, target) group (or any `keys`):

- spearman, kendall (tau-b): rank agreement of predicted scores with measured gains; ties get
  average ranks; NaN when either side is constant or fewer than 2 candidates are shared.
- top{k}: is a truly best task (largest gain, or within `tolerance` of it) in the predicted top k.
  When predicted scores tie across the k-th place the value is the exact probability under a
  uniformly random tie-break, so ties are neither rewarded nor punished. top{k}_chance is the same
  probability for a uniformly random ranking: with 3 candidates top3 is always 1, and the chance
  column says so.
- regret: best gain minus the gain of the predicted top-1 (the mean over tied top-1 candidates);
  random_regret is the expected regret of a random choice (best minus mean gain), and
  relative_regret is regret / (best - worst gain), NaN when all gains are equal.

Aggregates (`by[column]` for each key column and family, e.g. `by_model`; `overall`) are
unweighted means over groups with at least 2 shared candidates (correlations over the groups
where they are defined, counted in `n_correlated`), with a permutation p-value for the mean
Spearman: the share of random rankings (each group's predicted ranks shuffled, fixed seed) whose
mean is at least the observed one.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, rankdata, spearmanr

from xstilts.errors import DataError

GROUP_METRICS = ("spearman", "kendall", "regret", "random_regret", "relative_regret")


@dataclass(frozen=True)
class ValidationReport:
    """`per_group`: one row per group; `by[column]`: aggregates over groups for each key column
    and "family"; `overall`: one row."""

    per_group: pd.DataFrame
    by: dict[str, pd.DataFrame]
    overall: pd.DataFrame
    ks: tuple[int, ...] = field(default=(1, 3))

    @property
    def by_model(self) -> pd.DataFrame:
        return self.by.get("model", pd.DataFrame())

    @property
    def by_target(self) -> pd.DataFrame:
        return self.by.get("target", pd.DataFrame())

    @property
    def by_family(self) -> pd.DataFrame:
        """Empty when the gains have no family column."""
        return self.by.get("family", pd.DataFrame())


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing column(s) {', '.join(missing)}; has {', '.join(map(str, frame.columns))}")


def _require_unique(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    dup = frame.duplicated(subset=columns, keep=False)
    if dup.any():
        first = frame.loc[dup, columns].iloc[0].to_dict()
        raise DataError(f"{what}: more than one row for {first}; average seeds or languages before validating")


def _predicted_scores(predictions: pd.DataFrame) -> pd.Series:
    if "score" in predictions.columns:
        scores = predictions["score"].astype(float)
    elif "rank" in predictions.columns:
        scores = -predictions["rank"].astype(float)  # rank 1 is best
    else:
        raise DataError("predictions: need a 'score' column (higher is better) or a 'rank' column (1 is best)")
    if not np.all(np.isfinite(scores)):
        raise DataError("predictions: scores or ranks contain NaN or infinite values")
    return scores


def _hit_probability(scores: np.ndarray, is_best: np.ndarray, k: int) -> float:
    """P(some best candidate is among the k highest scores) with ties broken uniformly at random."""
    n = scores.shape[0]
    k = min(k, n)
    order = np.sort(scores)[::-1]
    boundary = order[k - 1]
    above = scores > boundary
    if np.any(is_best & above):
        return 1.0
    tied = scores == boundary
    slots = k - int(above.sum())
    size, best_tied = int(tied.sum()), int((tied & is_best).sum())
    return 1.0 - math.comb(size - best_tied, slots) / math.comb(size, slots)


def _chance_of_hit(n: int, n_best: int, k: int) -> float:
    k = min(k, n)
    return 1.0 - math.comb(n - n_best, k) / math.comb(n, k)


def _correlation(fn, x: np.ndarray, y: np.ndarray) -> float:
    if x.shape[0] < 2 or np.all(x == x[0]) or np.all(y == y[0]):
        return float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(fn(x, y)[0])


def _per_group_columns(ks: Sequence[int]) -> list[str]:
    tops = [c for k in ks for c in (f"top{k}", f"top{k}_chance")]
    return [
        "n_candidates", "n_unmeasured", "n_unscored", "spearman", "kendall", *tops,
        "regret", "random_regret", "relative_regret", "best", "chosen", "best_gain", "chosen_gain",
    ]


def _group_row(scores: np.ndarray, gains: np.ndarray, names: np.ndarray, ks: Sequence[int], tolerance: float) -> dict:
    best_gain = gains.max()
    is_best = gains >= best_gain - tolerance
    top_score = scores.max()
    chosen = scores == top_score
    row: dict = {
        "n_candidates": int(scores.shape[0]),
        "spearman": _correlation(spearmanr, scores, gains),
        "kendall": _correlation(kendalltau, scores, gains),
    }
    for k in ks:
        row[f"top{k}"] = _hit_probability(scores, is_best, k)
        row[f"top{k}_chance"] = _chance_of_hit(scores.shape[0], int(is_best.sum()), k)
    regret = float(best_gain - gains[chosen].mean())
    spread = float(best_gain - gains.min())
    row.update(
        regret=regret,
        random_regret=float(best_gain - gains.mean()),
        relative_regret=regret / spread if spread > 0 else float("nan"),
        best="|".join(sorted(map(str, names[is_best]))),
        chosen="|".join(sorted(map(str, names[chosen]))),
        best_gain=float(best_gain),
        chosen_gain=float(gains[chosen].mean()),
    )
    return row


def _mean_spearman_null(groups: list[tuple[np.ndarray, np.ndarray]], permutations: int, seed: int) -> np.ndarray:
    """Mean Spearman over groups when each group's predicted ranks are randomly permuted."""
    rng = np.random.default_rng(seed)
    total = np.zeros(permutations)
    for score_ranks, gain_ranks in groups:
        g = gain_ranks - gain_ranks.mean()
        s = score_ranks - score_ranks.mean()
        shuffled = np.stack([rng.permutation(s) for _ in range(permutations)])
        total += shuffled @ g / (np.linalg.norm(s) * np.linalg.norm(g))
    return total / len(groups)


def _aggregate(
    per_group: pd.DataFrame,
    rank_pairs: dict[tuple, tuple[np.ndarray, np.ndarray]],
    by: list[str],
    keys: list[str],
    ks: Sequence[int],
    permutations: int,
    seed: int,
) -> pd.DataFrame:
    usable = per_group[per_group["n_candidates"] >= 2]
    metric_cols = [*GROUP_METRICS, *(f"top{k}" for k in ks), *(f"top{k}_chance" for k in ks)]
    rows = []
    grouped = usable.groupby(by, sort=True, dropna=False) if by else [((), usable)]
    for label, part in grouped:
        label = label if isinstance(label, tuple) else (label,)
        row = dict(zip(by, label))
        row["n_groups"] = len(part)
        row["n_correlated"] = int(part["spearman"].notna().sum())
        row["mean_candidates"] = float(part["n_candidates"].mean()) if len(part) else float("nan")
        for col in metric_cols:
            row[col] = float(part[col].mean()) if part[col].notna().any() else float("nan")
        pairs = [rank_pairs[tuple(r)] for r in part.loc[part["spearman"].notna(), keys].itertuples(index=False)]
        if permutations > 0 and pairs:
            null = _mean_spearman_null(pairs, permutations, seed)
            row["spearman_p"] = float((1 + np.sum(null >= row["spearman"] - 1e-12)) / (1 + permutations))
        else:
            row["spearman_p"] = float("nan")
        rows.append(row)
    columns = [*by, "n_groups", "n_correlated", "mean_candidates", *metric_cols, "spearman_p"]
    return pd.DataFrame(rows, columns=columns)


def validate_ranking(
    predictions: pd.DataFrame,
    gains: pd.DataFrame,
    *,
    keys: Sequence[str] = ("model", "target"),
    ks: Sequence[int] = (1, 3),
    tolerance: float = 0.0,
    permutations: int = 2000,
    seed: int = 0,
) -> ValidationReport:
    """Score predicted rankings against measured gains (see module doc).

    predictions: columns keys + intermediate + score (higher is better) or rank (1 is best).
    gains: columns keys + intermediate + gain, optionally family (one per model); one row per
    cell, so average seeds (or languages, unless "language" is among `keys`) first.
    Candidates present on one side only are left out and counted (n_unmeasured: predicted but
    no gain; n_unscored: measured but not predicted).
    """
    keys = list(keys)
    if any(k < 1 for k in ks):
        raise DataError(f"validate_ranking: top-k sizes must be >= 1, got {list(ks)}")
    if tolerance < 0:
        raise DataError(f"validate_ranking: tolerance must be >= 0, got {tolerance}")
    _require_columns(predictions, [*keys, "intermediate"], "predictions")
    _require_columns(gains, [*keys, "intermediate", "gain"], "gains")
    _require_unique(predictions, [*keys, "intermediate"], "predictions")
    _require_unique(gains, [*keys, "intermediate"], "gains")
    if not np.all(np.isfinite(gains["gain"].astype(float))):
        raise DataError("gains: the gain column contains NaN or infinite values")
    pred = predictions[[*keys, "intermediate"]].assign(score=_predicted_scores(predictions).to_numpy())
    merged = pred.merge(gains[[*keys, "intermediate", "gain"]], on=[*keys, "intermediate"], how="outer", indicator=True)

    rows, rank_pairs = [], {}
    for label, part in merged.groupby(keys, sort=True):
        label = label if isinstance(label, tuple) else (label,)
        both = part[part["_merge"] == "both"]
        row = dict(zip(keys, label))
        row["n_unmeasured"] = int((part["_merge"] == "left_only").sum())
        row["n_unscored"] = int((part["_merge"] == "right_only").sum())
        if both.empty:
            row["n_candidates"] = 0
        else:
            scores, gain = both["score"].to_numpy(float), both["gain"].to_numpy(float)
            row.update(_group_row(scores, gain, both["intermediate"].to_numpy(), ks, tolerance))
            rank_pairs[tuple(label)] = (rankdata(scores), rankdata(gain))
        rows.append(row)
    per_group = pd.DataFrame(rows).reindex(columns=[*keys, *_per_group_columns(ks)])
    if "family" in gains.columns and "model" in keys:
        families = gains[["model", "family"]].drop_duplicates()
        if families["model"].duplicated().any():
            raise DataError("gains: a model is listed under more than one family")
        family_of = families.set_index("model")["family"]
        per_group.insert(keys.index("model") + 1, "family", per_group["model"].map(family_of))

    def agg(by: list[str]) -> pd.DataFrame:
        return _aggregate(per_group, rank_pairs, by, keys, ks, permutations, seed)

    columns = [*keys, *(["family"] if "family" in per_group.columns else [])]
    return ValidationReport(
        per_group=per_group, by={c: agg([c]) for c in columns}, overall=agg([]), ks=tuple(ks)
    )
