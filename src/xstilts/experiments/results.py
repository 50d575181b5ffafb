"""Reading a grid's results: the status of its stages, and its scores as a pandas DataFrame.

    from xstilts.experiments.results import load_scores
    scores = load_scores("examples/phang2020.yaml")          # a spec: its output folder's store
    scores = load_scores("runs/phang2020")                   # an output folder
    scores = load_scores("runs/phang2020/results.sqlite")    # a store

One row per (stage, task, language, metric, split) with the cell's labels (model, condition,
target, seed) and provenance (spec hash, code version, package versions, hardware, timings).
"""

from __future__ import annotations

import io as bytes_io
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xstilts.errors import DataError
from xstilts.experiments.plan import plan
from xstilts.experiments.runner import STORE_NAME, classify
from xstilts.experiments.spec import STAGE_KINDS, ExperimentSpec, load_spec
from xstilts.experiments.store import STATUSES, ResultsStore
from xstilts.io import atomic_write_bytes


def locate_store(path_or_spec: str | Path | ExperimentSpec, base_dir: Path | None = None) -> tuple[Path, str | None]:
    """(results store, spec name or None) of a spec (object or YAML file), an output folder or a store."""
    if isinstance(path_or_spec, ExperimentSpec):
        return path_or_spec.output_path(base_dir) / STORE_NAME, path_or_spec.name
    path = Path(path_or_spec)
    if path.suffix in (".yaml", ".yml"):
        spec = load_spec(path)
        return spec.output_path(base_dir) / STORE_NAME, spec.name
    if path.is_dir():
        return path / STORE_NAME, None
    return path, None


def load_scores(path_or_spec: str | Path | ExperimentSpec, spec: str | None = None, primary_only: bool = False) -> Any:
    """The scores of a grid as a pandas DataFrame (see the module docstring)."""
    store_path, spec_name = locate_store(path_or_spec)
    if not store_path.exists():
        raise DataError(f"{store_path}: no results store here (run the experiment first)")
    with ResultsStore.open_readonly(store_path) as store:
        frame = store.scores_frame(spec or spec_name)
    if primary_only:
        frame = frame[frame["is_primary"] == 1].reset_index(drop=True)
    return frame


EXPORT_FORMATS = (".csv", ".parquet")


def export_scores(frame: Any, path: Path) -> Path:
    """Write the scores to a .csv or .parquet file (the extension in any case), atomically."""

    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise DataError(f"{path}: is a folder; give a file name ending in .csv or .parquet")
    if suffix not in EXPORT_FORMATS:
        raise DataError(f"{path}: export to a file ending in .csv or .parquet")
    if suffix == ".csv":
        data = frame.to_csv(index=False).encode("utf-8")
    else:
        buffer = bytes_io.BytesIO()
        frame.to_parquet(buffer, index=False)
        data = buffer.getvalue()
    atomic_write_bytes(path, data)
    return path


@dataclass
class StageLine:
    id: str
    label: str
    detail: str


@dataclass
class GridStatus:
    spec: str
    store: Path
    exists: bool
    total: int
    counts: dict[str, int] = field(default_factory=dict)  # status -> stages
    by_kind: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> status -> stages
    failed: list[StageLine] = field(default_factory=list)
    running: list[StageLine] = field(default_factory=list)
    blocked: int = 0  # pending stages with a failed ancestor
    score_rows: int = 0


def grid_status(spec: ExperimentSpec, base_dir: Path | None = None) -> GridStatus:
    """Where every stage of the spec's grid stands (stages not in the store yet count as pending)."""
    stages = plan(spec)
    store_path = spec.output_path(base_dir) / STORE_NAME
    status = GridStatus(spec.name, store_path, store_path.exists(), len(stages))
    statuses: dict = {}
    rows: dict = {}
    dead: dict = {}
    if status.exists:
        with ResultsStore.open_readonly(store_path) as store:
            statuses = store.statuses()
            rows = {r.id: r for r in store.stages([s.id for s in stages])}
            status.score_rows = len(store.scores_frame(spec.name))
            dead = {stage_id: holder for stage_id, _, holder in store.dead_holders()}
    now = time.time()
    state = classify(stages, statuses, "", 0.0, spec.executor.lease_seconds, now)
    status.by_kind = {kind: {s: 0 for s in STATUSES} for kind in STAGE_KINDS}
    for s in stages:
        current = statuses.get(s.id, ("pending",))[0]
        status.counts[current] = status.counts.get(current, 0) + 1
        status.by_kind[s.kind][current] += 1
        if current == "pending" and state[s.id] == "blocked":
            status.blocked += 1
        row = rows.get(s.id)
        if current == "failed" and row is not None:
            status.failed.append(StageLine(s.id, s.label, row.error or "no error recorded"))
        if current == "running" and row is not None:
            age = now - (row.heartbeat or now)
            stale = " (lease expired: its worker stopped?)" if age > spec.executor.lease_seconds else ""
            if s.id in dead:
                stale = f" (holder process {dead[s.id].pid} has died; the next run takes it back)"
            status.running.append(StageLine(s.id, s.label, f"worker {row.worker}, heartbeat {age:.0f}s ago{stale}"))
    return status
