"""Loading a backbone: clear one-line failures for missing folders and unreachable hub ids, and
the attention implementation chosen per model class."""

from __future__ import annotations

import logging
import socket
import sys
import time

import pytest

from xstilts import hub
from xstilts.errors import CheckpointError, ConfigError
from xstilts.models.backbone import BackboneOptions, resolve_attention
from xstilts.models.model import load_pretrained


@pytest.fixture
def unreachable_hub(monkeypatch, tmp_path):
    """Offline not requested, the Hub's endpoint refusing connections, an empty cache. Whatever
    the probe switches offline is restored afterwards."""
    import huggingface_hub.constants

    for name in hub.OFFLINE_VARIABLES:
        monkeypatch.setenv(name, "0")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    datasets_config = sys.modules.get("datasets.config")
    if datasets_config is not None:
        monkeypatch.setattr(datasets_config, "HF_HUB_OFFLINE", False)
        if hasattr(datasets_config, "HF_DATASETS_OFFLINE"):
            monkeypatch.setattr(datasets_config, "HF_DATASETS_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
        endpoint = f"http://127.0.0.1:{closed.getsockname()[1]}"
        monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", endpoint)
        monkeypatch.setattr(hub, "_endpoint", lambda: endpoint)
        hub.hub_reachable.cache_clear()
        yield
    hub.hub_reachable.cache_clear()


def test_unreachable_hub_id_fails_at_once_in_one_line(unreachable_hub, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    started = time.monotonic()
    with pytest.raises(CheckpointError) as err:
        load_pretrained("someorg/not-cached-model", BackboneOptions())
    assert time.monotonic() - started < 10
    message = str(err.value)
    assert "\n" not in message and "someorg/not-cached-model" in message and "not reachable" in message
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == len(set(warnings)), warnings
    assert not any("retry" in w.lower() for w in warnings), warnings
    assert "retry" not in capfd.readouterr().err.lower()


@pytest.mark.parametrize("path", ["./no-such-model-folder", "/no/such/model/folder", "~/no-such-model-folder"])
def test_missing_local_folder_is_reported_as_a_missing_folder(path):
    with pytest.raises(CheckpointError, match=r"local folder .* does not exist") as err:
        load_pretrained(path, BackboneOptions())
    assert "Hub" not in str(err.value)


@pytest.mark.parametrize(
    ("model_type", "auto"),
    [("xlm-roberta", "sdpa"), ("llama", "sdpa"), ("gpt2", "sdpa"), ("bloom", "eager"), ("xglm", "eager"), ("deberta-v2", "eager"), ("rembert", "eager")],
)
def test_auto_attention_follows_the_model_class(model_type, auto):
    from transformers import CONFIG_MAPPING

    config = CONFIG_MAPPING[model_type]()
    assert resolve_attention(config, BackboneOptions())[0] == auto
    assert resolve_attention(config, BackboneOptions(attn_implementation="eager"))[0] == "eager"
    if auto == "eager":
        with pytest.raises(ConfigError, match="does not support it"):
            resolve_attention(config, BackboneOptions(attn_implementation="sdpa"))
    else:
        assert resolve_attention(config, BackboneOptions(attn_implementation="sdpa"))[0] == "sdpa"


def test_auto_attention_prefers_flash_attention_on_a_gpu_in_half_precision(monkeypatch):
    from transformers import LlamaConfig

    import xstilts.models.backbone as backbone

    monkeypatch.setattr(backbone, "flash_attention_usable", lambda dtype: dtype in ("bfloat16", "float16"))
    assert resolve_attention(LlamaConfig(), BackboneOptions(dtype="bfloat16"))[0] == "flash_attention_2"
    assert resolve_attention(LlamaConfig(), BackboneOptions(dtype="float32"))[0] == "sdpa"


def test_explicit_choice_is_kept_and_logged(tiny_models, caplog):
    caplog.set_level(logging.INFO, logger="xstilts.models.backbone")
    model = load_pretrained(str(tiny_models["encoder"]), BackboneOptions(attn_implementation="eager"))
    assert model.attn_implementation == "eager"
    assert any("attention eager (set explicitly)" in r.getMessage() for r in caplog.records)
    assert load_pretrained(str(tiny_models["encoder"]), BackboneOptions()).attn_implementation == "sdpa"
    with pytest.raises(ConfigError, match="not one of auto, sdpa, eager, flash_attention_2"):
        load_pretrained(str(tiny_models["encoder"]), BackboneOptions(attn_implementation="fast"))


def test_decoder_tokenizer_without_eos_is_a_one_line_error(tiny_models, tmp_path):
    import json
    import shutil

    folder = tmp_path / "m"
    shutil.copytree(tiny_models["decoder"], folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["eos_token"] = None
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "special_tokens_map.json").unlink(missing_ok=True)
    with pytest.raises(ConfigError, match="decoder tokenizer has no eos token"):
        load_pretrained(str(folder), BackboneOptions())
