"""Model preflight (`xstilts plan`): every problem of a model found before training, offline."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from xstilts.models.backbone import BackboneOptions
from xstilts.models.preflight import check_model

ALL_KINDS = ["classification", "multiple_choice", "span_extraction", "tagging", "retrieval"]


def _problems(path, options=BackboneOptions(), kinds=ALL_KINDS, deep=False):
    return check_model("m", str(path), options, kinds, deep=deep)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def _no_tensors(path: Path) -> None:
    """A well-formed safetensors file that holds no tensors: weights present, cheap to write."""
    path.write_bytes(len(b"{}").to_bytes(8, "little") + b"{}")


@pytest.fixture
def offline_empty_cache(monkeypatch, tmp_path):
    """No Hub, and a Hugging Face cache that holds nothing."""
    import huggingface_hub.constants

    import xstilts.hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setattr(xstilts.hub, "hub_reachable", lambda: False)
    return tmp_path / "hf-cache"


@pytest.mark.parametrize("family", ["encoder", "decoder"])
def test_good_tiny_model_has_no_problems(tiny_models, family):
    assert _problems(tiny_models[family]) == []
    assert _problems(tiny_models[family], deep=True) == []


def test_missing_local_folder_is_reported_as_such_not_as_a_hub_failure(tmp_path, offline_empty_cache):
    for path in (tmp_path / "nowhere", "./no-such-model-folder"):
        problems = _problems(path)
        assert len(problems) == 1
        assert "local folder" in problems[0].problem and "does not exist" in problems[0].problem
        assert "hub" not in problems[0].problem.lower()
        assert problems[0].subject == "model m" and problems[0].fix


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    [problem] = _problems(tmp_path / "empty")
    assert "is empty" in problem.problem and "huggingface-cli download" in problem.fix


def test_corrupt_config(tiny_models, tmp_path):
    folder = _copy(tiny_models["encoder"], tmp_path / "m")
    (folder / "config.json").write_text('{"model_type": "xlm-roberta", ')
    [problem] = _problems(folder)
    assert "config.json is not valid JSON" in problem.problem


def test_bin_only_weights_get_the_conversion_fix(tiny_models, tmp_path):
    folder = _copy(tiny_models["decoder"], tmp_path / "m")
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    [problem] = _problems(folder)
    assert ".bin weights only" in problem.problem
    assert "save_pretrained" in problem.fix and "use_safetensors=False" in problem.fix


def test_every_problem_of_a_folder_is_listed_at_once(tiny_models, tmp_path):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text("not json")
    (folder / "pytorch_model.bin").write_bytes(b"x")
    problems = _problems(folder, kinds=["classification", "ranking"])
    text = [p.problem for p in problems]
    assert len(problems) == 4, text
    assert any("unknown task kind 'ranking'" in t for t in text)
    assert any("not valid JSON" in t for t in text)
    assert any(".bin weights only" in t for t in text)
    assert any("no tokenizer files" in t for t in text)


def test_encoder_decoder_config(tiny_models, tmp_path):
    from transformers import T5Config

    folder = tmp_path / "t5"
    T5Config(d_model=16, num_layers=1, num_heads=1, d_ff=32, vocab_size=100).save_pretrained(str(folder))
    _no_tensors(folder / "model.safetensors")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_models["encoder"] / name, folder / name)
    [problem] = _problems(folder)
    assert "encoder-decoder" in problem.problem and "encoder-only or decoder-only" in problem.fix


def test_explicit_sdpa_on_a_model_without_it(tiny_models, tmp_path):
    from transformers import BloomConfig

    folder = tmp_path / "bloom"
    BloomConfig(hidden_size=16, n_layer=1, n_head=2, vocab_size=100).save_pretrained(str(folder))
    _no_tensors(folder / "model.safetensors")
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(tiny_models["decoder"] / name, folder / name)
    assert _problems(folder) == []  # auto: eager for BLOOM
    [problem] = _problems(folder, BackboneOptions(attn_implementation="sdpa"))
    assert "BloomModel does not support it" in problem.problem and "auto" in problem.fix


def test_tokenizer_without_pad_eos_or_unk(tiny_models, tmp_path):
    import json

    folder = _copy(tiny_models["decoder"], tmp_path / "m")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    for key in ("pad_token", "eos_token", "unk_token"):
        config.pop(key, None)
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    (folder / "special_tokens_map.json").unlink(missing_ok=True)
    problems = [p.problem for p in _problems(folder)]
    assert any("no pad, eos or unk token" in p for p in problems), problems
    assert any("decoder tokenizer has no eos_token" in p for p in problems), problems


def test_hub_id_offline_not_in_cache_is_one_problem(offline_empty_cache):
    started = time.monotonic()
    [problem] = _problems("someorg/some-model")
    assert time.monotonic() - started < 5
    assert "not in the local Hugging Face cache" in problem.problem and "offline" in problem.problem
    assert "huggingface-cli download someorg/some-model" in problem.fix


def test_hub_id_offline_in_cache_resolves(tiny_models, offline_empty_cache):
    """A hub id whose files are in the local cache needs no Hub."""
    repo = offline_empty_cache / "models--someorg--tiny"
    commit = "0" * 40
    shutil.copytree(tiny_models["encoder"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    assert _problems("someorg/tiny") == []
    assert _problems("someorg/tiny", deep=True) == []
    (repo / "snapshots" / commit / "model.safetensors").unlink()
    [problem] = _problems("someorg/tiny")
    assert "no safetensors weights" in problem.problem


def test_invalid_hub_id(offline_empty_cache):
    [problem] = _problems("a/b/c")
    assert "neither an existing folder nor a valid hub id" in problem.problem


def test_synthetic_models():
    assert _problems("synthetic:encoder") == []
    [problem] = _problems("synthetic:large")
    assert "not a synthetic model" in problem.problem


@pytest.mark.parametrize("keep", [4, 100, -1000], ids=["header-length-cut", "header-cut", "tensors-cut"])
def test_truncated_safetensors_is_caught_from_its_header(tiny_models, tmp_path, keep):
    folder = _copy(tiny_models["encoder"], tmp_path / "m")
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:keep])
    [problem] = _problems(folder)
    assert str(weights) in problem.problem and "truncated safetensors file" in problem.problem
    assert "download or save the weights again" in problem.fix


def test_damaged_safetensors_header(tiny_models, tmp_path):
    folder = _copy(tiny_models["encoder"], tmp_path / "m")
    weights = folder / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[8:12] = b"@@@@"  # the JSON header starts with '{'
    weights.write_bytes(bytes(data))
    [problem] = _problems(folder)
    assert "damaged header" in problem.problem


def test_sharded_weights_are_each_checked(tiny_models, tmp_path):
    from transformers import AutoModel

    folder = _copy(tiny_models["encoder"], tmp_path / "m")
    (folder / "model.safetensors").unlink()
    AutoModel.from_pretrained(str(tiny_models["encoder"])).save_pretrained(str(folder), max_shard_size="100KB")
    shards = sorted(folder.glob("model-*.safetensors"))
    assert len(shards) > 1 and (folder / "model.safetensors.index.json").is_file()
    assert _problems(folder) == []
    shards[-1].write_bytes(shards[-1].read_bytes()[:-10])
    shards[0].unlink()
    problems = _problems(folder)
    assert len(problems) == 2
    assert f"names the shard {shards[0].name}, which is missing" in problems[0].problem
    assert str(shards[-1]) in problems[1].problem and "truncated" in problems[1].problem
