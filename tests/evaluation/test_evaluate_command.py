"""`xstilts evaluate`: folder and single-file modes, JSON output, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.cli import main
from xstilts.evaluation.submission import write_labels, write_submission

from .generated import DATA, assert_same_numbers, build_folders


def test_folder_mode_prints_tables_and_writes_official_numbers(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    predictions, labels = build_folders(tmp_path, "xtreme", seed=0)
    out = tmp_path / "scores.json"
    rc = main([
        "evaluate", "--predictions", str(predictions), "--labels", str(labels),
        "--benchmark", "xtreme", "--allow-missing", "--json", str(out),
    ])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "xtreme summary" in printed and "overall" in printed and "tatoeba" in printed
    payload = json.loads(out.read_text())
    assert payload["benchmark"] == "xtreme"
    assert payload["skipped_tasks"] == {}
    # same numbers as google-research/xtreme's evaluate.py on these folders (see test_submission)
    assert_same_numbers(payload["official"], json.loads((DATA / "official_xtreme.json").read_text()))
    assert payload["overall"] == pytest.approx(payload["official"]["all_task"])


def test_folder_mode_fails_in_one_line_on_missing_predictions(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    predictions, labels = build_folders(tmp_path, "xtreme", seed=0)
    rc = main(["evaluate", "--predictions", str(predictions), "--labels", str(labels)])
    assert rc == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("xstilts: error: ") and "no prediction for" in err
    assert "\n" not in err


def test_single_file_mode_reads_the_language_from_the_file_name(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pred = write_submission("mlqa", "zh", {"a": "长江"}, tmp_path / "p")
    gold = write_labels("mlqa", "zh", {"a": ["长江，黄河"]}, tmp_path / "g")
    out = tmp_path / "one.json"
    rc = main(["evaluate", "--task", "MLQA", "--predictions", str(pred), "--labels", str(gold), "--json", str(out)])
    assert rc == 0
    assert "mlqa (zh)" in capsys.readouterr().out
    payload = json.loads(out.read_text())
    assert payload["language"] == "zh"
    assert payload["scores"]["f1"] == pytest.approx(200 / 3)  # per-character F1 of MLQA's Chinese


def test_single_file_mode_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    pred = write_submission("xnli", "en", ["neutral"], tmp_path / "p")
    gold = write_labels("xnli", "en", ["neutral", "entailment"], tmp_path / "g")
    assert main(["evaluate", "--task", "xnli", "--predictions", str(pred), "--labels", str(gold)]) == 2
    assert "1 lines but the gold file" in capsys.readouterr().err
    assert main(["evaluate", "--task", "xnlj", "--predictions", str(pred), "--labels", str(gold)]) == 2
    assert "unknown XTREME task 'xnlj'" in capsys.readouterr().err
