"""The results store: one SQLite database (WAL) per output folder.

Tables
  meta    schema version
  stages  every planned stage: status (pending / running / done / failed), lease (worker,
          heartbeat), attempts, provenance and outcome as JSON
  scores  one row per (stage, language, metric) of evaluate stages
  cells   the labels a spec gives each stage: model, condition, target, seed
A stage's scores and its 'done' status are written in one transaction, so a killed writer leaves
either both or neither.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xstilts.errors import XStiltsError

SCHEMA_VERSION = 1

_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)""",
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


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class ResultsStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise XStiltsError(f"{self.path}: cannot open the results store ({err})") from None
        self._conn.row_factory = sqlite3.Row
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
        except sqlite3.DatabaseError as err:
            raise XStiltsError(f"{self.path}: not a readable xstilts results store ({err})") from None

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def _migrate(self) -> None:
        with self.transaction() as c:
            for statement in _SCHEMA:
                c.execute(statement)
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row["value"]) > SCHEMA_VERSION:
                raise XStiltsError(f"{self.path}: written by a newer xstilts (schema {row['value']} > {SCHEMA_VERSION}); upgrade xstilts")

    # -- planning ---------------------------------------------------------------------------------
    def register(self, spec_name: str, stages: Iterable[Any]) -> None:
        """Insert planned stages (already known ones keep their status) and this spec's labels."""
        with self.transaction() as c:
            for s in stages:
                c.execute(
                    "INSERT OR IGNORE INTO stages (id, kind, parent, description) VALUES (?, ?, ?, ?)",
                    (s.id, s.kind, s.parent, json.dumps(s.describe())),
                )
                c.execute(
                    "INSERT OR REPLACE INTO cells VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (spec_name, s.id, s.kind, s.model.name, s.model.path, s.condition.name, s.task, s.seed),
                )

    # -- leases -----------------------------------------------------------------------------------
    def claim(self, stage_id: str, worker: str, lease_seconds: float) -> bool:
        """Take a pending stage, or a running one whose lease expired; True if this worker has it."""
        now = time.time()
        with self.transaction() as c:
            cur = c.execute(
                """UPDATE stages SET status='running', worker=?, heartbeat=?, started=?, attempts=attempts+1, error=NULL
                   WHERE id=? AND (status IN ('pending', 'failed') OR (status='running' AND heartbeat < ?))""",
                (worker, now, now, stage_id, now - lease_seconds),
            )
            return cur.rowcount == 1

    def heartbeat(self, stage_id: str, worker: str) -> bool:
        with self.transaction() as c:
            cur = c.execute("UPDATE stages SET heartbeat=? WHERE id=? AND worker=? AND status='running'", (time.time(), stage_id, worker))
            return cur.rowcount == 1

    def finish(self, stage_id: str, worker: str, outcome: dict, provenance: dict, scores: Iterable[dict] = ()) -> None:
        with self.transaction() as c:
            row = c.execute("SELECT status, worker FROM stages WHERE id=?", (stage_id,)).fetchone()
            if row is None or row["status"] == "done":
                return  # never overwrite a finished stage
            for s in scores:
                c.execute(
                    "INSERT OR REPLACE INTO scores VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (stage_id, s["task"], s["language"], s["split"], s["metric"], s["value"], int(s["primary"]), s["n_examples"], s.get("chance")),
                )
            c.execute(
                "UPDATE stages SET status='done', finished=?, outcome=?, provenance=?, worker=? WHERE id=?",
                (time.time(), json.dumps(outcome), json.dumps(provenance), worker, stage_id),
            )

    def fail(self, stage_id: str, worker: str, error: str) -> None:
        with self.transaction() as c:
            c.execute("UPDATE stages SET status='failed', error=?, finished=? WHERE id=? AND worker=? AND status='running'", (error[:2000], time.time(), stage_id, worker))

    # -- queries ----------------------------------------------------------------------------------
    def stage(self, stage_id: str) -> StageRow | None:
        row = self._conn.execute("SELECT * FROM stages WHERE id=?", (stage_id,)).fetchone()
        return _stage_row(row) if row else None

    def stages(self) -> list[StageRow]:
        return [_stage_row(r) for r in self._conn.execute("SELECT * FROM stages ORDER BY rowid")]

    def status_counts(self, stage_ids: Iterable[str] | None = None) -> dict[str, int]:
        ids = set(stage_ids) if stage_ids is not None else None
        counts: dict[str, int] = {}
        for r in self._conn.execute("SELECT id, status FROM stages"):
            if ids is None or r["id"] in ids:
                counts[r["status"]] = counts.get(r["status"], 0) + 1
        return counts

    def scores_frame(self, spec_name: str | None = None) -> Any:
        """Scores joined with the labels of `spec_name` (or of every spec) as a pandas DataFrame."""
        import pandas as pd

        query = """
            SELECT c.spec, c.model, c.model_path, c.condition, c.target, c.seed, s.stage_id, s.task, s.language,
                   s.split, s.metric, s.value, s.is_primary, s.n_examples, s.chance, st.outcome
            FROM scores s JOIN cells c ON c.stage_id = s.stage_id JOIN stages st ON st.id = s.stage_id
        """
        params: tuple = ()
        if spec_name is not None:
            query += " WHERE c.spec = ?"
            params = (spec_name,)
        frame = pd.read_sql_query(query, self._conn, params=params)
        frame["family"] = [json.loads(o or "{}").get("family") for o in frame.pop("outcome")]
        return frame

    def cells_frame(self, spec_name: str | None = None) -> Any:
        import pandas as pd

        query = "SELECT c.*, st.status FROM cells c JOIN stages st ON st.id = c.stage_id"
        params: tuple = ()
        if spec_name is not None:
            query += " WHERE c.spec = ?"
            params = (spec_name,)
        # Registration order is the plan's order (models, seeds, conditions, targets as the spec lists them).
        return pd.read_sql_query(query + " ORDER BY c.rowid", self._conn, params=params)

    def spec_names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT DISTINCT spec FROM cells ORDER BY spec")]


def _stage_row(r: sqlite3.Row) -> StageRow:
    return StageRow(
        id=r["id"], kind=r["kind"], parent=r["parent"], status=r["status"], attempts=r["attempts"], worker=r["worker"],
        heartbeat=r["heartbeat"], description=json.loads(r["description"]), outcome=json.loads(r["outcome"]) if r["outcome"] else None,
        error=r["error"],
    )
