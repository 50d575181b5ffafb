"""Facts the planner needs offline: known models (family, size, module names) and dataset sizes.

Nothing here is downloaded: the hub is often unreachable where experiments are planned. Model
facts come from the models' `config.json` on the hub; dataset sizes from the dataset papers and
cards (English training and dev sets exact where the source gives them; evaluation sets per
language are typical values, marked approximate). Token lengths per example are rough averages
in XLM-R sentencepiece tokens, used only for time estimates.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ModelFacts:
    family: str  # encoder | decoder
    model_type: str  # transformers model_type
    parameters: float  # total parameters, embeddings included
    layers: int
    hidden: int


# Canonical hub ids (and the legacy ids that redirect to them).
KNOWN_MODELS: dict[str, ModelFacts] = {
    "FacebookAI/xlm-roberta-base": ModelFacts("encoder", "xlm-roberta", 278e6, 12, 768),
    "FacebookAI/xlm-roberta-large": ModelFacts("encoder", "xlm-roberta", 560e6, 24, 1024),
    "facebook/xlm-roberta-xl": ModelFacts("encoder", "xlm-roberta-xl", 3.48e9, 36, 2560),
    "google-bert/bert-base-multilingual-cased": ModelFacts("encoder", "bert", 178e6, 12, 768),
    "bigscience/bloom-560m": ModelFacts("decoder", "bloom", 559e6, 24, 1024),
    "bigscience/bloom-1b7": ModelFacts("decoder", "bloom", 1.72e9, 24, 2048),
    "facebook/xglm-564M": ModelFacts("decoder", "xglm", 564e6, 24, 1024),
    "facebook/xglm-1.7B": ModelFacts("decoder", "xglm", 1.73e9, 24, 2048),
    "Qwen/Qwen2.5-0.5B": ModelFacts("decoder", "qwen2", 494e6, 24, 896),
    "Qwen/Qwen2.5-1.5B": ModelFacts("decoder", "qwen2", 1.54e9, 28, 1536),
}
ALIASES = {
    "xlm-roberta-base": "FacebookAI/xlm-roberta-base",
    "xlm-roberta-large": "FacebookAI/xlm-roberta-large",
    "bert-base-multilingual-cased": "google-bert/bert-base-multilingual-cased",
}

# Names of the linear layers per architecture, as LoRA's `target_modules` match them (suffixes of
# module paths). Encoders (BERT, XLM-R) and decoders name them differently.
LINEAR_MODULES: dict[str, tuple[str, ...]] = {
    "xlm-roberta": ("query", "key", "value", "dense"),
    "xlm-roberta-xl": ("query", "key", "value", "dense"),
    "bert": ("query", "key", "value", "dense"),
    "bloom": ("query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"),
    "xglm": ("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    "qwen2": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    "llama": ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
}
ENCODER_TYPES = {"bert", "xlm-roberta", "xlm-roberta-xl", "roberta", "deberta-v2", "electra", "distilbert"}
DECODER_TYPES = {"bloom", "xglm", "qwen2", "qwen3", "llama", "mistral", "gemma", "gemma2", "gpt2", "gpt_neox", "opt", "phi", "phi3"}


def model_facts(path: str) -> ModelFacts | None:
    """What is known about a model without downloading it: the table, a local config, or the
    synthetic benchmark's shapes; None when nothing is known."""
    if path in ("synthetic:encoder", "synthetic:decoder"):
        return _synthetic_facts(path.split(":", 1)[1])
    key = ALIASES.get(path, path)
    if key in KNOWN_MODELS:
        return KNOWN_MODELS[key]
    config = Path(path).expanduser() / "config.json"
    if config.is_file():
        return _facts_from_config(config)
    return None


def _synthetic_facts(family: str) -> ModelFacts:
    from xstilts.synthetic.benchmark import SyntheticSpec

    spec = SyntheticSpec()
    shape = spec.encoder if family == "encoder" else spec.decoder
    per_layer = 4 * shape.hidden**2 + (3 if family == "decoder" else 2) * shape.hidden * shape.intermediate
    params = shape.layers * per_layer + spec.vocab_size * shape.hidden
    return ModelFacts(family, "xlm-roberta" if family == "encoder" else "llama", float(params), shape.layers, shape.hidden)


