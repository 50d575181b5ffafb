"""XTREME / XTREME-R submission folders: reading, scoring against gold, and writing.

Layout (as google-research/xtreme's evaluate.py reads it): `<folder>/<task>/test-<lang>.<ext>`,
the same for predictions and gold labels.

  task              ext    predictions                                gold labels
  xnli, pawsx       tsv    one label per line                         same
  udpos, panx       tsv    one tag per line, blank line after each     same
                           sentence
  xquad,mlqa,tydiqa json   {"question id": "answer text"}             SQuAD v1.1 json ({"data": [...]})
  bucc2018          tsv    "source id<TAB>target id" per mined pair   gold pairs, same format
  tatoeba           tsv    per English sentence, the index of the     index of its translation
                           retrieved source sentence
  xcopa             jsonl  {"label": 0|1} per line                    XCOPA rows with "label"
  mewslix           json   {"mention id": [entity ids, best first]}   {"mention id": [gold entity id]}
  lareqa            json   {"question id": [candidate ids, best ...]} {"question id": [gold ids]}

Other xstilts tasks (the synthetic benchmark's, or any registered task) are laid out like the
official task their kind names for them (`KindHandler.submission_layout`, `file_format`):
classification like xnli (label names), multiple choice like xcopa, tagging like udpos, span
extraction like xquad, retrieval by its metric like tatoeba (tatoeba_accuracy), bucc2018
(bucc_f1) or lareqa (map_at_20, retrieval_accuracy), in a folder named after the task and scored
with the task's own metric.

Scoring is the official one (see `xstilts.evaluation.metrics`). Unlike the official script,
anything that would give a silently wrong score raises `DataError` naming the file (and line):
missing files, different line or sentence counts, malformed JSON, labels that are neither known
for the task nor in the gold file, ids that do not match. The official script gives a question
without a prediction a score of 0 (QA, Mewsli-X, LAReQA); pass `strict=False` to get exactly that.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from xstilts.data.loading import all_languages
from xstilts.errors import ConfigError, DataError, UnknownNameError
from xstilts.evaluation.aggregate import BenchmarkScore, benchmark_score
from xstilts.evaluation.metrics import get_metric
from xstilts.io import DuplicateKey, duplicate_key_error, loads_unique, make_parent, read_utf8
from xstilts.kinds import handler_for
from xstilts.tasks import all_tasks
from xstilts.tasks.suites import canonical_task, get_suite, official_task, task_languages

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class FileFormat:
    """What one task folder holds and how it is scored."""

    task: str  # folder name: the official task name, or the xstilts task name
    layout: str  # the official task whose file format it has
    metric: str  # metric registry name
    languages: tuple[str, ...]
    labels: tuple[str, ...] = ()  # the labels / tags a file may hold besides those in its gold file
    choices: int | None = None  # multiple choice: the number of choices
    label_values: tuple[str, ...] = ()  # label index -> the value a file holds, where not the label name

    @property
    def suffix(self) -> str:
        return official_task(self.layout).submission.suffix

    @property
    def official(self) -> bool:
        try:
            return canonical_task(self.task) == self.task
        except UnknownNameError:
            return False


def file_format(task: str) -> FileFormat:
    """The format of a task's files: official XTREME names (any common spelling) first, then
    registered xstilts tasks (e.g. the synthetic benchmark's syn-para)."""
    try:
        name = canonical_task(task)
    except UnknownNameError as official_error:
        registered = _registered_task(task)
        if registered is None:
            raise official_error from None
        return _xstilts_format(registered, official_error)
    facts = official_task(name)
    files = facts.submission
    return FileFormat(name, facts.layout, facts.metric, task_languages(name), files.labels, files.choices, files.label_values)


def _registered_task(name: str) -> Any:

    return next((t for t in all_tasks() if t.name == name), None)


def _xstilts_format(task: Any, official_error: Exception) -> FileFormat:
    layout = handler_for(task).submission_layout(task)
    if layout is None:
        raise ConfigError(f"{task.name}: no submission layout for a {task.kind.value} task scored by {task.metric}")
    return FileFormat(task.name, layout, task.metric, all_languages(task), tuple(task.labels), task.num_choices)


def file_name(task: str, language: str) -> str:
    return f"test-{language}.{file_format(task).suffix}"


# --- reading --------------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    """Lines as iterating over a text file gives them (\n, \r\n or \r; no empty last line)."""
    if not text:
        return []
    lines = text.split("\n")  # read_text already turned \r\n and \r into \n
    return lines[:-1] if lines[-1] == "" else lines


def read_lines(path: Path) -> list[str]:
    """Every line, stripped (a final newline does not make an extra empty line)."""
    return [line.strip() for line in _split_lines(read_utf8(path))]


@dataclass(frozen=True)
class Sentences:
    tags: list[list[str]]
    first_line: list[int]  # 1-based line of each sentence's first tag (or of its blank line)


def read_tag_file(path: Path) -> Sentences:
    """Tags one per line, sentences separated by a blank line (two blank lines: an empty sentence)."""
    tags: list[list[str]] = []
    first_line: list[int] = []
    current: list[str] = []
    start = 1
    for number, line in enumerate(read_lines(path), start=1):
        if line:
            if not current:
                start = number
            current.append(line)
        else:
            tags.append(current)
            first_line.append(start if current else number)
            current = []
    if current:
        tags.append(current)
        first_line.append(start)
    return Sentences(tags, first_line)


def read_json(path: Path) -> Any:
    """A JSON file; an object naming a key twice (a question id, a mention id) is an error, not
    silently its last value."""
    try:
        return loads_unique(read_utf8(path))
    except json.JSONDecodeError as err:
        raise DataError(f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}") from None
    except DuplicateKey as err:
        raise duplicate_key_error(str(path), err) from None


def read_jsonl(path: Path) -> list[Any]:
    rows = []
    for number, line in enumerate(_split_lines(read_utf8(path)), start=1):
        try:
            rows.append(loads_unique(line))
        except json.JSONDecodeError as err:
            raise DataError(f"{path} line {number}: malformed JSON: {err.msg}") from None
        except DuplicateKey as err:
            raise duplicate_key_error(f"{path} line {number}", err) from None
    return rows


def read_squad_gold(path: Path) -> dict[str, list[str]]:
    """question id -> gold answer texts, from a SQuAD v1.1 file ({"data": [articles]} or [articles])."""
    data = read_json(path)
    articles = data.get("data") if isinstance(data, dict) else data
    if not isinstance(articles, list):
        raise DataError(f"{path}: expected SQuAD format, a list of articles under 'data'")
    gold: dict[str, list[str]] = {}
    for a, article in enumerate(articles):
        paragraphs = article.get("paragraphs") if isinstance(article, dict) else None
        if not isinstance(paragraphs, list):
            raise DataError(f"{path}: article {a} has no list 'paragraphs'")
        for paragraph in paragraphs:
            qas = paragraph.get("qas") if isinstance(paragraph, dict) else None
            if not isinstance(qas, list):
                raise DataError(f"{path}: article {a} has a paragraph without a list 'qas'")
            for qa in qas:
                _add_squad_question(gold, qa, path)
    return gold


def _add_squad_question(gold: dict[str, list[str]], qa: Any, path: Path) -> None:
    if not isinstance(qa, dict) or not isinstance(qa.get("id"), str):
        raise DataError(f"{path}: a question has no string 'id'")
    qid = qa["id"]
    answers = qa.get("answers")
    if not isinstance(answers, list) or not answers:
        raise DataError(f"{path}: question {qid!r} has no gold answers")
    texts = [ans.get("text") if isinstance(ans, dict) else None for ans in answers]
    if not all(isinstance(t, str) for t in texts):
        raise DataError(f"{path}: question {qid!r} has an answer without a string 'text'")
    if qid in gold:
        raise DataError(f"{path}: question id {qid!r} occurs twice")
    gold[qid] = texts  # type: ignore[assignment]


def read_id_map(path: Path, value: str) -> dict[str, Any]:
    data = read_json(path)
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object mapping ids to {value}")
    return data


def _string_map(path: Path) -> dict[str, str]:
    data = read_id_map(path, "answer strings")
    for qid, answer in data.items():
        if not isinstance(answer, str):
            raise DataError(f"{path}: answer for {qid!r} should be a string, got {type(answer).__name__}")
    return data


def _id_list_map(path: Path, what: str) -> dict[str, list[str]]:
    data = read_id_map(path, f"lists of {what} ids")
    for qid, ids in data.items():
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise DataError(f"{path}: entry {qid!r} should be a list of {what} id strings")
    return data


def _pairs(path: Path) -> list[tuple[str, str]]:
    """BUCC pairs; a repeated line counts once (the official scoring takes sets), so it is kept."""
    pairs = []
    for number, line in enumerate(read_lines(path), start=1):
        fields = line.split("\t")
        if len(fields) != 2 or not all(f.strip() for f in fields):
            raise DataError(f"{path} line {number}: expected 'source id<TAB>target id', got {line!r}")
        pairs.append((fields[0].strip(), fields[1].strip()))
    return pairs


# --- aligning predictions with gold ---------------------------------------------------------


def _check_same_count(pred_path: Path, n_pred: int, gold_path: Path, n_gold: int, unit: str) -> None:
    if n_pred != n_gold:
        raise DataError(f"{pred_path}: {n_pred} {unit} but the gold file {gold_path} has {n_gold}")


def _check_labels(task: str, path: Path, labels: Iterable[tuple[int, str]], allowed: set[str]) -> None:
    for number, label in labels:
        if label not in allowed:
            shown = ", ".join(sorted(allowed)[:20])
            raise DataError(f"{path} line {number}: unknown label {label!r} for {task} (expected one of {shown})")


def _align_labels(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[list, list]:
    predictions, gold = read_lines(pred_path), read_lines(gold_path)
    _check_same_count(pred_path, len(predictions), gold_path, len(gold), "lines")
    allowed = set(fmt.labels) | set(gold)
    _check_labels(fmt.task, pred_path, enumerate(predictions, start=1), allowed)
    return predictions, gold


def _align_tags(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[list, list]:
    predictions, gold = read_tag_file(pred_path), read_tag_file(gold_path)
    _check_same_count(pred_path, len(predictions.tags), gold_path, len(gold.tags), "sentences")
    for n, (p, g) in enumerate(zip(predictions.tags, gold.tags)):
        if len(p) != len(g):
            raise DataError(
                f"{pred_path} line {predictions.first_line[n]}: sentence {n + 1} has {len(p)} tags "
                f"but {len(g)} in the gold file {gold_path} (line {gold.first_line[n]})"
            )
    allowed = set(fmt.labels) | {t for sentence in gold.tags for t in sentence}
    numbered = (
        (predictions.first_line[n] + i, tag)
        for n, sentence in enumerate(predictions.tags)
        for i, tag in enumerate(sentence)
    )
    _check_labels(fmt.task, pred_path, numbered, allowed)
    return predictions.tags, gold.tags


def _check_ids(pred_path: Path, predicted: Mapping[str, Any], gold_path: Path, gold: Mapping[str, Any], strict: bool) -> None:
    if not gold:
        raise DataError(f"{gold_path}: no gold examples")
    if not strict:
        return
    missing = [i for i in gold if i not in predicted]
    if missing:
        raise DataError(
            f"{pred_path}: no prediction for {len(missing)} of {len(gold)} gold ids, e.g. {missing[0]!r} "
            f"(gold {gold_path}; strict=False / --allow-missing scores them 0 as the official script)"
        )
    unknown = [i for i in predicted if i not in gold]
    if unknown:
        raise DataError(f"{pred_path}: prediction for id {unknown[0]!r}, which the gold file {gold_path} does not have")


def _align_qa(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[dict, dict]:
    predictions, gold = _string_map(pred_path), read_squad_gold(gold_path)
    _check_ids(pred_path, predictions, gold_path, gold, strict)
    return predictions, gold


def _align_bucc(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[list, list]:
    predictions, gold = _pairs(pred_path), _pairs(gold_path)
    if not gold:
        raise DataError(f"{gold_path}: no gold pairs")
    return predictions, gold


def _align_tatoeba(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[dict, dict]:
    predictions, gold = read_lines(pred_path), read_lines(gold_path)
    _check_same_count(pred_path, len(predictions), gold_path, len(gold), "lines")
    for path, lines in ((pred_path, predictions), (gold_path, gold)):
        for number, line in enumerate(lines, start=1):
            if not line.isdigit():
                raise DataError(f"{path} line {number}: expected a sentence index (a non-negative integer), got {line!r}")
    # Compared as strings, as the official script does.
    return (
        {str(i): [p] for i, p in enumerate(predictions)},
        {str(i): [g] for i, g in enumerate(gold)},
    )


def _choice_range(choices: int | None) -> str:
    return "0 or 1" if choices == 2 else f"0..{choices - 1}" if choices else "a choice index"


def _is_choice(label: Any, choices: int | None) -> TypeGuard[int]:
    if not isinstance(label, int) or isinstance(label, bool) or label < 0:
        return False
    return choices is None or label < choices


def _xcopa_labels(path: Path, choices: int | None) -> list[int]:
    """Labels in line order; rows are aligned by line, so an "idx" given twice means a row was
    repeated (and, with the counts equal, another one lost)."""
    labels = []
    seen: dict[Any, int] = {}
    for number, row in enumerate(read_jsonl(path), start=1):
        label = row.get("label") if isinstance(row, dict) else None
        if not _is_choice(label, choices):
            raise DataError(f"{path} line {number}: expected a JSON object with \"label\": {_choice_range(choices)}")
        idx = row.get("idx")
        if idx is not None:
            key = json.dumps(idx)
            if key in seen:
                raise DataError(f"{path} line {number}: \"idx\" {key} occurs twice (first on line {seen[key]})")
            seen[key] = number
        labels.append(label)
    return labels


def _align_xcopa(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[list, list]:
    predictions, gold = _xcopa_labels(pred_path, fmt.choices), _xcopa_labels(gold_path, fmt.choices)
    _check_same_count(pred_path, len(predictions), gold_path, len(gold), "lines")
    return predictions, gold


def _align_ranking(fmt: FileFormat, pred_path: Path, gold_path: Path, strict: bool) -> tuple[dict, dict]:
    predictions = _id_list_map(pred_path, "candidate")
    gold = _id_list_map(gold_path, "gold")
    for qid, ids in gold.items():
        if not ids:
            raise DataError(f"{gold_path}: entry {qid!r} has no gold id")
    if fmt.layout == "mewslix":
        # Official Mewsli-X: one gold entity per mention, the first of the list, stripped.
        gold = {qid: [ids[0].strip()] for qid, ids in gold.items()}
    _check_ids(pred_path, predictions, gold_path, gold, strict)
    return predictions, gold


_ALIGN: dict[str, Callable[[FileFormat, Path, Path, bool], tuple[Any, Any]]] = {
    "xnli": _align_labels,
    "pawsx": _align_labels,
    "udpos": _align_tags,
    "panx": _align_tags,
    "xquad": _align_qa,
    "mlqa": _align_qa,
    "tydiqa": _align_qa,
    "bucc2018": _align_bucc,
    "tatoeba": _align_tatoeba,
    "xcopa": _align_xcopa,
    "mewslix": _align_ranking,
    "lareqa": _align_ranking,
}


# --- scoring --------------------------------------------------------------------------------


def check_language(task: str | FileFormat, language: str) -> None:
    fmt = task if isinstance(task, FileFormat) else file_format(task)
    if language not in fmt.languages:
        raise DataError(f"{fmt.task}: unknown language {language!r}; {fmt.task} has {', '.join(fmt.languages)}")


def score_file(
    task: str,
    predictions: str | Path,
    labels: str | Path,
    language: str | None = None,
    *,
    strict: bool = True,
) -> dict[str, float]:
    """Score one prediction file against its gold file with the task's official metric.

    `language` is needed for MLQA (its normalisation depends on it); when not given it is read
    from a file name of the form test-<lang>.<ext>.
    """
    fmt = file_format(task)
    pred_path, gold_path = Path(predictions), Path(labels)
    language = language or language_from_file_name(pred_path) or language_from_file_name(gold_path)
    metric = get_metric(fmt.metric)
    if language is not None:
        check_language(fmt, language)
    elif "language" in metric.required:
        raise ConfigError(f"{fmt.task}: the answer language is needed; pass --language or name the file test-<lang>.{fmt.suffix}")
    for path in (pred_path, gold_path):
        if path.is_dir():
            raise DataError(f"{path}: is a folder; with --task give one file (a submission folder is scored without --task)")
        if not path.is_file():
            raise DataError(f"{path}: " + ("not a regular file" if path.exists() else "file not found"))
    preds, refs = _ALIGN[fmt.layout](fmt, pred_path, gold_path, strict)
    return metric(preds, refs, language=language)


def language_from_file_name(path: Path) -> str | None:
    name = path.name
    if not name.startswith("test-") or "." not in name:
        return None
    return name[len("test-") : name.index(".")] or None


@dataclass(frozen=True)
class SubmissionScore:
    scores: BenchmarkScore
    per_language: dict[str, dict[str, dict[str, float]]]  # task -> language -> metric -> value
    skipped_tasks: dict[str, str]  # task -> why it was not scored
    extra_files: tuple[str, ...]  # files in scored task folders that the benchmark does not read


def score_submission(
    predictions_dir: str | Path,
    labels_dir: str | Path,
    benchmark: str = "xtreme",
    *,
    strict: bool = True,
) -> SubmissionScore:
    """Score every task present in both folders, as evaluate.py does, and aggregate.

    A task folder missing on either side is skipped (and reported); a language file missing in a
    task that is scored raises `DataError`, as the official script refuses it too.
    """
    bench = get_suite(benchmark)
    pred_root, gold_root = Path(predictions_dir), Path(labels_dir)
    for root in (pred_root, gold_root):
        if not root.is_dir():
            raise DataError(f"{root}: not a folder")
    per_language: dict[str, dict[str, dict[str, float]]] = {}
    skipped: dict[str, str] = {}
    extra: list[str] = []
    for task, languages in bench.languages.items():
        pred_dir, gold_dir = pred_root / task, gold_root / task
        if not pred_dir.is_dir() or not gold_dir.is_dir():
            side = "predictions" if not pred_dir.is_dir() else "labels"
            skipped[task] = f"no {task}/ folder in the {side}"
            continue
        expected = {file_name(task, lang) for lang in languages}
        extra.extend(
            str(p) for p in sorted(pred_dir.iterdir()) if p.name.startswith("test-") and p.name not in expected
        )
        per_language[task] = {}
        for lang in languages:
            pred_file, gold_file = pred_dir / file_name(task, lang), gold_dir / file_name(task, lang)
            for path in (pred_file, gold_file):
                if not path.is_file():
                    raise DataError(f"{path}: file not found ({bench.name} {task} needs every language: {', '.join(languages)})")
            per_language[task][lang] = score_file(task, pred_file, gold_file, lang, strict=strict)
    for name in extra:
        log.warning("%s: not part of %s, ignored", name, bench.name)
    scores = benchmark_score(per_language, bench)
    return SubmissionScore(scores, per_language, skipped, tuple(extra))


# --- writing --------------------------------------------------------------------------------


def write_submission(
    task_dir_name: str,
    language: str,
    predictions: Any,
    out_dir: str | Path,
    *,
    label_names: Sequence[str] | None = None,
) -> Path:
    """Write one task-language prediction file in the official layout; return its path.

    predictions, per task (the formats of `xstilts.evaluation.metrics`):
      xnli, pawsx   list of label names, or of label indices with `label_names`
      xcopa         list of choice indices (0 or 1)
      udpos, panx   list of tag-name lists, one per sentence
      xquad, mlqa, tydiqa   {question id: answer text}
      bucc2018      {source id: [target ids]} or an iterable of (source id, target id)
      tatoeba       list of source-sentence indices, one per English sentence, or
                    {"<english index>": [source indices, best first]}
      mewslix, lareqa       {query id: [candidate ids, best first]}
    Other xstilts tasks: as the official task of their layout (see `file_format`).
    """
    fmt = file_format(task_dir_name)
    check_language(fmt, language)
    path = Path(out_dir) / fmt.task / f"test-{language}.{fmt.suffix}"
    _atomic_write(path, _FORMAT_PREDICTIONS[fmt.layout](fmt, predictions, label_names))
    return path


def write_labels(
    task_dir_name: str,
    language: str,
    references: Any,
    out_dir: str | Path,
    *,
    label_names: Sequence[str] | None = None,
) -> Path:
    """Write one gold file in the official layout (to score dev sets like a submission).

    references, per task: as `write_submission`, except QA (a {question id: [answer texts]} map,
    or canonical span-extraction examples with id, context, question and answers), BUCC (gold
    pairs), Tatoeba (the index of each English sentence's translation) and Mewsli-X / LAReQA
    ({query id: [gold ids]}).
    """
    fmt = file_format(task_dir_name)
    check_language(fmt, language)
    path = Path(out_dir) / fmt.task / f"test-{language}.{fmt.suffix}"
    formatter = _FORMAT_LABELS.get(fmt.layout, _FORMAT_PREDICTIONS[fmt.layout])
    _atomic_write(path, formatter(fmt, references, label_names))
    return path


def _atomic_write(path: Path, text: str) -> None:
    make_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _one_line_value(value: Any, what: str, index: int) -> str:
    text = str(value)
    if not text.strip() or any(ch in text for ch in "\t\n\r"):
        raise DataError(f"{what} {index}: {text!r} cannot be written as one line")
    return text.strip()


def _label_text(fmt: FileFormat, value: Any, label_names: Sequence[str] | None, index: int) -> str:
    task = fmt.task
    if label_names is not None and isinstance(value, int) and not isinstance(value, bool):
        if not 0 <= value < len(label_names):
            raise DataError(f"{task} prediction {index}: label index {value} outside 0..{len(label_names) - 1}")
        value = label_names[value]
    text = _one_line_value(value, f"{task} prediction", index)
    known = fmt.labels
    if known and text not in known:
        hint = " (pass label_names= to map indices to names)" if text.isdigit() else ""
        raise DataError(f"{task} prediction {index}: unknown label {text!r}, expected one of {', '.join(known)}{hint}")
    return text


def _format_labels(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    return "".join(_label_text(fmt, p, label_names, i) + "\n" for i, p in enumerate(_sequence(predictions, task)))


def _format_tags(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    known = fmt.labels
    lines: list[str] = []
    for n, sentence in enumerate(_sequence(predictions, task)):
        for tag in _sequence(sentence, f"{task} sentence {n}"):
            text = _one_line_value(tag, f"{task} sentence", n)
            if known and text not in known:
                raise DataError(f"{task} sentence {n}: unknown tag {text!r}, expected one of {', '.join(known)}")
            lines.append(text + "\n")
        lines.append("\n")
    return "".join(lines)


def _format_xcopa(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    rows = []
    for i, label in enumerate(_sequence(predictions, task)):
        if not _is_choice(label, fmt.choices):
            raise DataError(f"{task} prediction {i}: expected choice index {_choice_range(fmt.choices)}, got {label!r}")
        rows.append(json.dumps({"idx": i, "label": int(label)}) + "\n")
    return "".join(rows)


def _format_answers(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    if not isinstance(predictions, Mapping):
        raise DataError(f"{task}: predictions should be a mapping question id -> answer text")
    for qid, answer in predictions.items():
        if not isinstance(answer, str):
            raise DataError(f"{task}: answer for {qid!r} should be a string, got {type(answer).__name__}")
    return json.dumps({str(k): v for k, v in predictions.items()}, ensure_ascii=False, indent=1) + "\n"


def _format_pairs(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    if isinstance(predictions, Mapping):
        pairs = [(src, trg) for src, trgs in predictions.items() for trg in _sequence(trgs, f"{task} {src}")]
    else:
        pairs = list(predictions)
    lines = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise DataError(f"{task} pair {i}: expected (source id, target id), got {pair!r}")
        lines.append(f"{_one_line_value(pair[0], 'bucc2018 pair', i)}\t{_one_line_value(pair[1], 'bucc2018 pair', i)}\n")
    return "".join(lines)


def _format_indices(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    if isinstance(predictions, Mapping):
        ordered = []
        for i in range(len(predictions)):
            ranked = predictions.get(str(i), predictions.get(i))
            if not ranked:
                raise DataError(f"{task}: no prediction for English sentence {i} (keys must be 0..{len(predictions) - 1})")
            ordered.append(ranked[0])
        predictions = ordered
    lines = []
    for i, value in enumerate(_sequence(predictions, task)):
        text = str(value).strip()
        if not text.isdigit():
            raise DataError(f"{task} prediction {i}: expected a sentence index, got {value!r}")
        lines.append(text + "\n")
    return "".join(lines)


def _format_rankings(fmt: FileFormat, predictions: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    if not isinstance(predictions, Mapping):
        raise DataError(f"{task}: predictions should be a mapping query id -> list of candidate ids")
    out = {}
    for qid, ids in predictions.items():
        ids = list(_sequence(ids, f"{task} {qid}"))
        if not all(isinstance(i, str) for i in ids):
            raise DataError(f"{task}: ids for {qid!r} should be strings")
        out[str(qid)] = ids
    return json.dumps(out, ensure_ascii=False) + "\n"


def _format_squad_gold(fmt: FileFormat, references: Any, label_names: Sequence[str] | None) -> str:
    task = fmt.task
    if isinstance(references, Mapping):
        paragraphs = [
            {"context": "", "qas": [{"id": str(qid), "question": "", "answers": _answers(qid, texts)}]}
            for qid, texts in references.items()
        ]
    else:
        paragraphs = []
        for ex in references:
            answers = ex["answers"]
            paragraphs.append({
                "context": ex["context"],
                "qas": [{
                    "id": str(ex["id"]),
                    "question": ex.get("question", ""),
                    "answers": [
                        {"text": t, "answer_start": s} for t, s in zip(answers["text"], answers["answer_start"])
                    ],
                }],
            })
    data = {"version": "1.1", "data": [{"title": task, "paragraphs": paragraphs}]}
    return json.dumps(data, ensure_ascii=False, indent=1) + "\n"


def _answers(qid: str, texts: Any) -> list[dict[str, Any]]:
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise DataError(f"gold answers of {qid!r} should be a non-empty list of strings")
    return [{"text": t, "answer_start": -1} for t in texts]


def _sequence(value: Any, what: str) -> Sequence:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence | Iterable):
        raise DataError(f"{what}: expected a list, got {type(value).__name__}")
    return value if isinstance(value, Sequence) else list(value)


_FORMAT_PREDICTIONS: dict[str, Callable[[FileFormat, Any, Sequence[str] | None], str]] = {
    "xnli": _format_labels,
    "pawsx": _format_labels,
    "udpos": _format_tags,
    "panx": _format_tags,
    "xquad": _format_answers,
    "mlqa": _format_answers,
    "tydiqa": _format_answers,
    "bucc2018": _format_pairs,
    "tatoeba": _format_indices,
    "xcopa": _format_xcopa,
    "mewslix": _format_rankings,
    "lareqa": _format_rankings,
}
_FORMAT_LABELS: dict[str, Callable[[FileFormat, Any, Sequence[str] | None], str]] = {
    "xquad": _format_squad_gold,
    "mlqa": _format_squad_gold,
    "tydiqa": _format_squad_gold,
}
