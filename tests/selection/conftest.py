"""Fixtures for the model-facing selection tests: tiny random-weight models of both families with
a locally trained tokenizer, the synthetic benchmark's data in a temporary cache, and a small
results store written through `ResultsStore`'s public API."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def _build_backbones(root: Path) -> dict[str, Path]:
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer

    from xstilts.synthetic.benchmark import ModelShape
    from xstilts.synthetic.pretrain import model_config
    from xstilts.synthetic.tokenizer import train_tokenizer
    from xstilts.synthetic.world import LANGUAGES, World

    world, rng = World(0), random.Random(0)
    lines = [world.realise(world.random_proposition(rng), lang).text for _ in range(300) for lang in LANGUAGES]
    corpus = root / "corpus.txt"
    corpus.write_text("\n".join(lines))
    train_tokenizer(corpus, 300, root / "tokenizer")
    tokenizer = AutoTokenizer.from_pretrained(str(root / "tokenizer"))
    shape = ModelShape(layers=2, hidden=32, heads=2, intermediate=64, max_positions=130)
    paths = {}
    for family, cls in (("encoder", AutoModelForMaskedLM), ("decoder", AutoModelForCausalLM)):
        torch.manual_seed(0)
        model = cls.from_config(model_config(family, shape, tokenizer))
        model.save_pretrained(str(root / family), safe_serialization=True)
        tokenizer.save_pretrained(str(root / family))
        paths[family] = root / family
    return paths


@pytest.fixture(scope="session")
def tiny_backbones(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Paths of a tiny random-weight encoder (XLM-R config) and decoder (Llama config)."""
    return _build_backbones(tmp_path_factory.mktemp("selection-backbones"))


@pytest.fixture(scope="session")
def _synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("selection-cache")


@pytest.fixture
def synthetic_cache(_synthetic_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """XSTILTS_CACHE pointing at a session-wide temporary cache (synthetic data is generated there)."""
    monkeypatch.setenv("XSTILTS_CACHE", str(_synthetic_root))
    return _synthetic_root


@pytest.fixture(params=["encoder", "decoder"])
def family(request: pytest.FixtureRequest) -> str:
    return request.param


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
