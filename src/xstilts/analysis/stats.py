"""Statistical primitives: intervals, bootstraps over test examples and seeds, multiple-comparison
corrections and rank agreement. Plain numpy arrays in, small frozen dataclasses out; the
DataFrame-level tables are built on these in `gains` and `divergence`.

Per-example scores ("example arrays") come in one of two layouts, both on the 0-100 scale of the
aggregate score:
  shape (n,)    per-example values whose mean is the score (0/100 correctness, per-example F1);
  shape (n, 3)  per-example (true-positive, false-positive, false-negative) counts, the score being
                micro-F1 = 100 * 2TP / (2TP + FP + FN) of the summed counts (seqeval-style F1 is
                not a mean of per-sentence values, so it is recomputed on every resample).
A "run" is one fine-tuning seed. Where several languages are given, a score is the unweighted mean
of the per-language scores (XTREME style) and examples are resampled within each language.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from xstilts.errors import DataError

# Bootstrap chunks hold at most this many resampled counts: small enough to stay in cache-friendly
# memory (16 MB of float64), large enough that numpy overhead is negligible.
_MAX_CHUNK_ELEMENTS = 2_000_000

# A p-value needs at least this many residual degrees of freedom: with one, a t statistic is
# Cauchy-distributed, and three languages whose quantised scores line up exactly give p = 0.
MIN_RESIDUAL_DF = 2


@dataclass(frozen=True)
class Interval:
    """A point estimate with a confidence interval.

    `low`/`high` are NaN only when no interval can be given, and then `note` says why; `note` also
    flags intervals that cover only part of the uncertainty (e.g. test examples but not seeds).
    """

    estimate: float
    low: float
    high: float
    level: float
    method: str
    note: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.estimate):
            raise ValueError(f"Interval estimate must be finite, got {self.estimate}")
        if not self.has_bounds and not self.note:
            raise ValueError("an Interval without bounds must carry a note saying why")
        if self.has_bounds and not self.low <= self.high:
            raise ValueError(f"Interval low {self.low} > high {self.high}")

    @property
    def has_bounds(self) -> bool:
        return math.isfinite(self.low) and math.isfinite(self.high)

    def contains(self, value: float) -> bool:
        return self.has_bounds and self.low <= value <= self.high

    def excludes_zero(self) -> bool:
        return self.has_bounds and (self.low > 0 or self.high < 0)

    def format(self, digits: int = 1) -> str:
        """'3.2 [1.1, 5.3]', or '3.2 [no interval: <why>]'."""
        est = f"{self.estimate:.{digits}f}"
        if not self.has_bounds:
            return f"{est} [no interval: {self.note}]"
        return f"{est} [{self.low:.{digits}f}, {self.high:.{digits}f}]"


def no_interval(estimate: float, level: float, method: str, why: str) -> Interval:
    return Interval(float(estimate), math.nan, math.nan, level, method, why)


def check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")


def t_quantile(level: float, df: float) -> float:
    return float(sps.t.ppf(0.5 + level / 2.0, df))


def interval_from_se(estimate: float, se: float, df: float, level: float, method: str, note: str = "") -> Interval:
    """estimate ± t_df · se (df = inf gives the normal interval)."""
    q = float(sps.norm.ppf(0.5 + level / 2.0)) if math.isinf(df) else t_quantile(level, df)
    return Interval(float(estimate), float(estimate - q * se), float(estimate + q * se), level, method, note)


def two_sided_t_pvalue(estimate: float, se: float, df: float) -> float:
    if se == 0.0:
        return 0.0 if estimate != 0.0 else 1.0
    t = abs(estimate) / se
    return float(2.0 * (sps.norm.sf(t) if math.isinf(df) else sps.t.sf(t, df)))


def satterthwaite_df(variances: Sequence[float], dfs: Sequence[float]) -> float:
    """Welch-Satterthwaite degrees of freedom of a sum of independent variance estimates."""
    total = sum(variances)
    denom = sum(v * v / d for v, d in zip(variances, dfs, strict=True) if v > 0 and not math.isinf(d))
    if total == 0.0:
        return math.inf
    return math.inf if denom == 0.0 else total * total / denom


# ----------------------------------------------------------------------------------------------
# Seeds only


def t_interval(values: Sequence[float] | np.ndarray, level: float = 0.95) -> Interval:
    """Mean over seeds with a Student-t interval (n-1 df).

    With the 3-5 seeds typical here a t-interval is used rather than a bootstrap: the bootstrap
    of k values understates the variance by a factor (k-1)/k and ignores how poorly k values
    estimate it, so its coverage falls well below nominal.
    """
    check_level(level)
    x = _finite_1d(values, "seed scores")
    method = "t-interval over seeds"
    if x.size == 1:
        return no_interval(x[0], level, method, "single seed: seed-to-seed variation cannot be estimated")
    se = float(x.std(ddof=1) / math.sqrt(x.size))
    return interval_from_se(float(x.mean()), se, x.size - 1, level, method)


def difference_interval(
    condition: Sequence[float] | np.ndarray, baseline: Sequence[float] | np.ndarray, level: float = 0.95
) -> Interval:
    """mean(condition) - mean(baseline) over independent seeds: Welch interval when both sides have
    two or more seeds, pooled-variance interval (labelled) when one side has a single seed."""
    check_level(level)
    a, b = _finite_1d(condition, "condition seed scores"), _finite_1d(baseline, "baseline seed scores")
    est = float(a.mean() - b.mean())
    if a.size >= 2 and b.size >= 2:
        va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
        df = satterthwaite_df([va, vb], [a.size - 1, b.size - 1])
        return interval_from_se(est, math.sqrt(va + vb), df, level, "Welch t-interval over seeds")
    if a.size + b.size >= 3:
        ss = ((a - a.mean()) ** 2).sum() + ((b - b.mean()) ** 2).sum()
        df = a.size + b.size - 2
        se = math.sqrt(ss / df * (1 / a.size + 1 / b.size))
        return interval_from_se(
            est,
            se,
            df,
            level,
            "pooled t-interval over seeds",
            "one side has a single seed: assumes equal seed variance in both conditions",
        )
    return no_interval(
        est, level, "t-interval over seeds", "single seed on both sides: seed variation cannot be estimated"
    )


# ----------------------------------------------------------------------------------------------
# Example arrays


def as_example_array(values: np.ndarray | Sequence[float], what: str = "per-example scores") -> np.ndarray:
    """Validate one example array: shape (n,) of scores or (n, 3) of non-negative TP/FP/FN counts."""
    x = np.asarray(values, dtype=np.float64)
    if x.ndim not in (1, 2) or (x.ndim == 2 and x.shape[1] != 3):
        raise DataError(f"{what}: expected shape (n,) or (n, 3) (TP, FP, FN counts), got {x.shape}")
    if x.shape[0] == 0:
        raise DataError(f"{what}: no examples")
    if not np.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    if x.ndim == 2 and (x < 0).any():
        raise DataError(f"{what}: TP/FP/FN counts must be non-negative")
    return x


def score_from_sums(sums: np.ndarray, n: int, counts_layout: bool) -> np.ndarray:
    """Score(s) from summed example values: the mean, or micro-F1 from summed (TP, FP, FN)."""
    if not counts_layout:
        return sums / n
    tp, fp, fn = sums[..., 0], sums[..., 1], sums[..., 2]
    denom = 2 * tp + fp + fn
    # No gold and no predicted entities at all: seqeval reports 0 (zero_division), so do we.
    return np.divide(200.0 * tp, denom, out=np.zeros_like(denom, dtype=np.float64), where=denom > 0)


def example_score(values: np.ndarray) -> float:
    """The aggregate score of one example array (the mean, or micro-F1 of summed counts)."""
    x = as_example_array(values)
    return float(score_from_sums(x.sum(axis=0), x.shape[0], x.ndim == 2))


def resample_counts(rng: np.random.Generator, n: int, n_boot: int) -> Iterator[tuple[slice, np.ndarray]]:
    """Bootstrap resamples of n examples as count matrices (b, n), in chunks.

    Counts (how often each example is drawn) turn a resample of a matrix of runs into one matrix
    product, and the same counts applied to every run make the bootstrap paired across runs.
    """
    chunk = max(1, min(n_boot, _MAX_CHUNK_ELEMENTS // max(n, 1)))
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        draws = rng.integers(0, n, size=(b, n))
        draws += (np.arange(b) * n)[:, None]
        counts = np.bincount(draws.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)
        yield slice(start, start + b), counts


def example_replicates(blocks: Sequence[np.ndarray], n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap scores of R runs on L test sets: array (R, L, n_boot).

    blocks[l] holds every run's example array for test set l, shape (R, n_l) or (R, n_l, 3),
    aligned by example. Examples are resampled within each test set, identically for all runs.
    """
    n_runs = blocks[0].shape[0]
    out = np.empty((n_runs, len(blocks), n_boot))
    for li, block in enumerate(blocks):
        counts_layout = block.ndim == 3
        n = block.shape[1]
        for sl, counts in resample_counts(rng, n, n_boot):
            if counts_layout:
                sums = np.stack([block[:, :, c] @ counts.T for c in range(3)], axis=-1)
            else:
                sums = block @ counts.T
            out[:, li, sl] = score_from_sums(sums, n, counts_layout)
    return out


