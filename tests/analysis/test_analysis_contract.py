"""The score-table contract and edge cases: clear errors or clearly labelled degenerate results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis import divergence_table, gain_table, interaction_test, transfer_gap_table, validate_scores
from xstilts.analysis.simulate import simulate_grid
from xstilts.errors import DataError


@pytest.fixture
def grid():
    return simulate_grid(rng=0)


def test_valid_scores_pass_and_are_typed(grid):
    df = validate_scores(grid.scores.assign(seed=grid.scores["seed"].astype(float)))
    assert df["seed"].dtype == np.int64 and len(df) == len(grid.scores)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.drop(columns="family"), "missing columns"),
        (lambda d: d.assign(score=d["score"].where(d.index != 3, 140.0)), r"\[0, 100\]"),
        (lambda d: d.assign(score=d["score"].where(d.index != 3, np.nan)), "missing values"),
        (lambda d: d.assign(family=d["family"].replace("decoder", "seq2seq")), "unknown family"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "appear twice"),
        (lambda d: d.assign(family=np.where(d.index == 0, "decoder", d["family"])), "both families"),
        (lambda d: d.assign(seed=d["seed"] + 0.5), "integers"),
        (lambda d: d.iloc[0:0], "empty"),
    ],
)
def test_contract_violations_are_clear_errors(grid, change, message):
    with pytest.raises(DataError, match=message):
        validate_scores(change(grid.scores))


def test_missing_baseline_is_an_error_naming_it(grid):
    no_base = grid.scores[~((grid.scores["model"] == "dec") & (grid.scores["intermediate"] == "none"))]
    for fn in (gain_table, divergence_table):
        with pytest.raises(DataError, match=r"model 'dec', target 'task': no runs with intermediate 'none'"):
            fn(no_base)


def test_run_missing_a_language_is_an_error_listing_it(grid):
    partial = grid.scores.drop(
        grid.scores.index[
            (grid.scores["model"] == "enc")
            & (grid.scores["seed"] == 1)
            & (grid.scores["intermediate"] == "a")
            & (grid.scores["language"] == "l2")
        ]
    )
    with pytest.raises(DataError, match=r"\('enc', 'a', 1, 'l2'\)"):
        gain_table(partial)


def test_condition_missing_for_one_family_is_a_labelled_row(grid, assert_no_silent_nan):
    partial = grid.scores[~((grid.scores["family"] == "decoder") & (grid.scores["intermediate"] == "b"))]
    table = divergence_table(partial)
    row = table.frame.set_index("intermediate").loc["b"]
    assert not row["testable"] and "no runs of ['dec']" in row["note"] and np.isnan(row["p_holm"])
    assert_no_silent_nan(table.frame)
    assert table.frame["testable"].sum() == 2
    test = interaction_test(partial, "task", n_permutations=99)
    assert test.excluded == ("b",) and test.intermediates == ("a", "c") and "excluded" in test.note
    gains = gain_table(partial).frame
    assert set(gains.loc[gains["model"] == "dec", "intermediate"]) == {"a", "c"}


def test_single_seed_without_examples_gives_labelled_missing_intervals(assert_no_silent_nan):
    sim = simulate_grid(seeds=1, rng=1)
    for table in (gain_table(sim.scores), divergence_table(sim.scores), transfer_gap_table(sim.scores)):
        frame = table.frame
        assert frame.select_dtypes(include=[np.number]).isna().any().any()
        assert_no_silent_nan(frame)
        assert frame["note"].str.contains("single seed").all()
    test = interaction_test(sim.scores, "task", n_permutations=99)
    assert np.isnan(test.p_value) and "single seed" in test.note


def test_single_seed_with_examples_gives_test_set_intervals(assert_no_silent_nan):
    sim = simulate_grid(seeds=1, n_examples=200, rng=2)
    frame = gain_table(sim.scores, sim.examples, n_boot=200).frame
    assert frame[["gain_low", "gain_high"]].notna().all().all()
    assert frame["note"].str.contains("test-set sampling only").all()
    assert_no_silent_nan(frame)


def test_single_seed_baseline_borrows_pooled_variance(assert_no_silent_nan):
    sim = simulate_grid(seeds={"none": 1, "a": 3, "b": 3, "c": 3}, rng=3)
    frame = gain_table(sim.scores).frame
    assert frame[["gain_low", "gain_high"]].notna().all().all()
    cell = gain_table(sim.scores, variance="cell").frame
    assert cell["gain_low"].isna().all()
    assert_no_silent_nan(cell)


def test_examples_on_the_wrong_scale_are_an_error():
    sim = simulate_grid(n_examples=100, rng=4)
    scaled = {k: v / 100.0 for k, v in sim.examples.items()}
    with pytest.raises(DataError, match="0-100 scale"):
        gain_table(sim.scores, scaled)


def test_examples_for_some_runs_only_are_an_error():
    sim = simulate_grid(n_examples=100, rng=5)
    partial = dict(list(sim.examples.items())[:-1])
    with pytest.raises(DataError, match="give them for all runs or none"):
        gain_table(sim.scores, partial)


def test_examples_not_aligned_across_runs_are_an_error():
    sim = simulate_grid(n_examples=100, rng=6)
    key = next(iter(sim.examples))
    bad = dict(sim.examples) | {key: sim.examples[key][:-1]}
    scores = sim.scores.copy()
    mask = scores[["model", "intermediate", "target", "language", "seed"]].apply(tuple, axis=1) == key
    scores.loc[mask, "score"] = float(bad[key].mean())
    with pytest.raises(DataError, match="differ in shape"):
        gain_table(scores, bad)


def test_divergence_needs_both_families(grid):
    with pytest.raises(DataError, match="no decoder models"):
        divergence_table(grid.scores[grid.scores["family"] == "encoder"])


def test_unknown_target_is_an_error(grid):
    with pytest.raises(DataError, match="no scores"):
        gain_table(grid.scores, targets=["xnli"])
