"""Fixtures of the reliability suite (helpers live in `reliability_helpers`, fault hooks for
worker subprocesses in `reliability_faults`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def tiny_grid_baseline(tiny_models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, session_cache: Path):
    """`tiny_spec`'s grid (encoder) run once without faults: what every interrupted run must reproduce."""
    from xstilts.experiments.runner import run_spec
    from xstilts.experiments.spec import spec_from_dict

    from reliability_helpers import Finished, stage_ids, store_scores, tiny_spec, weight_digests

    out = tmp_path_factory.mktemp("baseline") / "out"
    raw = tiny_spec(out, tiny_models["encoder"])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XSTILTS_CACHE", str(session_cache))
        mp.setenv("OMP_NUM_THREADS", "1")
        summary = run_spec(spec_from_dict(raw))
    assert not summary.failed and len(summary.ran) == 2
    target, evaluate = stage_ids(raw)
    scores = store_scores(out)
    assert {s[2] for s in scores} == {"en", "clo", "scr", "ord"}
    return Finished(out, scores, weight_digests(out), target, evaluate)


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One synthetic-benchmark and feature cache for the suite."""
    return tmp_path_factory.mktemp("xstilts-cache")


@pytest.fixture(scope="module", autouse=True)
def _isolated(session_cache: Path) -> Iterator[None]:
    """Local-data variables of the developer's shell must not change the tests; runs use the
    suite's cache and one thread. Module-scoped so that module-scoped baselines see it too."""
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("XSTILTS_DATA") or name.startswith("XSTILTS_FAULT"):
                mp.delenv(name)
        mp.setenv("XSTILTS_CACHE", str(session_cache))
        mp.setenv("OMP_NUM_THREADS", "1")
        yield
