"""Speed defaults of the training loop: fused AdamW, precision 'auto', throughput counters."""

from __future__ import annotations

import random

import pytest
import torch

from xstilts.evaluation.predict import featurize
from xstilts.kinds import FeaturizeOptions
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task
from xstilts.training import loop
from xstilts.training.loop import BatchStream, TaskData, Trainer, TrainSettings


def data(model, name: str = "syn-para") -> TaskData:
    task = get_task(name)
    train = GENERATORS[name](World(0), random.Random(1), 40, ("en",))["en"]
    dev = GENERATORS[name](World(0), random.Random(2), 8, ("en",))["en"]
    options = FeaturizeOptions(max_length=40)
    return TaskData(task, featurize(model, task, train, options), dev, featurize(model, task, dev, options))


def test_cpu_training_uses_the_fused_adamw_kernel(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    trainer = Trainer(model, [data(model)], TrainSettings(max_steps=1, batch_size=8), tmp_path)
    optimizer = getattr(trainer.optimizer, "optimizer", trainer.optimizer)  # accelerate's wrapper
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.defaults["fused"] is True


def test_outcome_counts_the_examples_and_real_tokens_trained_on(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    d = data(model)
    settings = TrainSettings(learning_rate=1e-3, batch_size=6, max_steps=5, eval_every=5, seed=4)
    outcome = Trainer(model, [d], settings, tmp_path).train()
    replay = BatchStream(d.train, 6, 4, 0, True)
    batches = [replay.next() for _ in range(5)]
    assert outcome.train_examples == sum(len(b) for b in batches) >= 5 * 4  # 40 examples: one batch of the epoch is short
    assert outcome.train_tokens == sum(len(d.train[i]["input_ids"]) for b in batches for i in b)
    assert 0 < outcome.train_seconds <= outcome.seconds


def test_auto_precision_is_bf16_on_gpus_with_bf16_and_float32_elsewhere(monkeypatch):
    assert loop.resolve_auto_precision(cpu=True) == "no"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert loop.resolve_auto_precision(cpu=False) == "bf16"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert loop.resolve_auto_precision(cpu=False) == "no"


def test_auto_is_the_default_and_runs_in_float32_on_the_cpu():
    assert TrainSettings().precision == "auto"
    accelerator = loop.make_accelerator("auto", torch.device("cpu"))
    assert accelerator.mixed_precision == "no"
    with pytest.raises(loop.XStiltsError, match="auto, no, bf16, fp16"):
        loop.make_accelerator("fp8", torch.device("cpu"))


@pytest.mark.parametrize("name", ["syn-para", "syn-pos", "syn-squad", "syn-copa"])
def test_padding_to_a_multiple_changes_the_shapes_not_the_loss(tiny_models, tmp_path, name, family):
    """Extra padded positions are masked: every kind's loss is the same with widths rounded up."""
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    d = data(model, name)
    plain = Trainer(model, [d], TrainSettings(max_steps=1, batch_size=8), tmp_path / "plain")
    rounded = Trainer(model, [d], TrainSettings(max_steps=1, batch_size=8, pad_to_multiple_of=16), tmp_path / "rounded")
    model.eval()  # no dropout
    idx = list(range(5))
    a, b = plain._collate(0, idx), rounded._collate(0, idx)
    assert b["attention_mask"].shape[-1] % 16 == 0 and b["attention_mask"].shape[-1] > a["attention_mask"].shape[-1]
    assert torch.equal(b["attention_mask"].sum(-1), a["attention_mask"].sum(-1))
    with torch.no_grad():
        assert torch.allclose(plain._loss(0, a), rounded._loss(0, b), atol=1e-5)
