"""Facts the planner needs offline: known models (family, size, module names) and dataset sizes.

Nothing here is downloaded: the hub is often unreachable where experiments are planned. Model
facts come from the models' `config.json` on the hub; dataset sizes are declared with the suites
(`xstilts.tasks.suites`, see `DatasetFacts`).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

from xstilts.models.backbone import builtin_model
from xstilts.synthetic.spec import SyntheticSpec, model_variant
from xstilts.tasks.suites import DatasetFacts
from xstilts.tasks.suites import dataset_facts as suite_dataset_facts


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
    if path.startswith("synthetic:"):
        return _synthetic_facts(path.split(":", 1)[1])
    key = ALIASES.get(path, path)
    if key in KNOWN_MODELS:
        return KNOWN_MODELS[key]
    config = Path(path).expanduser() / "config.json"
    if config.is_file():
        return _facts_from_config(config)
    return None


def _synthetic_facts(name: str) -> ModelFacts | None:
    variant = model_variant(name)
    if variant is None:
        return None
    family, spec = variant.family, SyntheticSpec()
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
    Local folders, and built-in models that have a copy, are read from their safetensors headers
    (exact); known models from the table."""
    builtin = builtin_model(path)
    made = builtin[0].existing(builtin[1]) if builtin else None
    folder = made if made is not None else Path(path).expanduser()
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
def dataset_facts(task_name: str) -> DatasetFacts | None:
    """A task's dataset sizes, as its suite declares them (`xstilts.tasks.suites`)."""
    return suite_dataset_facts(task_name)
