"""Example generators of the synthetic tasks, in the canonical schema of each task kind.

Every split is generated from its own seeded random stream, and evaluation splits are *parallel*:
example i of a split expresses the same propositions in every language, so per-language scores
are paired across languages.

Intermediate tasks (English only, ample data):
  syn-nli    sentence-pair entailment with negation and monotonicity (under negation, adding a
             modifier is entailed and dropping one is not) — teaches what paraphrase and COPA need.
  syn-mc     multiple choice: which of four sentences follows from the context.
  syn-squad  extractive QA over longer contexts, mostly "where ...?" questions — teaches span
             selection (as SQuAD does for TyDiQA).
  syn-topic  single-sentence topic of the object (person/animal/vehicle/food/object) — expected
             not to help any target (the control).
Targets (small English training sets, evaluation in every language):
  syn-para     paraphrase identification, PAWS-like: negatives swap roles or flip negation.
  syn-copa     two-choice plausibility: which alternative follows from the premise (XCOPA-like).
  syn-pos      part-of-speech tagging.
  syn-qa       extractive QA over two or three sentences ("who ...?", "what ...?").
  syn-tatoeba  parallel-sentence retrieval into English, no training data.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import replace

from xstilts.synthetic.world import (
    ADJECTIVES,
    LANGUAGES,
    NOUN_TOPIC,
    PLACES,
    POS_TAGS,
    PREPOSITIONS,
    Proposition,
    World,
)

NLI_LABELS = ("entailment", "neutral", "contradiction")
TOPIC_LABELS = ("person", "animal", "vehicle", "food", "object")
PARA_LABELS = ("different", "paraphrase")

Example = dict


def split_rng(world_seed: int, task: str, split: str) -> random.Random:
    digest = hashlib.sha256(f"{world_seed}/{task}/{split}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


# -- NLI ------------------------------------------------------------------------------------------
def _with_object_adjective(p: Proposition, rng: random.Random) -> Proposition | None:
    if p.obj.is_person or p.obj.adjective:
        return None
    return replace(p, obj=replace(p.obj, adjective=rng.choice(ADJECTIVES)))


def _without_object_adjective(p: Proposition) -> Proposition | None:
    if p.obj.is_person or not p.obj.adjective:
        return None
    return replace(p, obj=replace(p.obj, adjective=None))


def _with_place(p: Proposition, rng: random.Random) -> Proposition | None:
    if p.place:
        return None
    return replace(p, place=rng.choice(PLACES), preposition=rng.choice(PREPOSITIONS))


def _without_place(p: Proposition) -> Proposition | None:
    if not p.place:
        return None
    return replace(p, place=None, preposition=None)


def nli_hypothesis(p: Proposition, label: str, rng: random.Random, world: World) -> Proposition:
    """A hypothesis standing in relation `label` to premise `p`.

    Adding information (an adjective on the object, a place) narrows an affirmative claim, so it is
    not entailed; under negation the direction flips. Flipping the polarity of the same content
    contradicts.
    """
    narrower = [_with_object_adjective(p, rng), _with_place(p, rng)]
    wider = [_without_object_adjective(p), _without_place(p)]
    entailed, not_entailed = (narrower, wider) if p.negated else (wider, narrower)
    if label == "contradiction":
        return replace(p, negated=not p.negated)
    if label == "entailment":
        options = [h for h in entailed if h is not None]
        return rng.choice(options) if options else p
    options = [h for h in not_entailed if h is not None]
    if options and rng.random() < 0.7:
        return rng.choice(options)
    other = world.random_entity(rng, person_rate=0.3)
    while other == p.obj:
        other = world.random_entity(rng, person_rate=0.3)
    return replace(p, obj=other)


def gen_nli(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng)
        label = i % 3
        h = nli_hypothesis(p, NLI_LABELS[label], rng, world)
        for lang in languages:
            out[lang].append(
                {"id": f"{i}", "text": world.realise(p, lang).text, "text_pair": world.realise(h, lang).text, "label": label}
            )
    return out


def gen_mc(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng)
        options = [
            nli_hypothesis(p, "entailment", rng, world),
            nli_hypothesis(p, "contradiction", rng, world),
            nli_hypothesis(p, "neutral", rng, world),
            world.random_proposition(rng),
        ]
        order = list(range(4))
        rng.shuffle(order)
        label = order.index(0)
        for lang in languages:
            out[lang].append(
                {
                    "id": f"{i}",
                    "context": world.realise(p, lang).text,
                    "question": "",
                    "choices": [world.realise(options[j], lang).text for j in order],
                    "label": label,
                }
            )
    return out


def gen_copa(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng)
        good = nli_hypothesis(p, "entailment", rng, world)
        bad = nli_hypothesis(p, rng.choice(("contradiction", "neutral")), rng, world)
        label = i % 2
        choices = [bad, good] if label == 1 else [good, bad]
        for lang in languages:
            out[lang].append({
                "id": f"{i}",
                "context": world.realise(p, lang).text,
                "question": "",
                "choices": [world.realise(c, lang).text for c in choices],
                "label": label,
            })
    return out


def gen_topic(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng)
        topic = "person" if p.obj.is_person else NOUN_TOPIC[p.obj.noun or ""]
        for lang in languages:
            out[lang].append(
                {"id": f"{i}", "text": world.realise(p, lang).text, "text_pair": None, "label": TOPIC_LABELS.index(topic)}
            )
    return out


def gen_para(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng, place_rate=0.7)
        label = i % 2
        if label == 1:
            q = p
        elif rng.random() < 0.5 and p.subject != p.obj:
            q = replace(p, subject=p.obj, obj=p.subject)
        else:
            q = replace(p, negated=not p.negated)
        front_first, front_second = rng.random() < 0.3, rng.random() < 0.5
        for lang in languages:
            out[lang].append(
                {
                    "id": f"{i}",
                    "text": world.realise(p, lang, front_place=front_first).text,
                    "text_pair": world.realise(q, lang, front_place=front_second).text,
                    "label": label,
                }
            )
    return out


def gen_pos(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        p = world.random_proposition(rng)
        front = rng.random() < 0.3
        for lang in languages:
            s = world.realise(p, lang, front_place=front)
            out[lang].append({"id": f"{i}", "tokens": s.tokens, "tags": [POS_TAGS.index(w.pos) for w in s.words]})
    return out


def gen_qa(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    return _qa(world, rng, n, languages, sentences=(2, 3), asks=("subject", "object"), place_rate=0.3)


def gen_squad(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    return _qa(world, rng, n, languages, sentences=(2, 3, 4), asks=("place", "place", "subject", "object"), place_rate=0.8)


def _qa(world: World, rng: random.Random, n: int, languages: tuple[str, ...], sentences: tuple[int, ...], asks: tuple[str, ...], place_rate: float) -> dict[str, list[Example]]:
    """Contexts of several sentences with different verbs; the question asks one role of one of
    them (`asks` lists the roles to draw from; "place" only targets sentences that have one)."""
    out: dict[str, list[Example]] = {lang: [] for lang in languages}
    for i in range(n):
        props: list[Proposition] = []
        count = rng.choice(sentences)
        while len(props) < count:
            p = world.random_proposition(rng, place_rate=place_rate)
            if all(p.verb != q.verb for q in props):
                props.append(p)
        role = rng.choice(asks)
        candidates = [j for j, p in enumerate(props) if role != "place" or p.place]
        if not candidates:
            role, candidates = "subject", list(range(len(props)))
        target = rng.choice(candidates)
        for lang in languages:
            context, start, answer = "", 0, ""
            for j, p in enumerate(props):
                sentence = world.realise(p, lang)
                if j == target:
                    begin, end = sentence.span_of(role)
                    start, answer = len(context) + begin, sentence.text[begin:end]
                context += sentence.text + " "
            out[lang].append({
                "id": f"{i}",
                "context": context.rstrip(),
                "question": world.question(props[target], role, lang),
                "answers": {"text": [answer], "answer_start": [start]},
            })
    return out


def gen_tatoeba(world: World, rng: random.Random, n: int, languages: tuple[str, ...]) -> dict[str, list[Example]]:
    """Queries in each language, English candidates; query i's gold is candidate i."""
    props: list[Proposition] = []
    seen = set()
    while len(props) < n:
        p = world.random_proposition(rng)
        if p not in seen:
            seen.add(p)
            props.append(p)
    candidates = [
        {"id": f"en-{i}", "text": world.realise(p, "en").text, "side": "candidate", "gold": []} for i, p in enumerate(props)
    ]
    out: dict[str, list[Example]] = {}
    for lang in languages:
        queries = [
            {"id": f"{lang}-{i}", "text": world.realise(p, lang).text, "side": "query", "gold": [f"en-{i}"]}
            for i, p in enumerate(props)
        ]
        out[lang] = queries + candidates
    return out


Generator = Callable[[World, random.Random, int, tuple[str, ...]], dict[str, list[Example]]]

GENERATORS: dict[str, Generator] = {
    "syn-nli": gen_nli,
    "syn-mc": gen_mc,
    "syn-squad": gen_squad,
    "syn-topic": gen_topic,
    "syn-para": gen_para,
    "syn-copa": gen_copa,
    "syn-pos": gen_pos,
    "syn-qa": gen_qa,
    "syn-tatoeba": gen_tatoeba,
}

ALL_LANGUAGES = LANGUAGES
