"""Sentence and sentence-pair classification: MNLI, ANLI, QQP, SST-2 (intermediate); XNLI, PAWS-X."""

from __future__ import annotations

import csv
from pathlib import Path

from xstilts.tasks.base import Example, Role, Task, TaskKind
from xstilts.tasks.registry import register
from xstilts.tasks.sources import (
    ConvertContext,
    DataError,
    DatasetSource,
    Hub,
    Row,
    Rows,
    example_id,
    first_file,
    label_index,
    opening,
    read_tsv_rows,
    rowwise,
    text,
)
from xstilts.tasks.suites import xtreme
from xstilts.tasks.suites.phang2020 import PAPER, jiant_intermediate
from xstilts.tasks.suites.xtreme import jiant_target

NLI_LABELS = ("entailment", "neutral", "contradiction")  # GLUE/ANLI ClassLabel order


def pair_converter(first: str, second: str | None, id_key: str | None = "idx", label_key: str = "label"):
    """Rows with text columns `first` (and `second`) and a label column."""

    def convert(row: Row, index: int, context: ConvertContext) -> Example:
        return {
            "id": example_id(row, id_key, index, context),
            "text": text(row, first),
            "text_pair": text(row, second) if second else None,
            "label": label_index(_nli_spelling(row[label_key]), context.task.labels, label_key),
        }

    return rowwise(convert)


def _nli_spelling(value: object) -> object:
    # XNLI-MT's MultiNLI files and XTREME's translations spell one label "contradictory".
    return "contradiction" if value == "contradictory" else value


# --- original files --------------------------------------------------------------------------

def _xtreme_split(split: str) -> str:
    return "dev" if split == "validation" else split


def _three_column_tsv(first: str, second: str, label: str, splits: tuple[str, ...] = ("train", "validation", "test")):
    """Reader of XTREME's `download/<task>/<split>-<lang>.tsv`: sentence, sentence, label."""

    def read(folder: Path, split: str, language: str) -> Rows | None:
        if split not in splits:
            return None
        path = first_file(folder, [f"{_xtreme_split(split)}-{language}.tsv"])
        if path is None:
            return None
        cells = read_tsv_rows(path)
        _check_columns(path, cells, 2, "sentence, sentence, label")
        rows = [{first: r[0], second: r[1], label: r[2] if len(r) > 2 else ""} for r in cells]
        return Rows(rows, str(path))

    return read


def _check_columns(path: Path, rows: list[list[str]], least: int, layout: str) -> None:
    for number, cells in enumerate(rows):
        if len(cells) < least:
            raise DataError(f"{path}: row {number} has {len(cells)} column(s); expected {layout}")


def _released_translation(first: str, second: str, label: str):
    """XTREME's translate-train TSV `en-<lang>-translated.tsv`, in any sub-folder.

    The XTREME README describes five columns (original pair, translated pair, label) while its
    processors read three (translated pair, label); both layouts are accepted.
    """

    def read(folder: Path, language: str) -> Rows | None:
        matches = sorted(folder.rglob(f"en-{language}-translated.tsv"))
        if not matches:
            return None
        path = matches[0]
        rows = []
        lines = read_tsv_rows(path)
        _check_columns(path, lines, 3, "sentence, sentence, label (or the five-column layout)")
        for cells in lines:
            pair = cells[2:4] if len(cells) >= 5 else cells[0:2]
            rows.append({first: pair[0], second: pair[1], label: cells[-1]})
        return Rows(rows, str(path))

    return read


def _glue_tsv(columns: dict[str, str], files: dict[str, str]):
    """GLUE's original TSV files (header row); `columns` renames them to the hub's."""

    def read(folder: Path, split: str, language: str) -> Rows | None:
        if language != "en" or split not in files:
            return None
        path = first_file(folder, [files[split]])
        if path is None:
            return None

        opening(path)
        with path.open(encoding="utf-8", newline="") as f:
            records = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
        rows = [{new: r.get(old, "") for old, new in columns.items()} for r in records]
        return Rows(rows, str(path))

    return read


# --- intermediate tasks ----------------------------------------------------------------------

register(Task(
    name="mnli",
    kind=TaskKind.CLASSIFICATION,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="accuracy",
    labels=NLI_LABELS,
    source=DatasetSource(
        convert=pair_converter("premise", "hypothesis"),
        hub=Hub("nyu-mll/glue", "mnli"),
        splits={
            "train": ("train",), "validation": ("validation_matched",),
            "validation_matched": ("validation_matched",), "validation_mismatched": ("validation_mismatched",),
            "test_matched": ("test_matched",), "test_mismatched": ("test_mismatched",),
        },
        readers=(
            _glue_tsv(
                {"sentence1": "premise", "sentence2": "hypothesis", "gold_label": "label", "pairID": "idx"},
                {"train": "train.tsv", "validation": "dev_matched.tsv", "validation_matched": "dev_matched.tsv",
                 "validation_mismatched": "dev_mismatched.tsv"},
            ),
            # XTREME's download/xnli/train-en.tsv is MNLI's training set (its dev-en.tsv is XNLI's).
            _three_column_tsv("premise", "hypothesis", "label", splits=("train",)),
        ),
        folder_names=("MNLI",),
        local_formats="GLUE MNLI/{train,dev_matched,dev_mismatched}.tsv or XTREME xnli/train-en.tsv",
    ),
    description="MultiNLI: English premise/hypothesis entailment (3 classes)",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(),
    notes="'validation' is validation_matched (the dev set used for selection); test labels are hidden.",
))

