"""Extractive QA: SQuAD v1.1 (intermediate; English training of XQuAD and MLQA); XQuAD, MLQA, TyDiQA-GoldP."""

from __future__ import annotations

from pathlib import Path

from xstilts.errors import DataError
from xstilts.tasks.base import Example, Role, Task, TaskKind
from xstilts.tasks.registry import register
from xstilts.tasks.sources import (
    ConvertContext,
    DatasetSource,
    Hub,
    Row,
    RowError,
    Rows,
    example_id,
    first_file,
    read_json,
    rowwise,
    text,
)
from xstilts.tasks.suites import xtreme
from xstilts.tasks.suites.phang2020 import PAPER, jiant_intermediate
from xstilts.tasks.suites.xtreme import jiant_target

# TyDi QA ids start with the language's English name (e.g. "finnish-...").
TYDIQA_LANGUAGE_NAMES = {
    "arabic": "ar", "bengali": "bn", "english": "en", "finnish": "fi", "indonesian": "id", "korean": "ko",
    "russian": "ru", "swahili": "sw", "telugu": "te",
}


def _locate(context: str, answer: str, start: int) -> int | None:
    """`start` if the answer is there, else the answer's occurrence nearest to it, else None."""
    if context[start : start + len(answer)] == answer:
        return start
    occurrences = []
    position = context.find(answer)
    while position != -1 and answer:
        occurrences.append(position)
        position = context.find(answer, position + 1)
    return min(occurrences, key=lambda p: abs(p - start)) if occurrences else None


def _squad_row(row: Row, index: int, context: ConvertContext) -> Example | None:
    passage = text(row, "context")
    answers = row["answers"]
    if not isinstance(answers, dict) or "text" not in answers or "answer_start" not in answers:
        raise RowError("answers", "expected {'text': [...], 'answer_start': [...]}")
    texts, starts = [], []
    for answer, start in zip(answers["text"], answers["answer_start"]):
        if not answer:
            # XTREME's download replaces held-out answers by an empty string at offset 0.
            raise RowError("answers", "empty answer text (answers stripped from this file?)")
        located = _locate(passage, answer, int(start))
        if located is None:
            if context.lenient:
                return None
            raise RowError("answers", f"{answer!r} does not occur in the context")
        texts.append(answer)
        starts.append(located)
    if not texts:
        if context.lenient:
            return None
        raise RowError("answers", "no answer (unlabelled split?)")
    return {
        "id": example_id(row, "id", index, context), "context": passage, "question": text(row, "question"),
        "answers": {"text": texts, "answer_start": starts},
    }


def squad_json_rows(data: object, origin: str) -> list[Row]:
    """Flatten SQuAD-format JSON ({"data": [{"title", "paragraphs": [{"context", "qas"}]}]})."""
    if not isinstance(data, dict) or not isinstance(data.get("data"), list):
        raise DataError(f"{origin}: expected SQuAD-format JSON with a top-level 'data' list")
    rows = []
    for article in data["data"]:
        for paragraph in article.get("paragraphs", []):
            for qa in paragraph["qas"]:
                rows.append({
                    "id": qa["id"], "title": article.get("title", ""), "context": paragraph["context"],
                    "question": qa["question"],
                    "answers": {
                        "text": [a["text"] for a in qa["answers"]],
                        "answer_start": [a["answer_start"] for a in qa["answers"]],
                    },
                })
    return rows


def read_squad_file(path: Path) -> Rows:
    try:
        return Rows(squad_json_rows(read_json(path), str(path)), str(path))
    except KeyError as err:
        raise DataError(f"{path}: a SQuAD entry has no field {err.args[0]!r}") from None


def _squad_files(names_by_split: dict[str, list[str]]):
    """Reader of SQuAD-format JSON files named per split ("{lang}" is replaced)."""

    def read(folder: Path, split: str, language: str) -> Rows | None:
        path = first_file(folder, [n.format(lang=language) for n in names_by_split.get(split, [])])
        return read_squad_file(path) if path else None

    return read


def _released_squad_translation(pattern: str):
    """XTREME's translate-train SQuAD-format file (e.g. squad.translate.train.en-<lang>.json)."""

    def read(folder: Path, language: str) -> Rows | None:
        matches = sorted(folder.rglob(pattern.format(lang=language)))
        return read_squad_file(matches[0]) if matches else None

    return read


def _tydiqa_language(row: Row) -> str:
    name = str(row["id"]).split("-", 1)[0]
    return TYDIQA_LANGUAGE_NAMES.get(name, name)


QA_CONVERT = rowwise(_squad_row)

register(Task(
    name="squad",
    kind=TaskKind.SPAN_EXTRACTION,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="squad",
    source=DatasetSource(
        convert=QA_CONVERT,
        hub=Hub("rajpurkar/squad", "plain_text"),
        splits={"train": ("train",), "validation": ("validation",)},
        readers=(_squad_files({"train": ["train-v1.1.json"], "validation": ["dev-v1.1.json"]}),),
        local_formats="train-v1.1.json, dev-v1.1.json (XTREME download/squad)",
    ),
    description="SQuAD v1.1: English extractive QA; also the English training set of XQuAD and MLQA",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(max_length=384),
    notes="jiant's squad_v1. An answer whose offset is off is moved to its nearest occurrence in the context.",
))

