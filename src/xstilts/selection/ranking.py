"""Timing of estimates and their combination into a ranking of candidate intermediate tasks.

`measure` runs one estimator and records its wall time, so every number in a ranking carries
its cost. `rank_candidates` turns {candidate: {estimator: estimate}} into a `Ranking`:

- method "rank_average" (default): each estimator ranks the candidates (1 = best, ties get the
  mean of their ranks); the combined score is minus the (weighted) mean rank. Ranks, not raw
  values, are averaged because the estimators live on unrelated scales (LogME is a per-sample
  log-likelihood, similarities are cosines) and a z-score over a handful of candidates is
  dominated by one outlier.
- method "<estimator name>": that estimator alone decides (e.g. "logme").

Higher estimates are better unless the estimator is named in `lower_is_better`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from xstilts.errors import ConfigError, DataError


@dataclass(frozen=True)
class Estimate:
    """One estimator's value for one candidate, its wall time, and the full result object."""

    name: str
    value: float
    seconds: float = float("nan")
    detail: Any = None


def measure(name: str, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Estimate:
    """Run `fn(*args, **kwargs)`, time it, and keep `result.score` (or the float result) as value."""
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - start
    value = result.score if hasattr(result, "score") else result
    return Estimate(name=name, value=float(value), seconds=seconds, detail=result)


EstimatesInput = Mapping[str, Mapping[str, "float | Estimate"] | Sequence[Estimate]]


@dataclass(frozen=True)
class Ranking:
    """Candidates best first. `combined` is higher-is-better; `ranks` has 1 = best per estimator."""

    candidates: tuple[str, ...]
    combined: dict[str, float]
    values: pd.DataFrame  # candidate x estimator, raw estimates
    ranks: pd.DataFrame  # candidate x estimator
    seconds: pd.DataFrame  # candidate x estimator, NaN where not measured
    method: str

    def top(self, k: int) -> list[str]:
        return list(self.candidates[:k])

    @property
    def seconds_per_estimator(self) -> pd.Series:
        return self.seconds.sum(axis=0, min_count=1)

    def to_frame(self, **keys: str) -> pd.DataFrame:
        """Rows (keys..., intermediate, score) for `validate_ranking`, e.g. to_frame(model=m, target=t)."""
        rows = [{**keys, "intermediate": c, "score": self.combined[c]} for c in self.candidates]
        return pd.DataFrame(rows, columns=[*keys, "intermediate", "score"])


def _as_estimate(name: str, item: float | Estimate) -> Estimate:
    return item if isinstance(item, Estimate) else Estimate(name=name, value=float(item))


def _estimate_tables(estimates: EstimatesInput) -> tuple[pd.DataFrame, pd.DataFrame]:
    values: dict[str, dict[str, float]] = {}
    seconds: dict[str, dict[str, float]] = {}
    for candidate, items in estimates.items():
        pairs = items.items() if isinstance(items, Mapping) else [(e.name, e) for e in items]
        for name, item in pairs:
            est = _as_estimate(name, item)
            values.setdefault(candidate, {})[name] = est.value
            seconds.setdefault(candidate, {})[name] = est.seconds
    return pd.DataFrame.from_dict(values, orient="index"), pd.DataFrame.from_dict(seconds, orient="index")


def _check_complete(values: pd.DataFrame) -> None:
    if values.empty:
        raise DataError("rank_candidates: no candidates or no estimates")
    bad = [(c, e) for c in values.index for e in values.columns if not np.isfinite(values.at[c, e])]
    if bad:
        shown = ", ".join(f"{c}/{e}" for c, e in bad[:5])
        raise DataError(
            f"rank_candidates: missing or non-finite estimates for {shown}; every candidate needs every estimate"
        )


def rank_candidates(
    estimates: EstimatesInput,
    *,
    method: str = "rank_average",
    lower_is_better: Collection[str] = (),
    weights: Mapping[str, float] | None = None,
) -> Ranking:
    """Rank candidates by their estimates (see module doc for the methods)."""
    values, seconds = _estimate_tables(estimates)
    _check_complete(values)
    oriented = values.copy()
    for name in lower_is_better:
        if name in oriented:
            oriented[name] = -oriented[name]
    ranks = oriented.apply(lambda col: pd.Series(rankdata(-col.to_numpy()), index=col.index))
    if method == "rank_average":
        w = pd.Series({e: (weights or {}).get(e, 1.0) for e in values.columns}, dtype=float)
        if (w < 0).any() or w.sum() <= 0:
            raise ConfigError("rank_candidates: weights must be non-negative and not all zero")
        combined = -(ranks * w).sum(axis=1) / w.sum()
    elif method in values.columns:
        combined = oriented[method]
    else:
        names = ", ".join(values.columns)
        raise ConfigError(f"rank_candidates: method must be 'rank_average' or an estimator ({names}), got {method!r}")
    # Sort by score, then name, so equal scores come out in a reproducible order; the tie stays
    # visible in `combined` and validation treats it as a tie.
    order = sorted(combined.index, key=lambda c: (-combined[c], str(c)))
    return Ranking(
        candidates=tuple(order),
        combined={c: float(combined[c]) for c in order},
        values=values.loc[order],
        ranks=ranks.loc[order],
        seconds=seconds.reindex(index=order, columns=values.columns),
        method=method,
    )
