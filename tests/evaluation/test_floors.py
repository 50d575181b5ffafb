"""The score of the best trivial predictor (majority class / tag / choice, empty or first-word answers)."""

from __future__ import annotations

import pytest

from xstilts.evaluation.floors import majority_score
from xstilts.tasks import get_task


def test_classification_floor_is_the_majority_class_accuracy() -> None:
    task = get_task("syn-para")
    examples = [{"id": str(i), "sentence1": "a", "sentence2": "b", "label": int(i < 7)} for i in range(10)]
    assert majority_score(task, examples) == pytest.approx(70.0)  # always "paraphrase": 7 of 10
    assert majority_score(task, []) is None


def test_multiple_choice_floor_is_the_most_frequent_gold_position() -> None:
    task = get_task("syn-copa")
    examples = [{"id": str(i), "premise": "p", "question": "cause", "choices": ["x", "y"], "label": int(i % 4 == 0)} for i in range(8)]
    assert majority_score(task, examples) == pytest.approx(75.0)  # always the first choice


def test_tagging_floor_is_the_all_majority_tag_score_with_the_tasks_metric() -> None:
    task = get_task("syn-pos")
    noun, det = task.labels.index("NOUN"), task.labels.index("DET")
    examples = [{"id": "0", "tokens": ["the", "cat", "dog"], "tags": [det, noun, noun]}, {"id": "1", "tokens": ["cats"], "tags": [noun]}]
    # f1_pos reads bare tags as seqeval chunks: gold chunks DET, NOUN(2 words), NOUN; all-NOUN predicts
    # one 3-word NOUN chunk and one 1-word NOUN chunk: 1 of 2 predicted chunks is right, 1 of 3 gold found
    assert majority_score(task, examples) == pytest.approx(100 * 2 * (1 / 2) * (1 / 3) / (1 / 2 + 1 / 3))


def test_span_floor_is_the_better_of_empty_and_first_word_answers() -> None:
    task = get_task("syn-qa")
    examples = [
        {"id": "a", "question": "who?", "context": "Anna sees the cat", "answers": {"text": ["Anna"], "answer_start": [0]}},
        {"id": "b", "question": "what?", "context": "Anna sees the cat", "answers": {"text": ["the cat"], "answer_start": [10]}},
    ]
    assert majority_score(task, examples) == pytest.approx(50.0)  # first word is right once; empty never


def test_retrieval_has_no_floor() -> None:
    assert majority_score(get_task("syn-tatoeba"), [{"id": "q", "side": "query", "text": "x", "gold": []}]) is None
