"""Named LM corpora that plug-ins provide (e.g. "synthetic"), for language modelling mixed into
intermediate training (`xstilts.training.lm.read_corpus`)."""

from __future__ import annotations

from collections.abc import Callable

from xstilts.registry import Registry

# name -> a function returning the corpus' documents, one string each.
LM_CORPORA: Registry[Callable[[], list[str]]] = Registry("LM corpus")


def register_corpus(name: str, documents: Callable[[], list[str]]) -> None:
    LM_CORPORA.register(name, documents)
