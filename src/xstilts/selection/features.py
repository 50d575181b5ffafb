"""Labelled features of small task samples under one model: the estimators' input.

The estimators (LogME, H-score, nearest-centre accuracy, task embeddings) score labelled rows of
features. Every task kind turns a sample into such rows from the model's hidden states (its
`KindHandler.probe_rows` says which sequences or tokens, labelled how):

- classification: one row per example, the pooled sequence (or sequence pair); label = the class.
- multiple choice: one row per (context, choice) sequence, pooled as the head pools it;
  label 1 for the correct choice, 0 for the others.
- tagging: one row per word, the hidden state of its first sub-word (the token the tagging
  head reads); label = the word's tag.
- span extraction: per example, the first window that holds the answer gives two rows: the
  answer's start token (label 1) and one other context token drawn at random (label 0), so
  "is this where the answer starts" is a balanced binary label over token features.
- retrieval: no labels exist; rows are sentence embeddings of parallel sentences (English and
  each target language), labelled by which sentence they translate, so a class is one meaning
  across languages ("meaning identity").

Representation (`Representation`): the hidden layer and pooling the estimators read. By default
the last layer pooled as the model's heads pool it (first token for encoders, last non-padding
token for decoders; `mean` on request), and for a retrieval target the retrieval layer with mean
pooling, as XTREME's Tatoeba/BUCC baselines embed sentences. Token-level rows (tagging, span
extraction) are unpooled hidden states of the same layer. One `select` run uses one
representation for the target and every candidate, so their features share a space.

Samples are drawn with a seeded RNG per (task, role), so a candidate that is also the target's
English training task (MNLI for XNLI) is scored on an independent sample, not on the same rows.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch

from xstilts.errors import DataError
from xstilts.kinds import FeaturizeOptions, KindHandler, handler_for
from xstilts.kinds.tensors import pad_ids, pool
from xstilts.models.backbone import builtin_retrieval_layer
from xstilts.models.model import XStiltsModel, default_retrieval_layer
from xstilts.tasks.base import Example, Task

POOLINGS = ("model", "first", "last", "mean")


@dataclass(frozen=True)
class Representation:
    """Which hidden layer (index into `hidden_states`, -1 = last) and which pooling."""

    layer: int
    pooling: str

    def describe(self) -> str:
        layer = "last layer" if self.layer == -1 else f"hidden_states[{self.layer}]"
        return f"{layer}, {self.pooling} pooling"


def representation_for(model: XStiltsModel, target: Task, pooling: str = "model", layer: int | None = None) -> Representation:
    """The representation of one selection run (see module doc)."""
    if pooling not in POOLINGS:
        raise DataError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
    if not handler_for(target).trainable:  # read as sentence embeddings, as the kind evaluates
        chosen = builtin_retrieval_layer(model.base_model) if layer is None else layer
        chosen_layer = default_retrieval_layer(model.num_layers) if chosen is None else chosen
        chosen_pooling = "mean" if pooling == "model" else pooling
    else:
        chosen_layer = -1 if layer is None else layer
        chosen_pooling = model.pooling if pooling == "model" else pooling
    if not -(model.num_layers + 1) <= chosen_layer <= model.num_layers:
        raise DataError(f"layer {chosen_layer} does not exist: the model has {model.num_layers} layers (0..{model.num_layers})")
    return Representation(chosen_layer, chosen_pooling)


@dataclass(frozen=True)
class LabelledFeatures:
    features: np.ndarray  # (rows, d) float64
    labels: np.ndarray  # (rows,) int
    n_examples: int  # examples the rows came from
    seconds: float  # featurising + forward passes

    @property
    def rows(self) -> int:
        return int(self.features.shape[0])


_Item = TypeVar("_Item")


def sample_examples(examples: Sequence[_Item], n: int, stream: str) -> list[_Item]:
    """Up to `n` examples drawn without replacement by a RNG seeded with `stream`, in file order."""
    if n >= len(examples):
        return list(examples)
    chosen = sorted(random.Random(stream).sample(range(len(examples)), n))
    return [examples[i] for i in chosen]


def _length(feature: dict) -> int:
    ids = feature["input_ids"]
    return max(len(r) for r in ids) if ids and isinstance(ids[0], list) else len(ids)


@torch.no_grad()
def _hidden_batches(
    model: XStiltsModel, handler: KindHandler, features: Sequence[dict], layer: int, batch_size: int
) -> Iterator[tuple[list[int], torch.Tensor, torch.Tensor, dict]]:
    """(feature indices, hidden states of `layer`, attention mask, collated batch) per batch.

    Multiple-choice batches are flattened to one sequence per choice (b * c rows)."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(features)), key=lambda i: _length(features[i]))
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch = handler.collate([features[i] for i in idx], model.input_format.pad_id)
            ids, mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
            if ids.dim() == 3:
                ids, mask = ids.flatten(0, 1), mask.flatten(0, 1)
            out = model.body(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            yield idx, out.hidden_states[layer].float(), mask, batch
    finally:
        model.train(was_training)


def _pooled_rows(model, handler, features, rep, batch_size) -> tuple[np.ndarray, list[int]]:
    """Pooled vectors in feature order (choices flattened in order), and each feature's row count."""
    chunks: dict[int, torch.Tensor] = {}
    counts = [len(f["input_ids"]) if f["input_ids"] and isinstance(f["input_ids"][0], list) else 1 for f in features]
    for idx, hidden, mask, _ in _hidden_batches(model, handler, features, rep.layer, batch_size):
        pooled = pool(hidden, mask, rep.pooling).cpu()
        offset = 0
        for i in idx:
            chunks[i] = pooled[offset : offset + counts[i]]
            offset += counts[i]
    return torch.cat([chunks[i] for i in range(len(features))]).double().numpy(), counts


def _token_rows(model, handler, features, positions: dict[int, list[int]], rep, batch_size) -> dict[int, np.ndarray]:
    """Hidden states at the given token positions of the given features."""
    wanted = sorted(positions)
    subset = [features[i] for i in wanted]
    out: dict[int, np.ndarray] = {}
    for idx, hidden, _, _ in _hidden_batches(model, handler, subset, rep.layer, batch_size):
        for row, j in enumerate(idx):
            feature_index = wanted[j]
            out[feature_index] = hidden[row, positions[feature_index]].cpu().double().numpy()
    return out


def labelled_features(
    model: XStiltsModel,
    task: Task,
    examples: Sequence[Example],
    rep: Representation,
    *,
    max_length: int,
    max_rows: int | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> LabelledFeatures:
    """Rows of features and labels for a sample of `task` (see module doc for each kind).

    `max_rows` subsamples the rows (seeded) so that every task contributes about as many rows as
    the others; multiple choice, tagging and span extraction give several rows per example.
    Rows of pooled kinds follow the representation's pooling; token-level kinds read its layer.
    """
    handler = handler_for(task)
    if not handler.trainable:
        raise DataError(f"{task.name}: a {task.kind.value} task has no labels to score; it can only be a target")
    if not examples:
        raise DataError(f"{task.name}: no examples to featurise")
    start = time.perf_counter()
    rng = random.Random(f"{seed}/{task.name}/rows")
    options = FeaturizeOptions(max_length=max_length, max_query_length=min(64, max_length // 2))
    features = handler.featurize(examples, model.tokenizer, model.input_format, task, options)
    probe = handler.probe_rows(features, task, rng)
    if probe.positions is None:
        rows, _ = _pooled_rows(model, handler, features, rep, batch_size)
    else:
        states = _token_rows(model, handler, features, probe.positions, rep, batch_size)
        rows = np.concatenate([states[i] for i in sorted(states)])
    labels = np.array(probe.labels, dtype=np.int64)
    if max_rows is not None and rows.shape[0] > max_rows:
        keep = np.sort(np.random.default_rng(rng.randrange(2**32)).choice(rows.shape[0], max_rows, replace=False))
        rows, labels = rows[keep], labels[keep]
    if np.unique(labels).size < 2:
        raise DataError(f"{task.name}: the sampled rows all have one label; use more --samples")
    return LabelledFeatures(rows, labels, len(examples), time.perf_counter() - start)


@torch.no_grad()
def sentence_embeddings(
    model: XStiltsModel, texts: Sequence[str], rep: Representation, *, max_length: int, batch_size: int = 32
) -> np.ndarray:
    """One pooled vector per text (single-sequence input framed as the model's family frames it)."""
    fmt = model.input_format
    budget = max_length - fmt.single_overhead
    ids = model.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
    rows = [fmt.single(r[:budget]) for r in ids]
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    order = sorted(range(len(rows)), key=lambda i: len(rows[i]))
    out: list[torch.Tensor | None] = [None] * len(rows)
    try:
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            batch_ids, mask = pad_ids([rows[i] for i in idx], fmt.pad_id)
            batch = {"input_ids": batch_ids.to(device), "attention_mask": mask.to(device)}
            pooled = model.embed(batch, layer=rep.layer, pooling=rep.pooling).float().cpu()
            for row, i in enumerate(idx):
                out[i] = pooled[row]
    finally:
        model.train(was_training)
    return torch.stack(out).double().numpy()  # type: ignore[arg-type]


def meaning_identity_features(
    model: XStiltsModel,
    pairs: dict[str, tuple[list[str], list[str]]],
    rep: Representation,
    *,
    max_length: int,
    rows: int,
    batch_size: int = 32,
    seed: int = 0,
) -> LabelledFeatures:
    """A retrieval target's labelled rows: sentence i in English and in every language share label i.

    `pairs` maps language -> (english texts, translations), aligned by position. Only sentences
    whose English side is identical in every language's list can be joined, so the English lists
    are matched by text; about `rows` rows are used in all.
    """
    start = time.perf_counter()
    languages = sorted(pairs)
    per_sentence = 1 + len(languages)
    shared = set(pairs[languages[0]][0])
    for lang in languages[1:]:
        shared &= set(pairs[lang][0])
    english = sorted(shared)
    if len(english) < 4:
        raise DataError("retrieval target: fewer than 4 English sentences are shared by every language's pairs")
    english = sample_examples(english, max(4, rows // per_sentence), f"{seed}/meaning-identity")
    texts, labels = list(english), list(range(len(english)))
    for lang in languages:
        translation = dict(zip(*pairs[lang]))
        texts.extend(translation[e] for e in english)
        labels.extend(range(len(english)))
    features = sentence_embeddings(model, texts, rep, max_length=max_length, batch_size=batch_size)
    return LabelledFeatures(features, np.array(labels, dtype=np.int64), len(english), time.perf_counter() - start)
