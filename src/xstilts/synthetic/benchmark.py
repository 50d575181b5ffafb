"""The built-in synthetic benchmark: spec, on-disk cache, data files, corpus and tokenizer.

Everything is a deterministic function of `SyntheticSpec`. Two fingerprints name the cache
folders: the pretraining fingerprint (world, corpus, tokenizer, model shapes, pretraining settings)
for the corpus, tokenizer and pretrained models, and the data fingerprint (world, task sizes,
generators) for the task data. Changing a task's generator regenerates its data without
invalidating the pretrained models; nothing stale is ever reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

from xstilts.io import atomic_dir, atomic_write_text, read_jsonl, write_jsonl
from xstilts.synthetic.tasks import GENERATORS, split_rng
from xstilts.synthetic.world import LANGUAGES, World, code_switch

log = logging.getLogger(__name__)

# Bump when the task generators (synthetic/tasks.py) change what they produce for the same spec.
GENERATOR_VERSION = 3
# Bump when the world (lexicons, realisation) or the corpus documents change.
WORLD_VERSION = 2

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
INTERMEDIATE_TASKS = ("syn-nli", "syn-mc", "syn-squad", "syn-topic")


@dataclass(frozen=True)
class ModelShape:
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    intermediate: int = 512
    max_positions: int = 130


@dataclass(frozen=True)
class PretrainSettings:
    steps: int = 2000
    batch_size: int = 64
    sequence_length: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    mask_rate: float = 0.15


@dataclass(frozen=True)
class SyntheticSpec:
    seed: int = 0
    # task -> split -> number of examples (per language for evaluation splits)
    sizes: dict[str, dict[str, int]] = field(
        default_factory=lambda: {
            "syn-nli": {"train": 6000, "validation": 300},
            "syn-mc": {"train": 3000, "validation": 300},
            "syn-squad": {"train": 5000, "validation": 300},
            "syn-topic": {"train": 6000, "validation": 300},
            "syn-para": {"train": 400, "validation": 300},
            "syn-copa": {"train": 300, "validation": 300},
            "syn-pos": {"train": 200, "validation": 300},
            "syn-qa": {"train": 400, "validation": 300},
            "syn-tatoeba": {"validation": 300},
        }
    )
    corpus_sentences_per_language: int = 20000
    translation_pair_documents: int = 20000
    code_switched_documents: int = 20000
    code_switch_rate: float = 0.4
    # Enough for every word form of the four languages to be one token.
    vocab_size: int = 1000
    encoder: ModelShape = ModelShape()
    # Llama's gated MLP has three matrices to XLM-R's two: 344 gives the same parameter count.
    decoder: ModelShape = ModelShape(intermediate=344)
    pretrain: PretrainSettings = PretrainSettings()

    def to_dict(self) -> dict:
        return asdict(self) | {"generator_version": GENERATOR_VERSION, "world_version": WORLD_VERSION}

    @property
    def pretraining_fingerprint(self) -> str:
        """What the corpus, tokenizer and pretrained models depend on (not the task data)."""
        return _hash({k: v for k, v in self.to_dict().items() if k not in ("sizes", "generator_version")})

    @property
    def data_fingerprint(self) -> str:
        """What the task data depends on."""
        return _hash({k: self.to_dict()[k] for k in ("seed", "sizes", "generator_version", "world_version")})

    @property
    def fingerprint(self) -> str:
        """Everything: identifies the benchmark in stage ids."""
        return _hash(self.to_dict())


def _hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


def cache_root() -> Path:
    return Path(os.environ.get("XSTILTS_CACHE", Path.home() / ".cache" / "xstilts")).expanduser()


class SyntheticBenchmark:
    """Paths and lazy builders of one synthetic benchmark instance."""

    def __init__(self, spec: SyntheticSpec | None = None, root: Path | None = None) -> None:
        self.spec = spec or SyntheticSpec()
        base = (root or cache_root()) / "synthetic"
        self.root = base / self.spec.pretraining_fingerprint
        self.data_root = base / f"data-{self.spec.data_fingerprint}"
        self.world = World(self.spec.seed)

    # -- task data ------------------------------------------------------------------------------
    def data_dir(self, task: str) -> Path:
        return self.data_root / task

    def ensure_task_data(self, task: str) -> Path:
        target = self.data_dir(task)
        if (target / "DONE").exists():
            return target
        with atomic_dir(target) as tmp:
            languages: tuple[str, ...] = ("en",) if task in INTERMEDIATE_TASKS else LANGUAGES
            if task == "syn-tatoeba":
                languages = tuple(lang for lang in LANGUAGES if lang != "en")
            for split, n in self.spec.sizes[task].items():
                rng = split_rng(self.spec.seed, task, split)
                split_languages = ("en",) if split == "train" else languages
                for lang, examples in GENERATORS[task](self.world, rng, n, split_languages).items():
                    write_jsonl(tmp / f"{split}.{lang}.jsonl", examples)
            atomic_write_text(tmp / "DONE", json.dumps({"task": task, "data": self.spec.data_fingerprint}))
        return target

    def load(self, task: str, split: str, language: str) -> list[dict]:
        path = self.ensure_task_data(task) / f"{split}.{language}.jsonl"
        if not path.exists():
            return []
        return read_jsonl(path)

    # -- pretraining corpus and tokenizer -------------------------------------------------------
    def corpus_path(self) -> Path:
        path = self.root / "corpus.txt"
        if not path.exists():
            atomic_write_text(path, "\n".join(self.corpus_documents()) + "\n")
        return path

    def corpus_documents(self) -> list[str]:
        """Monolingual documents in every language, translation pairs, and code-switched English."""
        spec, world = self.spec, self.world
        rng = random.Random(f"{spec.seed}/corpus")
        docs: list[str] = []
        for lang in LANGUAGES:
            made = 0
            while made < spec.corpus_sentences_per_language:
                k = rng.choice((1, 2, 3))
                docs.append(" ".join(world.realise(world.random_proposition(rng), lang).text for _ in range(k)))
                made += k
        for _ in range(spec.translation_pair_documents):
            p = world.random_proposition(rng)
            other = rng.choice(LANGUAGES[1:])
            pair = [world.realise(p, "en").text, world.realise(p, other).text]
            rng.shuffle(pair)
            docs.append(" ".join(pair))
        for _ in range(spec.code_switched_documents):
            s = world.realise(world.random_proposition(rng), "en")
            docs.append(code_switch(world, s, rng, spec.code_switch_rate))
        rng.shuffle(docs)
        return docs

    def tokenizer_dir(self) -> Path:
        target = self.root / "tokenizer"
        if (target / "DONE").exists():
            return target
        from xstilts.synthetic.tokenizer import train_tokenizer

        corpus = self.corpus_path()
        with atomic_dir(target) as tmp:
            train_tokenizer(corpus, self.spec.vocab_size, tmp)
            atomic_write_text(tmp / "DONE", self.spec.pretraining_fingerprint)
        return target

    def model_dir(self, family: str) -> Path:
        return self.root / f"{family}"
