"""Gains (or encoder-decoder differences) by language, against language metadata.

Input: a per-language table, e.g. `gain_table(..., by="language").frame` (value "gain") or
`divergence_table(..., by="language").frame` (value "difference"), and a metadata DataFrame keyed
by language code (a "language" column or the index) with numeric columns (e.g. "distance" from
English) and/or categorical ones (e.g. "family", "script").

Languages are the unit: the interval describes how the relation would vary over languages like
these. A run's seed effect shifts all its languages alike, which moves the intercept but not the
slope, so the OLS residuals do not share it; per-language seed noise stays in the residuals.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

import xstilts.analysis.stats as stats
from xstilts.analysis.stats import MIN_RESIDUAL_DF
from xstilts.errors import DataError


def _metadata_by_language(metadata: pd.DataFrame, column: str) -> pd.Series:
    meta = metadata.set_index("language") if "language" in metadata.columns else metadata
    if column not in meta.columns:
        raise DataError(f"language metadata has no column {column!r}; columns: {list(meta.columns)}")
    if meta.index.duplicated().any():
        raise DataError(f"language metadata lists languages twice: {sorted(meta.index[meta.index.duplicated()])}")
    series = meta[column]
    series.index = series.index.astype(str)
    return series


def _joined(
    frame: pd.DataFrame, metadata: pd.DataFrame, value: str, column: str, by: Sequence[str], exclude: Sequence[str]
) -> pd.DataFrame:
    need = ["language", value, *by]
    absent = [c for c in need if c not in frame.columns]
    if absent:
        raise DataError(f"per-language table lacks columns {absent} (use a table made with by='language')")
    meta = _metadata_by_language(metadata, column)
    data = frame.loc[~frame["language"].astype(str).isin(exclude), need].copy()
    data["language"] = data["language"].astype(str)
    unknown = sorted(set(data["language"]) - set(meta.index))
    if unknown:
        raise DataError(f"language metadata lacks {column!r} for languages {unknown}")
    data[column] = data["language"].map(meta)
    if data[column].isna().any():
        raise DataError(
            f"language metadata has missing {column!r} for {sorted(data.loc[data[column].isna(), 'language'])}"
        )
    return data


@dataclass(frozen=True)
class LanguageRelationTable:
    """Per group (e.g. model, intermediate, target): slope of the value on the metadata column,
    Pearson and Spearman correlations. `description` is one sentence."""

    description: str
    frame: pd.DataFrame
    value: str
    column: str
    level: float


def language_relation(
    frame: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    value: str = "gain",
    column: str = "distance",
    by: Sequence[str] = ("model", "intermediate", "target"),
    exclude: Sequence[str] = ("en",),
    level: float = 0.95,
    n_permutations: int = 9999,
    seed: int = 0,
) -> LanguageRelationTable:
    """Regress `value` on the numeric metadata `column` across languages, per group in `by`.

    Columns: *by, n_languages, slope/_low/_high (OLS, t-interval with n-2 df; no interval or p-value
    below MIN_RESIDUAL_DF residual df, i.e. with 3 languages), slope_p, pearson/
    _low/_high (Fisher z interval), spearman, spearman_p (permutation), note. English is excluded
    by default (zero-shot languages only). Fewer than 3 languages, or a constant column, give a
    row without numbers and a note saying why.
    """
    stats.check_level(level)
    data = _joined(frame, metadata, value, column, by, exclude)
    if not pd.api.types.is_numeric_dtype(data[column]):
        raise DataError(f"metadata column {column!r} is not numeric; use language_group_table for categories")
    rows = []
    for key, part in data.groupby(list(by), sort=True):
        x = part[column].to_numpy(dtype=np.float64)
        y = part[value].to_numpy(dtype=np.float64)
        row = dict(zip(by, key if isinstance(key, tuple) else (key,), strict=True)) | {"n_languages": len(x)}
        rows.append(row | _relation(x, y, level, n_permutations, seed))
    description = (
        f"How the {value} changes with the language's {column} across zero-shot languages: OLS slope per unit of "
        f"{column} with a {100 * level:g}% t-interval over languages, and Pearson and Spearman correlations."
    )
    return LanguageRelationTable(description, pd.DataFrame(rows), value, column, level)


def _relation(x: np.ndarray, y: np.ndarray, level: float, n_permutations: int, seed: int) -> dict[str, object]:
    nan_row: dict[str, object] = {
        k: math.nan
        for k in (
            "slope",
            "slope_low",
            "slope_high",
            "slope_p",
            "pearson",
            "pearson_low",
            "pearson_high",
            "spearman",
            "spearman_p",
        )
    }
    n = x.size
    if not np.isfinite(y).all():
        return nan_row | {"note": "some values are missing (NaN) for these languages"}
    if n < 3:
        return nan_row | {"note": f"only {n} languages: a slope with an interval needs at least 3"}
    if np.ptp(x) == 0:
        return nan_row | {"note": "all languages have the same metadata value: no slope"}
    xc, yc = x - x.mean(), y - y.mean()
    sxx = float(xc @ xc)
    slope = float(xc @ yc) / sxx
    notes = []
    out: dict[str, object] = {"slope": slope, "slope_low": math.nan, "slope_high": math.nan, "slope_p": math.nan}
    if n - 2 >= MIN_RESIDUAL_DF:
        resid = yc - slope * xc
        se = math.sqrt(float(resid @ resid) / (n - 2) / sxx)
        interval = stats.interval_from_se(slope, se, n - 2, level, "OLS t-interval over languages")
        out |= {
            "slope_low": interval.low,
            "slope_high": interval.high,
            "slope_p": stats.two_sided_t_pvalue(slope, se, n - 2),
        }
    else:
        notes.append(
            f"{n} languages leave {n - 2} residual degree of freedom: slope shown without interval or p-value "
            f"(needs {MIN_RESIDUAL_DF + 2} languages)"
        )
    if np.ptp(y) == 0:
        return out | {
            "pearson": math.nan,
            "pearson_low": math.nan,
            "pearson_high": math.nan,
            "spearman": math.nan,
            "spearman_p": math.nan,
            "note": "; ".join([*notes, "all values equal: correlations undefined"]),
        }
    r = float(np.clip(xc @ yc / math.sqrt(sxx * float(yc @ yc)), -1.0, 1.0))
    if n > 3 and abs(r) < 1.0:
        z, zse = math.atanh(r), 1.0 / math.sqrt(n - 3)
        q = float(sps.norm.ppf(0.5 + level / 2))
        lo, hi = math.tanh(z - q * zse), math.tanh(z + q * zse)
    elif abs(r) == 1.0:
        lo = hi = r
        notes.append("perfect linear relation")
    else:
        lo = hi = math.nan
        notes.append("3 languages: no Fisher interval for the correlation")
    ranks = stats.rank_agreement(x, y, n_permutations=n_permutations, seed=seed)
    notes.append(ranks.note)
    return out | {
        "pearson": r,
        "pearson_low": lo,
        "pearson_high": hi,
        "spearman": ranks.spearman,
        "spearman_p": ranks.spearman_p,
        "note": "; ".join(n for n in notes if n),
    }


@dataclass(frozen=True)
class LanguageGroupTable:
    """Per group and category (e.g. script): mean value over the category's languages."""

    description: str
    frame: pd.DataFrame
    value: str
    column: str
    level: float


