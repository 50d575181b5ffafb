"""On-disk cache of tokenised features, keyed by tokenizer, task, examples and options.

A second run of the same stage (or another stage needing the same features: every target of a
grid evaluates on the same data) reads Arrow files instead of tokenising again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from xstilts.io import atomic_dir
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.kinds.base import Feature
from xstilts.models.model import XStiltsModel
from xstilts.tasks.base import Example, Task

log = logging.getLogger(__name__)

CACHE_VERSION = 1


def tokenizer_fingerprint(model: XStiltsModel) -> str:
    backend = model.tokenizer.backend_tokenizer.to_str()
    blob = json.dumps({"tokenizer": backend, "format": asdict(model.input_format), "family": model.family.value}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def examples_fingerprint(examples: Sequence[Example]) -> str:
    h = hashlib.sha256()
    for ex in examples:
        h.update(json.dumps(ex, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()[:16]


def feature_key(model: XStiltsModel, task: Task, examples: Sequence[Example], options: FeaturizeOptions) -> str:
    blob = json.dumps(
        {
            "v": CACHE_VERSION, "tokenizer": tokenizer_fingerprint(model), "kind": task.kind.value, "labels": list(task.labels),
            "examples": examples_fingerprint(examples), "options": asdict(options),
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def cached_features(model: XStiltsModel, task: Task, examples: Sequence[Example], options: FeaturizeOptions, cache_dir: Path | None) -> list[Feature]:
    """Features of `examples`, from the cache when present; computed and stored otherwise."""
    handler = handler_for(task)
    if cache_dir is None:
        return handler.featurize(examples, model.tokenizer, model.input_format, task, options)
    import datasets
    from datasets import Dataset, load_from_disk

    datasets.disable_progress_bars()  # the stage's own progress is what the user watches
    path = Path(cache_dir) / feature_key(model, task, examples, options)
    if (path / "dataset_info.json").exists():
        return _restore_tuples(load_from_disk(str(path)).to_list())
    features = handler.featurize(examples, model.tokenizer, model.input_format, task, options)
    try:
        with atomic_dir(path) as tmp:
            Dataset.from_list(features).save_to_disk(str(tmp))
    except Exception as err:  # noqa: BLE001 - a cache failure must not fail the run
        log.warning("could not cache features in %s (%s); continuing without cache", path, err)
    return features


def _restore_tuples(features: list[Feature]) -> list[Feature]:
    """Arrow returns offset pairs as lists; the kinds compare them as tuples."""
    for f in features:
        if "offset_mapping" in f:
            f["offset_mapping"] = [tuple(o) if o is not None else None for o in f["offset_mapping"]]
    return features
