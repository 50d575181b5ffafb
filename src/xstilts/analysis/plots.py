"""Figures of the report, drawn with matplotlib (Agg backend, no display needed).

Every function takes plain DataFrames and returns a matplotlib Figure; `save_figure` writes it as
PNG and SVG and returns the PNG bytes for embedding.

  gain_heatmap     intermediate task x target gain matrix of one model
  family_scatter   encoder gain against decoder gain, one point per (intermediate, target)
  language_bars    per-language scores of one target, one bar per intermediate condition
  layer_sweep      retrieval score against the layer the sentence embedding is taken from
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from xstilts.errors import DataError
from xstilts.io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = ("#4477AA", "#EE6677", "#228833", "#CCBB44", "#66CCEE", "#AA3377", "#BBBBBB", "#000000")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _pyplot():  # noqa: ANN202 - matplotlib's module
    import matplotlib  # lazy: loads matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # lazy: loads matplotlib

    return plt


@dataclass(frozen=True)
class SavedFigure:
    name: str  # file stem
    png: Path
    svg: Path
    png_bytes: bytes


def figure_bytes(fig: Figure, fmt: str = "png", dpi: int = 110) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


def save_figure(fig: Figure, directory: Path, stem: str, *, close: bool = True) -> SavedFigure:
    """Write `<directory>/<stem>.png` and `.svg` atomically; return their paths and the PNG bytes."""
    directory = Path(directory)
    png, svg = figure_bytes(fig, "png"), figure_bytes(fig, "svg")
    atomic_write_bytes(directory / f"{stem}.png", png)
    atomic_write_bytes(directory / f"{stem}.svg", svg)
    if close:
        _pyplot().close(fig)
    return SavedFigure(stem, directory / f"{stem}.png", directory / f"{stem}.svg", png)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(f"{what}: missing columns {missing}; got {list(frame.columns)}")
    if frame.empty:
        raise DataError(f"{what}: no rows to plot")


# -- gain heatmap -----------------------------------------------------------------------------------
def gain_heatmap(
    gains: pd.DataFrame,
    *,
    title: str = "",
    significant: pd.DataFrame | None = None,
    label: str = "gain (points)",
) -> Figure:
    """Heatmap of a matrix (rows: intermediate conditions, columns: targets) of gains in points.

    Cells are annotated with the gain; where `significant` (a boolean matrix of the same shape)
    is True the annotation is bold and starred. Missing cells (NaN) stay blank and grey."""
    if gains.empty:
        raise DataError("gain heatmap: the gain matrix is empty")
    plt = _pyplot()
    values = gains.to_numpy(dtype=float)
    n_rows, n_cols = values.shape
    fig, ax = plt.subplots(figsize=(2.6 + 1.15 * n_cols, max(2.8, 1.5 + 0.55 * n_rows)))
    finite = values[np.isfinite(values)]
    bound = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    cmap = plt.get_cmap("RdBu").with_extremes(bad="#eeeeee")
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(n_cols), [str(c) for c in gains.columns], rotation=30, ha="right")
    ax.set_yticks(range(n_rows), [str(i) for i in gains.index])
    ax.set_xlabel("target task")
    ax.set_ylabel("intermediate task")
    for i in range(n_rows):
        for j in range(n_cols):
            v = values[i, j]
            if not np.isfinite(v):
                continue
            star = significant is not None and bool(significant.iloc[i, j])
            colour = "white" if abs(v) > 0.6 * bound else "black"
            ax.text(
                j,
                i,
                f"{v:+.1f}" + ("*" if star else ""),
                ha="center",
                va="center",
                fontsize=9,
                color=colour,
                fontweight="bold" if star else "normal",
            )
    if title:
        ax.set_title(title, fontsize=10)
    fig.colorbar(image, ax=ax, label=label, shrink=0.9)
    fig.tight_layout()
    return fig


# -- encoder vs decoder scatter -----------------------------------------------------------------------
def family_scatter(divergence: pd.DataFrame, *, title: str = "") -> Figure:
    """Encoder gain (x) against decoder gain (y), one point per (intermediate, target), coloured by
    target and marked by intermediate task, with the diagonal y = x (equal gains) and error bars
    where the columns `encoder_gain_low/_high`, `decoder_gain_low/_high` hold finite bounds."""
    _require_columns(divergence, ["intermediate", "target", "encoder_gain", "decoder_gain"], "family scatter")
    data = divergence.dropna(subset=["encoder_gain", "decoder_gain"])
    if data.empty:
        raise DataError("family scatter: no (intermediate, target) cell has gains for both families")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    targets = list(dict.fromkeys(data["target"]))
    intermediates = list(dict.fromkeys(data["intermediate"]))
    for r in data.itertuples(index=False):
        colour = COLORS[targets.index(r.target) % len(COLORS)]
        marker = MARKERS[intermediates.index(r.intermediate) % len(MARKERS)]
        xerr = _error_bar(r, "encoder_gain")
        yerr = _error_bar(r, "decoder_gain")
        ax.errorbar(
            r.encoder_gain,
            r.decoder_gain,
            xerr=xerr,
            yerr=yerr,
            fmt=marker,
            color=colour,
            ecolor=colour,
            elinewidth=0.8,
            capsize=2,
            markersize=7,
            alpha=0.9,
        )
    lows = [data["encoder_gain"].min(), data["decoder_gain"].min()]
    highs = [data["encoder_gain"].max(), data["decoder_gain"].max()]
    for col in ("encoder_gain_low", "decoder_gain_low"):
        if col in data and np.isfinite(data[col]).any():
            lows.append(np.nanmin(data[col]))
    for col in ("encoder_gain_high", "decoder_gain_high"):
        if col in data and np.isfinite(data[col]).any():
            highs.append(np.nanmax(data[col]))
    lo, hi = float(min(lows)), float(max(highs))
    pad = max(0.5, 0.08 * (hi - lo))
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="#888888", linestyle="--", linewidth=1, label="equal gains")
    ax.axhline(0, color="#cccccc", linewidth=0.8, zorder=0)
    ax.axvline(0, color="#cccccc", linewidth=0.8, zorder=0)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel("encoder gain (points)")
    ax.set_ylabel("decoder gain (points)")
    handles = [
        plt.Line2D([], [], color=COLORS[i % len(COLORS)], marker="o", linestyle="", label=t)
        for i, t in enumerate(targets)
    ]
    handles += [
        plt.Line2D([], [], color="#444444", marker=MARKERS[i % len(MARKERS)], linestyle="", label=m)
        for i, m in enumerate(intermediates)
    ]
    handles.append(plt.Line2D([], [], color="#888888", linestyle="--", label="equal gains"))
    ax.legend(handles=handles, fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
    ax.set_title(title or "Gain from each intermediate task: encoder vs decoder", fontsize=10)
    fig.tight_layout()
    return fig


def _error_bar(row: object, prefix: str) -> np.ndarray | None:
    low, high = getattr(row, f"{prefix}_low", np.nan), getattr(row, f"{prefix}_high", np.nan)
    value = getattr(row, prefix)
    if not (np.isfinite(low) and np.isfinite(high)):
        return None
    return np.array([[max(value - low, 0.0)], [max(high - value, 0.0)]])


# -- per-language bars ------------------------------------------------------------------------------
def language_bars(
    scores: pd.DataFrame,
    *,
    title: str = "",
    languages: Sequence[str] | None = None,
    conditions: Sequence[str] | None = None,
    chance: pd.Series | dict | None = None,
    ylabel: str = "score",
) -> Figure:
    """Grouped bars: per language (x), one bar per intermediate condition; one panel per model.

    `scores` has columns model, intermediate, language, score and optionally low/high (interval
    bounds, drawn as error bars). `chance` maps language to the chance score (dotted line)."""
    _require_columns(scores, ["model", "intermediate", "language", "score"], "language bars")
    plt = _pyplot()
    models = list(dict.fromkeys(scores["model"]))
    languages = list(languages or dict.fromkeys(scores["language"]))
    conditions = list(conditions or dict.fromkeys(scores["intermediate"]))
    fig, axes = plt.subplots(
        len(models),
        1,
        figsize=(max(6.0, 1.1 * len(languages) * max(1, len(conditions)) / 2 + 2.5), 2.9 * len(models)),
        squeeze=False,
    )
    width = 0.8 / max(len(conditions), 1)
    chance_map = dict(chance) if chance is not None else {}
    for ax, model in zip(axes[:, 0], models, strict=True):
        part = scores[scores["model"] == model]
        for k, condition in enumerate(conditions):
            rows = part[part["intermediate"] == condition].set_index("language")
            x = np.arange(len(languages)) + (k - (len(conditions) - 1) / 2) * width
            heights = np.array([rows["score"].get(lang, np.nan) for lang in languages], dtype=float)
            err = None
            if {"low", "high"} <= set(rows.columns):
                low = np.array([rows["low"].get(lang, np.nan) for lang in languages], dtype=float)
                high = np.array([rows["high"].get(lang, np.nan) for lang in languages], dtype=float)
                if np.isfinite(low).any():
                    err = np.vstack([np.clip(heights - low, 0, None), np.clip(high - heights, 0, None)])
                    err = np.where(np.isfinite(err), err, 0.0)
            ax.bar(
                x,
                np.nan_to_num(heights),
                width=width,
                color=COLORS[k % len(COLORS)],
                label=condition,
                yerr=err,
                capsize=2,
                error_kw={"elinewidth": 0.8},
            )
        for i, lang in enumerate(languages):
            c = chance_map.get(lang)
            if c is not None and np.isfinite(c):
                ax.hlines(c, i - 0.45, i + 0.45, colors="#333333", linestyles=":", linewidth=1.2)
        ax.set_xticks(range(len(languages)), languages)
        ax.set_ylabel(ylabel)
        ax.set_title(str(model), fontsize=9, loc="left")
        ax.set_ylim(0, 100 if np.nanmax(part["score"].to_numpy(dtype=float)) > 0 else 1)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    if chance_map:
        handles.append(plt.Line2D([], [], color="#333333", linestyle=":", label="chance"))
        labels.append("chance")
    axes[0, 0].legend(
        handles,
        labels,
        fontsize=8,
        loc="center left",
        bbox_to_anchor=(1.01, 0.5),
        frameon=False,
        title="intermediate",
        title_fontsize=8,
    )
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


# -- layer sweep ------------------------------------------------------------------------------------
LAYER_SWEEP_COLUMNS = ("model", "layer", "language", "score")


def layer_sweep(sweep: pd.DataFrame, *, title: str = "", ylabel: str = "retrieval score") -> Figure:
    """Score against embedding layer: per model a bold line for the mean over languages and thin
    lines per language. `sweep` has columns model, layer, language, score (one row each; repeated
    rows, e.g. seeds, are averaged)."""
    _require_columns(sweep, LAYER_SWEEP_COLUMNS, "layer sweep")
    data = sweep.copy()
    data["layer"] = pd.to_numeric(data["layer"], errors="coerce")
    data["score"] = pd.to_numeric(data["score"], errors="coerce")
    if data["layer"].isna().any() or data["score"].isna().any():
        raise DataError("layer sweep: 'layer' and 'score' must be numbers")
    data = data.groupby(["model", "language", "layer"], as_index=False)["score"].mean()
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 4.2))
    for k, (model, part) in enumerate(data.groupby("model", sort=False)):
        colour = COLORS[k % len(COLORS)]
        for _, lang_part in part.groupby("language"):
            lang_part = lang_part.sort_values("layer")
            ax.plot(lang_part["layer"], lang_part["score"], color=colour, alpha=0.3, linewidth=0.8)
        mean = part.groupby("layer")["score"].mean().sort_index()
        best = mean.idxmax()
        ax.plot(
            mean.index,
            mean.to_numpy(),
            color=colour,
            linewidth=2.2,
            marker="o",
            markersize=3,
            label=f"{model} (mean; best layer {int(best)}: {mean[best]:.1f})",
        )
    ax.set_xlabel("layer (index into hidden states; 0 = embeddings)")
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "Retrieval score by layer (thin lines: languages)", fontsize=10)
    ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    return fig
