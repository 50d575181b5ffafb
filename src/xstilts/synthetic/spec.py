"""What defines the built-in synthetic benchmark: `SyntheticSpec` and its fingerprints.

Everything about the benchmark is a deterministic function of `SyntheticSpec`. Two fingerprints name the cache
folders: the pretraining fingerprint (world, corpus, tokenizer, model shapes, pretraining settings)
for the corpus, tokenizer and pretrained models, and the data fingerprint (world, task sizes,
generators) for the task data. Changing a task's generator regenerates its data without
invalidating the pretrained models; nothing stale is ever reused.

Each family has several pretrained models (`ModelVariant`): `encoder` is the benchmark's own,
`encoder-1`, `encoder-2` are pretrained by the same recipe on the same corpus and tokenizer from
another pretraining seed, so that an analysis can treat models as a sample of their family.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

# Bump when the task generators (synthetic/tasks.py) change what they produce for the same spec.
GENERATOR_VERSION = 3
# Bump when the world (lexicons, realisation) or the corpus documents change.
WORLD_VERSION = 3

SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
INTERMEDIATE_TASKS = ("syn-nli", "syn-mc", "syn-squad", "syn-topic")
MODEL_FAMILIES = ("encoder", "decoder")
# Pretrained models per family: variant 0 (`encoder`) and variants 1.. (`encoder-1`, ...); variants
# 0-2 ship with the package, the others are pretrained on first use.
PRETRAINING_VARIANTS = 6  # 6 encoders make a null control of 10 balanced pseudo-family splits


@dataclass(frozen=True)
class ModelVariant:
    """One pretrained synthetic model: its family and its pretraining variant. Variant k > 0
    differs from variant 0 only in the pretraining seed (weight initialisation, batch order,
    masking)."""

    family: str
    variant: int = 0

    @property
    def name(self) -> str:
        return self.family if self.variant == 0 else f"{self.family}-{self.variant}"


def model_variant(name: str) -> ModelVariant | None:
    """The model a name (`encoder`, `decoder-2`) stands for; None when there is no such model."""
    family, dash, number = name.partition("-")
    if family not in MODEL_FAMILIES:
        return None
    if not dash:
        return ModelVariant(family)
    if not number.isdigit() or number != str(int(number)) or not 0 < int(number) < PRETRAINING_VARIANTS:
        return None
    return ModelVariant(family, int(number))


# The hidden layer each family embeds sentences with for retrieval (syn-tatoeba), chosen on held-out
# parallel sentences by `xstilts.synthetic.retrieval` (with centering, as the synthetic specs score
# it; without, the choice was decoder layer 2, all layers near chance); a test recomputes the choice.
RETRIEVAL_LAYERS = {"encoder": 1, "decoder": 1}


def retrieval_layer(name: str) -> int | None:
    """The retrieval layer of a synthetic model (`encoder`, `decoder-2`); None for unknown names."""
    variant = model_variant(name)
    return RETRIEVAL_LAYERS[variant.family] if variant else None


MODEL_NAMES = tuple(ModelVariant(f, v).name for f in MODEL_FAMILIES for v in range(PRETRAINING_VARIANTS))


@dataclass(frozen=True)
class ModelShape:
    layers: int = 4
    hidden: int = 128
    heads: int = 4
    intermediate: int = 512
    max_positions: int = 130


@dataclass(frozen=True)
class PretrainSettings:
    steps: int = 6000
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
    # Twice the bilingual documents of world 2, with 6,000 pretraining steps: in the probes, the
    # decoder's zero-shot paraphrase in `scr` was at chance with 2,000 steps, 55 with 20,000 of
    # each and 66 with 40,000 (one model each; docs/calibration/floors/).
    translation_pair_documents: int = 40000
    # The same proposition twice in one language, in every language: the copies line up in any
    # language, so matching them is not something a model learns only from English.
    restatement_documents: int = 20000
    code_switched_documents: int = 40000
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

    def pretraining_seed(self, variant: int) -> int:
        """The seed of a model's pretraining run; variant 0 keeps the benchmark's own seed."""
        return self.seed + variant

    def model_fingerprint(self, variant: int) -> str:
        """What one pretrained model depends on: the pretraining fingerprint, and its variant's
        seed for variants other than 0 (so variant 0 keeps the fingerprint it always had)."""
        if variant == 0:
            return self.pretraining_fingerprint
        return _hash({"pretraining": self.pretraining_fingerprint, "pretraining_seed": self.pretraining_seed(variant)})

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
