"""LM corpora (continued language modelling): a hub corpus asks whether the Hub is reachable first."""

from __future__ import annotations

import pytest

from xstilts.errors import DataError
from xstilts.training.lm import read_corpus


def test_offline_hub_corpus_is_one_attempt_and_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    import xstilts.hub

    calls: list[str] = []

    def reachable() -> bool:
        calls.append("hub_reachable")
        return False

    def load_dataset(*args: object, **kwargs: object) -> None:
        calls.append("load_dataset")
        raise ConnectionError("Couldn't reach the Hub\nretrying ...")

    monkeypatch.setattr(xstilts.hub, "hub_reachable", reachable)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    with pytest.raises(DataError) as raised:
        read_corpus("someorg/some-corpus")
    assert calls == ["hub_reachable", "load_dataset"]  # asked once, before the one load
    message = str(raised.value)
    assert "\n" not in message and "the Hub is unreachable (offline)" in message and "someorg/some-corpus" in message


def test_local_corpus_does_not_ask_the_hub(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import xstilts.hub

    monkeypatch.setattr(xstilts.hub, "hub_reachable", lambda: pytest.fail("a local corpus asked the Hub"))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("one document\n\nanother\n", encoding="utf-8")
    assert read_corpus(str(corpus)) == ["one document", "another"]
