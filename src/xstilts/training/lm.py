"""Continued language modelling mixed into intermediate training (the paper's MLM baseline):
masked LM for encoders, causal LM for decoders, on a multilingual text corpus.

The LM head's projection onto a large vocabulary (XLM-R 250,002 words, Llama-3 128k) dominates an
LM step's memory when done the usual way: logits for every position, kept with their gradient.
`ChunkedLMLoss` projects only the positions that have labels (~15% of them for masked LM), a chunk
at a time, each chunk recomputed in the backward pass instead of kept. It equals the model's own
loss up to float rounding; on the first batch it is compared with that loss, and a model whose
logits are post-processed after the projection keeps the standard loss.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

import xstilts.hub
from xstilts.data.formatting import Family
from xstilts.errors import DataError
from xstilts.kinds.tensors import pad_ids
from xstilts.models.model import LM_TASK, XStiltsModel
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


def attach_lm_head(model: XStiltsModel, source: str, loss_chunk: int | None = None) -> None:
    """Give `model` the LM head of the pretrained checkpoint at `source`, sharing `model.body`.

    Its loss is `ChunkedLMLoss` with chunks of `loss_chunk` labelled positions (LM_LOSS_CHUNK by
    default); `loss_chunk=0` keeps the model's own (unchunked) loss."""
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM  # lazy: loads transformers

    cls = AutoModelForMaskedLM if model.family is Family.ENCODER else AutoModelForCausalLM
    lm = cls.from_pretrained(source, use_safetensors=True, dtype=next(model.body.parameters()).dtype)
    setattr(lm, lm.base_model_prefix, model.body)
    if getattr(lm.config, "tie_word_embeddings", False):
        lm.tie_weights()
    model.lm_model = lm
    chunk = LM_LOSS_CHUNK if loss_chunk is None else loss_chunk
    model.lm_objective = ChunkedLMLoss(causal=model.family is Family.DECODER, chunk=chunk) if chunk > 0 else None


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
    """The LM-mixing loss of `model` (with a head from `attach_lm_head`) on an `lm_batch`, as the trainer computes it."""
    return model(LM_TASK, batch)


LM_LOSS_CHUNK = 2048  # labelled positions projected onto the vocabulary at a time
IGNORE = -100  # label of positions without a target (Hugging Face's ignore_index)
# Config attributes that make a model post-process its logits after the output projection, each
# with the value that means "no post-processing": the chunked loss would leave that out.
LOGIT_POSTPROCESSING = {"final_logit_softcapping": None, "logit_scale": 1.0, "logits_scaling": 1.0}


def _identity(x: torch.Tensor) -> torch.Tensor:
    return x


