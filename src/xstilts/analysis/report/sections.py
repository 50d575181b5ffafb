"""Sections of the report: scores, gains, encoder vs decoder, benchmarks, gaps and variants; `build_sections` lists them all."""

from __future__ import annotations

from functools import partial

import numpy as np
import pandas as pd

from xstilts.analysis.divergence import DivergenceTable, InteractionTable, generalises_to
from xstilts.analysis.plots import family_scatter, gain_heatmap
from xstilts.analysis.report.context_sections import (
    about_section,
    gaps_section,
    missing_section,
    not_learned_section,
    notes_section,
    reference_section,
)
from xstilts.analysis.report.data import ReportData, model_variation
from xstilts.analysis.report.display import (
    Section,
    Table,
    add_figure,
    condition_order,
    interval_cell,
    number_cell,
    p_cell,
    slug,
    sort_rows,
    target_info,
    target_order,
)
from xstilts.analysis.report.language_sections import language_section, layer_section, per_language_section
from xstilts.analysis.report.statistics import Analysis
from xstilts.analysis.report.suite_tables import PARTIAL, PARTIAL_MARK
from xstilts.analysis.scores import BASELINE
from xstilts.errors import DataError


def scores_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Scores")
    if a.score_ci is None or a.score_ci.empty:
        sec.blocks.append(f"No score table: {a.errors.get('scores', 'no scores')}.")
        return sec
    sec.blocks.append(
        "Primary metric per model, condition (rows, baseline first) and target (columns, spec order): mean over the "
        "target's languages and seeds, with its interval in brackets; '(chance)' is the score of a uniform random guess, where the task has one."
    )
    info = target_info(data).set_index("target")
    for model in [m for m in data.models if m in set(a.score_ci["model"])]:
        part = a.score_ci[a.score_ci["model"] == model]
        targets = target_order(data, part["target"])
        rows = []
        for cond in condition_order(data, part["intermediate"]):
            row = {"intermediate": cond}
            for t in targets:
                hit = part[(part["intermediate"] == cond) & (part["target"] == t)]
                row[t] = interval_cell(*hit[["score", "low", "high"]].iloc[0]) if len(hit) else "(missing)"
            rows.append(row)
        chance_row = {t: info.loc[t, "chance"] if t in info.index else "" for t in targets}
        if any(chance_row.values()):
            rows.append({"intermediate": "(chance)"} | chance_row)
        table = pd.DataFrame(rows).rename(
            columns={t: f"{t} ({info.loc[t, 'metric']})" for t in targets if t in info.index}
        )
        notes = "; ".join(dict.fromkeys(n for n in part["note"] if n))
        sec.blocks.append(
            Table(f"{model} ({data.family_of.get(model, '?')})", table, f"Intervals: {notes}." if notes else "")
        )
    return sec


def benchmark_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Benchmark scores")
    if not a.benchmarks:
        sec.blocks.append(f"No benchmark score: {a.errors.get('benchmarks', 'no targets')}.")
        return sec
    sec.blocks.append(
        "XTREME and XTREME-R scores follow the official evaluate.py (xstilts.evaluation.aggregate): per task the mean "
        "over its languages (QA: (exact match + F1) / 2), overall the mean over all the benchmark's tasks, given only "
        "when every task is scored. Synthetic targets get a plain mean over tasks, which is not an XTREME score."
    )
    for label, frame in a.benchmarks.items():
        frame = sort_rows(data, frame)
        shown = frame.drop(columns=PARTIAL, errors="ignore")
        for c in shown.columns:
            if c not in ("model", "intermediate", "tasks", "missing", "note"):
                shown[c] = shown[c].map(number_cell)
        shown["score"] = [s or "(needs every task)" for s in shown["score"]]
        marked = _mark_partial(shown, frame)
        note = f"{PARTIAL_MARK.strip()} averaged over fewer languages than the task has (see 'Missing languages')." if marked else ""
        sec.blocks.append(Table(label, shown.loc[:, (shown != "").any(axis=0)], note))
    return sec


def _mark_partial(shown: pd.DataFrame, frame: pd.DataFrame) -> bool:
    """Append the partial mark to the cells `frame`'s PARTIAL column lists; True if any."""
    if PARTIAL not in frame:
        return False
    marked = False
    for i, cells in zip(shown.index, frame[PARTIAL], strict=True):
        for column in cells or ():
            if column in shown and shown.at[i, column] and not str(shown.at[i, column]).startswith("("):
                shown.at[i, column] = f"{shown.at[i, column]}{PARTIAL_MARK}"
                marked = True
    return marked


