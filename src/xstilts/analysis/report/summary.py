"""Findings: the generated summary of the report, one plain-English statement per Finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from xstilts.analysis.divergence import RANDOM, choose_inference, generalises_to
from xstilts.analysis.report.data import ReportData, model_variation
from xstilts.analysis.report.published import reference_comparison
from xstilts.analysis.report.statistics import Analysis, holm_column
from xstilts.analysis.scores import BASELINE, FAMILIES


@dataclass(frozen=True)
class Finding:
    """One statement of the summary. Only statements with `significant=True` use the word
    "significant"; they hold after the multiple-comparison correction the text names."""

    topic: str
    text: str
    significant: bool = False


def _f(v: float, digits: int = 1, sign: bool = False) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:+.{digits}f}" if sign else f"{v:.{digits}f}"


def _p(p: float) -> str:
    """'= 0.012', '< 0.001' or '= n/a', to follow a p-value's name."""
    if p is None or not np.isfinite(p):
        return "= n/a"
    return "< 0.001" if p < 0.001 else f"= {p:.3f}"


def _ci_words(low: float, high: float, level: float) -> str:
    return f"{100 * level:g}% CI {_f(low, sign=True)} to {_f(high, sign=True)}"


def _capped(findings: list[Finding], limit: int, topic: str, what: str) -> list[Finding]:
    if len(findings) <= limit:
        return findings
    return findings[:limit] + [
        Finding(topic, f"... and {len(findings) - limit} more {what} (see the tables)", findings[0].significant)
    ]


def findings(data: ReportData, a: Analysis) -> list[Finding]:
    out: list[Finding] = []
    out += _grid_findings(data)
    out += _coverage_findings(data)
    out += _answer_findings(data, a)
    out += _inference_findings(data, a)
    out += _divergence_findings(a)
    out += _gain_findings(data, a)
    out += _variant_findings(a)
    out += _rank_findings(a)
    out += _language_findings(a)
    out += _gap_findings(data, a)
    out += _reference_findings(data, a)
    if not out:
        out.append(
            Finding("scores", f"Scores of {len(data.models)} models on {len(data.targets)} targets; see the tables.")
        )
    return out


def _grid_findings(data: ReportData) -> list[Finding]:
    if data.cells is None or data.cells.empty:
        return []
    evaluate = data.cells[data.cells["kind"] == "evaluate"]
    done = int((evaluate["status"] == "done").sum())
    if done == len(evaluate):
        return [Finding("grid", f"Complete grid: all {len(evaluate)} evaluation runs have scores.")]
    missing = evaluate[evaluate["status"] != "done"]
    what = ", ".join(sorted({f"{r.model}/{r.condition}/{r.target}" for r in missing.itertuples()})[:6])
    more = "" if len(missing) <= 6 else f" and {len(missing) - 6} more"
    return [
        Finding(
            "grid",
            f"Partial grid: {done} of {len(evaluate)} evaluation runs have scores; missing {what}{more}. "
            "Statistics use the runs present (see 'Missing from the grid').",
        )
    ]


def _coverage_findings(data: ReportData) -> list[Finding]:
    """Missing languages and stages that did not learn, in the summary."""
    out = []
    if data.gaps is not None and not data.gaps.empty:
        targets = sorted(set(data.gaps["target"].dropna()))
        runs = data.gaps["stage_id"].nunique()
        out.append(
            Finding(
                "gaps",
                f"{runs} evaluation run{'s' if runs > 1 else ''} of {', '.join(targets)} lack{'' if runs > 1 else 's'} languages "
                f"({', '.join(sorted(set(data.gaps['language'])))}): their averages cover fewer languages (see 'Missing languages').",
            )
        )
    if data.flags is not None and not data.flags.empty:
        flagged = data.flags[data.flags["flag"] == "not_learned"]
        if not flagged.empty:
            what = sorted({f"{r.model}/{r.condition}" + (f"/{r.target}" if isinstance(r.target, str) else "") for r in flagged.itertuples()})
            out.append(
                Finding(
                    "not learned",
                    f"{len(flagged)} training stage{'s' if len(flagged) > 1 else ''} did not learn (English dev at chance "
                    f"or majority-class level): {', '.join(what[:6])}{' ...' if len(what) > 6 else ''}; "
                    "check the learning rate and steps (see 'Stages that did not learn').",
                )
            )
    return out


