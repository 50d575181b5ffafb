"""Turning start/end logits over strided windows into answer strings (extractive QA).

The behaviour users know from the transformers `run_qa` example (SQuAD v1.1, no null answer):
an example's context is split into overlapping windows ("features"); every window proposes its
`n_best` most likely start tokens and `n_best` most likely end tokens; a (start, end) pair is a
valid span when both tokens belong to the context (their offset is not None), end >= start, and it
covers at most `max_answer_length` tokens, and, when the feature has "token_is_max_context"
({str(token index): bool}), its start token is marked True there. The answer is the valid span
with the highest start_logit + end_logit over all windows of the example, cut from the context
by character offsets. An example without any valid span gets the empty string (run_qa writes the
placeholder "empty" instead).

Ties are broken deterministically: among equal logits the lower token index is proposed first,
and among equal span scores the first one found (window order, then start rank, then end rank)
wins.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

Offsets = Sequence[tuple[int, int] | Sequence[int] | None]


def postprocess_qa(
    examples: Sequence[Mapping[str, Any]],
    features: Sequence[Mapping[str, Any]],
    start_logits: Sequence[Sequence[float]] | Sequence[np.ndarray] | np.ndarray,
    end_logits: Sequence[Sequence[float]] | Sequence[np.ndarray] | np.ndarray,
    n_best: int = 20,
    max_answer_length: int = 30,
) -> dict[str, str]:
    """Answer text of every example, keyed by example id.

    examples: dicts with "id" and "context". features: dicts with "example_id" and
    "offset_mapping" (one (char_start, char_end) pair per token, None for tokens outside the
    context). start_logits / end_logits: one row per feature (an array [features, tokens], or a
    list of rows of possibly different lengths).
    """
    if len(start_logits) != len(features) or len(end_logits) != len(features):
        raise ValueError(
            f"postprocess_qa: {len(features)} features but {len(start_logits)} start and "
            f"{len(end_logits)} end logit rows"
        )
    if n_best < 1 or max_answer_length < 1:
        raise ValueError("postprocess_qa: n_best and max_answer_length must be at least 1")
    contexts = {str(ex["id"]): ex["context"] for ex in examples}
    features_of: dict[str, list[int]] = defaultdict(list)
    for index, feature in enumerate(features):
        example_id = str(feature["example_id"])
        if example_id not in contexts:
            raise ValueError(f"postprocess_qa: feature {index} belongs to unknown example {example_id!r}")
        features_of[example_id].append(index)

    answers: dict[str, str] = {}
    for example_id, context in contexts.items():
        best_score = -np.inf
        best_span: tuple[int, int] | None = None
        for index in features_of.get(example_id, []):
            offsets = features[index]["offset_mapping"]
            found = _best_span_in_window(
                np.asarray(start_logits[index], dtype=np.float64),
                np.asarray(end_logits[index], dtype=np.float64),
                offsets,
                features[index].get("token_is_max_context"),
                n_best,
                max_answer_length,
            )
            if found is not None and found[0] > best_score:
                best_score = found[0]
                start_token, end_token = found[1], found[2]
                best_span = (offsets[start_token][0], offsets[end_token][1])
        answers[example_id] = context[best_span[0] : best_span[1]] if best_span else ""
    return answers


def _best_span_in_window(
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    offsets: Offsets,
    max_context: Mapping[str, bool] | None,
    n_best: int,
    max_answer_length: int,
) -> tuple[float, int, int] | None:
    """(score, start token, end token) of the best valid span of one window, or None."""
    if len(start_logits) != len(end_logits):
        raise ValueError(f"postprocess_qa: {len(start_logits)} start logits but {len(end_logits)} end logits")
    starts = _top_indices(start_logits, n_best)
    ends = _top_indices(end_logits, n_best)
    in_context = np.array([_is_context(offsets, i) for i in range(len(start_logits))], dtype=bool)
    starts_ok, ends_ok = in_context[starts], in_context[ends]
    if max_context is not None:
        starts_ok &= np.array([bool(max_context.get(str(i), False)) for i in starts], dtype=bool)
    length = ends[None, :] - starts[:, None] + 1
    valid = starts_ok[:, None] & ends_ok[None, :] & (length >= 1) & (length <= max_answer_length)
    if not valid.any():
        return None
    scores = np.where(valid, start_logits[starts][:, None] + end_logits[ends][None, :], -np.inf)
    flat = int(np.argmax(scores))  # first maximum in (start rank, end rank) order
    s, e = divmod(flat, scores.shape[1])
    return float(scores[s, e]), int(starts[s]), int(ends[e])


def _top_indices(logits: np.ndarray, n: int) -> np.ndarray:
    """Indices of the n largest logits, largest first, lower index first among equal ones."""
    order = np.argsort(-logits, kind="stable")
    return order[:n]


def _is_context(offsets: Offsets, token: int) -> bool:
    if token >= len(offsets):
        return False
    span = offsets[token]
    return span is not None and len(span) >= 2
