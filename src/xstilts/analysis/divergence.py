"""Do encoder and decoder models respond differently to the same intermediate task?

Four views of the architecture x intermediate-task interaction, per target:
  divergence_table            encoder gain minus decoder gain per (intermediate, target) cell,
                              interval, p-value, Holm and Benjamini-Hochberg across cells;
  interaction_tests           omnibus permutation test (Freedman-Lane) over all intermediates;
  family_label_test           exact test treating models as draws from their family;
  family_rank_agreement       do the families order the intermediate tasks alike?
  mixed_model_interaction     secondary: linear mixed model (statsmodels, optional).

What is exchangeable under "no interaction" when each family has one model: the family label is
carried by a single model, so permuting labels gives two orderings and no test; the inference is
about these models (fixed), with runs (seeds) as the replication. A run is one checkpoint scored
on every language, so its languages move together. Raw runs are not exchangeable across
conditions under the null (conditions differ in their main effects), so the test permutes the
residuals of the null (additive) model within each model (Freedman & Lane 1983), which allows
each model its own seed noise; it is exact only asymptotically, and the tests check its false-
positive rate by simulation. Sign-flipping per-seed double differences would be exact for
symmetric noise but needs seeds paired across four cells and cannot reach p < 2^-(k-1): with
five seeds nothing below 1/16.

Unequal seed variance between a model's conditions breaks the exchangeability the permutation
relies on (its false-positive rate reached 7% in simulation). The response averaged over languages
is therefore tested with the Welch-James approximate F test (Johansen 1980): each cell keeps its
own seed variance, and the degrees of freedom follow from how well those variances are known, so
the test holds its level under unequal variances (conservatively with two seeds per cell). The
permutation test remains for per-language responses and for grids with single-seed cells.

With two or more models in a family, models can be treated as draws from their family (random
effects): the split-plot F test compares the family x condition interaction with the spread of
the models' own condition profiles, (M - 2) x q degrees of freedom for M models and q
intermediates. It is the F test of the linear mixed model with random model and model x
condition effects (exact for balanced seeds under sphericity), computed in closed form, with its
degrees of freedom corrected by Greenhouse-Geisser's epsilon: unequal spread of the intermediates'
gains between models otherwise inflates its false-positive rate (to 7-12% in simulation). The
correction holds it at 4.1-5.3% there, and makes it conservative when the spread is equal
(1.9-4.2%), at some cost in power. A permutation of family labels among models cannot serve:
with 3 + 3 models it has 20 labelings and no p-value below 0.1.
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as sps

import xstilts.analysis.grid as g
import xstilts.analysis.stats as stats
from xstilts.analysis.gains import BY_OPTIONS, join_notes, require_baseline, select_targets, uncertainty_words, units
from xstilts.analysis.scores import BASELINE, ExampleScores, require_both_families, validate_scores
from xstilts.errors import ConfigError

FIXED_MODELS_NOTE = (
    "models are treated as fixed: with one model per family this compares these two models, "
    "not encoder and decoder architectures in general"
)
FIXED = "fixed models"
WELCH_JAMES = "Welch-James F"
PERMUTATION = "Freedman-Lane permutation"
SPLIT_PLOT = "split-plot F (Greenhouse-Geisser)"
RANDOM = "random models"
MODEL_EFFECTS = ("auto", "fixed", "random")
MIN_RESIDUAL_DF = stats.MIN_RESIDUAL_DF


def generalises_to(inference: str, variation: str = "") -> str:
    """What a result under `inference` says something about, in words. `variation` says how the
    models of a family differ (e.g. "pretrained with one recipe from different seeds"), where known."""
    if inference == RANDOM:
        return (
            "models treated as a random sample of their family: the result generalises to other models "
            + (variation or "of each architecture like these")
        )
    return "models treated as fixed: the result is about these models, not the architectures in general"


def choose_inference(models: str, fams: dict[str, list[str]]) -> str:
    """FIXED or RANDOM for `models` in MODEL_EFFECTS ('auto': random when a family has two or more
    models and there are at least three models, so model-level spread is estimable)."""
    if models not in MODEL_EFFECTS:
        raise ConfigError(f"models must be one of {list(MODEL_EFFECTS)}, got {models!r}")
    several = max(len(ms) for ms in fams.values()) >= 2 and sum(len(ms) for ms in fams.values()) >= 3
    if models == "random" and not several:
        raise ConfigError("models='random' needs a family with two or more models (and three models in all)")
    if models == "auto":
        return RANDOM if several else FIXED
    return RANDOM if models == "random" else FIXED


def single_model_families(fams: dict[str, list[str]]) -> list[str]:
    return [f for f, ms in fams.items() if len(ms) == 1]


def _family_models(view: g.CellView, family_of: dict[str, str]) -> dict[str, list[str]]:
    models = sorted({m for m, _ in view.cells})
    return {f: [m for m in models if family_of[m] == f] for f in ("encoder", "decoder")}


def divergence_coefficients(
    view: g.CellView, fams: dict[str, list[str]], intermediate: str, baseline: str, sign: dict[str, float]
) -> dict[int, float]:
    """Cell weights of sum_f sign[f] * (mean over the family's models of the gain)."""
    coef: dict[int, float] = {}
    for fam, models in fams.items():
        w = sign.get(fam, 0.0) / len(models) if models else 0.0
        for m in models:
            if w:
                coef[view.cell(m, intermediate)] = coef.get(view.cell(m, intermediate), 0.0) + w
                coef[view.cell(m, baseline)] = coef.get(view.cell(m, baseline), 0.0) - w
    return coef


def _missing_models(view: g.CellView, fams: dict[str, list[str]], intermediate: str) -> list[str]:
    return [m for models in fams.values() for m in models if not view.has(m, intermediate)]


# ----------------------------------------------------------------------------------------------
# Per-cell divergence


@dataclass(frozen=True)
class DivergenceTable:
    """One row per (intermediate, target[, language]); `description` is one sentence."""

    description: str
    frame: pd.DataFrame
    by: str
    level: float
    ci_method: str
    notes: tuple[str, ...] = ()


def divergence_table(
    scores: pd.DataFrame,
    examples: ExampleScores | None = None,
    *,
    by: str = "target",
    baseline: str = BASELINE,
    targets: Sequence[str] | None = None,
    level: float = 0.95,
    ci_method: str = "t",
    variance: str = "pooled",
    models: str = "auto",
    n_boot: int = 1000,
    seed: int = 0,
) -> DivergenceTable:
    """Encoder-minus-decoder difference in gain per (intermediate, target[, language]).

    models: 'fixed' gives intervals over seeds (and examples) for these models; 'random' (the
    'auto' choice when a family has two or more models) gives t-intervals over models, the
    between-model variance of the gains pooled over both families (M - 2 df), and no p-value below
    MIN_RESIDUAL_DF df. Column `inference` says which.

    A family's gain is the mean over its models of (condition - baseline). Columns: intermediate,
    target, [language], encoder_gain/_low/_high, decoder_gain/_low/_high, difference/_low/_high,
    p_value (two-sided, difference = 0), p_holm, p_bh (adjusted across all testable rows),
    n_encoder_models, n_decoder_models, testable, ci_method, note. A row is untestable (NaN
    numbers, reason in `note`) when a model lacks the condition or the seeds give no interval.
    """
    g.check_options(ci_method, variance, level)
    if by not in BY_OPTIONS:
        raise ConfigError(f"by must be one of {list(BY_OPTIONS)}, got {by!r}")
    df = validate_scores(scores)
    require_both_families(df, "the divergence table")
    family_of = dict(zip(df["model"], df["family"], strict=False))
    rows, with_examples = [], False
    opts: dict[str, Any] = {"level": level, "ci_method": ci_method, "variance": variance}
    for target in select_targets(df, targets):
        grid = g.target_grid(df, target, examples, n_boot=n_boot, seed=seed)
        with_examples |= grid.replicates is not None
        intermediates = sorted(
            {i for _, i in zip(grid.runs["model"], grid.runs["intermediate"], strict=True)} - {baseline}
        )
        for language, weights in units(grid, by):
            view = g.cell_view(grid, weights)
            fams = _family_models(view, family_of)
            for m in fams["encoder"] + fams["decoder"]:
                require_baseline(view, m, target, baseline)
            for intermediate in intermediates:
                row: dict[str, object] = {"intermediate": intermediate, "target": target}
                if by == "language":
                    row["language"] = language
                rows.append(row | _divergence_cells(view, fams, intermediate, baseline, models, opts))
    frame = pd.DataFrame(rows)
    frame = add_corrections(frame)
    uncertainty = (
        f"{level:.0%} t-intervals over models (the spread of the models' gains within each family)"
        if not frame.empty and set(frame["inference"]) == {RANDOM}
        else uncertainty_words(level, ci_method, with_examples)
    )
    description = (
        "Difference between encoder and decoder models in the gain from each intermediate task "
        "(encoder minus decoder, each family's mean over its models), "
        f"with {uncertainty}; "
        "p-values test a zero difference and are adjusted across all cells by Holm (family-wise error) "
        "and Benjamini-Hochberg (false discovery rate)."
    )
    notes: tuple[str, ...] = ()
    if not frame.empty:
        inferences = sorted(set(frame["inference"]))
        notes = tuple(FIXED_MODELS_NOTE if i == FIXED else generalises_to(i) for i in inferences)
    return DivergenceTable(description, frame, by, level, ci_method, notes)



def _divergence_cells(
    view: g.CellView,
    fams: dict[str, list[str]],
    intermediate: str,
    baseline: str,
    models: str,
    opts: dict[str, Any],
) -> dict[str, object]:
    """The numbers of one row of the divergence table (all but its intermediate, target and language)."""
    counts: dict[str, object] = {
        "n_encoder_models": len(fams["encoder"]),
        "n_decoder_models": len(fams["decoder"]),
        "inference": FIXED,
    }
    absent_family = [f for f, ms in fams.items() if not ms]
    missing = _missing_models(view, fams, intermediate)
    if absent_family or missing:
        why = (
            f"no {absent_family[0]} models scored on this target"
            if absent_family
            else f"no runs of {missing} for this condition: a family mean needs every model of the family"
        )
        return _nan_columns() | counts | {"testable": False, "ci_method": "", "note": why}
    inference = choose_inference(models, fams)
    counts["inference"] = inference
    if inference == RANDOM:
        return counts | _random_models_row(view, fams, intermediate, baseline, opts["level"])
    res = {
        name: g.contrast(view, divergence_coefficients(view, fams, intermediate, baseline, sign), **opts)
        for name, sign in (
            ("encoder_gain", {"encoder": 1.0}),
            ("decoder_gain", {"decoder": 1.0}),
            ("difference", {"encoder": 1.0, "decoder": -1.0}),
        )
    }
    cells: dict[str, object] = {}
    for name, r in res.items():
        cells |= {name: r.estimate, f"{name}_low": r.interval.low, f"{name}_high": r.interval.high}
    diff = res["difference"]
    return (
        cells
        | {"p_value": diff.p_value}
        | counts
        | {
            "testable": bool(np.isfinite(diff.p_value)),
            "ci_method": diff.interval.method,
            "note": join_notes(*(r.interval.note for r in res.values())),
        }
    )


def _random_models_row(
    view: g.CellView, fams: dict[str, list[str]], intermediate: str, baseline: str, level: float
) -> dict[str, object]:
    """Family gains and their difference with t-intervals over models (models random)."""
    gains = {
        f: np.array([view.mean[view.cell(m, intermediate)] - view.mean[view.cell(m, baseline)] for m in ms])
        for f, ms in fams.items()
    }
    n_models = sum(v.size for v in gains.values())
    df = n_models - 2
    ss = sum(float(((v - v.mean()) ** 2).sum()) for v in gains.values())
    method = "t-interval over models"
    out: dict[str, object] = {}
    estimates = {
        "encoder_gain": (float(gains["encoder"].mean()), 1 / gains["encoder"].size),
        "decoder_gain": (float(gains["decoder"].mean()), 1 / gains["decoder"].size),
        "difference": (
            float(gains["encoder"].mean() - gains["decoder"].mean()),
            1 / gains["encoder"].size + 1 / gains["decoder"].size,
        ),
    }
    enough = df >= MIN_RESIDUAL_DF
    for name, (est, factor) in estimates.items():
        if enough:
            se = math.sqrt(ss / df * factor)
            iv = stats.interval_from_se(est, se, df, level, method)
            out |= {name: est, f"{name}_low": iv.low, f"{name}_high": iv.high}
        else:
            out |= {name: est, f"{name}_low": math.nan, f"{name}_high": math.nan}
    if enough:
        se = math.sqrt(ss / df * estimates["difference"][1])
        p = stats.two_sided_t_pvalue(estimates["difference"][0], se, df)
        note = "models random: between-model variance of the gains pooled over both families"
        lone = single_model_families(fams)
        if lone:
            note += f" (the {lone[0]} family has one model)"
    else:
        p = math.nan
        note = (
            f"{n_models} models give {df} degrees of freedom between models: "
            f"an interval or p-value needs at least {MIN_RESIDUAL_DF}"
        )
    return out | {"p_value": p, "testable": bool(np.isfinite(p)), "ci_method": method, "note": note}


def _nan_columns() -> dict[str, float]:
    names = ("encoder_gain", "decoder_gain", "difference")
    return {f"{n}{s}": math.nan for n in names for s in ("", "_low", "_high")} | {"p_value": math.nan}


def add_corrections(frame: pd.DataFrame, p_column: str = "p_value") -> pd.DataFrame:
    """Add p_holm and p_bh over the rows with a finite p-value; untestable rows get NaN (their
    note says why) and do not count towards the number of tests."""
    frame = frame.copy()
    frame["p_holm"] = math.nan
    frame["p_bh"] = math.nan
    if frame.empty:
        return frame
    ok = np.isfinite(frame[p_column].to_numpy(dtype=np.float64))
    if ok.any():
        p = frame.loc[ok, p_column].to_numpy(dtype=np.float64)
        frame.loc[ok, "p_holm"] = stats.holm(p)
        frame.loc[ok, "p_bh"] = stats.benjamini_hochberg(p)
    return frame


# ----------------------------------------------------------------------------------------------
# Omnibus permutation test


def freedman_lane_test(
    y: np.ndarray,
    cell_of_run: np.ndarray,
    block_of_cell: np.ndarray,
    contrasts: np.ndarray,
    *,
    n_permutations: int,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """Permutation test of H0: contrasts @ cell_means = 0 (for every column of y).

    y: (R, L) per-run responses; cell_of_run: (R,) cell index; block_of_cell: (P,) exchangeability
    block (the model) of each cell; contrasts: (q, P). Statistic: sum over contrasts and columns of
    z^2, z = estimate / standard error from the within-cell variance pooled per block. Residuals of
    the null-constrained cell-means fit are permuted within blocks and added back to the null fit
    (Freedman-Lane). Returns (statistic, p) with p = (1 + #{T* >= T}) / (1 + n_permutations).
    """
    y = y.reshape(len(y), -1)
    n_cells = len(block_of_cell)
    k = np.bincount(cell_of_run, minlength=n_cells).astype(np.float64)
    avg = np.zeros((n_cells, len(y)))
    avg[cell_of_run, np.arange(len(y))] = 1.0 / k[cell_of_run]
    block_of_run = block_of_cell[cell_of_run]
    n_blocks = int(block_of_cell.max()) + 1
    run_block = np.zeros((n_blocks, len(y)))
    run_block[block_of_run, np.arange(len(y))] = 1.0
    cell_block = np.zeros((n_blocks, n_cells))
    cell_block[block_of_cell, np.arange(n_cells)] = 1.0
    df_block = run_block.sum(axis=1) - cell_block.sum(axis=1)
    var_weight = contrasts**2 / k  # (q, P)

    def statistic(ys: np.ndarray) -> np.ndarray:  # ys (b, R, L) -> (b,)
        mu = np.einsum("pr,brl->bpl", avg, ys)
        ss = np.einsum("gr,brl->bgl", run_block, ys**2) - np.einsum("gp,bpl->bgl", cell_block, k[None, :, None] * mu**2)
        s2 = np.maximum(ss, 0.0) / df_block[None, :, None]
        var = np.einsum("tp,bpl->btl", var_weight, s2[:, block_of_cell, :])
        est = np.einsum("tp,bpl->btl", contrasts, mu)
        z2 = np.divide(est**2, var, out=np.zeros_like(est), where=var > 0)
        return z2.sum(axis=(1, 2))

    # Null fit: cell means closest to the observed ones subject to contrasts @ mu = 0, weighted by
    # each cell mean's variance (its model's pooled seed variance / k), column by column. Unweighted,
    # the constraint would move a quiet model's cells as much as a noisy one's, leaking the noisy
    # model's noise into the quiet model's residuals and inflating the false-positive rate.
    mu = avg @ y
    resid_full = y - mu[cell_of_run]
    s2 = (run_block @ resid_full**2) / np.maximum(df_block, 1)[:, None]  # (blocks, L)
    mu0 = np.empty_like(mu)
    for col in range(y.shape[1]):
        w = np.diag(np.maximum(s2[block_of_cell, col], 1e-12) / k)
        middle = np.linalg.pinv(contrasts @ w @ contrasts.T)
        mu0[:, col] = mu[:, col] - w @ contrasts.T @ middle @ contrasts @ mu[:, col]
    fitted0 = mu0[cell_of_run]
    resid = y - fitted0
    observed = float(statistic(y[None])[0])
    exceed = 0
    chunk = max(1, 2_000_000 // max(y.size, 1))
    for start in range(0, n_permutations, chunk):
        perm = within_block_permutations(block_of_run, min(chunk, n_permutations - start), rng)
        null = statistic(fitted0[None] + resid[perm])
        exceed += int((null >= observed * (1 - 1e-12)).sum())
    return observed, (1 + exceed) / (1 + n_permutations)


def within_block_permutations(block: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n random permutations (n, len(block)) that move items only within their block:
    perm[j, i] is the item whose value item i receives."""
    order = np.argsort(block, kind="stable")
    # Adding 2*block to uniform keys keeps each (sorted, contiguous) block in place and shuffles within it.
    within = np.argsort(rng.random((n, block.size)) + 2.0 * block[order][None, :], axis=1)
    perm = np.empty_like(within)
    perm[:, order] = order[within]
    return perm


def welch_james_test(
    y: np.ndarray, cell_of_run: np.ndarray, contrasts: np.ndarray
) -> tuple[float, float, float, float]:
    """Welch-James approximate F test (Johansen 1980) of H0: contrasts @ cell_means = 0 with each
    cell's own variance. y: (R,) per-run responses; every cell needs two or more runs.

    T = (C mu)' (C V C')^-1 (C mu) with V = diag(s_c^2 / k_c); with M = V C' (C V C')^-1 C and
    A = sum_c M_cc^2 / (k_c - 1), T / (q + 2A - 6A / (q + 2)) ~ F(q, q (q + 2) / (3A)).
    Returns (T, p, df1, df2); p is 1 when no cell varies and no contrast is nonzero.
    """
    n_cells = contrasts.shape[1]
    k = np.bincount(cell_of_run, minlength=n_cells).astype(np.float64)
    if (k < 2).any():
        raise ValueError("the Welch-James test needs two or more runs in every cell")
    mu = np.bincount(cell_of_run, weights=y, minlength=n_cells) / k
    s2 = np.bincount(cell_of_run, weights=(y - mu[cell_of_run]) ** 2, minlength=n_cells) / (k - 1)
    v = s2 / k
    est = contrasts @ mu
    q = contrasts.shape[0]
    cvc = (contrasts * v) @ contrasts.T
    if not np.any(cvc):
        return (math.inf, 0.0, q, math.inf) if np.any(np.abs(est) > 1e-12) else (0.0, 1.0, q, math.inf)
    w = np.linalg.pinv(cvc)
    stat = float(est @ w @ est)
    m_diag = v * np.einsum("tc,ts,sc->c", contrasts, w, contrasts)
    a = float((m_diag**2 / (k - 1)).sum())
    if a <= 0:
        return stat, float(sps.chi2.sf(stat, q)), q, math.inf
    scale = q + 2 * a - 6 * a / (q + 2)
    df2 = q * (q + 2) / (3 * a)
    return stat, float(sps.f.sf(stat / scale, q, df2)), q, df2


def split_plot_test(profiles: np.ndarray, is_encoder: np.ndarray) -> tuple[float, float, int, int]:
    """F test of family x condition with models random within family.

    profiles: (M, C) each model's mean score per condition (baseline included). Each profile is
    centred on its model's mean (the model's random intercept); the family x condition sum of
    squares (q = C - 1 df) is compared with the models-within-family x condition sum of squares
    ((M - 2) q df). Both df are multiplied by the Greenhouse-Geisser epsilon before the p-value:
    the F ratio assumes the models' deviations are equally variable and uncorrelated across
    conditions (sphericity), and when one intermediate's gains vary between models more than
    another's, the uncorrected test fires on 7-12% of null grids instead of 5%.
    Returns (F, p, df1, df2) with the uncorrected df; p is NaN below MIN_RESIDUAL_DF residual df.
    """
    r = profiles - profiles.mean(axis=1, keepdims=True)
    n_models, n_cond = r.shape
    fam_mean = {f: r[mask].mean(axis=0) for f, mask in (("e", is_encoder), ("d", ~is_encoder))}
    grand = r.mean(axis=0)
    ss_int = sum(int(mask.sum()) * ((fam_mean[f] - grand) ** 2).sum() for f, mask in (("e", is_encoder), ("d", ~is_encoder)))
    fitted = np.where(is_encoder[:, None], fam_mean["e"][None], fam_mean["d"][None])
    residuals = r - fitted
    ss_err = float((residuals**2).sum())
    df1, df2 = n_cond - 1, (n_models - 2) * (n_cond - 1)
    if df2 < MIN_RESIDUAL_DF or df1 < 1:
        return math.nan, math.nan, df1, df2
    if ss_err <= 0:
        return (math.inf, 0.0, df1, df2) if ss_int > 0 else (0.0, 1.0, df1, df2)
    f_stat = (ss_int / df1) / (ss_err / df2)
    epsilon = greenhouse_geisser_epsilon(residuals)
    return float(f_stat), float(sps.f.sf(f_stat, epsilon * df1, epsilon * df2)), df1, df2


def greenhouse_geisser_epsilon(residuals: np.ndarray) -> float:
    """Greenhouse-Geisser epsilon, in [1 / (C - 1), 1], from (M, C) residuals of models' condition
    profiles: how far their pooled covariance, on orthonormal contrasts between conditions, is
    from sphericity (1 = spherical; always 1 with two conditions)."""
    n_cond = residuals.shape[1]
    if n_cond < 3:
        return 1.0
    basis = np.column_stack([np.ones(n_cond), np.eye(n_cond)[:, : n_cond - 1]])
    contrasts = np.linalg.qr(basis)[0][:, 1:]  # orthonormal, orthogonal to the constant
    cov = contrasts.T @ (residuals.T @ residuals) @ contrasts
    denominator = (n_cond - 1) * float(np.trace(cov @ cov))
    return 1.0 if denominator <= 0 else float(np.trace(cov)) ** 2 / denominator


@dataclass(frozen=True)
class InteractionTest:
    """Omnibus test of architecture x intermediate task on one target."""

    description: str
    target: str
    statistic: float
    p_value: float  # NaN only when untestable, and `note` says why
    n_permutations: int
    intermediates: tuple[str, ...]
    excluded: tuple[str, ...]
    n_runs: int
    per_language: bool
    note: str = ""
    method: str = ""  # "Welch-James F", "Freedman-Lane permutation" or "split-plot F"
    inference: str = FIXED  # FIXED or RANDOM: what the p-value generalises to (see generalises_to)


INTERACTION_DESCRIPTION = (
    "Whether the gains from intermediate tasks differ between encoder and decoder models on this "
    "target beyond noise, for all intermediate tasks at once: with fixed models against seed-to-seed "
    "noise (Welch-James F test with each condition's own seed variance, or a Freedman-Lane permutation "
    "of runs within each model for per-language responses), with random models against the spread of "
    "the models within each family (split-plot F test, its degrees of freedom corrected by "
    "Greenhouse-Geisser's epsilon for gains that vary more between models for some tasks than others)."
)


def interaction_test(
    scores: pd.DataFrame,
    target: str,
    *,
    baseline: str = BASELINE,
    intermediates: Sequence[str] | None = None,
    per_language: bool = False,
    models: str = "auto",
    n_permutations: int = 4999,
    seed: int = 0,
) -> InteractionTest:
    """Test of no architecture x intermediate interaction on `target`.

    models: 'fixed' tests against seed noise (these models); 'random' treats models as draws from
    their family (split-plot F over model profiles; needs a family with two or more models);
    'auto' picks random when it can. With fixed models the response is each run's target score
    (mean over languages), tested by Welch-James F, or with per_language=True each language
    separately by a Freedman-Lane permutation (the statistic sums over languages; runs keep their
    languages together). The permutation is also used when some cell has a single seed.
    Intermediates missing for any model are excluded and listed. Runs are the unit: the test
    conditions on the test set (per-example noise is in the runs' scores as scored).
    """
    df = validate_scores(scores)
    require_both_families(df, "the interaction test")
    grid = g.target_grid(df, target)
    return _interaction_on_grid(grid, df, baseline, intermediates, per_language, models, n_permutations, seed)


def _interaction_on_grid(
    grid: g.TargetGrid,
    df: pd.DataFrame,
    baseline: str,
    intermediates: Sequence[str] | None,
    per_language: bool,
    models: str,
    n_permutations: int,
    seed: int,
) -> InteractionTest:
    family_of = dict(zip(df["model"], df["family"], strict=False))
    view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
    fams = _family_models(view, family_of)

    def result(
        stat: float,
        p: float,
        used: Sequence[str],
        excluded: Sequence[str],
        note: str = "",
        method: str = "",
        inference: str = FIXED,
    ) -> InteractionTest:
        permuted = method == PERMUTATION and math.isfinite(p)
        return InteractionTest(
            INTERACTION_DESCRIPTION,
            grid.target,
            stat,
            p,
            n_permutations if permuted else 0,
            tuple(used),
            tuple(excluded),
            grid.n_runs,
            per_language,
            note,
            method,
            inference,
        )

    absent = [f for f, ms in fams.items() if not ms]
    if absent:
        return result(math.nan, math.nan, (), (), f"no {absent[0]} models scored on target {grid.target!r}")
    for m in fams["encoder"] + fams["decoder"]:
        require_baseline(view, m, grid.target, baseline)
    inference = choose_inference(models, fams)
    candidates = sorted({i for _, i in view.cells} - {baseline}) if intermediates is None else list(intermediates)
    used = [i for i in candidates if not _missing_models(view, fams, i)]
    excluded = [i for i in candidates if i not in used]
    excluded_note = f"excluded (not run for every model): {excluded}" if excluded else ""
    all_models = fams["encoder"] + fams["decoder"]
    if not used:
        return result(
            math.nan, math.nan, used, excluded, "no intermediate condition was run for every model", inference=inference
        )
    if inference == RANDOM:
        stat, p, note = _split_plot_interaction(view, fams, baseline, used, excluded_note)
        return result(stat, p, used, excluded, note, SPLIT_PLOT, RANDOM)
    single = [m for m in all_models if all(view.k[c] == 1 for c in range(len(view.cells)) if view.cells[c][0] == m)]
    if single:
        return result(
            math.nan,
            math.nan,
            used,
            excluded,
            f"single seed in every condition of {single}: interaction cannot be told from seed noise",
        )
    stat, p, note, method = _fixed_models_interaction(
        grid, view, fams, baseline, used, per_language, n_permutations, excluded_note
    )
    return result(stat, p, used, excluded, note, method)


def _split_plot_interaction(
    view: g.CellView, fams: dict[str, list[str]], baseline: str, used: Sequence[str], note: str
) -> tuple[float, float, str]:
    """(statistic, p, note) of the split-plot test over models' condition profiles (models random)."""
    all_models = fams["encoder"] + fams["decoder"]
    profiles = np.array([[view.mean[view.cell(m, i)] for i in [baseline, *used]] for m in all_models])
    is_enc = np.array([m in fams["encoder"] for m in all_models])
    stat, p, _, df2 = split_plot_test(profiles, is_enc)
    if not math.isfinite(p):
        note = join_notes(
            note,
            f"{len(all_models)} models give {df2} residual degrees of freedom between models: "
            f"a p-value needs at least {MIN_RESIDUAL_DF}",
        )
    lone = single_model_families(fams)
    if lone:
        note = join_notes(
            note,
            f"the {lone[0]} family has one model: its spread between models is taken from the other family",
        )
    return stat, p, note


def _fixed_models_interaction(
    grid: g.TargetGrid,
    view: g.CellView,
    fams: dict[str, list[str]],
    baseline: str,
    used: Sequence[str],
    per_language: bool,
    n_permutations: int,
    note: str,
) -> tuple[float, float, str, str]:
    """(statistic, p, note, method) of the interaction with models fixed: Welch-James on the runs'
    scores, or a Freedman-Lane permutation test with per-language responses or single-seed cells."""
    all_models = fams["encoder"] + fams["decoder"]
    keep_cells = [c for c, (m, i) in enumerate(view.cells) if i in used or i == baseline]
    remap = {c: j for j, c in enumerate(keep_cells)}
    run_mask = np.isin(view.cell_of_run, keep_cells)
    cell_of_run = np.array([remap[c] for c in view.cell_of_run[run_mask]])
    model_index = {m: j for j, m in enumerate(all_models)}
    block_of_cell = np.array([model_index[view.cells[c][0]] for c in keep_cells])
    contrasts = np.zeros((len(used), len(keep_cells)))
    for t, intermediate in enumerate(used):
        for c, a in divergence_coefficients(
            view, fams, intermediate, baseline, {"encoder": 1.0, "decoder": -1.0}
        ).items():
            contrasts[t, remap[c]] = a
    if len(fams["encoder"]) == 1 and len(fams["decoder"]) == 1:
        note = join_notes(note, FIXED_MODELS_NOTE)
    single_cells = view.k[keep_cells] < 2
    if not per_language and not single_cells.any():
        stat, p, _, _ = welch_james_test(view.y[run_mask], cell_of_run, contrasts)
        return stat, p, note, WELCH_JAMES
    y = grid.scores[run_mask] if per_language else view.y[run_mask, None]
    stat, p = freedman_lane_test(
        y,
        cell_of_run,
        block_of_cell,
        contrasts,
        n_permutations=n_permutations,
        rng=np.random.default_rng(grid.seed + 2),
    )
    why = "per-language responses" if per_language else "some conditions have a single seed"
    note = join_notes(
        note, f"permutation test ({why}): assumes equal seed variance across the conditions of a model"
    )
    return stat, p, note, PERMUTATION


@dataclass(frozen=True)
class InteractionTable:
    description: str
    frame: pd.DataFrame  # target, statistic, p_value, p_holm, p_bh, n_intermediates, n_runs, excluded, method, inference, note
    tests: tuple[InteractionTest, ...] = field(default=())


def interaction_tests(
    scores: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    targets: Sequence[str] | None = None,
    per_language: bool = False,
    models: str = "auto",
    n_permutations: int = 4999,
    seed: int = 0,
) -> InteractionTable:
    """`interaction_test` for every target, with Holm and Benjamini-Hochberg across targets."""
    df = validate_scores(scores)
    require_both_families(df, "the interaction test")
    tests = tuple(
        _interaction_on_grid(
            g.target_grid(df, t, seed=seed), df, baseline, None, per_language, models, n_permutations, seed
        )
        for t in select_targets(df, targets)
    )
    frame = pd.DataFrame(
        [
            {
                "target": t.target,
                "statistic": t.statistic,
                "p_value": t.p_value,
                "n_intermediates": len(t.intermediates),
                "n_runs": t.n_runs,
                "excluded": ", ".join(t.excluded),
                "method": t.method,
                "inference": t.inference,
                "note": t.note,
            }
            for t in tests
        ]
    )
    frame = add_corrections(frame)
    description = INTERACTION_DESCRIPTION.replace("on this target", "on each target").rstrip(".") + (
        "; p-values adjusted across targets by Holm and Benjamini-Hochberg."
    )
    return InteractionTable(description, frame, tests)


# ----------------------------------------------------------------------------------------------
# Models as draws from their family


@dataclass(frozen=True)
class FamilyLabelTest:
    description: str
    target: str
    statistic: float
    p_value: float
    n_labelings: int
    min_attainable_p: float
    intermediates: tuple[str, ...]
    note: str = ""


FAMILY_LABEL_DESCRIPTION = (
    "Whether encoder and decoder models differ in their gains from intermediate tasks more than "
    "when the family labels are reassigned among the models (an exact test that treats models as "
    "draws from their family and so needs several models per family)."
)


def family_label_test(scores: pd.DataFrame, target: str, *, baseline: str = BASELINE) -> FamilyLabelTest:
    """Exact permutation of family labels among models; statistic sum_t (mean_enc - mean_dec)^2
    of the model-level gains (seed means of the target score). The smallest possible p-value is
    reported: with 2 + 2 models there are 6 labelings and p cannot go below 1/3."""
    df = validate_scores(scores)
    fams = require_both_families(df, "the family-label test")
    grid = g.target_grid(df, target)
    view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
    models = [m for m in fams["encoder"] + fams["decoder"] if any(mm == m for mm, _ in view.cells)]
    for m in models:
        require_baseline(view, m, target, baseline)
    n_enc = sum(1 for m in models if m in fams["encoder"])
    used = sorted(i for i in {i for _, i in view.cells} - {baseline} if all(view.has(m, i) for m in models))
    gains = np.array([[view.mean[view.cell(m, i)] - view.mean[view.cell(m, baseline)] for i in used] for m in models])
    labelings = [np.isin(np.arange(len(models)), comb) for comb in itertools.combinations(range(len(models)), n_enc)]
    n_lab = len(labelings)

    def stat(is_enc: np.ndarray) -> float:
        return float(((gains[is_enc].mean(axis=0) - gains[~is_enc].mean(axis=0)) ** 2).sum())

    if not used or n_enc == 0 or n_enc == len(models):
        return FamilyLabelTest(
            FAMILY_LABEL_DESCRIPTION,
            target,
            math.nan,
            math.nan,
            n_lab,
            math.nan,
            tuple(used),
            "needs both families and at least one intermediate condition run for every model",
        )
    null = np.array([stat(lab) for lab in labelings])
    observed = stat(np.arange(len(models)) < n_enc)
    p = float((null >= observed * (1 - 1e-12)).mean())
    min_p = float((null >= null.max() * (1 - 1e-12)).mean())
    note = ""
    if min_p > 0.05:
        note = f"only {n_lab} labelings of {len(models)} models: no p-value below {min_p:.3g} is possible"
    return FamilyLabelTest(FAMILY_LABEL_DESCRIPTION, target, observed, p, n_lab, min_p, tuple(used), note)


# ----------------------------------------------------------------------------------------------
# Rank agreement of intermediate tasks between families


@dataclass(frozen=True)
class RankAgreementTable:
    description: str
    frame: (
        pd.DataFrame
    )  # target, n_intermediates, spearman, spearman_p, kendall, kendall_p, exact, min_attainable_p, note
    results: dict[str, stats.RankAgreement]


RANK_DESCRIPTION = (
    "Whether encoder and decoder models rank the intermediate tasks alike by their mean gain on each "
    "target (Spearman's rho and Kendall's tau-b, 1 = same order, -1 = reversed, with permutation "
    "p-values against no association; seed noise in the gains pulls agreement towards zero)."
)


def family_rank_agreement(
    scores: pd.DataFrame,
    *,
    baseline: str = BASELINE,
    targets: Sequence[str] | None = None,
    n_permutations: int = 9999,
    seed: int = 0,
) -> RankAgreementTable:
    """Per target, rank agreement between the encoder family's and the decoder family's mean gain
    (target score, seed means, averaged over the family's models) over the intermediate conditions
    run for every model."""
    df = validate_scores(scores)
    require_both_families(df, "rank agreement between families")
    family_of = dict(zip(df["model"], df["family"], strict=False))
    results: dict[str, stats.RankAgreement] = {}
    rows = []
    for target in select_targets(df, targets):
        grid = g.target_grid(df, target)
        view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
        fams = _family_models(view, family_of)
        absent = [f for f, ms in fams.items() if not ms]
        used: list[str] = []
        if not absent:
            for m in fams["encoder"] + fams["decoder"]:
                require_baseline(view, m, target, baseline)
            used = sorted(i for i in {i for _, i in view.cells} - {baseline} if not _missing_models(view, fams, i))

        if absent or not used:
            why = f"no {absent[0]} models on this target" if absent else "no intermediate condition run for every model"
            res = stats.RankAgreement(
                RANK_DESCRIPTION, (), 0, math.nan, math.nan, math.nan, math.nan, False, 0, math.nan, False, why
            )
        else:
            enc, dec = (_family_mean_gains(view, fams[f], used, baseline) for f in ("encoder", "decoder"))
            res = stats.rank_agreement(
                enc, dec, labels=used, n_permutations=n_permutations, seed=seed, description=RANK_DESCRIPTION
            )
        results[target] = res
        rows.append(
            {
                "target": target,
                "n_intermediates": res.n,
                "spearman": res.spearman,
                "spearman_p": res.spearman_p,
                "kendall": res.kendall,
                "kendall_p": res.kendall_p,
                "exact": res.exact,
                "min_attainable_p": res.min_attainable_p,
                "ties": res.ties,
                "note": res.note,
            }
        )
    return RankAgreementTable(RANK_DESCRIPTION, pd.DataFrame(rows), results)


def _family_mean_gains(view: g.CellView, models: list[str], intermediates: list[str], baseline: str) -> np.ndarray:
    return np.array(
        [
            np.mean([view.mean[view.cell(m, i)] - view.mean[view.cell(m, baseline)] for m in models])
            for i in intermediates
        ]
    )


# ----------------------------------------------------------------------------------------------
# Mixed-effects model (secondary)


@dataclass(frozen=True)
class MixedModelResult:
    description: str
    target: str
    available: bool
    coefficients: pd.DataFrame  # intermediate, difference, low, high, p_value (encoder minus decoder gain)
    wald_statistic: float
    df: int
    p_value: float
    converged: bool
    note: str = ""


MIXED_DESCRIPTION = (
    "Secondary check with a linear mixed model of per-language scores (fixed effects: each model's "
    "language profile, intermediate task, and intermediate task x family; random intercept per run, "
    "and per model x intermediate task when a family has several models) testing all "
    "encoder-minus-decoder gain differences jointly with a Wald test."
)


def mixed_model_interaction(
    scores: pd.DataFrame, target: str, *, baseline: str = BASELINE, level: float = 0.95
) -> MixedModelResult:
    """Fit score ~ model:language + intermediate + intermediate:family_code with a random
    intercept per run (per model x intermediate cell, with a run variance component, when a
    family has several models), family_code = +1/2 encoder, -1/2 decoder, so each interaction
    coefficient is the encoder-minus-decoder gain difference. Needs statsmodels (extra 'stats')."""
    stats.check_level(level)
    df = validate_scores(scores)
    require_both_families(df, "the mixed model")
    empty = pd.DataFrame(columns=["intermediate", "difference", "low", "high", "p_value"])

    def unavailable(why: str) -> MixedModelResult:
        return MixedModelResult(MIXED_DESCRIPTION, target, False, empty, math.nan, 0, math.nan, False, why)

    try:
        from statsmodels.regression.mixed_linear_model import MixedLM, VCSpec  # lazy: loads statsmodels
    except ImportError:
        return unavailable("statsmodels is not installed (pip install 'xstilts[stats]'): mixed model skipped")
    grid = g.target_grid(df, target)
    view = g.cell_view(grid, g.mean_weights(len(grid.languages)))
    family_of = dict(zip(df["model"], df["family"], strict=False))
    fam_models = _family_models(view, family_of)
    for m in fam_models["encoder"] + fam_models["decoder"]:
        require_baseline(view, m, target, baseline)
    used = sorted(i for i in {i for _, i in view.cells} - {baseline} if not _missing_models(view, fam_models, i))
    if not used:
        return unavailable("no intermediate condition run for every model")
    if view.k.max() < 2:
        return unavailable("single seed per condition: run-level variance cannot be separated from the interaction")
    long, exog, diff_cols = _mixed_model_design(grid, used, baseline)
    several = max(len(fam_models["encoder"]), len(fam_models["decoder"])) > 1
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if several:
            # Random intercept per model x intermediate cell (model-specific gain deviations, so the
            # family difference is judged against between-model variation) plus one per run.
            cell = (long["model"] + "|" + long["intermediate"]).to_numpy()
            groups = list(dict.fromkeys(cell))
            run_mats = [pd.get_dummies(long.loc[cell == grp, "run"], dtype=float) for grp in groups]
            vc = VCSpec(["run"], [[list(map(str, m.columns)) for m in run_mats]], [[m.to_numpy() for m in run_mats]])
            model = MixedLM(long["score"], exog, groups=cell, exog_vc=vc)
        else:
            model = MixedLM(long["score"], exog, groups=long["run"])
        try:
            fit = model.fit(reml=True, method=["lbfgs", "bfgs", "cg"])
        except (np.linalg.LinAlgError, ValueError) as err:
            return unavailable(f"mixed model failed to fit: {err}")
    # Keep statsmodels' own diagnostics (convergence, singular covariance); numpy's arithmetic
    # warnings from inside the optimiser say nothing more.
    messages = sorted({str(w.message).splitlines()[0] for w in caught if not issubclass(w.category, RuntimeWarning)})
    beta = fit.fe_params[diff_cols].to_numpy()
    cov = fit.cov_params().loc[diff_cols, diff_cols].to_numpy()
    se = np.sqrt(np.diag(cov))
    if not np.isfinite(se).all():
        return unavailable("mixed model gave no standard errors (singular fit)")
    wald = float(beta @ np.linalg.solve(cov, beta))
    q = sps.norm.ppf(0.5 + level / 2)
    coefficients = pd.DataFrame(
        {
            "intermediate": used,
            "difference": beta,
            "low": beta - q * se,
            "high": beta + q * se,
            "p_value": 2 * sps.norm.sf(np.abs(beta / se)),
        }
    )
    return MixedModelResult(
        MIXED_DESCRIPTION,
        target,
        True,
        coefficients,
        wald,
        len(used),
        float(sps.chi2.sf(wald, len(used))),
        bool(fit.converged),
        _mixed_model_note(messages, several),
    )


def _mixed_model_design(
    grid: g.TargetGrid, used: Sequence[str], baseline: str
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """(per-language scores in long form, the fixed-effects design, the names of its
    encoder-minus-decoder gain difference columns) of the runs of `used` and the baseline."""
    runs = grid.runs.reset_index(drop=True)
    keep = runs["intermediate"].isin([*used, baseline]).to_numpy()
    runs, y = runs[keep].reset_index(drop=True), grid.scores[keep]
    n_runs, n_lang = y.shape
    long = pd.DataFrame(
        {
            "run": np.repeat(np.arange(n_runs), n_lang),
            "model": np.repeat(runs["model"].to_numpy(), n_lang),
            "intermediate": np.repeat(runs["intermediate"].to_numpy(), n_lang),
            "family": np.repeat(runs["family"].to_numpy(), n_lang),
            "language": np.tile(np.array(grid.languages), n_runs),
            "score": y.ravel(),
        }
    )
    profile = pd.get_dummies(long["model"] + "|" + long["language"], dtype=float)
    inter = pd.DataFrame({f"int[{i}]": (long["intermediate"] == i).astype(float) for i in used})
    code = np.where(long["family"] == "encoder", 0.5, -0.5)
    diff_cols = [f"diff[{i}]" for i in used]
    diffs = pd.DataFrame({c: inter[f"int[{i}]"] * code for c, i in zip(diff_cols, used, strict=True)})
    return long, pd.concat([profile, inter, diffs], axis=1), diff_cols


def _mixed_model_note(messages: Sequence[str], several: bool) -> str:
    """statsmodels' diagnostics and the caveat of the fit's model structure."""
    note = join_notes(*messages)
    if not several:
        return join_notes(note, FIXED_MODELS_NOTE)
    # Measured: 3 + 3 models, model deviations of 1 seed SD, no family effect: 33% of 150 grids.
    return join_notes(
        note,
        "the Wald chi-square ignores how few models there are and is liberal with a handful per family; "
        "the split-plot F of the interaction test is the test with models random",
    )
