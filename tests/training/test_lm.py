"""The chunked LM-mixing loss: equal to each model's own loss and gradients (masked LM on an
encoder, causal LM on decoders of several families), and kept out where a model post-processes
its logits after the output projection."""

from __future__ import annotations

import copy
import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
import torch

from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import LM_TASK, load_pretrained
from xstilts.synthetic.world import World
from xstilts.training.lm import ChunkedLMLoss, LMData, attach_lm_head, chunked_lm_loss, lm_batch, lm_features, lm_loss
from xstilts.training.loop import TaskData, Trainer, TrainSettings

VOCAB, HIDDEN = 300, 32
TINY = dict(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _xlmr() -> Any:
    from transformers import XLMRobertaConfig, XLMRobertaForMaskedLM

    return XLMRobertaForMaskedLM(XLMRobertaConfig(vocab_size=VOCAB, max_position_embeddings=40, type_vocab_size=1, **TINY))


def _llama() -> Any:
    from transformers import LlamaConfig, LlamaForCausalLM

    return LlamaForCausalLM(LlamaConfig(vocab_size=VOCAB, num_key_value_heads=1, **TINY))


def _qwen2() -> Any:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    return Qwen2ForCausalLM(Qwen2Config(vocab_size=VOCAB, num_key_value_heads=1, tie_word_embeddings=True, **TINY))


def _gpt2() -> Any:
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(vocab_size=VOCAB, n_embd=HIDDEN, n_layer=2, n_head=2, n_positions=40))


def _bloom() -> Any:
    from transformers import BloomConfig, BloomForCausalLM

    return BloomForCausalLM(BloomConfig(vocab_size=VOCAB, hidden_size=HIDDEN, n_layer=2, n_head=2))


MODELS: dict[str, tuple[Callable[[], Any], bool]] = {  # name: (builder, causal)
    "xlm-roberta": (_xlmr, False),
    "llama": (_llama, True),
    "qwen2": (_qwen2, True),
    "gpt2": (_gpt2, True),
    "bloom": (_bloom, True),
}


