"""The report: tables, plots and a short summary of findings, from the results store alone.

Writes `report.md` (figures as PNG files beside it) and `report.html` (self-contained: figures
embedded), and works on partial grids, listing what is missing.
"""

from __future__ import annotations

import base64
import html
import io
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from xstilts.analysis.scores import BASELINE
from xstilts.errors import DataError
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_bytes, atomic_write_text, read_jsonl

log = logging.getLogger(__name__)


@dataclass
class Section:
    title: str
    text: str = ""
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (file name, PNG bytes)


@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    figures: list[Path]


# -- data ------------------------------------------------------------------------------------------
def primary_scores(store: ResultsStore, spec: str | None) -> pd.DataFrame:
    frame = store.scores_frame(spec)
    frame = frame[frame["is_primary"] == 1].rename(columns={"condition": "intermediate", "value": "score"})
    return frame


def example_scores(frame: pd.DataFrame, root: Path) -> dict[tuple, np.ndarray]:
    """Per-example scores from the evaluate stages' prediction files, where every run has them."""
    out: dict[tuple, np.ndarray] = {}
    for target, rows in frame.groupby("target"):
        arrays = {}
        for r in rows.itertuples():
            path = root / "stages" / r.stage_id / "predictions" / f"{r.language}.jsonl"
            if not path.exists():
                break
            values = [row.get("score") for row in read_jsonl(path)]
            if any(v is None for v in values):
                break
            arrays[(r.model, r.intermediate, r.target, r.language, int(r.seed))] = np.asarray(values, dtype=float)
        else:
            out |= arrays
    return out


# -- sections --------------------------------------------------------------------------------------
def score_tables(frame: pd.DataFrame) -> Section:
    section = Section(
        "Scores",
        "Primary metric per model, intermediate condition and target: the mean over the target's "
        "languages (XTREME style), with English and the zero-shot mean (all other languages) apart. "
        "`chance` is the score of a uniform random guess.",
    )
    for model, rows in frame.groupby("model", sort=False):
        table = []
        for (target, condition), cell in rows.groupby(["target", "intermediate"], sort=False):
            per_seed = cell.groupby("seed")
            english = cell[cell["language"] == "en"]["score"]
            zero = cell[cell["language"] != "en"]["score"]
            table.append({
                "target": target,
                "intermediate": condition,
                "metric": cell["metric"].iloc[0],
                "mean": per_seed["score"].mean().mean(),
                "en": english.mean() if len(english) else np.nan,
                "zero-shot": zero.mean() if len(zero) else np.nan,
                "chance": cell["chance"].mean() if cell["chance"].notna().any() else np.nan,
                "seeds": cell["seed"].nunique(),
            })
        family = rows["family"].dropna().iloc[0] if rows["family"].notna().any() else "?"
        section.tables.append((f"{model} ({family})", pd.DataFrame(table)))
    return section


def language_tables(frame: pd.DataFrame) -> Section:
    section = Section("Scores per language", "Primary metric per language (mean over seeds).")
    for (model, target), rows in frame.groupby(["model", "target"], sort=False):
        table = rows.pivot_table(index="intermediate", columns="language", values="score", aggfunc="mean", sort=False)
        chance = rows.groupby("language")["chance"].mean()
        if chance.notna().any():
            table.loc["(chance)"] = chance
        section.tables.append((f"{model} — {target}", table.reset_index()))
    return section


def gain_matrix(frame: pd.DataFrame, model: str) -> pd.DataFrame:
    rows = frame[frame["model"] == model]
    task_means = rows.groupby(["intermediate", "target", "seed"])["score"].mean().groupby(["intermediate", "target"]).mean()
    matrix = task_means.unstack("target")
    if BASELINE not in matrix.index:
        return pd.DataFrame()
    return (matrix - matrix.loc[BASELINE]).drop(index=BASELINE)


