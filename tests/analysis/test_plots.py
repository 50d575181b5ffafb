"""The report's figures: each plot function on small synthetic input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from xstilts.analysis import plots
from xstilts.errors import DataError


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plots._pyplot().close("all")


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_gain_heatmap_annotates_finite_cells_and_stars_significant_ones():
    gains = pd.DataFrame({"t1": [1.25, -2.0], "t2": [np.nan, 0.5]}, index=["a", "b"])
    significant = pd.DataFrame({"t1": [True, False], "t2": [False, False]}, index=["a", "b"])
    fig = plots.gain_heatmap(gains, title="m", significant=significant)
    texts = _texts(fig)
    assert sorted(texts) == sorted(["+1.2*", "-2.0", "+0.5"])  # the NaN cell stays blank
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["t1", "t2"]
    low, high = ax.images[0].get_clim()
    assert low == -high == -2.0  # symmetric colour scale around zero


def test_gain_heatmap_rejects_an_empty_matrix():
    with pytest.raises(DataError, match="empty"):
        plots.gain_heatmap(pd.DataFrame())


def _divergence(with_ci: bool) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "intermediate": ["a", "b", "a"],
            "target": ["t1", "t1", "t2"],
            "encoder_gain": [3.0, -1.0, 0.5],
            "decoder_gain": [1.0, -1.5, 2.0],
        }
    )
    if with_ci:
        for col in ("encoder_gain", "decoder_gain"):
            frame[f"{col}_low"] = frame[col] - 1.0
            frame[f"{col}_high"] = frame[col] + 1.0
        frame.loc[2, "encoder_gain_low"] = np.nan  # no interval for this cell
    return frame


def test_family_scatter_draws_one_point_per_cell_the_diagonal_and_error_bars():
    fig = plots.family_scatter(_divergence(with_ci=True))
    ax = fig.axes[0]
    assert len(ax.containers) == 3  # one errorbar container per (intermediate, target)
    with_x_errors = [c for c in ax.containers if c.has_xerr]
    assert len(with_x_errors) == 2  # the cell without an encoder interval has no x error bar
    diagonal = [line for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert diagonal and np.allclose(diagonal[0].get_xdata(), diagonal[0].get_ydata())
    lo, hi = ax.get_xlim()
    assert lo < -2.5 and hi > 4.0  # the axes cover the intervals


def test_family_scatter_without_intervals_and_without_rows():
    fig = plots.family_scatter(_divergence(with_ci=False))
    assert not any(c.has_xerr or c.has_yerr for c in fig.axes[0].containers)
    empty = _divergence(False).assign(decoder_gain=np.nan)
    with pytest.raises(DataError, match="both families"):
        plots.family_scatter(empty)


def test_language_bars_one_bar_per_model_condition_language_with_chance_lines():
    rows = [
        {"model": m, "intermediate": c, "language": lang, "score": 50 + i, "low": 45 + i, "high": 55 + i}
        for m in ("enc", "dec")
        for c in ("none", "a")
        for i, lang in enumerate(("en", "l1", "l2"))
    ]
    fig = plots.language_bars(pd.DataFrame(rows), chance={"en": 33.3, "l1": 33.3, "l2": 33.3})
    assert len(fig.axes) == 2
    for ax in fig.axes:
        assert len(ax.patches) == 2 * 3
        assert len(ax.collections) >= 1  # the dotted chance segments
    heights = sorted(p.get_height() for p in fig.axes[0].patches)
    assert heights == [50, 50, 51, 51, 52, 52]


def test_layer_sweep_plots_mean_per_model_and_names_the_best_layer():
    layers = np.arange(0, 7)
    rows = [
        {"model": m, "layer": int(k), "language": lang, "score": peak_score - (k - peak) ** 2 + off}
        for m, peak, peak_score in (("enc", 4, 60.0), ("dec", 2, 40.0))
        for lang, off in (("l1", 0.0), ("l2", -5.0))
        for k in layers
    ]
    fig = plots.layer_sweep(pd.DataFrame(rows))
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any(label.startswith("enc") and "best layer 4" in label for label in labels)
    assert any(label.startswith("dec") and "best layer 2" in label for label in labels)
    assert len(fig.axes[0].get_lines()) == 2 * (2 + 1)  # per model: two languages and the mean


def test_layer_sweep_rejects_bad_input():
    with pytest.raises(DataError, match="missing columns"):
        plots.layer_sweep(pd.DataFrame({"model": ["m"], "layer": [1], "score": [3.0]}))
    with pytest.raises(DataError, match="numbers"):
        plots.layer_sweep(pd.DataFrame({"model": ["m"], "layer": ["top"], "language": ["x"], "score": [3.0]}))


def test_save_figure_writes_png_and_svg(tmp_path):
    fig = plots.gain_heatmap(pd.DataFrame({"t": [1.0]}, index=["a"]))
    saved = plots.save_figure(fig, tmp_path / "figs", "gains")
    assert saved.png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert saved.png.read_bytes() == saved.png_bytes
    assert "<svg" in saved.svg.read_text()
