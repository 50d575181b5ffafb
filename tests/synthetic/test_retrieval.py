"""The synthetic models' retrieval layer: held-out parallel data and the declared per-family choice."""

from __future__ import annotations

import pytest

from xstilts.experiments.plan import plan
from xstilts.experiments.spec import ModelSpec, spec_from_dict
from xstilts.registry import load_plugins
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.retrieval import choose_layer, held_out_parallel, retrieval_by_layer
from xstilts.synthetic.spec import RETRIEVAL_LAYERS


def test_held_out_sentences_are_parallel_and_never_evaluated(tmp_path):
    bench = SyntheticBenchmark(root=tmp_path)
    held_out = held_out_parallel(bench, n=50)
    assert set(held_out) == {"clo", "scr", "ord"}
    for language, examples in held_out.items():
        evaluated = {ex["text"] for ex in bench.load("syn-tatoeba", "validation", language)}
        queries = [ex for ex in examples if ex["side"] == "query"]
        candidates = {ex["id"] for ex in examples if ex["side"] == "candidate"}
        assert len(queries) == len(candidates) == 50
        assert all(q["gold"][0] in candidates for q in queries)
        assert not {ex["text"] for ex in examples} & evaluated


def test_the_choice_is_the_best_transformer_layer_and_the_lower_on_a_tie():
    scores = {0: {"a": 30.0, "b": 30.0}, 1: {"a": 10.0, "b": 20.0}, 2: {"a": 20.0, "b": 10.0}, 3: {"a": 1.0, "b": 2.0}}
    assert choose_layer(scores) == 1
    assert choose_layer(scores, lowest=0) == 0
    assert choose_layer({**scores, 3: {"a": 16.0, "b": 16.0}}) == 3


@pytest.mark.slow
@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_the_declared_retrieval_layer_is_the_held_out_choice(family):
    load_plugins()
    scores = retrieval_by_layer(f"synthetic:{family}")
    assert choose_layer(scores) == RETRIEVAL_LAYERS[family], scores


def test_a_synthetic_model_resolves_its_chosen_layer_and_an_explicit_one_wins():
    assert ModelSpec("m", "synthetic:encoder").resolved_retrieval_layer() == RETRIEVAL_LAYERS["encoder"]
    assert ModelSpec("m", "synthetic:decoder-2").resolved_retrieval_layer() == RETRIEVAL_LAYERS["decoder"]
    assert ModelSpec("m", "synthetic:encoder", retrieval_layer=3).resolved_retrieval_layer() == 3
    assert ModelSpec("m", "FacebookAI/xlm-roberta-large").resolved_retrieval_layer() is None


def test_writing_the_chosen_layer_out_keeps_the_stage_ids():
    def ids(model: dict) -> list[str]:
        spec = spec_from_dict({"name": "x", "models": [model], "intermediate": ["none", "syn-nli"], "targets": ["syn-tatoeba", "syn-para"]})
        return [stage.id for stage in plan(spec)]

    implicit = ids({"name": "m", "path": "synthetic:encoder"})
    assert implicit == ids({"name": "m", "path": "synthetic:encoder", "retrieval_layer": RETRIEVAL_LAYERS["encoder"]})
    assert implicit != ids({"name": "m", "path": "synthetic:encoder", "retrieval_layer": 4})


def test_only_the_retrieval_evaluations_change_id_with_the_chosen_layer(monkeypatch):
    spec = spec_from_dict({"name": "x", "models": [{"name": "m", "path": "synthetic:encoder"}], "intermediate": ["none", "syn-nli"], "targets": ["syn-tatoeba", "syn-para"]})
    before = {stage.label: stage.id for stage in plan(spec)}
    monkeypatch.setitem(RETRIEVAL_LAYERS, "encoder", RETRIEVAL_LAYERS["encoder"] + 1)
    after = {stage.label: stage.id for stage in plan(spec)}
    changed = {label for label in before if before[label] != after[label]}
    assert changed == {label for label in before if label.startswith("evaluate/") and "syn-tatoeba" in label}