def _answer_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.df.empty:
        return [
            Finding(
                "interaction",
                "No model has baseline (no intermediate training) runs yet, so no gain and no divergence can be assessed.",
            )
        ]
    families = sorted(set(a.df["family"]))
    if set(families) < set(FAMILIES):
        present = families[0]
        return [
            Finding(
                "interaction",
                f"Only {present} models have scores with a baseline so far: whether transfer diverges between "
                "encoder-only and decoder-only models cannot be assessed yet.",
            )
        ]
    if a.interactions is None:
        return [
            Finding(
                "interaction",
                f"The interaction test was not computed: {a.errors.get('interaction', 'unknown reason')}.",
            )
        ]
    return _interaction_findings(a, a.interactions.frame)


def _interaction_findings(a: Analysis, frame: pd.DataFrame) -> list[Finding]:
    """The answer from the interaction tests: targets that diverge, those that do not, and untestable ones."""
    testable = frame[np.isfinite(frame["p_value"].to_numpy(dtype=float))]
    out = []
    if testable.empty:
        reasons = "; ".join(dict.fromkeys(n for n in frame["note"] if n))
        return [
            Finding(
                "interaction",
                "Whether transfer diverges between encoder and decoder models cannot be tested yet: "
                f"{reasons or 'no target has the runs it needs'}. Run at least two seeds per condition.",
            )
        ]
    alpha = a.options.alpha
    scope = _inference_words(a)
    diverging = testable[testable["p_holm"] < alpha]
    if len(diverging):
        where = _and(
            [
                f"{r.target} (interaction test p {_p(r.p_value)}, Holm-adjusted p {_p(r.p_holm)})"
                for r in diverging.itertuples()
            ]
        )
        out.append(
            Finding(
                "interaction",
                f"Yes: transfer diverges between encoder and decoder models on {where}; the families gain "
                f"differently from the intermediate tasks, significant at {alpha:g} after Holm correction across {len(testable)} targets"
                f"{scope}.",
                True,
            )
        )
    quiet = testable[testable["p_holm"] >= alpha]
    if len(quiet):
        # The per-task contrasts below are tests of their own: say so where one passes on a target
        # whose test over all its intermediate tasks does not, rather than leave two answers side by side.
        cells = [t for t in dict.fromkeys(r.target for r in _divergent_cells(a)) if t in set(quiet["target"])]
        reconcile = (
            f" On {_and(cells)}, a single intermediate task's contrast passes its own test (listed below), but the test over "
            "all of the target's intermediate tasks does not: read it as a lead for that task, not as divergence of the target."
            if cells else ""
        )
        out.append(
            Finding(
                "interaction",
                f"No evidence of divergence on {_and(list(quiet['target']))}: the encoder-decoder difference in gains stays within "
                f"noise (interaction test, smallest Holm-adjusted p {_p(quiet['p_holm'].min())}){scope}.{reconcile}",
            )
        )
    untestable = frame[~np.isfinite(frame["p_value"].to_numpy(dtype=float))]
    if len(untestable):
        out.append(
            Finding(
                "interaction",
                f"Not testable on {', '.join(untestable['target'])}: "
                + "; ".join(dict.fromkeys(n for n in untestable["note"] if n))
                + ".",
            )
        )
    return out


