"""The synthetic benchmark's files on disk: task data, pretraining corpus, tokenizer and model
folders, each built on first use under the spec's fingerprints (see `xstilts.synthetic.spec`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

from xstilts.io import atomic_dir, atomic_write_text, cache_root, read_jsonl, write_jsonl
from xstilts.synthetic.spec import INTERMEDIATE_TASKS, SyntheticSpec
from xstilts.synthetic.tasks import GENERATORS, split_rng
from xstilts.synthetic.tokenizer import train_tokenizer
from xstilts.synthetic.world import LANGUAGES, World, code_switch


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
        """Monolingual documents in every language, translation pairs, restatements (one proposition
        said twice in one language, the place phrase first or last each time, as texts repeat
        themselves) and code-switched English."""
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
        for _ in range(spec.restatement_documents):
            p, lang = world.random_proposition(rng), rng.choice(LANGUAGES)
            docs.append(" ".join(world.realise(p, lang, front_place=rng.random() < 0.5).text for _ in range(2)))
        for _ in range(spec.code_switched_documents):
            s = world.realise(world.random_proposition(rng), "en")
            docs.append(code_switch(world, s, rng, spec.code_switch_rate))
        rng.shuffle(docs)
        return docs

    def tokenizer_dir(self) -> Path:
        target = self.root / "tokenizer"
        if (target / "DONE").exists():
            return target
        corpus = self.corpus_path()
        with atomic_dir(target) as tmp:
            train_tokenizer(corpus, self.spec.vocab_size, tmp)
            atomic_write_text(tmp / "DONE", self.spec.pretraining_fingerprint)
        return target

    def model_dir(self, name: str) -> Path:
        """The folder of a pretrained model, by its name (`encoder`, `encoder-1`, ...)."""
        return self.root / name
