"""Tiny random-weight models of every family the README and the examples name, each with a
tokenizer of its own family's class and conventions (special tokens, pre-tokenization, missing
pad or BOS token), trained locally on the synthetic corpus in about a second."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HIDDEN, LAYERS, HEADS, INTERMEDIATE, POSITIONS, VOCAB = 32, 2, 2, 64, 128, 1200


def _corpus() -> list[str]:
    from xstilts.synthetic.world import LANGUAGES, World

    world, rng = World(0), random.Random(0)
    return [world.realise(world.random_proposition(rng), lang).text for _ in range(200) for lang in LANGUAGES]


def _unigram(lines: list[str], specials: list[str], unk: str) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.NFKC()
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.train_from_iterator(lines, trainers.UnigramTrainer(vocab_size=VOCAB, special_tokens=specials, unk_token=unk, show_progress=False))
    return [(piece, score) for piece, score in json.loads(tok.to_str())["model"]["vocab"]]


def _bpe(lines: list[str], specials: list[str], byte_level: bool) -> tuple[dict[str, int], list[tuple[str, str]]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    if byte_level:  # GPT-2 / Qwen / BLOOM style: bytes mapped to printable characters, "Ġ" for spaces
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    else:  # SentencePiece-BPE style (Llama, Mistral, Gemma): "▁" marks a word start
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=specials, show_progress=False)
    tok.train_from_iterator(lines, trainer)
    model = json.loads(tok.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    return model["vocab"], merges  # type: ignore[return-value]


def _wordpiece(lines: list[str], specials: list[str]) -> dict[str, int]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(lines, trainers.WordPieceTrainer(vocab_size=VOCAB, special_tokens=specials, show_progress=False))
    return tok.get_vocab()


def _tokenizers(lines: list[str]) -> dict[str, Any]:
    """One tokenizer per convention, built with the transformers class its family loads with."""
    import transformers as T

    byte = _bpe(lines, ["<|endoftext|>", "<|im_start|>", "<|im_end|>"], byte_level=True)
    # Llama, Mistral and Gemma fall back to byte tokens <0x00>..<0xFF> for characters outside the vocab.
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    spm_bpe = _bpe(lines, ["<unk>", "<s>", "</s>", *byte_tokens], byte_level=False)
    bloom = _bpe(lines, ["<unk>", "<s>", "</s>", "<pad>"], byte_level=True)
    return {
        "xlm-roberta": T.XLMRobertaTokenizer(vocab=_unigram(lines, ["<s>", "<pad>", "</s>", "<unk>", "<mask>"], "<unk>")),
        "bert": T.BertTokenizer(vocab=_wordpiece(lines, ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]), do_lower_case=False),
        "deberta-v2": T.DebertaV2Tokenizer(vocab=_unigram(lines, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"], "[UNK]")),
        "rembert": T.RemBertTokenizer(vocab=_unigram(lines, ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"], "<unk>")),
        "xglm": T.XGLMTokenizer(vocab=_unigram(lines, ["<s>", "<pad>", "</s>", "<unk>"], "<unk>")),
        # GPT-2 ships without a pad token; Llama and Mistral too; Qwen has no BOS token.
        "gpt2": T.GPT2Tokenizer(vocab=byte[0], merges=byte[1], pad_token=None),
        "bloom": T.GPT2Tokenizer(vocab=bloom[0], merges=bloom[1], unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>"),
        "llama": T.LlamaTokenizer(vocab=spm_bpe[0], merges=spm_bpe[1]),
        "mistral": T.LlamaTokenizer(vocab=spm_bpe[0], merges=spm_bpe[1]),
        "qwen2": T.Qwen2Tokenizer(vocab=byte[0], merges=byte[1], eos_token="<|im_end|>"),
        "qwen3": T.Qwen2Tokenizer(vocab=byte[0], merges=byte[1], eos_token="<|im_end|>"),
        "gemma": T.GemmaTokenizer(*_bpe(lines, ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", *byte_tokens], byte_level=False)),
    }


def _special_ids(tok: Any) -> dict[str, int | None]:
    return {"pad_token_id": tok.pad_token_id, "bos_token_id": tok.bos_token_id, "eos_token_id": tok.eos_token_id}


CONFIGS: dict[str, Callable[[int, dict], Any]] = {}


def _config(name: str) -> Callable:
    def register(fn: Callable) -> Callable:
        CONFIGS[name] = fn
        return fn

    return register


_STANDARD = dict(hidden_size=HIDDEN, num_hidden_layers=LAYERS, num_attention_heads=HEADS, intermediate_size=INTERMEDIATE)


@_config("xlm-roberta")
def _xlmr(vocab: int, ids: dict) -> Any:
    from transformers import XLMRobertaConfig

    return XLMRobertaConfig(vocab_size=vocab, **_STANDARD, max_position_embeddings=POSITIONS + 2, type_vocab_size=1, **ids)


@_config("bert")
def _bert(vocab: int, ids: dict) -> Any:
    from transformers import BertConfig

    return BertConfig(vocab_size=vocab, **_STANDARD, max_position_embeddings=POSITIONS, **ids)


@_config("deberta-v2")
def _deberta(vocab: int, ids: dict) -> Any:
    from transformers import DebertaV2Config

    # mDeBERTa-v3's shape: relative attention only, no absolute positions, no token types.
    return DebertaV2Config(
        vocab_size=vocab, **_STANDARD, max_position_embeddings=POSITIONS, relative_attention=True, position_buckets=16,
        pos_att_type=["p2c", "c2p"], position_biased_input=False, type_vocab_size=0, norm_rel_ebd="layer_norm", **ids,
    )


@_config("rembert")
def _rembert(vocab: int, ids: dict) -> Any:
    from transformers import RemBertConfig

    return RemBertConfig(vocab_size=vocab, **_STANDARD, input_embedding_size=16, output_embedding_size=HIDDEN, max_position_embeddings=POSITIONS, **ids)


@_config("bloom")
def _bloom(vocab: int, ids: dict) -> Any:
    from transformers import BloomConfig

    return BloomConfig(vocab_size=vocab, hidden_size=HIDDEN, n_layer=LAYERS, n_head=HEADS, **ids)


@_config("xglm")
def _xglm(vocab: int, ids: dict) -> Any:
    from transformers import XGLMConfig

    return XGLMConfig(vocab_size=vocab, d_model=HIDDEN, num_layers=LAYERS, attention_heads=HEADS, ffn_dim=INTERMEDIATE, max_position_embeddings=POSITIONS, **ids)


@_config("gpt2")
def _gpt2(vocab: int, ids: dict) -> Any:
    from transformers import GPT2Config

    return GPT2Config(vocab_size=vocab, n_embd=HIDDEN, n_layer=LAYERS, n_head=HEADS, n_positions=POSITIONS, **ids)


@_config("llama")
def _llama(vocab: int, ids: dict) -> Any:
    from transformers import LlamaConfig

    return LlamaConfig(vocab_size=vocab, **_STANDARD, max_position_embeddings=POSITIONS, **ids)


@_config("mistral")
def _mistral(vocab: int, ids: dict) -> Any:
    from transformers import MistralConfig

    return MistralConfig(vocab_size=vocab, **_STANDARD, num_key_value_heads=1, max_position_embeddings=POSITIONS, **ids)


@_config("qwen2")
def _qwen2(vocab: int, ids: dict) -> Any:
    from transformers import Qwen2Config

    return Qwen2Config(vocab_size=vocab, **_STANDARD, num_key_value_heads=1, max_position_embeddings=POSITIONS, **ids)


@_config("qwen3")
def _qwen3(vocab: int, ids: dict) -> Any:
    from transformers import Qwen3Config

    return Qwen3Config(vocab_size=vocab, **_STANDARD, num_key_value_heads=1, head_dim=16, max_position_embeddings=POSITIONS, **ids)


@_config("gemma")
def _gemma(vocab: int, ids: dict) -> Any:
    from transformers import GemmaConfig

    return GemmaConfig(vocab_size=vocab, **_STANDARD, num_key_value_heads=1, head_dim=16, max_position_embeddings=POSITIONS, **ids)


ENCODERS = ("xlm-roberta", "bert", "deberta-v2", "rembert")
FAMILY_NAMES = tuple(CONFIGS)


def build_family_models(root: Path) -> dict[str, Path]:
    """Save one tiny model folder (config, safetensors weights, tokenizer) per family under `root`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM

    tokenizers = _tokenizers(_corpus())
    paths = {}
    for name, make_config in CONFIGS.items():
        tok = tokenizers[name]
        torch.manual_seed(0)
        config = make_config(len(tok), _special_ids(tok))
        cls = AutoModelForMaskedLM if name in ENCODERS else AutoModelForCausalLM
        model = cls.from_config(config)
        folder = root / name
        model.save_pretrained(str(folder), safe_serialization=True)
        tok.save_pretrained(str(folder))
        paths[name] = folder
    return paths


@pytest.fixture(scope="session")
def family_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Folders of tiny random-weight models, one per family (see FAMILY_NAMES)."""
    return build_family_models(tmp_path_factory.mktemp("family-models"))