def language_group_table(
    frame: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    value: str = "gain",
    column: str = "script",
    by: Sequence[str] = ("model", "intermediate", "target"),
    exclude: Sequence[str] = ("en",),
    level: float = 0.95,
) -> LanguageGroupTable:
    """Mean `value` per category of metadata `column` (e.g. script, family), per group in `by`.

    Columns: *by, column, n_languages, mean, low, high (t-interval over the category's
    languages), languages, note. A single-language category gets no interval (note says so).
    """
    stats.check_level(level)
    data = _joined(frame, metadata, value, column, by, exclude)
    rows = []
    for key, part in data.groupby([*by, column], sort=True):
        values = part[value].to_numpy(dtype=np.float64)
        interval = stats.t_interval(values, level)
        interval_note = interval.note.replace(
            "single seed: seed-to-seed variation", "single language: variation over languages"
        )
        rows.append(
            dict(zip([*by, column], key, strict=True))
            | {
                "n_languages": values.size,
                "mean": interval.estimate,
                "low": interval.low,
                "high": interval.high,
                "languages": ", ".join(sorted(part["language"])),
                "note": interval_note,
            }
        )
    description = (
        f"Mean {value} over the zero-shot languages of each {column}, with {100 * level:g}% t-intervals over languages."
    )
    return LanguageGroupTable(description, pd.DataFrame(rows), value, column, level)
