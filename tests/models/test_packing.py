"""Padding-free packing (xstilts.models.packing): a packed batch computes exactly what its features
compute one by one, for every family that packs and every kind that packs."""

from __future__ import annotations

import random

import pytest
import torch

from xstilts.kinds import KINDS, FeaturizeOptions, handler_for, handler_named
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import XStiltsModel, load_pretrained
from xstilts.models.packing import (
    PACKABLE_MODEL_TYPES,
    cheapest_rows,
    pack,
    pack_rows,
    packing_problem,
    row_cost,
    varlen_boundaries,
)
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task

from .conftest import FAMILY_NAMES

PACKED_FAMILIES = [name for name in FAMILY_NAMES if name in PACKABLE_MODEL_TYPES]
KIND_TASKS = {"classification": "syn-para", "span_extraction": "syn-qa", "tagging": "syn-pos"}


@pytest.fixture(scope="module")
def loaded(family_models) -> dict[str, XStiltsModel]:
    return {name: load_pretrained(str(family_models[name]), BackboneOptions()) for name in PACKED_FAMILIES}


def _features(model: XStiltsModel, task_name: str, n: int = 10) -> list[dict]:
    task = get_task(task_name)
    examples = GENERATORS[task.name](World(0), random.Random(3), n, ("en",))["en"]
    return handler_for(task).featurize(examples, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=128))


def test_pack_rows_first_fit_longest_first():
    assert pack_rows([5, 3, 9, 2, 4], budget=9) == [[2], [0, 4], [1, 3]]
    assert pack_rows([12, 3], budget=9) == [[0], [1]]  # a feature longer than the budget gets its own row


def test_cheapest_rows_compute_the_fewest_positions_where_attention_is_free():
    lengths = [30, 29, 31, 28, 30, 32]
    rows = cheapest_rows(lengths, budget=128)
    assert sorted(i for row in rows for i in row) == list(range(6))
    cost = len(rows) * max(sum(lengths[i] for i in row) for row in rows)
    assert cost <= 2 * 91 < 6 * 32  # two rows of three, not six padded rows or rows of four and two
    assert all(sum(lengths[i] for i in row) <= 128 for row in rows)
    assert cheapest_rows([5, 5], budget=4) == [[0], [1]]  # features longer than the budget: a row each


def test_cheapest_rows_weigh_the_attention_a_mask_does_not_skip():
    lengths = [100, 90, 100, 95]
    assert len(cheapest_rows(lengths, budget=400)) == 1  # attention free: one row, no padding
    assert cheapest_rows(lengths, budget=400, attention_parity=64.0) == [[0], [1], [2], [3]]  # attention dear: as padded
    assert row_cost(2, 100, None) == 200 and row_cost(2, 100, 100.0) == 400


def test_a_batch_that_gains_nothing_from_packing_is_left_padded():
    batch = {"input_ids": torch.ones(2, 4, dtype=torch.long), "attention_mask": torch.ones(2, 4, dtype=torch.long)}
    assert pack(batch, 4, 0) is batch


def test_varlen_boundaries_restart_at_each_zero_position():
    assert varlen_boundaries(torch.tensor([0, 1, 2, 0, 1, 0])).tolist() == [0, 3, 5, 6]


def test_the_kinds_that_pack_are_those_tested_here():
    assert {k for k in KINDS.names() if handler_named(k).packable} == set(KIND_TASKS)


def test_packing_problem_names_the_unsupported_family_or_kind():
    assert packing_problem("llama", ["classification", "tagging"]) is None
    assert "bloom" in (packing_problem("bloom", ["classification"]) or "")
    assert "multiple_choice" in (packing_problem("xlm-roberta", ["multiple_choice"]) or "")


def _padded_batch(model, task):
    """(handler, features, pad id, padded batch) of `task` on `model`, given a head, in eval mode."""
    if not model.has_head(task.name):
        model.add_head(task)
    model.eval()
    handler = handler_for(task)
    features = _features(model, task.name)
    pad_id = model.input_format.pad_id
    return handler, features, pad_id, handler.collate(features, pad_id)


@pytest.mark.parametrize("kind", list(KIND_TASKS))
@pytest.mark.parametrize("name", PACKED_FAMILIES)
def test_packed_batch_equals_features_one_by_one(loaded, name, kind):
    """Logits at every real token (token kinds) or per feature (pooled kinds), and the loss, of a
    packed batch equal those of each feature run alone, unpadded, in float32."""
    torch.manual_seed(0)
    model = loaded[name]
    task = get_task(KIND_TASKS[kind])
    handler, features, pad_id, padded = _padded_batch(model, task)
    # Three features a row, whatever their lengths (the tightest layout may leave full QA windows alone).
    rows = [list(range(s, min(s + 3, len(features)))) for s in range(0, len(features), 3)]
    packed = pack(padded, 128, pad_id, rows=rows)
    with torch.no_grad():
        logits = model(task.name, packed)
        loss = handler.loss(logits, packed)
        assert torch.allclose(loss, handler.loss(model(task.name, padded), padded), atol=1e-5)
        for i, f in enumerate(features):
            alone = handler.collate([f], pad_id)
            n = len(f["input_ids"])
            expected = model(task.name, alone)[0]
            got = logits[i, :n] if not handler.pooled else logits[i]
            assert torch.allclose(got, expected[:n] if not handler.pooled else expected, atol=1e-5), (i, (got - expected).abs().max())


def test_unsupported_families_are_the_ones_left_out():
    """Every family the matrix builds either packs exactly (above) or is refused by name."""
    left_out = sorted(set(FAMILY_NAMES) - set(PACKED_FAMILIES))
    assert left_out == ["bloom", "deberta-v2"]
    for name in left_out:
        assert packing_problem(name, ["classification"]) is not None


@pytest.mark.parametrize("name", ["xlm-roberta", "llama"])
def test_packed_batch_gives_the_gradients_of_the_padded_batch(loaded, name):
    """One training step's gradients (dropout off) are those of the same batch padded."""
    model = loaded[name]
    task = get_task("syn-pos")
    handler, features, pad_id, padded = _padded_batch(model, task)
    packed = pack(padded, 128, pad_id)
    assert packed["packed_input_ids"].size(0) < len(features)
    grads = []
    for batch in (padded, packed):
        model.zero_grad()
        handler.loss(model(task.name, batch), batch).backward()
        grads.append({k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None})
    model.zero_grad()
    assert grads[0].keys() == grads[1].keys()
    for k in grads[0]:
        assert torch.allclose(grads[0][k], grads[1][k], atol=1e-5), k
