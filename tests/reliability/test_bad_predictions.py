"""Prediction files that do not match their gold data, or are damaged: `xstilts evaluate` exits
with code 2 and one stderr line naming the file and what does not match, and prints no score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.evaluation.submission import write_labels, write_submission

from reliability_helpers import assert_user_error, cli


def score(*args: str | Path):
    return cli("evaluate", *args)


def pipeline_rows(n: int = 4) -> str:
    return "".join(json.dumps({"index": i, "prediction": i % 2, "gold": 1}) + "\n" for i in range(n))


def test_fewer_predictions_than_gold(tmp_path: Path) -> None:
    pred = write_submission("pawsx", "fr", ["1", "0"], tmp_path / "p")
    gold = write_labels("pawsx", "fr", ["1", "0", "1"], tmp_path / "g")
    result = score("--task", "pawsx", "--predictions", pred, "--labels", gold)
    assert_user_error(result, str(pred), "2 lines but the gold file", str(gold))
    assert "accuracy" not in result.out


def test_prediction_outside_the_label_set(tmp_path: Path) -> None:
    pred = tmp_path / "p" / "pawsx" / "test-fr.tsv"
    pred.parent.mkdir(parents=True)
    pred.write_text("1\nmaybe\n")
    gold = write_labels("pawsx", "fr", ["1", "0"], tmp_path / "g")
    assert_user_error(score("--task", "pawsx", "--predictions", pred, "--labels", gold), str(pred), "line 2", "'maybe'")


def test_tag_counts_differ_in_a_sentence(tmp_path: Path) -> None:
    pred = write_submission("udpos", "de", [["NOUN", "VERB"]], tmp_path / "p")
    gold = write_labels("udpos", "de", [["NOUN", "VERB", "PUNCT"]], tmp_path / "g")
    assert_user_error(score("--task", "udpos", "--predictions", pred, "--labels", gold), str(pred), "sentence 1 has 2 tags but 3")


def test_qa_predictions_for_other_questions(tmp_path: Path) -> None:
    pred = write_submission("xquad", "de", {"q-other": "1887"}, tmp_path / "p")
    gold = write_labels("xquad", "de", {"q1": ["1887"]}, tmp_path / "g")
    assert_user_error(score("--task", "xquad", "--predictions", pred, "--labels", gold), str(pred), "'q1'")


def test_prediction_file_for_a_language_the_task_lacks(tmp_path: Path) -> None:
    pred = write_submission("pawsx", "fr", ["1"], tmp_path / "p").rename(tmp_path / "test-xx.tsv")
    gold = write_labels("pawsx", "fr", ["1"], tmp_path / "g")
    assert_user_error(score("--task", "pawsx", "--predictions", pred, "--labels", gold), "pawsx: unknown language 'xx'")


def test_gold_file_missing(tmp_path: Path) -> None:
    pred = write_submission("pawsx", "fr", ["1"], tmp_path / "p")
    gold = tmp_path / "g" / "pawsx" / "test-fr.tsv"
    assert_user_error(score("--task", "pawsx", "--predictions", pred, "--labels", gold), str(gold), "file not found")


def test_half_written_pipeline_prediction_file(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "clo.jsonl"
    path.parent.mkdir()
    path.write_text(pipeline_rows() + '{"index": 4, "predic')
    result = score("--task", "syn-para", "--predictions", path)
    assert_user_error(result, str(path), "line 5", "malformed JSON")
    assert "accuracy" not in result.out


def test_pipeline_prediction_file_with_a_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "clo.jsonl"
    path.parent.mkdir()
    path.write_bytes(pipeline_rows().encode() + b'{"index": 4, "prediction": "\xff", "gold": 1}\n')
    assert_user_error(score("--task", "syn-para", "--predictions", path), str(path), "not UTF-8")


def test_pipeline_rows_out_of_order(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "en.jsonl"
    path.parent.mkdir()
    rows = pipeline_rows().splitlines()
    path.write_text("\n".join([rows[0], rows[2], rows[1], rows[3]]) + "\n")
    assert_user_error(score("--task", "syn-para", "--predictions", path), str(path), "line 2", "\"index\" is 2, expected 1")


def test_pipeline_file_scored_as_another_task(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "en.jsonl"
    path.parent.mkdir()
    path.write_text(pipeline_rows())
    assert_user_error(score("--task", "syn-pos", "--predictions", path), str(path), "syn-pos")


def test_the_intact_pipeline_file_scores(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "en.jsonl"
    path.parent.mkdir()
    path.write_text(pipeline_rows())
    result = score("--task", "syn-para", "--predictions", path)
    assert result.code == 0 and "50.00" in result.out, result.err


@pytest.mark.parametrize("missing", ["predictions", "labels"])
def test_submission_folder_lacking_a_language(tmp_path: Path, missing: str) -> None:
    folders = {"predictions": tmp_path / "p", "labels": tmp_path / "g"}
    for lang in ("en", "de"):
        write_submission("pawsx", lang, ["1"], folders["predictions"])
        write_labels("pawsx", lang, ["1"], folders["labels"])
    gone = folders[missing] / "pawsx" / "test-de.tsv"
    gone.unlink()
    result = score("--predictions", folders["predictions"], "--labels", folders["labels"])
    assert_user_error(result, str(gone), "file not found")


# -- duplicated ids: an error naming the id, never "the last one wins" ------------------------------
def test_qa_predictions_with_a_duplicated_question_id(tmp_path: Path) -> None:
    gold = write_labels("xquad", "de", {"q1": ["1887"], "q2": ["Berlin"]}, tmp_path / "g")
    pred = tmp_path / "p" / "xquad" / "test-de.json"
    pred.parent.mkdir(parents=True)
    # Last-one-wins would score 100 (q1 -> "1887"); the first answer is wrong.
    pred.write_text('{"q1": "1066", "q2": "Berlin", "q1": "1887"}', encoding="utf-8")
    result = score("--task", "xquad", "--predictions", pred, "--labels", gold)
    assert_user_error(result, str(pred), "'q1' occurs twice")
    assert "100" not in result.out


@pytest.mark.parametrize("task,gold", [("mewslix", {"m1": ["Q1"], "m2": ["Q2"]}), ("lareqa", {"m1": ["a"], "m2": ["b"]})])
def test_ranking_predictions_with_a_duplicated_query_id(tmp_path: Path, task: str, gold: dict) -> None:
    gold_file = write_labels(task, "de", gold, tmp_path / "g")
    pred = tmp_path / "p" / task / "test-de.json"
    pred.parent.mkdir(parents=True)
    first, second = gold
    pred.write_text(f'{{"{first}": ["x"], "{second}": {gold[second]}, "{first}": {gold[first]}}}'.replace("'", '"'), encoding="utf-8")
    assert_user_error(score("--task", task, "--predictions", pred, "--labels", gold_file), str(pred), f"{first!r} occurs twice")


def test_gold_qa_file_with_a_duplicated_key(tmp_path: Path) -> None:
    pred = write_submission("mewslix", "de", {"m1": ["Q1"]}, tmp_path / "p")
    gold = tmp_path / "g" / "mewslix" / "test-de.json"
    gold.parent.mkdir(parents=True)
    gold.write_text('{"m1": ["Q2"], "m1": ["Q1"]}', encoding="utf-8")
    assert_user_error(score("--task", "mewslix", "--predictions", pred, "--labels", gold), str(gold), "'m1' occurs twice")


def test_xcopa_rows_with_a_repeated_idx(tmp_path: Path) -> None:
    gold = write_labels("xcopa", "et", [0, 1], tmp_path / "g")
    pred = tmp_path / "p" / "xcopa" / "test-et.jsonl"
    pred.parent.mkdir(parents=True)
    pred.write_text('{"idx": 0, "label": 0}\n{"idx": 0, "label": 0}\n', encoding="utf-8")
    assert_user_error(score("--task", "xcopa", "--predictions", pred, "--labels", gold), str(pred), "line 2", '"idx" 0 occurs twice')


def test_xcopa_row_naming_its_label_twice(tmp_path: Path) -> None:
    gold = write_labels("xcopa", "et", [0, 1], tmp_path / "g")
    pred = tmp_path / "p" / "xcopa" / "test-et.jsonl"
    pred.parent.mkdir(parents=True)
    pred.write_text('{"label": 1, "label": 0}\n{"label": 1}\n', encoding="utf-8")
    assert_user_error(score("--task", "xcopa", "--predictions", pred, "--labels", gold), str(pred), "line 1", "'label' occurs twice")


def test_pipeline_rows_with_a_duplicated_id(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "en.jsonl"
    path.parent.mkdir()
    rows = [{"id": "a", "prediction": "x", "gold": ["x"]}, {"id": "b", "prediction": "y", "gold": ["y"]}, {"id": "a", "prediction": "z", "gold": ["x"]}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert_user_error(score("--task", "syn-qa", "--predictions", path), str(path), "line 3", "id 'a' occurs twice")


def test_pipeline_row_naming_a_key_twice(tmp_path: Path) -> None:
    path = tmp_path / "predictions" / "en.jsonl"
    path.parent.mkdir()
    path.write_text('{"index": 0, "prediction": 0, "gold": 1, "prediction": 1}\n')
    assert_user_error(score("--task", "syn-para", "--predictions", path), str(path), "line 1", "'prediction' occurs twice")


# -- a byte-order mark is read as the spec loader reads it ------------------------------------------
BOM = "\ufeff"


def test_bom_in_a_classification_tsv(tmp_path: Path) -> None:
    gold = write_labels("xnli", "de", ["entailment", "neutral"], tmp_path / "g")
    pred = tmp_path / "p" / "xnli" / "test-de.tsv"
    pred.parent.mkdir(parents=True)
    pred.write_text(BOM + "entailment\nneutral\n", encoding="utf-8")
    result = score("--task", "xnli", "--predictions", pred, "--labels", gold)
    assert result.code == 0 and "100.00" in result.out, result.err


def test_bom_in_a_gold_tag_file_and_crlf_line_ends(tmp_path: Path) -> None:
    pred = write_submission("udpos", "de", [["NOUN", "VERB"]], tmp_path / "p")
    gold = tmp_path / "g" / "udpos" / "test-de.tsv"
    gold.parent.mkdir(parents=True)
    gold.write_bytes((BOM + "NOUN\r\nVERB\r\n\r\n").encode("utf-8"))
    result = score("--task", "udpos", "--predictions", pred, "--labels", gold)
    assert result.code == 0 and "100.00" in result.out, result.err


def test_bom_in_qa_json_and_in_a_pipeline_file(tmp_path: Path) -> None:
    gold = write_labels("xquad", "de", {"q1": ["1887"]}, tmp_path / "g")
    pred = tmp_path / "p" / "xquad" / "test-de.json"
    pred.parent.mkdir(parents=True)
    pred.write_text(BOM + '{"q1": "1887"}', encoding="utf-8")
    result = score("--task", "xquad", "--predictions", pred, "--labels", gold)
    assert result.code == 0 and "100.00" in result.out, result.err
    rows = tmp_path / "predictions" / "en.jsonl"
    rows.parent.mkdir()
    rows.write_text(BOM + pipeline_rows(), encoding="utf-8")
    result = score("--task", "syn-para", "--predictions", rows)
    assert result.code == 0 and "50.00" in result.out, result.err


# -- files that are not what they should be ---------------------------------------------------------
def test_json_nested_too_deeply(tmp_path: Path) -> None:
    gold = write_labels("xquad", "de", {"q1": ["1887"]}, tmp_path / "g")
    pred = tmp_path / "p" / "xquad" / "test-de.json"
    pred.parent.mkdir(parents=True)
    pred.write_text("[" * 100_000 + "]" * 100_000)
    assert_user_error(score("--task", "xquad", "--predictions", pred, "--labels", gold), str(pred), "nested too deeply")
    rows = tmp_path / "predictions" / "en.jsonl"
    rows.parent.mkdir()
    rows.write_text('{"index": 0, "prediction": ' + "[" * 100_000 + "]" * 100_000 + ', "gold": 1}\n')
    assert_user_error(score("--task", "syn-para", "--predictions", rows), str(rows), "line 1", "nested too deeply")


def test_a_folder_given_as_the_prediction_file(tmp_path: Path) -> None:
    gold = write_labels("pawsx", "fr", ["1"], tmp_path / "g")
    folder = tmp_path / "p" / "pawsx"
    folder.mkdir(parents=True)
    assert_user_error(score("--task", "pawsx", "--predictions", folder, "--labels", gold, "--language", "fr"), str(folder), "is a folder")


def test_a_device_given_as_the_prediction_file(tmp_path: Path) -> None:
    gold = write_labels("pawsx", "fr", ["1"], tmp_path / "g")
    assert_user_error(score("--task", "pawsx", "--predictions", "/dev/null", "--labels", gold, "--language", "fr"), "/dev/null", "not a regular file")


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_prediction_tsv_in_another_encoding(tmp_path: Path, encoding: str) -> None:
    gold = write_labels("xnli", "fr", ["entailment", "neutral"], tmp_path / "g")
    pred = tmp_path / "p" / "xnli" / "test-fr.tsv"
    pred.parent.mkdir(parents=True)
    pred.write_bytes("entailment\nneutral é\n".encode(encoding))
    assert_user_error(score("--task", "xnli", "--predictions", pred, "--labels", gold), str(pred), "not UTF-8")


def test_empty_prediction_files(tmp_path: Path) -> None:
    gold = write_labels("pawsx", "fr", ["1", "0"], tmp_path / "g")
    pred = tmp_path / "p" / "pawsx" / "test-fr.tsv"
    pred.parent.mkdir(parents=True)
    pred.write_text("")
    assert_user_error(score("--task", "pawsx", "--predictions", pred, "--labels", gold), str(pred), "0 lines but the gold file")
    rows = tmp_path / "predictions" / "en.jsonl"
    rows.parent.mkdir()
    rows.write_text("")
    assert_user_error(score("--task", "syn-para", "--predictions", rows), str(rows), "no predictions (empty file)")


def test_pipeline_file_missing(tmp_path: Path) -> None:
    assert_user_error(score("--task", "syn-para", "--predictions", tmp_path / "nope.jsonl"), "nope.jsonl", "file not found")


def test_json_scores_to_a_path_under_a_file(tmp_path: Path) -> None:
    pred = write_submission("pawsx", "fr", ["1"], tmp_path / "p")
    gold = write_labels("pawsx", "fr", ["1"], tmp_path / "g")
    (tmp_path / "afile").write_text("x")
    result = score("--task", "pawsx", "--predictions", pred, "--labels", gold, "--json", tmp_path / "afile" / "s.json")
    assert_user_error(result, str(tmp_path / "afile" / "s.json"), "is a file, not a folder")