def _facts_from_config(path: Path) -> ModelFacts | None:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    model_type = str(config.get("model_type", ""))
    family = "encoder" if model_type in ENCODER_TYPES else "decoder" if model_type in DECODER_TYPES else ""
    if config.get("is_decoder") is True and family == "encoder":
        family = "decoder"
    hidden = int(config.get("hidden_size") or config.get("d_model") or config.get("n_embd") or 0)
    layers = int(config.get("num_hidden_layers") or config.get("num_layers") or config.get("n_layer") or 0)
    vocab = int(config.get("vocab_size") or 0)
    inner = int(config.get("intermediate_size") or config.get("ffn_dim") or 4 * hidden)
    params = _local_parameter_count(path.parent) or float(layers * (4 * hidden**2 + 2 * hidden * inner) + vocab * hidden)
    return ModelFacts(family, model_type, params, layers, hidden)


def _safetensors_header(path: Path) -> dict:
    with path.open("rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        if size > 100_000_000:
            raise ValueError("header too large")
        return json.loads(f.read(size))


def _local_parameter_count(folder: Path) -> float | None:
    total = 0
    for shard in sorted(folder.glob("*.safetensors")):
        try:
            header = _safetensors_header(shard)
        except (OSError, ValueError, struct.error):
            return None
        for name, info in header.items():
            if name != "__metadata__":
                count = 1
                for dim in info.get("shape", []):
                    count *= dim
                total += count
    return float(total) if total else None


def module_names(path: str) -> set[str] | None:
    """Every module-path suffix LoRA could target in this model, or None when unknown offline.
    Local folders are read from their safetensors headers (exact); known models from the table."""
    folder = Path(path).expanduser()
    shards = sorted(folder.glob("*.safetensors")) if folder.is_dir() else []
    if shards:
        names: set[str] = set()
        for shard in shards:
            try:
                header = _safetensors_header(shard)
            except (OSError, ValueError, struct.error):
                return None
            for weight in header:
                parts = weight.split(".")[:-1]  # drop .weight / .bias
                names.update(parts)
        return names
    facts = model_facts(path)
    if facts and facts.model_type in LINEAR_MODULES:
        return set(LINEAR_MODULES[facts.model_type])
    return None


# -- datasets -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetFacts:
    train: int  # English training examples
    dev: int  # English dev examples (model selection)
    eval_per_language: int  # evaluation examples per language (items embedded, for retrieval)
    tokens: float  # average tokens per example, all choices of a multiple-choice example together
    approximate: bool = False  # True where eval_per_language or tokens are rough values
    eval_shared: int = 0  # retrieval: candidates embedded once for all languages (Mewsli-X, LAReQA)
    eval_tokens: float | None = None  # tokens per dev / evaluation example, where not `tokens`


DATASETS: dict[str, DatasetFacts] = {
    # Intermediate tasks of Phang et al. 2020.
    "anli": DatasetFacts(162_865, 3_200, 3_200, 100, approximate=True),  # R1+R2+R3 train 16,946 + 45,460 + 100,459
    "ccg": DatasetFacts(39_604, 1_913, 1_913, 35, approximate=True),  # CCGbank sections 02-21 / 00
    "commonsenseqa": DatasetFacts(9_741, 1_221, 1_221, 110, approximate=True),  # 5 choices
    "cosmosqa": DatasetFacts(25_262, 2_985, 2_985, 480, approximate=True),  # 4 choices
    "hellaswag": DatasetFacts(39_905, 10_042, 10_042, 320, approximate=True),  # 4 choices
    "mnli": DatasetFacts(392_702, 9_815, 9_815, 45, approximate=True),
    "qqp": DatasetFacts(363_846, 40_430, 40_430, 30, approximate=True),
    "squad": DatasetFacts(87_599, 10_570, 10_570, 200, approximate=True),  # SQuAD v1.1
    "sst2": DatasetFacts(67_349, 872, 872, 15, approximate=True),
    # Auxiliary English training of XCOPA (XTREME-R).
    "siqa": DatasetFacts(33_410, 1_954, 1_954, 105, approximate=True),  # 3 choices
    "copa": DatasetFacts(400, 100, 100, 40, approximate=True),  # 2 choices
    # XTREME / XTREME-R targets: train/dev are the English training task's (XNLI: MNLI, ...).
    "xnli": DatasetFacts(392_702, 9_815, 2_490, 45),  # XNLI validation: 2,490 per language
    "pawsx": DatasetFacts(49_401, 2_000, 2_000, 60, approximate=True),
    "udpos": DatasetFacts(21_253, 3_974, 1_500, 30, approximate=True),
    "panx": DatasetFacts(20_000, 10_000, 5_000, 15, approximate=True),
    "xquad": DatasetFacts(87_599, 10_570, 1_190, 250, approximate=True),  # 1,190 per language (exact)
    "mlqa": DatasetFacts(87_599, 10_570, 600, 250, approximate=True),
    "tydiqa": DatasetFacts(3_696, 440, 560, 450, approximate=True),
    "xcopa": DatasetFacts(400, 100, 100, 40, approximate=True),  # after SIQa; 100 validation per language
    "bucc2018": DatasetFacts(0, 0, 800_000, 30, approximate=True),  # both sides of the test corpora
    "tatoeba": DatasetFacts(0, 0, 2_000, 15, approximate=True),  # 1,000 pairs per language
    "lareqa": DatasetFacts(0, 0, 1_190, 30, approximate=True, eval_shared=13_400),  # XQuAD-R questions; sentences of all languages
    "mewslix": DatasetFacts(0, 0, 2_000, 64, approximate=True, eval_shared=1_000_000),  # ~1M candidate entities dominate
}


def dataset_facts(task_name: str) -> DatasetFacts | None:
    if task_name in DATASETS:
        return DATASETS[task_name]
    if task_name.startswith("syn-"):
        return _synthetic_dataset(task_name)
    return None


# The synthetic tasks as the stages featurise them: split -> (examples, per language for
# validation; featurised tokens per example, all choices / QA windows / retrieval sentences
# together, validation averaged over languages). Measured with `xstilts.synthetic.sizes.measure`
# (both families featurise to the same lengths); tests/experiments/test_catalog.py checks them
# against the generated data. Re-measure when the generators, SyntheticSpec.sizes or the
# synthetic tokenizer (vocab_size, the world's words) change.
SYNTHETIC_SIZES: dict[str, dict[str, tuple[int, float]]] = {
    "syn-nli": {"train": (6000, 19.9), "validation": (300, 19.9)},
    "syn-mc": {"train": (3000, 78.7), "validation": (300, 78.3)},
    "syn-squad": {"train": (5000, 40.7), "validation": (300, 39.8)},
    "syn-topic": {"train": (6000, 9.8), "validation": (300, 9.7)},
    "syn-para": {"train": (400, 22.5), "validation": (300, 22.0)},
    "syn-copa": {"train": (300, 39.9), "validation": (300, 37.9)},
    "syn-pos": {"train": (200, 10.5), "validation": (300, 10.0)},
    "syn-qa": {"train": (400, 31.4), "validation": (300, 30.7)},
    "syn-tatoeba": {"validation": (600, 9.5)},  # both sides of 300 pairs per language
}


def _synthetic_dataset(task_name: str) -> DatasetFacts | None:
    sizes = SYNTHETIC_SIZES.get(task_name)
    if sizes is None:
        return None
    train, train_tokens = sizes.get("train", (0, 0.0))
    dev, dev_tokens = sizes["validation"]
    return DatasetFacts(train, dev, dev, train_tokens or dev_tokens, eval_tokens=dev_tokens)
