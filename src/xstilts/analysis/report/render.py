"""Rendering of a Report as Markdown and as a self-contained HTML page (figures embedded)."""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xstilts.analysis.report.display import Figure, Section, Table
from xstilts.analysis.report.summary import Finding


@dataclass
class Report:
    title: str
    meta: list[str]
    findings: list[Finding]
    sections: list[Section]

    @property
    def figures(self) -> list[Figure]:
        return [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]


def _split_answer(items: list[Finding]) -> tuple[list[Finding], list[Finding]]:
    """The findings that answer the question (the interaction), and the rest."""
    return [f for f in items if f.topic == "interaction"], [f for f in items if f.topic != "interaction"]


def _md_cell(v: object) -> str:
    text = str(v).replace("|", "\\|").replace("\n", " ")
    if text.endswith(" *"):
        text = f"**{text[:-2]}** \\*"
    return text


def markdown_table(df: pd.DataFrame) -> str:
    header = "| " + " | ".join(_md_cell(c) for c in df.columns) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    rows = ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, rule, *rows])


def to_markdown(report: Report, figure_dir: str = "figures") -> str:
    out = [f"# {report.title}", "", *[f"- {m}" for m in report.meta], "", "## Summary of findings", ""]
    answer, rest = _split_answer(report.findings)
    out += [f"> **Answer.** {f.text}" if i == 0 else f"> {f.text}" for i, f in enumerate(answer)]
    out += ["", *[f"- {'**' if f.significant else ''}{f.text}{'**' if f.significant else ''}" for f in rest], ""]
    for s in report.sections:
        out += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, str):
                out += [b, ""]
            elif isinstance(b, Figure):
                out += [
                    f"![{b.caption}]({figure_dir}/{b.name}.png)",
                    "",
                    f"*{b.caption}* ([SVG]({figure_dir}/{b.name}.svg))",
                    "",
                ]
            else:
                out += [f"**{b.caption}**", "", markdown_table(b.frame), ""]
                if b.note:
                    out += [f"_{b.note}_", ""]
    return "\n".join(out)


_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1150px;margin:1.5em auto;padding:0 1.2em;color:#1d1d1f;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.3em}h2{font-size:1.25em;border-bottom:2px solid #e3e3e3;padding-bottom:.2em;margin-top:2em}
ul.meta{color:#444;font-size:.92em;padding-left:1.2em}ul.findings li{margin:.35em 0}
li.sig{font-weight:600}li.sig::marker{color:#b3261e}
div.answer{background:#eef4fb;border-left:4px solid #24588f;padding:.7em 1em;margin:.8em 0;font-size:1.02em}div.answer span.sig{font-weight:700;color:#8c1d18}
nav{background:#f6f7f9;border:1px solid #e3e3e3;border-radius:6px;padding:.5em 1em;font-size:.9em;columns:2}
nav a{color:#24588f;text-decoration:none;display:block}
.tablewrap{overflow-x:auto;margin:.4em 0 1.4em}
table{border-collapse:collapse;font-size:12.5px;font-variant-numeric:tabular-nums}
caption{font-weight:600;text-align:left;padding:4px 0;font-size:13px;caption-side:top}
th,td{border:1px solid #d6d6d6;padding:3px 8px;text-align:right;vertical-align:top}
th{background:#f1f3f5;text-align:left}td.text{text-align:left;max-width:46em}
td.sig{font-weight:700;background:#fdf0ef}tr:nth-child(even) td{background-color:#fafbfc}tr:nth-child(even) td.sig{background:#fbe7e5}
figure{margin:1em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.88em;color:#555}
p.note{font-size:.85em;color:#666;margin-top:-1em}
"""


def _is_number_like(text: str) -> bool:
    return bool(re.fullmatch(r"[-+<]?[\d.]+( \[[-+\d., ]+\])?( \*| †)?", text.strip())) or text == ""


def html_table(table: Table) -> str:
    df = table.frame
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            text = "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
            classes = []
            if text.endswith(" *"):
                classes.append("sig")
            if not _is_number_like(text):
                classes.append("text")
            cls = f" class='{' '.join(classes)}'" if classes else ""
            cells.append(f"<td{cls}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = (
        f"<div class='tablewrap'><table><caption>{html.escape(table.caption)}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
    if table.note:
        out += f"<p class='note'>{html.escape(table.note)}</p>"
    return out


def to_html(report: Report) -> str:
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(report.title)}</title><style>{_CSS}</style></head><body>"
    ]
    parts.append(
        f"<h1>{html.escape(report.title)}</h1><ul class='meta'>"
        + "".join(f"<li>{html.escape(m)}</li>" for m in report.meta)
        + "</ul>"
    )
    parts.append(
        "<nav>"
        + "<a href='#summary'>Summary of findings</a>"
        + "".join(f"<a href='#{s.anchor}'>{html.escape(s.title)}</a>" for s in report.sections)
        + "</nav>"
    )
    answer, rest = _split_answer(report.findings)
    parts.append("<h2 id='summary'>Summary of findings</h2>")
    if answer:
        parts.append(
            "<div class='answer'><strong>Answer.</strong> "
            + " ".join(f"<span{' class=sig' if f.significant else ''}>{html.escape(f.text)}</span>" for f in answer)
            + "</div>"
        )
    parts.append(
        "<ul class='findings'>"
        + "".join(f"<li{' class=sig' if f.significant else ''}>{html.escape(f.text)}</li>" for f in rest)
        + "</ul>"
    )
    for s in report.sections:
        parts.append(f"<h2 id='{s.anchor}'>{html.escape(s.title)}</h2>")
        for b in s.blocks:
            if isinstance(b, str):
                parts.append(
                    f"<ul><li>{html.escape(b[2:])}</li></ul>" if b.startswith("- ") else f"<p>{html.escape(b)}</p>"
                )
            elif isinstance(b, Figure):
                data = base64.b64encode(b.png).decode()
                parts.append(
                    f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                    f"<figcaption>{html.escape(b.caption)}</figcaption></figure>"
                )
            else:
                parts.append(html_table(b))
    parts.append("</body></html>")
    return "\n".join(parts)
