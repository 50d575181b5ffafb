"""Level and power of the split-plot interaction test (models random), uncorrected and with the
Greenhouse-Geisser correction that `xstilts.analysis.divergence.split_plot_test` applies.

Level: null grids (no family effect) whose models' deviations are spherical (the same sd in every
condition) or not (the last condition's sd 3 or 6 times the others'), 10,000 grids per case.
Power: a family effect of 2, 4 and 6 model SDs with `simulate_model_profiles`, 1,000 grids per case.

    python docs/calibration/controls/sphericity_simulation.py > docs/calibration/controls/sphericity-simulation.txt
"""

import numpy as np
from scipy import stats as sps

from xstilts.analysis.divergence import split_plot_test
from xstilts.analysis.simulate import simulate_model_profiles


def rates(profiles: np.ndarray, is_encoder: np.ndarray) -> tuple[float, float]:
    """(uncorrected, corrected) share of grids with p <= 0.05."""
    uncorrected = corrected = 0
    for grid in profiles:
        f_stat, p, df1, df2 = split_plot_test(grid, is_encoder)
        uncorrected += sps.f.sf(f_stat, df1, df2) <= 0.05
        corrected += p <= 0.05
    return uncorrected / len(profiles), corrected / len(profiles)


def main() -> None:
    rng = np.random.default_rng(1)
    print("level: conditions, sd per condition, models -> uncorrected, Greenhouse-Geisser")
    for n_cond in (3, 4):
        for last in (1.0, 3.0, 6.0):
            scale = np.array((1.0,) * (n_cond - 1) + (last,))
            for n_models in (6, 12):
                is_encoder = np.arange(n_models) < n_models // 2
                profiles = rng.normal(size=(10_000, n_models, n_cond)) * scale
                raw, gg = rates(profiles, is_encoder)
                print(f"{n_cond} {tuple(scale.tolist())} {n_models:2d}  {raw:.4f}  {gg:.4f}")
    print("power: models per family, family effect in model SDs -> uncorrected, Greenhouse-Geisser")
    for per_family in (3, 6):
        for effect in (2.0, 4.0, 6.0):
            profiles, is_encoder = simulate_model_profiles(
                1000, n_encoders=per_family, n_decoders=per_family, model_sd=1.0, family_effect=effect, rng=71
            )
            raw, gg = rates(profiles, is_encoder)
            print(f"{per_family} {effect}  {raw:.3f}  {gg:.3f}")


if __name__ == "__main__":
    main()
