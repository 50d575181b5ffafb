"""The training loop: exact resume, determinism, sampling, LM mixing, model selection, NaN guard."""

from __future__ import annotations

import random
from collections import Counter

import numpy as np
import pytest
import torch

from xstilts.evaluation.predict import evaluate, featurize
from xstilts.kinds import FeaturizeOptions
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import LM_TASK, load_checkpoint, load_pretrained
from xstilts.synthetic.tasks import GENERATORS
from xstilts.synthetic.world import World
from xstilts.tasks import get_task
from xstilts.training.lm import LMData, attach_lm_head, lm_features
from xstilts.training.loop import TaskData, Trainer, TrainingDiverged, TrainSettings, task_for_step, task_probabilities

OPTIONS = FeaturizeOptions(max_length=40)


def task_data(model, name: str, n_train: int = 48, n_dev: int = 24, seed: int = 1) -> TaskData:
    task = get_task(name)
    train = GENERATORS[name](World(0), random.Random(seed), n_train, ("en",))["en"]
    dev = GENERATORS[name](World(0), random.Random(seed + 100), n_dev, ("en",))["en"]
    return TaskData(task, featurize(model, task, train, OPTIONS), dev, featurize(model, task, dev, OPTIONS))


def settings(**kw) -> TrainSettings:
    base = dict(learning_rate=2e-3, batch_size=8, max_steps=12, eval_every=4, warmup_ratio=0.1, seed=3)
    return TrainSettings(**(base | kw))


def weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tiny_models, family, tmp_path):
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    uninterrupted = Trainer(model, [task_data(model, "syn-para")], settings(), tmp_path / "a").train()
    expected = weights(model)

    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    data = [task_data(model, "syn-para")]

    def crash(event: dict) -> None:
        if event["step"] == 8:  # after the step-8 evaluation, before its checkpoint is written
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer(model, data, settings(), tmp_path / "b", on_event=crash).train()
    assert (tmp_path / "b" / "LATEST").read_text() == "checkpoint-0000004"
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())  # a fresh process would start here
    outcome = Trainer(model, [task_data(model, "syn-para")], settings(), tmp_path / "b").train()
    assert outcome.resumed_from == 4
    got = weights(model)
    assert got.keys() == expected.keys()
    assert all(torch.equal(got[k], expected[k]) for k in expected)
    # the logs too: the running loss (a window of the last 20 steps) continues where it was
    assert [e["loss"] for e in outcome.history] == [e["loss"] for e in uninterrupted.history]
    assert outcome.history == uninterrupted.history


def test_same_seed_gives_identical_weights_and_another_seed_does_not(tiny_models, tmp_path):
    runs = []
    for i, seed in enumerate((5, 5, 6)):
        model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
        Trainer(model, [task_data(model, "syn-para")], settings(seed=seed, max_steps=6), tmp_path / str(i)).train()
        runs.append(weights(model))
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    assert not all(torch.equal(runs[0][k], runs[2][k]) for k in runs[0])


@pytest.mark.parametrize("how,expected", [
    ("proportional", [0.75, 0.25]),
    ("uniform", [0.5, 0.5]),
    ("temperature", [np.sqrt(3) / (np.sqrt(3) + 1), 1 / (np.sqrt(3) + 1)]),
])
def test_task_sampling_follows_the_configured_proportions(how, expected):
    p = task_probabilities([300, 100], how, temperature=2.0)
    assert np.allclose(p, expected)
    counts = Counter(task_for_step(0, s, p) for s in range(4000))
    assert abs(counts[0] / 4000 - expected[0]) < 0.03


def test_caps_limit_a_large_task_share():
    assert np.allclose(task_probabilities([10_000, 100], "proportional", cap=100), [0.5, 0.5])


