"""The hub path runs `datasets.load_dataset`; a local repository folder stands in for the hub."""

import dataclasses
from pathlib import Path

import pytest

from xstilts.errors import DataError
from xstilts.tasks import get_task
from xstilts.tasks.sources import Hub, read_hub


@pytest.fixture
def repo(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    return str(Path(__file__).resolve().parents[1] / "fixtures" / "hub_repo" / "xtreme")


def test_config_and_language_filter(repo):
    task = get_task("xnli")
    rows = read_hub(Hub(repo, "XNLI", language_of=lambda r: r["language"]), ["validation"], "de", task, "hint")
    assert [r["gold_label"] for r in rows.rows] == ["entailment", "contradiction"]
    source = dataclasses.replace(task.source, hub=Hub(repo, "XNLI", language_of=lambda r: r["language"]))
    examples = source.load(task, "validation", "de", None)
    assert [e["label"] for e in examples] == [0, 2]


def test_splits_are_concatenated(repo):
    rows = read_hub(Hub(repo, "rounds"), ["train_r1", "train_r2"], "en", get_task("anli"), "hint")
    assert [r["uid"] for r in rows.rows] == ["a1", "b1"]


def test_missing_config_is_one_line_data_error(repo):
    with pytest.raises(DataError, match=r"could not load hub dataset .* config PAN-X.zz split validation .*; hint$"):
        read_hub(Hub(repo, "PAN-X.{lang}"), ["validation"], "zz", get_task("panx"), "hint")
