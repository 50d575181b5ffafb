"""Submission folders: agreement with the official evaluate.py, round trips, and refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.errors import ConfigError, DataError
from xstilts.evaluation.metrics import get_metric
from xstilts.evaluation.submission import (
    read_tag_file,
    score_file,
    score_submission,
    write_labels,
    write_submission,
)

from .generated import DATA, assert_same_numbers, build_folders


@pytest.mark.parametrize("benchmark", ["xtreme", "xtreme-r"])
def test_generated_folders_score_as_the_official_script(tmp_path: Path, benchmark: str) -> None:
    # data/official_<benchmark>.json is the output of google-research/xtreme's evaluate.py
    # (commit 838c13b, seqeval 1.2.2, run outside this repository) on exactly these folders:
    #   python evaluate.py --prediction_folder P --label_folder L --xtreme_version B --output_file O
    # LAReQA is left out: evaluate.py cannot score it.
    predictions, labels = build_folders(tmp_path, benchmark, seed=0, skip=("lareqa",))
    result = score_submission(predictions, labels, benchmark, strict=False)
    official = json.loads((DATA / f"official_{benchmark}.json").read_text())
    assert_same_numbers(result.scores.official(), official)


def test_generated_folders_have_missing_answers_that_strict_scoring_refuses(tmp_path: Path) -> None:
    predictions, labels = build_folders(tmp_path, "xtreme", seed=0)
    with pytest.raises(DataError, match=r"xquad/test-\w+\.json: no prediction for .* --allow-missing"):
        score_submission(predictions, labels, "xtreme")


# --- round trips: write, then score = the metric on the same data ---------------------------

ROUND_TRIPS = {
    "xnli": (["entailment", "neutral", "neutral"], ["entailment", "contradiction", "neutral"], "de"),
    "pawsx": (["1", "0", "1", "1"], ["1", "1", "1", "0"], "fr"),
    "xcopa": ([0, 1, 1], [0, 0, 1], "et"),
    "udpos": ([["NOUN", "VERB"], ["DET", "NOUN", "PUNCT"]], [["NOUN", "NOUN"], ["DET", "NOUN", "PUNCT"]], "de"),
    "panx": ([["B-PER", "I-PER", "O"], ["I-LOC"]], [["B-PER", "I-PER", "O"], ["B-LOC"]], "ja"),
    "xquad": ({"a": "the cat", "b": ""}, {"a": ["Cat", "dog"], "b": ["x"], "c": ["y"]}, "el"),
    "mlqa": ({"a": "长江", "b": "北京"}, {"a": ["长江，黄河"], "b": ["北京"]}, "zh"),
    "tydiqa": ({"a": "Helsinki."}, {"a": ["Helsinki"]}, "fi"),
    "bucc2018": ([("de-1", "en-1"), ("de-2", "en-9")], [("de-1", "en-1"), ("de-2", "en-2")], "de"),
    "tatoeba": ([3, 1, 2], [3, 0, 2], "kk"),
    "mewslix": ({"m1": ["Q2", "Q1"], "m2": [f"Q{i}" for i in range(25)]}, {"m1": ["Q1"], "m2": ["Q22"]}, "ta"),
    "lareqa": ({"q1": ["a", "x", "b"]}, {"q1": ["a", "b"]}, "th"),
}


def _direct(task: str, predictions, references, language: str) -> dict[str, float]:
    from xstilts.tasks.suites import official_task

    if task == "tatoeba":
        predictions = {str(i): [str(p)] for i, p in enumerate(predictions)}
        references = {str(i): [str(g)] for i, g in enumerate(references)}
    return get_metric(official_task(task).metric)(predictions, references, language=language)


@pytest.mark.parametrize("task", sorted(ROUND_TRIPS))
def test_write_then_score_equals_the_metric(tmp_path: Path, task: str) -> None:
    predictions, references, language = ROUND_TRIPS[task]
    pred_file = write_submission(task, language, predictions, tmp_path / "pred")
    gold_file = write_labels(task, language, references, tmp_path / "gold")
    assert pred_file.relative_to(tmp_path / "pred").parts[0] == task
    assert pred_file.name.startswith(f"test-{language}.")
    strict = task not in ("xquad",)  # the xquad case has a question without prediction
    assert score_file(task, pred_file, gold_file, strict=strict) == _direct(task, predictions, references, language)


def test_writing_is_atomic_and_replaces(tmp_path: Path) -> None:
    write_submission("xnli", "en", ["neutral"], tmp_path)
    path = write_submission("XNLI", "en", ["entailment", "neutral"], tmp_path)
    assert path == tmp_path / "xnli" / "test-en.tsv"
    assert path.read_text() == "entailment\nneutral\n"
    assert [p.name for p in path.parent.iterdir()] == ["test-en.tsv"]


def test_writer_maps_label_indices_with_names(tmp_path: Path) -> None:
    path = write_submission("xnli", "en", [2, 0], tmp_path, label_names=["entailment", "neutral", "contradiction"])
    assert path.read_text() == "contradiction\nentailment\n"
    with pytest.raises(DataError, match=r"unknown label '0'.*label_names"):
        write_submission("xnli", "en", [0], tmp_path)
    with pytest.raises(DataError, match="unknown tag 'B-MISC'"):
        write_submission("panx", "en", [["B-MISC"]], tmp_path)
    with pytest.raises(DataError, match="unknown language 'xx'"):
        write_submission("xnli", "xx", ["neutral"], tmp_path)


def test_squad_gold_from_canonical_examples(tmp_path: Path) -> None:
    examples = [{"id": "q1", "context": "Paris is big.", "question": "Where?", "answers": {"text": ["Paris"], "answer_start": [0]}}]
    gold = write_labels("xquad", "en", examples, tmp_path)
    data = json.loads(gold.read_text())
    assert data["data"][0]["paragraphs"][0]["qas"][0]["answers"] == [{"text": "Paris", "answer_start": 0}]
    pred = write_submission("xquad", "en", {"q1": "paris"}, tmp_path / "p")
    assert score_file("xquad", pred, gold) == {"exact_match": 100.0, "f1": 100.0}


# --- files written by hand in the official layout -------------------------------------------


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_tag_files_split_sentences_on_blank_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "t.tsv", "NOUN\nVERB\n\nDET\n\n\nX\n")
    sentences = read_tag_file(path)
    assert sentences.tags == [["NOUN", "VERB"], ["DET"], [], ["X"]]
    assert sentences.first_line == [1, 4, 6, 7]


def test_hand_written_files(tmp_path: Path) -> None:
    pred = write(tmp_path / "p" / "udpos" / "test-en.tsv", "NOUN\nNOUN\n\nSYM\nSYM\n")
    gold = write(tmp_path / "g" / "udpos" / "test-en.tsv", "NOUN\nNOUN\n\nSYM\nPUNCT\n\n")
    # chunks: gold {NOUN 0-1, SYM 3, PUNCT 4}, predicted {NOUN 0-1, SYM 3, SYM 4}: 2 of 3
    assert score_file("udpos", pred, gold)["f1"] == pytest.approx(200 / 3)

    pred = write(tmp_path / "p" / "mewslix" / "test-en.json", json.dumps({"a": ["Q9", "Q2", "Q1"], "b": ["Q9"]}))
    gold = write(tmp_path / "g" / "mewslix" / "test-en.json", json.dumps({"a": [" Q2 ", "Q1"], "b": ["Q9"]}))
    # Mewsli-X reads only the first gold id, stripped: ranks 2 and 1 (all golds: 1/6 and 1;
    # unstripped: 0 and 1)
    assert score_file("mewslix", pred, gold) == {"map@20": pytest.approx(75.0)}

    pred = write(tmp_path / "p" / "xcopa" / "test-it.jsonl", '{"label": 1}\n{"idx": 1, "label": 0}\n')
    gold = write(tmp_path / "g" / "xcopa" / "test-it.jsonl", '{"premise": "p", "label": 1}\n{"label": 1}\n')
    assert score_file("xcopa", pred, gold) == {"accuracy": 50.0}

    pred = write(tmp_path / "p" / "tatoeba" / "test-de.tsv", "3\n07\n1")
    gold = write(tmp_path / "g" / "tatoeba" / "test-de.tsv", "3\n7\n2\n")
    assert score_file("tatoeba", pred, gold) == {"accuracy": pytest.approx(100 / 3)}  # "07" != "7", as official


# --- refusals -------------------------------------------------------------------------------


@pytest.fixture()
def xnli_gold(tmp_path: Path) -> Path:
    return write(tmp_path / "gold" / "xnli" / "test-de.tsv", "entailment\nneutral\ncontradiction\n")


def test_missing_file(tmp_path: Path, xnli_gold: Path) -> None:
    with pytest.raises(DataError, match=r"test-de\.tsv: file not found"):
        score_file("xnli", tmp_path / "nope" / "test-de.tsv", xnli_gold)


def test_wrong_line_count(tmp_path: Path, xnli_gold: Path) -> None:
    pred = write(tmp_path / "p" / "test-de.tsv", "entailment\nneutral\n")
    with pytest.raises(DataError, match=r"p/test-de\.tsv: 2 lines but the gold file .* has 3"):
        score_file("xnli", pred, xnli_gold)


def test_unknown_label_names_file_and_line(tmp_path: Path, xnli_gold: Path) -> None:
    pred = write(tmp_path / "p" / "test-de.tsv", "entailment\n1\nneutral\n")
    with pytest.raises(DataError, match=r"test-de\.tsv line 2: unknown label '1' for xnli"):
        score_file("xnli", pred, xnli_gold)


def test_unknown_language(tmp_path: Path, xnli_gold: Path) -> None:
    pred = write(tmp_path / "p" / "test-de.tsv", "entailment\nneutral\nneutral\n")
    with pytest.raises(DataError, match="xnli: unknown language 'ja'"):
        score_file("xnli", pred, xnli_gold, language="ja")


def test_mlqa_needs_a_language(tmp_path: Path) -> None:
    pred = write(tmp_path / "p.json", "{}")
    gold = write(tmp_path / "g.json", '{"data": []}')
    with pytest.raises(ConfigError, match="answer language is needed"):
        score_file("mlqa", pred, gold)


def test_tag_sentence_of_wrong_length_names_the_line(tmp_path: Path) -> None:
    pred = write(tmp_path / "p" / "test-en.tsv", "O\n\nB-PER\nO\n\n")
    gold = write(tmp_path / "g" / "test-en.tsv", "O\n\nB-PER\nI-PER\nO\n\n")
    with pytest.raises(DataError, match=r"p/test-en\.tsv line 3: sentence 2 has 2 tags but 3 in the gold file .* \(line 3\)"):
        score_file("panx", pred, gold)


def test_malformed_json_names_file_and_line(tmp_path: Path) -> None:
    gold = write(tmp_path / "g" / "test-en.json", '{"data": []}')
    pred = write(tmp_path / "p" / "test-en.json", '{\n"a": "x",\n}')
    with pytest.raises(DataError, match=r"p/test-en\.json: malformed JSON at line 3"):
        score_file("xquad", pred, gold)
    pred = write(tmp_path / "p" / "test-et.jsonl", '{"label": 1}\n{"label": \n')
    gold = write(tmp_path / "g" / "test-et.jsonl", '{"label": 1}\n{"label": 0}\n')
    with pytest.raises(DataError, match=r"p/test-et\.jsonl line 2: malformed JSON"):
        score_file("xcopa", pred, gold)


def test_qa_ids_must_match_in_strict_mode(tmp_path: Path) -> None:
    gold = write_labels("xquad", "en", {"a": ["x"], "b": ["y"]}, tmp_path / "g")
    pred = write_submission("xquad", "en", {"a": "x"}, tmp_path / "p")
    with pytest.raises(DataError, match=r"no prediction for 1 of 2 gold ids, e\.g\. 'b'"):
        score_file("xquad", pred, gold)
    assert score_file("xquad", pred, gold, strict=False) == {"exact_match": 50.0, "f1": 50.0}
    pred = write_submission("xquad", "en", {"a": "x", "b": "y", "zz": "?"}, tmp_path / "p")
    with pytest.raises(DataError, match="prediction for id 'zz'"):
        score_file("xquad", pred, gold)


def test_malformed_gold_and_predictions(tmp_path: Path) -> None:
    gold = write(tmp_path / "g" / "test-en.json", json.dumps({"data": [{"paragraphs": [{"qas": [{"id": "a", "answers": []}]}]}]}))
    pred = write(tmp_path / "p" / "test-en.json", json.dumps({"a": "x"}))
    with pytest.raises(DataError, match="question 'a' has no gold answers"):
        score_file("tydiqa", pred, gold)
    pred = write(tmp_path / "p" / "test-ar.json", json.dumps({"m": "Q1"}))
    gold = write(tmp_path / "g" / "test-ar.json", json.dumps({"m": ["Q1"]}))
    with pytest.raises(DataError, match="entry 'm' should be a list"):
        score_file("mewslix", pred, gold)
    pred = write(tmp_path / "p" / "test-fr.tsv", "fr-1 en-1\n")
    gold = write(tmp_path / "g" / "test-fr.tsv", "fr-1\ten-1\n")
    with pytest.raises(DataError, match=r"test-fr\.tsv line 1: expected 'source id<TAB>target id'"):
        score_file("bucc2018", pred, gold)
    pred = write(tmp_path / "p" / "test-hu.tsv", "[12]\n")
    gold = write(tmp_path / "g" / "test-hu.tsv", "12\n")
    with pytest.raises(DataError, match=r"test-hu\.tsv line 1: expected a sentence index"):
        score_file("tatoeba", pred, gold)


def test_submission_needs_every_language_of_a_task(tmp_path: Path) -> None:
    for lang in ("de", "en", "es", "fr", "ja", "ko"):  # no zh
        write_submission("pawsx", lang, ["1"], tmp_path / "p")
        write_labels("pawsx", lang, ["1"], tmp_path / "g")
    write_labels("pawsx", "zh", ["1"], tmp_path / "g")
    with pytest.raises(DataError, match=r"pawsx/test-zh\.tsv: file not found .*needs every language"):
        score_submission(tmp_path / "p", tmp_path / "g", "xtreme")


def test_submission_reports_skipped_tasks_and_extra_files(tmp_path: Path) -> None:
    for lang in ("de", "en", "es", "fr", "ja", "ko", "zh"):
        write_submission("pawsx", lang, ["1", "0"], tmp_path / "p")
        write_labels("pawsx", lang, ["1", "1"], tmp_path / "g")
    write(tmp_path / "p" / "pawsx" / "test-it.tsv", "1\n")  # Italian is not part of PAWS-X
    write_submission("xnli", "en", ["neutral"], tmp_path / "p")
    result = score_submission(tmp_path / "p", tmp_path / "g", "xtreme")
    assert result.scores.tasks["pawsx"].headline == 50.0
    assert result.skipped_tasks["xnli"] == "no xnli/ folder in the labels"
    assert result.extra_files == (str(tmp_path / "p" / "pawsx" / "test-it.tsv"),)
    assert result.scores.groups == {} and result.scores.overall is None
