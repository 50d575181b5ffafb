"""The results store: one SQLite database per output folder, shared by every worker of a grid.

Tables (schema version 4)
  meta      schema version
  specs     every spec registered here: name, hash, the spec itself (JSON), when
  stages    every planned stage: status (pending / running / done / failed), lease (worker,
            heartbeat, and the host, PID, start time and machine of the process holding it),
            attempts, timings, provenance and outcome as JSON
  attempts  one row per claim of a stage: worker, executor, start and end, how it ended, error
  scores    one row per (stage, task, language, metric, split) of evaluate stages
  cells     the labels a spec gives each stage: model, condition, target, seed
  gaps      one row per (stage, task, language, split) an evaluate stage could not score, with
            the one-line reason (data missing, evaluation failed): the stage is done without it
  flags     one row per (stage, flag) of a finished stage, e.g. 'not_learned' (English dev at
            chance or majority level), with its details as JSON
A stage's scores and its 'done' status are written in one transaction, so a killed writer leaves
either both or neither. Predictions live beside the database, in stages/<stage id>/predictions/.

The schema evolves by MIGRATIONS, applied in order inside one transaction; a database written by a
newer xstilts is refused. A store that cannot be written (full disk, read-only folder) fails with a
one-line `StoreUnwritable` error, its committed results untouched; in a read-only folder an existing
store is opened read-only, so its results can still be read. The journal is WAL by default; on network filesystems shared by several
nodes (WAL needs shared memory on one host) create the store with journal_mode="delete".

Reading commands open a store with `ResultsStore.open_readonly` (SQLite mode=ro): never created,
migrated or written; a file that is not an xstilts store, or one that needs a migration, is a
one-line error and stays byte for byte as it was.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.errors import DataError, XStiltsError
from xstilts.experiments.leases import RENEW, Holder, alive, this_process

# -- schema ------------------------------------------------------------------------------------------
_V1 = [
    """CREATE TABLE IF NOT EXISTS stages (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        parent TEXT,
        description TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending',
        worker TEXT,
        heartbeat REAL,
        attempts INTEGER NOT NULL DEFAULT 0,
        started REAL,
        finished REAL,
        error TEXT,
        provenance TEXT,
        outcome TEXT
    )""",
    """CREATE TABLE IF NOT EXISTS scores (
        stage_id TEXT NOT NULL REFERENCES stages(id),
        task TEXT NOT NULL,
        language TEXT NOT NULL,
        split TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        is_primary INTEGER NOT NULL,
        n_examples INTEGER NOT NULL,
        chance REAL,
        PRIMARY KEY (stage_id, language, metric)
    )""",
    """CREATE TABLE IF NOT EXISTS cells (
        spec TEXT NOT NULL,
        stage_id TEXT NOT NULL REFERENCES stages(id),
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        model_path TEXT NOT NULL,
        condition TEXT NOT NULL,
        target TEXT,
        seed INTEGER NOT NULL,
        PRIMARY KEY (spec, stage_id)
    )""",
]

_V2 = [
    # Scores keyed by split and task as well: one evaluate stage may score several splits.
    """CREATE TABLE scores_v2 (
        stage_id TEXT NOT NULL REFERENCES stages(id),
        task TEXT NOT NULL,
        language TEXT NOT NULL,
        split TEXT NOT NULL,
        metric TEXT NOT NULL,
        value REAL NOT NULL,
        is_primary INTEGER NOT NULL,
        n_examples INTEGER NOT NULL,
        chance REAL,
        PRIMARY KEY (stage_id, task, language, metric, split)
    )""",
    "INSERT INTO scores_v2 SELECT stage_id, task, language, split, metric, value, is_primary, n_examples, chance FROM scores",
    "DROP TABLE scores",
    "ALTER TABLE scores_v2 RENAME TO scores",
    "CREATE INDEX scores_stage ON scores(stage_id)",
    "CREATE INDEX cells_stage ON cells(stage_id)",
    "ALTER TABLE stages ADD COLUMN seconds REAL",
    "ALTER TABLE stages ADD COLUMN spec_hash TEXT",
    "ALTER TABLE stages ADD COLUMN code_version TEXT",
    "ALTER TABLE stages ADD COLUMN hardware TEXT",
    """CREATE TABLE specs (
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        registered REAL NOT NULL,
        spec TEXT NOT NULL,
        PRIMARY KEY (name, hash)
    )""",
    """CREATE TABLE attempts (
        stage_id TEXT NOT NULL REFERENCES stages(id),
        attempt INTEGER NOT NULL,
        worker TEXT NOT NULL,
        executor TEXT,
        started REAL NOT NULL,
        ended REAL,
        status TEXT NOT NULL,
        error TEXT,
        detail TEXT,
        PRIMARY KEY (stage_id, attempt)
    )""",
]

_V3 = [
    # What an evaluate stage could not score, and marks on finished stages (a stage that did not learn).
    """CREATE TABLE gaps (
        stage_id TEXT NOT NULL REFERENCES stages(id),
        task TEXT NOT NULL,
        language TEXT NOT NULL,
        split TEXT NOT NULL,
        reason TEXT NOT NULL,
        PRIMARY KEY (stage_id, task, language, split)
    )""",
    """CREATE TABLE flags (
        stage_id TEXT NOT NULL REFERENCES stages(id),
        flag TEXT NOT NULL,
        detail TEXT NOT NULL,
        PRIMARY KEY (stage_id, flag)
    )""",
]

_LEASE_HOLDER = [
    # The process holding a stage's lease, so that one of its machine that died is seen at once.
    "ALTER TABLE stages ADD COLUMN lease_host TEXT",
    "ALTER TABLE stages ADD COLUMN lease_pid INTEGER",
    "ALTER TABLE stages ADD COLUMN lease_started TEXT",
    "ALTER TABLE stages ADD COLUMN lease_machine TEXT",
]

# MIGRATIONS[i] takes a database from version i to i + 1 (version 0: empty).
MIGRATIONS: list[list[str] | Callable[[sqlite3.Connection], None]] = [_V1, _V2, _V3, _LEASE_HOLDER]
SCHEMA_VERSION = len(MIGRATIONS)

STATUSES = ("pending", "running", "done", "failed")
# Keys of a stage's outcome that `finish` also writes as rows: the languages an evaluate stage
# could not score ([{task, language, split, reason}]) and the stage's flags ({flag: details}).
GAPS_KEY, FLAGS_KEY = "missing_languages", "flags"


class StoreUnwritable(XStiltsError):
    """The results store cannot be written: full disk, read-only folder, failing storage, a lock held too long."""


def _why_unwritable(err: sqlite3.Error) -> str:
    name = getattr(err, "sqlite_errorname", "") or ""
    if name.startswith("SQLITE_FULL"):
        return "the disk is full"
    if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
        return "the folder is read-only or not writable"
    if name.startswith("SQLITE_IOERR"):
        return "full disk or failing storage?"
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return "another process held the store too long"
    return "is the disk full or the folder read-only?"


@dataclass
class StageRow:
    id: str
    kind: str
    parent: str | None
    status: str
    attempts: int
    worker: str | None
    heartbeat: float | None
    description: dict
    outcome: dict | None
    error: str | None
    started: float | None = None
    finished: float | None = None
    seconds: float | None = None


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


STORE_NAME = "results.sqlite"  # the results store's file in an experiment's output folder


def store_path(results: str | Path) -> Path:
    """results.sqlite, or the experiment output folder holding it; it must exist."""
    results = Path(results)
    path = results / STORE_NAME if results.is_dir() else results
    if not path.is_file():
        raise DataError(f"{path}: no results store (expected {STORE_NAME} or the experiment's output folder)")
    return path


class ResultsStore:
    def __init__(self, path: Path, journal_mode: str = "wal", timeout: float = 60.0) -> None:
        self.path = Path(path)
        created = not self.path.exists()
        if not created and self.path.is_dir():
            raise XStiltsError(f"{self.path}: is a folder, not a results store")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise XStiltsError(f"{self.path}: cannot open the results store ({err})") from None
        self._conn.row_factory = sqlite3.Row
        self.read_only = False
        try:
            if created:
                # The journal mode is a property of the database file: chosen once, at creation.
                self._conn.execute(f"PRAGMA journal_mode={'WAL' if journal_mode == 'wal' else 'DELETE'}")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate(check_store=not created)
        except (sqlite3.OperationalError, StoreUnwritable) as err:
            self._conn.close()
            if created or _writable(self.path):
                raise err if isinstance(err, StoreUnwritable) else self._unwritable(err) from None
            self._open_read_only()
        except sqlite3.DatabaseError as err:
            self._conn.close()
            raise _unreadable(self.path, err) from None
        except XStiltsError:
            self._conn.close()
            raise

    def _unwritable(self, err: sqlite3.Error) -> StoreUnwritable:
        return StoreUnwritable(f"{self.path}: cannot write the results store ({err}; {_why_unwritable(err)})")

    def _open_read_only(self) -> None:
        """An existing store in a folder this process cannot write: readable, every write refused."""
        try:
            self._conn = sqlite3.connect(f"{self.path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            version = _version(self._conn)
        except sqlite3.Error as err:
            raise XStiltsError(f"{self.path}: not a readable xstilts results store ({err})") from None
        if version != SCHEMA_VERSION:
            self._conn.close()
            raise StoreUnwritable(
                f"{self.path}: schema {version}, this xstilts reads {SCHEMA_VERSION}; it must be upgraded where its folder is writable"
            )
        self.read_only = True

    # -- reading only -------------------------------------------------------------------------------
    @classmethod
    def open_readonly(cls, path: Path, timeout: float | None = None) -> ResultsStore:
        """An existing store, for reading only: never created, migrated or written (SQLite's
        mode=ro), so that read-only commands (results, report, export, plan, select) leave the file
        byte for byte as it was. Anything that is not an xstilts store (an empty file, another
        program's SQLite database, a damaged store) and a store whose schema would need a migration
        is a one-line error. Queries that would write fail (SQLITE_READONLY)."""
        path = Path(path)
        _check_store_file(path)
        if not _has_journal(path):
            # Nothing is being written (no -wal / -journal), so the main file holds everything: a
            # foreign or damaged database is answered from it without SQLite creating a -wal beside it.
            _probe(path)
        wait = READ_TIMEOUT_SECONDS if timeout is None else timeout
        try:
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=wait, isolation_level=None)
            conn.row_factory = sqlite3.Row
            _check_readable(conn, path, wait)
        except _CannotShareMemory:
            conn.close()
            # A WAL store in a folder this process cannot write (no -shm can be made): nobody
            # else can be writing it from here either, so read its file as it is.
            conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True, isolation_level=None)
            conn.row_factory = sqlite3.Row
            _check_readable(conn, path, wait)
        _add_missing_tables(conn)
        store = cls.__new__(cls)
        store.path, store._conn, store.read_only = path, conn, True
        return store

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; SQLite's write failures become `StoreUnwritable`, rolled back."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as err:
            raise self._unwritable(err) from None
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except sqlite3.OperationalError as err:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise self._unwritable(err) from None
        except BaseException:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
            raise

    def schema_version(self) -> int:
        return _version(self._conn)

    def _migrate(self, check_store: bool = False) -> None:
        """Bring the schema up to date. `check_store`: the file was there before this opened it, so
        a database with tables must already be an xstilts store; another program's database is
        refused untouched (a file that is no database at all SQLite refuses before this). A database
        without any table is adopted: it is an empty file, or a store that another worker created a
        moment ago and has not yet given its schema (checked under the write lock)."""
        with self.transaction() as c:
            if check_store and c.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchone() is not None:
                _classify(c, self.path)
            c.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            version = _version(c)
            if version > SCHEMA_VERSION:
                raise XStiltsError(
                    f"{self.path}: written by a newer xstilts (schema {version} > {SCHEMA_VERSION}); upgrade xstilts to read it"
                )
            for step in MIGRATIONS[version:]:
                if callable(step):
                    step(c)
                else:
                    for statement in step:
                        c.execute(statement)
            if version < SCHEMA_VERSION:
                c.execute("INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    # -- planning ---------------------------------------------------------------------------------
    def register(self, spec_name: str, stages: Iterable[Any], spec_hash: str | None = None, spec_json: dict | None = None) -> None:
        """Insert planned stages (known ones keep their status), this spec's labels and the spec.

        A cell (kind, model, condition, target, seed) of a spec points at one stage: when an
        edited spec gives a cell a new stage, the old stage keeps its results but leaves the spec's
        grid, so tables of the spec never mix the two."""
        with self.transaction() as c:
            if spec_hash is not None:
                c.execute(
                    "INSERT OR IGNORE INTO specs VALUES (?, ?, ?, ?)",
                    (spec_name, spec_hash, time.time(), json.dumps(spec_json or {}, sort_keys=True)),
                )
            for s in stages:
                c.execute(
                    "INSERT OR IGNORE INTO stages (id, kind, parent, description) VALUES (?, ?, ?, ?)",
                    (s.id, s.kind, s.parent, json.dumps(s.describe())),
                )
                c.execute(
                    """DELETE FROM cells WHERE spec=? AND kind=? AND model=? AND condition=? AND target IS ? AND seed=?
                       AND stage_id != ?""",
                    (spec_name, s.kind, s.model.name, s.condition.name, s.task, s.seed, s.id),
                )
                c.execute(
                    "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (spec_name, s.id, s.kind, s.model.name, s.model.path, s.condition.name, s.task, s.seed),
                )

    # -- leases -----------------------------------------------------------------------------------
    def claim(self, stage_id: str, worker: str, lease_seconds: float, retry_failed_before: float | None = None, executor: str = "") -> bool:
        """Take a stage for `worker`: a pending one, a running one whose lease expired (its worker
        stopped heart-beating) or that `worker` itself held (a requeued job), or a failed one that
        failed before `retry_failed_before` (None: any failed one). True if `worker` now has it."""
        now = time.time()
        retry = now if retry_failed_before is None else retry_failed_before
        with self.transaction() as c:
            me = this_process()
            cur = c.execute(
                """UPDATE stages SET status='running', worker=?, heartbeat=?, started=?, attempts=attempts+1, error=NULL,
                   lease_host=?, lease_pid=?, lease_started=?, lease_machine=?
                   WHERE id=? AND (status='pending'
                                   OR (status='failed' AND COALESCE(finished, 0) < ?)
                                   OR (status='running' AND (heartbeat < ? OR worker=?)))""",
                (worker, now, now, me.host, me.pid, me.started, me.machine, stage_id, retry, now - lease_seconds, worker),
            )
            if cur.rowcount != 1:
                return False
            c.execute("UPDATE attempts SET status='lost', ended=? WHERE stage_id=? AND status='running'", (now, stage_id))
            attempt = c.execute("SELECT attempts FROM stages WHERE id=?", (stage_id,)).fetchone()[0]
            c.execute(
                "INSERT OR REPLACE INTO attempts (stage_id, attempt, worker, executor, started, status) VALUES (?, ?, ?, ?, ?, 'running')",
                (stage_id, attempt, worker, executor, now),
            )
            return True

    def heartbeat(self, stage_id: str, worker: str) -> bool:
        """Renew the lease; False if `worker` no longer holds the stage."""
        with self.transaction() as c:
            cur = c.execute(RENEW, (time.time(), stage_id, worker))
            return cur.rowcount == 1

    def finish(self, stage_id: str, worker: str, outcome: dict, provenance: dict, scores: Iterable[dict] = ()) -> bool:
        """Record a stage as done with its scores, if `worker` still holds it; a finished stage is
        never overwritten. False when the result was discarded."""
        now = time.time()
        with self.transaction() as c:
            row = c.execute("SELECT status, worker, started FROM stages WHERE id=?", (stage_id,)).fetchone()
            if row is None or row["status"] != "running" or row["worker"] != worker:
                return False
            # A reopened stage (`reopen_gaps`) kept its earlier result until now: replaced here, at once.
            for table in ("scores", "gaps", "flags"):
                c.execute(f"DELETE FROM {table} WHERE stage_id=?", (stage_id,))
            for s in scores:
                c.execute(
                    "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (stage_id, s["task"], s["language"], s["split"], s["metric"], float(s["value"]), int(s["primary"]), int(s["n_examples"]), s.get("chance")),
                )
            _write_gaps_and_flags(c, stage_id, outcome)
            c.execute(
                """UPDATE stages SET status='done', finished=?, outcome=?, provenance=?, seconds=?, spec_hash=?,
                   code_version=?, hardware=? WHERE id=?""",
                (
                    now, json.dumps(outcome), json.dumps(provenance), now - (row["started"] or now),
                    provenance.get("spec_hash"), provenance.get("code_version"), json.dumps(provenance.get("hardware")), stage_id,
                ),
            )
            c.execute("UPDATE attempts SET status='done', ended=? WHERE stage_id=? AND worker=? AND status='running'", (now, stage_id, worker))
            return True

    def fail(self, stage_id: str, worker: str, error: str, detail: str | None = None) -> bool:
        """Record a stage as failed; a reopened stage (`reopen_gaps`) is done again with its earlier
        result, the error kept in its attempts."""
        now = time.time()
        line = " ".join(error.split())[:2000]
        with self.transaction() as c:
            cur = c.execute(
                f"UPDATE stages SET {_FAILED_OR_DONE_AGAIN}, error=? WHERE id=? AND worker=? AND status='running'",
                (now, line, stage_id, worker),
            )
            c.execute(
                "UPDATE attempts SET status='failed', ended=?, error=?, detail=? WHERE stage_id=? AND worker=? AND status='running'",
                (now, line, detail, stage_id, worker),
            )
            return cur.rowcount == 1

    def release(self, stage_id: str, worker: str, reason: str = "released") -> bool:
        """Give a running stage back (interrupted, preempted): pending again, for anyone to take."""
        now = time.time()
        with self.transaction() as c:
            cur = c.execute(
                """UPDATE stages SET status='pending', worker=NULL, heartbeat=NULL, lease_host=NULL, lease_pid=NULL, lease_started=NULL,
                   lease_machine=NULL WHERE id=? AND worker=? AND status='running'""",
                (stage_id, worker),
            )
            c.execute(
                "UPDATE attempts SET status=?, ended=? WHERE stage_id=? AND worker=? AND status='running'",
                (reason, now, stage_id, worker),
            )
            return cur.rowcount == 1

    def take_back_dead(self) -> list[tuple[str, str, Holder]]:
        """End at once the leases of running stages held by processes of this machine that no longer
        exist (killed, out of memory, closed terminal): their stages count as expired leases, to be
        claimed again (or abandoned after `max_attempts`). Returns (stage id, worker, holder)."""
        dead = self.dead_holders()
        if not dead:
            return []
        with self.transaction() as c:
            for stage_id, worker, holder in dead:
                c.execute(
                    "UPDATE stages SET heartbeat=0 WHERE id=? AND worker=? AND lease_pid=? AND status='running'",
                    (stage_id, worker, holder.pid),
                )
        return dead

    def dead_holders(self) -> list[tuple[str, str, Holder]]:
        """(stage id, worker, holder) of the running stages whose lease is held by a process of this
        machine that no longer exists and was not taken back yet (`take_back_dead`). Reads only."""
        me = this_process()
        rows = self._conn.execute(
            """SELECT id, worker, lease_pid, lease_started, lease_machine FROM stages
               WHERE status='running' AND lease_host=? AND lease_pid IS NOT NULL AND heartbeat > 0""",
            (me.host,),
        ).fetchall()
        return [
            (r["id"], r["worker"], holder)
            for r in rows
            if alive(holder := Holder(me.host, int(r["lease_pid"]), r["lease_started"], r["lease_machine"])) is False
        ]

    def holders(self) -> dict[str, tuple[str, str | None, float | None]]:
        """id -> (worker, host, heartbeat) of every running stage."""
        return {
            r[0]: (r[1], r[2], r[3])
            for r in self._conn.execute("SELECT id, worker, lease_host, heartbeat FROM stages WHERE status='running'")
        }

    def abandon_expired(self, lease_seconds: float, max_attempts: int) -> list[str]:
        """Mark failed the running stages whose workers stopped heart-beating `max_attempts` times."""
        now = time.time()
        with self.transaction() as c:
            rows = c.execute(
                "SELECT id, attempts FROM stages WHERE status='running' AND heartbeat < ? AND attempts >= ?",
                (now - lease_seconds, max_attempts),
            ).fetchall()
            for r in rows:
                error = f"abandoned: {r['attempts']} attempts ended without a result (worker crashed or was killed?)"
                c.execute(f"UPDATE stages SET {_FAILED_OR_DONE_AGAIN}, error=? WHERE id=?", (now, error, r["id"]))
                c.execute("UPDATE attempts SET status='lost', ended=? WHERE stage_id=? AND status='running'", (now, r["id"]))
            return [r["id"] for r in rows]

    # -- evaluations with gaps ----------------------------------------------------------------------
    def stages_with_gaps(self, stage_ids: Iterable[str] | None = None) -> list[str]:
        """Finished evaluate stages (of `stage_ids`, or all) that recorded languages they could not score."""
        rows = self._conn.execute(
            "SELECT id FROM stages WHERE kind='evaluate' AND status='done' AND id IN (SELECT stage_id FROM gaps) ORDER BY rowid"
        ).fetchall()
        wanted = set(stage_ids) if stage_ids is not None else None
        return [r[0] for r in rows if wanted is None or r[0] in wanted]

    def reopen_gaps(self, stage_ids: Iterable[str] | None = None) -> list[str]:
        """Set finished evaluate stages with gaps back to pending, to be evaluated again. Their scores,
        gaps and outcome stay until the new evaluation finishes (`finish` replaces them in its
        transaction); if it fails, the stage is done again with them (`fail`)."""
        with self.transaction():
            ids = self.stages_with_gaps(stage_ids)
            for stage_id in ids:
                self._conn.execute(
                    """UPDATE stages SET status='pending', worker=NULL, heartbeat=NULL, lease_host=NULL, lease_pid=NULL,
                       lease_started=NULL, lease_machine=NULL WHERE id=? AND status='done'""",
                    (stage_id,),
                )
        return ids

    # -- queries ----------------------------------------------------------------------------------
    def stage(self, stage_id: str) -> StageRow | None:
        row = self._conn.execute("SELECT * FROM stages WHERE id=?", (stage_id,)).fetchone()
        return _stage_row(row) if row else None

    def stages(self, stage_ids: Iterable[str] | None = None) -> list[StageRow]:
        rows = [_stage_row(r) for r in self._conn.execute("SELECT * FROM stages ORDER BY rowid")]
        if stage_ids is None:
            return rows
        wanted = set(stage_ids)
        return [r for r in rows if r.id in wanted]

    def statuses(self) -> dict[str, tuple[str, float | None, float | None, str | None]]:
        """id -> (status, heartbeat, finished, worker): the light view workers poll."""
        return {r[0]: (r[1], r[2], r[3], r[4]) for r in self._conn.execute("SELECT id, status, heartbeat, finished, worker FROM stages")}

    def status_counts(self, stage_ids: Iterable[str] | None = None) -> dict[str, int]:
        ids = set(stage_ids) if stage_ids is not None else None
        counts: dict[str, int] = {}
        for r in self._conn.execute("SELECT id, status FROM stages"):
            if ids is None or r["id"] in ids:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    def attempts(self, stage_id: str | None = None) -> list[dict]:
        params: tuple[str, ...]
        query, params = "SELECT * FROM attempts", ()
        if stage_id is not None:
            query, params = query + " WHERE stage_id=?", (stage_id,)
        return [dict(r) for r in self._conn.execute(query + " ORDER BY stage_id, attempt", params)]

    def scores_frame(self, spec_name: str | None = None) -> Any:
        """Scores joined with the labels of `spec_name` (or of every spec) and the provenance of
        their stage, as a pandas DataFrame (one row per stage, task, language, metric and split)."""
        import pandas as pd  # lazy: loads pandas

        query = """
            SELECT c.spec, c.model, c.model_path, c.condition, c.target, c.seed, s.stage_id, s.task, s.language,
                   s.split, s.metric, s.value, s.is_primary, s.n_examples, s.chance, st.outcome,
                   st.spec_hash, st.code_version, st.hardware, st.started, st.finished, st.seconds, st.provenance
            FROM scores s JOIN cells c ON c.stage_id = s.stage_id JOIN stages st ON st.id = s.stage_id
        """
        params: tuple = ()
        if spec_name is not None:
            query += " WHERE c.spec = ?"
            params = (spec_name,)
        frame = pd.read_sql_query(query + " ORDER BY c.spec, s.rowid", self._conn, params=params)
        outcomes = [json.loads(o or "{}") for o in frame.pop("outcome")]
        frame["family"] = [o.get("family") for o in outcomes]
        provenance = [json.loads(p or "{}") for p in frame.pop("provenance")]
        frame["packages"] = [json.dumps(p.get("packages")) if p.get("packages") else None for p in provenance]
        frame["worker"] = [p.get("worker") for p in provenance]
        return frame

    def cells_frame(self, spec_name: str | None = None) -> Any:
        import pandas as pd  # lazy: loads pandas

        query = "SELECT c.*, st.status, st.error, st.attempts FROM cells c JOIN stages st ON st.id = c.stage_id"
        params: tuple = ()
        if spec_name is not None:
            query += " WHERE c.spec = ?"
            params = (spec_name,)
        # Registration order is the plan's order (models, seeds, conditions, targets as the spec lists them).
        return pd.read_sql_query(query + " ORDER BY c.rowid", self._conn, params=params)

    def spec_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT spec FROM cells ORDER BY spec")]

    def spec_records(self) -> list[dict]:
        return [dict(r) for r in self._conn.execute("SELECT name, hash, registered FROM specs ORDER BY registered")]

    def gaps_frame(self, spec_name: str | None = None) -> Any:
        """The languages finished evaluate stages could not score, with the cell's labels and the
        reason: one row per (stage, task, language, split)."""
        return self._labelled_frame(
            "SELECT c.spec, c.model, c.condition, c.target, c.seed, g.stage_id, g.task, g.language, g.split, g.reason "
            "FROM gaps g JOIN cells c ON c.stage_id = g.stage_id",
            spec_name, "g.rowid",
        )

    def flags_frame(self, spec_name: str | None = None) -> Any:
        """Flags of finished stages (e.g. 'not_learned') with the cell's labels; `detail` is a dict."""
        frame = self._labelled_frame(
            "SELECT c.spec, c.kind, c.model, c.condition, c.target, c.seed, f.stage_id, f.flag, f.detail "
            "FROM flags f JOIN cells c ON c.stage_id = f.stage_id",
            spec_name, "f.rowid",
        )
        frame["detail"] = [json.loads(d) for d in frame["detail"]]
        return frame

    def _labelled_frame(self, query: str, spec_name: str | None, order: str) -> Any:
        import pandas as pd  # lazy: loads pandas

        params: tuple = ()
        if spec_name is not None:
            query += " WHERE c.spec = ?"
            params = (spec_name,)
        return pd.read_sql_query(f"{query} ORDER BY c.spec, {order}", self._conn, params=params)


# A stage that ends without a result: failed, unless it was a finished stage reopened to fill its
# gaps (it still has its outcome), which is done again with its earlier result. Parameter: now.
_FAILED_OR_DONE_AGAIN = (
    "status=CASE WHEN outcome IS NULL THEN 'failed' ELSE 'done' END, finished=CASE WHEN outcome IS NULL THEN ? ELSE finished END"
)


def _write_gaps_and_flags(c: sqlite3.Connection, stage_id: str, outcome: dict) -> None:
    """The rows of a finishing stage's recorded gaps and flags (see GAPS_KEY, FLAGS_KEY)."""
    for gap in outcome.get(GAPS_KEY) or ():
        c.execute(
            "INSERT OR REPLACE INTO gaps VALUES (?, ?, ?, ?, ?)",
            (stage_id, gap["task"], gap["language"], gap["split"], " ".join(str(gap["reason"]).split())[:2000]),
        )
    for flag, detail in (outcome.get(FLAGS_KEY) or {}).items():
        c.execute("INSERT OR REPLACE INTO flags VALUES (?, ?, ?)", (stage_id, flag, json.dumps(detail, sort_keys=True)))


# How long a read-only command waits for a writer's lock (writers hold it only while committing).
READ_TIMEOUT_SECONDS = 10.0
# The oldest schema whose tables the queries above read unchanged (a read-only open cannot migrate);
# later migrations that only add tables are read as empty tables. Raise it when a migration changes
# a table or column that the queries read.
OLDEST_READABLE_SCHEMA = 2
_XSTILTS_TABLES = frozenset({"meta", "stages", "scores", "cells"})


class _CannotShareMemory(Exception):
    """mode=ro could not open a WAL store's shared-memory file (a read-only folder)."""


def _check_store_file(path: Path) -> None:
    """What a stat can tell. The file is never opened outside SQLite: closing any descriptor of a
    file drops every POSIX lock this process holds on it, those of its SQLite connections too, and
    a store whose locks vanish under a live connection loses writes. A file that is not an SQLite
    database is refused by SQLite itself (`_unreadable`)."""
    if not path.exists():
        raise XStiltsError(f"{path}: no results store here (run the experiment first)")
    if path.is_dir():
        raise XStiltsError(f"{path}: is a folder, not a results store")
    if path.stat().st_size == 0:
        raise XStiltsError(f"{path}: not an xstilts results store (an empty file)")


def _unreadable(path: Path, err: sqlite3.Error) -> XStiltsError:
    if getattr(err, "sqlite_errorname", "") == "SQLITE_NOTADB" or "file is not a database" in str(err):
        return XStiltsError(f"{path}: not an xstilts results store (not an SQLite database)")
    return XStiltsError(f"{path}: not a readable xstilts results store ({err})")


def _has_journal(path: Path) -> bool:
    return any(Path(f"{path}{suffix}").exists() for suffix in ("-wal", "-journal"))


def _probe(path: Path) -> None:
    """Check the main file as `_check_readable` does, without locks or side files (immutable=1):
    only right when no writer is active, which the caller checked."""
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?immutable=1", uri=True)
    except sqlite3.Error:
        return  # the real open reports it
    _check_readable(conn, path, 0.0)
    conn.close()


def _adds_tables_only(step: list[str] | Callable[[sqlite3.Connection], None]) -> bool:
    return not callable(step) and all(re.match(r"\s*CREATE TABLE ", statement) for statement in step)


def _add_missing_tables(conn: sqlite3.Connection) -> None:
    """Read an older store whose later migrations only add tables as if those tables were empty:
    they are created as TEMP tables of this connection, the file is not touched."""
    for step in MIGRATIONS[_version(conn):]:
        for statement in step:  # type: ignore[union-attr]  # checked by _adds_tables_only
            conn.execute(re.sub(r"REFERENCES \w+\(\w+\)", "", statement.replace("CREATE TABLE ", "CREATE TEMP TABLE ", 1)))


def _check_readable(conn: sqlite3.Connection, path: Path, wait: float) -> None:
    """Refuse, in one line, a database that is not an xstilts store of a schema these queries read."""
    try:
        version = _classify(conn, path)
        problem = conn.execute("PRAGMA quick_check(1)").fetchone()[0]
    except sqlite3.Error as err:
        conn.close()
        name = getattr(err, "sqlite_errorname", "") or ""
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            raise XStiltsError(f"{path}: locked by another process for more than {wait:g} s; try again when it is done") from None
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")) and not os.access(path.parent, os.W_OK):
            raise _CannotShareMemory() from None
        raise _unreadable(path, err) from None
    except XStiltsError:
        conn.close()
        raise
    if problem != "ok":
        conn.close()
        raise XStiltsError(f"{path}: not a readable xstilts results store (damaged: {problem})")
    if version > SCHEMA_VERSION:
        conn.close()
        raise XStiltsError(f"{path}: written by a newer xstilts (schema {version} > {SCHEMA_VERSION}); upgrade xstilts to read it")
    if version < OLDEST_READABLE_SCHEMA or not all(_adds_tables_only(step) for step in MIGRATIONS[version:]):
        conn.close()
        raise XStiltsError(
            f"{path}: results store of schema {version}, which this xstilts (schema {SCHEMA_VERSION}) reads only after "
            "a migration; reading commands never change a store: the next `xstilts run` of its spec migrates it"
        )


def _classify(conn: sqlite3.Connection, path: Path) -> int:
    """The schema version of an xstilts store; a database without xstilts's tables or schema
    version is refused in one line. sqlite3 errors are the caller's to report."""
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not names >= _XSTILTS_TABLES:
        raise XStiltsError(f"{path}: not an xstilts results store (an SQLite database without xstilts's tables)")
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if not (row and str(row[0]).isdigit()):
        raise XStiltsError(f"{path}: not an xstilts results store (no schema version)")
    return int(row[0])


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _version(c: sqlite3.Connection) -> int:
    has_meta = c.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone()
    if not has_meta:
        return 0
    row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    return int(row[0]) if row else 0


def _stage_row(r: sqlite3.Row) -> StageRow:
    keys = r.keys()
    return StageRow(
        id=r["id"], kind=r["kind"], parent=r["parent"], status=r["status"], attempts=r["attempts"], worker=r["worker"],
        heartbeat=r["heartbeat"], description=json.loads(r["description"]), outcome=json.loads(r["outcome"]) if r["outcome"] else None,
        error=r["error"], started=r["started"], finished=r["finished"], seconds=r["seconds"] if "seconds" in keys else None,
    )