register(Task(
    name="anli",
    kind=TaskKind.CLASSIFICATION,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="accuracy",
    labels=NLI_LABELS,
    source=DatasetSource(
        convert=pair_converter("premise", "hypothesis", id_key="uid"),
        hub=Hub("facebook/anli"),
        splits={
            "train": ("train_r1", "train_r2", "train_r3"),
            "validation": ("dev_r1", "dev_r2", "dev_r3"),
            "test": ("test_r1", "test_r2", "test_r3"),
        },
        local_formats="hub-schema files",
    ),
    description="Adversarial NLI, rounds 1-3 combined (3 classes)",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(),
    notes="Rounds 1, 2 and 3 are concatenated in each split, as the paper's 'ANLI' combines them.",
))

register(Task(
    name="qqp",
    kind=TaskKind.CLASSIFICATION,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="accuracy",
    labels=("not_duplicate", "duplicate"),
    source=DatasetSource(
        convert=pair_converter("question1", "question2"),
        hub=Hub("nyu-mll/glue", "qqp"),
        readers=(_glue_tsv(
            {"question1": "question1", "question2": "question2", "is_duplicate": "label", "id": "idx"},
            {"train": "train.tsv", "validation": "dev.tsv"},
        ),),
        folder_names=("QQP",),
        local_formats="GLUE QQP/{train,dev}.tsv",
    ),
    description="Quora Question Pairs: are two questions duplicates",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(),
    notes="Test labels are hidden (-1 on the hub).",
))

register(Task(
    name="sst2",
    kind=TaskKind.CLASSIFICATION,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="accuracy",
    labels=("negative", "positive"),
    source=DatasetSource(
        convert=pair_converter("sentence", None),
        hub=Hub("nyu-mll/glue", "sst2"),
        readers=(_glue_tsv({"sentence": "sentence", "label": "label"}, {"train": "train.tsv", "validation": "dev.tsv"}),),
        folder_names=("SST-2",),
        local_formats="GLUE SST-2/{train,dev}.tsv",
    ),
    description="Stanford Sentiment Treebank, binary sentence sentiment",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(),
    notes="Single-sentence task: text_pair is None. Test labels are hidden (-1 on the hub).",
))

# --- XTREME / XTREME-R targets -----------------------------------------------------------------

register(Task(
    name="xnli",
    kind=TaskKind.CLASSIFICATION,
    role=Role.TARGET,
    languages=xtreme.all_languages("xnli"),
    metric=xtreme.TASKS["xnli"].metric,
    labels=NLI_LABELS,
    source=DatasetSource(
        convert=pair_converter("sentence1", "sentence2", id_key=None, label_key="gold_label"),
        hub=Hub("google/xtreme", "XNLI", language_of=lambda row: row["language"]),
        splits={"validation": ("validation",), "test": ("test",)},
        readers=(_three_column_tsv("sentence1", "sentence2", "gold_label"),),
        translations=_released_translation("sentence1", "sentence2", "gold_label"),
        translation_files="en-<lang>-translated.tsv (XNLI translate-train)",
        local_formats="XTREME xnli/{dev,test}-<lang>.tsv",
    ),
    description="Cross-lingual NLI: MNLI-style pairs in 15 languages",
    train_task="mnli",
    benchmarks=xtreme.suites_of("xnli"),
    hyperparameters=jiant_target(epochs=2),
    notes=(
        "Trains on MNLI (train_task) and selects on MNLI validation_matched; labels share MNLI's order. "
        "The hub config XNLI holds all languages; rows are filtered on its 'language' column. "
        "XTREME's released test-<lang>.tsv has no labels: evaluate on validation, or on gold files you supply."
    ),
))

register(Task(
    name="pawsx",
    kind=TaskKind.CLASSIFICATION,
    role=Role.TARGET,
    languages=xtreme.all_languages("pawsx"),
    metric=xtreme.TASKS["pawsx"].metric,
    labels=("not_paraphrase", "paraphrase"),
    source=DatasetSource(
        convert=pair_converter("sentence1", "sentence2", id_key=None),
        hub=Hub("google/xtreme", "PAWS-X.{lang}"),
        readers=(_three_column_tsv("sentence1", "sentence2", "label"),),
        translations=_released_translation("sentence1", "sentence2", "label"),
        translation_files="en-<lang>-translated.tsv (PAWS-X translate-train)",
        local_formats="XTREME pawsx/{train,dev,test}-<lang>.tsv",
    ),
    description="Paraphrase adversaries from word scrambling, 7 languages",
    benchmarks=xtreme.suites_of("pawsx"),
    hyperparameters=jiant_target(epochs=5),
    notes=(
        "Labels 0/1 = not paraphrase/paraphrase. The hub's non-English 'train' splits are PAWS-X's "
        "machine-translated training data; zero-shot training uses English only."
    ),
))
