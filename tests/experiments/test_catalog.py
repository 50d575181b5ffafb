"""The planner's catalog: declared synthetic task sizes against the generated data."""

from __future__ import annotations

import pytest

from xstilts.experiments.catalog import dataset_facts
from xstilts.synthetic.spec import SyntheticSpec
from xstilts.tasks.suites.synthetic import MEASURED_SIZES as SYNTHETIC_SIZES


def test_every_synthetic_task_and_split_is_declared() -> None:
    spec_sizes = SyntheticSpec().sizes
    assert set(SYNTHETIC_SIZES) == set(spec_sizes)
    for task, splits in spec_sizes.items():
        assert {split: n for split, (n, _) in SYNTHETIC_SIZES[task].items() if split != "validation" or task != "syn-tatoeba"} == {
            split: n for split, n in splits.items() if split != "validation" or task != "syn-tatoeba"
        }


@pytest.mark.parametrize("task", sorted(SYNTHETIC_SIZES))
def test_synthetic_declared_sizes_match_the_generated_data(task: str) -> None:
    """Examples exactly, featurised tokens per example within 10% on an evenly spaced sample."""
    from xstilts.synthetic.sizes import measure

    for split, (examples, tokens) in SYNTHETIC_SIZES[task].items():
        measured = measure(task, split, limit=50)
        assert measured.examples == examples, f"{task} {split}"
        assert measured.tokens == pytest.approx(tokens, rel=0.10), f"{task} {split}"


def test_synthetic_facts_carry_training_and_evaluation_tokens() -> None:
    qa, pos = dataset_facts("syn-qa"), dataset_facts("syn-pos")
    assert qa is not None and pos is not None
    assert qa.tokens > 2.5 * pos.tokens  # QA contexts are three times as long as POS sentences
    assert qa.eval_tokens == SYNTHETIC_SIZES["syn-qa"]["validation"][1]
    assert dataset_facts("syn-tatoeba").train == 0
