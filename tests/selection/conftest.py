"""Fixtures for the model-facing selection tests: tiny random-weight models of both families with
a locally trained tokenizer, the synthetic benchmark's data in a temporary cache, and a small
results store written through `ResultsStore`'s public API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest


@pytest.fixture(scope="session")
def tiny_backbones(tiny_models: dict[str, Path]) -> dict[str, Path]:
    """The tiny random-weight encoder and decoder of the top-level conftest."""
    return tiny_models


@pytest.fixture(scope="session")
def _synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("selection-cache")


@pytest.fixture
def synthetic_cache(_synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XSTILTS_CACHE pointing at a session-wide temporary cache (synthetic data is generated there)."""
    monkeypatch.setenv("XSTILTS_CACHE", str(_synthetic_root))
    return _synthetic_root


# -- a results store ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class FakeStage:
    """What `ResultsStore.register` reads from a planned stage."""

    id: str
    kind: str
    model: SimpleNamespace
    condition: SimpleNamespace
    task: str | None
    seed: int
    parent: str | None = None

    def describe(self) -> dict:
        return {"id": self.id, "kind": self.kind, "model": self.model.name, "condition": self.condition.name, "task": self.task, "seed": self.seed}


def write_grid(
    path: Path,
    scores: dict[tuple[str, str, str, int], dict[str, float]],
    *,
    model_paths: dict[str, str],
    families: dict[str, str],
    seconds: dict[str, float] | None = None,
    spec: str = "grid",
    checkpoints: dict[tuple[str, str], str] | None = None,
) -> Path:
    """A results store holding evaluate stages with `scores[(model, condition, target, seed)] =
    {language: score}`, their target stages, and one intermediate stage per (model, condition)
    (seed 0). `seconds[kind]` is every stage's recorded wall time of that kind."""
    from xstilts.experiments.store import ResultsStore

    seconds = seconds or {"intermediate": 100.0, "target": 10.0, "evaluate": 1.0}
    checkpoints = checkpoints or {}
    store = ResultsStore(path)
    stages, outcomes, stage_scores = [], {}, {}

    def add(stage: FakeStage, outcome: dict, rows: list[dict] | None = None) -> None:
        stages.append(stage)
        outcomes[stage.id] = outcome
        stage_scores[stage.id] = rows or []

    made_intermediate = set()
    for (model, condition, target, seed), by_language in scores.items():
        m = SimpleNamespace(name=model, path=model_paths[model])
        c = SimpleNamespace(name=condition)
        family = families[model]
        if condition != "none" and (model, condition) not in made_intermediate:
            made_intermediate.add((model, condition))
            outcome = {"family": family, "wall_seconds": seconds["intermediate"]}
            if (model, condition) in checkpoints:
                outcome["checkpoint"] = checkpoints[(model, condition)]
            add(FakeStage(f"i-{model}-{condition}", "intermediate", m, c, None, 0), outcome)
        key = f"{model}-{condition}-{target}-{seed}"
        add(FakeStage(f"t-{key}", "target", m, c, target, seed), {"family": family, "wall_seconds": seconds["target"]})
        rows = [
            {"task": target, "language": lang, "split": "validation", "metric": "accuracy", "value": v, "primary": True, "n_examples": 10}
            for lang, v in by_language.items()
        ]
        add(FakeStage(f"e-{key}", "evaluate", m, c, target, seed), {"family": family, "wall_seconds": seconds["evaluate"]}, rows)
    store.register(spec, stages)
    for stage in stages:
        assert store.claim(stage.id, "test", 60)
        store.finish(stage.id, "test", outcomes[stage.id], {}, stage_scores[stage.id])
    store.close()
    return path
