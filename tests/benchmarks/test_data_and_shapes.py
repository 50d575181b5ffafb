"""Benchmark data (labels stay true while inputs are stretched), model shapes, FLOPs and peaks."""

from __future__ import annotations

import random
import statistics

import pytest
import torch

from benchmarks.data import TASKS, LengthProfile, make_examples
from benchmarks.shapes import SHAPES, matmul_parameters, model_config, peak_flops, training_flops


def test_qa_answers_stay_at_their_offsets_after_the_context_grows():
    for ex in make_examples("qa", "train", 200):
        start, text = ex["answers"]["answer_start"][0], ex["answers"]["text"][0]
        assert ex["context"][start : start + len(text)] == text
        assert ex["question"].split()[0] in ex["context"] or "?" in ex["question"]


def test_tagging_keeps_one_tag_per_word():
    for ex in make_examples("tagging", "train", 100):
        assert len(ex["tokens"]) == len(ex["tags"]) > 0


def test_every_classification_sentence_mentions_its_labels_topic():
    from xstilts.synthetic.tasks import TOPIC_LABELS
    from xstilts.synthetic.world import NAMES, NOUN_TOPIC

    def topics(sentence: str) -> set[str]:
        words = sentence.split()
        return {NOUN_TOPIC[w] for w in words if w in NOUN_TOPIC} | ({"person"} if any(w in NAMES for w in words) else set())

    examples = make_examples("classification", "train", 200)
    assert {ex["label"] for ex in examples} == set(range(len(TOPIC_LABELS)))
    for ex in examples:
        sentences = [s for s in (ex["text"] + " " + ex["text_pair"]).split(" .") if s.strip()]
        assert all(TOPIC_LABELS[ex["label"]] in topics(s) for s in sentences)


@pytest.mark.parametrize("key,low,high", [("classification", 26, 40), ("qa", 105, 140), ("tagging", 13, 21)])
def test_lengths_follow_the_realistic_profiles(key, low, high):
    examples = make_examples(key, "train", 400)
    words = {
        "classification": lambda e: len(e["text"].split()) + len(e["text_pair"].split()),
        "qa": lambda e: len(e["context"].split()),
        "tagging": lambda e: len(e["tokens"]),
    }[key]
    mean = statistics.mean(words(e) for e in examples)
    assert low <= mean <= high
    assert max(words(e) for e in examples) > 2 * mean  # a long tail: what padding to max_length wastes


def test_examples_are_a_function_of_their_arguments():
    assert make_examples("tagging", "dev", 20) == make_examples("tagging", "dev", 20)
    assert make_examples("tagging", "dev", 20) != make_examples("tagging", "train", 20)


def test_length_profile_is_clipped():
    p = LengthProfile("x", median_words=10, sigma=5.0, low=3, high=12)
    draws = [p.sample(random.Random(i)) for i in range(200)]
    assert min(draws) == 3 and max(draws) == 12


def test_training_flops_by_hand():
    # 6 * N * t + 12 * L * d * t^2 for each sequence
    assert training_flops(1000, 2, 8, [3, 5]) == 6 * 1000 * 8 + 12 * 2 * 8 * (9 + 25)


def test_matmul_parameters_leave_out_embedding_tables():
    from tokenizers import Tokenizer, models
    from transformers import AutoModel, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "<s>": 1, "</s>": 2, "a": 3}, unk_token="a")),
                                  pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    shape = SHAPES["tiny"]
    model = AutoModel.from_config(model_config(shape, tok), add_pooling_layer=False)
    per_layer = 4 * 128 * 128 + 2 * 128 * 512
    assert matmul_parameters(model) == shape.layers * per_layer


@pytest.mark.parametrize("name,low,high", [("xlmr-large", 0.55e9, 0.57e9), ("decoder-1b", 1.2e9, 1.3e9)])
def test_real_shapes_have_the_published_sizes(name, low, high):
    from tokenizers import Tokenizer, models
    from transformers import AutoModel, PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_object=Tokenizer(models.WordLevel({"<pad>": 0, "<s>": 1, "</s>": 2}, unk_token="<pad>")),
                                  pad_token="<pad>", bos_token="<s>", eos_token="</s>")
    with torch.device("meta"):
        model = AutoModel.from_config(model_config(SHAPES[name], tok))
    assert low <= sum(p.numel() for p in model.parameters()) <= high


@pytest.mark.parametrize("name,peak", [
    ("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H200", 989e12),
    ("NVIDIA A100-SXM4-80GB", 312e12), ("NVIDIA A10", 125e12), ("NVIDIA L40S", 362e12), ("NVIDIA L4", 121e12),
    ("Tesla T4", None),
])
def test_peak_flops_by_gpu_name(name, peak):
    assert peak_flops(name) == peak


def test_every_task_pads_to_its_example_scripts_length():
    assert {k: t.max_length for k, t in TASKS.items()} == {"classification": 128, "qa": 384, "tagging": 128}
