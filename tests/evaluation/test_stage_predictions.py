"""The pipeline's own prediction files (<stage>/predictions/<lang>.jsonl): reading, scoring, and
`xstilts evaluate --task T --predictions <lang>.jsonl` (gold inside the file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.cli import main
from xstilts.errors import DataError
from xstilts.evaluation.metrics import get_metric
from xstilts.evaluation.per_example import per_example_scores
from xstilts.evaluation.predict import Evaluation
from xstilts.evaluation.stage_predictions import (
    is_prediction_rows_file,
    read_prediction_rows,
    score_prediction_rows,
)
from xstilts.experiments.stages import _prediction_rows
from xstilts.io import write_jsonl
from xstilts.tasks import get_task


def stage_file(path: Path, task: str, predictions, references, language: str) -> tuple[Path, dict[str, float]]:
    """Write predictions as an evaluate stage does; return the file and the scores it stored."""
    metric = get_metric(get_task(task).metric)
    scores = metric(predictions, references, language=language)
    result = Evaluation(task, scores, metric.primary, predictions, references, len(references),
                        per_example=per_example_scores(metric, predictions, references, language))
    write_jsonl(path, _prediction_rows(result))
    return path, scores


CASES = {
    "syn-para": ([1, 0, 1, 1], [1, 1, 1, 0], "clo"),
    "syn-pos": ([["DET", "NOUN"], ["PROPN", "VERB", "PUNCT"]], [["DET", "NOUN"], ["PROPN", "AUX", "PUNCT"]], "ord"),
    "syn-qa": ({"0": "the dog", "1": "Felix"}, {"0": ["a dog"], "1": ["Hugo"]}, "scr"),
    "syn-tatoeba": ({"en-0": ["clo-1"], "en-1": ["clo-1"]}, {"en-0": ["clo-0"], "en-1": ["clo-1"]}, "clo"),
    "mlqa": ({"a": "长江", "b": "北京"}, {"a": ["长江，黄河"], "b": ["北京"]}, "zh"),
    "bucc2018": ({"de-1": ["en-1"], "de-2": [], "de-3": ["en-9"]}, {"de-1": ["en-1"], "de-2": ["en-2"], "de-3": []}, "de"),
    "xcopa": ([0, 1, 1], [0, 0, 1], "et"),
}


@pytest.mark.parametrize("task", sorted(CASES))
def test_a_stage_file_scores_as_stored(tmp_path: Path, task: str) -> None:
    predictions, references, language = CASES[task]
    path, stored = stage_file(tmp_path / "predictions" / f"{language}.jsonl", task, predictions, references, language)
    assert is_prediction_rows_file(path)
    assert score_prediction_rows(task, path) == stored
    assert len(read_prediction_rows(path)) == len(references)


def test_the_evaluate_command_scores_a_stage_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, stored = stage_file(tmp_path / "en.jsonl", "syn-para", [1, 0, 1, 1], [1, 1, 1, 0], "en")
    out = tmp_path / "scores.json"
    assert main(["evaluate", "--task", "syn-para", "--predictions", str(path), "--json", str(out)]) == 0
    assert "syn-para" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["scores"] == stored == {"accuracy": 50.0}
    assert payload["language"] == "en"
    # XTREME spellings reach the xstilts task; MLQA's normalisation uses the file's language
    path, stored = stage_file(tmp_path / "zh.jsonl", "mlqa", *CASES["mlqa"][:2], "zh")
    assert main(["evaluate", "--task", "MLQA", "--predictions", str(path), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["scores"] == stored
    assert stored["f1"] == pytest.approx((200 / 3 + 100) / 2)


def test_the_evaluate_command_refuses_labels_with_a_stage_file(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, _ = stage_file(tmp_path / "en.jsonl", "syn-para", [1], [1], "en")
    assert main(["evaluate", "--task", "syn-para", "--predictions", str(path), "--labels", str(path)]) == 2
    assert "holds its gold; drop --labels" in capsys.readouterr().err
    official = tmp_path / "xnli" / "test-en.tsv"
    official.parent.mkdir()
    official.write_text("neutral\n")
    assert main(["evaluate", "--task", "xnli", "--predictions", str(official)]) == 2
    assert "--labels is needed" in capsys.readouterr().err


def test_official_xcopa_jsonl_is_not_taken_for_a_stage_file(tmp_path: Path) -> None:
    official = tmp_path / "test-et.jsonl"
    official.write_text('{"idx": 0, "label": 1}\n')
    assert not is_prediction_rows_file(official)
    assert not is_prediction_rows_file(tmp_path / "missing.jsonl")


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"index": 0, "prediction": 1, "gold": 1}\n{"index": 1, "prediction": 1,\n', r"en\.jsonl line 2: malformed JSON"),
        ('{"index": 0, "prediction": 1}\n', r"en\.jsonl line 1: no 'gold' field"),
        ('{"index": 1, "prediction": 1, "gold": 0}\n', r'en\.jsonl line 1: "index" is 1, expected 0'),
        ('{"id": "a", "prediction": 1, "gold": 0}\n{"index": 1, "prediction": 1, "gold": 0}\n', r"line 2: mixes 'index' rows"),
        ('{"id": "a", "prediction": "x", "gold": ["x"]}\n{"id": "a", "prediction": "x", "gold": ["x"]}\n', r"line 2: id 'a' occurs twice"),
        ('[1, 2]\n', r"line 1: expected a JSON object"),
        ('', r"en\.jsonl: no predictions \(empty file\)"),
    ],
)
def test_malformed_stage_files_fail_in_one_line_naming_file_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path / "en.jsonl", text)
    with pytest.raises(DataError, match=message):
        read_prediction_rows(path)


def test_scoring_errors_name_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "xx.jsonl", '{"index": 0, "prediction": 1, "gold": 1}\n')
    with pytest.raises(DataError, match=r"xx\.jsonl: unknown language 'xx' for syn-para"):
        score_prediction_rows("syn-para", path)
    path = write(tmp_path / "en.jsonl", '{"index": 0, "prediction": ["NOUN"], "gold": ["NOUN", "VERB"]}\n')
    with pytest.raises(DataError, match=r"en\.jsonl: f1_pos: sentence 0 has 1 predicted tags for 2 gold tags"):
        score_prediction_rows("syn-pos", path)
    with pytest.raises(DataError, match=r"nope\.jsonl: file not found"):
        score_prediction_rows("syn-pos", tmp_path / "nope.jsonl", language="en")
