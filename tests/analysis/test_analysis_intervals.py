"""Intervals and bootstraps: invariants, known answers, coverage by simulation, speed."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sps

from xstilts.analysis import stats
from xstilts.errors import DataError

# --- Interval invariants ------------------------------------------------------------------------


def test_interval_without_bounds_must_say_why():
    with pytest.raises(ValueError, match="note"):
        stats.Interval(1.0, math.nan, math.nan, 0.95, "t")
    iv = stats.Interval(1.0, math.nan, math.nan, 0.95, "t", "single seed")
    assert not iv.has_bounds
    assert iv.format() == "1.0 [no interval: single seed]"


def test_interval_rejects_nan_estimate_and_inverted_bounds():
    with pytest.raises(ValueError):
        stats.Interval(math.nan, 0.0, 1.0, 0.95, "t")
    with pytest.raises(ValueError):
        stats.Interval(0.5, 1.0, 0.0, 0.95, "t")


# --- Seeds ---------------------------------------------------------------------------------------


def test_t_interval_matches_scipy():
    x = np.array([70.1, 71.3, 69.8, 72.0])
    iv = stats.t_interval(x, 0.9)
    lo, hi = sps.t.interval(0.9, 3, loc=x.mean(), scale=sps.sem(x))
    assert iv.estimate == pytest.approx(x.mean())
    assert (iv.low, iv.high) == pytest.approx((lo, hi))


def test_single_seed_gives_labelled_missing_interval():
    iv = stats.t_interval([70.0])
    assert not iv.has_bounds and "single seed" in iv.note
    both = stats.difference_interval([70.0], [69.0])
    assert not both.has_bounds and "single seed" in both.note
    assert both.estimate == pytest.approx(1.0)


def test_difference_interval_welch_and_pooled():
    a, b = np.array([71.0, 72.5, 70.2]), np.array([69.0, 69.4, 70.1, 68.2])
    welch = stats.difference_interval(a, b)
    res = sps.ttest_ind(a, b, equal_var=False)
    lo, hi = res.confidence_interval(0.95)
    assert (welch.low, welch.high) == pytest.approx((lo, hi))
    pooled = stats.difference_interval(a, [69.0])
    assert pooled.has_bounds and "equal seed variance" in pooled.note


def test_t_interval_coverage(assert_rate_near):
    rng = np.random.default_rng(1)
    hits = sum(stats.t_interval(rng.normal(5.0, 2.0, 3)).contains(5.0) for _ in range(1000))
    assert_rate_near(hits, 1000, 0.95)


# --- Examples ------------------------------------------------------------------------------------


def test_example_score_mean_and_micro_f1():
    assert stats.example_score(np.array([0.0, 100.0, 100.0, 0.0])) == 50.0
    counts = np.array([[2, 1, 0], [1, 0, 1], [0, 0, 0]])  # TP=3 FP=1 FN=1 -> F1 = 6/8
    assert stats.example_score(counts) == pytest.approx(75.0)


def test_example_arrays_are_validated():
    with pytest.raises(DataError, match="shape"):
        stats.example_bootstrap_ci(np.zeros((5, 2)))
    with pytest.raises(DataError, match="NaN"):
        stats.example_bootstrap_ci(np.array([1.0, np.nan]))
    with pytest.raises(DataError, match="aligned"):
        stats.example_bootstrap_ci(np.zeros(5), np.zeros(6))


def test_example_bootstrap_is_reproducible_and_seeded():
    x = np.random.default_rng(0).choice([0.0, 100.0], 300)
    assert stats.example_bootstrap_ci(x, seed=3) == stats.example_bootstrap_ci(x, seed=3)
    assert stats.example_bootstrap_ci(x, seed=3) != stats.example_bootstrap_ci(x, seed=4)


def test_example_bootstrap_se_matches_analytic():
    """The percentile interval of a mean is about ±1.96 SE with SE = sd/sqrt(n)."""
    x = np.random.default_rng(2).choice([0.0, 100.0], 5000, p=[0.3, 0.7])
    iv = stats.example_bootstrap_ci(x, method="percentile", n_boot=4000)
    half = 1.96 * x.std() / math.sqrt(x.size)
    assert (iv.high - iv.low) / 2 == pytest.approx(half, rel=0.08)


def test_paired_bootstrap_is_narrower_than_unpaired_for_correlated_examples():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(0, 2, 2000)
    base = np.where(rng.random(2000) < 1 / (1 + np.exp(-difficulty)), 100.0, 0.0)
    flip = rng.random(2000) < 0.05
    cond = np.where(flip, 100.0 - base, base)
    paired = stats.example_bootstrap_ci(cond, base)
    separate = math.hypot(
        *(stats.example_bootstrap_ci(v).high - stats.example_bootstrap_ci(v).low for v in (cond, base))
    )
    assert paired.estimate == pytest.approx(cond.mean() - base.mean())
    assert paired.high - paired.low < 0.5 * separate


def test_no_variation_gives_zero_width_labelled():
    iv = stats.example_bootstrap_ci(np.full(50, 100.0))
    assert iv.low == iv.high == 100.0 and "no variation" in iv.note


@pytest.mark.parametrize("method", ["bca", "percentile"])
def test_example_bootstrap_coverage_bernoulli(method, assert_rate_near):
    rng = np.random.default_rng(10)
    trials, hits = 400, 0
    for i in range(trials):
        x = np.where(rng.random(150) < 0.8, 100.0, 0.0)
        hits += stats.example_bootstrap_ci(x, method=method, n_boot=500, seed=i).contains(80.0)
    assert_rate_near(hits, trials, 0.95)


def test_bca_coverage_skewed_micro_f1(assert_rate_near):
    """Micro-F1 of per-sentence counts is a ratio, recomputed per resample; truth = 200 E[TP] /
    (2 E[TP] + E[FP] + E[FN])."""
    rng = np.random.default_rng(11)
    truth = 200 * 1.5 / (3.0 + 0.6 + 0.9)
    trials, hits = 400, 0
    for i in range(trials):
        counts = np.stack([rng.poisson(1.5, 120), rng.poisson(0.6, 120), rng.poisson(0.9, 120)], axis=1)
        hits += stats.example_bootstrap_ci(counts, n_boot=500, seed=i).contains(truth)
    assert_rate_near(hits, trials, 0.95)


def test_stratified_bootstrap_coverage_over_languages(assert_rate_near):
    """Score = mean over languages; examples resampled within each language."""
    rng = np.random.default_rng(12)
    probs, sizes = (0.9, 0.6, 0.4), (300, 80, 40)
    truth = 100 * np.mean(probs)
    trials, hits = 400, 0
    for i in range(trials):
        langs = [np.where(rng.random(n) < p, 100.0, 0.0) for p, n in zip(probs, sizes, strict=True)]
        hits += stats.example_bootstrap_ci(langs, n_boot=500, seed=i).contains(truth)
    assert_rate_near(hits, trials, 0.95)


def _crossed(rng, mu, k, items, seed_sd, noise_sd):
    """x[s, i] = mu + a_s + b_i + e_si."""
    return mu + rng.normal(0, seed_sd, (k, 1)) + items[None] + rng.normal(0, noise_sd, (k, items.size))


@pytest.mark.parametrize("seed_sd", [2.0, 0.3])
def test_seeds_and_examples_interval_coverage_with_three_seeds(seed_sd, assert_rate_near):
    """Paired gain, 3 seeds per condition, crossed seed x example noise: the t-components interval
    covers the true gain at the nominal rate whether seeds or examples dominate."""
    rng = np.random.default_rng(13)
    trials, hits = 300, 0
    for i in range(trials):
        items = rng.normal(0, 20, 400)
        cond = _crossed(rng, 61.0, 3, items + rng.normal(0, 3, 400), seed_sd, 30)
        base = _crossed(rng, 60.0, 3, items, seed_sd, 30)
        hits += stats.seeds_and_examples_interval(cond, base, n_boot=300, seed=i).contains(1.0)
    assert_rate_near(hits, trials, 0.95)


def test_hierarchical_bootstrap_coverage_with_many_seeds(assert_rate_near):
    rng = np.random.default_rng(14)
    trials, hits = 300, 0
    for i in range(trials):
        items = rng.normal(0, 20, 300)
        cond = _crossed(rng, 61.0, 12, items, 1.0, 30)
        base = _crossed(rng, 60.0, 12, items, 1.0, 30)
        hits += stats.hierarchical_bootstrap_ci(cond, base, n_boot=300, seed=i).contains(1.0)
    # Resampling seeds and examples both counts the seed x example noise twice (conservative).
    lo, _ = sps.binom.interval(0.999, trials, 0.95)
    assert hits >= lo


def test_hierarchical_bootstrap_flags_few_seeds():
    rng = np.random.default_rng(15)
    items = rng.normal(0, 20, 100)
    iv = stats.hierarchical_bootstrap_ci(_crossed(rng, 60.0, 3, items, 1.0, 10), n_boot=200)
    assert "few seeds" in iv.note


def test_single_seed_with_examples_covers_test_set_only():
    rng = np.random.default_rng(16)
    cond = np.where(rng.random((1, 500)) < 0.7, 100.0, 0.0)
    base = np.where(rng.random((1, 500)) < 0.6, 100.0, 0.0)
    iv = stats.seeds_and_examples_interval(cond, base, n_boot=300)
    assert iv.has_bounds and "test-set sampling only" in iv.note


