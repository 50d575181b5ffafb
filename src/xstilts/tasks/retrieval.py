"""Retrieval (no training data; embedded with the intermediate checkpoint): BUCC 2018, Tatoeba,
LAReQA (XQuAD-R) and Mewsli-X.

Canonical examples: queries (`side="query"`, `gold` = ids of their correct candidates) and
candidates (`side="candidate"`). Queries are in the requested language; candidates are English
(BUCC, Tatoeba) or the multilingual pool (LAReQA: all 11 languages; Mewsli-X: the entity set).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from xstilts.errors import DataError
from xstilts.tasks.base import Example, Hyperparameters, Role, Task, TaskKind
from xstilts.tasks.registry import register
from xstilts.tasks.sources import (
    ConvertContext,
    DatasetSource,
    Hub,
    Row,
    Rows,
    first_file,
    opening,
    read_json,
    read_jsonl,
)
from xstilts.tasks.suites import xtreme

# ISO 639-3 codes of the Tatoeba files (LASER data/tatoeba/v1), as XTREME's preprocessing maps them.
TATOEBA_ISO3 = {
    "af": "afr", "ar": "ara", "bg": "bul", "bn": "ben", "de": "deu", "el": "ell", "es": "spa", "et": "est",
    "eu": "eus", "fa": "pes", "fi": "fin", "fr": "fra", "he": "heb", "hi": "hin", "hu": "hun", "id": "ind",
    "it": "ita", "ja": "jpn", "jv": "jav", "ka": "kat", "kk": "kaz", "ko": "kor", "ml": "mal", "mr": "mar",
    "nl": "nld", "pt": "por", "ru": "rus", "sw": "swh", "ta": "tam", "te": "tel", "th": "tha", "tl": "tgl",
    "tr": "tur", "ur": "urd", "vi": "vie", "zh": "cmn", "az": "aze", "lt": "lit", "pl": "pol", "uk": "ukr",
    "ro": "ron",
}
RETRIEVAL_SETTINGS = Hyperparameters(batch_size=32, epochs=0.0, max_length=512)  # jiant caches retrieval at 512


def query(id_: str, text: str, gold: Sequence[str], **extra: object) -> Example:
    return {"id": id_, "text": text, "side": "query", "gold": list(gold), **extra}


def candidate(id_: str, text: str, **extra: object) -> Example:
    return {"id": id_, "text": text, "side": "candidate", "gold": [], **extra}


def canonical(rows: Sequence[Row], context: ConvertContext) -> list[Example]:
    """Rows already in the canonical retrieval schema (local JSONL written by hand or by a reader)."""
    return [dict(row) for row in rows]


# --- BUCC 2018 -------------------------------------------------------------------------------

def _bucc_pairs(rows: Sequence[Row], context: ConvertContext) -> list[Example]:
    """Hub rows are the gold pairs only: source (other language) and target (English) with ids."""
    queries: dict[str, Example] = {}
    candidates: dict[str, Example] = {}
    for index, row in enumerate(rows):
        try:
            source_id, target_id = str(row["source_lang"]), str(row["target_lang"])
            source_text, target_text = str(row["source_sentence"]).strip(), str(row["target_sentence"]).strip()
        except KeyError as err:
            raise DataError(f"{context.origin} [bucc2018 {context.split}/{context.language}]: row {index} has no column {err.args[0]!r}") from None
        queries.setdefault(source_id, query(source_id, source_text, []))["gold"].append(target_id)
        candidates.setdefault(target_id, candidate(target_id, target_text))
    return [*queries.values(), *candidates.values()]


def _read_id_sentences(path: Path) -> list[tuple[str, str]]:
    pairs = []
    opening(path)
    with path.open(encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if "\t" not in line:
                raise DataError(f"{path}:{number}: expected '<id><TAB><sentence>'")
            sentence_id, sentence = line.rstrip("\n").split("\t", 1)
            pairs.append((sentence_id, sentence))
    return pairs


def read_bucc(folder: Path, split: str, language: str) -> Rows | None:
    """BUCC's original files `<lang>-en.<part>.{<lang>,en,gold}`: full corpora plus gold pairs.

    XTREME renames the parts (sample -> dev, training -> test); both namings are accepted.
    """
    parts = {"validation": ("dev", "sample"), "test": ("test", "training")}[split]
    for part in parts:
        stem = f"{language}-en.{part}"
        sources, targets = folder / f"{stem}.{language}", folder / f"{stem}.en"
        if not (sources.is_file() and targets.is_file()):
            continue
        gold_file = folder / f"{stem}.gold"
        if not gold_file.is_file():
            raise DataError(f"bucc2018: {gold_file} is missing (XTREME's download deletes the test gold; keep it)")
        gold: dict[str, list[str]] = defaultdict(list)
        for source_id, target_id in _read_id_sentences(gold_file):
            gold[source_id].append(target_id.strip())
        examples = [query(i, s, gold.get(i, [])) for i, s in _read_id_sentences(sources)]
        examples += [candidate(i, s) for i, s in _read_id_sentences(targets)]
        return Rows(examples, str(sources.parent / stem), convert=canonical)
    return None


register(Task(
    name="bucc2018",
    kind=TaskKind.RETRIEVAL,
    role=Role.TARGET,
    languages=xtreme.all_languages("bucc2018"),
    metric=xtreme.TASKS["bucc2018"].metric,
    source=DatasetSource(
        convert=_bucc_pairs,
        hub=Hub("google/xtreme", "bucc18.{lang}"),
        splits={"validation": ("validation",), "test": ("test",)},
        readers=(read_bucc,),
        local_formats="BUCC 2018 <lang>-en.{sample,training}.{<lang>,en,gold} (or XTREME's dev/test names)",
    ),
    description="BUCC 2018 bitext mining: find the English translations in comparable corpora",
    dev_split="validation",
    eval_split="test",
    benchmarks=xtreme.suites_of("bucc2018"),
    hyperparameters=RETRIEVAL_SETTINGS,
    notes=(
        "validation = BUCC 'sample' (threshold tuning), test = BUCC 'training' set, as XTREME. The hub "
        "config holds only the gold pairs, so mining runs among gold sentences only and scores are not "
        "comparable with XTREME: use the original files for reported numbers. Queries carry every gold "
        "English id; sentences without a pair have gold []."
    ),
))


# --- Tatoeba ----------------------------------------------------------------------------------

def _tatoeba_pairs(rows: Sequence[Row], context: ConvertContext) -> list[Example]:
    """Line-aligned pairs: the i-th sentence translates the i-th English sentence."""
    language = context.language
    examples = []
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise DataError(f"{context.origin} [tatoeba {context.split}/{language}]: row {index} is not a record (a JSON object), got {type(row).__name__}")
        try:
            source, target = str(row["source_sentence"]).strip(), str(row["target_sentence"]).strip()
        except KeyError as err:
            raise DataError(f"{context.origin} [tatoeba {context.split}/{language}]: row {index} has no column {err.args[0]!r}") from None
        examples.append(query(f"{language}-{index}", source, [f"en-{index}"]))
        examples.append(candidate(f"en-{index}", target))
    return [e for e in examples if e["side"] == "query"] + [e for e in examples if e["side"] == "candidate"]


def read_tatoeba(folder: Path, split: str, language: str) -> Rows | None:
    """LASER's `tatoeba.<iso3>-eng.<iso3>` and `tatoeba.<iso3>-eng.eng`, line-aligned."""
    iso3 = TATOEBA_ISO3.get(language)
    if iso3 is None:
        return None
    sources, targets = folder / f"tatoeba.{iso3}-eng.{iso3}", folder / f"tatoeba.{iso3}-eng.eng"
    if not (sources.is_file() and targets.is_file()):
        return None
    opening(sources)
    source_lines = sources.read_text(encoding="utf-8").splitlines()
    target_lines = targets.read_text(encoding="utf-8").splitlines()
    if len(source_lines) != len(target_lines):
        raise DataError(f"{sources}: {len(source_lines)} lines but {targets.name} has {len(target_lines)}")
    rows = [{"source_sentence": s, "target_sentence": t} for s, t in zip(source_lines, target_lines)]
    return Rows(rows, str(sources))


