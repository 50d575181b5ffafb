"""Grid cost: what sharing intermediate stages and the tokenised-feature cache save.

A small synthetic grid (one tiny random-weight model, the no-intermediate baseline and two
intermediate tasks, three targets, a few training steps) is run three times:
  cold    fresh output folder, empty feature cache
  warm    fresh output folder, feature cache from the cold run (every stage trains again, no
          tokenisation)
  rerun   the warm run's folder again (every stage is already done and is reused)
The planner's stage count is compared with a naive grid that trains every (condition, target)
cell's pipeline on its own, and the measured intermediate-stage time gives the seconds saved.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path


def grid_spec(model_dir: Path, output: Path, quick: bool) -> dict:
    steps = 4 if quick else 8
    return {
        "name": "bench-grid",
        "models": [{"name": "tiny", "path": str(model_dir)}],
        "intermediate": ["none", "syn-nli", "syn-squad"],
        # No retrieval target: evaluation.max_examples caps the query+candidate list of syn-tatoeba
        # before its candidates (xstilts then fails with "k must be at least 1").
        "targets": ["syn-para", "syn-pos", "syn-qa"] if quick else ["syn-para", "syn-pos", "syn-qa", "syn-copa"],
        "seeds": [0],
        "output_dir": str(output),
        "device": "cpu",
        "training": {
            "intermediate": {"max_steps": steps, "max_train_examples": 256, "max_dev_examples": 64, "batch_size": 16},
            "target": {"max_steps": steps, "max_train_examples": 128, "max_dev_examples": 64, "batch_size": 16},
            "max_restarts": 0,
        },
        "evaluation": {"max_examples": 64 if quick else 128},
    }


def naive_stage_count(stages: list) -> dict[str, int]:
    """Stages a grid without sharing would run: every (model, seed, condition, target) cell
    trains its own intermediate stage."""
    cells = [s for s in stages if s.kind == "evaluate"]
    intermediate = sum(1 for s in cells if not s.condition.is_baseline)
    target = sum(1 for s in stages if s.kind == "target")
    return {"intermediate": intermediate, "target": target, "evaluate": len(cells)}


def run_grid(work_dir: Path, quick: bool) -> dict:
    from xstilts.experiments.plan import plan
    from xstilts.experiments.runner import run_spec
    from xstilts.experiments.spec import spec_from_dict
    from xstilts.experiments.store import ResultsStore

    model_dir = work_dir / "model-tiny"
    root = work_dir / "grid"
    shutil.rmtree(root, ignore_errors=True)
    os.environ["XSTILTS_CACHE"] = str(root / "cache")
    spec_cold = spec_from_dict(grid_spec(model_dir, root / "cold", quick))
    spec_warm = spec_from_dict(grid_spec(model_dir, root / "warm", quick))
    stages = plan(spec_cold)
    planned = {k: sum(1 for s in stages if s.kind == k) for k in ("intermediate", "target", "evaluate")}
    naive = naive_stage_count(stages)

    # The synthetic data files are generated once, outside every timing.
    from xstilts.synthetic.files import SyntheticBenchmark

    bench = SyntheticBenchmark()
    for name in {t for c in spec_cold.conditions() for t in c.tasks} | set(spec_cold.target_names()):
        bench.ensure_task_data(name)

    runs = {}
    for label, spec in (("cold", spec_cold), ("warm", spec_warm), ("rerun", spec_warm)):
        started = time.perf_counter()
        summary = run_spec(spec)
        runs[label] = {"seconds": round(time.perf_counter() - started, 2), "ran": len(summary.ran), "reused": len(summary.reused)}
    store = ResultsStore(root / "cold" / "results.sqlite")
    try:
        wall = {s.id: (store.stage(s.id).outcome or {}).get("wall_seconds") for s in stages}
    finally:
        store.close()
    per_kind = {k: [wall[s.id] for s in stages if s.kind == k and wall[s.id] is not None] for k in planned}
    mean = {k: (sum(v) / len(v) if v else 0.0) for k, v in per_kind.items()}
    saved_intermediate = naive["intermediate"] - planned["intermediate"]
    naive_seconds = runs["cold"]["seconds"] + saved_intermediate * mean["intermediate"]
    return {
        "spec": grid_spec(Path("<tiny model>"), Path("<out>"), quick),
        "stages_planned": planned,
        "stages_naive": naive,
        "runs": runs,
        "mean_stage_seconds": {k: round(v, 2) for k, v in mean.items()},
        "estimated_naive_seconds": round(naive_seconds, 2),
        "sharing_saves": round(1 - runs["cold"]["seconds"] / naive_seconds, 3) if naive_seconds else None,
        "feature_cache_saves_seconds": round(runs["cold"]["seconds"] - runs["warm"]["seconds"], 2),
        "feature_cache": feature_cache_timing(model_dir, root / "cache-probe"),
    }


def feature_cache_timing(model_dir: Path, cache_dir: Path) -> dict:
    """Tokenising a task's training set vs reading it back from the feature cache."""
    from xstilts.data.loading import load_examples
    from xstilts.kinds import FeaturizeOptions
    from xstilts.models.backbone import BackboneOptions
    from xstilts.models.features import cached_features
    from xstilts.models.model import load_pretrained
    from xstilts.tasks import get_task

    model = load_pretrained(str(model_dir), BackboneOptions())
    out = {}
    for name in ("syn-nli", "syn-squad"):
        task = get_task(name)
        examples = load_examples(task, task.train_split, "en", None)
        options = FeaturizeOptions(max_length=task.hyperparameters.max_length)
        times = []
        for _ in range(2):  # first: tokenise and store; second: read back
            started = time.perf_counter()
            cached_features(model, task, examples, options, cache_dir)
            times.append(time.perf_counter() - started)
        started = time.perf_counter()
        cached_features(model, task, examples, options, None)
        plain = time.perf_counter() - started
        out[name] = {"examples": len(examples), "tokenise_s": round(plain, 3), "tokenise_and_store_s": round(times[0], 3), "cached_read_s": round(times[1], 3)}
    return out


def main(argv: list[str]) -> int:
    """`python -m benchmarks.grid WORK_DIR RESULT.json [--quick]`."""
    result = run_grid(Path(argv[0]), "--quick" in argv)
    Path(argv[1]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
