"""Labelled features per task kind: the rows are the hidden states the heads read, computed one
example at a time without padding, and the labels follow the documented rule per kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from xstilts.data.loading import load_examples
from xstilts.errors import DataError
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.kinds.tagging import IGNORE
from xstilts.models.backbone import BackboneOptions
from xstilts.models.model import default_retrieval_layer, load_pretrained
from xstilts.selection.features import (
    Representation,
    labelled_features,
    meaning_identity_features,
    representation_for,
    sample_examples,
    sentence_embeddings,
)
from xstilts.tasks import get_task

MAX_LENGTH = 48


@pytest.fixture
def model(tiny_backbones: dict[str, Path], family: str):
    return load_pretrained(str(tiny_backbones[family]), BackboneOptions())


def _hidden(model, ids: list[int], layer: int = -1) -> np.ndarray:
    """Hidden states of one unpadded sequence (eval mode: no dropout)."""
    model.eval()
    with torch.no_grad():
        out = model.body(
            input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long), output_hidden_states=True
        )
    return out.hidden_states[layer][0].double().numpy()


def _features(model, task, examples):
    options = FeaturizeOptions(max_length=MAX_LENGTH, max_query_length=MAX_LENGTH // 2)
    return handler_for(task).featurize(examples, model.tokenizer, model.input_format, task, options)


def _sample(name: str, n: int, split: str = "train", language: str = "en"):
    task = get_task(name)
    return task, sample_examples(load_examples(task, split, language), n, f"test/{name}")


def test_representation_follows_the_family_and_the_target(model, family: str) -> None:
    classification = representation_for(model, get_task("syn-para"))
    assert classification == Representation(-1, "first" if family == "encoder" else "last")
    assert representation_for(model, get_task("syn-para"), pooling="mean").pooling == "mean"
    retrieval = representation_for(model, get_task("syn-tatoeba"))
    assert retrieval == Representation(default_retrieval_layer(model.num_layers), "mean")
    with pytest.raises(DataError, match="layer 7 does not exist"):
        representation_for(model, get_task("syn-para"), layer=7)


def test_classification_rows_are_the_pooled_unpadded_sequences(synthetic_cache, model) -> None:
    task, examples = _sample("syn-para", 12)
    rep = representation_for(model, task)
    out = labelled_features(model, task, examples, rep, max_length=MAX_LENGTH, batch_size=5)
    assert out.rows == 12 and out.labels.tolist() == [ex["label"] for ex in examples]
    position = 0 if rep.pooling == "first" else -1  # decoders read the last token, whatever the padding
    for row, feature in zip(out.features, _features(model, task, examples)):
        np.testing.assert_allclose(row, _hidden(model, feature["input_ids"])[position], atol=1e-5)


def test_multiple_choice_rows_are_choices_labelled_correct_or_not(synthetic_cache, model) -> None:
    task, examples = _sample("syn-mc", 6)
    rep = representation_for(model, task)
    out = labelled_features(model, task, examples, rep, max_length=MAX_LENGTH, batch_size=4)
    choices = [len(ex["choices"]) for ex in examples]
    assert out.rows == sum(choices)
    expected = [int(j == ex["label"]) for ex in examples for j in range(len(ex["choices"]))]
    assert out.labels.tolist() == expected
    position = 0 if rep.pooling == "first" else -1
    rows = iter(out.features)
    for feature in _features(model, task, examples):
        for ids in feature["input_ids"]:
            np.testing.assert_allclose(next(rows), _hidden(model, ids)[position], atol=1e-5)


def test_tagging_rows_are_first_subwords_with_their_tags(synthetic_cache, model) -> None:
    task, examples = _sample("syn-pos", 8)
    out = labelled_features(model, task, examples, representation_for(model, task), max_length=MAX_LENGTH, batch_size=3)
    assert out.labels.tolist() == [tag for ex in examples for tag in ex["tags"]]  # one row per word, in order
    expected = []
    for feature in _features(model, task, examples):
        hidden = _hidden(model, feature["input_ids"])
        expected.extend(hidden[p] for p, label in enumerate(feature["labels"]) if label != IGNORE)
    np.testing.assert_allclose(out.features, np.stack(expected), atol=1e-5)


def test_span_rows_are_the_answer_start_and_one_other_context_token(synthetic_cache, model) -> None:
    task, examples = _sample("syn-qa", 6)
    out = labelled_features(model, task, examples, representation_for(model, task), max_length=MAX_LENGTH, batch_size=4)
    assert out.labels.tolist() == [1, 0] * (out.rows // 2)
    starts, seen = [], set()
    for feature in _features(model, task, examples):
        if feature["start"] > 0 and feature["example_index"] not in seen:  # the first window holding the answer
            seen.add(feature["example_index"])
            starts.append(_hidden(model, feature["input_ids"])[feature["start"]])
    assert out.rows == 2 * len(starts) > 0
    np.testing.assert_allclose(out.features[0::2], np.stack(starts), atol=1e-5)
    assert not np.allclose(out.features[0::2], out.features[1::2])


def test_rows_are_capped_and_retrieval_has_no_labels(synthetic_cache, model) -> None:
    task, examples = _sample("syn-mc", 10)
    out = labelled_features(model, task, examples, representation_for(model, task), max_length=MAX_LENGTH, max_rows=15)
    assert out.rows == 15 and set(out.labels.tolist()) == {0, 1}
    tatoeba = get_task("syn-tatoeba")
    with pytest.raises(DataError, match="no labels to score"):
        labelled_features(model, tatoeba, load_examples(tatoeba, "validation", "clo")[:4], representation_for(model, tatoeba), max_length=MAX_LENGTH)


def test_sentence_embeddings_do_not_depend_on_batching(model) -> None:
    texts = ["the dog sees Anna .", "Anna does not see the big red dog near the river .", "Hugo ."]
    rep = Representation(1, "mean")
    batched = sentence_embeddings(model, texts, rep, max_length=MAX_LENGTH, batch_size=3)
    single = np.concatenate([sentence_embeddings(model, [t], rep, max_length=MAX_LENGTH) for t in texts])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_meaning_identity_labels_join_translations_of_one_english_sentence(model) -> None:
    pairs = {
        "clo": (["a b .", "c d .", "e f .", "g h ."], ["A B .", "C D .", "E F .", "G H ."]),
        "scr": (["c d .", "a b .", "g h .", "e f ."], ["c' d' .", "a' b' .", "g' h' .", "e' f' ."]),
    }
    out = meaning_identity_features(model, pairs, Representation(-1, "mean"), max_length=MAX_LENGTH, rows=12)
    assert out.rows == 12 and out.n_examples == 4
    assert np.bincount(out.labels).tolist() == [3, 3, 3, 3]  # English, clo and scr of each sentence
