"""Every hub source a task declares loads on datasets >= 4: checked against a recorded listing of
the Hub (tests/fixtures/hub_listing.json), and the script refusal has its own one-line message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xstilts.data.loading import all_languages
from xstilts.errors import DataError
from xstilts.tasks import all_tasks, get_task
from xstilts.tasks.sources import PARQUET_REVISION, DatasetSource, Hub, read_hub

LISTING = json.loads((Path(__file__).resolve().parents[1] / "fixtures" / "hub_listing.json").read_text())


def _declared() -> list[tuple[str, str, Hub, tuple[str, ...]]]:
    """(task, language, hub, hub split names) for every language of every task with a hub source."""
    found = []
    for task in all_tasks():
        source = task.source
        if not isinstance(source, DatasetSource):
            continue
        for language in all_languages(task):
            hub = source.hub_by_language.get(language, source.hub)
            if hub is not None:
                splits = tuple(s for name in source.split_names(language) for s in source.splits[name])
                found.append((task.name, language, hub, splits))
    return found


def _problem(hub: Hub, language: str, splits: tuple[str, ...]) -> str | None:
    revision = hub.revision or "main"
    repository = LISTING.get(hub.path)
    if repository is None:
        return f"{hub.path} is not in the listing"
    entry = repository.get(revision)
    if entry is None:
        return f"{hub.path} has no revision {revision} in the listing"
    if entry["script"] is True:
        return f"{hub.path}@{revision} holds a loading script, which datasets >= 4 refuses"
    if hub.data_files:
        folder = hub.data_files.split("/")[0].format(lang=language)
        folders = entry.get("folders", {})
        if folder not in folders:
            return f"{hub.path}@{revision} has no folder {folder}"
        missing = [s for s in splits if s not in folders[folder]]
        return f"{hub.path}@{revision}/{folder} has no split folder {missing}" if missing else None
    configs = entry.get("configs", [])
    config = hub.config_for(language)
    if config is None:  # datasets picks the only config
        return None if len(configs) == 1 else f"{hub.path} has configs {configs}: declare one"
    return None if config in configs else f"{hub.path}@{revision} has no config {config}"


def test_every_declared_hub_source_is_in_the_listing_and_loads_without_a_script() -> None:
    declared = _declared()
    assert len(declared) > 150  # every language of every hub-backed task
    problems = sorted({f"{task}/{language}: {p}" for task, language, hub, splits in declared if (p := _problem(hub, language, splits))})
    assert problems == []


def test_the_check_catches_script_revisions_and_unknown_configs() -> None:
    assert "loading script" in _problem(Hub("aps/super_glue", "copa"), "en", ("train",))
    assert "no config PAN-X.xx" in _problem(Hub("google/xtreme", "PAN-X.{lang}"), "xx", ("validation",))
    assert "no folder boolk" in _problem(Hub("aps/super_glue", revision=PARQUET_REVISION, data_files="boolk/{split}/*.parquet"), "en", ("train",))
    assert _problem(Hub("aps/super_glue", revision=PARQUET_REVISION, data_files="copa/{split}/*.parquet"), "en", ("train",)) is None


def test_script_repositories_are_read_from_their_parquet_conversion() -> None:
    for name in ("siqa", "copa"):
        hub = get_task(name).source.hub
        assert hub.revision == PARQUET_REVISION and hub.data_files and "{split}" in hub.data_files
    assert get_task("cosmosqa").source.hub is None  # script-only: local files


def test_script_refusal_has_its_own_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import datasets

    def refuse(*args: object, **kwargs: object) -> None:
        raise RuntimeError("Dataset scripts are no longer supported, but found cosmos_qa.py")

    monkeypatch.setattr(datasets, "load_dataset", refuse)
    with pytest.raises(DataError) as err:
        read_hub(Hub("allenai/cosmos_qa"), ["validation"], "en", get_task("cosmosqa"), "local hint")
    message = str(err.value)
    assert "\n" not in message and "is a loading script" in message
    assert PARQUET_REVISION in message and message.endswith("local hint")


def test_data_files_read_one_config_folder_of_a_parquet_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The layout of refs/convert/parquet (config folders holding split folders), from a local copy."""
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    row = {"premise": "The glass fell.", "choice1": "It broke.", "choice2": "It sang.", "question": "effect", "idx": 0, "label": 0}
    for config, premise in (("copa", row["premise"]), ("cb", "not copa")):
        for split in ("train", "validation"):
            folder = tmp_path / "repo" / config / split
            folder.mkdir(parents=True)
            pq.write_table(pa.Table.from_pylist([{**row, "premise": premise}]), folder / "0000.parquet")
    hub = Hub(str(tmp_path / "repo"), data_files="copa/{split}/*.parquet")
    rows = read_hub(hub, ["validation"], "en", get_task("copa"), "hint")
    assert [r["premise"] for r in rows.rows] == ["The glass fell."]
