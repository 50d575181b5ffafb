"""Validation of canonical examples, so bad data fails before any training starts."""

from __future__ import annotations

from collections.abc import Sequence

from xstilts.errors import DataError
from xstilts.tasks.base import Example, Task, TaskKind

_REQUIRED: dict[TaskKind, dict[str, type | tuple[type, ...]]] = {
    TaskKind.CLASSIFICATION: {"id": str, "text": str, "label": int},
    TaskKind.MULTIPLE_CHOICE: {"id": str, "context": str, "question": str, "choices": list, "label": int},
    TaskKind.SPAN_EXTRACTION: {"id": str, "context": str, "question": str, "answers": dict},
    TaskKind.TAGGING: {"id": str, "tokens": list, "tags": list},
    TaskKind.RETRIEVAL: {"id": str, "text": str, "side": str, "gold": list},
}


def validate_examples(task: Task, examples: Sequence[Example], origin: str, split: str, language: str) -> None:
    """Raise a one-line `DataError` naming `origin` (file or dataset id) and the bad field."""
    where = f"{origin} [{task.name} {split}/{language}]"
    if not examples:
        raise DataError(f"{where}: split is empty")
    required = _REQUIRED[task.kind]
    for i, ex in enumerate(examples):
        for key, typ in required.items():
            if key not in ex:
                raise DataError(f"{where}: example {i} has no field {key!r}")
            value = ex[key]
            if (typ is int and isinstance(value, bool)) or not isinstance(value, typ):
                raise DataError(
                    f"{where}: example {i} field {key!r} should be {_name(typ)}, got {type(value).__name__}"
                )
        _check_kind(task, ex, i, where)


def _name(typ: type | tuple[type, ...]) -> str:
    return typ.__name__ if isinstance(typ, type) else "/".join(t.__name__ for t in typ)


def _check_kind(task: Task, ex: Example, i: int, where: str) -> None:
    kind = task.kind
    if kind is TaskKind.CLASSIFICATION:
        pair = ex.get("text_pair")
        if pair is not None and not isinstance(pair, str):
            raise DataError(f"{where}: example {i} field 'text_pair' should be str or null")
        _check_label(ex["label"], task.num_labels, "label", i, where)
    elif kind is TaskKind.MULTIPLE_CHOICE:
        choices = ex["choices"]
        if len(choices) < 2 or not all(isinstance(c, str) for c in choices):
            raise DataError(f"{where}: example {i} field 'choices' should be a list of at least 2 strings")
        if task.num_choices is not None and len(choices) != task.num_choices:
            raise DataError(
                f"{where}: example {i} field 'choices' has {len(choices)} choices, expected {task.num_choices}"
            )
        _check_label(ex["label"], len(choices), "label", i, where)
    elif kind is TaskKind.SPAN_EXTRACTION:
        answers = ex["answers"]
        texts, starts = answers.get("text"), answers.get("answer_start")
        if not isinstance(texts, list) or not isinstance(starts, list) or len(texts) != len(starts):
            raise DataError(
                f"{where}: example {i} field 'answers' needs lists 'text' and 'answer_start' of equal length"
            )
        for text, start in zip(texts, starts):
            if not isinstance(start, int) or start < 0 or ex["context"][start : start + len(text)] != text:
                raise DataError(
                    f"{where}: example {i} field 'answers': {text!r} is not found at offset {start} of the context"
                )
    elif kind is TaskKind.TAGGING:
        tokens, tags = ex["tokens"], ex["tags"]
        if len(tokens) != len(tags):
            raise DataError(f"{where}: example {i} has {len(tokens)} tokens but {len(tags)} tags")
        if not tokens:
            raise DataError(f"{where}: example {i} field 'tokens' is empty")
        for tag in tags:
            _check_label(tag, task.num_labels, "tags", i, where)
    elif kind is TaskKind.RETRIEVAL and ex["side"] not in ("query", "candidate"):
        raise DataError(f"{where}: example {i} field 'side' should be 'query' or 'candidate', got {ex['side']!r}")


def _check_label(label: object, num_labels: int, field: str, i: int, where: str) -> None:
    if not isinstance(label, int) or isinstance(label, bool) or not 0 <= label < num_labels:
        raise DataError(f"{where}: example {i} field {field!r} has label {label!r}, expected 0..{num_labels - 1}")