def _batch(causal: bool, rows: int = 3, length: int = 24) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(5, VOCAB, (rows, length), generator=g)
    mask = torch.ones_like(ids)
    mask[1, length - 7 :] = 0  # a padded row
    ids = ids.masked_fill(mask == 0, 1)
    if causal:
        labels = ids.masked_fill(mask == 0, -100)
    else:
        chosen = (torch.rand(ids.shape, generator=g) < 0.3) & (mask == 1)
        labels = ids.masked_fill(~chosen, -100)
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def _loss_and_grads(lm: Any, loss: torch.Tensor) -> tuple[float, dict[str, torch.Tensor]]:
    lm.zero_grad()
    loss.backward()
    return loss.detach().item(), {n: p.grad.clone() for n, p in lm.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("chunk", [2048, 5])  # 5: fewer positions per chunk than labelled positions
@pytest.mark.parametrize("name", list(MODELS))
def test_the_chunked_loss_equals_the_models_own_loss_and_gradients(name, chunk):
    build, causal = MODELS[name]
    torch.manual_seed(0)
    lm = build().eval()  # no dropout: both losses see the same network
    batch = _batch(causal)
    labelled = int((batch["labels"][:, 1:] if causal else batch["labels"]).ne(-100).sum())
    assert chunk == 2048 or labelled > 3 * chunk
    standard, standard_grads = _loss_and_grads(lm, lm(**batch).loss)
    chunked, chunked_grads = _loss_and_grads(lm, chunked_lm_loss(lm, batch, causal, chunk))
    assert chunked == pytest.approx(standard, rel=1e-5)
    assert set(chunked_grads) == set(standard_grads)
    for n, g in standard_grads.items():
        torch.testing.assert_close(chunked_grads[n], g, atol=1e-5, rtol=1e-4, msg=n)


@pytest.mark.parametrize("name", ["xlm-roberta", "llama"])
def test_the_objective_checks_once_and_leaves_training_mode_and_random_state_alone(name):
    build, causal = MODELS[name]
    torch.manual_seed(0)
    lm = build().train()
    objective = ChunkedLMLoss(causal, chunk=5)
    batch = _batch(causal)
    torch.manual_seed(3)
    loss = objective(lm, batch)
    after = torch.rand(1)
    assert objective.chunked is True
    assert all(m.training for m in lm.modules())
    torch.manual_seed(3)
    assert lm(**batch).loss.item() == pytest.approx(loss.item(), rel=1e-5)  # the same dropout masks: the check drew none
    assert torch.equal(torch.rand(1), after)


class _SoftcappedLogits(torch.nn.Module):
    """A causal LM whose logits are softcapped after the projection, by no config attribute (a mere
    scale would not do: it commutes with a bias-free projection, and the chunked loss stays right)."""

    def __init__(self, lm: Any) -> None:
        super().__init__()
        self.lm = lm

    def get_output_embeddings(self) -> torch.nn.Module:
        return self.lm.get_output_embeddings()

    def forward(self, labels: torch.Tensor | None = None, **inputs: torch.Tensor) -> Any:
        out = self.lm(**inputs)
        out.logits = 0.5 * torch.tanh(out.logits / 0.5)
        if labels is not None:
            out.loss = torch.nn.functional.cross_entropy(out.logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten())
        return out


def test_post_processed_logits_keep_the_models_own_loss(caplog):
    torch.manual_seed(0)
    lm = _SoftcappedLogits(_llama())
    objective = ChunkedLMLoss(causal=True)
    batch = _batch(True)
    with caplog.at_level(logging.WARNING, logger="xstilts.training.lm"):
        loss = objective(lm, batch)
    assert objective.chunked is False
    assert loss.item() == pytest.approx(lm(**batch).loss.item())
    assert len([r for r in caplog.records if "differs" in r.message]) == 1


def test_a_config_that_softcaps_logits_keeps_the_models_own_loss(caplog):
    transformers = pytest.importorskip("transformers")
    if not hasattr(transformers, "Gemma2ForCausalLM"):
        pytest.skip("transformers has no Gemma2")
    config = transformers.Gemma2Config(vocab_size=VOCAB, num_key_value_heads=1, head_dim=16, final_logit_softcapping=30.0, **TINY)
    torch.manual_seed(0)
    lm = transformers.Gemma2ForCausalLM(config)
    objective = ChunkedLMLoss(causal=True)
    with caplog.at_level(logging.WARNING, logger="xstilts.training.lm"):
        objective(lm, _batch(True))
    assert objective.chunked is False
    assert any("final_logit_softcapping=30.0" in r.message for r in caplog.records)


def _docs(n: int) -> list[str]:
    return [World(0).realise(World(0).random_proposition(random.Random(i)), "clo").text for i in range(n)]


def test_the_attached_head_uses_the_chunked_loss_equal_to_the_standard_one(tiny_models, family):
    model = load_pretrained(str(tiny_models[family]), BackboneOptions())
    attach_lm_head(model, str(tiny_models[family]), loss_chunk=3)
    assert isinstance(model.lm_objective, ChunkedLMLoss)
    model.eval()
    torch.manual_seed(0)
    batch = lm_batch(model, [{"input_ids": f["input_ids"]} for f in lm_features(model, _docs(4), 32)], 0.15)
    loss = lm_loss(model, batch)
    assert model.lm_objective.chunked is True
    assert float(loss) == pytest.approx(float(model.lm_model(**batch).loss), rel=1e-5)
    plain = copy.deepcopy(model)
    attach_lm_head(plain, str(tiny_models[family]), loss_chunk=0)
    assert plain.lm_objective is None and float(plain(LM_TASK, batch)) == pytest.approx(float(loss), rel=1e-5)


def test_training_with_the_chunked_loss_ends_where_the_standard_loss_does(tiny_models, family, tmp_path):
    from xstilts.evaluation.predict import featurize
    from xstilts.kinds import FeaturizeOptions
    from xstilts.synthetic.tasks import GENERATORS
    from xstilts.tasks import get_task

    task = get_task("syn-para")
    examples = GENERATORS["syn-para"](World(0), random.Random(1), 16, ("en",))["en"]
    weights = []
    for chunk in (4, 0):
        model = load_pretrained(str(tiny_models[family]), BackboneOptions())
        attach_lm_head(model, str(tiny_models[family]), loss_chunk=chunk)
        features = featurize(model, task, examples, FeaturizeOptions(max_length=32))
        lm = LMData(lm_features(model, _docs(32), 32), ratio=0.5)
        settings = TrainSettings(learning_rate=1e-3, batch_size=4, max_steps=6, eval_every=6, checkpoint_every=6, seed=1)
        outcome = Trainer(model, [TaskData(task, features, examples, features)], settings, tmp_path / str(chunk), lm=lm).train()
        assert outcome.task_steps[LM_TASK] > 0
        weights.append({k: v.clone() for k, v in model.state_dict().items()})
    for k, v in weights[1].items():
        torch.testing.assert_close(weights[0][k], v, atol=1e-5, rtol=1e-4, msg=k)
