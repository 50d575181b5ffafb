"""Token tagging: CCG supertagging (intermediate); UD-POS, PAN-X / WikiANN NER."""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
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
    label_index,
    opening,
    rowwise,
)
from xstilts.tasks.suites import xtreme
from xstilts.tasks.suites.phang2020 import PAPER, jiant_intermediate
from xstilts.tasks.suites.xtreme import PANX_TAGS, UPOS_TAGS, jiant_target

# google/xtreme names its UD-POS configs by the language's English name.
UDPOS_HUB_NAMES = {
    "af": "Afrikaans", "ar": "Arabic", "bg": "Bulgarian", "de": "German", "el": "Greek", "en": "English",
    "es": "Spanish", "et": "Estonian", "eu": "Basque", "fa": "Persian", "fi": "Finnish", "fr": "French",
    "he": "Hebrew", "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "kk": "Kazakh", "ko": "Korean", "mr": "Marathi", "nl": "Dutch", "pt": "Portuguese", "ru": "Russian",
    "ta": "Tamil", "te": "Telugu", "th": "Thai", "tl": "Tagalog", "tr": "Turkish", "ur": "Urdu",
    "vi": "Vietnamese", "yo": "Yoruba", "zh": "Chinese",
}
# Languages whose treebanks lack splits (UD v2.5, as google/xtreme and jiant's XTREME scripts).
UDPOS_TEST_ONLY = ("th", "tl", "yo")


def tag_converter(tag_column: str):
    def convert(row: Row, index: int, context: ConvertContext) -> Example:
        tokens, tags = list(row["tokens"]), row[tag_column]
        if tags is None or len(tags) != len(tokens):
            raise RowError(tag_column, f"{len(tags or [])} tags for {len(tokens)} tokens (labels stripped?)")
        labels = context.task.labels
        return {
            "id": example_id(row, "id", index, context), "tokens": [str(t) for t in tokens],
            "tags": [label_index(tag, labels, tag_column) for tag in tags],
        }

    return rowwise(convert)


# --- CoNLL-style files: one "token<TAB>tag" per line, blank line between sentences --------------

