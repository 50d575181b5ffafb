"""Benchmark data: synthetic tasks stretched to the length distributions of real data sets.

Padding waste is what dynamic padding saves, so the lengths must be realistic. The synthetic
world's tasks are short (a sentence or three), so each benchmark task builds longer inputs from
them while keeping the labels true:
  classification  syn-nli pairs; the premise gets further random sentences after its key sentence
                  until it reaches a length drawn from an MNLI-like premise distribution (extra
                  sentences neither entail nor contradict the hypothesis, so the label stands);
  qa              syn-squad questions; the context gets further sentences before and after it
                  (answer offsets shifted) up to a SQuAD-v1.1-like paragraph length;
  tagging         syn-pos sentences concatenated (tags kept) up to an English-EWT-like length.
Lengths are log-normal in words, aimed (after the overshoot of adding whole sentences) at
approximate averages of those data sets: MNLI premise + hypothesis ~33 words, SQuAD v1.1
paragraph ~120 words, English-EWT sentence ~17 words. These are rough figures from memory of the
data sets, not measured here; every result records the token lengths it actually got.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from xstilts.synthetic.tasks import TOPIC_LABELS, gen_pos, gen_squad
from xstilts.synthetic.world import LANGUAGES, NOUN_TOPIC, World

# Bump when the generators change what they produce: prepared files are named by it.
DATA_VERSION = 2


@dataclass(frozen=True)
class LengthProfile:
    """Log-normal word counts: median * exp(sigma * N(0, 1)), clipped to [low, high]."""

    like: str
    median_words: float
    sigma: float
    low: int
    high: int

    def sample(self, rng: random.Random) -> int:
        return int(min(self.high, max(self.low, round(self.median_words * math.exp(self.sigma * rng.gauss(0.0, 1.0))))))

    @property
    def mean_words(self) -> float:
        return self.median_words * math.exp(self.sigma**2 / 2)


@dataclass(frozen=True)
class BenchTask:
    """One benchmarked task: the xstilts task that gives it a kind, labels and metric, how its
    inputs are stretched, and the maximum length the Hugging Face example scripts pad to."""

    key: str
    task_name: str
    like: str  # the real task whose recipe and lengths it imitates
    profile: LengthProfile
    max_length: int  # run_xnli / run_ner: 128; run_qa: 384
    stride: int = 32  # window overlap for long contexts (run_qa's doc_stride is 128)
    batch_size: int = 32


TASKS: dict[str, BenchTask] = {
    "classification": BenchTask(
        "classification", "syn-topic", "XNLI's lengths and recipe (MNLI training, run_xnli)",
        LengthProfile("MNLI premise, ~22 words on average", median_words=16.0, sigma=0.55, low=4, high=150), max_length=128,
    ),
    "qa": BenchTask(
        "qa", "syn-squad", "XQuAD/MLQA (SQuAD v1.1 training, run_qa)",
        LengthProfile("SQuAD v1.1 paragraph, ~120 words on average", median_words=106.0, sigma=0.42, low=25, high=600),
        max_length=384, stride=128, batch_size=16,
    ),
    "tagging": BenchTask(
        "tagging", "syn-pos", "UD-POS / PAN-X (run_ner)",
        LengthProfile("English-EWT sentence, ~17 words on average", median_words=10.0, sigma=0.7, low=2, high=120), max_length=128,
    ),
}


def _filler(world: World, rng: random.Random) -> str:
    return world.realise(world.random_proposition(rng), "en").text


def _sentence_about(world: World, rng: random.Random, topic: str) -> str:
    """A random English sentence whose object has `topic` (rejection sampling)."""
    while True:
        p = world.random_proposition(rng)
        if ("person" if p.obj.is_person else NOUN_TOPIC[p.obj.noun or ""]) == topic:
            return world.realise(p, "en").text


def classification_examples(world: World, rng: random.Random, n: int, profile: LengthProfile) -> list[dict]:
    """Pairs (a passage, a sentence) whose objects all share a topic; the label is that topic."""
    out = []
    for i in range(n):
        label = rng.randrange(len(TOPIC_LABELS))
        topic = TOPIC_LABELS[label]
        target = profile.sample(rng)
        text = _sentence_about(world, rng, topic)
        while len(text.split()) < target:
            text += " " + _sentence_about(world, rng, topic)
        out.append({"id": str(i), "text": text, "text_pair": _sentence_about(world, rng, topic), "label": label})
    return out


def qa_examples(world: World, rng: random.Random, n: int, profile: LengthProfile) -> list[dict]:
    out = []
    for i, ex in enumerate(gen_squad(world, rng, n, ("en",))["en"]):
        target = profile.sample(rng)
        context, starts = ex["context"], list(ex["answers"]["answer_start"])
        while len(context.split()) < target:
            sentence = _filler(world, rng)
            if rng.random() < 0.5:
                context = sentence + " " + context
                starts = [s + len(sentence) + 1 for s in starts]
            else:
                context = context + " " + sentence
        answers = {"text": list(ex["answers"]["text"]), "answer_start": starts}
        out.append({"id": str(i), "context": context, "question": ex["question"], "answers": answers})
    return out


def tagging_examples(world: World, rng: random.Random, n: int, profile: LengthProfile) -> list[dict]:
    out = []
    for i in range(n):
        target = profile.sample(rng)
        tokens: list[str] = []
        tags: list[int] = []
        while len(tokens) < target:
            piece = gen_pos(world, rng, 1, ("en",))["en"][0]
            tokens += piece["tokens"]
            tags += piece["tags"]
        out.append({"id": str(i), "tokens": tokens, "tags": tags})
    return out


BUILDERS = {"classification": classification_examples, "qa": qa_examples, "tagging": tagging_examples}


def data_file(key: str, split: str, n: int) -> str:
    return f"{key}.{split}.{n}.v{DATA_VERSION}.jsonl"


def make_examples(key: str, split: str, n: int, seed: int = 0) -> list[dict]:
    """`n` examples of benchmark task `key`; a pure function of (key, split, n, seed)."""
    rng = random.Random(f"bench/{key}/{split}/{seed}")
    return BUILDERS[key](World(0), rng, n, TASKS[key].profile)


def tokenizer_corpus(sentences_per_language: int = 1500, seed: int = 0) -> list[str]:
    world, rng = World(seed), random.Random(f"bench/corpus/{seed}")
    return [world.realise(world.random_proposition(rng), lang).text for _ in range(sentences_per_language) for lang in LANGUAGES]