def gains_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Gains from intermediate training")
    if a.gains is None or a.gains.frame.empty:
        sec.blocks.append(
            f"No gains: {a.errors.get('gains', 'the grid has no intermediate conditions with a baseline yet')}."
        )
        return sec
    frame = a.gains.frame
    sec.blocks.append(
        a.gains.description + f" Matrices: intermediate condition (rows) x target (columns); '*' marks gains whose "
        f"Holm-adjusted p (across all {len(frame)} gains) is below {a.options.alpha:g} with at least two seeds."
    )
    for model in [m for m in data.models if m in set(frame["model"])]:
        _add_gain_matrix(sec, data, a, model, frame[frame["model"] == model])
    sec.blocks.append(_all_gains_table(data, frame))
    return sec


def _add_gain_matrix(sec: Section, data: ReportData, a: Analysis, model: str, part: pd.DataFrame) -> None:
    """One model's gains as a heatmap and as an intermediate x target table, significant ones starred."""
    targets = target_order(data, part["target"])
    conds = condition_order(data, part["intermediate"])
    values = part.pivot(index="intermediate", columns="target", values="gain").reindex(index=conds, columns=targets)
    sig = part.assign(
        sig=(part["p_holm"] < a.options.alpha) & (part[["n_seeds", "n_baseline_seeds"]].min(axis=1) >= 2)
    )
    significant = (
        sig.pivot(index="intermediate", columns="target", values="sig")
        .reindex(index=conds, columns=targets)
        .fillna(False)
    )
    display = []
    for cond in conds:
        row = {"intermediate": cond}
        for t in targets:
            hit = part[(part["intermediate"] == cond) & (part["target"] == t)]
            row[t] = (
                interval_cell(
                    *hit[["gain", "gain_low", "gain_high"]].iloc[0], sign=True, star=bool(significant.loc[cond, t])
                )
                if len(hit)
                else ""
            )
        display.append(row)
    add_figure(
        sec,
        a.options,
        f"gains-{slug(model)}",
        f"{model}: gain over no intermediate task (points)",
        partial(
            gain_heatmap,
            values,
            title=f"{model} ({data.family_of.get(model, '?')}): gain over no intermediate task",
            significant=significant,
        ),
    )
    sec.blocks.append(
        Table(f"{model}: gain matrix (points, {100 * a.options.level:g}% interval)", pd.DataFrame(display))
    )


def _all_gains_table(data: ReportData, frame: pd.DataFrame) -> Table:
    full = sort_rows(data, frame)
    shown = pd.DataFrame(
        {
            "model": full["model"],
            "intermediate": full["intermediate"],
            "target": full["target"],
            "score": [interval_cell(*r) for r in full[["score", "score_low", "score_high"]].to_numpy()],
            "baseline": [
                interval_cell(*r)
                for r in full[["baseline_score", "baseline_score_low", "baseline_score_high"]].to_numpy()
            ],
            "gain": [interval_cell(*r, sign=True) for r in full[["gain", "gain_low", "gain_high"]].to_numpy()],
            "p": full["gain_p"].map(p_cell),
            "p_holm": full["p_holm"].map(p_cell),
            "p_bh": full["p_bh"].map(p_cell),
            "seeds": [f"{r.n_seeds}/{r.n_baseline_seeds}" for r in full.itertuples()],
            "note": full["note"],
        }
    )
    return Table("All gains with intervals and p-values (seeds: condition/baseline)", shown)


def divergence_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("Encoder vs decoder")
    if not a.both_families:
        present = sorted(set(data.scores["family"]))
        sec.blocks.append(
            f"The scores hold only {', '.join(present)} models (with baseline runs): the comparison needs both families."
        )
        return sec
    if a.divergence is not None and not a.divergence.frame.empty:
        _add_divergence_table(sec, data, a, a.divergence)
    elif "divergence" in a.errors:
        sec.blocks.append(f"Divergence table not computed: {a.errors['divergence']}.")
    if a.interactions is not None:
        sec.blocks += _interaction_blocks(data, a, a.interactions)
    elif "interaction" in a.errors:
        sec.blocks.append(f"Interaction test not computed: {a.errors['interaction']}.")
    if a.mixed is not None:
        sec.blocks.append(_mixed_model_table(a.mixed))
    elif a.both_families and max(a.seeds.values(), default=0) < 2:
        sec.blocks.append(
            "Mixed model not fitted: every condition has a single seed, so run-level variance cannot be separated from the interaction."
        )
    if a.ranks is not None:
        sec.blocks += [a.ranks.description, _rank_table(a.ranks.frame)]
    if a.family_label is not None and not a.family_label.empty:
        sec.blocks.append(_family_label_table(a.family_label))
    return sec


