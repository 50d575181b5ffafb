"""Sections around the results: what the report covers and how, published numbers, what is missing, notes."""

from __future__ import annotations

import pandas as pd

from xstilts.analysis.divergence import FAMILY_LABEL_DESCRIPTION, MIXED_DESCRIPTION
from xstilts.analysis.gains import uncertainty_words
from xstilts.analysis.reference import load_reference
from xstilts.analysis.report.conditions import KIND_LABEL
from xstilts.analysis.report.data import DEFAULT_SPLIT_NOTE, ReportData
from xstilts.analysis.report.display import Section, Table, number_cell, sort_rows, target_info
from xstilts.analysis.report.published import reference_comparison, xtreme_best_per_target
from xstilts.analysis.report.statistics import Analysis
from xstilts.analysis.report.suite_tables import PARTIAL_MARK
from xstilts.experiments.gaps import flag_lines, gap_lines


def about_section(data: ReportData, a: Analysis) -> Section:
    s = data.scores
    splits = ", ".join(sorted(s["split"].unique()))
    sec = Section("About this report")
    sec.blocks.append(f"Source: {data.source}" + (f", spec {data.spec!r}" if data.spec else "") + ".")
    sec.blocks.append(
        f"Evaluation split: {splits}. {DEFAULT_SPLIT_NOTE}; scores are zero-shot (models trained on English data only) "
        "and every score is a target's primary metric in points (0-100), the unweighted mean over its languages."
    )
    models = pd.DataFrame(
        [
            {
                "model": m,
                "family": data.family_of.get(m, "?"),
                "path": ", ".join(map(str, s.loc[s["model"] == m, "model_path"].dropna().unique())),
                "seed values": ", ".join(map(str, sorted(s.loc[s["model"] == m, "seed"].unique()))),
            }
            for m in data.models
            if m in set(s["model"])
        ]
    )
    sec.blocks.append(Table("Models", models))
    conditions = pd.DataFrame(
        [
            {
                "condition": c.name,
                "kind": KIND_LABEL[c.kind],
                "tasks": ", ".join(c.tasks),
                "compared with": c.base or "",
                "detail": c.detail,
            }
            for c in (data.conditions[n] for n in data.ordered_conditions)
        ]
    )
    sec.blocks.append(Table("Intermediate conditions (baseline first)", conditions))
    sec.blocks.append(
        Table(
            "Targets (spec order) with their metric and chance level (score of a uniform random guess)",
            target_info(data),
        )
    )
    methods = _methods(a)
    if methods:
        sec.blocks.append(
            Table("What each statistic tests", pd.DataFrame(methods, columns=["statistic", "what it shows or tests"]))
        )
    return sec


def _methods(a: Analysis) -> list[tuple[str, str]]:
    with_examples = bool(a.examples)
    out = [
        (
            "score intervals",
            f"Score of each model, condition and target (mean over languages and seeds) with "
            f"{uncertainty_words(a.options.level, a.options.ci_method, with_examples)}.",
        )
    ]
    for name, table in (
        ("gain table", a.gains),
        ("English vs zero-shot gap", a.gaps),
        ("divergence table", a.divergence),
        ("interaction test", a.interactions),
        ("rank agreement", a.ranks),
        ("gain vs distance", a.relation),
        ("divergence vs distance", a.divergence_relation),
    ):
        if table is not None:
            out.append((name, table.description))
    for t in a.groups:
        out.append((f"gain by {t.column}", t.description))
    if a.mixed is not None:
        out.append(("mixed model", MIXED_DESCRIPTION))
    if a.family_label is not None:
        out.append(("family-label test", FAMILY_LABEL_DESCRIPTION))
    if a.variants is not None:
        out.append(
            (
                "baseline variants",
                "Difference in score between each LM-mixing or translated-data condition and the plain English "
                "condition with the same tasks, with the intervals of the gain table and Holm / Benjamini-Hochberg adjustment across comparisons.",
            )
        )
    out.append(
        (
            "multiple comparisons",
            f"'*' marks results whose Holm-adjusted p-value (family-wise error over all rows of the table) is below {a.options.alpha:g}; "
            "p_bh is the Benjamini-Hochberg (false discovery rate) adjustment.",
        )
    )
    return out


