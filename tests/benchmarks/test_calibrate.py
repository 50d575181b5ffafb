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
    result = Fit(overhead=12.5, train_rate=3000.0, inference_rate=9000.0)
    table = calibrated_table(base, "cpu", 1.3e6, result, "test")
    path = tmp_path / "t.json"
    path.write_text(json.dumps(table))
    t = load_throughput("cpu", path)
    assert t.stage_overhead_seconds == 12.5
    assert t.tokens_per_second(1.3e6, "train") == pytest.approx(3000.0)
    assert t.tokens_per_second(1.3e6, "inference") == pytest.approx(9000.0)
    # the rest of the row keeps its shape: larger models are slower by the same ratios as before
    before = load_throughput("cpu")
    assert t.tokens_per_second(1e8, "train") / t.tokens_per_second(1.3e6, "train") == pytest.approx(
        before.tokens_per_second(1e8, "train") / before.tokens_per_second(1.3e6, "train"), rel=1e-3)