def _inference_findings(data: ReportData, a: Analysis) -> list[Finding]:
    """Which inference the encoder-decoder statistics made and what they generalise to, said in
    every report that compares the families: fixed models (one per family: two models compared,
    not architectures) or models random within their family (a sample of it, and of what)."""
    if a.df.empty or not a.both_families:
        return []
    fams = {f: sorted(set(a.df.loc[a.df["family"] == f, "model"])) for f in FAMILIES}
    made = set(a.interactions.frame["inference"]) if a.interactions is not None else set()
    inference = (RANDOM if RANDOM in made else next(iter(made))) if made else choose_inference("auto", fams)
    counts = _and([f"{len(ms)} {f} model{'' if len(ms) == 1 else 's'}" for f, ms in fams.items()])
    if inference == RANDOM:
        variation = model_variation(data, [m for ms in fams.values() for m in ms])
        text = f"Inference made: random models ({counts}): {generalises_to(RANDOM, variation)}."
        lone = [f for f in FAMILIES if len(fams[f]) == 1]
        if lone:
            text += f" The {lone[0]} family has one model, so its side rests on that model alone."
    elif all(len(ms) == 1 for ms in fams.values()):
        text = (
            f"Inference made: fixed models (one model per family: {fams['encoder'][0]} and {fams['decoder'][0]}): "
            "this compares these two models, not architectures; the result does not generalise to other encoder "
            "or decoder models. Several models per family (e.g. other pretraining seeds) would let the analysis "
            "treat models as a sample of their architecture."
        )
    else:
        text = f"Inference made: fixed models ({counts}): {generalises_to(inference)}."
    return [Finding("inference", text)]


def _inference_words(a: Analysis) -> str:
    """The headline's scope: which inference the interaction test made, what it generalises to,
    and the fixed-models caveat whenever a family has one model."""
    per_family = a.df.drop_duplicates("model").groupby("family")["model"].nunique()
    lone = [f for f in FAMILIES if per_family.get(f, 0) == 1]
    inferences = set(a.interactions.frame["inference"]) if a.interactions is not None else set()
    words = ""
    if RANDOM in inferences:
        words = (
            "; models are treated as random draws from their family, so this speaks for the architectures "
            "as far as these models represent them"
        )
    if lone and RANDOM not in inferences:
        words += (
            "; with one model per family this compares two models, not two architectures"
            if len(lone) == 2
            else f"; models are treated as fixed and the {lone[0]} family has one model: this compares models, "
            "not two architectures"
        )
    elif lone:
        words += f" (the {lone[0]} family has one model, so it rests on that model alone)"
    return words


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _testable_cells(a: Analysis) -> list[tuple[Any, int]]:
    """Testable rows of the divergence table, each with the fewest seeds of its cells."""
    if a.divergence is None or a.divergence.frame.empty:
        return []
    frame = a.divergence.frame
    models = a.df.drop_duplicates("model")["model"]
    return [
        (r, a.min_seeds([(m, i, r.target) for m in models for i in (r.intermediate, BASELINE)]))
        for r in frame[frame["testable"]].itertuples()
    ]


def _diverges(row: Any, seeds: int, alpha: float) -> bool:
    """A divergence table row reported as a divergence: two seeds or more, Holm-adjusted p under alpha."""
    return seeds >= 2 and row.p_holm < alpha


def _divergent_cells(a: Analysis) -> list[Any]:
    return [r for r, seeds in _testable_cells(a) if _diverges(r, seeds, a.options.alpha)]


def _divergence_findings(a: Analysis) -> list[Finding]:
    alpha, level = a.options.alpha, a.options.level
    out, caveat = [], []
    for r, seeds in _testable_cells(a):
        words = (
            f"{r.intermediate} → {r.target}: encoder gain {_f(r.encoder_gain, sign=True)}, decoder gain "
            f"{_f(r.decoder_gain, sign=True)}, difference {_f(r.difference, sign=True)} ({_ci_words(r.difference_low, r.difference_high, level)}"
        )
        if _diverges(r, seeds, alpha):
            out.append(
                Finding("divergence", words + f", Holm-adjusted p {_p(r.p_holm)}): a significant divergence.", True)
            )
        elif (seeds < 2 and r.difference_low > 0) or (seeds < 2 and r.difference_high < 0):
            caveat.append(r)
    out = _capped(out, 8, "divergence", "diverging cells")
    if caveat:
        biggest = max(caveat, key=lambda r: abs(r.difference))
        out.append(
            Finding(
                "divergence",
                f"{len(caveat)} encoder-decoder differences exceed test-set sampling noise (largest: "
                f"{biggest.intermediate} → {biggest.target}, {_f(biggest.difference, sign=True)} points), but with one seed per "
                "condition their intervals leave seed-to-seed variation out, so they are not evidence of divergence.",
            )
        )
    return out