def _add_divergence_table(sec: Section, data: ReportData, a: Analysis, divergence: DivergenceTable) -> None:
    """The encoder-vs-decoder scatter plot and the table of gain differences, significant ones starred."""
    d = sort_rows(data, divergence.frame)
    sec.blocks.append(divergence.description + "".join(f" Note: {n}." for n in divergence.notes))
    try:
        add_figure(
            sec,
            a.options,
            "encoder-vs-decoder",
            "Encoder gain against decoder gain; points off the diagonal diverge",
            lambda: family_scatter(d),
        )
    except DataError as err:
        sec.blocks.append(f"No scatter plot: {err}")
    models = list(dict.fromkeys(a.df["model"]))
    replicated = [
        a.min_seeds([(m, i, r.target) for m in models for i in (r.intermediate, BASELINE)]) >= 2
        for r in d.itertuples()
    ]
    star = (d["p_holm"] < a.options.alpha).fillna(False) & np.array(replicated, dtype=bool)
    shown = pd.DataFrame(
        {
            "intermediate": d["intermediate"],
            "target": d["target"],
            "encoder gain": [
                interval_cell(*r, sign=True)
                for r in d[["encoder_gain", "encoder_gain_low", "encoder_gain_high"]].to_numpy()
            ],
            "decoder gain": [
                interval_cell(*r, sign=True)
                for r in d[["decoder_gain", "decoder_gain_low", "decoder_gain_high"]].to_numpy()
            ],
            "difference": [
                interval_cell(r.difference, r.difference_low, r.difference_high, sign=True, star=bool(s))
                for r, s in zip(d.itertuples(), star, strict=True)
            ],
            "p": d["p_value"].map(p_cell),
            "p_holm": d["p_holm"].map(p_cell),
            "p_bh": d["p_bh"].map(p_cell),
            "note": d["note"],
        }
    )
    sec.blocks.append(Table("Difference of gains, encoder minus decoder", shown))


def _interaction_blocks(data: ReportData, a: Analysis, interactions: InteractionTable) -> list[str | Table]:
    """What the interaction test shows, the inference it made, and its table (untestable: without p-values)."""
    f = sort_rows(data, interactions.frame)
    blocks: list[str | Table] = [interactions.description]
    variation = model_variation(data, a.df["model"].unique())
    for inference in dict.fromkeys(f["inference"]):
        blocks.append(f"Inference made: {inference} ({generalises_to(inference, variation)}).")
    shown = pd.DataFrame(
        {
            "target": f["target"],
            "statistic": f["statistic"].map(lambda v: number_cell(v, 2)),
            "p": f["p_value"].map(p_cell),
            "p_holm": [
                (p_cell(p) + (" *" if p < a.options.alpha else "")) if np.isfinite(p) else "" for p in f["p_holm"]
            ],
            "p_bh": f["p_bh"].map(p_cell),
            "intermediates": f["n_intermediates"],
            "runs": f["n_runs"],
            "excluded": f["excluded"],
            "test": f["method"],
            "inference": f["inference"],
            "note": f["note"],
        }
    )
    if not np.isfinite(f["p_value"].to_numpy(dtype=float)).any():
        shown = shown.drop(columns=["statistic", "p", "p_holm", "p_bh"])
    blocks.append(Table("Interaction test (architecture x intermediate task) per target", shown))
    return blocks


def _mixed_model_table(m: pd.DataFrame) -> Table:
    shown = pd.DataFrame(
        {
            "target": m["target"],
            "Wald": m["wald"].map(lambda v: number_cell(v, 2)),
            "df": m["df"],
            "p": m["p_value"].map(p_cell),
            "p_holm": m["p_value_holm"].map(p_cell),
            "converged": m["converged"],
            "note": m["note"],
        }
    )
    if not np.isfinite(m["p_value"].to_numpy(dtype=float)).any():
        shown = shown.drop(columns=["Wald", "p", "p_holm"])
    return Table(
        "Mixed model (secondary check): joint Wald test of the encoder-minus-decoder gain differences", shown
    )


def _rank_table(r: pd.DataFrame) -> Table:
    return Table(
        "Rank agreement of the intermediate tasks between families, per target",
        pd.DataFrame(
            {
                "target": r["target"],
                "tasks": r["n_intermediates"],
                "Spearman": r["spearman"].map(lambda v: number_cell(v, 2, True)),
                "p": r["spearman_p"].map(p_cell),
                "p_holm": r["spearman_p_holm"].map(p_cell),
                "Kendall": r["kendall"].map(lambda v: number_cell(v, 2, True)),
                "p (Kendall)": r["kendall_p"].map(p_cell),
                "smallest possible p": r["min_attainable_p"].map(p_cell),
                "note": r["note"],
            }
        ),
    )