def heatmap_png(matrix: pd.DataFrame, title: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(1.4 + 1.1 * matrix.shape[1], 1.0 + 0.55 * matrix.shape[0]))
    values = matrix.to_numpy(dtype=float)
    bound = max(1.0, float(np.nanmax(np.abs(values)))) if values.size else 1.0
    im = ax.imshow(values, cmap="RdBu", vmin=-bound, vmax=bound, aspect="auto")
    ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=30, ha="right")
    ax.set_yticks(range(matrix.shape[0]), matrix.index)
    for i in range(values.shape[0]):
        for j in range(values.shape[1]):
            if np.isfinite(values[i, j]):
                ax.text(j, i, f"{values[i, j]:+.1f}", ha="center", va="center", fontsize=9)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, label="gain (points)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return buffer.getvalue()


def gain_section(frame: pd.DataFrame, examples: dict) -> Section:
    section = Section(
        "Gains over no intermediate training",
        "Gain = score after intermediate training minus score without it (mean over the target's "
        "languages, points of the primary metric). Heatmaps: intermediate task x target per model.",
    )
    for model in frame["model"].unique():
        matrix = gain_matrix(frame, model)
        if matrix.empty:
            section.text += f"\n\nNo baseline ('{BASELINE}') runs for {model}: its gains cannot be computed."
            continue
        section.tables.append((f"{model}: gain matrix", matrix.reset_index()))
        section.figures.append((f"gains-{_slug(model)}.png", heatmap_png(matrix, f"{model}: gain over no intermediate task")))
    try:
        from xstilts.analysis import gain_table

        table = gain_table(frame[_SCORE_COLUMNS], examples or None)
        section.text += f"\n\n{table.description}"
        columns = ["model", "intermediate", "target", "gain", "gain_low", "gain_high", "gain_p", "n_seeds", "note"]
        section.tables.append(("gains with confidence intervals", table.frame[columns]))
    except (DataError, ValueError) as err:
        section.text += f"\n\nConfidence intervals not computed: {err}"
    return section


def divergence_section(frame: pd.DataFrame, examples: dict) -> Section | None:
    if frame["family"].nunique() < 2:
        return None
    from xstilts.analysis import divergence_table, family_rank_agreement

    section = Section("Encoder vs decoder")
    try:
        table = divergence_table(frame[_SCORE_COLUMNS], examples or None)
        section.text = table.description
        columns = ["intermediate", "target", "encoder_gain", "decoder_gain", "difference", "difference_low", "difference_high", "p_value", "p_holm", "note"]
        section.tables.append(("difference of gains (encoder - decoder)", table.frame[[c for c in columns if c in table.frame]]))
        ranks = family_rank_agreement(frame[_SCORE_COLUMNS])
        section.text += f"\n\n{ranks.description}"
        section.tables.append(("rank agreement of intermediate tasks between families", ranks.frame))
    except (DataError, ValueError) as err:
        section.text += f"\n\nNot computed: {err}"
    return section


def missing_section(store: ResultsStore, spec: str | None) -> Section | None:
    cells = store.cells_frame(spec)
    missing = cells[cells["status"] != "done"]
    if missing.empty:
        return None
    table = missing[["kind", "model", "condition", "target", "seed", "status"]]
    return Section("Missing from the grid", f"{len(missing)} of {len(cells)} stages have not finished; the tables above omit them.", [("unfinished stages", table)])


def summary_lines(frame: pd.DataFrame, examples: dict) -> list[str]:
    lines = []
    for model in frame["model"].unique():
        rows = frame[frame["model"] == model]
        english = rows[rows["language"] == "en"]
        zero = rows[rows["language"] != "en"]
        chance = rows["chance"].dropna()
        lines.append(
            f"{model}: English {english['score'].mean():.1f}, zero-shot {zero['score'].mean():.1f} (mean over targets and conditions"
            + (f"; chance of the classification targets {chance.mean():.1f})" if len(chance) else ")")
        )
    try:
        from xstilts.analysis import gain_table

        table = gain_table(frame[_SCORE_COLUMNS], examples or None).frame
        significant = table[(table["gain_low"] > 0) | (table["gain_high"] < 0)]
        for r in significant.itertuples():
            lines.append(f"{r.model}: {r.intermediate} changes {r.target} by {r.gain:+.1f} (95% CI {r.gain_low:+.1f} to {r.gain_high:+.1f})")
        if significant.empty:
            lines.append("No gain or loss from intermediate training is distinguishable from zero at 95% confidence.")
    except (DataError, ValueError) as err:
        lines.append(f"Gains have no confidence intervals: {err}")
    return lines


