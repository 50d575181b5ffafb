"""QA post-processing: logits over strided windows to answer strings (run_qa behaviour)."""

from __future__ import annotations

import numpy as np
import pytest

from xstilts.kinds.span_extraction import postprocess_qa

CONTEXT = "alpha beta gamma delta"
WORDS = [(0, 5), (6, 10), (11, 16), (17, 22)]
LOW = -10.0


def window(example_id: str, words: list[tuple[int, int]]) -> dict:
    """[CLS] question [SEP] <words> [SEP]: only the context words have offsets."""
    return {"example_id": example_id, "offset_mapping": [None, None, None, *words, None]}


def logits(n_tokens: int, **peaks: float) -> list[float]:
    """LOW everywhere except the given token positions (t0, t1, ...)."""
    row = [LOW] * n_tokens
    for name, value in peaks.items():
        row[int(name[1:])] = value
    return row


def test_best_span_of_one_window() -> None:
    features = [window("e", WORDS)]
    answers = postprocess_qa(
        [{"id": "e", "context": CONTEXT}], features, [logits(8, t4=5.0)], [logits(8, t5=4.0)]
    )
    assert answers == {"e": "beta gamma"}


def test_tokens_outside_the_context_are_never_answers() -> None:
    features = [window("e", WORDS)]
    # The question token 1 has the highest start and end logits; the answer must still be context.
    start = logits(8, t1=9.0, t3=2.0)
    end = logits(8, t1=9.0, t3=1.0)
    assert postprocess_qa([{"id": "e", "context": CONTEXT}], features, [start], [end]) == {"e": "alpha"}


def test_spans_ending_before_they_start_or_too_long_are_skipped() -> None:
    features = [window("e", WORDS)]
    start = logits(8, t6=9.0)
    end = logits(8, t4=9.0, t6=0.5)
    examples = [{"id": "e", "context": CONTEXT}]
    # (6, 4) would score 18 but ends before it starts; the best valid span is (6, 6) with 9.5.
    assert postprocess_qa(examples, features, [start], [end]) == {"e": "delta"}
    start = logits(8, t3=9.0, t5=1.0)
    end = logits(8, t6=9.0, t5=1.0)
    # (3, 6) is 4 tokens long: with max_answer_length=3 the best is (3, 5).
    assert postprocess_qa(examples, features, [start], [end], max_answer_length=3) == {"e": "alpha beta gamma"}


def test_best_span_over_several_windows() -> None:
    # Two windows with a stride: the first covers alpha beta gamma, the second gamma delta.
    features = [window("e", WORDS[:3]), window("e", WORDS[2:])]
    start = [logits(7, t3=1.0), logits(6, t4=3.0)]  # rows of different lengths are fine
    end = [logits(7, t5=1.0), logits(6, t4=2.0)]
    assert postprocess_qa([{"id": "e", "context": CONTEXT}], features, start, end) == {"e": "delta"}


def test_no_valid_span_or_no_window_gives_the_empty_string() -> None:
    examples = [{"id": "e", "context": CONTEXT}, {"id": "lonely", "context": "x"}]
    features = [{"example_id": "e", "offset_mapping": [None, None, None]}]
    assert postprocess_qa(examples, features, [[1.0, 2.0, 3.0]], [[1.0, 2.0, 3.0]]) == {"e": "", "lonely": ""}


def test_only_the_n_best_starts_and_ends_are_considered() -> None:
    features = [window("e", WORDS)]
    start = logits(8, t0=9.0, t3=1.0)  # best start is [CLS], second best is alpha
    end = logits(8, t3=1.0)
    examples = [{"id": "e", "context": CONTEXT}]
    assert postprocess_qa(examples, features, [start], [end], n_best=2) == {"e": "alpha"}
    assert postprocess_qa(examples, features, [start], [end], n_best=1) == {"e": ""}


def test_ties_go_to_the_lower_token_and_the_earlier_window() -> None:
    examples = [{"id": "e", "context": CONTEXT}]
    flat = np.zeros((1, 8))
    # All spans score 0: the first start (alpha) and the first end at or after it (alpha) win.
    assert postprocess_qa(examples, [window("e", WORDS)], flat, flat, n_best=8) == {"e": "alpha"}
    features = [window("e", WORDS[2:]), window("e", WORDS[:2])]
    start = [logits(6, t3=1.0), logits(6, t3=1.0)]
    end = [logits(6, t3=1.0), logits(6, t3=1.0)]
    assert postprocess_qa(examples, features, start, end) == {"e": "gamma"}


def test_inconsistent_inputs_are_refused() -> None:
    examples = [{"id": "e", "context": CONTEXT}]
    with pytest.raises(ValueError, match="1 features but 2 start"):
        postprocess_qa(examples, [window("e", WORDS)], [logits(8), logits(8)], [logits(8)])
    with pytest.raises(ValueError, match="unknown example 'f'"):
        postprocess_qa(examples, [window("f", WORDS)], [logits(8)], [logits(8)])
    with pytest.raises(ValueError, match="8 start logits but 7 end"):
        postprocess_qa(examples, [window("e", WORDS)], [logits(8)], [logits(7)])


def test_starts_without_maximum_context_are_skipped_when_marked() -> None:
    features = [window("e", WORDS)]
    features[0]["token_is_max_context"] = {"3": False, "4": True, "5": True, "6": True}
    start = logits(8, t3=9.0, t4=1.0)
    end = logits(8, t4=9.0)
    assert postprocess_qa([{"id": "e", "context": CONTEXT}], features, [start], [end]) == {"e": "beta"}
