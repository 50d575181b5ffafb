"""The model-family matrix: every family the README and the examples name × every task kind.

Each family is a tiny random-weight model built from its config with a tokenizer of its own
family's class (see conftest.py). For each task kind the model trains a few steps (the loss must
fall), then is evaluated through the same `evaluate` the pipeline's evaluate stage calls;
retrieval embeds from a middle layer. Loading goes through xstilts' own loader, so the attention
implementation, the pad token and the input framing are chosen as in a real run.
"""

from __future__ import annotations

import copy
import math
import random

import pytest
import torch

from xstilts.evaluation.predict import evaluate
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import BackboneOptions, Family
from xstilts.models.model import XStiltsModel, load_checkpoint, load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import TaskKind, get_task

from .conftest import ENCODERS, FAMILY_NAMES

KIND_TASKS = {
    TaskKind.CLASSIFICATION: "syn-para",
    TaskKind.MULTIPLE_CHOICE: "syn-mc",
    TaskKind.SPAN_EXTRACTION: "syn-qa",
    TaskKind.TAGGING: "syn-pos",
    TaskKind.RETRIEVAL: "syn-tatoeba",
}
# Families whose class lacks sdpa in the installed transformers: auto must pick eager for them.
EAGER_ONLY = {"bloom", "xglm", "deberta-v2", "rembert"}
STEPS = 8


def _examples(task_name: str, n: int = 8, language: str = "en") -> list[dict]:
    return GENERATORS[task_name](World(0), random.Random(1), n, (language,))[language]


def _loss(model: XStiltsModel, handler, task, batch) -> float:
    """The loss on `batch` without dropout: before and after training, comparable."""
    model.eval()
    with torch.no_grad():
        return handler.loss(model(task.name, batch), batch).item()


@pytest.fixture(scope="module")
def loaded(family_models) -> dict[str, XStiltsModel]:
    """Each family loaded once through xstilts' loader; tests train deep copies."""
    return {name: load_pretrained(str(path), BackboneOptions()) for name, path in family_models.items()}


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_loads_with_its_attention_and_padding(loaded, name):
    model = loaded[name]
    assert model.family is (Family.ENCODER if name in ENCODERS else Family.DECODER)
    assert model.attn_implementation == ("eager" if name in EAGER_ONLY else "sdpa")
    assert model.tokenizer.pad_token_id is not None  # GPT-2, Llama and Mistral ship without one
    assert model.input_format.pad_id == model.tokenizer.pad_token_id


@pytest.mark.parametrize("kind", list(KIND_TASKS), ids=lambda k: k.value)
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_trains_evaluates_and_embeds(loaded, name, kind):
    torch.manual_seed(0)
    task = get_task(KIND_TASKS[kind])
    model = copy.deepcopy(loaded[name])
    handler = handler_for(task)
    if kind is TaskKind.RETRIEVAL:
        data = _examples(task.name, n=6, language="clo")
        features = handler.featurize(data, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=48))
        batch = handler.collate(features, model.input_format.pad_id)
        model.eval()
        with torch.no_grad():
            vectors = model.embed(batch)
        assert vectors.shape == (len(features), model.hidden_size) and torch.isfinite(vectors).all()
        assert not torch.allclose(vectors[0], vectors[1])
    else:
        model.add_head(task)
        data = _examples(task.name)
        features = handler.featurize(data, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=48))
        assert len(features) >= len(data)
        batch = handler.collate(features, model.input_format.pad_id)
        before = _loss(model, handler, task, batch)
        optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
        model.train()
        for _ in range(STEPS):
            handler.loss(model(task.name, batch), batch).backward()
            optimizer.step()
            optimizer.zero_grad()
        after = _loss(model, handler, task, batch)
        assert math.isfinite(after) and after < before, (before, after)
        model.eval()
    result = evaluate(model, task, data, features, batch_size=4, language="clo" if kind is TaskKind.RETRIEVAL else "en")
    assert result.n_examples > 0 and result.primary in result.scores
    assert all(math.isfinite(v) for v in result.scores.values()), result.scores


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_checkpoint_round_trip(loaded, name, tmp_path):
    """A trained stage's checkpoint (body, tokenizer, heads) reloads to the same predictions."""
    task = get_task("syn-para")
    model = copy.deepcopy(loaded[name])
    model.add_head(task)
    handler = handler_for(task)
    features = handler.featurize(_examples(task.name, n=4), model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=48))
    batch = handler.collate(features, model.input_format.pad_id)
    model.eval()
    with torch.no_grad():
        before = model(task.name, batch)
    model.save(tmp_path / "ckpt")
    again = load_checkpoint(tmp_path / "ckpt", BackboneOptions(), tasks={task.name: task})
    again.eval()
    assert again.input_format == model.input_format
    with torch.no_grad():
        assert torch.allclose(before, again(task.name, batch), atol=1e-5)