def _language_blocks(arrays: np.ndarray | Sequence[np.ndarray], what: str, with_seeds: bool) -> list[np.ndarray]:
    """Normalise input into a list of per-language arrays with a leading run axis.

    `arrays` is one numpy array (one test set) or a list of arrays, one per language. Without
    seeds an array is (n,) or (n, 3); with seeds it is (k, n) or (k, n, 3).
    """
    items = [arrays] if isinstance(arrays, np.ndarray) else list(arrays)
    if items and np.ndim(items[0]) == 0:  # a plain list of numbers is one test set
        items = [np.asarray(items)]
    if not items:
        raise DataError(f"{what}: no test sets given")
    run_axes = 1 if with_seeds else 0
    blocks = []
    for li, item in enumerate(items):
        x = np.asarray(item, dtype=np.float64)
        plain, counts = x.ndim == run_axes + 1, x.ndim == run_axes + 2 and x.shape[-1] == 3
        if not (plain or counts):
            expected = "(k seeds, n) or (k, n, 3)" if with_seeds else "(n,) or (n, 3)"
            raise DataError(f"{what}[{li}]: expected shape {expected}, got {x.shape}")
        x = x if with_seeds else x[None]
        for row in x:
            as_example_array(row, f"{what}[{li}]")
        blocks.append(x)
    return blocks


