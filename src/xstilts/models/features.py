"""Tokenised features of a model for a task, cached on disk by tokenizer, task, examples and options.

A second run of the same stage (or another stage needing the same features: every target of a
grid evaluates on the same data) reads Arrow files instead of tokenising again. Each entry holds a
manifest with its row count and file checksums; an entry that does not match it (a truncated or
damaged file) is discarded with a warning and computed again, never read.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from xstilts.io import TMP_MARK, atomic_dir, atomic_write_json, sha256_file
from xstilts.kinds import FeaturizeOptions, handler_for
from xstilts.kinds.base import Feature
from xstilts.models.model import XStiltsModel
from xstilts.tasks.base import Example, Task

log = logging.getLogger(__name__)

CACHE_VERSION = 3  # 2: entries carry a manifest (rows, checksums); 3: retrieval candidates with a context are pairs
MANIFEST = "xstilts-features.json"


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
    import datasets  # lazy: loads datasets
    from datasets import Dataset, load_from_disk  # lazy: loads datasets

    datasets.disable_progress_bars()  # the stage's own progress is what the user watches
    path = Path(cache_dir) / feature_key(model, task, examples, options)
    if path.exists():
        cached = _read_entry(path, load_from_disk)
        if cached is not None:
            return cached
    features = handler.featurize(examples, model.tokenizer, model.input_format, task, options)
    try:
        with atomic_dir(path) as tmp:
            Dataset.from_list(features).save_to_disk(str(tmp))
            files = sorted(p for p in tmp.rglob("*") if p.is_file())
            atomic_write_json(tmp / MANIFEST, {"rows": len(features), "checksums": {str(p.relative_to(tmp)): sha256_file(p) for p in files}})
    except Exception as err:  # noqa: BLE001 - a cache failure must not fail the run
        log.warning("could not cache features in %s (%s); continuing without cache", path, err)
    return features


def _read_entry(path: Path, load_from_disk) -> list[Feature] | None:
    """The entry's features, or None (the entry removed) when it does not match its manifest."""
    try:
        manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        for name, digest in manifest["checksums"].items():
            if sha256_file(path / name) != digest:
                raise ValueError(f"{name}: checksum mismatch")
        features = load_from_disk(str(path)).to_list()
        if len(features) != manifest["rows"]:
            raise ValueError(f"{len(features)} rows, the manifest says {manifest['rows']}")
    except Exception as err:  # noqa: BLE001 - any damage: recompute rather than read it
        log.warning("feature cache entry %s is damaged (%s: %s); computing the features again", path, type(err).__name__, err)
        _discard(path)
        return None
    return _restore_tuples(features)


def _discard(path: Path) -> None:

    aside = path.with_name(f"{path.name}{TMP_MARK}damaged-{os.getpid()}")
    try:
        os.rename(path, aside)  # out of the way at once, so that a fresh entry can take its name
    except OSError:
        return  # another process moved it first
    shutil.rmtree(aside, ignore_errors=True)


def _restore_tuples(features: list[Feature]) -> list[Feature]:
    """Arrow returns offset pairs as lists; the kinds compare them as tuples."""
    for f in features:
        if "offset_mapping" in f:
            f["offset_mapping"] = [tuple(o) if o is not None else None for o in f["offset_mapping"]]
    return features
