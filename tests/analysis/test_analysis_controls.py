"""The controls of the divergence test: the null control (one family split into pseudo-families in every balanced way) and the planted control."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.analysis.controls import balanced_splits, null_control, planted_control, wilson
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


def test_the_null_control_can_be_limited_to_some_models_of_the_family():
    sim = simulate_grid(encoders=[f"e{i}" for i in range(6)], decoders=(), targets=("t1",), gains={"a": 2.0}, model_sd=0.8, seeds=2, rng=3)
    result = null_control(sim.scores, members=["e0", "e1", "e2", "e3"], n_permutations=99)
    assert result.models == ("e0", "e1", "e2", "e3") and result.tests["split"].nunique() == 3
    with pytest.raises(ConfigError, match="e9: not among the encoder models"):
        null_control(sim.scores, members=["e0", "e1", "e2", "e9"], n_permutations=99)


def test_a_planted_control_fires_where_the_halves_gain_differently_and_reports_their_gains():
    sim = simulate_grid(encoders=("e0", "e1", "e2"), decoders=("d0", "d1", "d2"), targets=("t1", "t2"), gains={"a": 6.0, "b": 4.0},
                        model_sd=0.3, seeds=3, rng=11)
    scores = sim.scores.assign(family="encoder")
    inert = scores["model"].str.startswith("d") & (scores["intermediate"] != "none")
    baseline = scores[scores["intermediate"] == "none"].set_index(["model", "target", "language", "seed"])["score"]
    # the d* half carries nothing from intermediate training: its scores are its baseline's, plus seed noise
    keys = list(zip(scores.loc[inert, "model"], scores.loc[inert, "target"], scores.loc[inert, "language"], scores.loc[inert, "seed"], strict=True))
    noise = np.random.default_rng(0).normal(0, 0.5, size=len(keys))
    scores.loc[inert, "score"] = baseline.loc[keys].to_numpy() + noise
    result = planted_control(scores, ["e0", "e1", "e2"], ["d0", "d1", "d2"], n_permutations=99)
    rows = result.tests.set_index("target")
    assert rows["fired"].all() and (rows["p_value"] < 0.01).all()
    assert (rows["first_gain"] > 3).all() and (rows["second_gain"].abs() < 1).all()
    assert "fired on 2 of 2 targets" in result.summary()
    same = planted_control(sim.scores.assign(family="encoder"), ["e0", "e1", "e2"], ["d0", "d1", "d2"], n_permutations=99)
    assert same.tests["first_gain"].notna().all()
    with pytest.raises(ConfigError, match="in both halves"):
        planted_control(scores, ["e0", "e1"], ["e1", "d0"])