def _gain_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.gains is None or a.gains.frame.empty:
        if "gains" in a.errors:
            return [Finding("gain", f"Gains not computed: {a.errors['gains']}.")]
        return []
    frame, alpha, level = a.gains.frame, a.options.alpha, a.options.level
    out, caveat = [], []
    for r in frame.itertuples():
        seeds = min(r.n_seeds, r.n_baseline_seeds)
        if seeds >= 2 and r.p_holm < alpha:
            out.append(
                Finding(
                    "gain",
                    f"{r.model}: {r.intermediate} changes {r.target} by {_f(r.gain, sign=True)} points "
                    f"({_ci_words(r.gain_low, r.gain_high, level)}, Holm-adjusted p {_p(r.p_holm)} across {len(frame)} gains): significant.",
                    True,
                )
            )
        elif seeds < 2 and (r.gain_low > 0 or r.gain_high < 0):
            caveat.append(r)
    out = _capped(out, 10, "gain", "gains")
    replicated = frame[frame[["n_seeds", "n_baseline_seeds"]].min(axis=1) >= 2]
    if not out and len(replicated):
        out.append(
            Finding(
                "gain",
                f"No gain or loss from an intermediate task is distinguishable from zero after Holm correction across "
                f"{len(frame)} gains ({len(replicated)} with at least two seeds).",
            )
        )
    if len(replicated) < len(frame) and not caveat:
        out.append(
            Finding(
                "gain",
                f"{len(frame) - len(replicated)} gains rest on a single seed: seed-to-seed variation cannot be estimated for them, "
                "and none exceeds even test-set sampling noise.",
            )
        )
    if caveat:
        biggest = max(caveat, key=lambda r: abs(r.gain))
        out.append(
            Finding(
                "gain",
                f"{len(caveat)} gains exceed test-set sampling noise (largest: {biggest.model}, {biggest.intermediate} on "
                f"{biggest.target}, {_f(biggest.gain, sign=True)} points), but single seeds leave seed-to-seed variation out of their intervals.",
            )
        )
    mean = frame.groupby(["model", "intermediate"], sort=False)["gain"].mean()
    for model in [m for m in data.models if m in mean.index.get_level_values(0)]:
        best = mean.loc[model].idxmax()
        out.append(
            Finding(
                "gain",
                f"{model}: the intermediate task with the largest mean gain over targets is {best} "
                f"({_f(mean.loc[(model, best)], sign=True)} points; descriptive, no test).",
            )
        )
    return out


def _variant_findings(a: Analysis) -> list[Finding]:
    if a.variants is None or a.variants.empty:
        return []
    v, alpha, level = a.variants, a.options.alpha, a.options.level
    out = []
    for r in v.itertuples():
        if r.n_seeds >= 2 and r.p_holm < alpha:
            out.append(
                Finding(
                    "variant",
                    f"{r.model}, {r.target}: {r.variant} ({r.kind}) differs from plain {r.plain} by "
                    f"{_f(r.difference, sign=True)} points ({_ci_words(r.difference_low, r.difference_high, level)}, Holm-adjusted p {_p(r.p_holm)}): significant.",
                    True,
                )
            )
    if not out:
        out.append(
            Finding(
                "variant",
                f"LM mixing and translated intermediate data do not differ from plain English intermediate training "
                f"beyond noise in any of {len(v)} comparisons (Holm-adjusted).",
            )
        )
    return out


def _rank_findings(a: Analysis) -> list[Finding]:
    if a.ranks is None or a.ranks.frame.empty:
        return []
    out = []
    for r in a.ranks.frame.itertuples():
        if not np.isfinite(r.spearman):
            continue
        sig = np.isfinite(r.spearman_p_holm) and r.spearman_p_holm < a.options.alpha
        tail = (
            f"; significant {'agreement' if r.spearman > 0 else 'disagreement'} (Holm-adjusted p {_p(r.spearman_p_holm)})"
            if sig
            else f" (p {_p(r.spearman_p)})"
        )
        out.append(
            Finding(
                "rank",
                f"{r.target}: encoder and decoder rank the {r.n_intermediates} intermediate tasks with Spearman rho "
                f"{_f(r.spearman, 2, sign=True)}, Kendall tau {_f(r.kendall, 2, sign=True)}{tail}.",
                bool(sig),
            )
        )
    return _capped(out, 6, "rank", "targets")


