"""Full disks and read-only output folders: a one-line error (exit code 2), the results already
finished intact and readable, and a rerun after the space is freed that completes the grid.

Real faults where this machine allows them: a 3 MiB tmpfs filled to the brim, and a read-only bind
mount (tests run as root here, and chmod does not stop root). Both need root with CAP_SYS_ADMIN;
elsewhere a non-root user gets chmod for read-only, and the full-disk tests that need a mount are
skipped with the reason. Simulated faults run everywhere: ENOSPC from the file writes, and an
SQLite database that may not grow (`PRAGMA max_page_count`), which makes SQLite itself report a
full disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from xstilts.errors import XStiltsError
from xstilts.experiments.store import ResultsStore
from xstilts.io import atomic_write_json, sha256_file
from xstilts.models.model import read_manifest, verify_checksums

from reliability_helpers import (
    Finished,
    assert_user_error,
    cli,
    files_under,
    stage_statuses,
    store_scores,
    temporaries,
    tiny_spec,
    weight_digests,
    write_spec,
)

DISK_FULL = ("No space left on device", "disk is full", "disk I/O error")


def _mount(*args: str) -> bool:
    return shutil.which("mount") is not None and subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or not _mount("-t", "tmpfs", "-o", "size=3m", "tmpfs", str(disk)):
        pytest.skip("cannot mount a small tmpfs here (needs root with CAP_SYS_ADMIN); the simulated full-disk tests cover the code paths")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)


@pytest.fixture
def read_only() -> Iterator[Callable[[Path], None]]:
    """Makes a folder read-only: chmod for an ordinary user; a read-only bind mount for root."""
    undo: list[list[str]] = []

    def make(folder: Path) -> None:
        if os.geteuid() != 0:
            for path in [folder, *folder.rglob("*")]:
                path.chmod(path.stat().st_mode & ~0o222)
            undo.append(["chmod", "-R", "u+w", str(folder)])
            return
        if not (_mount("--bind", str(folder), str(folder)) and _mount("-o", "remount,bind,ro", str(folder))):
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)
            pytest.skip("running as root, whom chmod does not stop, and a read-only bind mount is not permitted here")
        undo.append(["umount", "-l", str(folder)])

    yield make
    for command in reversed(undo):
        subprocess.run(command, capture_output=True)


def fill(disk: Path, leave: int = 0) -> Path:
    """Fill `disk` up to `leave` free bytes with one file; returns it."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                free = shutil.disk_usage(disk).free - leave
                if free <= 0:
                    break
                f.write(b"\0" * min(free, 1 << 16))
                f.flush()
        except OSError as err:
            assert err.errno == errno.ENOSPC
    return filler


def snapshot(folder: Path) -> dict[str, str]:
    return {name: sha256_file(folder / name) for name in files_under(folder)}


def assert_intact(out: Path, baseline: Finished) -> None:
    """The finished grid's scores and checkpoints are as the baseline's, and the checkpoint verifies."""
    assert store_scores(out) == baseline.scores
    assert weight_digests(out) == baseline.weights
    checkpoint = out / "stages" / baseline.target / "checkpoint"
    verify_checksums(checkpoint, read_manifest(checkpoint))


def two_seeds(raw: dict) -> dict:
    return raw | {"seeds": [0, 1]}


# -- a full disk -----------------------------------------------------------------------------------
@pytest.mark.slow
def test_full_disk_stops_the_grid_and_keeps_finished_results(small_disk, tmp_path, tiny_models, tiny_grid_baseline):
    out = small_disk / "out"
    raw = tiny_spec(out, tiny_models["encoder"])
    spec = write_spec(tmp_path / "spec.yaml", raw)
    assert cli("-q", "run", spec, "--no-report").code == 0
    assert_intact(out, tiny_grid_baseline)

    filler = fill(small_disk)
    more = write_spec(tmp_path / "more.yaml", two_seeds(raw))
    line = assert_user_error(cli("-q", "run", more, "--no-report"))
    assert any(text in line for text in DISK_FULL), line
    filler.unlink()
    assert_intact(out, tiny_grid_baseline)


@pytest.mark.slow
def test_disk_filling_up_during_training(small_disk, tmp_path, tiny_models, tiny_grid_baseline):
    out = small_disk / "out"
    raw = tiny_spec(out, tiny_models["encoder"])
    assert cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report").code == 0
    filler = fill(small_disk, leave=160_000)  # room for the store's rows, not for the next checkpoints
    more = write_spec(tmp_path / "more.yaml", two_seeds(raw))
    line = assert_user_error(cli("-q", "run", more, "--no-report"))
    assert any(text in line for text in DISK_FULL), line
    assert_intact(out, tiny_grid_baseline)

    filler.unlink()
    rerun = cli("-q", "run", more, "--no-report")
    assert rerun.code == 0, rerun.err
    assert set(stage_statuses(out).values()) == {"done"}
    with ResultsStore(out / "results.sqlite") as store:  # the first seed's stages were not run again
        assert [a["status"] for a in store.attempts(tiny_grid_baseline.target)] == ["done"]
    assert temporaries(out) == []


