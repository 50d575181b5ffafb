"""One target's runs as arrays, and linear contrasts between its cells with intervals.

A *run* is (model, intermediate, seed): one checkpoint evaluated on every language of the target.
A *cell* is (model, intermediate): the runs that differ only by seed. Every quantity the tables
report is a linear contrast of cell means of a per-run response (the target mean over languages,
one language, or the English-minus-zero-shot gap), so one routine gives all intervals:

  seed part      between-seed variance, pooled over the cells of a model (default) or per cell;
  test-set part  variance over example resamples shared by every run (paired by example), when
                 per-example scores are given;
  "t"            estimate ± t · sqrt(seed part + test-set part), Satterthwaite df;
  "hierarchical" percentile interval of the contrast over replicates that resample each cell's
                 seeds and then the examples (understates seed variance with few seeds).
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

import xstilts.analysis.stats as stats
from xstilts.analysis.scores import RUN_COLUMNS, ExampleScores, _listing
from xstilts.errors import ConfigError, DataError

CI_METHODS = ("t", "hierarchical")
VARIANCE_MODES = ("pooled", "cell")


def check_options(ci_method: str, variance: str, level: float) -> None:
    if ci_method not in CI_METHODS:
        raise ConfigError(f"ci_method must be one of {list(CI_METHODS)}, got {ci_method!r}")
    if variance not in VARIANCE_MODES:
        raise ConfigError(f"variance must be one of {list(VARIANCE_MODES)}, got {variance!r}")
    stats.check_level(level)


@dataclass
class TargetGrid:
    target: str
    languages: tuple[str, ...]
    runs: pd.DataFrame  # model, family, intermediate, seed; row i is run i
    scores: np.ndarray  # (R, L)
    replicates: np.ndarray | None  # (R, L, B) scores on shared example resamples
    seed: int
    blocks: list[np.ndarray] | None = None  # per language, every run's example array (R, n_l[, 3])

    @property
    def n_runs(self) -> int:
        return len(self.runs)


def target_grid(
    df: pd.DataFrame,
    target: str,
    examples: ExampleScores | None = None,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    tolerance: float = 0.5,
) -> TargetGrid:
    """Arrange a validated score table's rows for one target; checks every run has every language."""
    part = df[df["target"] == target]
    if part.empty:
        raise DataError(f"no scores for target {target!r}")
    wide = part.set_index([*RUN_COLUMNS, "language"])["score"].unstack("language").sort_index()
    if wide.isna().any().any():
        holes = [(*run, lang) for run, row in wide.iterrows() for lang, v in row.items() if pd.isna(v)]
        raise DataError(
            f"target {target!r}: every run must be scored on the same languages; missing "
            f"(model, intermediate, seed, language): {_listing(holes)}"
        )
    runs = wide.index.to_frame(index=False)
    family = part.drop_duplicates("model").set_index("model")["family"]
    runs.insert(1, "family", runs["model"].map(family).to_numpy())
    languages = tuple(str(c) for c in wide.columns)
    # Seed per target so a target's intervals do not depend on which other targets are analysed.
    grid_seed = (seed * 1_000_003 + zlib.crc32(target.encode())) % 2**32
    grid = TargetGrid(target, languages, runs, wide.to_numpy(dtype=np.float64), None, grid_seed)
    if examples:
        grid.blocks = _example_blocks(grid, examples, tolerance)
        if grid.blocks is not None:
            grid.replicates = stats.example_replicates(grid.blocks, n_boot, np.random.default_rng(grid.seed))
    return grid


