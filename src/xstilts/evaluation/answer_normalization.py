"""Answer-string normalisation and token F1 for extractive QA, as the official scorers do it.

Two normalisations exist, and XTREME uses both:

* SQuAD v1.1 (`normalize_squad`, used for XQuAD and TyDiQA-GoldP in every language): lower-case,
  drop ASCII punctuation (`string.punctuation`), drop the English articles a/an/the as whole
  words, collapse whitespace. Chinese or Thai answers are therefore compared as whole strings.
* MLQA (`normalize_mlqa`, used for MLQA): lower-case, drop every Unicode punctuation character
  (category P*) plus `string.punctuation` (which also holds symbols such as $ + < = > ^ ` | ~),
  drop the articles of the answer language, then split on whitespace; for Chinese every CJK
  ideograph in U+4E00..U+9FA5 becomes its own token, so F1 is computed over characters.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

from xstilts.errors import ConfigError

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Articles removed per MLQA answer language (whole words, Unicode-aware \b). Hindi and Chinese
# have none. Arabic is handled separately: the definite article "ال" is removed wherever it occurs.
_MLQA_ARTICLES: dict[str, re.Pattern[str] | None] = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    "hi": None,
    "zh": None,
    "ar": None,
}
_ARABIC_ARTICLE = "ال"
_CHARACTER_TOKENIZED = frozenset({"zh"})
_CJK_IDEOGRAPH = re.compile("[\u4e00-\u9fa5]")

MLQA_LANGUAGES: tuple[str, ...] = tuple(sorted(_MLQA_ARTICLES))


def is_mlqa_punctuation(ch: str) -> bool:
    """Unicode punctuation (category P*) or ASCII punctuation/symbols, as MLQA's scorer removes."""
    return ch in _ASCII_PUNCTUATION or unicodedata.category(ch).startswith("P")


def normalize_squad(text: str) -> str:
    """SQuAD v1.1 normalisation: lower, strip ASCII punctuation and English articles, fix spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _ASCII_PUNCTUATION)
    text = _ENGLISH_ARTICLES.sub(" ", text)
    return " ".join(text.split())


def check_mlqa_language(language: str | None) -> str:
    if language not in _MLQA_ARTICLES:
        raise ConfigError(
            f"mlqa: unknown answer language {language!r}; MLQA scores {', '.join(MLQA_LANGUAGES)}"
        )
    return language


def normalize_mlqa(text: str, language: str) -> str:
    """MLQA normalisation for an answer in `language` (one of `MLQA_LANGUAGES`)."""
    check_mlqa_language(language)
    text = "".join(ch for ch in text.lower() if not is_mlqa_punctuation(ch))
    if language == "ar":
        text = text.replace(_ARABIC_ARTICLE, " ")
    else:
        articles = _MLQA_ARTICLES[language]
        if articles is not None:
            text = articles.sub(" ", text)
    tokens = _split_cjk(text) if language in _CHARACTER_TOKENIZED else text.split()
    return " ".join(t for t in tokens if t.strip())


def _split_cjk(text: str) -> list[str]:
    """Whitespace tokens, except that every CJK ideograph (or punctuation mark) stands alone."""
    tokens: list[str] = []
    pending: list[str] = []
    for ch in text:
        if _CJK_IDEOGRAPH.match(ch) or is_mlqa_punctuation(ch):
            tokens.extend("".join(pending).split())
            pending = []
            tokens.append(ch)
        else:
            pending.append(ch)
    tokens.extend("".join(pending).split())
    return tokens


def token_f1(predicted: Sequence[str], gold: Sequence[str]) -> float:
    """Bag-of-tokens F1 in [0, 1]; 0 when nothing is shared (also when either side is empty)."""
    shared = sum((Counter(predicted) & Counter(gold)).values())
    if shared == 0:
        return 0.0
    precision = shared / len(predicted)
    recall = shared / len(gold)
    return 2 * precision * recall / (precision + recall)
