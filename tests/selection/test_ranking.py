import time

import numpy as np
import pytest

from xstilts.errors import ConfigError, DataError
from xstilts.selection import Estimate, logme, measure, rank_candidates, validate_ranking

ESTIMATES = {
    "mnli": {"logme": -0.50, "similarity": 0.9},
    "squad": {"logme": -0.40, "similarity": 0.5},
    "sst2": {"logme": -0.70, "similarity": 0.1},
}


def test_rank_average_hand_computed():
    ranking = rank_candidates(ESTIMATES)
    # logme ranks: squad 1, mnli 2, sst2 3; similarity: mnli 1, squad 2, sst2 3.
    assert ranking.ranks.loc["mnli"].tolist() == [2.0, 1.0]
    assert ranking.combined == {"mnli": -1.5, "squad": -1.5, "sst2": -3.0}
    assert ranking.candidates == ("mnli", "squad", "sst2")  # tie broken by name, still tied in `combined`
    assert ranking.top(1) == ["mnli"]


def test_weights_and_single_estimator_methods():
    weighted = rank_candidates(ESTIMATES, weights={"logme": 3.0, "similarity": 1.0})
    assert weighted.combined["squad"] == pytest.approx(-(3 * 1 + 2) / 4)
    assert weighted.candidates[0] == "squad"
    assert rank_candidates(ESTIMATES, method="similarity").candidates == ("mnli", "squad", "sst2")
    assert rank_candidates(ESTIMATES, method="logme").candidates == ("squad", "mnli", "sst2")


def test_lower_is_better_flips_an_estimator():
    ranking = rank_candidates(ESTIMATES, method="logme", lower_is_better={"logme"})
    assert ranking.candidates == ("sst2", "mnli", "squad")


def test_tied_estimates_share_the_average_rank():
    ranking = rank_candidates({"a": {"e": 1.0}, "b": {"e": 1.0}, "c": {"e": 0.0}})
    assert ranking.ranks["e"].to_dict() == {"a": 1.5, "b": 1.5, "c": 3.0}


def test_measure_times_an_estimator_and_keeps_its_result():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 50)
    estimate = measure("logme", logme, rng.normal(size=(50, 4)), labels)
    assert estimate.value == estimate.detail.score
    assert estimate.seconds > 0
    slow = measure("sleep", lambda: (time.sleep(0.02), 1.0)[1])
    assert slow.value == 1.0 and slow.seconds >= 0.02


def test_seconds_travel_into_the_ranking():
    estimates = {
        "mnli": [Estimate("logme", -0.5, 1.0), Estimate("sim", 0.9, 0.25)],
        "squad": [Estimate("logme", -0.4, 2.0), Estimate("sim", 0.5, 0.25)],
    }
    ranking = rank_candidates(estimates)
    assert ranking.seconds.loc["squad", "logme"] == 2.0
    assert ranking.seconds_per_estimator.to_dict() == {"logme": 3.0, "sim": 0.5}


def test_incomplete_or_unknown_inputs_are_refused():
    with pytest.raises(DataError):
        rank_candidates({"a": {"x": 1.0, "y": 2.0}, "b": {"x": 1.0}})
    with pytest.raises(DataError):
        rank_candidates({"a": {"x": float("nan")}, "b": {"x": 1.0}})
    with pytest.raises(ConfigError):
        rank_candidates(ESTIMATES, method="magic")
    with pytest.raises(ConfigError):
        rank_candidates(ESTIMATES, weights={"logme": -1.0})


def test_a_ranking_feeds_validation():
    import pandas as pd

    ranking = rank_candidates(ESTIMATES, method="logme")
    predictions = ranking.to_frame(model="xlmr", target="xnli")
    assert list(predictions.columns) == ["model", "target", "intermediate", "score"]
    gains = pd.DataFrame(
        {"model": "xlmr", "target": "xnli", "intermediate": ["squad", "mnli", "sst2"], "gain": [2.0, 1.0, -1.0]}
    )
    report = validate_ranking(predictions, gains, permutations=0)
    assert report.per_group.loc[0, "spearman"] == pytest.approx(1.0)
    assert report.per_group.loc[0, "regret"] == 0.0