def reference_section(data: ReportData, a: Analysis) -> Section:
    ref = load_reference("phang2020")
    sec = Section("Published numbers (Phang et al. 2020)")
    table = reference_comparison(data)
    if table is None:
        sec.blocks.append(
            f"This grid does not reproduce the paper's setting ({ref.model} on XTREME target tasks), so the paper's numbers "
            "are not set beside ours; they ship with xstilts in analysis/reference/phang2020.json with their sources."
        )
        return sec
    sec.blocks.append(
        f"{ref.title}. The paper's numbers are test-set scores; ours are on the split named above, "
        "so differences include the split. X-STILTs = the best intermediate task per target."
    )
    xtreme = xtreme_best_per_target(a.benchmarks.get("XTREME"))
    gain = ref.scores("X-STILTs minus XLM-R Large").get("xtreme")
    for model, (baseline, best) in xtreme.items():
        sec.blocks.append(
            f"{model}: XTREME score {number_cell(baseline)} without intermediate training and {number_cell(best)} with the best "
            f"intermediate task per target, a gain of {number_cell(best - baseline, 1, True)} points (paper: {number_cell(gain, 1, True)})."
        )
    if table.empty:
        sec.blocks.append("None of the paper's reported targets has scores in this grid yet.")
    else:
        sec.blocks.append(
            Table(
                "Ours beside the paper",
                pd.DataFrame(
                    {
                        "model": table["model"],
                        "task": table["task"],
                        "metric": table["metric"],
                        "ours: no intermediate": table["ours_baseline"].map(number_cell),
                        "ours: best": table["ours_best"].map(number_cell),
                        "best intermediate": table["best_intermediate"],
                        "ours: gain": table["ours_gain"].map(lambda v: number_cell(v, 1, True)),
                        "paper: XLM-R": table["paper_xlmr"].map(number_cell),
                        "paper: X-STILTs": table["paper_xstilts"].map(number_cell),
                        "paper: gain": table["paper_gain"].map(lambda v: number_cell(v, 1, True)),
                    }
                ),
            )
        )
    sources = pd.DataFrame(
        [
            {"source": k, "citation": v["citation"], "url": v["url"], "split": v.get("split", "")}
            for k, v in ref.sources.items()
        ]
    )
    sec.blocks.append(Table("Sources of the published numbers", sources, " ".join(ref.notes)))
    return sec


def missing_section(data: ReportData) -> Section | None:
    cells = data.cells
    if cells is None or cells.empty:
        return None
    missing = cells[cells["status"] != "done"]
    if missing.empty:
        return None
    counts = missing["status"].value_counts()
    sec = Section("Missing from the grid")
    sec.blocks.append(
        f"{len(missing)} of {len(cells)} stages have not finished ("
        + ", ".join(f"{n} {s}" for s, n in counts.items())
        + "); the tables and statistics omit their runs. "
        "Re-run the spec to complete the grid: finished stages are reused."
    )
    shown = sort_rows(
        data,
        missing.rename(columns={"condition": "intermediate"})[
            ["kind", "model", "intermediate", "target", "seed", "status"]
        ].fillna(""),
    )
    sec.blocks.append(
        Table("Unfinished stages", shown.head(200), "" if len(shown) <= 200 else f"first 200 of {len(shown)}")
    )
    return sec


def gaps_section(data: ReportData) -> Section | None:
    """The languages finished evaluate stages could not score, with the reason for each."""
    if data.gaps is None or data.gaps.empty:
        return None
    sec = Section("Missing languages")
    sec.blocks.append(
        "These evaluations finished without some of their languages (data missing, or their evaluation failed); "
        "their scores, gains and averages cover the languages scored, and benchmark aggregates that include them "
        f"are marked{PARTIAL_MARK}. Runs of one target that disagree on languages are left out of the statistics (see the notes)."
    )
    sec.blocks += [f"- {line}" for line in gap_lines(data.gaps)]
    return sec


def not_learned_section(data: ReportData) -> Section | None:
    """Training stages whose chosen checkpoint stayed at chance or majority-class level on English dev."""
    lines = flag_lines(data.flags) if data.flags is not None and not data.flags.empty else []
    if not lines:
        return None
    sec = Section("Stages that did not learn")
    sec.blocks.append(
        "The best English dev score of these training stages is within 2 points of chance or of the majority-class "
        "score, after any restarts: their models may predict one class, so the scores that follow them (and a "
        "condition that ties with another) may only reflect that. Usual causes: a learning rate too low or too high "
        "for the model, or too few steps."
    )
    sec.blocks += [f"- {line}" for line in lines]
    return sec


def notes_section(data: ReportData, a: Analysis) -> Section | None:
    lines = list(dict.fromkeys(a.notes)) + [f"{k}: {v}" for k, v in a.errors.items() if k not in ("gains", "scores")]
    if not lines:
        return None
    return Section("Notes on the data", [f"- {line}" for line in lines])
