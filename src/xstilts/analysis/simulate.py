"""Simulated score grids with known answers, for tests and for trying the analysis end to end.

score[model, intermediate, target, language, seed] =
    base[model, language] + gain[intermediate] + interaction[family, intermediate]
    + distance_slope[intermediate] * distance[language]
    + model deviation (N(0, model_sd) per model and intermediate, baseline included)
    + run effect (N(0, seed_sd), shared by all languages of a run)
    + run-by-language noise (N(0, noise_sd))
with `none` having gain 0. With `n_examples`, per-example 0/100 correctness is drawn for every
run from item difficulties shared across runs (so conditions are paired by example), and the
score column is the mean of the examples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from xstilts.analysis.scores import BASELINE


@dataclass(frozen=True)
class SimulatedGrid:
    scores: pd.DataFrame
    examples: dict[tuple[str, str, str, str, int], np.ndarray] | None
    true_gain: dict[tuple[str, str, str], float]  # (model, intermediate, language) -> expected gain
    true_difference: dict[str, float]  # intermediate -> encoder-minus-decoder expected gain difference


def simulate_grid(
    *,
    encoders: Sequence[str] = ("enc",),
    decoders: Sequence[str] = ("dec",),
    intermediates: Sequence[str] = (BASELINE, "a", "b", "c"),
    targets: Sequence[str] = ("task",),
    languages: Sequence[str] = ("en", "l1", "l2", "l3"),
    seeds: int | Mapping[str, int] = 3,
    gains: Mapping[str, float] | None = None,
    interaction: Mapping[str, float] | None = None,
    distance: Mapping[str, float] | None = None,
    distance_slope: Mapping[str, float] | None = None,
    seed_sd: float | Mapping[str, float] | Mapping[tuple[str, str], float] = 1.0,
    model_sd: float = 0.0,
    noise_sd: float = 0.5,
    base: float = 60.0,
    n_examples: int | None = None,
    item_sd: float = 1.0,
    rng: int | np.random.Generator = 0,
) -> SimulatedGrid:
    """Draw one grid. `interaction[t]` is the planted encoder-minus-decoder gain difference for
    intermediate t (added +1/2 to encoders, -1/2 to decoders); `seeds` may be given per
    intermediate; `seed_sd` may be given per model or per (model, intermediate). `model_sd` draws
    each model's own deviation from its family's gain per intermediate (models as random draws
    from their family)."""
    rng = np.random.default_rng(rng)
    gains = {t: 0.0 for t in intermediates} | dict(gains or {}) | {BASELINE: 0.0}
    interaction = {t: 0.0 for t in intermediates} | dict(interaction or {}) | {BASELINE: 0.0}
    distance = dict(distance or {lang: 0.0 for lang in languages})
    slope = {t: 0.0 for t in intermediates} | dict(distance_slope or {})
    models = [(m, "encoder") for m in encoders] + [(m, "decoder") for m in decoders]
    rows, examples, truth = [], {}, {}
    for target in targets:
        items = {lang: rng.normal(0.0, item_sd, n_examples) for lang in languages} if n_examples else {}
        for model, family in models:
            # A model's deviation in every condition, baseline included (model x condition effect);
            # the baseline's is part of the model's profile, so gains carry the difference.
            deviation = {t: rng.normal(0.0, model_sd) if model_sd else 0.0 for t in intermediates}
            profile = {lang: base + rng.normal(0.0, 5.0) + deviation[BASELINE] for lang in languages}
            for t in intermediates:
                sd = _seed_sd(seed_sd, model, t)
                k = seeds[t] if isinstance(seeds, Mapping) else seeds
                shift = 0.5 if family == "encoder" else -0.5
                own = deviation[t] - deviation[BASELINE]
                for lang in languages:
                    truth[(model, t, lang)] = gains[t] + shift * interaction[t] + slope[t] * distance[lang] + own
                for s in range(k):
                    run_effect = rng.normal(0.0, sd)
                    for lang in languages:
                        mean = profile[lang] + truth[(model, t, lang)] + run_effect
                        score = float(np.clip(mean + rng.normal(0.0, noise_sd), 0.0, 100.0))
                        if n_examples:
                            logit = np.log(score / (100 - score)) if 0 < score < 100 else np.sign(score - 50) * 10
                            p = 1.0 / (1.0 + np.exp(-(logit + items[lang])))
                            values = np.where(rng.random(n_examples) < p, 100.0, 0.0)
                            examples[(model, t, target, lang, s)] = values
                            score = float(values.mean())
                        rows.append(
                            {
                                "model": model,
                                "family": family,
                                "intermediate": t,
                                "target": target,
                                "language": lang,
                                "seed": s,
                                "score": score,
                            }
                        )
    return SimulatedGrid(
        pd.DataFrame(rows),
        examples or None,
        truth,
        {t: interaction[t] for t in intermediates if t != BASELINE},
    )


def _seed_sd(
    seed_sd: float | Mapping[str, float] | Mapping[tuple[str, str], float], model: str, intermediate: str
) -> float:
    if not isinstance(seed_sd, Mapping):
        return float(seed_sd)
    if (model, intermediate) in seed_sd:
        return float(seed_sd[(model, intermediate)])  # type: ignore[index]
    return float(seed_sd[model])  # type: ignore[index]


@dataclass(frozen=True)
class CellGrids:
    """`n` independent run-level grids of 2 models (0 = encoder, 1 = decoder) x n_int conditions
    (0 = baseline) x k seeds, in the layout of `divergence.freedman_lane_test`: y (n, R, L),
    cell_of_run (R,), block_of_cell (P,) and the encoder-minus-decoder gain contrasts (n_int - 1, P)."""

    y: np.ndarray
    cell_of_run: np.ndarray
    block_of_cell: np.ndarray
    contrasts: np.ndarray


def simulate_cell_grids(
    n: int,
    *,
    k: int = 3,
    n_int: int = 4,
    seed_sd: float | Sequence[float] = 1.0,
    noise_sd: float = 0.5,
    n_lang: int = 1,
    planted: float = 0.0,
    rng: int | np.random.Generator = 0,
) -> CellGrids:
    """Null (or planted) grids for checking the interaction tests by simulation, all at once.

    seed_sd: one seed SD, or one per cell (model-major: encoder's n_int conditions, then the
    decoder's), so the seed spread can differ between conditions within a model. Model and
    condition main effects are random; `planted` adds an interaction of that many points to the
    encoder's condition 1 (so `planted` / seed_sd is the effect in seed SDs).
    """
    rng = np.random.default_rng(rng)
    n_cells = 2 * n_int
    cell_of_run = np.repeat(np.arange(n_cells), k)
    sd = np.broadcast_to(np.asarray(seed_sd, dtype=np.float64), (n_cells,))
    means = rng.normal(60.0, 5.0, (n, 2, 1, n_lang)) + rng.normal(0.0, 2.0, (n, 1, n_int, 1))
    means[:, 0, 1] += planted
    runs = cell_of_run.size
    run_effect = rng.normal(0.0, 1.0, (n, runs)) * sd[cell_of_run]
    y = (
        means.reshape(n, n_cells, n_lang)[:, cell_of_run]
        + run_effect[:, :, None]
        + rng.normal(0.0, noise_sd, (n, runs, n_lang))
    )
    block_of_cell = np.repeat(np.arange(2), n_int)
    contrasts = np.zeros((n_int - 1, n_cells))
    for t in range(1, n_int):
        contrasts[t - 1, [t, 0, n_int + t, n_int]] = [1, -1, -1, 1]
    return CellGrids(y, cell_of_run, block_of_cell, contrasts)


def simulate_model_profiles(
    n: int,
    *,
    n_encoders: int = 3,
    n_decoders: int = 3,
    n_conditions: int = 4,
    model_sd: float = 1.0,
    seed_sd: float = 1.0,
    k: int = 3,
    family_effect: float = 0.0,
    condition_scale: tuple[float, ...] | None = None,
    rng: int | np.random.Generator = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """`n` sets of model profiles (n, M, C): each model's seed-mean score per condition (column 0
    the baseline), models = encoders then decoders, for `divergence.split_plot_test`.

    A profile is a model intercept + condition main effect + the model's own deviation per
    condition (N(0, model_sd)) + the mean of k seed effects (N(0, seed_sd)); `family_effect`
    adds that many points to every encoder's condition 1 (a divergence of the architectures).
    `condition_scale` multiplies the model deviations' sd per condition (unequal: non-spherical).
    Returns (profiles, is_encoder).
    """
    rng = np.random.default_rng(rng)
    n_models = n_encoders + n_decoders
    is_encoder = np.arange(n_models) < n_encoders
    profiles = (
        rng.normal(60.0, 5.0, (n, n_models, 1))
        + rng.normal(0.0, 2.0, (n, 1, n_conditions))
        + rng.normal(0.0, model_sd, (n, n_models, n_conditions)) * np.asarray(condition_scale or 1.0)
        + rng.normal(0.0, seed_sd / np.sqrt(k), (n, n_models, n_conditions))
    )
    profiles[:, is_encoder, 1] += family_effect
    return profiles, is_encoder
