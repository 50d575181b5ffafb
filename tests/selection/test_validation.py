import itertools

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xstilts.errors import DataError
from xstilts.selection import validate_ranking
from xstilts.selection.validation import _chance_of_hit, _hit_probability


def frames(scores, gains, model="xlmr", target="xnli", family="encoder"):
    names = [chr(ord("a") + i) for i in range(len(gains))]
    predictions = pd.DataFrame({"model": model, "target": target, "intermediate": names[: len(scores)], "score": scores})
    measured = pd.DataFrame({"model": model, "family": family, "target": target, "intermediate": names, "gain": gains})
    return predictions, measured


def one_group(scores, gains, **kwargs):
    report = validate_ranking(*frames(scores, gains), permutations=0, **kwargs)
    return report.per_group.iloc[0]


def test_perfect_ranking():
    row = one_group([4.0, 3.0, 2.0, 1.0], [3.0, 2.0, 1.0, 0.0])
    assert row.spearman == pytest.approx(1.0) and row.kendall == pytest.approx(1.0)
    assert row.top1 == 1.0 and row.top3 == 1.0
    assert row.regret == 0.0 and row.relative_regret == 0.0
    assert row.random_regret == pytest.approx(1.5)
    assert row.best == "a" and row.chosen == "a"


def test_reversed_ranking():
    row = one_group([1.0, 2.0, 3.0, 4.0], [3.0, 2.0, 1.0, 0.0])
    assert row.spearman == pytest.approx(-1.0) and row.kendall == pytest.approx(-1.0)
    assert row.top1 == 0.0 and row.top3 == 0.0
    assert row.regret == 3.0 and row.relative_regret == 1.0
    assert row.chosen == "d" and row.chosen_gain == 0.0


def test_one_swap_hand_computed():
    row = one_group([2.0, 3.0, 1.0, 0.0], [3.0, 2.0, 1.0, 0.0])
    assert row.spearman == pytest.approx(1 - 6 * 2 / (4 * 15))  # sum of squared rank differences = 2
    assert row.kendall == pytest.approx((5 - 1) / 6)  # one discordant pair of six
    assert row.top1 == 0.0 and row.top3 == 1.0
    assert row.regret == 1.0


def test_a_tie_for_the_predicted_top_is_broken_at_random_in_expectation():
    row = one_group([1.0, 1.0, 0.0], [2.0, 1.0, 0.0])
    assert row.top1 == 0.5
    assert row.regret == pytest.approx(0.5)  # best 2 minus the mean of 2 and 1
    assert row.chosen == "a|b"


def test_a_tie_across_the_kth_place():
    # Three candidates tie for places 3-5; the best is one of them: 1 slot among 3.
    row = one_group([5.0, 4.0, 3.0, 3.0, 3.0], [0.0, 1.0, 2.0, 9.0, 3.0])
    assert row.top3 == pytest.approx(1 / 3)
    assert row.top1_chance == pytest.approx(1 / 5) and row.top3_chance == pytest.approx(3 / 5)


def test_tied_best_gains_count_either_task():
    assert one_group([0.0, 1.0, 2.0], [2.0, 2.0, 0.0]).top1 == 0.0
    row = one_group([1.0, 2.0, 0.0], [2.0, 2.0, 0.0])
    assert row.top1 == 1.0 and row.best == "a|b" and row.top1_chance == pytest.approx(2 / 3)


def test_tolerance_widens_the_set_of_best_tasks():
    assert one_group([0.0, 1.0, -1.0], [2.0, 1.95, 0.0]).top1 == 0.0
    assert one_group([0.0, 1.0, -1.0], [2.0, 1.95, 0.0], tolerance=0.1).top1 == 1.0


def test_constant_gains_have_no_correlation():
    row = one_group([3.0, 2.0, 1.0], [1.0, 1.0, 1.0])
    assert np.isnan(row.spearman) and np.isnan(row.kendall) and np.isnan(row.relative_regret)
    assert row.regret == 0.0


def test_tiny_candidate_sets_are_reported_but_not_aggregated():
    predictions = pd.DataFrame(
        {"model": "m", "target": ["t1", "t2", "t2"], "intermediate": ["a", "a", "b"], "score": [1.0, 1.0, 0.0]}
    )
    gains = pd.DataFrame({"model": "m", "target": ["t1", "t2", "t2"], "intermediate": ["a", "a", "b"], "gain": [5.0, 0.0, 1.0]})
    report = validate_ranking(predictions, gains, permutations=0)
    single = report.per_group.set_index("target").loc["t1"]
    assert single.n_candidates == 1 and np.isnan(single.spearman) and single.top1_chance == 1.0
    pair = report.per_group.set_index("target").loc["t2"]
    assert pair.top3 == 1.0 and pair.top3_chance == 1.0  # uninformative, and the chance column says so
    assert report.overall.loc[0, "n_groups"] == 1
    assert report.overall.loc[0, "top1"] == 0.0  # only t2, where the worse of two was chosen


def test_rank_column_is_accepted():
    predictions, gains = frames([4.0, 3.0, 2.0, 1.0], [3.0, 2.0, 1.0, 0.0])
    by_rank = predictions.drop(columns="score").assign(rank=[4, 3, 2, 1])
    row = validate_ranking(by_rank, gains, permutations=0).per_group.iloc[0]
    assert row.spearman == pytest.approx(-1.0)


