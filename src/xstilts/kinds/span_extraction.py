"""Extractive QA (SQuAD, XQuAD, MLQA, TyDiQA-GoldP): question + context window -> start and end
logits over tokens. Long contexts are cut into overlapping windows; predictions take the best
span over all windows of an example and map it back to the original text by character offsets.

Examples: {"id": str, "context": str, "question": str,
           "answers": {"text": list[str], "answer_start": list[int]}}.

Decoding (`postprocess_qa`) turns start/end logits over the windows into answer strings, as users
know it from the transformers `run_qa` example (SQuAD v1.1, no null answer): an example's context is split into overlapping windows ("features"); every window proposes its
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

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from xstilts.data.formatting import InputFormat
from xstilts.errors import ConfigError, DataError
from xstilts.kinds.base import (
    Batch,
    Feature,
    FeaturizeOptions,
    Fields,
    KindHandler,
    ProbeRows,
    register_kind,
    trim_offsets,
)
from xstilts.tasks.base import Example, Task, TaskKind

if TYPE_CHECKING:
    import numpy as np
    import torch
    from torch import nn

Offsets = Sequence[tuple[int, int] | Sequence[int] | None]


@register_kind
class SpanExtractionHandler(KindHandler):
    kind = TaskKind.SPAN_EXTRACTION
    packable = True
    needs_offsets = True
    fields: ClassVar[Fields] = {"id": str, "context": str, "question": str, "answers": dict}
    n_best = 20
    max_answer_length = 30

    def example_problem(self, task: Task, example: Example) -> str | None:
        answers = example["answers"]
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            return "field 'answers' needs lists 'text' and 'answer_start' of equal length"
        for text, start in zip(texts, starts):
            if not isinstance(start, int) or start < 0 or example["context"][start : start + len(text)] != text:
                return f"field 'answers': {text!r} is not found at offset {start} of the context"
        return None

    def featurize(self, examples: Sequence[Example], tokenizer: Any, fmt: InputFormat, task: Task, options: FeaturizeOptions) -> list[Feature]:
        questions = tokenizer([ex["question"] for ex in examples], add_special_tokens=False)["input_ids"]
        contexts = tokenizer([ex["context"] for ex in examples], add_special_tokens=False, return_offsets_mapping=True)
        features = []
        for i, ex in enumerate(examples):
            q = questions[i][: options.max_query_length]
            ctx_ids = contexts["input_ids"][i]
            ctx_offsets = trim_offsets(ex["context"], contexts["offset_mapping"][i])
            budget = options.max_length - fmt.pair_overhead - len(q)
            if budget < 8:
                raise ConfigError(
                    f"{task.name}: max_length {options.max_length} leaves {budget} tokens for the context after a "
                    f"{len(q)}-token question; raise max_length"
                )
            step = max(budget - options.stride, 1)
            answer = _char_span(ex)
            start = 0
            while True:
                window = ctx_ids[start : start + budget]
                ids, ctx_start = fmt.pair(q, window)
                offsets: list[tuple[int, int] | None] = [None] * len(ids)
                for j, off in enumerate(ctx_offsets[start : start + budget]):
                    offsets[ctx_start + j] = (off[0], off[1])
                s_pos, e_pos = _token_span(offsets, answer)
                features.append(
                    {"input_ids": ids, "start": s_pos, "end": e_pos, "example_index": i, "example_id": ex["id"], "offset_mapping": offsets}
                )
                if start + budget >= len(ctx_ids):
                    break
                start += step
        return features

    def collate(self, features: Sequence[Feature], pad_id: int) -> Batch:
        import torch  # deferred: importing a kind does not import torch

        from xstilts.kinds.tensors import pad_ids  # lazy: loads torch

        ids, mask = pad_ids([f["input_ids"] for f in features], pad_id)
        return {
            "input_ids": ids,
            "attention_mask": mask,
            "start_positions": torch.tensor([f["start"] for f in features]),
            "end_positions": torch.tensor([f["end"] for f in features]),
        }

    def make_head(self, hidden_size: int, task: Task, pooling: str) -> nn.Module:
        from xstilts.kinds.tensors import TokenHead  # deferred: torch

        return TokenHead(hidden_size, 2, dropout=0.0)

    def head_outputs(self, task: Task) -> int:
        return task.num_labels or task.num_choices or 2  # start and end

    def loss(self, logits: torch.Tensor, batch: Batch) -> torch.Tensor:
        from torch.nn import functional as F  # deferred: importing a kind does not import torch

        logits = logits.float().masked_fill(batch["attention_mask"].unsqueeze(-1) == 0, -1e4)
        start = F.cross_entropy(logits[..., 0], batch["start_positions"])
        end = F.cross_entropy(logits[..., 1], batch["end_positions"])
        return (start + end) / 2

    def unpad(self, logits: torch.Tensor, batch: Batch) -> list[torch.Tensor]:
        from xstilts.kinds.tensors import unpad_tokens  # deferred: torch

        return unpad_tokens(logits, batch)

    def decode(
        self, logits: list[torch.Tensor], features: Sequence[Feature], examples: Sequence[Example], task: Task, calibration: Any = None
    ) -> dict[str, str]:
        start_logits = [l[:, 0].float().numpy() for l in logits]
        end_logits = [l[:, 1].float().numpy() for l in logits]
        return postprocess_qa(examples, features, start_logits, end_logits, n_best=self.n_best, max_answer_length=self.max_answer_length)

    def references(self, examples: Sequence[Example], task: Task) -> dict[str, list[str]]:
        return {ex["id"]: list(ex["answers"]["text"]) for ex in examples}

    def trivial_predictions(self, examples: Sequence[Example], task: Task) -> list[Any]:
        """An empty answer for every question, and the first word of every context: the answers
        of a model that points at a fixed position."""
        empty = {ex["id"]: "" for ex in examples}
        first_word = {ex["id"]: (ex["context"].split() or [""])[0] for ex in examples}
        return [empty, first_word]

    def submission_layout(self, task: Task) -> str | None:
        return "xquad"  # {"question id": "answer text"}

    def parallel_text(self, example: Example) -> str:
        return str(example["context"])

    def probe_rows(self, features: Sequence[Feature], task: Task, rng: random.Random) -> ProbeRows:
        """Per example, the first window that holds the answer gives two rows: the answer's start
        token (label 1) and one other context token drawn at random (label 0), so "is this where
        the answer starts" is a balanced binary label over token features."""
        positions: dict[int, list[int]] = {}
        seen: set[int] = set()
        for i, f in enumerate(features):
            if f["start"] <= 0 or f["example_index"] in seen:
                continue  # the answer is not in this window, or an earlier window of the example holds it
            others = [j for j, off in enumerate(f["offset_mapping"]) if off is not None and j != f["start"]]
            if not others:
                continue
            seen.add(f["example_index"])
            positions[i] = [f["start"], rng.choice(others)]
        if not positions:
            raise DataError(f"{task.name}: no sampled example has its answer inside a window; cannot label start tokens")
        return ProbeRows([1, 0] * len(positions), positions)


