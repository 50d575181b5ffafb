"""The report from data to files: `build_report` (analysis, findings, sections) and `write_report`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, replace
from pathlib import Path

from xstilts.analysis.report.data import DEFAULT_SPLIT_NOTE, ReportData, load_store_data
from xstilts.analysis.report.options import ReportOptions
from xstilts.analysis.report.render import Report, to_html, to_markdown
from xstilts.analysis.report.sections import build_sections
from xstilts.analysis.report.statistics import analyse
from xstilts.analysis.report.summary import findings
from xstilts.io import atomic_write_bytes, atomic_write_text


@dataclass
class ReportPaths:
    markdown: Path
    html: Path
    summary: Path
    figures: list[Path]


def build_report(data: ReportData, options: ReportOptions | None = None) -> Report:
    options = options or ReportOptions()
    a = analyse(data, options)
    s = data.scores
    families = ", ".join(f"{m} ({data.family_of.get(m, '?')})" for m in data.models if m in set(s["model"]))
    meta = [
        "Question: do encoder-only and decoder-only models show divergent zero-shot transfer after English intermediate training?",
        f"Source: {data.source}" + (f"; spec {data.spec!r}" if data.spec else ""),
        f"Evaluation split: {', '.join(sorted(s['split'].unique()))} ({DEFAULT_SPLIT_NOTE})",
        f"Models: {families}; seeds: {', '.join(map(str, sorted(s['seed'].unique())))}",
        f"Targets: {', '.join(t for t in data.targets)}; conditions: {', '.join(data.ordered_conditions)}",
        *data.protocol,
        f"Generated {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} by xstilts report",
    ]
    title = options.title or f"xstilts report: {data.spec or 'scores'}"
    return Report(title, meta, findings(data, a), build_sections(data, a))


def write_outputs(report: Report, out_dir: Path) -> ReportPaths:
    out_dir = Path(out_dir)
    figures = []
    for f in report.figures:
        for suffix, content in (("png", f.png), ("svg", f.svg)):
            path = out_dir / "figures" / f"{f.name}.{suffix}"
            atomic_write_bytes(path, content)
            figures.append(path)
    md, page, summary = out_dir / "report.md", out_dir / "report.html", out_dir / "summary.json"
    atomic_write_text(md, to_markdown(report))
    atomic_write_text(page, to_html(report))
    atomic_write_text(
        summary,
        json.dumps(
            {
                "title": report.title,
                "meta": report.meta,
                "findings": [{"topic": f.topic, "significant": f.significant, "text": f.text} for f in report.findings],
            },
            indent=1,
        ),
    )
    return ReportPaths(md, page, summary, figures)


def write_report(
    store_path: Path,
    out_dir: Path,
    spec: str | None = None,
    title: str | None = None,
    options: ReportOptions | None = None,
) -> ReportPaths:
    """Read a results store and write report.md, report.html, summary.json and figures/ to out_dir."""
    options = options or ReportOptions()
    if title:
        options = replace(options, title=title)
    data = load_store_data(Path(store_path), spec)
    return write_outputs(build_report(data, options), out_dir)