register(Task(
    name="tatoeba",
    kind=TaskKind.RETRIEVAL,
    role=Role.TARGET,
    languages=xtreme.all_languages("tatoeba"),
    benchmark_languages=xtreme.languages_by_suite("tatoeba"),
    metric=xtreme.TASKS["tatoeba"].metric,
    source=DatasetSource(
        convert=_tatoeba_pairs,
        hub=Hub("google/xtreme", "tatoeba.<iso3>"),
        hub_by_language={
            **{code: Hub("google/xtreme", f"tatoeba.{iso3}") for code, iso3 in TATOEBA_ISO3.items()},
            **{code: None for code in ("az", "lt", "pl", "uk", "ro")},
        },
        splits={"test": ("validation",)},
        readers=(read_tatoeba,),
        local_formats="LASER data/tatoeba/v1/tatoeba.<iso3>-eng.{<iso3>,eng}",
        obtain="the files are in github.com/facebookresearch/LASER data/tatoeba/v1",
    ),
    description="Tatoeba: retrieve the English translation of each sentence (1,000 pairs per language)",
    eval_split="test",
    dev_split="test",
    benchmarks=xtreme.suites_of("tatoeba"),
    hyperparameters=RETRIEVAL_SETTINGS,
    notes=(
        "One split, 'test' (the hub calls it validation). Gold is by line index, as XTREME scores it. Hub "
        "configs use ISO 639-3 codes (tatoeba.deu); XTREME-R's five added languages (az, lt, pl, uk, ro) are "
        "not on the hub: give LASER's files. XTREME-R evaluates Tatoeba with a model fine-tuned on SQuAD v1.1; "
        "XTREME and the paper embed with the pretrained/intermediate checkpoint."
    ),
))


