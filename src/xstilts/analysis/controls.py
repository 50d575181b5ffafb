"""The null control of the family-divergence test, on a real grid.

Models of one family, trained by one recipe, are split into two pseudo-families in every balanced
way; each split is tested for a family x intermediate interaction as if the halves were encoders
and decoders. No architecture separates them, so a test that holds its level fires on about
`alpha` of the (split, target) tests. The splits share models, so they are not independent
trials: the rate is a description of this grid, and its interval (Wilson, as if independent) is
narrower than the truth.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from xstilts.analysis.divergence import interaction_tests
from xstilts.analysis.scores import validate_scores
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
    scores: pd.DataFrame, family: str = "encoder", *, alpha: float = 0.05, models: str = "random", n_permutations: int = 999, seed: int = 0
) -> NullControl:
    """The interaction tests of every balanced split of `family`'s models into pseudo-families."""
    df = validate_scores(scores)
    df = df[df["family"] == family]
    members = sorted(df["model"].unique())
    rows = []
    for n, (first, second) in enumerate(balanced_splits(members)):
        relabelled = df.assign(family=df["model"].map({**dict.fromkeys(first, PSEUDO_FAMILIES[0]), **dict.fromkeys(second, PSEUDO_FAMILIES[1])}))
        table = interaction_tests(relabelled, models=models, n_permutations=n_permutations, seed=seed + n)
        for _, row in table.frame.iterrows():
            rows.append({"split": f"{'+'.join(first)} | {'+'.join(second)}", "target": row["target"], "p_value": row["p_value"],
                         "method": row["method"], "inference": row["inference"]})
    tests = pd.DataFrame(rows)
    valid = tests["p_value"].dropna()
    if valid.empty:
        raise ConfigError(f"null control: no interaction test could be computed on the {family} models {members}")
    fired = int((valid < alpha).sum())
    return NullControl(family, tuple(members), alpha, tests, fired / len(valid), wilson(fired, len(valid)))


def wilson(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a proportion."""
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)
