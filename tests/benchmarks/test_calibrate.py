"""Fitting the planner's throughput table to measured stage times."""

from __future__ import annotations

import json

import pytest

from benchmarks.calibrate import Fit, Observation, calibrated_table, fit, leave_one_out, summary


def _obs(truth: Fit, noise: list[float]) -> list[Observation]:
    shapes = [(2e5, 1e4), (5e5, 2e4), (0.0, 3e4), (1e6, 5e3), (0.0, 8e4), (3e5, 0.0), (4e5, 1e4), (0.0, 5e4), (8e5, 3e4), (1e5, 0.0)]
    out = []
    for n, ((train, inference), e) in enumerate(zip(shapes, noise)):
        o = Observation(f"s{n}", "target" if train else "evaluate", f"s{n}", 1.0, train, inference, 1.3e6, 999.0)
        out.append(Observation(o.stage_id, o.kind, o.label, truth.seconds(o) * e, train, inference, 1.3e6, 999.0))
    return out


def test_fit_recovers_overhead_and_rates_from_exact_times():
    truth = Fit(overhead=20.0, train_rate=5000.0, inference_rate=20000.0)
    obs = _obs(truth, [1.0] * 10)
    got = fit(obs)
    assert got.overhead == pytest.approx(20.0, rel=1e-6)
    assert got.train_rate == pytest.approx(5000.0, rel=1e-6) and got.inference_rate == pytest.approx(20000.0, rel=1e-6)
    assert summary(obs, [got.seconds(o) for o in obs])["stages_within_30pct"] == 1.0
    assert summary(obs, [o.estimated for o in obs])["stages_within_30pct"] == 0.0  # 999 s against measured


def test_training_and_evaluate_stages_get_their_own_fixed_cost():
    truth = Fit(overhead=8.0, train_rate=5000.0, inference_rate=20000.0, evaluate_overhead=0.5)
    obs = _obs(truth, [1.0] * 10)
    got = fit(obs)
    assert got.overhead == pytest.approx(8.0, rel=1e-6) and got.evaluate_overhead == pytest.approx(0.5, abs=1e-6)
    result = summary(obs, [got.seconds(o) for o in obs])
    assert result["stages_within_30pct"] == 1.0 and result["time_within_30pct"] == 1.0
    # one fixed cost for all stages cannot fit both: the short evaluate stages are overestimated
    one = Fit(overhead=fit(obs).overhead, train_rate=got.train_rate, inference_rate=got.inference_rate)
    assert summary(obs, [one.seconds(o) for o in obs])["stages_within_30pct"] < 1.0
    only_training = [o for o in obs if o.kind != "evaluate"]
    assert fit(only_training).evaluate_overhead is None  # not observed: not fitted


def test_summary_weighs_stages_by_time_and_reports_long_stages_apart():
    obs = [Observation(f"s{n}", "target", f"s{n}", seconds, 1e4, 0.0, 1.3e6, 0.0) for n, seconds in enumerate([100.0, 1.0, 1.0, 1.0])]
    result = summary(obs, [100.0, 2.0, 2.0, 2.0])  # the long stage right, the three 1-second stages 2x off
    assert result["stages_within_30pct"] == 0.25
    assert result["time_within_30pct"] == pytest.approx(100 / 103, abs=1e-3)
    assert result["stages_of_5s_or_more"] == 1 and result["stages_of_5s_or_more_within_30pct"] == 1.0


def test_leave_one_out_estimates_each_stage_without_it():
    truth = Fit(overhead=10.0, train_rate=1000.0, inference_rate=4000.0)
    obs = _obs(truth, [1.1, 0.9, 1.05, 0.95, 1.0, 1.15, 0.92, 1.08, 1.0, 0.97])
    held_out = leave_one_out(obs)
    # time-weighted: the grid's total is close, long stages closer than short ones
    assert summary(obs, held_out)["total"]["ratio"] == pytest.approx(1.0, abs=0.1)
    longest = max(range(len(obs)), key=lambda i: obs[i].seconds)
    assert held_out[longest] / obs[longest].seconds == pytest.approx(1.0, abs=0.2)
    assert held_out != [fit(obs).seconds(o) for o in obs]


def test_calibrated_table_gives_the_fitted_seconds_to_the_planner(tmp_path):
    from xstilts.experiments.throughput import THROUGHPUT_FILE, load_throughput

    base = json.loads(THROUGHPUT_FILE.read_text())
    result = Fit(overhead=12.5, train_rate=3000.0, inference_rate=9000.0, evaluate_overhead=1.5)
    table = calibrated_table(base, "cpu", 1.3e6, result, "test")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    t = load_throughput("cpu", path)
    assert t.stage_overhead_seconds == 12.5
    assert t.overhead_seconds("target") == 12.5 and t.overhead_seconds("evaluate") == 1.5
    assert t.tokens_per_second(1.3e6, "train") == pytest.approx(3000.0)
    assert t.tokens_per_second(1.3e6, "inference") == pytest.approx(9000.0)
    # the rest of the row keeps its shape: larger models are slower by the same ratios as before
    before = load_throughput("cpu")
    assert t.tokens_per_second(1e8, "train") / t.tokens_per_second(1.3e6, "train") == pytest.approx(
        before.tokens_per_second(1e8, "train") / before.tokens_per_second(1.3e6, "train"), rel=1e-3)
