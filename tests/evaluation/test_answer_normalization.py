"""SQuAD and MLQA answer normalisation: hand-worked cases of what the official scorers do."""

from __future__ import annotations

import pytest

from xstilts.errors import ConfigError
from xstilts.evaluation.answer_normalization import (
    MLQA_LANGUAGES,
    is_mlqa_punctuation,
    normalize_mlqa,
    normalize_squad,
    token_f1,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The  Cat, sat!", "cat sat"),  # lower, ASCII punctuation, article, spaces
        ("An apple", "apple"),
        ("theater", "theater"),  # articles only as whole words
        ("a-the", "athe"),  # punctuation goes first, so the words fuse
        ("«Ein»", "«ein»"),  # SQuAD keeps non-ASCII punctuation
        ("长江，黄河", "长江，黄河"),  # and does not split Chinese
    ],
)
def test_squad_normalisation(text: str, expected: str) -> None:
    assert normalize_squad(text) == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("«The» cat—sat", "en", "catsat"),  # Unicode punctuation (« » —) is removed, not spaced
        ("¿Dónde está el gato?", "es", "dónde está gato"),
        ("Los Ángeles", "es", "ángeles"),
        ("Der Hund des Königs", "de", "hund königs"),
        ("Deinem „Berlin“", "de", "deinem berlin"),  # 'einem' inside a word stays
        ("الكتاب الجديد", "ar", "كتاب جديد"),
        ("المال،", "ar", "م"),  # every "ال" goes, even inside a word; Arabic comma is punctuation
        ("नई दिल्ली।", "hi", "नई दिल्ली"),  # danda is punctuation
        ("the भारत", "hi", "the भारत"),  # no articles removed for Hindi
        ("Những con mèo của tôi", "vi", "con mèo tôi"),
        ("làm là", "vi", "làm"),
        ("长江，黄河", "zh", "长 江 黄 河"),  # one token per ideograph
        ("1949年", "zh", "1949 年"),
        ("ABC中文 def", "zh", "abc 中 文 def"),
        ("龥龦", "zh", "龥 龦"),  # U+9FA5 is split off, U+9FA6 is outside the official range
        ("a龦b", "zh", "a龦b"),
        ("the cat", "zh", "the cat"),  # Chinese removes no articles
    ],
)
def test_mlqa_normalisation(text: str, language: str, expected: str) -> None:
    assert normalize_mlqa(text, language) == expected


def test_mlqa_punctuation_includes_ascii_symbols_and_unicode_punctuation() -> None:
    for ch in "$+<=>^`|~«»„“—、。।":
        assert is_mlqa_punctuation(ch), ch
    for ch in "a1中€©":  # currency and other symbols outside string.punctuation stay
        assert not is_mlqa_punctuation(ch), ch


def test_mlqa_rejects_an_unknown_language() -> None:
    assert MLQA_LANGUAGES == ("ar", "de", "en", "es", "hi", "vi", "zh")
    with pytest.raises(ConfigError, match="unknown answer language 'fr'"):
        normalize_mlqa("le chat", "fr")


def test_token_f1() -> None:
    assert token_f1(["cat", "sat"], ["cat"]) == pytest.approx(2 / 3)
    assert token_f1(["a", "a", "b"], ["a", "b", "b"]) == pytest.approx(2 / 3)  # counts, not sets
    assert token_f1([], ["a"]) == 0.0
    assert token_f1([], []) == 0.0  # nothing shared: 0, even for two empty answers
