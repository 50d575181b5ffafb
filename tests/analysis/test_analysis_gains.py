"""Gain and gap tables: hand-computed values, agreement with the primitives, coverage."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps

from xstilts.analysis import gain_table, seeds_and_examples_interval, transfer_gap_table
from xstilts.analysis.simulate import simulate_grid


def _runs(scores: pd.DataFrame) -> pd.DataFrame:
    """Per-run target score (mean over languages)."""
    return scores.groupby(["model", "intermediate", "seed"])["score"].mean().rename("y").reset_index()


def test_gain_is_condition_mean_minus_baseline_mean_with_welch_interval():
    sim = simulate_grid(rng=20)
    frame = gain_table(sim.scores, variance="cell").frame.set_index(["model", "intermediate"])
    runs = _runs(sim.scores)
    cond = runs.query("model == 'enc' and intermediate == 'b'")["y"].to_numpy()
    base = runs.query("model == 'enc' and intermediate == 'none'")["y"].to_numpy()
    row = frame.loc[("enc", "b")]
    assert row["gain"] == pytest.approx(cond.mean() - base.mean())
    lo, hi = sps.ttest_ind(cond, base, equal_var=False).confidence_interval(0.95)
    assert (row["gain_low"], row["gain_high"]) == pytest.approx((lo, hi))
    assert row["gain_p"] == pytest.approx(sps.ttest_ind(cond, base, equal_var=False).pvalue)
    assert row["score"] == pytest.approx(cond.mean()) and row["baseline_score"] == pytest.approx(base.mean())


def test_pooled_variance_uses_all_conditions_of_the_model():
    sim = simulate_grid(rng=21)
    row = gain_table(sim.scores).frame.set_index(["model", "intermediate"]).loc[("dec", "a")]
    runs = _runs(sim.scores).query("model == 'dec'")
    resid = runs["y"] - runs.groupby("intermediate")["y"].transform("mean")
    df = len(runs) - runs["intermediate"].nunique()
    se = np.sqrt((resid**2).sum() / df * (1 / 3 + 1 / 3))
    half = sps.t.ppf(0.975, df) * se
    assert (row["gain_high"] - row["gain_low"]) / 2 == pytest.approx(half)
    assert "pooled" in row["ci_method"]


def test_language_gains_average_to_the_target_gain():
    sim = simulate_grid(rng=22)
    by_target = gain_table(sim.scores).frame.set_index(["model", "intermediate"])["gain"]
    by_lang = gain_table(sim.scores, by="language").frame
    assert set(by_lang["language"]) == {"en", "l1", "l2", "l3"}
    averaged = by_lang.groupby(["model", "intermediate"])["gain"].mean()
    assert averaged.to_numpy() == pytest.approx(by_target.loc[averaged.index].to_numpy())


def test_gain_table_description_names_what_it_shows():
    table = gain_table(simulate_grid(rng=23).scores, level=0.9)
    assert table.description.endswith(".") and "90% t-intervals over fine-tuning seeds" in table.description
    assert "'none'" in table.description


def test_gain_table_with_examples_agrees_with_the_primitive():
    """Single language, cell variances: the table's interval is the seeds-and-examples interval
    (up to bootstrap noise in the test-set part)."""
    sim = simulate_grid(languages=("en",), n_examples=400, seed_sd=0.5, rng=24)
    row = (
        gain_table(sim.scores, sim.examples, variance="cell", n_boot=2000)
        .frame.set_index(["model", "intermediate"])
        .loc[("enc", "a")]
    )
    cond = np.stack([sim.examples[("enc", "a", "task", "en", s)] for s in range(3)])
    base = np.stack([sim.examples[("enc", "none", "task", "en", s)] for s in range(3)])
    iv = seeds_and_examples_interval(cond, base, n_boot=2000)
    assert row["gain"] == pytest.approx(iv.estimate)
    assert row["gain_high"] - row["gain_low"] == pytest.approx(iv.high - iv.low, rel=0.1)


def test_hierarchical_option_is_labelled():
    sim = simulate_grid(n_examples=100, rng=25)
    frame = gain_table(sim.scores, sim.examples, ci_method="hierarchical", n_boot=200).frame
    assert frame["ci_method"].str.startswith("hierarchical").all()
    assert frame["note"].str.contains("few seeds").all()
    without = gain_table(sim.scores, ci_method="hierarchical").frame
    assert without["note"].str.contains("instead of the hierarchical bootstrap").all()


def test_gain_intervals_cover_the_true_gain(assert_rate_near):
    """Target-level gains (mean over 4 languages), 3 seeds, seed noise shared across languages.
    One gain per model per grid, so the intervals are independent (a model's gains share its
    baseline runs)."""
    hits = trials = 0
    for i in range(150):
        sim = simulate_grid(gains={"a": 2.0, "b": -1.0, "c": 0.0}, interaction={"a": 1.0}, rng=100 + i)
        frame = gain_table(sim.scores).frame.set_index(["model", "intermediate"])
        for model, intermediate in (("enc", "a"), ("dec", "b")):
            truth = np.mean([sim.true_gain[(model, intermediate, lang)] for lang in ("en", "l1", "l2", "l3")])
            row = frame.loc[(model, intermediate)]
            hits += row["gain_low"] <= truth <= row["gain_high"]
            trials += 1
    assert_rate_near(hits, trials, 0.95)


def test_gap_table_values():
    sim = simulate_grid(rng=26)
    table = transfer_gap_table(sim.scores)
    frame = table.frame.set_index(["model", "intermediate"])
    s = sim.scores.query("model == 'enc'")
    per_run = s.pivot_table(index=["intermediate", "seed"], columns="language", values="score")
    gap = (per_run["en"] - per_run[["l1", "l2", "l3"]].mean(axis=1)).groupby("intermediate").mean()
    assert frame.loc[("enc", "a"), "gap"] == pytest.approx(gap["a"])
    assert frame.loc[("enc", "a"), "gap_change"] == pytest.approx(gap["a"] - gap["none"])
    assert np.isnan(frame.loc[("enc", "none"), "gap_change"]) and "baseline row" in frame.loc[("enc", "none"), "note"]
    assert frame.loc[("enc", "a"), "english"] - frame.loc[("enc", "a"), "zero_shot"] == pytest.approx(gap["a"])


def test_gap_table_skips_targets_without_english():
    sim = simulate_grid(targets=("xnli", "tatoeba"), rng=27)
    scores = sim.scores[~((sim.scores["target"] == "tatoeba") & (sim.scores["language"] == "en"))]
    table = transfer_gap_table(scores)
    assert set(table.frame["target"]) == {"xnli"}
    assert any("tatoeba" in n for n in table.notes)