# --- LAReQA (XQuAD-R) ---------------------------------------------------------------------------

def _lareqa_language_files(folder: Path) -> Path | None:
    for candidate_dir in (folder / "xquad-r", folder):
        if (candidate_dir / "en.json").is_file():
            return candidate_dir
    return None


def _sentence_index(breaks: Sequence[Sequence[int]], offset: int) -> int | None:
    for index, (start, end) in enumerate(breaks):
        if start <= offset < end:
            return index
    return None


def read_lareqa(folder: Path, split: str, language: str) -> Rows | None:
    """XQuAD-R `xquad-r/<lang>.json`: SQuAD format plus per-paragraph `sentence_breaks`.

    Queries are the questions in `language`; candidates are the sentences of every language's
    paragraphs; a question's gold answers are the sentences, in all languages, holding the answer
    of the question with the same id (the cross-lingual id shared by translations).
    """
    directory = _lareqa_language_files(folder)
    if directory is None:
        return None
    missing = [lang for lang in xtreme.all_languages("lareqa") if not (directory / f"{lang}.json").is_file()]
    if missing:
        raise DataError(f"lareqa: {directory} lacks {', '.join(f'{m}.json' for m in missing)}; the candidate pool needs all 11")
    questions: list[tuple[str, str]] = []
    candidates: list[Example] = []
    gold: dict[str, list[str]] = defaultdict(list)
    for pool_language in xtreme.all_languages("lareqa"):
        path = directory / f"{pool_language}.json"
        data = read_json(path)
        try:
            paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
            for number, paragraph in enumerate(paragraphs, 1):
                passage, breaks = paragraph["context"], paragraph["sentence_breaks"]
                sentence_ids = [f"{pool_language}_{number}_{i}" for i in range(len(breaks))]
                for sentence_id, (start, end) in zip(sentence_ids, breaks):
                    candidates.append(candidate(sentence_id, passage[start:end], context=passage, language=pool_language))
                for qa in paragraph["qas"]:
                    answer_sentence = _sentence_index(breaks, qa["answers"][0]["answer_start"])
                    if answer_sentence is not None:  # a sentence-breaking error; skipped as XTREME does
                        gold[qa["id"]].append(sentence_ids[answer_sentence])
                        if pool_language == language:
                            questions.append((qa["id"], qa["question"]))
        except (KeyError, IndexError, TypeError) as err:
            raise DataError(f"{path}: not XQuAD-R format ({type(err).__name__}: {err})") from None
    examples = [query(f"{qid}_{language}", question, gold[qid], language=language) for qid, question in questions]
    return Rows(examples + candidates, str(directory), convert=canonical)


register(Task(
    name="lareqa",
    kind=TaskKind.RETRIEVAL,
    role=Role.TARGET,
    languages=xtreme.all_languages("lareqa"),
    metric=xtreme.TASKS["lareqa"].metric,
    source=DatasetSource(
        convert=canonical,
        splits={"test": ("test",)},
        readers=(read_lareqa,),
        folder_names=("xquad-r",),
        local_formats="XQuAD-R xquad-r/<lang>.json for all 11 languages",
        obtain=(
            "run google-research/xtreme scripts/download_data.sh (download_lareqa), which unpacks "
            "github.com/google-research-datasets/lareqa into download/lareqa"
        ),
    ),
    description="LAReQA on XQuAD-R: language-agnostic answer-sentence retrieval from an 11-language pool",
    eval_split="test",
    dev_split="test",
    benchmarks=xtreme.suites_of("lareqa"),
    hyperparameters=RETRIEVAL_SETTINGS,
    notes=(
        "Local files only. Per language: its questions against the candidate sentences of all 11 languages; "
        "each candidate is encoded as the pair (sentence, its paragraph), as XTREME's LAReQA processor does. Scored mAP@20. "
        "XTREME-R fine-tunes a dual encoder on SQuAD v1.1 first (train_lareqa.sh); the paper's setting embeds "
        "with the intermediate checkpoint."
    ),
))


# --- Mewsli-X -----------------------------------------------------------------------------------

_MARKERS = re.compile(r"[{}]")