# The findings' gate for slopes over languages: a slope is evidence only with at least two residual
# degrees of freedom (four languages) and seeds behind every gain; otherwise scores quantised on
# small test sets can line up exactly. Tables star (and bold) only slopes that pass it.
SLOPE_MIN_LANGUAGES = 4
SLOPE_MIN_SEEDS = 2


def slope_gate(a: Analysis, frame: pd.DataFrame) -> np.ndarray:
    """Which slope rows pass the findings' gate (rows keyed by target, intermediate and, when
    present, model; without a model column every model's seeds count)."""
    models = list(dict.fromkeys(a.df["model"]))
    ok = []
    for r in frame.itertuples():
        owners = [r.model] if "model" in frame.columns else models
        cells = [(m, i, r.target) for m in owners for i in (r.intermediate, BASELINE)]
        ok.append(r.n_languages >= SLOPE_MIN_LANGUAGES and a.min_seeds(cells) >= SLOPE_MIN_SEEDS)
    return np.array(ok, dtype=bool)


def _language_findings(a: Analysis) -> list[Finding]:
    if a.relation is None or a.relation.frame.empty:
        return []
    frame = a.relation.frame.dropna(subset=["slope_p"])
    if frame.empty:
        return []
    frame = holm_column(frame, "slope_p")
    frame = frame[slope_gate(a, frame)]
    if frame.empty:
        return [
            Finding(
                "language",
                f"Gains against distance from English are shown descriptively: testing a trend needs at least "
                f"{SLOPE_MIN_LANGUAGES} zero-shot languages and {SLOPE_MIN_SEEDS} seeds.",
            )
        ]
    out = []
    for r in frame[frame["slope_p_holm"] < a.options.alpha].itertuples():
        out.append(
            Finding(
                "language",
                f"{r.model}, {r.intermediate} on {r.target}: the gain changes by {_f(r.slope, sign=True)} points per unit of "
                f"distance from English ({_ci_words(r.slope_low, r.slope_high, a.options.level)}, Holm-adjusted p {_p(r.slope_p_holm)}): significant.",
                True,
            )
        )
    if not out:
        mean_slope = frame["slope"].mean()
        out.append(
            Finding(
                "language",
                f"Gains show no trend with the languages' distance from English that survives Holm correction "
                f"({len(frame)} slopes over {int(frame['n_languages'].max())} zero-shot languages; mean slope {_f(mean_slope, sign=True)} points per unit).",
            )
        )
    return _capped(out, 6, "language", "slopes")


def _gap_findings(data: ReportData, a: Analysis) -> list[Finding]:
    if a.gaps is None or a.gaps.frame.empty:
        return []
    frame = a.gaps.frame
    base = frame[frame["intermediate"] == BASELINE]
    out = []
    for model in [m for m in data.models if m in set(base["model"])]:
        rows = base[base["model"] == model]
        out.append(
            Finding(
                "gap",
                f"{model} without intermediate training: English {_f(rows['english'].mean())}, zero-shot "
                f"{_f(rows['zero_shot'].mean())} (mean over {len(rows)} targets with English; gap {_f(rows['gap'].mean(), sign=True)} points).",
            )
        )
    return out


def _reference_findings(data: ReportData, a: Analysis) -> list[Finding]:
    table = reference_comparison(data)
    if table is None or table.empty:
        return []
    rows = table.dropna(subset=["ours_gain"])
    if rows.empty:
        return []
    text = "; ".join(
        f"{r.task} {_f(r.ours_gain, sign=True)} (paper {_f(r.paper_gain, sign=True)})" for r in rows.itertuples()
    )
    return [
        Finding(
            "reference",
            f"Gain of the best intermediate task per target over no intermediate task, ours ({', '.join(sorted(set(data.scores['split'])))}) "
            f"vs Phang et al. 2020 (test): {text}.",
        )
    ]
