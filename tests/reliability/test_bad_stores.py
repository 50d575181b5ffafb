"""Results stores that are not what the reading commands expect, and output paths they cannot write.

Reading commands (results, report, export, plan, select --validate) open a store read-only: a file
that is not an xstilts store (empty, another program's SQLite database, text) or a store that would
need a schema migration is a one-line error (exit code 2), and the file is left byte for byte as
it was, with nothing created beside it. A store being written is read as last committed; one
locked too long is a one-line error.
"""

from __future__ import annotations

import hashlib
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from xstilts.experiments import store as store_module
from xstilts.experiments.store import _V1, SCHEMA_VERSION, ResultsStore

from reliability_helpers import Finished, assert_user_error, cli, tiny_spec, write_spec


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder_state(folder: Path) -> dict[str, str]:
    return {p.name: sha256(p) for p in sorted(folder.iterdir()) if p.is_file()}


# -- files named results.sqlite that no reading command may touch ---------------------------------------
def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _text(path: Path) -> None:
    path.write_text("name,score\nx,1\n")


def _foreign(journal: str) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        c = sqlite3.connect(path)
        c.execute(f"PRAGMA journal_mode={journal}")
        c.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
        c.execute("INSERT INTO invoices VALUES (1, 9.5)")
        c.commit()
        c.close()

    return make


def _schema(version: int) -> Callable[[Path], None]:
    """An xstilts store of schema `version` (1: as xstilts 0.x wrote it, before the v2 migration)."""

    def make(path: Path) -> None:
        c = sqlite3.connect(path)
        c.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        for statement in _V1:
            c.execute(statement)
        c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(version),))
        c.commit()
        c.close()

    return make


def _truncated(path: Path) -> None:
    ResultsStore(path).close()  # a WAL store, as `xstilts run` creates it
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


BAD_STORES = [
    ("truncated-store", _truncated, "not a readable xstilts results store (database disk image is malformed)"),
    ("empty-file", _empty, "not an xstilts results store (an empty file)"),
    ("text-file", _text, "not an xstilts results store (not an SQLite database)"),
    ("foreign-database", _foreign("DELETE"), "not an xstilts results store (an SQLite database without"),
    ("foreign-wal-database", _foreign("WAL"), "not an xstilts results store (an SQLite database without"),
    ("older-schema", _schema(1), f"schema 1, which this xstilts (schema {SCHEMA_VERSION}) reads only after a migration"),
    ("newer-schema", _schema(99), f"written by a newer xstilts (schema 99 > {SCHEMA_VERSION})"),
]

SPEC = "name: x\nmodels: [{name: m, path: synthetic:encoder}]\ntargets: [syn-para]\noutput_dir: OUT\n"

READING_COMMANDS: dict[str, Callable[[Path, Path], list[str | Path]]] = {
    "results-folder": lambda out, tmp: ["results", out],
    "results-store": lambda out, tmp: ["results", out / "results.sqlite"],
    "results-spec": lambda out, tmp: ["results", tmp / "spec.yaml"],
    "results-export": lambda out, tmp: ["results", out, "--export", tmp / "scores.csv"],
    "report": lambda out, tmp: ["report", out, "--out", tmp / "report"],
    "export": lambda out, tmp: ["export", out, "--xtreme-submission", tmp / "submission"],
    "plan": lambda out, tmp: ["plan", tmp / "spec.yaml"],
    "select-validate": lambda out, tmp: ["select", "--validate", out],
}