def test_unmatched_candidates_are_left_out_and_counted():
    predictions, gains = frames([3.0, 2.0, 1.0], [3.0, 2.0, 1.0, 0.0])
    predictions = pd.concat([predictions, pd.DataFrame([{"model": "xlmr", "target": "xnli", "intermediate": "z", "score": 9.0}])])
    row = validate_ranking(predictions, gains, permutations=0).per_group.iloc[0]
    assert row.n_candidates == 3 and row.n_unscored == 1 and row.n_unmeasured == 1
    assert row.spearman == pytest.approx(1.0)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda p, g: (pd.concat([p, p.iloc[:1]]), g),  # duplicate prediction
        lambda p, g: (p, pd.concat([g, g.iloc[:1]])),  # duplicate gain (e.g. seeds not averaged)
        lambda p, g: (p.drop(columns="score"), g),
        lambda p, g: (p, g.drop(columns="target")),
        lambda p, g: (p, g.assign(gain=[1.0, np.nan, 0.0])),
        lambda p, g: (p.assign(score=[1.0, np.inf, 0.0]), g),
    ],
    ids=["dup-prediction", "dup-gain", "no-score", "no-target", "nan-gain", "inf-score"],
)
def test_malformed_frames_raise_data_errors(mutate):
    with pytest.raises(DataError):
        validate_ranking(*mutate(*frames([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])), permutations=0)


def grid(scores_by_group):
    """scores_by_group: {(model, family, target): (scores, gains)} -> (predictions, gains)."""
    preds, gains = [], []
    for (model, family, target), (scores, gain) in scores_by_group.items():
        p, g = frames(scores, gain, model=model, target=target, family=family)
        preds.append(p)
        gains.append(g)
    return pd.concat(preds, ignore_index=True), pd.concat(gains, ignore_index=True)


def test_aggregates_are_means_over_groups():
    predictions, gains = grid(
        {
            ("xlmr", "encoder", "xnli"): ([3.0, 2.0, 1.0], [3.0, 2.0, 1.0]),  # perfect
            ("xlmr", "encoder", "pawsx"): ([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]),  # reversed, regret 2
            ("qwen", "decoder", "xnli"): ([3.0, 1.0, 2.0], [3.0, 2.0, 1.0]),  # spearman 0.5
        }
    )
    report = validate_ranking(predictions, gains, permutations=0)
    by_model = report.by_model.set_index("model")
    assert by_model.loc["xlmr", "spearman"] == pytest.approx(0.0)
    assert by_model.loc["xlmr", "regret"] == pytest.approx(1.0)
    assert by_model.loc["xlmr", "top1"] == pytest.approx(0.5)
    assert by_model.loc["qwen", "spearman"] == pytest.approx(0.5)
    assert report.by_family.set_index("family").loc["decoder", "n_groups"] == 1
    assert report.by_target.set_index("target").loc["xnli", "spearman"] == pytest.approx(0.75)
    assert report.overall.loc[0, "spearman"] == pytest.approx((1.0 - 1.0 + 0.5) / 3)
    assert report.overall.loc[0, "n_groups"] == 3
    assert list(report.per_group["family"]) == ["decoder", "encoder", "encoder"]


def test_permutation_p_value_separates_skill_from_luck():
    rng = np.random.default_rng(0)
    gains = {("m", "encoder", f"t{i}"): rng.normal(size=5) for i in range(6)}
    perfect = validate_ranking(*grid({k: (g, g) for k, g in gains.items()}), permutations=1000)
    assert perfect.overall.loc[0, "spearman"] == pytest.approx(1.0)
    assert perfect.overall.loc[0, "spearman_p"] < 0.01
    lucky = validate_ranking(*grid({k: (rng.normal(size=5), g) for k, g in gains.items()}), permutations=1000)
    assert lucky.overall.loc[0, "spearman_p"] > 0.05
    again = validate_ranking(*grid({k: (g, g) for k, g in gains.items()}), permutations=1000)
    assert again.overall.loc[0, "spearman_p"] == perfect.overall.loc[0, "spearman_p"]


def brute_force_hit(scores, is_best, k):
    """Average over every order consistent with the scores (ties in any order) of [a best is in the top k]."""
    orders = [o for o in itertools.permutations(range(len(scores))) if all(scores[a] >= scores[b] for a, b in itertools.pairwise(o))]
    return np.mean([any(is_best[i] for i in o[:k]) for o in orders])


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 2), min_size=1, max_size=6),
    data=st.data(),
)
def test_hit_probability_equals_enumeration_of_tie_breaks(scores, data):
    n = len(scores)
    is_best = data.draw(st.lists(st.booleans(), min_size=n, max_size=n).filter(any))
    k = data.draw(st.integers(1, n + 1))
    s, b = np.array(scores, dtype=float), np.array(is_best)
    assert _hit_probability(s, b, k) == pytest.approx(brute_force_hit(s, b, k))
    assert _chance_of_hit(n, int(b.sum()), k) == pytest.approx(brute_force_hit(np.zeros(n), b, k))


def test_a_language_key_gives_per_language_groups_and_aggregates():
    rows = []
    for language, gains in {"de": [2.0, 1.0, 0.0], "sw": [0.0, 1.0, 2.0]}.items():
        predictions, measured = frames([3.0, 2.0, 1.0], gains)
        rows.append((predictions.assign(language=language), measured.assign(language=language)))
    predictions = pd.concat([p for p, _ in rows], ignore_index=True)
    gains = pd.concat([g for _, g in rows], ignore_index=True)
    with pytest.raises(DataError):  # two rows per (model, target, intermediate) without the key
        validate_ranking(predictions, gains, permutations=0)
    report = validate_ranking(predictions, gains, keys=("model", "target", "language"), permutations=0)
    by_language = report.by["language"].set_index("language")
    assert by_language.loc["de", "spearman"] == pytest.approx(1.0)
    assert by_language.loc["sw", "spearman"] == pytest.approx(-1.0)
    assert report.by_model.loc[0, "n_groups"] == 2
