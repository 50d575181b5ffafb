"""The report: does transfer diverge between encoder-only and decoder-only models?

`write_report(store_path, out_dir)` reads the results store (plus the evaluate stages' prediction
files beside it, for per-example intervals) and writes `report.md`, a self-contained `report.html`
(figures embedded), `summary.json` (the generated findings) and `figures/*.png|svg`. It works on
a partial grid (listing what is missing) and on any mix of model families.

Pieces, each usable alone (modules of this package, lowest first):
  options          ReportOptions, and IntervalOptions: how every interval is computed
  conditions       plain English intermediate training and its baseline variants
  data             load_store_data / frame_data: the scores (store or a DataFrame, e.g. `simulate_grid`) as ReportData
  statistics       analyse: every statistic of the report (Analysis), computed once
  benchmarks       XTREME / XTREME-R and plain-mean benchmark scores
  published        our numbers beside Phang et al. 2020
  summary          findings: the generated summary, one Finding per statement
  display          Table, Figure, Section and how cells and rows are shown
  sections         build_sections: tables and figures (with language_sections, context_sections)
  render           to_markdown / to_html
  build            build_report, write_outputs, write_report

Conventions read from the store
  conditions  a condition whose spec has `lm_mix` or `translated` is a baseline variant of the
              plain English condition with the same tasks (the spec is in the stages' description
              as `condition_spec`; older stores: names like "mlm-mix:mnli" or "translated:mnli");
  layer sweep non-primary scores whose metric is named "<metric>@layer<k>" (k = index into the
              hidden states) are a layer sweep; the report plots them when present.
"""

from xstilts.analysis.report.build import ReportPaths, build_report, write_outputs, write_report
from xstilts.analysis.report.conditions import Condition, classify_conditions
from xstilts.analysis.report.data import ReportData, frame_data, load_store_data
from xstilts.analysis.report.display import Figure, Section, Table
from xstilts.analysis.report.options import IntervalOptions, ReportOptions
from xstilts.analysis.report.published import reference_comparison
from xstilts.analysis.report.render import Report, to_html, to_markdown
from xstilts.analysis.report.sections import build_sections
from xstilts.analysis.report.statistics import Analysis, analyse
from xstilts.analysis.report.suite_tables import benchmark_tables
from xstilts.analysis.report.summary import Finding, findings

__all__ = [
    "IntervalOptions",
    "ReportOptions",
    "Condition",
    "classify_conditions",
    "ReportData",
    "frame_data",
    "load_store_data",
    "Analysis",
    "analyse",
    "benchmark_tables",
    "reference_comparison",
    "Finding",
    "findings",
    "Figure",
    "Section",
    "Table",
    "build_sections",
    "Report",
    "to_html",
    "to_markdown",
    "ReportPaths",
    "build_report",
    "write_outputs",
    "write_report",
]