@pytest.mark.parametrize("language", ["en", "scr"])  # scr: Greek script, several bytes per character
@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_family_tokenizer_aligns_answers_and_tags(loaded, name, language):
    """With each family's tokenizer (byte-level, SentencePiece, WordPiece offsets), logits that
    point at the gold tokens decode to exactly the gold answers and tags."""
    model = loaded[name]
    qa, pos = get_task("syn-qa"), get_task("syn-pos")
    data = _examples(qa.name, language=language)
    handler = handler_for(qa)
    features = handler.featurize(data, model.tokenizer, model.input_format, qa, FeaturizeOptions(max_length=96))
    logits = []
    for f in features:
        lg = torch.full((len(f["input_ids"]), 2), -10.0)
        if f["start"] or f["end"]:
            lg[f["start"], 0] = lg[f["end"], 1] = 10.0
        logits.append(lg)
    assert handler.decode(logits, features, data, qa) == {k: v[0] for k, v in handler.references(data, qa).items()}

    data = _examples(pos.name, language=language)
    handler = handler_for(pos)
    features = handler.featurize(data, model.tokenizer, model.input_format, pos, FeaturizeOptions(max_length=96))
    logits = [torch.nn.functional.one_hot(torch.tensor(f["labels"]).clamp(min=0), pos.num_labels).float() for f in features]
    assert handler.decode(logits, features, data, pos) == handler.references(data, pos)


def test_bloom_runs_the_pipeline_with_eager_attention_recorded_in_provenance(family_models, tmp_path, monkeypatch):
    """BLOOM's class lacks sdpa: under the old sdpa default every BLOOM stage failed."""
    import json

    from xstilts.errors import ConfigError
    from xstilts.experiments.runner import run_spec
    from xstilts.experiments.spec import spec_from_dict
    from xstilts.experiments.store import ResultsStore

    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    steps = {"max_steps": 2, "eval_every": 2, "max_train_examples": 16, "max_dev_examples": 8}
    raw = {
        "name": "bloom", "output_dir": str(tmp_path / "out"), "models": [{"name": "bloom", "path": str(family_models["bloom"])}],
        "intermediate": ["none"], "targets": ["syn-para"], "training": {"target": steps}, "evaluation": {"max_examples": 8, "languages": ["en"]},
    }
    summary = run_spec(spec_from_dict(raw))
    assert not summary.failed
    store = ResultsStore(summary.store)
    stages = store.stages()
    assert {s.kind for s in stages} == {"target", "evaluate"}
    for stage in stages:
        provenance = json.loads(store._conn.execute("SELECT provenance FROM stages WHERE id=?", (stage.id,)).fetchone()[0])
        assert provenance["runner"]["attn_implementation"] == "eager" and provenance["runner"]["sdpa_backends"] is None, provenance["runner"]
    raw["models"][0]["attn_implementation"] = "sdpa"
    with pytest.raises(ConfigError, match=r"models\[0\]\.attn_implementation: .*BloomModel does not support it"):
        spec_from_dict(raw)


def test_auto_attention_keeps_the_stage_ids_of_the_former_sdpa_default():
    from xstilts.experiments.plan import plan
    from xstilts.experiments.spec import spec_from_dict

    raw = {"name": "ids", "models": [{"name": "enc", "path": "synthetic:encoder"}], "intermediate": ["none", "syn-nli"], "targets": ["syn-para"]}
    auto = [s.id for s in plan(spec_from_dict(raw))]
    raw["models"][0]["attn_implementation"] = "sdpa"
    assert auto == [s.id for s in plan(spec_from_dict(raw))]
    raw["models"][0]["attn_implementation"] = "eager"
    assert set(auto).isdisjoint(s.id for s in plan(spec_from_dict(raw)))


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_segment_ids_follow_the_tokenizer(loaded, name):
    """Models pretrained with segment embeddings (BERT, RemBERT) get the token type ids their own
    tokenizer gives a pair; the others get none."""
    model = loaded[name]
    tok = model.tokenizer
    a = tok("Anna sees a dog .", add_special_tokens=False)["input_ids"]
    b = tok("the dog runs .", add_special_tokens=False)["input_ids"]
    ids, _ = model.input_format.pair(a, b)
    padded = torch.tensor([ids + [model.input_format.pad_id] * 3])
    mask = torch.tensor([[1] * len(ids) + [0] * 3])
    segments = model._segments(padded, mask)
    expected = tok("Anna sees a dog .", "the dog runs .").get("token_type_ids")
    uses_types = int(getattr(model.body.config, "type_vocab_size", 0) or 0) > 1 and expected is not None
    assert uses_types == (name == "bert")
    if not uses_types:
        assert segments == {}
        return
    assert tok("Anna sees a dog .", "the dog runs .")["input_ids"] == ids
    assert segments["token_type_ids"][0].tolist() == expected + [0, 0, 0]
    assert 1 in expected