_SCORE_COLUMNS = ["model", "family", "intermediate", "target", "language", "seed", "score"]


# -- rendering -------------------------------------------------------------------------------------
def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-").lower()


def _fmt(df: pd.DataFrame) -> pd.DataFrame:
    return df.map(lambda v: f"{v:.2f}" if isinstance(v, (float, np.floating)) and np.isfinite(v) else ("" if v is None or (isinstance(v, float) and np.isnan(v)) else v))


def markdown_table(df: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def to_markdown(title: str, meta: list[str], summary: list[str], sections: list[Section]) -> str:
    out = [f"# {title}", "", *[f"- {m}" for m in meta], "", "## Summary", "", *[f"- {s}" for s in summary], ""]
    for s in sections:
        out += [f"## {s.title}", "", s.text.strip(), ""]
        for name, _ in s.figures:
            out += [f"![{name}]({name})", ""]
        for caption, table in s.tables:
            out += [f"**{caption}**", "", markdown_table(_fmt(table)), ""]
    return "\n".join(out)


def to_html(title: str, meta: list[str], summary: list[str], sections: list[Section]) -> str:
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th{background:#f3f3f3}caption{font-weight:600;text-align:left;padding:4px 0}img{max-width:100%}"
    )
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>"]
    parts.append(f"<h1>{html.escape(title)}</h1><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in meta) + "</ul>")
    parts.append("<h2>Summary</h2><ul>" + "".join(f"<li>{html.escape(s)}</li>" for s in summary) + "</ul>")
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        for para in s.text.strip().split("\n\n"):
            if para:
                parts.append(f"<p>{html.escape(para)}</p>")
        for name, png in s.figures:
            parts.append(f"<img alt='{html.escape(name)}' src='data:image/png;base64,{base64.b64encode(png).decode()}'>")
        for caption, table in s.tables:
            body = _fmt(table).to_html(index=False, border=0, escape=True)
            parts.append(body.replace("<table", f"<table><caption>{html.escape(caption)}</caption", 1).replace("<table><caption", "<table><caption", 1))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(store_path: Path, out_dir: Path, spec: str | None = None, title: str | None = None) -> ReportPaths:
    store_path = Path(store_path)
    if not store_path.exists():
        raise DataError(f"{store_path}: no results store here (run the experiment first)")
    store = ResultsStore(store_path)
    try:
        specs = store.spec_names()
        if spec is None and len(specs) == 1:
            spec = specs[0]
        frame = primary_scores(store, spec)
        if frame.empty:
            raise DataError(f"{store_path}: no scores yet" + (f" for spec {spec!r}" if spec else ""))
        examples = example_scores(frame, store_path.parent)
        sections = [score_tables(frame), gain_section(frame, examples)]
        divergence = divergence_section(frame, examples)
        if divergence:
            sections.append(divergence)
        sections.append(language_tables(frame))
        missing = missing_section(store, spec)
        if missing:
            sections.append(missing)
        splits = ", ".join(sorted(frame["split"].unique()))
        meta = [
            f"results store: {store_path}",
            f"spec: {spec or ', '.join(specs)}",
            f"evaluation split(s): {splits} (XTREME's public test labels are hidden; dev/validation unless a spec says otherwise)",
            f"models: {', '.join(frame['model'].unique())}; seeds: {', '.join(map(str, sorted(frame['seed'].unique())))}",
        ]
        summary = summary_lines(frame, examples)
    finally:
        store.close()
    title = title or f"xstilts report: {spec or 'all specs'}"
    out_dir = Path(out_dir)
    figures = []
    for s in sections:
        for name, png in s.figures:
            atomic_write_bytes(out_dir / name, png)
            figures.append(out_dir / name)
    md, page = out_dir / "report.md", out_dir / "report.html"
    atomic_write_text(md, to_markdown(title, meta, summary, sections))
    atomic_write_text(page, to_html(title, meta, summary, sections))
    atomic_write_text(out_dir / "summary.json", json.dumps({"summary": summary}, indent=1))
    return ReportPaths(md, page, figures)
