"""Settings of the report: what it shows (ReportOptions) and how its intervals are computed (IntervalOptions)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class IntervalOptions:
    """How every interval of the report is computed: the settings the analysis functions
    (gain_table, divergence_table, ...) take as keywords."""

    level: float = 0.95  # confidence level
    ci_method: str = "t"  # "t" or "hierarchical" (see analysis.grid)
    n_boot: int = 1000  # bootstrap replicates over test examples
    seed: int = 0  # seed of the bootstrap

    def as_kwargs(self) -> dict[str, Any]:
        """The keywords of the analysis functions that compute intervals."""
        return {"level": self.level, "ci_method": self.ci_method, "n_boot": self.n_boot, "seed": self.seed}


@dataclass(frozen=True)
class ReportOptions:
    per_language: bool = False  # per-language score and gain tables for every model and target
    bars_target: str | None = None  # target of the per-language bar chart (default: the first with English)
    level: float = 0.95
    alpha: float = 0.05  # significance level after correction
    ci_method: str = "t"  # "t" or "hierarchical" (see analysis.grid)
    n_permutations: int = 4999
    n_boot: int = 1000
    seed: int = 0  # of the bootstraps and the permutation tests
    title: str | None = None
    figures: bool = True  # False: tables only (faster)

    @property
    def intervals(self) -> IntervalOptions:
        return IntervalOptions(self.level, self.ci_method, self.n_boot, self.seed)