def _family_label_table(f: pd.DataFrame) -> Table:
    return Table(
        "Family-label permutation test (models as draws from their family)",
        pd.DataFrame(
            {
                "target": f["target"],
                "statistic": f["statistic"].map(lambda v: number_cell(v, 2)),
                "p": f["p_value"].map(p_cell),
                "labelings": f["labelings"],
                "smallest possible p": f["min_p"].map(p_cell),
                "note": f["note"],
            }
        ),
    )


def gap_section(data: ReportData, a: Analysis) -> Section:
    sec = Section("English vs zero-shot")
    if a.gaps is None or a.gaps.frame.empty:
        sec.blocks.append(
            "No gap table: " + (a.errors.get("gaps") or "no target has English and another language") + "."
        )
        return sec
    f = sort_rows(data, a.gaps.frame)
    sec.blocks.append(a.gaps.description + (" " + " ".join(a.gaps.notes) if a.gaps.notes else ""))
    shown = pd.DataFrame(
        {
            "model": f["model"],
            "target": f["target"],
            "intermediate": f["intermediate"],
            "English": [interval_cell(*r) for r in f[["english", "english_low", "english_high"]].to_numpy()],
            "zero-shot": [interval_cell(*r) for r in f[["zero_shot", "zero_shot_low", "zero_shot_high"]].to_numpy()],
            "gap": [interval_cell(*r, sign=True) for r in f[["gap", "gap_low", "gap_high"]].to_numpy()],
            "gap change vs baseline": [
                interval_cell(*r, sign=True) for r in f[["gap_change", "gap_change_low", "gap_change_high"]].to_numpy()
            ],
            "seeds": f["n_seeds"],
        }
    )
    sec.blocks.append(Table("English score, mean zero-shot score and their gap", shown))
    return sec


def variants_section(data: ReportData, a: Analysis) -> Section | None:
    variants = [c for c in data.conditions.values() if c.kind in ("lm_mix", "translated")]
    if not variants:
        return None
    sec = Section("LM mixing and translated data beside English intermediate training")
    if a.variants is None or a.variants.empty:
        unmatched = [c.name for c in variants if not c.base]
        why = (
            f"no plain English condition with the same tasks for {unmatched}"
            if unmatched
            else a.errors.get("variants", "their runs or their plain condition's runs have no scores yet")
        )
        sec.blocks.append(f"No comparison: {why}.")
        return sec
    v = sort_rows(data, a.variants)
    sec.blocks.append(
        "Each variant beside the plain English condition with the same intermediate tasks: both gains over no "
        "intermediate training, and the variant minus plain difference with its interval (Holm / Benjamini-Hochberg across comparisons)."
    )
    star = (v["p_holm"] < a.options.alpha) & (v["n_seeds"] >= 2)
    sec.blocks.append(
        Table(
            "Baseline variants",
            pd.DataFrame(
                {
                    "model": v["model"],
                    "target": v["target"],
                    "plain": v["plain"],
                    "plain gain": [interval_cell(*r, sign=True) for r in v[["plain_gain", "plain_low", "plain_high"]].to_numpy()],
                    "variant": v["variant"],
                    "kind": v["kind"],
                    "variant gain": [
                        interval_cell(*r, sign=True) for r in v[["variant_gain", "variant_low", "variant_high"]].to_numpy()
                    ],
                    "variant - plain": [
                        interval_cell(r.difference, r.difference_low, r.difference_high, sign=True, star=bool(s))
                        for r, s in zip(v.itertuples(), star, strict=True)
                    ],
                    "p_holm": v["p_holm"].map(p_cell),
                    "note": v["note"],
                }
            ),
        )
    )
    return sec


def build_sections(data: ReportData, a: Analysis) -> list[Section]:
    sections: list[Section | None] = [
        missing_section(data),
        gaps_section(data),
        not_learned_section(data),
        scores_section(data, a),
        gains_section(data, a),
        divergence_section(data, a),
        benchmark_section(data, a),
        gap_section(data, a),
        variants_section(data, a),
        language_section(data, a),
        per_language_section(data, a) if a.options.per_language else None,
        layer_section(data, a.options),
        reference_section(data, a),
        about_section(data, a),
        notes_section(data, a),
    ]
    return [s for s in sections if s is not None]
