"""Published reference numbers: every number ships with a citable source."""

from __future__ import annotations

import json

import pytest

from xstilts.analysis.reference import available, load_reference, reproduces
from xstilts.errors import DataError, UnknownNameError


def test_every_number_is_quoted_by_its_source():
    ref = load_reference("phang2020")
    assert not ref.frame.empty
    for row in ref.frame.itertuples():
        source = ref.sources[row.source]
        assert source["citation"] and source["url"].startswith("http")
        assert f"{row.value:.1f}" in source["quote"], (
            f"{row.task}/{row.system}: {row.value} is not in the quoted source"
        )
    assert set(ref.frame["system"]) <= set(ref.systems)


def test_best_per_target_models_beat_xlmr_where_the_paper_says_so():
    ref = load_reference("phang2020")
    stilts, xlmr = ref.scores("X-STILTs"), ref.scores("XLM-R Large")
    assert set(stilts) == set(xlmr) == {"xnli", "pawsx", "panx", "xquad", "mlqa", "tydiqa"}
    assert stilts["tydiqa"] - xlmr["tydiqa"] == pytest.approx(10.9)
    assert stilts["panx"] < xlmr["panx"]  # NER is the one target where X-STILTs is below XLM-R


def test_reproduces_needs_the_backbone_and_a_reference_task():
    ref = load_reference("phang2020")
    assert reproduces(ref, ["FacebookAI/xlm-roberta-large"], ["xnli", "udpos"])
    assert reproduces(ref, ["/models/xlm-roberta-large/"], ["tydiqa"])
    assert not reproduces(ref, ["xlm-roberta-base"], ["xnli"])
    assert not reproduces(ref, ["synthetic:encoder"], ["syn-para"])
    assert not reproduces(ref, ["xlm-roberta-large"], ["udpos"])


def test_unknown_reference_and_malformed_files_are_user_errors(tmp_path, monkeypatch):
    assert "phang2020" in available()
    with pytest.raises(UnknownNameError, match="unknown reference data"):
        load_reference("phang2021")
    import xstilts.analysis.reference as module

    bad = {
        "sources": {"s": {"citation": "c", "url": "http://x", "quote": "1.0"}},
        "entries": [{"task": "t", "metric": "m", "system": "x", "value": 1.0, "source": "other"}],
    }
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    monkeypatch.setattr(module.resources, "files", lambda _name: tmp_path)
    with pytest.raises(DataError, match="not among sources"):
        load_reference("bad")
