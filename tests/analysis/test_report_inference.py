"""The report says which inference it made about models, and what that generalises to, in every
report that compares the families: with one model per family it compares two models; with several
it treats models as a random sample of their family, naming how they vary where that is known."""

from __future__ import annotations

import pandas as pd

from xstilts.analysis.report import ReportOptions, build_report, frame_data
from xstilts.analysis.simulate import simulate_grid

FAST = ReportOptions(n_permutations=199, n_boot=100, figures=False)


def _inference(scores: pd.DataFrame) -> tuple[str, str]:
    """(the summary's inference statement, the report's text blocks)."""
    report = build_report(frame_data(scores), FAST)
    statements = [f.text for f in report.findings if f.topic == "inference"]
    assert len(statements) == 1
    blocks = "\n".join(b for s in report.sections for b in s.blocks if isinstance(b, str))
    return statements[0], blocks


def test_one_model_per_family_compares_two_models_not_architectures() -> None:
    for interaction in ({"a": 6.0}, {}):  # with and without a divergence: said either way
        sim = simulate_grid(intermediates=("none", "a"), interaction=interaction, rng=3)
        statement, blocks = _inference(sim.scores)
        assert statement.startswith("Inference made: fixed models (one model per family: enc and dec)")
        assert "compares these two models, not architectures" in statement
        assert "Inference made: fixed models" in blocks


def test_untestable_grids_still_say_which_inference_they_made() -> None:
    sim = simulate_grid(intermediates=("none", "a"), seeds=1, rng=4)
    statement, _ = _inference(sim.scores)
    assert "compares these two models, not architectures" in statement


def test_three_models_per_family_are_a_random_sample_of_their_family() -> None:
    sim = simulate_grid(encoders=("e1", "e2", "e3"), decoders=("d1", "d2", "d3"), model_sd=0.5, interaction={"a": 8.0}, rng=8)
    statement, blocks = _inference(sim.scores)
    assert statement.startswith("Inference made: random models (3 encoder models and 3 decoder models)")
    assert "random sample of their family" in statement and "generalises to other models of each architecture like these" in statement
    assert "two models" not in statement
    assert "Inference made: random models (models treated as a random sample of their family" in blocks


def test_synthetic_variants_name_their_variation() -> None:
    sim = simulate_grid(encoders=("e1", "e2", "e3"), decoders=("d1", "d2", "d3"), model_sd=0.5, rng=9)
    paths = {
        "e1": "synthetic:encoder", "e2": "synthetic:encoder-1", "e3": "synthetic:encoder-2",
        "d1": "synthetic:decoder", "d2": "synthetic:decoder-1", "d3": "synthetic:decoder-2",
    }
    statement, blocks = _inference(sim.scores.assign(model_path=sim.scores["model"].map(paths)))
    assert "generalises to other models pretrained by this recipe (the synthetic benchmark's) from other pretraining seeds" in statement
    assert "from other pretraining seeds" in blocks


def test_one_family_with_one_model_is_said_to_rest_on_it() -> None:
    sim = simulate_grid(encoders=("e1", "e2", "e3"), decoders=("d1",), model_sd=0.5, rng=10)
    statement, _ = _inference(sim.scores)
    assert statement.startswith("Inference made: random models (3 encoder models and 1 decoder model)")
    assert "decoder family has one model" in statement
