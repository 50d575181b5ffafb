"""Prediction files that do not match their gold data, or are damaged: `xstilts evaluate` exits
with code 2 and one stderr line naming the file and what does not match, and prints no score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import assert_user_error, cli

from xstilts.evaluation.submission import write_labels, write_submission


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