def _example_blocks(grid: TargetGrid, examples: ExampleScores, tolerance: float) -> list[np.ndarray] | None:
    keys = [
        (m, i, grid.target, lang, int(s))
        for m, i, s in grid.runs[list(RUN_COLUMNS)].itertuples(index=False)
        for lang in grid.languages
    ]
    present = [k in examples for k in keys]
    if not any(present):
        if any(k[2] == grid.target for k in examples):
            extra = [k for k in examples if k[2] == grid.target]
            raise DataError(
                f"target {grid.target!r}: per-example scores match no scored run, e.g. {_listing(extra, 3)}"
            )
        return None
    if not all(present):
        missing = [k for k, p in zip(keys, present, strict=True) if not p]
        raise DataError(
            f"target {grid.target!r}: per-example scores are given for some runs but not for "
            f"(model, intermediate, target, language, seed) {_listing(missing)}; give them for all runs or none"
        )
    blocks = []
    for li, lang in enumerate(grid.languages):
        arrays = [
            stats.as_example_array(
                examples[(m, i, grid.target, lang, int(s))], f"examples[{m}, {i}, {grid.target}, {lang}, {s}]"
            )
            for m, i, s in grid.runs[list(RUN_COLUMNS)].itertuples(index=False)
        ]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1:
            raise DataError(
                f"target {grid.target!r}, language {lang!r}: per-example arrays differ in shape across runs "
                f"{sorted(shapes)}; they must hold the same test examples in the same order"
            )
        block = np.stack(arrays)
        implied = stats.score_from_sums(block.sum(axis=1), block.shape[1], block.ndim == 3)
        off = np.abs(implied - grid.scores[:, li])
        if (off > tolerance).any():
            r = int(off.argmax())
            raise DataError(
                f"target {grid.target!r}, language {lang!r}, run {tuple(grid.runs.iloc[r][list(RUN_COLUMNS)])}: "
                f"per-example scores give {implied[r]:.3f} but the score table says {grid.scores[r, li]:.3f}; "
                "per-example values must be on the 0-100 scale of the score"
            )
        blocks.append(block)
    return blocks


@dataclass
class ContrastResult:
    estimate: float
    interval: stats.Interval
    p_value: float  # two-sided, against 0; NaN only when the interval has no bounds


@dataclass
class CellView:
    """Cell summaries of one per-run response (a weighting of the target's languages)."""

    grid: TargetGrid
    y: np.ndarray  # (R,)
    cells: list[tuple[str, str]]  # (model, intermediate)
    cell_of_run: np.ndarray
    k: np.ndarray  # seeds per cell
    mean: np.ndarray
    ss: np.ndarray  # within-cell sum of squares
    boot_mean: np.ndarray | None  # (P, B) seed-averaged cell scores over example resamples
    hier: np.ndarray | None  # (P, B) seed-resampled, example-resampled cell scores
    double_counted: np.ndarray | None  # (P,) seed-by-example variance of the cell mean, see stats
    index: dict[tuple[str, str], int] = field(default_factory=dict)

    def has(self, model: str, intermediate: str) -> bool:
        return (model, intermediate) in self.index

    def cell(self, model: str, intermediate: str) -> int:
        return self.index[(model, intermediate)]


def cell_view(grid: TargetGrid, language_weights: np.ndarray) -> CellView:
    y = grid.scores @ language_weights
    keys = list(zip(grid.runs["model"], grid.runs["intermediate"], strict=True))
    cells = sorted(set(keys))
    index = {c: i for i, c in enumerate(cells)}
    cell_of_run = np.array([index[k] for k in keys])
    p = len(cells)
    k = np.bincount(cell_of_run, minlength=p).astype(np.float64)
    mean = np.bincount(cell_of_run, weights=y, minlength=p) / k
    ss = np.bincount(cell_of_run, weights=(y - mean[cell_of_run]) ** 2, minlength=p)
    boot_mean = hier = double_counted = None
    if grid.replicates is not None and grid.blocks is not None:
        double_counted = np.array(
            [
                sum(
                    w * w * stats.seed_example_variance(block[cell_of_run == c]) / (k[c] * block.shape[1])
                    for w, block in zip(language_weights, grid.blocks, strict=True)
                    if w != 0.0
                )
                for c in range(p)
            ]
        )
        yb = np.einsum("rlb,l->rb", grid.replicates, language_weights)
        onehot = np.zeros((p, len(y)))
        onehot[cell_of_run, np.arange(len(y))] = 1.0
        boot_mean = (onehot @ yb) / k[:, None]
        rng = np.random.default_rng(grid.seed + 1)
        hier = np.stack([stats._seed_resampled_mean(yb[cell_of_run == c], rng) for c in range(p)])
    return CellView(grid, y, cells, cell_of_run, k, mean, ss, boot_mean, hier, double_counted, index)