register(Task(
    name="xquad",
    kind=TaskKind.SPAN_EXTRACTION,
    role=Role.TARGET,
    languages=xtreme.all_languages("xquad"),
    benchmark_languages=xtreme.languages_by_suite("xquad"),
    metric=xtreme.TASKS["xquad"].metric,
    source=DatasetSource(
        convert=QA_CONVERT,
        hub=Hub("google/xtreme", "XQuAD.{lang}"),
        hub_by_language={"ro": None},
        splits={"validation": ("validation",)},
        readers=(_squad_files({"validation": ["xquad.{lang}.json"]}),),
        translations=_released_squad_translation("squad.translate.train.en-{lang}.json"),
        translation_files="squad.translate.train.en-<lang>.json (SQuAD translate-train)",
        local_formats="deepmind/xquad xquad.<lang>.json",
        obtain="xquad.ro.json is in github.com/deepmind/xquad; XTREME's download script fetches only 11 languages",
    ),
    description="XQuAD: SQuAD dev subset translated into 10 (XTREME-R: 11) languages",
    train_task="squad",
    benchmarks=xtreme.suites_of("xquad"),
    hyperparameters=jiant_target(epochs=2, qa=True),
    notes=(
        "Trains on SQuAD v1.1 and selects on SQuAD validation. XQuAD has a single split, 'validation' (it is "
        "the test set). Romanian (XTREME-R) is not on the hub: give xquad.ro.json locally. XTREME-R scores "
        "QA as (EM + F1) / 2."
    ),
))

register(Task(
    name="mlqa",
    kind=TaskKind.SPAN_EXTRACTION,
    role=Role.TARGET,
    languages=xtreme.all_languages("mlqa"),
    metric=xtreme.TASKS["mlqa"].metric,
    source=DatasetSource(
        convert=QA_CONVERT,
        hub=Hub("google/xtreme", "MLQA.{lang}.{lang}"),
        splits={"validation": ("validation",), "test": ("test",)},
        readers=(_squad_files({
            "validation": [f"{prefix}dev-context-{{lang}}-question-{{lang}}.json" for prefix in ("", "dev/", "MLQA_V1/dev/")],
            "test": [f"{prefix}test-context-{{lang}}-question-{{lang}}.json" for prefix in ("", "test/", "MLQA_V1/test/")],
        }),),
        folder_names=("MLQA_V1",),
        translations=_released_squad_translation("squad.translate.train.en-{lang}.json"),
        translation_files="squad.translate.train.en-<lang>.json (SQuAD translate-train)",
        local_formats="MLQA_V1/{dev,test}/{dev,test}-context-<lang>-question-<lang>.json",
    ),
    description="MLQA: extractive QA with context and question in the same one of 7 languages",
    train_task="squad",
    benchmarks=xtreme.suites_of("mlqa"),
    hyperparameters=jiant_target(epochs=2, qa=True),
    notes=(
        "Context and question in the same language, as XTREME (MLQA.<lang>.<lang>). Trains on SQuAD v1.1; "
        "scored with MLQA's language-specific normalisation. XTREME's download strips test answers."
    ),
))

register(Task(
    name="tydiqa",
    kind=TaskKind.SPAN_EXTRACTION,
    role=Role.TARGET,
    languages=xtreme.all_languages("tydiqa"),
    metric=xtreme.TASKS["tydiqa"].metric,
    source=DatasetSource(
        convert=QA_CONVERT,
        hub=Hub("google/xtreme", "tydiqa", language_of=_tydiqa_language),
        splits={"train": ("train",), "validation": ("validation",)},
        readers=(_squad_files({
            "train": ["tydiqa.goldp.{lang}.train.json", "tydiqa-goldp-v1.1-train/tydiqa.goldp.{lang}.train.json"],
            "validation": ["tydiqa.goldp.{lang}.dev.json", "tydiqa-goldp-v1.1-dev/tydiqa.goldp.{lang}.dev.json"],
        }),),
        translations=_released_squad_translation("tydiqa.translate.train.en-{lang}.json"),
        translation_files="tydiqa.translate.train.en-<lang>.json (TyDiQA-GoldP translate-train)",
        local_formats="XTREME tydiqa/tydiqa-goldp-v1.1-{train,dev}/tydiqa.goldp.<lang>.{train,dev}.json",
    ),
    description="TyDiQA-GoldP: gold-passage QA in 9 typologically diverse languages",
    benchmarks=xtreme.suites_of("tydiqa"),
    hyperparameters=jiant_target(epochs=2, qa=True),
    notes=(
        "Trains on the English GoldP training set (3,696 questions) and selects on English validation; "
        "'validation' (GoldP dev) is XTREME's test set. The hub config holds all languages; rows are "
        "filtered on the language name that starts each id. XTREME's dev files have answers stripped."
    ),
))