@pytest.mark.parametrize("command", list(READING_COMMANDS))
@pytest.mark.parametrize("case,make,message", BAD_STORES, ids=[c[0] for c in BAD_STORES])
def test_reading_commands_refuse_and_leave_the_file_unchanged(
    tmp_path: Path, command: str, case: str, make: Callable[[Path], None], message: str
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    store = out / "results.sqlite"
    make(store)
    (tmp_path / "spec.yaml").write_text(SPEC.replace("OUT", str(out)))
    before = folder_state(out)
    line = assert_user_error(cli(*READING_COMMANDS[command](out, tmp_path)), str(store), message)
    assert folder_state(out) == before, line  # the file byte for byte, and nothing created beside it
    assert not (tmp_path / "scores.csv").exists() and not (tmp_path / "report").exists()
    assert not (tmp_path / "submission").exists()


def test_a_writing_command_still_migrates_the_older_schema(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    _schema(1)(path)
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
    assert cli("results", path).code == 0


# An empty file is adopted by the writing path: it cannot be told from a store that another worker
# created a moment ago and has not yet given its schema, and it holds nothing to lose.
NOT_STORES = [c for c in BAD_STORES if c[0] in ("text-file", "foreign-database", "foreign-wal-database")]


@pytest.mark.parametrize("case,make,message", NOT_STORES, ids=[c[0] for c in NOT_STORES])
def test_run_refuses_a_file_that_is_not_a_store_and_leaves_it_unchanged(
    tmp_path: Path, case: str, make: Callable[[Path], None], message: str
) -> None:
    """`xstilts run` writes the store: a results.sqlite that is not one is someone else's file."""
    out = tmp_path / "out"
    out.mkdir()
    store = out / "results.sqlite"
    make(store)
    spec = tmp_path / "spec.yaml"
    spec.write_text(SPEC.replace("OUT", str(out)))
    before = folder_state(out)
    line = assert_user_error(cli("run", spec), str(store), message)
    assert folder_state(out) == before, line  # the file byte for byte, and nothing created beside it


def test_run_adopts_an_empty_results_file(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    path.touch()
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION


def test_a_new_store_is_still_created(tmp_path: Path) -> None:
    path = tmp_path / "new" / "results.sqlite"
    with ResultsStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
    with ResultsStore(path) as store:  # and opened again for writing
        assert store.schema_version() == SCHEMA_VERSION


# -- a real store, read by every reading command without being changed ----------------------------------
@pytest.fixture
def finished_copy(tmp_path: Path, tiny_grid_baseline: Finished) -> Path:
    out = tmp_path / "out"
    shutil.copytree(tiny_grid_baseline.out, out, ignore=shutil.ignore_patterns("work", "report", "*-wal", "*-shm"))
    return out


def test_reading_commands_leave_a_real_store_unchanged(tmp_path: Path, finished_copy: Path) -> None:
    store = finished_copy / "results.sqlite"
    before = sha256(store)
    for args in (
        ["results", finished_copy, "--export", tmp_path / "scores.CSV"],
        ["report", finished_copy, "--out", tmp_path / "report"],
        ["export", finished_copy, "--xtreme-submission", tmp_path / "submission"],
    ):
        result = cli(*args)
        assert result.code == 0, result.err
    assert sha256(store) == before
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "submission" / "syn-para").is_dir()


def test_an_older_store_whose_migrations_add_columns_is_refused_unchanged(tmp_path: Path, finished_copy: Path) -> None:
    """Schema 4 added lease columns that reading commands use: a schema-3 store is not read but
    refused in one line, pointing at the run that migrates it; the file is unchanged."""
    store = finished_copy / "results.sqlite"
    c = sqlite3.connect(store)
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("UPDATE meta SET value='3' WHERE key='schema_version'")
    c.commit()
    c.close()
    before = sha256(store)
    assert_user_error(cli("results", finished_copy), "schema 3", "the next `xstilts run` of its spec migrates it")
    assert sha256(store) == before


def test_a_store_whose_later_migrations_only_add_tables_is_read_without_migrating_it(
    tmp_path: Path, finished_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A future schema that only adds a table: today's stores read as if that table were empty."""
    from xstilts.experiments import store as store_module

    migrations = [*store_module.MIGRATIONS, ["CREATE TABLE notes (stage_id TEXT REFERENCES stages(id), text TEXT)"]]
    monkeypatch.setattr(store_module, "MIGRATIONS", migrations)
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", len(migrations))
    store = finished_copy / "results.sqlite"
    before = sha256(store)
    result = cli("results", finished_copy)
    assert result.code == 0 and "4 score rows" in result.out, result.err
    assert cli("report", finished_copy, "--out", tmp_path / "report").code == 0
    assert sha256(store) == before
    with ResultsStore.open_readonly(store) as reader:
        assert reader.schema_version() == len(migrations) - 1
        assert reader._conn.execute("SELECT COUNT(*) FROM notes").fetchone()[0] == 0


@pytest.mark.parametrize("name", ["scores.CSV", "scores.Parquet", "scores.csv"])
def test_export_extensions_in_any_case(tmp_path: Path, finished_copy: Path, name: str) -> None:
    import pandas as pd

    target = tmp_path / name
    result = cli("results", finished_copy, "--export", target)
    assert result.code == 0, result.err
    frame = pd.read_csv(target) if name.lower().endswith(".csv") else pd.read_parquet(target)
    assert len(frame) == 4 and set(frame["language"]) == {"en", "clo", "scr", "ord"}
    assert not list(tmp_path.glob("*.tmp*"))


def test_export_paths_that_cannot_be_written(tmp_path: Path, finished_copy: Path) -> None:
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    target = blocker / "scores.csv"
    assert_user_error(cli("results", finished_copy, "--export", target), str(target), f"{blocker} is a file, not a folder")
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    assert_user_error(cli("results", finished_copy, "--export", folder), str(folder), "is a folder; give a file name")
    assert_user_error(cli("results", finished_copy, "--export", tmp_path / "scores.xlsx"), "scores.xlsx", "export to a file ending in .csv or .parquet")
    assert blocker.read_text() == "not a folder" and not any(folder.iterdir())


def test_report_out_is_a_file(tmp_path: Path, finished_copy: Path) -> None:
    existing = tmp_path / "report.html"
    existing.write_text("mine")
    assert_user_error(cli("report", finished_copy, "--out", existing), f"--out {existing}", "is a file; the report needs a folder")
    under = existing / "sub"
    assert_user_error(cli("report", finished_copy, "--out", under), f"--out {under}", f"lies under {existing}, a file")
    assert existing.read_text() == "mine"


def test_export_submission_folder_is_a_file(tmp_path: Path, finished_copy: Path) -> None:
    existing = tmp_path / "sub"
    existing.write_text("mine")
    assert_user_error(cli("export", finished_copy, "--xtreme-submission", existing), str(existing), "is a file, not a folder")
    assert existing.read_text() == "mine"


def test_report_and_export_take_the_spec_like_results(tmp_path: Path, finished_copy: Path, tiny_models) -> None:
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(finished_copy, tiny_models["encoder"]))
    assert cli("report", spec, "--out", tmp_path / "report").code == 0
    assert cli("export", spec, "--xtreme-submission", tmp_path / "submission").code == 0


# -- stores in use by another process ---------------------------------------------------------------------
def test_a_store_being_written_is_read_as_committed(tmp_path: Path) -> None:
    path = tmp_path / "results.sqlite"
    ResultsStore(path).close()  # WAL, as `xstilts run` creates it
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("INSERT INTO stages (id, kind, description) VALUES ('s1', 'target', '{}')")
    try:
        result = cli("results", path)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert result.code == 0, result.err
    assert "0 stages" in result.out  # the uncommitted stage is not seen


def test_a_store_locked_too_long_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_module, "READ_TIMEOUT_SECONDS", 0.3)
    path = tmp_path / "results.sqlite"
    ResultsStore(path, journal_mode="delete").close()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        started = time.monotonic()
        result = cli("results", path)
        waited = time.monotonic() - started
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_user_error(result, str(path), "locked by another process for more than 0.3 s")
    assert waited < 30
    assert cli("results", path).code == 0  # free again


# -- model weights -----------------------------------------------------------------------------------------
def test_truncated_model_weights_name_the_file(tmp_path: Path, tiny_models) -> None:
    model = tmp_path / "model"
    shutil.copytree(tiny_models["encoder"], model)
    weights = model / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(tmp_path / "out", model))
    # The preflight of `run` (and `plan`) reads the safetensors header and refuses before any training.
    result = cli("-q", "run", spec, "--no-report")
    lines = result.err_lines()
    assert result.code == 2 and len(lines) == 1 and lines[0].startswith("xstilts: error: preflight:"), result.err
    assert str(weights) in result.out and "truncated safetensors file" in result.out, result.out
    assert not (tmp_path / "out" / "stages").exists()
    # Loading itself (damage the header check cannot see, or a load without the preflight): one line too.
    from xstilts.errors import CheckpointError
    from xstilts.models.backbone import BackboneOptions
    from xstilts.models.model import load_pretrained

    with pytest.raises(CheckpointError, match="damaged weights file") as raised:
        load_pretrained(str(model), BackboneOptions())
    assert str(weights) in str(raised.value)
