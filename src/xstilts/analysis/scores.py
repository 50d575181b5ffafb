"""The analysis input contract and its validation.

Scores: a pandas DataFrame with one row per (model, intermediate, target, language, seed):
  model         str    backbone name, e.g. "xlm-roberta-large"
  family        str    "encoder" or "decoder"; one family per model
  intermediate  str    intermediate condition; BASELINE ("none") is no intermediate training,
                       every other value ("mnli", "mlm-mix:mnli", "translated:mnli", ...) is a name
  target        str    target task
  language      str    evaluation language code
  seed          int    fine-tuning seed; one (model, intermediate, target, seed) is one run: one
                       checkpoint evaluated on every language of the target
  score         float  in [0, 100]
  n_examples    int    optional, informational
Every run of a target must be evaluated on the same languages (the target score is their mean).

Per-example scores (optional): a mapping from (model, intermediate, target, language, seed) to an
example array (see `xstilts.analysis.stats`): shape (n,) whose mean is the score, or (n, 3) of
per-example TP/FP/FN counts whose micro-F1 is the score. Arrays for the same (target, language)
must hold the same examples in the same order in every run (paired). Give them for every run of
a target or for none of its runs.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from xstilts.errors import DataError

REQUIRED_COLUMNS = ("model", "family", "intermediate", "target", "language", "seed", "score")
KEY_COLUMNS = ("model", "intermediate", "target", "language", "seed")
RUN_COLUMNS = ("model", "intermediate", "seed")
FAMILIES = ("encoder", "decoder")
BASELINE = "none"

ExampleKey = tuple[str, str, str, str, int]
ExampleScores = Mapping[ExampleKey, np.ndarray]


def _listing(items: list, limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" (and {len(items) - limit} more)" if len(items) > limit else "")


def validate_scores(scores: pd.DataFrame) -> pd.DataFrame:
    """Check the score table against the contract; return a clean copy (typed, sorted)."""
    if not isinstance(scores, pd.DataFrame):
        raise DataError(f"scores must be a pandas DataFrame, got {type(scores).__name__}")
    missing = [c for c in REQUIRED_COLUMNS if c not in scores.columns]
    if missing:
        raise DataError(f"scores: missing columns {missing}; required: {list(REQUIRED_COLUMNS)}")
    if scores.empty:
        raise DataError("scores: the table is empty")
    df = scores.copy()
    for col in REQUIRED_COLUMNS:
        if df[col].isna().any():
            raise DataError(f"scores: column {col!r} has {int(df[col].isna().sum())} missing values")
    for col in ("model", "family", "intermediate", "target", "language"):
        df[col] = df[col].astype(str)
    seeds = pd.to_numeric(df["seed"], errors="coerce")
    if seeds.isna().any() or (seeds != seeds.round()).any():
        raise DataError("scores: column 'seed' must hold integers")
    df["seed"] = seeds.astype(np.int64)
    df["score"] = pd.to_numeric(df["score"], errors="coerce").astype(np.float64)
    bad = df[~np.isfinite(df["score"]) | (df["score"] < 0) | (df["score"] > 100)]
    if len(bad):
        rows = [tuple(r) for r in bad[list(KEY_COLUMNS) + ["score"]].itertuples(index=False)]
        raise DataError(f"scores: {len(bad)} scores are not numbers in [0, 100], e.g. {_listing(rows, 3)}")
    unknown = sorted(set(df["family"]) - set(FAMILIES))
    if unknown:
        raise DataError(f"scores: unknown family {unknown}; expected one of {list(FAMILIES)}")
    families = df.groupby("model")["family"].nunique()
    if (families > 1).any():
        raise DataError(f"scores: models listed under both families: {sorted(families[families > 1].index)}")
    dup = df.duplicated(list(KEY_COLUMNS), keep=False)
    if dup.any():
        rows = sorted({tuple(r) for r in df.loc[dup, list(KEY_COLUMNS)].itertuples(index=False)})
        raise DataError(
            f"scores: {len(rows)} (model, intermediate, target, language, seed) keys appear twice, "
            f"e.g. {_listing(rows, 3)}"
        )
    return df.sort_values(list(KEY_COLUMNS)).reset_index(drop=True)


def families_present(df: pd.DataFrame) -> dict[str, list[str]]:
    """Models of each family, sorted."""
    return {f: sorted(df.loc[df["family"] == f, "model"].unique()) for f in FAMILIES}


def require_both_families(df: pd.DataFrame, what: str) -> dict[str, list[str]]:
    fams = families_present(df)
    absent = [f for f, models in fams.items() if not models]
    if absent:
        raise DataError(f"{what} compares encoder and decoder models, but the scores have no {absent[0]} models")
    return fams