def read_conll(path: Path, tag_column: str, strip_language_prefix: bool = False) -> list[Row]:
    rows: list[Row] = []
    tokens: list[str] = []
    tags: list[str | None] = []

    def flush() -> None:
        if tokens:
            has_tags = all(t is not None for t in tags)
            rows.append({"tokens": list(tokens), tag_column: list(tags) if has_tags else None})
            tokens.clear()
            tags.clear()

    opening(path)
    with path.open(encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip():
                flush()
                continue
            cells = line.split("\t")
            token = cells[0]
            if strip_language_prefix and ":" in token:
                token = token.split(":", 1)[1]  # raw PAN-X tokens are "en:word"
            tokens.append(token)
            tags.append(cells[-1].strip() if len(cells) > 1 else None)
    flush()
    return rows


def _conll_reader(tag_column: str):
    """XTREME's processed `<split>-<lang>.tsv` (dev for validation) or raw PAN-X `<lang>-<split>`."""

    def read(folder: Path, split: str, language: str) -> Rows | None:
        xtreme_split = "dev" if split == "validation" else split
        path = first_file(folder, [f"{xtreme_split}-{language}.tsv"])
        if path is not None:
            return Rows(read_conll(path, tag_column), str(path))
        raw = first_file(folder, [f"{language}-{xtreme_split}", f"{language}/{xtreme_split}"])
        if raw is not None:
            return Rows(read_conll(raw, tag_column, strip_language_prefix=True), str(raw))
        return None

    return read


# --- CCGbank -------------------------------------------------------------------------------------

CCG_SECTIONS = {"train": range(2, 22), "validation": (0,), "test": (23,)}  # standard supertagging split
_AUTO_LEAF = re.compile(r"\(<L (\S+) \S+ \S+ (\S+) \S+>\)")


def _auto_root(folder: Path) -> Path | None:
    for candidate in (folder / "data" / "AUTO", folder / "AUTO", folder):
        if (candidate / "00").is_dir() or (candidate / "02").is_dir():
            return candidate
    return None


def read_auto_section(directory: Path) -> list[Row]:
    """Sentences of CCGbank AUTO files: the supertag of a word is its leaf's category."""
    rows = []
    for path in sorted(directory.glob("*.auto")):
        opening(path)
        sentence_id = None
        with path.open(encoding="utf-8") as f:
            for line in f:
                if line.startswith("ID="):
                    sentence_id = line.split()[0][3:]
                    continue
                leaves = _AUTO_LEAF.findall(line)
                if leaves:
                    rows.append({
                        "id": sentence_id, "tokens": [word for _, word in leaves],
                        "supertags": [category for category, _ in leaves],
                    })
    return rows


def _ccg_simple_file(folder: Path, split: str) -> Path | None:
    names = {"train": ["train.tsv"], "validation": ["dev.tsv", "val.tsv", "validation.tsv"], "test": ["test.tsv"]}
    return first_file(folder, names[split])


def read_ccg_simple(path: Path) -> list[Row]:
    """One sentence per line: space-separated words, a tab, space-separated supertags (as jiant's)."""
    rows = []
    opening(path)
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DataError(f"{path}:{number}: expected 'words<TAB>supertags'")
            words, tags = line.rstrip("\n").split("\t", 1)
            rows.append({"id": f"{path.stem}-{number}", "tokens": words.split(" "), "supertags": tags.split()})
    return rows


def read_ccg(folder: Path, split: str, language: str) -> Rows | None:
    if language != "en":
        return None
    simple = _ccg_simple_file(folder, split)
    if simple is not None:
        return Rows(read_ccg_simple(simple), str(simple))
    root = _auto_root(folder)
    if root is None:
        return None
    rows = []
    for section in CCG_SECTIONS[split]:
        if (root / f"{section:02d}").is_dir():
            rows.extend(read_auto_section(root / f"{section:02d}"))
    if not rows:
        return None
    return Rows(rows, f"{root} sections {','.join(f'{s:02d}' for s in CCG_SECTIONS[split])}")


@functools.lru_cache(maxsize=8)
def ccg_supertags(folder: Path) -> tuple[str, ...]:
    """The supertag inventory: tags_to_id.json (jiant) if present, else every tag in the data,
    most frequent in the training split first (ties and tags seen only in dev/test by name)."""
    mapping_file = folder / "tags_to_id.json"
    if mapping_file.is_file():
        mapping = json.loads(mapping_file.read_text(encoding="utf-8"))
        return tuple(tag for tag, _ in sorted(mapping.items(), key=lambda item: int(item[1])))
    counts: dict[str, Counter] = {}
    for split in CCG_SECTIONS:
        found = read_ccg(folder, split, "en")
        counts[split] = Counter(tag for row in (found.rows if found else []) for tag in row["supertags"])
    if not counts["train"]:
        raise DataError(f"ccg: no training data in {folder} to read the supertag set from")
    ordered = sorted(counts["train"], key=lambda tag: (-counts["train"][tag], tag))
    extra = sorted((set(counts["validation"]) | set(counts["test"])) - set(ordered))
    return tuple(ordered + extra)


register(Task(
    name="ccg",
    kind=TaskKind.TAGGING,
    role=Role.INTERMEDIATE,
    languages=("en",),
    metric="token_accuracy",
    source=DatasetSource(
        convert=tag_converter("supertags"),
        readers=(read_ccg,),
        folder_names=("ccgbank", "CCGbank"),
        local_formats="CCGbank data/AUTO/<section>/*.auto, or {train,dev,test}.tsv ('words<TAB>supertags' per line)",
        obtain="CCGbank is licensed (LDC2005T13): get it from the LDC and point the task at its folder",
        data_labels=ccg_supertags,
    ),
    description="CCG supertagging on CCGbank (English)",
    benchmarks=(PAPER,),
    hyperparameters=jiant_intermediate(),
    notes=(
        "Local files only (CCGbank is licensed). Splits: train = sections 02-21, validation = 00, test = 23. "
        "The supertag set comes from the data: tags_to_id.json (jiant's format) if present, else all tags "
        "found, most frequent in train first; use data.loading.resolve_task for the resolved labels. "
        "Scored as per-token accuracy."
    ),
))

register(Task(
    name="udpos",
    kind=TaskKind.TAGGING,
    role=Role.TARGET,
    languages=xtreme.all_languages("udpos"),
    benchmark_languages=xtreme.languages_by_suite("udpos"),
    metric=xtreme.TASKS["udpos"].metric,
    labels=UPOS_TAGS,
    source=DatasetSource(
        convert=tag_converter("pos_tags"),
        hub=Hub("google/xtreme", "udpos.<Language>"),
        hub_by_language={
            **{code: Hub("google/xtreme", f"udpos.{name}") for code, name in UDPOS_HUB_NAMES.items()},
            **{code: None for code in ("lt", "pl", "uk", "wo", "ro")},
        },
        splits_by_language={**{code: ("test",) for code in UDPOS_TEST_ONLY}, "kk": ("train", "test")},
        readers=(_conll_reader("pos_tags"),),
        local_formats="XTREME udpos/{train,dev,test}-<lang>.tsv",
        obtain="run google-research/xtreme scripts/download_data.sh (download_udpos, UD v2.5 and v2.7)",
    ),
    description="Universal Dependencies part-of-speech tagging (17 UPOS tags)",
    eval_split_overrides={code: "test" for code in (*UDPOS_TEST_ONLY, "kk")},
    benchmarks=xtreme.suites_of("udpos"),
    hyperparameters=jiant_target(epochs=10),
    notes=(
        "XTREME-R's five added languages (lt, pl, uk, wo, ro; UD v2.7) are not on the hub: use XTREME's "
        "processed udpos/<split>-<lang>.tsv. kk, th, tl, yo have no dev set and are evaluated on test (as "
        "jiant). The hub config splits multi-word tokens into syntactic words while XTREME's preprocessing "
        "keeps fused surface forms, so token counts differ in some languages: use XTREME's files for exact "
        "reproduction. Scored with f1_pos."
    ),
))

register(Task(
    name="panx",
    kind=TaskKind.TAGGING,
    role=Role.TARGET,
    languages=xtreme.all_languages("panx"),
    benchmark_languages=xtreme.languages_by_suite("panx"),
    metric=xtreme.TASKS["panx"].metric,
    labels=PANX_TAGS,
    source=DatasetSource(
        convert=tag_converter("ner_tags"),
        hub=Hub("google/xtreme", "PAN-X.{lang}"),
        hub_by_language={
            code: Hub("unimelb-nlp/wikiann", code) for code in sorted(set(xtreme.XTREME_R.languages["panx"]) - set(xtreme.XTREME.languages["panx"]))
        },
        readers=(_conll_reader("ner_tags"),),
        local_formats="XTREME panx/{train,dev,test}-<lang>.tsv or raw panx_dataset <lang>-{train,dev,test}",
    ),
    description="WikiANN (PAN-X) named entities: PER, ORG, LOC in BIO tags",
    benchmarks=xtreme.suites_of("panx"),
    hyperparameters=jiant_target(epochs=10),
    notes=(
        "Rahimi et al. (2019) splits. XTREME-R's eight added languages (qu, pl, uk, az, lt, pa, gu, ro) are not "
        "in google/xtreme; they load from unimelb-nlp/wikiann, which has the same splits and tag order. "
        "XTREME's processed test files have no tags."
    ),
))