def test_multitask_training_steps_every_task_in_proportion(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    data = [task_data(model, "syn-para", n_train=60), task_data(model, "syn-nli", n_train=20)]
    outcome = Trainer(model, data, settings(max_steps=40, eval_every=20), tmp_path).train()
    assert outcome.task_steps["syn-para"] + outcome.task_steps["syn-nli"] == 40
    assert outcome.task_steps["syn-para"] > outcome.task_steps["syn-nli"] > 0
    assert set(outcome.history[-1]["dev"]) == {"syn-para", "syn-nli"}


def test_lm_mixing_takes_the_configured_share_of_steps(tiny_models, family, tmp_path):
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    attach_lm_head(model, str(tiny_models[family]))
    docs = [World(0).realise(World(0).random_proposition(random.Random(i)), "clo").text for i in range(200)]
    lm = LMData(lm_features(model, docs, 32), ratio=0.4)
    outcome = Trainer(model, [task_data(model, "syn-para")], settings(max_steps=50, eval_every=50), tmp_path, lm=lm).train()
    share = outcome.task_steps[LM_TASK] / 50
    assert 0.25 < share < 0.55, outcome.task_steps
    loss = model(LM_TASK, {k: v for k, v in __import__("xstilts.training.lm", fromlist=["lm_batch"]).lm_batch(model, lm.features[:4], 0.15).items()})
    assert torch.isfinite(loss)


def test_the_best_english_dev_checkpoint_is_kept(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    data = task_data(model, "syn-para")
    trainer = Trainer(model, [data], settings(max_steps=16, eval_every=4), tmp_path)
    outcome = trainer.train()
    scores = [h["score"] for h in outcome.history]
    best_index = int(np.argmax(scores))  # first of equal maxima, as the loop keeps the earliest
    assert outcome.best_step == outcome.history[best_index]["step"]
    assert outcome.best_score == max(scores)
    best = load_checkpoint(trainer.best_checkpoint(), BackboneOptions(), tasks={"syn-para": data.task})
    assert evaluate(best, data.task, data.dev_examples, data.dev_features).score == pytest.approx(outcome.best_score)


def test_nan_loss_stops_with_the_step_and_keeps_the_last_checkpoint(tiny_models, tmp_path, monkeypatch):
    from xstilts.kinds.classification import ClassificationHandler

    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    real_loss = ClassificationHandler.loss
    calls = {"n": 0}

    def flaky(self, logits, batch):
        calls["n"] += 1
        return real_loss(self, logits, batch) * (float("nan") if calls["n"] == 6 else 1.0)

    monkeypatch.setattr(ClassificationHandler, "loss", flaky)
    with pytest.raises(TrainingDiverged, match="loss is nan at step 5"):
        Trainer(model, [task_data(model, "syn-para")], settings(checkpoint_every=2), tmp_path).train()
    assert (tmp_path / "LATEST").read_text() == "checkpoint-0000004"


def test_lora_trains_adapters_and_saves_a_plain_merged_model(tiny_models, tmp_path):
    model = load_pretrained(str(tiny_models["decoder"]), BackboneOptions())
    data = task_data(model, "syn-para")
    trainable = model.apply_lora(4, 8, 0.0, None)
    total = sum(p.numel() for p in model.body.parameters())
    assert 0 < trainable < total / 4
    trainer = Trainer(model, [data], settings(max_steps=8, eval_every=8), tmp_path)
    trainer.train()
    merged = load_checkpoint(trainer.best_checkpoint(), BackboneOptions(), tasks={"syn-para": data.task})
    assert not hasattr(merged.body, "peft_config")
    model.eval()
    a = evaluate(model, data.task, data.dev_examples, data.dev_features)
    b = evaluate(merged, data.task, data.dev_examples, data.dev_features)
    assert a.predictions == b.predictions


def test_trackers_receive_dev_scores_and_losses(tiny_models, tmp_path):
    from accelerate.tracking import GeneralTracker

    class Recorder(GeneralTracker):
        name = "recorder"
        requires_logging_directory = False

        def __init__(self):
            super().__init__()
            self.config, self.rows = None, []

        @property
        def tracker(self):
            return self

        def store_init_configuration(self, values):
            self.config = values

        def log(self, values, step=None, **kwargs):
            self.rows.append((step, values))

    recorder = Recorder()
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    Trainer(model, [task_data(model, "syn-para")], settings(max_steps=8, eval_every=4, log_with=(recorder,)), tmp_path).train()
    assert recorder.config["learning_rate"] == 2e-3
    assert [step for step, _ in recorder.rows] == [4, 8]
    assert {"train/loss", "dev/score", "dev/syn-para"} <= set(recorder.rows[-1][1])


def test_unavailable_tracker_is_a_clear_error(tiny_models, tmp_path):
    import importlib.util

    from xstilts.errors import XStiltsError

    if importlib.util.find_spec("wandb") is not None:
        pytest.skip("wandb is installed here")
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    with pytest.raises(XStiltsError, match=r"training.log_with"):
        Trainer(model, [task_data(model, "syn-para")], settings(log_with=("wandb",)), tmp_path)


@pytest.mark.parametrize("name", ["syn-para", "syn-pos"])
def test_packed_training_learns(tiny_models, family, name, tmp_path):
    """With packing on, every step trains on packed rows (fewer than the batch's features) and the
    training loss falls."""
    from xstilts.kinds import handler_for

    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    data = task_data(model, name)
    handler = handler_for(data.task)
    batch = handler.collate(data.train[:16], model.input_format.pad_id)
    trainer = Trainer(model, [data], settings(packing=True, max_steps=16, eval_every=16), tmp_path)
    trainer.attention_parity = None  # cost in positions only (as under flash-attention): rows get shared
    batches = [trainer._collate(0, list(range(s, s + 8))) for s in (0, 8, 16)]
    rows = [b.get("packed_input_ids", b["input_ids"]).size(0) for b in batches]  # a batch that gains nothing stays padded
    assert sum(rows) < 24, rows

    def loss() -> float:
        model.eval()
        with torch.no_grad():
            return handler.loss(model(data.task.name, batch), batch).item()

    before = loss()
    trainer.train()
    assert loss() < before


def test_packing_refuses_a_kind_that_cannot_pack_before_training(tiny_models, tmp_path):
    from xstilts.errors import XStiltsError

    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    with pytest.raises(XStiltsError, match="packing: multiple_choice tasks cannot be packed"):
        Trainer(model, [task_data(model, "syn-mc")], settings(packing=True), tmp_path)


def test_the_backward_pass_runs_under_the_model_s_attention_kernels(tiny_models, tmp_path):
    """With gradient checkpointing, forwards are recomputed in the backward pass: they must run on
    the model's attention kernels too (on CUDA, auto leaves cuDNN's per-shape graphs out)."""
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions(gradient_checkpointing=True, sdpa_backends="math"))
    seen: list[bool] = []
    model.body.embeddings.word_embeddings.weight.register_hook(lambda g: seen.append(torch.backends.cuda.flash_sdp_enabled()) or g)
    Trainer(model, [task_data(model, "syn-para")], settings(max_steps=2, eval_every=2), tmp_path).train()
    assert seen and not any(seen)  # held to math: flash off while gradients flow
    assert torch.backends.cuda.flash_sdp_enabled()  # and restored afterwards
