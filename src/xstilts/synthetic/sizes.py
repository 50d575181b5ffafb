"""Measured sizes of the synthetic tasks, for the planner: examples and featurised tokens per
example, per split, as the stages featurise them (the built-in tokenizer, each family's input
format, the task's max_length; all choices of a multiple-choice example, every window of a QA
context, every sentence a retrieval evaluation embeds).

`xstilts.tasks.suites.synthetic` declares the numbers (`MEASURED_SIZES`); `measure` recomputes them from
the generated data, and a test checks the declaration against it so the two cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

from xstilts.data.formatting import Family, InputFormat
from xstilts.data.loading import load_examples
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.models.backbone import BackboneOptions, load_tokenizer, resolve_model_path
from xstilts.tasks import get_task


@dataclass(frozen=True)
class SplitSize:
    examples: int  # per language for evaluation splits
    tokens: float  # featurised tokens per example (all features of the example together)


def measure(task_name: str, split: str, family: str = "encoder", limit: int | None = None) -> SplitSize:
    """Examples per language and mean featurised tokens per example of one split of a synthetic
    task (train: English; validation: the mean over the task's languages). `limit` featurises only
    that many evenly spaced examples of each language (a quick check)."""
    task = get_task(task_name)
    path = resolve_model_path(f"synthetic:{family}")
    tokenizer = load_tokenizer(path, Family(family), BackboneOptions())
    fmt = InputFormat.for_tokenizer(tokenizer, Family(family))
    languages = ["en"] if split == "train" else list(task.languages)
    counts, tokens, featurised = [], 0, 0
    for language in languages:
        examples = load_examples(task, split, language)
        counts.append(len(examples))
        sample = examples[:: max(1, len(examples) // limit)][:limit] if limit else examples
        features = handler_for(task).featurize(sample, tokenizer, fmt, task, FeaturizeOptions(max_length=task.hyperparameters.max_length))
        tokens += sum(_length(f["input_ids"]) for f in features)
        featurised += len(sample)
    return SplitSize(round(sum(counts) / len(counts)), tokens / max(featurised, 1))


def _length(ids: list) -> int:
    """Tokens of one feature: a multiple-choice feature holds one sequence per choice."""
    return sum(len(row) for row in ids) if ids and isinstance(ids[0], list) else len(ids)
