"""Loading canonical examples of any task, split and language; validated before they are used.

    load_examples(task, split, language, data_dir=None) -> list[Example]
    load_translated_train(task, language, data_dir=None) -> list[Example]
    resolve_task(task, data_dir=None) -> Task          # fills labels read from the data (CCG)
    locate_examples(task, split, language, data_dir=None) -> DataLocation   # where, without reading
    locate_translated_train(task, language, data_dir=None) -> DataLocation
    english_training(task) -> list[TrainingStage]      # which task/splits train a target in English

Translated training data. For the tasks where XTREME released translate-train files (XNLI,
PAWS-X, XQuAD and MLQA via SQuAD, TyDiQA-GoldP), those files are read in their released
format. For any task, user-supplied machine-translated data is read from
`<task folder>/translate-train/<lang>.jsonl`: one JSON object per line holding a canonical
example of the task's kind (see `xstilts.tasks.base`) plus `"language": "<lang>"`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from xstilts.data.schema import validate_examples
from xstilts.errors import unknown_name
from xstilts.tasks import get_task
from xstilts.tasks.base import Example, Task, TaskKind
from xstilts.tasks.sources import (
    ConvertContext,
    DataError,
    DataLocation,
    DatasetSource,
    locate_task_folder,
    probe,
    read_jsonl,
    task_env_var,
    task_folder,
)

TRANSLATED_FOLDER = "translate-train"


def _task(task: Task | str) -> Task:
    return get_task(task) if isinstance(task, str) else task


def _source(task: Task) -> DatasetSource | None:
    return task.source if isinstance(task.source, DatasetSource) else None


def all_languages(task: Task) -> tuple[str, ...]:
    """Every language the task declares, across benchmarks."""
    seen = dict.fromkeys(task.languages)
    for languages in task.benchmark_languages.values():
        seen.update(dict.fromkeys(languages))
    return tuple(seen)


def check_language(task: Task, language: str) -> None:
    if language not in all_languages(task):
        raise unknown_name("language", language, all_languages(task), where=task.name)


def check_split(task: Task, split: str, language: str) -> None:
    source = _source(task)
    if source is None:
        return
    if split not in source.all_split_names():
        raise unknown_name("split", split, source.all_split_names(), where=task.name)
    available = source.split_names(language)
    if split not in available:
        raise DataError(f"{task.name}: language {language!r} has no {split!r} split; it has: {', '.join(available)}")


def resolve_task(task: Task | str, data_dir: Path | str | None = None) -> Task:
    """The task with its label set filled in where the data defines it (CCG supertags)."""
    task = _task(task)
    source = _source(task)
    if task.labels or source is None or source.data_labels is None:
        return task
    folder = task_folder(task, source, Path(data_dir) if data_dir else None)
    if folder is None:
        raise DataError(f"{task.name}: its label set comes from the data; {source.local_hint(task)}")
    return dataclasses.replace(task, labels=source.data_labels(folder))


def load_examples(task: Task | str, split: str, language: str, data_dir: Path | str | None = None) -> list[Example]:
    """Canonical examples of one split and language, validated (one-line `DataError` if bad)."""
    task = resolve_task(task, data_dir)
    check_language(task, language)
    check_split(task, split, language)
    directory = Path(data_dir) if data_dir is not None else None
    source = _source(task)
    if source is not None:
        rows = source.read_rows(task, split, language, directory)
        context = ConvertContext(task, split, language, rows.origin)
        examples = (rows.convert or source.convert)(rows.rows, context)
        origin = rows.origin
    else:  # a Source that is not a DatasetSource (e.g. generated data)
        examples = task.source.load(task, split, language, directory)
        origin = task.source.describe()
    validate_examples(task, examples, origin, split, language)
    return examples


def locate_examples(task: Task | str, split: str, language: str, data_dir: Path | str | None = None) -> DataLocation:
    """Where `load_examples` would read this split and language from, by the same resolution
    order, found without reading the data (`xstilts plan`). Unknown names raise as when loading."""
    task = _task(task)
    check_language(task, language)
    check_split(task, split, language)
    source = _source(task)
    if source is None:  # generated data (the synthetic benchmark)
        return DataLocation(True, task.source.describe())
    return source.locate(task, split, language, Path(data_dir) if data_dir is not None else None)


def locate_translated_train(task: Task | str, language: str, data_dir: Path | str | None = None) -> DataLocation:
    """Where `load_translated_train` would read from, without reading."""
    task = _task(task)
    source = _source(task)
    if source is None:
        return DataLocation(True, task.source.describe())
    expected = f"{TRANSLATED_FOLDER}/{language}.jsonl" + (f" or XTREME's {source.translation_files}" if source.translation_files else "")
    found = locate_task_folder(task, source, data_dir)
    if found is None:
        return DataLocation(False, "", f"translated training data ({language}) is read from local files only, and {task.name} has no local folder", f"{source.local_hint(task)}, with {expected} in it")
    user_file = found.path / TRANSLATED_FOLDER / f"{language}.jsonl"
    if user_file.is_file():
        return DataLocation(True, f"local {user_file}")
    released = probe(partial(source.translations, found.path, language)) if source.translations else None
    if released is not None:
        return DataLocation(True, f"local {released}")
    return DataLocation(False, str(found.path), f"no translated training data for {language!r} in {found.path}", f"add {expected} there")


def load_translated_train(task: Task | str, language: str, data_dir: Path | str | None = None) -> list[Example]:
    """Machine-translated English training data of `task` in `language` (translate-train)."""
    task = resolve_task(task, data_dir)
    source = _source(task)
    directory = Path(data_dir) if data_dir is not None else None
    folder = task_folder(task, source, directory) if source is not None else directory
    if folder is None:
        released = f" or XTREME's {source.translation_files}" if source and source.translation_files else ""
        raise DataError(
            f"{task.name}: translated training data is read from local files: {TRANSLATED_FOLDER}/{language}.jsonl"
            f"{released} in the task's folder <data_dir>/{task.name}/ (or ${task_env_var(task)}, or $XSTILTS_DATA_DIR/{task.name}/)"
        )
    user_file = folder / TRANSLATED_FOLDER / f"{language}.jsonl"
    if user_file.is_file():
        examples = _read_user_translations(task, user_file, language)
        origin = str(user_file)
    else:
        found = source.translations(folder, language) if source and source.translations else None
        if found is None:
            released = f" or XTREME's {source.translation_files}" if source and source.translation_files else ""
            raise DataError(
                f"{task.name}: no translated training data for {language!r} in {folder}; expected "
                f"{TRANSLATED_FOLDER}/{language}.jsonl{released}"
            )
        context = ConvertContext(task, "translate-train", language, found.origin, lenient=True)
        assert source is not None  # `found` came from source.translations
        examples = (found.convert or source.convert)(found.rows, context)
        origin = found.origin
    validate_examples(task, examples, origin, "translate-train", language)
    return examples


def _read_user_translations(task: Task, path: Path, language: str) -> list[Example]:
    examples = read_jsonl(path)
    for number, example in enumerate(examples):
        if not isinstance(example, dict):
            raise DataError(f"{path}: line {number + 1} is not a JSON object")
        if example.get("language") != language:
            raise DataError(
                f"{path}: example {number} field 'language' is {example.get('language')!r}, expected {language!r}"
            )
        if task.kind is TaskKind.CLASSIFICATION:
            example.setdefault("text_pair", None)
    return examples


@dataclass(frozen=True)
class TrainingStage:
    """One English training stage of a target: `task`'s `train_split`, selected on `dev_split`."""

    task: Task
    train_split: str
    dev_split: str


def english_training(task: Task | str) -> list[TrainingStage]:
    """The English training stages of a target, in order (XCOPA: SIQa, then COPA).

    A target whose `train_task` is set trains on that task's data and selects its checkpoint on
    that task's English dev split (XNLI: MNLI validation_matched), so no target-language data
    and no evaluation data of the target is used for model selection.
    """
    task = _task(task)
    if not task.trainable:
        return []
    names = (*task.train_first, task.train_task or task.name)
    stages = []
    for name in names:
        stage_task = task if name == task.name else get_task(name, where=f"{task.name} training")
        stages.append(TrainingStage(stage_task, stage_task.train_split, stage_task.dev_split))
    return stages