def seed_variance_parts(view: CellView, coef: dict[int, float], variance: str) -> list[tuple[float, float]]:
    """(variance contribution, df) of independent seed-variance estimates for a contrast."""
    if variance == "cell":
        parts = []
        for c, a in coef.items():
            df = view.k[c] - 1
            parts.append((a * a * view.ss[c] / df / view.k[c] if df > 0 else math.nan, df))
        return parts
    models = [view.cells[c][0] for c in coef]
    parts = []
    for model in sorted(set(models)):
        in_model = [i for i, (m, _) in enumerate(view.cells) if m == model]
        df = float(sum(view.k[i] - 1 for i in in_model))
        s2 = sum(view.ss[i] for i in in_model) / df if df > 0 else math.nan
        weight = sum(a * a / view.k[c] for c, a in coef.items() if view.cells[c][0] == model)
        parts.append((s2 * weight if df > 0 else math.nan, df))
    return parts


def contrast(view: CellView, coef: dict[int, float], *, level: float, ci_method: str, variance: str) -> ContrastResult:
    """Estimate, interval and two-sided p-value of sum_c coef[c] * (mean of cell c)."""
    estimate = float(sum(a * view.mean[c] for c, a in coef.items()))
    if ci_method == "hierarchical" and view.hier is not None:
        boot = sum(a * view.hier[c] for c, a in coef.items())
        k_min = int(min(view.k[c] for c in coef))
        note = f"few seeds ({k_min}): seed resampling understates seed variance" if k_min < 10 else ""
        if k_min == 1:
            note = "single seed in a condition: its seed variation is not covered"
        method = "hierarchical percentile bootstrap (seeds, then examples)"
        if stats._no_variation(estimate, boot):
            return ContrastResult(
                estimate,
                stats.Interval(estimate, estimate, estimate, level, method, "no variation across resamples"),
                1.0,
            )
        interval = stats._percentile_interval(estimate, boot, level, method, note)
        n = boot.size
        p = min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean()))
        return ContrastResult(estimate, interval, max(p, 1.0 / (n + 1)))
    ex_var = None
    if view.boot_mean is not None:
        ex_var = float(np.var(sum(a * view.boot_mean[c] for c, a in coef.items()), ddof=1))
    label = "seeds (variance pooled within model)" if variance == "pooled" else "seeds"
    double = 0.0 if view.double_counted is None else float(sum(a * a * view.double_counted[c] for c, a in coef.items()))
    parts = stats.combine_components(estimate, seed_variance_parts(view, coef, variance), ex_var, level, label, double)
    interval = parts.interval
    if ci_method == "hierarchical":
        interval = _with_note(
            interval, "no per-example scores: t-interval over seeds instead of the hierarchical bootstrap"
        )
    return ContrastResult(estimate, interval, parts.p_value)


def _with_note(interval: stats.Interval, note: str) -> stats.Interval:
    joined = f"{interval.note}; {note}" if interval.note else note
    return stats.Interval(interval.estimate, interval.low, interval.high, interval.level, interval.method, joined)


def mean_weights(n: int) -> np.ndarray:
    return np.full(n, 1.0 / n)


def unit_weights(n: int, i: int) -> np.ndarray:
    w = np.zeros(n)
    w[i] = 1.0
    return w