def mention_query_text(context_text: str, sentence_spans: Sequence[dict], start: int, end: int) -> str:
    """The mention's sentence with the mention in braces, prefixed by the mention (as XTREME's
    Mewsli-X baseline input), whitespace normalised."""
    span = next((s for s in sentence_spans if s["start"] <= start and end <= s["end"]), None)
    low, high = (span["start"], span["end"]) if span else (0, len(context_text))
    mention = context_text[start:end]
    left = _MARKERS.sub(lambda m: "(" if m.group() == "{" else ")", context_text[low:start])
    right = _MARKERS.sub(lambda m: "(" if m.group() == "{" else ")", context_text[end:high])
    return " ".join(f"{mention}: {left} {{ {mention} }} {right}".split())


def _entity_text(entity: Row) -> str:
    description = entity["description"]
    spans = entity.get("sentence_spans") or [{"start": 0, "end": len(description)}]
    return " ".join(" ".join(description[s["start"] : s["end"]] for s in spans).split())


def _mention_files(folder: Path, split: str, language: str) -> tuple[list[Row], Path] | None:
    part = "dev" if split == "validation" else split
    per_language = first_file(folder, [f"wikinews_mentions/{part}-{language}.jsonl"])
    if per_language is not None:
        return read_jsonl(per_language), per_language
    combined = first_file(folder, [f"wikinews_mentions-{part}.jsonl"])
    if combined is not None:
        rows = [r for r in read_jsonl(combined) if r.get("context", {}).get("language") == language]
        return rows, combined
    return None


def read_mewslix(folder: Path, split: str, language: str) -> Rows | None:
    """Mewsli-X as XTREME's download leaves it: candidate_set_entities.jsonl and
    wikinews_mentions/<split>-<lang>.jsonl (or the original wikinews_mentions-<split>.jsonl)."""
    entities_file = folder / "candidate_set_entities.jsonl"
    if not entities_file.is_file():
        return None
    mentions = _mention_files(folder, split, language)
    if mentions is None:
        return None
    rows, path = mentions
    labels_file = folder / "wikinews_labels" / f"{'dev' if split == 'validation' else split}-{language}.json"
    labels = read_json(labels_file) if labels_file.is_file() else {}
    examples: list[Example] = []
    try:
        for row in rows:
            context = row["context"]
            for mention in row["mentions"]:
                span = mention["mention_span"]
                entity = mention.get("entity_id") or (labels.get(mention["example_id"]) or [""])[0]
                if not entity:
                    raise DataError(
                        f"{path}: mention {mention['example_id']} has no gold entity (XTREME strips test labels; "
                        "use validation or add wikinews_labels/<split>-<lang>.json)"
                    )
                text = mention_query_text(context["text"], context["sentence_spans"], span["start"], span["end"])
                examples.append(query(mention["example_id"], text, [entity.strip()], language=language))
        examples += [
            candidate(e["entity_id"], _entity_text(e), title=e.get("title", ""), language=e.get("description_language", ""))
            for e in read_jsonl(entities_file)
        ]
    except KeyError as err:
        raise DataError(f"{path}: not Mewsli-X format (no field {err.args[0]!r})") from None
    return Rows(examples, str(path), convert=canonical)


register(Task(
    name="mewslix",
    kind=TaskKind.RETRIEVAL,
    role=Role.TARGET,
    languages=xtreme.all_languages("mewslix"),
    metric=xtreme.TASKS["mewslix"].metric,
    source=DatasetSource(
        convert=canonical,
        splits={"validation": ("validation",), "test": ("test",)},
        readers=(read_mewslix,),
        local_formats="Mewsli-X candidate_set_entities.jsonl + wikinews_mentions/{dev,test}-<lang>.jsonl",
        obtain=(
            "run google-research/xtreme scripts/download_data.sh (download_mewslix), which builds Mewsli-X "
            "with google-research dense_representations_for_entity_retrieval/mel/get-mewsli-x.sh"
        ),
    ),
    description="Mewsli-X: link news mentions in 11 languages to entities of a 50-language candidate set",
    eval_split="validation",
    dev_split="validation",
    benchmarks=xtreme.suites_of("mewslix"),
    hyperparameters=RETRIEVAL_SETTINGS,
    notes=(
        "Local files only. Queries: each mention's sentence with the mention marked and prefixed; candidates: "
        "entity descriptions. XTREME's download strips test gold (kept in wikinews_labels/ only for dev): "
        "evaluate on validation. Scored mAP@20 (= MRR@20 with one gold entity). XTREME-R fine-tunes on English "
        "Wikipedia mention-entity pairs (wikipedia_pairs-train.jsonl) first; the paper's setting embeds with "
        "the intermediate checkpoint."
    ),
))
