"""A tiny grid of three synthetic models per family (pretraining-seed variants) through the real
pipeline: pretraining, stages, results store and report. The benchmark is shrunk (tiny corpus,
tokenizer, shapes and a few pretraining steps) so that the six models pretrain in seconds; the
report must say that it treated models as random within their family, and what that generalises to."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

import xstilts.synthetic.files
from xstilts.analysis.report import ReportOptions, write_report
from xstilts.experiments.runner import run_spec
from xstilts.experiments.spec import spec_from_dict
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.spec import MODEL_NAMES, ModelShape, PretrainSettings, SyntheticSpec, model_variant

THREE_PER_FAMILY = [n for n in MODEL_NAMES if model_variant(n).variant < 3]  # type: ignore[union-attr]
TINY_SHAPE = ModelShape(layers=1, hidden=32, heads=2, intermediate=64, max_positions=130)


def tiny_spec() -> SyntheticSpec:
    default = SyntheticSpec()
    return replace(
        default,
        sizes={task: {split: 48 if split == "train" else 16 for split in splits} for task, splits in default.sizes.items()},
        corpus_sentences_per_language=300,
        translation_pair_documents=100,
        code_switched_documents=100,
        vocab_size=400,
        encoder=TINY_SHAPE,
        decoder=TINY_SHAPE,
        pretrain=PretrainSettings(steps=2, batch_size=8, warmup_steps=1),
    )


@pytest.mark.slow
def test_three_models_per_family_give_the_random_models_inference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XSTILTS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(xstilts.synthetic.files, "SyntheticSpec", tiny_spec)  # the benchmark every stage builds
    steps = {"max_steps": 2, "eval_every": 2, "max_train_examples": 16, "max_dev_examples": 8}
    raw = {
        "name": "variants",
        "output_dir": str(tmp_path / "out"),
        "device": "cpu",
        "models": [{"name": n, "path": f"synthetic:{n}"} for n in THREE_PER_FAMILY],
        "intermediate": ["none", "syn-nli"],
        "targets": ["syn-para"],
        "training": {"max_restarts": 0, "intermediate": steps, "target": steps},
        "evaluation": {"max_examples": 8, "languages": ["en", "clo"]},
    }
    summary = run_spec(spec_from_dict(raw))
    assert not summary.failed

    bench = SyntheticBenchmark()
    records = {n: json.loads((bench.model_dir(n) / "pretraining.json").read_text()) for n in THREE_PER_FAMILY}
    assert {r["seed"] for r in records.values()} == {0, 1, 2}
    for family in ("encoder", "decoder"):  # a fingerprint names the recipe and seed; the folder, the family
        assert len({r["fingerprint"] for r in records.values() if r["family"] == family}) == 3
    assert records["encoder"]["fingerprint"] == bench.spec.pretraining_fingerprint  # variant 0: the benchmark's own

    paths = write_report(summary.store, tmp_path / "report", options=ReportOptions(n_permutations=99, n_boot=50, figures=False))
    findings = json.loads(paths.summary.read_text())["findings"]
    inference = [f["text"] for f in findings if f["topic"] == "inference"]
    assert len(inference) == 1
    assert inference[0].startswith("Inference made: random models (3 encoder models and 3 decoder models)")
    assert "random sample of their family" in inference[0] and "other pretraining seeds" in inference[0]
    assert "Inference made: random models" in paths.markdown.read_text()
