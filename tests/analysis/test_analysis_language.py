"""Gains against language metadata."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis import gain_table, language_group_table, language_relation
from xstilts.analysis.simulate import simulate_grid
from xstilts.errors import DataError

LANGS = ("en", "de", "fr", "ru", "hi", "zh", "ja", "sw", "ar", "th", "fi")
META = pd.DataFrame(
    {
        "language": list(LANGS),
        "distance": [0.0, 0.3, 0.35, 0.5, 0.6, 0.8, 0.85, 0.7, 0.75, 0.9, 0.55],
        "script": [
            "Latin",
            "Latin",
            "Latin",
            "Cyrillic",
            "Devanagari",
            "Han",
            "Kana",
            "Latin",
            "Arabic",
            "Thai",
            "Latin",
        ],
    }
)


def test_exact_linear_relation():
    frame = pd.DataFrame(
        {
            "model": "m",
            "intermediate": "a",
            "target": "t",
            "language": list(LANGS[1:6]),
            "gain": [1 + 3 * d for d in (0.3, 0.35, 0.5, 0.6, 0.8)],
        }
    )
    row = language_relation(frame, META).frame.iloc[0]
    assert row["slope"] == pytest.approx(3.0) and row["pearson"] == pytest.approx(1.0)
    assert row["spearman"] == pytest.approx(1.0) and row["n_languages"] == 5
    assert "perfect linear relation" in row["note"]


def test_planted_distance_slope_is_recovered():
    sim = simulate_grid(
        languages=LANGS,
        distance=dict(zip(META["language"], META["distance"], strict=True)),
        distance_slope={"a": -6.0},
        seeds=5,
        rng=60,
    )
    gains = gain_table(sim.scores, by="language").frame
    table = language_relation(gains, META)
    rows = table.frame.set_index(["model", "intermediate"])
    for model in ("enc", "dec"):
        a = rows.loc[(model, "a")]
        assert a["slope_low"] <= -6.0 <= a["slope_high"] and a["slope_p"] < 0.01
        assert a["n_languages"] == 10  # English excluded
        for t in ("b", "c"):
            assert rows.loc[(model, t), "slope_low"] <= 0.0 <= rows.loc[(model, t), "slope_high"]
    assert table.description.endswith(".") and "distance" in table.description


def test_slope_intervals_cover_at_nominal_rate(assert_rate_near):
    rng = np.random.default_rng(61)
    x = META["distance"].to_numpy()[1:]
    rows = []
    for i in range(400):
        y = 2.0 - 4.0 * x + rng.normal(0, 1.0, x.size)
        rows += [
            {"model": "m", "intermediate": str(i), "target": "t", "language": lang, "gain": v}
            for lang, v in zip(LANGS[1:], y, strict=True)
        ]
    frame = language_relation(pd.DataFrame(rows), META, n_permutations=19).frame
    hits = int(((frame["slope_low"] <= -4.0) & (frame["slope_high"] >= -4.0)).sum())
    assert_rate_near(hits, 400, 0.95)


def test_divergence_frames_work_with_other_groupings():
    frame = pd.DataFrame(
        {"intermediate": "a", "target": "t", "language": list(LANGS[1:5]), "difference": [1.0, 2.0, 2.5, 4.0]}
    )
    row = language_relation(frame, META, value="difference", by=("intermediate", "target")).frame.iloc[0]
    assert row["slope"] > 0


def test_degenerate_relations_are_labelled(assert_no_silent_nan):
    frame = pd.DataFrame(
        {
            "model": "m",
            "intermediate": ["a", "a", "b", "b", "b"],
            "target": "t",
            "language": ["de", "fr", "de", "fr", "sw"],
            "gain": [1.0, 2.0, 1.0, 1.0, 1.0],
        }
    )
    table = language_relation(frame, META).frame.set_index("intermediate")
    assert "only 2 languages" in table.loc["a", "note"]
    assert "correlations undefined" in table.loc["b", "note"] and table.loc["b", "slope"] == pytest.approx(0.0)
    assert_no_silent_nan(table.reset_index())


def test_metadata_problems_are_clear_errors():
    frame = pd.DataFrame(
        {"model": "m", "intermediate": "a", "target": "t", "language": ["de", "xx"], "gain": [1.0, 2.0]}
    )
    with pytest.raises(DataError, match=r"lacks 'distance' for languages \['xx'\]"):
        language_relation(frame, META)
    with pytest.raises(DataError, match="not numeric"):
        language_relation(frame.iloc[:1], META, column="script")
    with pytest.raises(DataError, match="no column 'genus'"):
        language_relation(frame, META, column="genus")
    with pytest.raises(DataError, match="by='language'"):
        language_relation(frame.drop(columns="language"), META)


def test_group_means_by_script(assert_no_silent_nan):
    frame = pd.DataFrame(
        {
            "model": "m",
            "intermediate": "a",
            "target": "t",
            "language": ["de", "fr", "sw", "ru", "en"],
            "gain": [1.0, 2.0, 3.0, -1.0, 10.0],
        }
    )
    table = language_group_table(frame, META.set_index("language"))
    rows = table.frame.set_index("script")
    assert rows.loc["Latin", "mean"] == pytest.approx(2.0) and rows.loc["Latin", "n_languages"] == 3
    assert rows.loc["Latin", "low"] < 2.0 < rows.loc["Latin", "high"]
    assert np.isnan(rows.loc["Cyrillic", "low"]) and "single language" in rows.loc["Cyrillic", "note"]
    assert_no_silent_nan(table.frame)


def test_three_languages_give_a_slope_without_interval_or_p_value():
    """3 languages leave 1 residual df: quantised scores on a line would give p = 0."""
    frame = pd.DataFrame(
        {"model": "m", "intermediate": "a", "target": "t", "language": ["de", "fr", "ru"], "gain": [0.0, -0.3, -0.3]}
    )
    frame.loc[:, "gain"] = [-0.3 * d for d in (0.3, 0.35, 0.5)]  # exactly linear
    row = language_relation(frame, META).frame.iloc[0]
    assert row["slope"] == pytest.approx(-0.3)
    assert np.isnan(row["slope_p"]) and np.isnan(row["slope_low"]) and "1 residual degree" in row["note"]
    four = pd.concat([frame, frame.iloc[:1].assign(language="hi", gain=-0.3 * 0.6)])
    assert np.isfinite(language_relation(four, META).frame.iloc[0]["slope_p"])
