"""Deterministic, small submission and gold folders for every XTREME / XTREME-R task.

The content is random but seeded, and deliberately awkward: invalid BIO sequences, answers with
articles and Unicode punctuation, several gold answers, empty and missing QA predictions, BUCC
pairs outside gold and repeated lines, Mewsli-X rankings longer than 20 with repeats.
`data/official_<benchmark>.json` holds what google-research/xtreme's evaluate.py (commit 838c13b,
seqeval 1.2.2) printed for these folders; see test_submission.py.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from xstilts.evaluation.submission import write_labels, write_submission
from xstilts.tasks.suites import get_suite
from xstilts.tasks.suites.xtreme import PANX_TAGS, PAWSX_LABELS, UPOS_TAGS, XNLI_LABELS

DATA = Path(__file__).parent / "data"


def assert_same_numbers(mine: object, official: object, path: str = "") -> None:
    """Same keys all the way down and every number within 1e-6."""
    if isinstance(official, dict):
        assert isinstance(mine, dict) and set(mine) == set(official), path
        for key in official:
            assert_same_numbers(mine[key], official[key], f"{path}/{key}")
    else:
        assert mine == pytest.approx(official, abs=1e-6), path


PHRASES = {
    "en": ["the cat", "a dog", "an apple pie", "The Beatles!", "New York", "1969", "(the) end."],
    "es": ["el gato", "la casa", "los perros", "¿unas manzanas?", "Madrid", "«el fin»"],
    "de": ["der Hund", "die Katze", "das Haus", "einem Mann", "„Berlin“", "des Königs"],
    "ar": ["الكتاب", "القاهرة", "كتاب جديد", "في البيت،", "مصر"],
    "hi": ["भारत", "नई दिल्ली।", "गंगा नदी", "१९४७"],
    "vi": ["của tôi", "Hà Nội", "những con mèo", "chiếc xe", "là sông"],
    "zh": ["北京", "中华人民共和国", "长江，黄河", "1949年", "「红楼梦」"],
}


def _phrase(rng: random.Random, lang: str) -> str:
    return rng.choice(PHRASES.get(lang, PHRASES["en"]))


def _perturb(rng: random.Random, value, choices):
    return value if rng.random() < 0.6 else rng.choice(choices)


def _labels(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    names = XNLI_LABELS if task == "xnli" else PAWSX_LABELS
    gold = [rng.choice(names) for _ in range(rng.randint(5, 9))]
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, [_perturb(rng, g, names) for g in gold], root_pred)


def _tags(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    tags = PANX_TAGS if task == "panx" else UPOS_TAGS
    gold = [[rng.choice(tags) for _ in range(rng.randint(1, 7))] for _ in range(rng.randint(2, 5))]
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, [[_perturb(rng, t, tags) for t in s] for s in gold], root_pred)


def _qa(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    gold = {f"{task}-{lang}-{i}": [_phrase(rng, lang) for _ in range(rng.randint(1, 3))] for i in range(rng.randint(3, 7))}
    predictions = {}
    for qid, answers in gold.items():
        r = rng.random()
        if r < 0.15:
            continue  # missing: the official script scores it 0
        if r < 0.25:
            predictions[qid] = ""
        elif r < 0.55:
            predictions[qid] = rng.choice(answers)
        elif r < 0.7:
            predictions[qid] = rng.choice(answers).upper() + " ."
        else:
            predictions[qid] = _phrase(rng, lang) + " " + _phrase(rng, lang)
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, predictions, root_pred)


def _bucc(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    gold = [(f"{lang}-{i:06d}", f"en-{rng.randint(0, 999):06d}") for i in range(rng.randint(4, 9))]
    predicted = [p for p in gold if rng.random() < 0.6]
    predicted += [(f"{lang}-{900 + i:06d}", f"en-{i:06d}") for i in range(rng.randint(0, 3))]  # not in gold
    if predicted:
        predicted.append(predicted[0])  # a repeated line counts once
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, predicted, root_pred)


def _tatoeba(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    n = rng.randint(4, 9)
    gold = rng.sample(range(50), n)
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, [_perturb(rng, g, range(50)) for g in gold], root_pred)


def _xcopa(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    gold = [rng.randint(0, 1) for _ in range(rng.randint(4, 9))]
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, [_perturb(rng, g, (0, 1)) for g in gold], root_pred)


def _ranking(rng: random.Random, task: str, lang: str, root_pred: Path, root_gold: Path) -> None:
    pool = [f"Q{i}" for i in range(40)]
    gold, predictions = {}, {}
    for i in range(rng.randint(3, 7)):
        qid = f"{lang}-{i}"
        answers = rng.sample(pool, 1 if task == "mewslix" else rng.randint(1, 4))
        gold[qid] = answers
        if rng.random() < 0.15:
            continue  # missing
        ranked = rng.sample(pool, rng.randint(0, 30))
        if ranked and rng.random() < 0.3:
            ranked.insert(rng.randint(0, len(ranked)), ranked[0])  # a repeated id
        predictions[qid] = ranked
    write_labels(task, lang, gold, root_gold)
    write_submission(task, lang, predictions, root_pred)


WRITERS = {
    "xnli": _labels, "pawsx": _labels, "udpos": _tags, "panx": _tags, "xquad": _qa, "mlqa": _qa,
    "tydiqa": _qa, "bucc2018": _bucc, "tatoeba": _tatoeba, "xcopa": _xcopa, "mewslix": _ranking,
    "lareqa": _ranking,
}


def build_folders(root: Path, benchmark: str, seed: int = 0, skip: tuple[str, ...] = ()) -> tuple[Path, Path]:
    """Write predictions/ and labels/ under root for every task of the benchmark; return both."""
    rng = random.Random(seed)
    pred, gold = root / "predictions", root / "labels"
    for task, languages in get_suite(benchmark).languages.items():
        if task in skip:
            continue
        for lang in languages:
            WRITERS[task](rng, task, lang, pred, gold)
    return pred, gold