def pre_projection_states(lm: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """What the LM's output projection (`get_output_embeddings()`) receives, for every position:
    the model runs with that module's forward made the identity, so its "logits" are its input."""
    projection = lm.get_output_embeddings()  # type: ignore[operator]  # a Hugging Face LM model's method
    saved = projection.__dict__.get("forward")  # an instance-level forward (accelerate's hooks) is put back
    projection.forward = _identity
    try:
        hidden = lm(**inputs).logits
    finally:
        if saved is None:
            del projection.forward
        else:
            projection.forward = saved
    weight = getattr(projection, "weight", None)
    # Some models upcast logits to float32 after the projection; the projection wants its own dtype.
    return hidden.to(weight.dtype) if isinstance(weight, torch.Tensor) else hidden


def _summed_cross_entropy(projection: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return nn.functional.cross_entropy(projection(hidden).float(), targets, reduction="sum")


def chunked_lm_loss(lm: nn.Module, batch: dict[str, torch.Tensor], causal: bool, chunk: int = LM_LOSS_CHUNK) -> torch.Tensor:
    """The mean cross-entropy over labelled positions that `lm(**batch).loss` gives (causal: labels
    shifted by one, as Hugging Face does), projecting only labelled positions, `chunk` at a time,
    each chunk's logits recomputed in the backward pass rather than kept where there are several."""
    from torch.utils.checkpoint import checkpoint  # lazy: loads torch's checkpointing

    labels = batch["labels"]
    hidden = pre_projection_states(lm, {k: v for k, v in batch.items() if k != "labels"})
    if causal:
        hidden, labels = hidden[:, :-1], labels[:, 1:]
    keep = labels != IGNORE
    hidden, targets = hidden[keep], labels[keep]
    projection = lm.get_output_embeddings()  # type: ignore[operator]
    if len(targets) <= chunk:
        # One chunk's logits are kept for the backward pass either way: recomputing them would only
        # add a projection (measured 1.7x a causal step's time at 1,016 positions, for no memory).
        return _summed_cross_entropy(projection, hidden, targets) / keep.sum()
    total = torch.zeros((), dtype=torch.float32, device=hidden.device)
    for start in range(0, len(targets), chunk):
        part = slice(start, start + chunk)
        total = total + checkpoint(_summed_cross_entropy, projection, hidden[part], targets[part], use_reentrant=False)
    return total / keep.sum()


def logit_postprocessing(lm: nn.Module) -> str | None:
    """The config attribute by which `lm` post-processes its logits after the projection, if any."""
    config = getattr(lm, "config", None)
    for name, none in LOGIT_POSTPROCESSING.items():
        value = getattr(config, name, none)
        if value is not None and value != none and not (none is None and value == 0):
            return f"{name}={value}"
    return None


class ChunkedLMLoss:
    """An LM model's loss on a batch by `chunked_lm_loss`, or by the model itself where the chunked
    loss would differ: decided once, on the first batch, by the config (`LOGIT_POSTPROCESSING`)
    and by comparing both losses on one row without dropout (no gradient, no random numbers drawn)."""

    def __init__(self, causal: bool, chunk: int = LM_LOSS_CHUNK) -> None:
        if chunk < 1:
            raise ValueError(f"chunk must be positive, got {chunk}")
        self.causal = causal
        self.chunk = chunk
        self.chunked: bool | None = None  # None until the first batch decides

    def __call__(self, lm: nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.chunked is None:
            self.chunked = self._agrees(lm, batch)
        if not self.chunked:
            return lm(**batch).loss
        return chunked_lm_loss(lm, batch, self.causal, self.chunk)

    def _agrees(self, lm: nn.Module, batch: dict[str, torch.Tensor]) -> bool:
        if lm.get_output_embeddings() is None:  # type: ignore[operator]
            log.warning("LM loss: %s has no output embeddings; using its own (unchunked) loss", type(lm).__name__)
            return False
        why = logit_postprocessing(lm)
        if why is not None:
            log.warning("LM loss: %s post-processes its logits (%s); using its own (unchunked) loss", type(lm).__name__, why)
            return False
        labelled = (batch["labels"] != IGNORE).sum(-1)
        row = int(labelled.argmax())  # one row keeps the check's full logits small; the most labelled one
        probe = {k: v[row : row + 1] for k, v in batch.items()}
        modes = [(m, m.training) for m in lm.modules()]
        lm.eval()
        try:
            with torch.no_grad():
                standard = lm(**probe).loss.float()
                chunked = chunked_lm_loss(lm, probe, self.causal, self.chunk)
        finally:
            for module, training in modes:
                module.training = training
        weight = next(lm.parameters())
        half = weight.dtype in (torch.float16, torch.bfloat16) or torch.is_autocast_enabled(weight.device.type)
        if not torch.allclose(chunked, standard, rtol=2e-2 if half else 1e-4, atol=1e-5, equal_nan=True):
            log.warning(
                "LM loss: the chunked loss (%.6g) differs from %s's own (%.6g) on the first batch; using its own (unchunked) loss",
                float(chunked), type(lm).__name__, float(standard),
            )
            return False
        return True