@pytest.mark.slow
def test_writes_failing_with_enospc_mid_training(tmp_path, tiny_models, tiny_grid_baseline, monkeypatch):
    """Simulated: the sixth file written atomically (a training checkpoint's JSON) finds the disk full."""
    out = tmp_path / "out"
    spec = write_spec(tmp_path / "spec.yaml", tiny_spec(out, tiny_models["encoder"]))
    real_fsync, calls = os.fsync, {"n": 0}

    def fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] >= 6:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    line = assert_user_error(cli("-q", "run", spec, "--no-report"), str(out), "cannot write (No space left on device)")
    monkeypatch.setattr(os, "fsync", real_fsync)
    with ResultsStore(out / "results.sqlite") as store:
        (target,) = [s for s in store.stages() if s.kind == "target"]
        assert target.status == "failed" and "No space left on device" in target.error
    assert temporaries(out / "stages") == [] and line
    rerun = cli("-q", "run", spec, "--no-report")
    assert rerun.code == 0, rerun.err
    assert store_scores(out) == tiny_grid_baseline.scores
    assert weight_digests(out) == tiny_grid_baseline.weights


def test_results_store_that_may_not_grow(tmp_path, tiny_models, tiny_grid_baseline, monkeypatch):
    """Simulated: SQLite reports a full disk when the store needs another page; nothing committed changes."""
    out = tmp_path / "out"
    shutil.copytree(tiny_grid_baseline.out, out, ignore=shutil.ignore_patterns("work"))
    before = snapshot(out / "stages")
    real_connect = sqlite3.connect

    def capped(*args, **kwargs):
        connection = real_connect(*args, **kwargs)
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {max(pages, 1)}")
        return connection

    monkeypatch.setattr(sqlite3, "connect", capped)
    raw = tiny_spec(out, tiny_models["encoder"]) | {"seeds": list(range(40))}
    line = assert_user_error(cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report"), str(out / "results.sqlite"))
    assert "cannot write the results store (database or disk is full; the disk is full)" in line
    monkeypatch.setattr(sqlite3, "connect", real_connect)
    assert_intact(out, tiny_grid_baseline)
    assert set(stage_statuses(out).values()) == {"done"} and len(stage_statuses(out)) == 2
    assert snapshot(out / "stages") == before


def test_atomic_write_on_a_full_disk_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "state.json"
    atomic_write_json(path, {"step": 1})

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(XStiltsError, match=r"state.json: cannot write \(No space left on device\)"):
        atomic_write_json(path, {"step": 2})
    assert path.read_text().strip() == '{\n "step": 1\n}'
    assert temporaries(tmp_path) == []


# -- a read-only output folder ----------------------------------------------------------------------
@pytest.mark.slow
def test_read_only_output_folder_refuses_writes_and_still_reads(tmp_path, tiny_models, tiny_grid_baseline, read_only):
    out = tmp_path / "out"
    shutil.copytree(tiny_grid_baseline.out, out, ignore=shutil.ignore_patterns("work"))
    before = snapshot(out)
    read_only(out)
    spec = write_spec(tmp_path / "spec.yaml", two_seeds(tiny_spec(out, tiny_models["encoder"])))
    assert_user_error(cli("-q", "run", spec, "--no-report"), str(out / "results.sqlite"), "cannot write the results store", "read-only")
    status = cli("results", out)
    assert status.code == 0 and "2 stages" in status.out, status.err
    report = cli("-q", "report", out, "--out", tmp_path / "report")
    assert report.code == 0, report.err
    assert "syn-para" in (tmp_path / "report" / "report.md").read_text()
    assert snapshot(out) == before
    assert_intact(out, tiny_grid_baseline)


def test_new_output_folder_under_a_read_only_one(tmp_path, read_only):
    parent = tmp_path / "shared"
    parent.mkdir()
    read_only(parent)
    raw = {"name": "x", "output_dir": str(parent / "out"), "models": [{"name": "m", "path": "synthetic:encoder"}], "targets": ["syn-para"]}
    assert_user_error(cli("-q", "run", write_spec(tmp_path / "spec.yaml", raw), "--no-report"), str(parent / "out"))


def test_scores_json_into_a_read_only_folder(tmp_path, read_only):
    from xstilts.evaluation.submission import write_labels, write_submission

    pred = write_submission("pawsx", "fr", ["1"], tmp_path / "p")
    gold = write_labels("pawsx", "fr", ["1"], tmp_path / "g")
    folder = tmp_path / "scores"
    folder.mkdir()
    read_only(folder)
    result = cli("evaluate", "--task", "pawsx", "--predictions", pred, "--labels", gold, "--json", folder / "s.json")
    assert_user_error(result, str(folder / "s.json"), "cannot write")