def _pair_blocks(cond: list[np.ndarray], base: list[np.ndarray] | None) -> list[np.ndarray]:
    if base is None:
        return cond
    if len(base) != len(cond):
        raise DataError(f"condition has {len(cond)} test sets, baseline {len(base)}")
    out = []
    for li, (c, b) in enumerate(zip(cond, base, strict=True)):
        if c.shape[1:] != b.shape[1:]:
            raise DataError(
                f"test set {li}: condition and baseline are not aligned by example "
                f"(shapes {c.shape[1:]} vs {b.shape[1:]}); a paired bootstrap needs the same examples"
            )
        out.append(np.concatenate([c, b], axis=0))
    return out


def _percentile_interval(estimate: float, reps: np.ndarray, level: float, method: str, note: str = "") -> Interval:
    lo, hi = np.quantile(reps, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(float(estimate), float(min(lo, estimate)), float(max(hi, estimate)), level, method, note)


def _no_variation(estimate: float, reps: np.ndarray) -> bool:
    return bool(np.ptp(reps) <= 1e-12 * max(1.0, abs(estimate)))


def example_bootstrap_ci(
    condition: np.ndarray | Sequence[np.ndarray],
    baseline: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    method: str = "bca",
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Bootstrap CI over test examples for one run's score, or for a paired gain.

    condition: one example array, or a list with one per language (the score is then the mean
    of per-language scores, examples resampled within each language). baseline: same layout,
    aligned by example; the statistic is then condition minus baseline on the same resampled
    examples (paired). method: "bca" (bias-corrected and accelerated) or "percentile".
    """
    check_level(level)
    if method not in ("bca", "percentile"):
        raise ValueError(f"method must be 'bca' or 'percentile', got {method!r}")
    cond = _language_blocks(condition, "condition", with_seeds=False)
    base = None if baseline is None else _language_blocks(baseline, "baseline", with_seeds=False)
    blocks = _pair_blocks(cond, base)
    reps = example_replicates(blocks, n_boot, np.random.default_rng(seed))  # (1 or 2, L, B)
    point = np.array([[_block_scores(b)[r] for b in blocks] for r in range(blocks[0].shape[0])])
    sign = np.array([1.0] if base is None else [1.0, -1.0])
    estimate = float((sign[:, None] * point).sum(axis=0).mean())
    boot = (sign[:, None, None] * reps).sum(axis=0).mean(axis=0)
    label = "paired " if base is not None else ""
    if _no_variation(estimate, boot):
        return Interval(
            estimate,
            estimate,
            estimate,
            level,
            f"{label}bootstrap over examples",
            "no variation across resampled examples",
        )
    if method == "percentile":
        return _percentile_interval(estimate, boot, level, f"{label}percentile bootstrap over examples")
    accel = _stratified_acceleration(blocks, sign)
    return _bca_interval(estimate, boot, accel, level, f"{label}BCa bootstrap over examples")


def _block_scores(block: np.ndarray) -> np.ndarray:
    """Score of every run (row) of a block (R, n) / (R, n, 3)."""
    return score_from_sums(block.sum(axis=1), block.shape[1], block.ndim == 3)


def _stratified_acceleration(blocks: Sequence[np.ndarray], sign: np.ndarray) -> float:
    """BCa acceleration from jackknife influence values, stratified by test set.

    With the statistic a mean over L strata of per-stratum scores, the influence of example j of
    stratum l is l_lj = (n_l - 1)(mean_j d_l - d_lj) / L with d_lj the leave-one-out stratum
    statistic, and a = sum_l n_l^-3 sum_j l_lj^3 / (6 (sum_l n_l^-2 sum_j l_lj^2)^1.5)
    (Davison & Hinkley 1997, sec. 3.7); for one stratum this is the usual jackknife formula.
    """
    num = den = 0.0
    n_strata = len(blocks)
    for block in blocks:
        n = block.shape[1]
        if n < 2:
            continue
        counts_layout = block.ndim == 3
        total = block.sum(axis=1)  # (R,) or (R, 3)
        loo_sums = total[:, None] - block  # (R, n) or (R, n, 3)
        loo = score_from_sums(loo_sums, n - 1, counts_layout)  # (R, n)
        d = (sign[:, None] * loo).sum(axis=0)
        infl = (n - 1) * (d.mean() - d) / n_strata
        num += (infl**3).sum() / n**3
        den += (infl**2).sum() / n**2
    return 0.0 if den == 0.0 else float(num / (6.0 * den**1.5))


def _bca_interval(estimate: float, boot: np.ndarray, accel: float, level: float, method: str) -> Interval:
    below = (boot < estimate).mean() + 0.5 * (boot == estimate).mean()
    if not 0.0 < below < 1.0:
        return _percentile_interval(
            estimate,
            boot,
            level,
            method.replace("BCa", "percentile"),
            "bias correction undefined (estimate outside all resamples): percentile interval",
        )
    z0 = sps.norm.ppf(below)
    z = sps.norm.ppf([0.5 - level / 2, 0.5 + level / 2])
    adj = sps.norm.cdf(z0 + (z0 + z) / (1.0 - accel * (z0 + z)))
    lo, hi = np.quantile(boot, adj)
    return Interval(estimate, float(min(lo, estimate)), float(max(hi, estimate)), level, method)


# ----------------------------------------------------------------------------------------------
# Seeds and examples together


def _seed_blocks(arrays: np.ndarray | Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    blocks = _language_blocks(arrays, what, with_seeds=True)
    ks = {b.shape[0] for b in blocks}
    if len(ks) != 1:
        raise DataError(f"{what}: every language must have the same seeds (rows), got counts {sorted(ks)}")
    return blocks


def hierarchical_bootstrap_ci(
    condition: np.ndarray | Sequence[np.ndarray],
    baseline: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """Percentile CI from a two-level bootstrap: resample seeds, then test examples.

    condition: array (k seeds, n) or (k, n, 3), or a list of those, one per language (row i is
    the same seed in every language). Each replicate draws k seeds with replacement (the same
    draw for every language: a seed is one checkpoint evaluated everywhere) and one resample of
    the examples of each language, shared with the baseline (paired by example); the baseline's
    seeds are drawn independently. With few seeds this understates the seed variance (a bootstrap
    of k values has variance (k-1)/k of the truth and no small-sample t correction):
    `seeds_and_examples_interval` is the better choice below ~10 seeds.
    """
    check_level(level)
    cond = _seed_blocks(condition, "condition")
    base = None if baseline is None else _seed_blocks(baseline, "baseline")
    k_c = cond[0].shape[0]
    k_b = 0 if base is None else base[0].shape[0]
    rng = np.random.default_rng(seed)
    reps = example_replicates(_pair_blocks(cond, base), n_boot, rng).mean(axis=1)  # (k_c + k_b, B)
    point = np.mean([_block_scores(b) for b in _pair_blocks(cond, base)], axis=0)  # (k_c + k_b,)
    estimate = float(point[:k_c].mean() - (point[k_c:].mean() if k_b else 0.0))
    boot = _seed_resampled_mean(reps[:k_c], rng)
    if k_b:
        boot = boot - _seed_resampled_mean(reps[k_c:], rng)
    note = ""
    if min(k_c, k_b or k_c) == 1:
        note = "single seed on one side: seed variation not covered there"
    elif min(k_c, k_b or k_c) < 10:
        note = (
            f"few seeds ({min(k_c, k_b or k_c)}): seed resampling understates seed variance; interval likely too narrow"
        )
    method = "hierarchical percentile bootstrap (seeds, then examples)"
    if _no_variation(estimate, boot):
        return Interval(estimate, estimate, estimate, level, method, "no variation across resamples")
    return _percentile_interval(estimate, boot, level, method, note)


def _seed_resampled_mean(run_reps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """run_reps (k, B): per replicate, the mean over k seeds drawn with replacement."""
    k, n_boot = run_reps.shape
    draws = rng.integers(0, k, size=(n_boot, k))
    return run_reps.T[np.arange(n_boot)[:, None], draws].mean(axis=1)


def seeds_and_examples_interval(
    condition: np.ndarray | Sequence[np.ndarray],
    baseline: np.ndarray | Sequence[np.ndarray] | None = None,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = 0,
) -> Interval:
    """t-interval whose variance adds a seed component and a test-set component.

    Same inputs as `hierarchical_bootstrap_ci`. With score x[s, i] = mu + a_s + b_i + e_si (seed,
    example, seed-by-example), the estimate's variance is s_a/k + s_b/n + s_e/(kn). Seed
    component: between-seed variance of per-seed scores over k (k-1 df; Welch-Satterthwaite for a
    gain), which estimates s_a/k + s_e/(kn). Test-set component: variance of the seed-averaged
    score (or paired gain) over example resamples, which estimates s_b/n + s_e/(kn). The doubly
    counted s_e/(kn) is removed using the two-way residual mean square (mean-type scores only;
    for micro-F1 it stays in, making the interval conservative). For a paired 0/1 gain s_e is
    most of the test-set variance, so this matters. Satterthwaite df give the t-quantile.
    """
    check_level(level)
    cond = _seed_blocks(condition, "condition")
    base = None if baseline is None else _seed_blocks(baseline, "baseline")
    k_c = cond[0].shape[0]
    k_b = 0 if base is None else base[0].shape[0]
    paired = _pair_blocks(cond, base)
    per_seed = np.mean([_block_scores(b) for b in paired], axis=0)
    reps = example_replicates(paired, n_boot, np.random.default_rng(seed)).mean(axis=1)
    boot = reps[:k_c].mean(axis=0) - (reps[k_c:].mean(axis=0) if k_b else 0.0)
    estimate = float(per_seed[:k_c].mean() - (per_seed[k_c:].mean() if k_b else 0.0))
    groups = [per_seed[:k_c]] + ([per_seed[k_c:]] if k_b else [])
    n_lang = len(cond)
    double_counted = sum(
        seed_example_variance(blocks[li]) / (blocks[li].shape[0] * blocks[li].shape[1]) / n_lang**2
        for blocks in ([cond] + ([base] if base is not None else []))
        for li in range(n_lang)
    )
    return combine_components(
        estimate,
        seed_variances=[(float(g.var(ddof=1)) / g.size if g.size > 1 else math.nan, g.size - 1) for g in groups],
        example_variance=float(boot.var(ddof=1)),
        level=level,
        double_counted=double_counted,
    ).interval


def seed_example_variance(block: np.ndarray) -> float:
    """Seed-by-example interaction variance of a (k, n) block: the residual mean square of the
    additive two-way fit. 0 for a single seed (nothing is double counted then) and for (k, n, 3)
    count blocks (micro-F1 has no such decomposition)."""
    if block.ndim != 2 or block.shape[0] < 2 or block.shape[1] < 2:
        return 0.0
    k, n = block.shape
    resid = block - block.mean(axis=1, keepdims=True) - block.mean(axis=0, keepdims=True) + block.mean()
    return float((resid**2).sum() / ((k - 1) * (n - 1)))


@dataclass(frozen=True)
class Components:
    """Interval and test from independent variance components of one estimate."""

    interval: Interval
    se: float  # NaN when no interval
    df: float

    @property
    def p_value(self) -> float:
        """Two-sided t-test against 0; NaN when there is no interval."""
        if not self.interval.has_bounds:
            return math.nan
        return two_sided_t_pvalue(self.interval.estimate, self.se, self.df)


def combine_components(
    estimate: float,
    seed_variances: Sequence[tuple[float, float]],
    example_variance: float | None,
    level: float,
    seed_label: str = "seeds",
    double_counted: float = 0.0,
) -> Components:
    """t-interval from independent variance components, Satterthwaite df.

    seed_variances: (variance of the estimate's seed part, df) per independent group; a group with
    df 0 (a single seed) has NaN variance. example_variance: test-set bootstrap variance, or None.
    double_counted: variance present in both the seed and the test-set parts (seed-by-example
    noise), removed once from the test-set part when every seed part is usable.
    """
    method = f"t-interval over {seed_label}" + (" + example bootstrap" if example_variance is not None else "")
    missing = any(d <= 0 or not math.isfinite(v) for v, d in seed_variances)
    usable = [(v, d) for v, d in seed_variances if d > 0 and math.isfinite(v)]
    note = ""
    if missing:
        if example_variance is None:
            why = "single seed: seed variation cannot be estimated and no per-example scores were given"
            return Components(no_interval(estimate, level, method, why), math.nan, math.nan)
        note = "single seed: seed variation not estimable, interval covers test-set sampling only"
    if example_variance is not None and not missing:
        example_variance = max(example_variance - double_counted, 0.0)
    variances = [v for v, _ in usable] + ([example_variance] if example_variance is not None else [])
    dfs = [d for _, d in usable] + ([math.inf] if example_variance is not None else [])
    se = math.sqrt(sum(variances))
    df = satterthwaite_df(variances, dfs)
    if se == 0.0:
        interval = Interval(
            estimate, estimate, estimate, level, method, note or "no variation across seeds or examples"
        )
    else:
        interval = interval_from_se(estimate, se, df, level, method, note)
    return Components(interval, se, df)


# ----------------------------------------------------------------------------------------------
# Multiple comparisons


def _check_pvalues(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p-values must be one-dimensional, got shape {p.shape}")
    if not np.isfinite(p).all() or ((p < 0) | (p > 1)).any():
        raise ValueError("p-values must be finite and in [0, 1] (drop untestable cells before correcting)")
    return p


def holm(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Holm step-down adjusted p-values (family-wise error control), in the input order."""
    p = _check_pvalues(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = adjusted
    return out


def benjamini_hochberg(p_values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg step-up adjusted p-values (false-discovery-rate control), input order."""
    p = _check_pvalues(p_values)
    m = p.size
    order = np.argsort(p, kind="stable")
    scaled = p[order] * m / np.arange(1, m + 1)
    adjusted = np.minimum(1.0, np.minimum.accumulate(scaled[::-1])[::-1])
    out = np.empty(m)
    out[order] = adjusted
    return out


# ----------------------------------------------------------------------------------------------
# Rank agreement


@dataclass(frozen=True)
class RankAgreement:
    """Agreement between two orderings of the same items (e.g. intermediate tasks ranked by gain
    for encoders and for decoders). Correlations are NaN only when undefined, and `note` says why."""

    description: str
    labels: tuple[str, ...]
    n: int
    spearman: float
    spearman_p: float
    kendall: float  # tau-b, which corrects for ties
    kendall_p: float
    exact: bool  # p-values from all n! orderings (else Monte Carlo)
    n_permutations: int
    min_attainable_p: float
    ties: bool
    note: str = ""


_RANK_DESCRIPTION = (
    "Whether two sets of scores order the same items alike: Spearman's rho and Kendall's tau-b "
    "(1 = same order, -1 = reversed), with two-sided permutation p-values against no association."
)


def rank_agreement(
    x: Sequence[float] | np.ndarray,
    y: Sequence[float] | np.ndarray,
    *,
    labels: Sequence[str] | None = None,
    n_permutations: int = 9999,
    max_exact: int = 8,
    seed: int = 0,
    description: str = _RANK_DESCRIPTION,
) -> RankAgreement:
    """Spearman and Kendall tau-b between x and y with permutation p-values.

    Ties get average ranks (Spearman) and the tau-b correction (Kendall); the permutation
    distribution shuffles y's values, ties included, so it is exact for tied data too. Up to
    `max_exact` items every ordering is enumerated; the smallest attainable p-value is reported
    because with few items (n = 3: 6 orderings) no result can be significant.
    """
    xa, ya = _finite_1d(x, "x"), _finite_1d(y, "y")
    if xa.size != ya.size:
        raise ValueError(f"x and y differ in length ({xa.size} vs {ya.size})")
    n = xa.size
    names = tuple(labels) if labels is not None else tuple(str(i) for i in range(n))
    ties = bool(np.unique(xa).size < n or np.unique(ya).size < n)
    undefined = ""
    if n < 3:
        undefined = f"only {n} items: rank agreement needs at least 3"
    elif np.ptp(xa) == 0 or np.ptp(ya) == 0:
        undefined = "all values tied on one side: rank correlation undefined"
    if undefined:
        return RankAgreement(
            description, names, n, math.nan, math.nan, math.nan, math.nan, False, 0, math.nan, ties, undefined
        )

    exact = n <= max_exact
    if exact:
        perms = np.array(list(itertools.permutations(range(n))))
    else:
        rng = np.random.default_rng(seed)
        perms = np.argsort(rng.random((n_permutations, n)), axis=1)
    rho_null, tau_null = _rank_stats(xa, ya[perms])
    rho, tau = (float(v[0]) for v in _rank_stats(xa, ya[None]))
    tol = 1e-12

    def pvalue(null: np.ndarray, observed: float) -> float:
        hits = int((np.abs(null) >= abs(observed) - tol).sum())
        return hits / null.size if exact else (hits + 1) / (null.size + 1)

    if exact:
        min_p = float(
            min(
                (np.abs(rho_null) >= np.abs(rho_null).max() - tol).mean(),
                (np.abs(tau_null) >= np.abs(tau_null).max() - tol).mean(),
            )
        )
    else:
        min_p = 1.0 / (n_permutations + 1)
    note = f"with {n} items no p-value below {min_p:.3g} is possible" if min_p > 0.01 else ""
    return RankAgreement(
        description,
        names,
        n,
        rho,
        pvalue(rho_null, rho),
        tau,
        pvalue(tau_null, tau),
        exact,
        int(perms.shape[0]),
        min_p,
        ties,
        note,
    )


def _rank_stats(x: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Spearman rho and Kendall tau-b of x against each row of ys (P, n)."""
    rx = sps.rankdata(x)
    rys = sps.rankdata(ys, axis=1)
    cx = rx - rx.mean()
    cy = rys - rys.mean(axis=1, keepdims=True)
    rho = (cy @ cx) / np.sqrt((cx @ cx) * (cy * cy).sum(axis=1))
    n = x.size
    iu = np.triu_indices(n, k=1)
    sx = np.sign(x[:, None] - x[None, :])[iu]
    n_pairs = iu[0].size
    ties_x = n_pairs - np.count_nonzero(sx)
    taus = []
    chunk = max(1, _MAX_CHUNK_ELEMENTS // max(n_pairs, 1))
    for start in range(0, ys.shape[0], chunk):
        part = ys[start : start + chunk]
        sy = np.sign(part[:, :, None] - part[:, None, :])[:, iu[0], iu[1]]
        ties_y = n_pairs - np.count_nonzero(sy, axis=1)
        taus.append((sy @ sx) / np.sqrt((n_pairs - ties_x) * (n_pairs - ties_y)))
    return rho, np.concatenate(taus)


def _finite_1d(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise DataError(f"{what}: no values")
    if not np.isfinite(x).all():
        raise DataError(f"{what}: contains NaN or infinite values")
    return x
