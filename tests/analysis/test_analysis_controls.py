"""The null control: one family's models split into pseudo-families in every balanced way."""

from __future__ import annotations

import pytest

from xstilts.analysis.controls import balanced_splits, null_control, wilson
from xstilts.analysis.simulate import simulate_grid
from xstilts.errors import ConfigError


def test_balanced_splits_enumerate_each_unordered_split_once():
    four = balanced_splits(["a", "b", "c", "d"])
    assert len(four) == 3  # C(4,2) / 2
    assert {frozenset(x) | frozenset(y) for x, y in four} == {frozenset("abcd")}
    assert len({frozenset([frozenset(x), frozenset(y)]) for x, y in four}) == 3
    assert len(balanced_splits(list("abcde"))) == 10  # C(5,2): halves of 2 and 3 are never the same split
    assert len(balanced_splits(list("abcdef"))) == 10  # C(6,3) / 2
    with pytest.raises(ConfigError, match="at least 4 models of one family"):
        balanced_splits(["a", "b", "c"])


def test_a_family_without_architecture_differences_fires_near_alpha():
    """Six encoders whose gains differ only by model noise (models as draws from one recipe)."""
    rates = []
    for rng in range(6):
        sim = simulate_grid(encoders=[f"e{i}" for i in range(6)], decoders=(), targets=("t1", "t2"), gains={"a": 2.0, "b": 1.0, "c": 0.5},
                            model_sd=0.8, seeds=2, rng=rng)
        result = null_control(sim.scores, n_permutations=99)
        assert len(result.tests) == 10 * 2 and result.tests["p_value"].notna().all()
        assert set(result.tests["inference"]) == {"random models"}
        rates.append(result.rate)
    # 120 correlated tests: the mean rate stays near 5%, far from what a real divergence gives
    assert sum(rates) / len(rates) < 0.15


def test_a_planted_divergence_between_halves_fires_in_the_split_that_matches_it():
    sim = simulate_grid(encoders=("e0", "e1", "e2"), decoders=("d0", "d1", "d2"), targets=("t1",), interaction={"a": 8.0, "b": -6.0},
                        model_sd=0.3, seeds=2, rng=7)
    scores = sim.scores.assign(family="encoder")  # all labelled one family: the planted halves are e* and d*
    result = null_control(scores, n_permutations=99)
    p = dict(zip(result.tests["split"], result.tests["p_value"], strict=True))
    assert p["d0+d1+d2 | e0+e1+e2"] < 0.01
    assert "null control on 6 encoder models" in result.summary()


def test_wilson_interval_brackets_the_rate():
    low, high = wilson(5, 100)
    assert 0 <= low < 0.05 < high < 0.12
