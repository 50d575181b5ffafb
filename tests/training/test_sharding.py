"""What FSDP refuses before it starts a process group (sharding itself: test_distributed.py)."""

import pytest
import torch
from torch import nn

from xstilts.errors import ConfigError
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import load_pretrained
from xstilts.training.sharding import block_classes, shard_copy


def test_block_classes_are_the_models_no_split_modules(tiny_models):
    model = load_pretrained(str(tiny_models["decoder"]), BackboneOptions())
    assert block_classes(model) == set(model.body._no_split_modules)
    assert any(type(m).__name__ in block_classes(model) for m in model.modules())


def test_a_model_without_transformer_blocks_is_refused():
    with pytest.raises(ConfigError, match="declares no transformer-block classes"):
        shard_copy(nn.Sequential(nn.Linear(4, 4)), torch.device("cpu"))


def test_lora_with_fsdp_is_refused(tiny_models):
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions())
    model.apply_lora(r=2, alpha=4, dropout=0.0, target_modules=["query", "value"])
    with pytest.raises(ConfigError, match="LoRA and FSDP together are not supported"):
        shard_copy(model, torch.device("cpu"))
