"""Continued language modelling mixed into intermediate training (the paper's MLM baseline):
masked LM for encoders, causal LM for decoders, on a multilingual text corpus."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

import xstilts.hub
from xstilts.data.formatting import Family
from xstilts.errors import DataError
from xstilts.kinds.tensors import pad_ids
from xstilts.models.model import XStiltsModel
from xstilts.registry import load_plugins
from xstilts.training.corpora import LM_CORPORA

log = logging.getLogger(__name__)


@dataclass
class LMData:
    features: list[dict]  # {"input_ids": [...]} framed documents
    ratio: float  # share of training steps that are LM steps
    mask_rate: float = 0.15


def read_corpus(corpus: str, limit: int | None = None) -> list[str]:
    """Documents of an LM corpus: a plug-in's named corpus ("synthetic"), a local text file (one
    per line), or a hub dataset id."""
    load_plugins()
    if corpus in LM_CORPORA:
        docs = LM_CORPORA.get(corpus)()
    elif Path(corpus).exists():
        try:
            docs = Path(corpus).read_text(encoding="utf-8").splitlines()
        except UnicodeDecodeError:
            raise DataError(f"{corpus}: LM corpus is not UTF-8 text") from None
    else:
        docs = _hub_corpus(corpus, limit)
    docs = [d for d in docs if d.strip()]
    if not docs:
        raise DataError(f"{corpus}: LM corpus has no documents")
    return docs[:limit] if limit else docs


def _hub_corpus(name: str, limit: int | None) -> list[str]:
    online = xstilts.hub.hub_reachable()  # decided once; offline, datasets is switched to its cache and fails at once
    import datasets  # lazy: loads datasets

    try:
        ds = datasets.load_dataset(name, split="train", streaming=True)
    except Exception as err:  # noqa: BLE001 - any hub failure becomes one clear line
        why = type(err).__name__ if online else "the Hub is unreachable (offline)"
        raise DataError(
            f"LM corpus {name!r} is neither a local file nor reachable on the Hugging Face Hub ({why}); "
            "give a local text file with one document per line"
        ) from None
    out = []
    for row in ds:
        text = row.get("text")
        if text is None:
            raise DataError(f"LM corpus {name!r}: rows have no 'text' column")
        out.append(text)
        if limit and len(out) >= limit:
            break
    return out


def lm_features(model: XStiltsModel, docs: list[str], max_length: int) -> list[dict]:
    ids = model.tokenizer(docs, add_special_tokens=False, truncation=True, max_length=max_length - model.input_format.single_overhead)["input_ids"]
    return [{"input_ids": model.input_format.single(row)} for row in ids if row]


def attach_lm_head(model: XStiltsModel, source: str) -> None:
    """Give `model` the LM head of the pretrained checkpoint at `source`, sharing `model.body`."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM  # lazy: loads transformers

    cls = AutoModelForMaskedLM if model.family is Family.ENCODER else AutoModelForCausalLM
    lm = cls.from_pretrained(source, use_safetensors=True, dtype=next(model.body.parameters()).dtype)
    setattr(lm, lm.base_model_prefix, model.body)
    if getattr(lm.config, "tie_word_embeddings", False):
        lm.tie_weights()
    model.lm_model = lm


def lm_batch(model: XStiltsModel, features: list[dict], mask_rate: float) -> dict[str, torch.Tensor]:
    ids, mask = pad_ids([f["input_ids"] for f in features], model.input_format.pad_id)
    if model.family is Family.DECODER:
        return {"input_ids": ids, "attention_mask": mask, "labels": ids.masked_fill(mask == 0, -100)}
    tok = model.tokenizer
    if tok.mask_token_id is None:
        raise DataError(f"{model.base_model}: tokenizer has no mask token for masked-LM mixing")
    special = torch.zeros_like(ids, dtype=torch.bool)
    for sid in tok.all_special_ids:
        special |= ids == sid
    chosen = (torch.rand(ids.shape) < mask_rate) & ~special & (mask == 1)
    labels = ids.masked_fill(~chosen, -100)
    inputs = ids.clone()
    roll = torch.rand(ids.shape)
    inputs[chosen & (roll < 0.8)] = tok.mask_token_id
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = torch.randint(len(tok), ids.shape)[swap]
    return {"input_ids": inputs, "attention_mask": mask, "labels": labels}


def lm_loss(model: Any, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    return model.lm_model(**batch).loss
