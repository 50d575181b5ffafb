"""Building blocks of the report's sections (tables, figures) and how their cells and rows are shown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from xstilts.analysis.plots import _pyplot, figure_bytes
from xstilts.analysis.report.data import ReportData
from xstilts.analysis.report.options import ReportOptions


@dataclass
class Table:
    """A display table (strings). Note parts shared by every row of a `note` column move to the
    table's note, so a long caveat is said once."""

    caption: str
    frame: pd.DataFrame
    note: str = ""

    def __post_init__(self) -> None:
        if "note" not in self.frame.columns or self.frame.empty:
            return
        parts = [[p.strip() for p in str(n or "").split(";") if p.strip()] for n in self.frame["note"]]
        common = [p for p in parts[0] if all(p in row for row in parts)]
        frame = self.frame.copy()
        frame["note"] = ["; ".join(p for p in row if p not in common) for row in parts]
        if (frame["note"] == "").all():
            frame = frame.drop(columns="note")
        self.frame = frame
        if common:
            self.note = " ".join(filter(None, [self.note, f"All rows: {'; '.join(common)}."]))


@dataclass
class Figure:
    name: str  # file stem under figures/
    caption: str
    png: bytes
    svg: bytes


@dataclass
class Section:
    title: str
    blocks: list[str | Table | Figure] = field(default_factory=list)  # str: a paragraph ("- " starts a bullet)

    @property
    def anchor(self) -> str:
        return slug(self.title)


def slug(text: str) -> str:
    return re.sub(r"-+", "-", "".join(c if c.isalnum() else "-" for c in text.lower())).strip("-")


def number_cell(v: float | str | None, digits: int = 1, sign: bool = False) -> str:
    if v is None or isinstance(v, str):
        return v or ""
    v = float(v)
    if not np.isfinite(v):
        return ""
    if round(v, digits) == 0:
        v = 0.0  # no "-0.0"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def interval_cell(est: float, low: float, high: float, digits: int = 1, *, sign: bool = False, star: bool = False) -> str:
    if est is None or not np.isfinite(est):
        return ""
    text = number_cell(est, digits, sign)
    if np.isfinite(low) and np.isfinite(high):
        text += f" [{number_cell(low, digits, sign)}, {number_cell(high, digits, sign)}]"
    return text + (" *" if star else "")


def p_cell(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _figure(name: str, caption: str, fig: Any) -> Figure:
    try:
        return Figure(name, caption, figure_bytes(fig, "png"), figure_bytes(fig, "svg"))
    finally:
        _pyplot().close(fig)


def target_order(data: ReportData, targets: Iterable[str]) -> list[str]:
    present = set(targets)
    return [t for t in data.targets if t in present] + sorted(present - set(data.targets))


def condition_order(data: ReportData, names: Iterable[str]) -> list[str]:
    present = set(names)
    return [c for c in data.ordered_conditions if c in present] + sorted(present - set(data.ordered_conditions))


def sort_rows(data: ReportData, frame: pd.DataFrame) -> pd.DataFrame:
    """Sort by model (spec order), target (spec order), intermediate (baseline first, spec order)."""
    keys = []
    if "model" in frame:
        keys.append(frame["model"].map({m: i for i, m in enumerate(data.models)}).fillna(99))
    if "target" in frame:
        keys.append(frame["target"].map({t: i for i, t in enumerate(data.targets)}).fillna(99))
    for column in ("intermediate", "variant"):
        if column in frame:
            keys.append(frame[column].map({c: i for i, c in enumerate(data.ordered_conditions)}).fillna(99))
    if "language" in frame:
        keys.append(frame["language"].map(lambda lang: (0 if lang == "en" else 1, lang)))
    if not keys:
        return frame
    order = sorted(range(len(frame)), key=lambda i: tuple(k.iloc[i] for k in keys))
    return frame.iloc[order].reset_index(drop=True)


def language_order(data: ReportData, languages: Iterable[str]) -> list[str]:
    """English first, then by distance from English where the metadata has it, then by code."""
    distance = {}
    meta = data.language_metadata
    if meta is not None and not meta.empty:
        distance = dict(zip(meta["language"], meta["distance"], strict=False))

    def key(lang: str) -> tuple:
        d = distance.get(lang, np.nan)
        return (lang != "en", d if np.isfinite(d) else np.inf, lang)

    return sorted(set(languages), key=key)


def target_info(data: ReportData) -> pd.DataFrame:
    s = data.scores
    rows = []
    for target in data.targets:
        part = s[s["target"] == target]
        if part.empty:
            rows.append({"target": target, "metric": "", "languages": "(no scores yet)", "chance": ""})
            continue
        chance = part.groupby("language")["chance"].mean()
        langs = language_order(data, part["language"])
        rows.append(
            {
                "target": target,
                "metric": part["metric"].iloc[0],
                "languages": " ".join(langs),
                "chance": number_cell(chance.mean()) if chance.notna().any() else "",
                "split": ", ".join(sorted(part["split"].unique())),
            }
        )
    return pd.DataFrame(rows).fillna("")


def add_figure(sec: Section, options: ReportOptions, name: str, caption: str, draw: Callable[[], object]) -> None:
    if options.figures:
        sec.blocks.append(_figure(name, caption, draw()))