def _char_span(ex: Example) -> tuple[int, int] | None:
    answers = ex["answers"]
    if not answers["text"]:
        return None
    start = answers["answer_start"][0]
    return start, start + len(answers["text"][0])


def _token_span(offsets: list[tuple[int, int] | None], answer: tuple[int, int] | None) -> tuple[int, int]:
    """Token positions of the answer inside this window, or (0, 0) when it is not wholly inside."""
    if answer is None:
        return 0, 0
    start_char, end_char = answer
    start = end = None
    for j, off in enumerate(offsets):
        if off is None or off[0] == off[1]:
            continue
        s, e = off
        if start is None and e > start_char:
            if s > start_char:
                return 0, 0
            start = j
        if s < end_char:
            end = j
    if start is None or end is None or end < start or (last := offsets[end]) is None or last[1] < end_char:
        return 0, 0
    return start, end


# --- decoding: best span over all windows -----------------------------------------------------

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
    import numpy as np  # deferred: importing a kind does not import numpy

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
    import numpy as np  # deferred: importing a kind does not import numpy

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
    import numpy as np  # deferred: importing a kind does not import numpy

    order = np.argsort(-logits, kind="stable")
    return order[:n]


def _is_context(offsets: Offsets, token: int) -> bool:
    if token >= len(offsets):
        return False
    span = offsets[token]
    return span is not None and len(span) >= 2
