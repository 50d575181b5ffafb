"""Parallel English / target-language sentences for the cross-lingual alignment estimate.

Where they come from, per target (`PAIRING`):
- "gold": retrieval targets whose queries are translations of English candidates (Tatoeba,
  BUCC 2018, syn-tatoeba): each query with its first gold candidate.
- "position": targets whose evaluation split in every language is the English split
  translated, in the same order (XNLI, PAWS-X): example i of both.
- "id": the same, paired by example id (XQuAD, and the synthetic targets, whose evaluation
  splits are generated from the same propositions in every language).
- any other target (UD-POS, PAN-X, MLQA, TyDiQA-GoldP, XCOPA, LAReQA, Mewsli-X): no parallel
  inputs are known, so the alignment estimate is unavailable and the reason is reported.
The text of an example is its kind's `parallel_text`: classification its first sentence
(`text`), tagging its words joined by spaces, span extraction and multiple choice its
`context`, retrieval its `text`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from xstilts.data.loading import load_examples
from xstilts.errors import DataError
from xstilts.kinds import handler_for
from xstilts.selection.features import sample_examples
from xstilts.tasks.base import Example, Task

PAIRING: dict[str, str] = {
    "tatoeba": "gold",
    "bucc2018": "gold",
    "syn-tatoeba": "gold",
    "xnli": "position",
    "pawsx": "position",
    "xquad": "id",
    "syn-para": "id",
    "syn-pos": "id",
    "syn-qa": "id",
}


@dataclass(frozen=True)
class ParallelText:
    english: list[str]
    target: list[str]
    rule: str


def unavailable_reason(task: Task) -> str | None:
    """None when the target has parallel inputs, else why the alignment estimate is skipped."""
    if task.name in PAIRING:
        return None
    return (
        f"{task.name}: its evaluation data is not parallel across languages (no translation of the same "
        "English inputs), so cross-lingual alignment is unavailable"
    )


def _gold_pairs(examples: list[Example]) -> tuple[list[str], list[str]]:
    candidates = {ex["id"]: ex["text"] for ex in examples if ex["side"] == "candidate"}
    english, target = [], []
    for ex in examples:
        if ex["side"] == "query" and ex["gold"] and ex["gold"][0] in candidates:
            english.append(candidates[ex["gold"][0]])
            target.append(ex["text"])
    return english, target


def parallel_sentences(
    task: Task, language: str, n: int, *, seed: int = 0, data_dir: Path | str | None = None
) -> ParallelText:
    """Up to `n` (English, `language`) sentence pairs of `task` (see module doc)."""
    reason = unavailable_reason(task)
    if reason:
        raise DataError(reason)
    rule = PAIRING[task.name]
    if rule == "gold":
        english, target = _gold_pairs(load_examples(task, task.eval_split_for(language), language, data_dir))
    else:
        en = load_examples(task, task.eval_split_for("en"), "en", data_dir)
        other = load_examples(task, task.eval_split_for(language), language, data_dir)
        if rule == "position":
            if len(en) != len(other):
                raise DataError(
                    f"{task.name}: {len(en)} English but {len(other)} {language} evaluation examples; "
                    "they cannot be paired by position"
                )
            pairs = list(zip(en, other))
        else:
            by_id = {ex["id"]: ex for ex in other}
            pairs = [(ex, by_id[ex["id"]]) for ex in en if ex["id"] in by_id]
        handler = handler_for(task)
        english = [handler.parallel_text(a) for a, _ in pairs]
        target = [handler.parallel_text(b) for _, b in pairs]
    if len(english) < 4:
        raise DataError(f"{task.name}: only {len(english)} parallel English-{language} sentences; need at least 4")
    # One stream for every language: equal-length parallel lists keep the same sentences.
    keep = sample_examples(list(range(len(english))), n, f"{seed}/{task.name}/parallel")
    return ParallelText([english[i] for i in keep], [target[i] for i in keep], rule)
