"""Every task kind on both backbone families: shapes, learning, decoding, checkpoints."""

from __future__ import annotations

import random

import pytest
import torch

from xstilts.errors import CheckpointError
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import BackboneOptions, Family
from xstilts.models.model import load_checkpoint, load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import TaskKind, get_task

KIND_TASKS = {
    TaskKind.CLASSIFICATION: "syn-para",
    TaskKind.MULTIPLE_CHOICE: "syn-mc",
    TaskKind.SPAN_EXTRACTION: "syn-qa",
    TaskKind.TAGGING: "syn-pos",
}


def examples(task_name: str, n: int = 8, language: str = "en") -> list[dict]:
    return GENERATORS[task_name](World(0), random.Random(1), n, (language,))[language]


@pytest.mark.parametrize("kind", list(KIND_TASKS), ids=lambda k: k.value)
def test_kind_trains_and_predicts_on_both_families(tiny_models, family, kind):
    torch.manual_seed(0)
    task = get_task(KIND_TASKS[kind])
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    assert model.family is Family(family)
    model.add_head(task)
    handler = handler_for(task)
    data = examples(task.name)
    features = handler.featurize(data, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=48))
    batch = handler.collate(features, model.input_format.pad_id)
    logits = model(task.name, batch)
    n = len(features)
    expected = {
        TaskKind.CLASSIFICATION: (n, task.num_labels),
        TaskKind.MULTIPLE_CHOICE: (n, 4),
        TaskKind.SPAN_EXTRACTION: (n, batch["input_ids"].shape[1], 2),
        TaskKind.TAGGING: (n, batch["input_ids"].shape[1], task.num_labels),
    }[kind]
    assert tuple(logits.shape) == expected

    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    losses = []
    for _ in range(40):
        loss = handler.loss(model(task.name, batch), batch)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses

    model.eval()
    with torch.no_grad():
        outputs = handler.unpad(model(task.name, batch), batch)
    predictions = handler.decode(outputs, features, data, task)
    references = handler.references(data, task)
    assert type(predictions) is type(references) and len(predictions) == len(references)


def test_retrieval_embeds_from_chosen_layer(tiny_models, family):
    task = get_task("syn-tatoeba")
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    handler = handler_for(task)
    data = examples(task.name, n=6, language="clo")
    features = handler.featurize(data, model.tokenizer, model.input_format, task, FeaturizeOptions(max_length=48))
    batch = handler.collate(features, model.input_format.pad_id)
    with torch.no_grad():
        first, last = model.embed(batch, layer=0), model.embed(batch, layer=2)
    assert first.shape == (len(data), model.hidden_size)
    assert not torch.allclose(first, last)
    ranking = handler.decode(list(last), features, data, task)
    assert set(ranking) == set(handler.references(data, task))  # Tatoeba searches from English, as XTREME
    assert all(r and set(r) <= {ex["id"] for ex in data} for r in ranking.values())
    with pytest.raises(CheckpointError, match="layer 9 does not exist"):
        model.embed(batch, layer=9)


def test_checkpoint_round_trip_reproduces_predictions(tiny_models, family, tmp_path):
    task = get_task("syn-para")
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    model.add_head(task)
    handler = handler_for(task)
    features = handler.featurize(examples(task.name), model.tokenizer, model.input_format, task, FeaturizeOptions())
    batch = handler.collate(features, model.input_format.pad_id)
    model.eval()
    with torch.no_grad():
        before = model(task.name, batch)
    model.save(tmp_path / "ckpt")
    loaded = load_checkpoint(tmp_path / "ckpt", BackboneOptions(), tasks={task.name: task})
    loaded.eval()
    with torch.no_grad():
        after = loaded(task.name, batch)
    assert torch.equal(before, after)
    assert loaded.family is model.family and loaded.pooling == model.pooling


def test_checkpoint_refuses_wrong_family_and_wrong_head(tiny_models, tmp_path):
    para, pos = get_task("syn-para"), get_task("syn-pos")
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    model.add_head(para)
    model.save(tmp_path / "ckpt")
    with pytest.raises(CheckpointError, match="is a encoder model, expected a decoder"):
        load_checkpoint(tmp_path / "ckpt", BackboneOptions(), expect_family=Family.DECODER)
    import dataclasses

    wrong_kind = dataclasses.replace(pos, name="syn-para")
    with pytest.raises(CheckpointError, match="classification head"):
        load_checkpoint(tmp_path / "ckpt", BackboneOptions(), tasks={"syn-para": wrong_kind})
    wrong_size = dataclasses.replace(para, labels=("a", "b", "c"))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(tmp_path / "ckpt", BackboneOptions(), tasks={"syn-para": wrong_size})


def test_damaged_checkpoint_is_refused(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["decoder"]), BackboneOptions())
    model.save(tmp_path / "ckpt")
    weights = tmp_path / "ckpt" / "body" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load_checkpoint(tmp_path / "ckpt", BackboneOptions())


def test_decoder_pools_last_token_encoder_first(tiny_models):
    assert load_pretrained(str(tiny_models["decoder"]), BackboneOptions()).pooling == "last"
    assert load_pretrained(str(tiny_models["encoder"]), BackboneOptions()).pooling == "first"
