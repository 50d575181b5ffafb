"""One data resolution order: spec data_dir/<task>/, XSTILTS_DATA_<TASK>, XSTILTS_DATA_DIR/<task>/,
the datasets cache, the Hub; a root without the task's sub-folder falls through to the next step."""

import json
from pathlib import Path

import pytest

from xstilts import hub
from xstilts.data.loading import load_examples, locate_examples
from xstilts.errors import DataError
from xstilts.tasks import get_task
from xstilts.tasks.sources import task_folder


def _pawsx(root: Path, sentence: str) -> Path:
    """A pawsx folder under `root` whose one es example starts with `sentence`."""
    folder = root / "pawsx"
    folder.mkdir(parents=True)
    (folder / "dev-es.tsv").write_text(f"{sentence}\tdos\t1\n", encoding="utf-8")
    return folder


def _first(data_dir: Path | None = None) -> str:
    return load_examples("pawsx", "validation", "es", data_dir=data_dir)[0]["text"]


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub.hub_reachable.cache_clear()
    yield
    hub.hub_reachable.cache_clear()


def test_each_step_wins_over_the_later_ones(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec_root, env_root = tmp_path / "spec", tmp_path / "env-root"
    _pawsx(spec_root, "from data_dir")
    per_task = _pawsx(tmp_path / "per-task", "from XSTILTS_DATA_PAWSX")
    _pawsx(env_root, "from XSTILTS_DATA_DIR")
    monkeypatch.setenv("XSTILTS_DATA_PAWSX", str(per_task))
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(env_root))
    assert _first(spec_root) == "from data_dir"
    assert _first() == "from XSTILTS_DATA_PAWSX"
    monkeypatch.delenv("XSTILTS_DATA_PAWSX")
    assert _first() == "from XSTILTS_DATA_DIR"


def test_a_data_dir_without_the_task_folder_falls_through(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None) -> None:
    spec_root = tmp_path / "spec"
    _pawsx(spec_root, "pawsx only")
    (spec_root / "dev-de.tsv").write_text("not\tpawsx\t1\n", encoding="utf-8")  # never read as a task folder
    env_root = tmp_path / "env-root"
    _pawsx(env_root, "xnli's root")
    (env_root / "xnli").mkdir()
    (env_root / "xnli" / "dev-de.tsv").write_text("hallo\twelt\tentailment\n", encoding="utf-8")
    monkeypatch.setenv("XSTILTS_DATA_DIR", str(env_root))
    # xnli: no xnli/ in the spec's data_dir -> XSTILTS_DATA_DIR/xnli/
    assert load_examples("xnli", "validation", "de", data_dir=spec_root)[0]["text"] == "hallo"
    assert task_folder(get_task("xnli"), get_task("xnli").source, spec_root) == env_root / "xnli"
    # Without any local folder the hub is next: offline and uncached, one line saying so.
    monkeypatch.delenv("XSTILTS_DATA_DIR")
    with pytest.raises(DataError, match=r"^xnli: hub dataset google/xtreme config XNLI split validation is not in the datasets cache and the Hub is unreachable \(offline\)"):
        load_examples("xnli", "validation", "de", data_dir=spec_root)


def test_a_missing_data_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data folder .*nowhere does not exist"):
        load_examples("pawsx", "validation", "es", data_dir=tmp_path / "nowhere")


def test_locate_finds_what_load_reads_without_reading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None) -> None:
    folder = _pawsx(tmp_path, "x")
    where = locate_examples("pawsx", "validation", "es", data_dir=tmp_path)
    assert where.found and where.where == f"local {folder / 'dev-es.tsv'}"
    # Probing opens nothing: a file that cannot be read still counts as present.
    (folder / "dev-es.tsv").write_bytes(b"\xff\xfe broken")
    assert locate_examples("pawsx", "validation", "es", data_dir=tmp_path).found
    missing = locate_examples("pawsx", "validation", "fr", data_dir=tmp_path)
    assert not missing.found and "no validation file in the task folder" in missing.problem and "validation-<lang>.jsonl" in missing.fix
    offline_hub = locate_examples("pawsx", "validation", "fr")
    assert not offline_hub.found and "Hub is unreachable" in offline_hub.problem and "XSTILTS_DATA_PAWSX" in offline_hub.fix


def test_locate_finds_the_datasets_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, offline: None) -> None:
    import datasets.config

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path)
    assert not locate_examples("pawsx", "validation", "de").found
    cached = tmp_path / "google___xtreme" / "PAWS-X.de" / "0.0.0" / "abc123"
    cached.mkdir(parents=True)
    (cached / "dataset_info.json").write_text(json.dumps({"splits": {"validation": {}, "test": {}}}))
    where = locate_examples("pawsx", "validation", "de")
    assert where.found and where.where == "hub cache google/xtreme/PAWS-X.de"
    assert not locate_examples("pawsx", "train", "de").found  # that split is not cached
