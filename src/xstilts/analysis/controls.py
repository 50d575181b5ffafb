"""The controls of the family-divergence test, on a real grid: null and planted.

Models of one family, trained by one recipe, are split into two pseudo-families in every balanced
way; each split is tested for a family x intermediate interaction as if the halves were encoders
and decoders. No architecture separates them, so a test that holds its level fires on about
`alpha` of the (split, target) tests. The splits share models, so they are not independent
trials: the rate is a description of this grid, and its interval (Wilson, as if independent) is
narrower than the truth.

The planted (positive) control tests one given split whose halves differ by construction (for
example, one half cannot carry anything from intermediate training into the target stage): the
test must fire on the targets where the halves' gains differ beyond noise. Its table gives, per
target, each half's mean gain over the baseline beside the interaction test's p-value.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from xstilts.analysis.divergence import interaction_tests
from xstilts.analysis.scores import BASELINE, validate_scores
from xstilts.errors import ConfigError

PSEUDO_FAMILIES = ("encoder", "decoder")  # the labels the divergence tests compare


@dataclass(frozen=True)
class NullControl:
    family: str
    models: tuple[str, ...]
    alpha: float
    tests: pd.DataFrame  # split, target, p_value, method, inference
    rate: float  # share of tests with p < alpha
    interval: tuple[float, float]  # Wilson 95%, as if the tests were independent

    def summary(self) -> str:
        low, high = self.interval
        return (
            f"null control on {len(self.models)} {self.family} models, {self.tests['split'].nunique()} balanced splits x "
            f"{self.tests['target'].nunique()} targets: the interaction test fired on {self.rate:.1%} of "
            f"{len(self.tests)} tests at alpha {self.alpha:g} (Wilson 95% [{low:.1%}, {high:.1%}], splits share models)"
        )


def balanced_splits(models: Sequence[str]) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every split of `models` into two halves of sizes n // 2 and n - n // 2, each unordered split once."""
    ordered = sorted(models)
    if len(ordered) < 4:
        raise ConfigError(f"a null control needs at least 4 models of one family (2 per pseudo-family), got {len(ordered)}")
    size = len(ordered) // 2
    out = []
    for first in itertools.combinations(ordered, size):
        rest = tuple(m for m in ordered if m not in first)
        if size == len(rest) and ordered[0] not in first:
            continue  # equal halves: (A, B) and (B, A) are one split
        out.append((first, rest))
    return out


def null_control(
    scores: pd.DataFrame,
    family: str = "encoder",
    *,
    members: Sequence[str] | None = None,
    alpha: float = 0.05,
    models: str = "random",
    n_permutations: int = 999,
    seed: int = 0,
) -> NullControl:
    """The interaction tests of every balanced split of `family`'s models (or of `members`, models
    of that family) into pseudo-families."""
    df = validate_scores(scores)
    df = df[df["family"] == family]
    if members is not None:
        _check_members(df, members, f"{family} models")
        df = df[df["model"].isin(members)]
    chosen = sorted(df["model"].unique())
    rows = []
    for n, (first, second) in enumerate(balanced_splits(chosen)):
        for row in _split_tests(df, first, second, models, n_permutations, seed + n):
            rows.append({"split": _split_name(first, second)} | row)
    tests = pd.DataFrame(rows)
    valid = tests["p_value"].dropna()
    if valid.empty:
        raise ConfigError(f"null control: no interaction test could be computed on the {family} models {chosen}")
    fired = int((valid < alpha).sum())
    return NullControl(family, tuple(chosen), alpha, tests, fired / len(valid), wilson(fired, len(valid)))


@dataclass(frozen=True)
class PlantedControl:
    first: tuple[str, ...]
    second: tuple[str, ...]
    alpha: float
    tests: pd.DataFrame  # target, first_gain, second_gain, p_value, fired, method, inference

    def summary(self) -> str:
        valid = self.tests.dropna(subset=["p_value"])
        fired = sorted(valid.loc[valid["fired"], "target"])
        return (
            f"planted control {_split_name(self.first, self.second)}: the interaction test fired on {len(fired)} of "
            f"{len(valid)} targets at alpha {self.alpha:g}" + (f" ({', '.join(fired)})" if fired else "")
        )


def planted_control(
    scores: pd.DataFrame,
    first: Sequence[str],
    second: Sequence[str],
    *,
    alpha: float = 0.05,
    models: str = "random",
    n_permutations: int = 999,
    seed: int = 0,
) -> PlantedControl:
    """The interaction test of one given split of models into pseudo-families, per target, with
    each half's mean gain over the baseline (mean over its models, seeds and languages)."""
    df = validate_scores(scores)
    if set(first) & set(second):
        raise ConfigError(f"planted control: {sorted(set(first) & set(second))} in both halves")
    _check_members(df, [*first, *second], "models")
    df = df[df["model"].isin([*first, *second])]
    gains = {name: _mean_gains(df[df["model"].isin(half)]) for name, half in zip(PSEUDO_FAMILIES, (first, second))}
    rows = []
    for row in _split_tests(df, tuple(first), tuple(second), models, n_permutations, seed):
        target = row["target"]
        p = row["p_value"]
        rows.append({"target": target, "first_gain": gains["encoder"].get(target), "second_gain": gains["decoder"].get(target),
                     "p_value": p, "fired": bool(pd.notna(p) and p < alpha), "method": row["method"], "inference": row["inference"]})
    return PlantedControl(tuple(first), tuple(second), alpha, pd.DataFrame(rows))


def _split_tests(df: pd.DataFrame, first: Sequence[str], second: Sequence[str], models: str, n_permutations: int, seed: int) -> list[dict]:
    """One interaction test per target with `first` and `second` labelled as the two families."""
    labels = {**dict.fromkeys(first, PSEUDO_FAMILIES[0]), **dict.fromkeys(second, PSEUDO_FAMILIES[1])}
    table = interaction_tests(df.assign(family=df["model"].map(labels)), models=models, n_permutations=n_permutations, seed=seed)
    return [{"target": row["target"], "p_value": row["p_value"], "method": row["method"], "inference": row["inference"]}
            for _, row in table.frame.iterrows()]


def _mean_gains(df: pd.DataFrame) -> dict[str, float]:
    """Per target: mean score of the intermediate conditions minus that of the baseline."""
    out = {}
    for target, rows in df.groupby("target"):
        baseline = rows["intermediate"] == BASELINE
        if baseline.any() and (~baseline).any():
            out[str(target)] = float(rows.loc[~baseline, "score"].mean() - rows.loc[baseline, "score"].mean())
    return out


def _check_members(df: pd.DataFrame, members: Sequence[str], what: str) -> None:
    missing = sorted(set(members) - set(df["model"]))
    if missing:
        raise ConfigError(f"{', '.join(missing)}: not among the {what} of the results ({', '.join(sorted(df['model'].unique()))})")


def _split_name(first: Sequence[str], second: Sequence[str]) -> str:
    return f"{'+'.join(first)} | {'+'.join(second)}"


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
