"""Stages run end to end on tiny models: outputs, provenance, collapse restarts, LM mixing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.experiments.store import ResultsStore


def tiny_spec(tmp_path, model_path, **overrides) -> dict:
    spec = {
        "name": "tiny",
        "output_dir": str(tmp_path / "out"),
        "models": [{"name": "m", "path": str(model_path)}],
        "intermediate": ["none"],
        "targets": ["syn-para"],
        "training": {
            "intermediate": {"max_steps": 6, "eval_every": 3, "max_train_examples": 64, "max_dev_examples": 32},
            "target": {"max_steps": 6, "eval_every": 3, "max_train_examples": 64, "max_dev_examples": 32},
        },
        "evaluation": {"max_examples": 24},
    }
    return spec | overrides


@pytest.mark.slow
def test_a_run_that_stays_at_chance_is_restarted_with_another_seed(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    raw = tiny_spec(tmp_path, tiny_models["encoder"])
    raw["training"]["target"]["learning_rate"] = 1e-12  # cannot move off chance
    raw["training"]["max_restarts"] = 1
    summary = run_spec(spec_from_dict(raw))
    assert not summary.failed
    store = ResultsStore(summary.store)
    target = next(s for s in store.stages() if s.kind == "target")
    outcome = target.outcome
    assert outcome["collapsed"] is True
    assert [r["seed"] for r in outcome["restarts"]] == [0]
    assert outcome["seed_used"] == 1000
    scores = store.scores_frame("tiny")
    assert set(scores["language"]) == {"en", "clo", "scr", "ord"}
    assert (scores["split"] == "validation").all()
    provenance = json.loads(store._conn.execute("SELECT provenance FROM stages WHERE id=?", (target.id,)).fetchone()[0])
    assert provenance["packages"]["torch"] and provenance["spec_hash"] and provenance["code_version"]


@pytest.mark.slow
def test_lm_mixing_and_shared_intermediate_checkpoint(tiny_models, tmp_path, monkeypatch):
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(f"Anna sees the cat number {i} ." for i in range(300)))
    raw = tiny_spec(
        tmp_path, tiny_models["decoder"],
        intermediate=[{"name": "nli+lm", "tasks": ["syn-nli"], "lm_mix": {"ratio": 0.5, "corpus": str(corpus)}}],
        targets=["syn-para", "syn-pos"],
    )
    summary = run_spec(spec_from_dict(raw))
    store = ResultsStore(summary.store)
    stages = store.stages()
    intermediate = [s for s in stages if s.kind == "intermediate"]
    assert len(intermediate) == 1  # one checkpoint shared by both targets
    assert intermediate[0].outcome["task_steps"]["__lm__"] > 0
    assert "LM head" in intermediate[0].outcome["loaded"]["lm_head"]
    targets = [s for s in stages if s.kind == "target"]
    assert {s.parent for s in targets} == {intermediate[0].id}
    assert all("discarded ['syn-nli']" in s.outcome["loaded"]["heads"] for s in targets)
    again = run_spec(spec_from_dict(raw))
    assert not again.ran and len(again.reused) == len(stages)


@pytest.mark.slow
def test_retrieval_layer_sweep_is_stored_and_plotted(tiny_models, tmp_path, monkeypatch):
    from xstilts.analysis.report import write_report

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    raw = tiny_spec(tmp_path, tiny_models["decoder"], targets=["syn-tatoeba"])
    raw["evaluation"] = {"max_examples": 30, "retrieval_layers": [0, 1, 2]}
    summary = run_spec(spec_from_dict(raw))
    scores = ResultsStore(summary.store).scores_frame("tiny")
    sweep = scores[scores["metric"].str.contains("@layer")]
    assert set(sweep["metric"]) == {"accuracy@layer0", "accuracy@layer1", "accuracy@layer2"}
    assert set(sweep["language"]) == {"clo", "scr", "ord"}
    paths = write_report(summary.store, tmp_path / "report", spec="tiny")
    assert any("layer" in p.name for p in paths.figures)


def test_retrieval_centering_is_an_evaluate_stage_of_its_own(tiny_models, tmp_path, monkeypatch):
    """Turning centering on gives the retrieval target a new evaluate stage, scored as
    evaluate(..., retrieval_centering=True) scores; the uncentred stage keeps its result."""
    from xstilts.data.loading import load_examples
    from xstilts.evaluation.predict import evaluate
    from xstilts.experiments.plan import plan
    from xstilts.experiments.stages import _cap
    from xstilts.models.backbone import BackboneOptions
    from xstilts.models.model import load_pretrained
    from xstilts.tasks import get_task

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    raw = tiny_spec(tmp_path, tiny_models["decoder"], targets=["syn-tatoeba"])
    raw["evaluation"] = {"max_examples": 60, "languages": ["scr"]}
    [plain] = run_spec(spec_from_dict(raw)).ran
    raw["evaluation"]["retrieval_centering"] = True
    spec = spec_from_dict(raw)
    centred = run_spec(spec)
    assert centred.ran == [s.id for s in plan(spec)] and centred.ran != [plain]
    store = ResultsStore(centred.store)
    stored = dict(store._conn.execute("SELECT stage_id, value FROM scores WHERE metric = 'accuracy'").fetchall())
    assert set(stored) == {plain, centred.ran[0]}
    task = get_task("syn-tatoeba")
    model = load_pretrained(str(tiny_models["decoder"]), BackboneOptions())
    examples = _cap(load_examples(task, "validation", "scr"), 60)
    for stage_id, centering in ((plain, False), (centred.ran[0], True)):
        assert stored[stage_id] == evaluate(model, task, examples, language="scr", retrieval_centering=centering).score
    # the report says, at the top, that the retrieval scores are not the official protocol
    from xstilts.analysis.report import write_report

    meta = json.loads(write_report(centred.store, tmp_path / "report", spec="tiny").summary.read_text())["meta"]
    assert any(line.startswith("Retrieval: syn-tatoeba searched with language-specific centering") for line in meta), meta


@pytest.mark.slow
def test_a_synthetic_model_embeds_with_its_chosen_retrieval_layer(tmp_path, monkeypatch):
    from xstilts.synthetic.spec import RETRIEVAL_LAYERS

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    raw = tiny_spec(tmp_path, "synthetic:encoder", targets=["syn-tatoeba"])
    raw["evaluation"] = {"max_examples": 40, "retrieval_layers": [1, 2, 4]}
    summary = run_spec(spec_from_dict(raw))
    scores = ResultsStore(summary.store).scores_frame("tiny").set_index(["language", "metric"])["value"]
    chosen = RETRIEVAL_LAYERS["encoder"]
    for language in ("clo", "scr", "ord"):
        assert scores[(language, "accuracy")] == scores[(language, f"accuracy@layer{chosen}")]
    assert any(scores[(lang, "accuracy")] != scores[(lang, "accuracy@layer4")] for lang in ("clo", "scr", "ord"))


@pytest.mark.slow
def test_lora_on_the_word_embeddings_trains_and_merges(tmp_path, monkeypatch):
    from safetensors.numpy import load_file

    from xstilts.models.backbone import resolve_model_path

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    raw = tiny_spec(tmp_path, "synthetic:encoder", intermediate=["syn-nli"])
    raw["models"][0]["lora"] = {"r": 1, "alpha": 1, "target_modules": ["word_embeddings"]}
    raw["training"]["intermediate"]["learning_rate"] = 1e-2
    summary = run_spec(spec_from_dict(raw))
    assert not summary.failed
    intermediate = next(s for s in ResultsStore(summary.store).stages() if s.kind == "intermediate")
    body = tmp_path / "out" / "stages" / intermediate.id / "checkpoint" / "body" / "model.safetensors"
    pretrained = load_file(str(Path(resolve_model_path("synthetic:encoder")) / "model.safetensors"))
    trained = load_file(str(body))
    key = next(k for k in trained if k.endswith("word_embeddings.weight"))
    before = next(v for k, v in pretrained.items() if k.endswith("word_embeddings.weight"))
    assert trained[key].shape == before.shape and not (trained[key] == before).all()  # the adapter was merged in
    query = next(k for k in trained if k.endswith("attention.self.query.weight"))
    assert (trained[query] == next(v for k, v in pretrained.items() if k.endswith(query.split("encoder.", 1)[-1]))).all()  # the rest stayed frozen
