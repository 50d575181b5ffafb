"""Holm and Benjamini-Hochberg against hand computation; rank agreement."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as sps

from xstilts.analysis import stats

# --- Multiple comparisons ------------------------------------------------------------------------


def test_holm_hand_computed():
    # sorted: 0.005 (x4), 0.01 (x3), 0.03 (x2), 0.04 (x1 -> max(0.06, 0.04) = 0.06)
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])


def test_bh_hand_computed():
    # sorted p * m / rank: 0.02, 0.02, 0.04, 0.04; running minimum from the largest p down
    assert stats.benjamini_hochberg([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.02, 0.04, 0.04, 0.02])


def test_corrections_cap_at_one_and_handle_ties():
    assert stats.holm([0.5, 0.5, 0.9]) == pytest.approx([1.0, 1.0, 1.0])
    assert stats.benjamini_hochberg([0.5, 0.5, 0.9]) == pytest.approx([0.75, 0.75, 0.9])
    assert stats.holm([]).size == 0


def test_corrections_reject_nan():
    with pytest.raises(ValueError, match="finite"):
        stats.holm([0.1, math.nan])
    with pytest.raises(ValueError):
        stats.benjamini_hochberg([1.2])


def test_corrections_match_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = np.random.default_rng(0).uniform(0, 0.2, 25)
    assert stats.holm(p) == pytest.approx(multitest.multipletests(p, method="holm")[1])
    assert stats.benjamini_hochberg(p) == pytest.approx(multitest.multipletests(p, method="fdr_bh")[1])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.0, 1.0), min_size=1, max_size=30))
def test_correction_properties(p):
    p = np.array(p)
    h, b = stats.holm(p), stats.benjamini_hochberg(p)
    assert (h >= p - 1e-12).all() and (b >= p - 1e-12).all()
    assert (h <= 1).all() and (b <= 1).all()
    assert (b <= h + 1e-12).all()  # BH never adjusts more than Holm
    order = np.argsort(p, kind="stable")
    assert (np.diff(h[order]) >= -1e-12).all() and (np.diff(b[order]) >= -1e-12).all()


# --- Rank agreement ------------------------------------------------------------------------------


def test_identical_rankings_agree_perfectly():
    r = stats.rank_agreement([1.0, 2.5, 3.0, 7.0, 9.0], [10.0, 20.0, 30.0, 40.0, 50.0])
    assert r.spearman == pytest.approx(1.0) and r.kendall == pytest.approx(1.0)
    assert r.exact and r.spearman_p == pytest.approx(2 / 120)  # the order and its reverse


def test_reversed_rankings_disagree_perfectly():
    r = stats.rank_agreement(np.arange(12.0), -np.arange(12.0), n_permutations=999)
    assert r.spearman == pytest.approx(-1.0) and r.kendall == pytest.approx(-1.0)
    assert not r.exact and r.spearman_p == pytest.approx(1 / 1000)


def test_ties_match_scipy():
    x, y = [1.0, 2.0, 2.0, 4.0, 5.0, 6.0], [1.0, 3.0, 3.0, 3.0, 5.0, 4.0]
    r = stats.rank_agreement(x, y)
    assert r.ties
    assert r.spearman == pytest.approx(sps.spearmanr(x, y).statistic)
    assert r.kendall == pytest.approx(sps.kendalltau(x, y).statistic)  # tau-b


def test_exact_pvalue_matches_scipy_exact_kendall():
    x = [3.0, 1.0, 4.0, 1.5, 5.0, 9.0, 2.0]
    y = [2.0, 0.5, 5.0, 1.0, 3.0, 8.0, 4.0]
    r = stats.rank_agreement(x, y)
    assert r.exact and r.n_permutations == 5040
    assert r.kendall_p == pytest.approx(sps.kendalltau(x, y, method="exact").pvalue)


def test_small_n_reports_min_attainable_p():
    r = stats.rank_agreement([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    assert r.min_attainable_p == pytest.approx(1 / 3)
    assert r.spearman_p == pytest.approx(1 / 3) and "no p-value below" in r.note


@pytest.mark.parametrize(
    ("x", "y", "why"), [([1.0, 2.0], [2.0, 1.0], "at least 3"), ([1.0, 1.0, 1.0], [1.0, 2.0, 3.0], "tied")]
)
def test_undefined_rank_agreement_is_labelled(x, y, why):
    r = stats.rank_agreement(x, y)
    assert math.isnan(r.spearman) and why in r.note


def test_rank_agreement_pvalue_is_uniform_under_independence(assert_rate_near):
    rng = np.random.default_rng(5)
    hits = sum(
        stats.rank_agreement(rng.normal(size=9), rng.normal(size=9), n_permutations=199, seed=i).spearman_p <= 0.05
        for i in range(300)
    )
    assert_rate_near(hits, 300, 0.05)
