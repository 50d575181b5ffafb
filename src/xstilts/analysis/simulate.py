"""Simulated score grids with known answers, for tests and for trying the analysis end to end.

score[model, intermediate, target, language, seed] =
    base[model, language] + gain[intermediate] + interaction[family, intermediate]
    + distance_slope[intermediate] * distance[language]
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
    seed_sd: float | Mapping[str, float] = 1.0,
    noise_sd: float = 0.5,
    base: float = 60.0,
    n_examples: int | None = None,
    item_sd: float = 1.0,
    rng: int | np.random.Generator = 0,
) -> SimulatedGrid:
    """Draw one grid. `interaction[t]` is the planted encoder-minus-decoder gain difference for
    intermediate t (added +1/2 to encoders, -1/2 to decoders); `seeds` may be given per
    intermediate; `seed_sd` may be given per model."""
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
            sd = seed_sd[model] if isinstance(seed_sd, Mapping) else seed_sd
            profile = {lang: base + rng.normal(0.0, 5.0) for lang in languages}
            for t in intermediates:
                k = seeds[t] if isinstance(seeds, Mapping) else seeds
                shift = 0.5 if family == "encoder" else -0.5
                for lang in languages:
                    truth[(model, t, lang)] = gains[t] + shift * interaction[t] + slope[t] * distance[lang]
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
