"""Loading pretrained backbones (encoder-only or decoder-only) and their tokenizers.

Any Hugging Face model with a masked-LM or causal-LM architecture loads through the Auto classes;
its family is detected from the config (masked-LM architectures are encoders, causal-only ones are
decoders) and can be overridden. Weights load from safetensors only and remote code runs only when
the spec asks for it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import xstilts.hub
from xstilts.data.formatting import Family
from xstilts.errors import CheckpointError, ConfigError
from xstilts.registry import Registry, load_plugins

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuiltinModels:
    """Models named `<prefix>:<name>` that a plug-in makes on demand (e.g. synthetic:encoder)."""

    prefix: str
    names: tuple[str, ...]
    ensure: Callable[[str], Path]  # the named model's folder, made first if missing
    existing: Callable[[str], Path | None]  # its folder when a copy exists already (made or shipped), else None
    # The hidden layer the named model embeds sentences with for retrieval, where the plug-in
    # chose one; None leaves the general default (`default_retrieval_layer`).
    retrieval_layer: Callable[[str], int | None] = lambda name: None
    make_minutes: float | None = None  # measured minutes of one CPU core to make a model that has no copy (for the planner)

    def path_of(self, name: str) -> str:
        return f"{self.prefix}:{name}"


BUILTIN_MODELS: Registry[BuiltinModels] = Registry("built-in model prefix")


def register_builtin_models(models: BuiltinModels) -> BuiltinModels:
    return BUILTIN_MODELS.register(models.prefix, models)


def builtin_model(name_or_path: str) -> tuple[BuiltinModels, str] | None:
    """The plug-in models and the model name for `<prefix>:<name>` when a plug-in registered the
    prefix; None for hub ids and folders."""
    prefix, colon, name = name_or_path.partition(":")
    if not colon:
        return None
    load_plugins()
    if prefix not in BUILTIN_MODELS:
        return None
    return BUILTIN_MODELS.get(prefix), name


def builtin_retrieval_layer(name_or_path: str) -> int | None:
    """The retrieval layer a plug-in chose for its model `<prefix>:<name>`; None otherwise."""
    builtin = builtin_model(name_or_path)
    return builtin[0].retrieval_layer(builtin[1]) if builtin else None


@dataclass(frozen=True)
class BackboneOptions:
    """How to load a backbone; part of every run's recorded configuration."""

    family: str = "auto"  # auto | encoder | decoder
    dtype: str = "float32"  # float32 | bfloat16 | float16 (weights; autocast is the trainer's)
    attn_implementation: str = "auto"  # auto | sdpa | eager | flash_attention_2 (see resolve_attention)
    sdpa_backends: str = "auto"  # attention kernels sdpa may use: auto | torch | flash,efficient,... (xstilts.models.sdpa)
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    revision: str | None = None


def quiet_transformers() -> None:
    """Silence per-load reports and progress bars unless the user asked for verbose output."""
    import transformers  # lazy: loads transformers

    if os.environ.get("TRANSFORMERS_VERBOSITY", "error") == "error":
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


def detect_family(config: Any, override: str = "auto", where: str = "") -> Family:
    if override in (Family.ENCODER.value, Family.DECODER.value):
        return Family(override)
    if override != "auto":
        raise ConfigError(f"{where}family: {override!r} is not one of auto, encoder, decoder")
    # lazy: loads transformers
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_MASKED_LM_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", "")
    if getattr(config, "is_encoder_decoder", False):
        raise ConfigError(f"{where}model type {model_type!r} is an encoder-decoder; xstilts supports encoder-only and decoder-only models")
    if model_type in MODEL_FOR_MASKED_LM_MAPPING_NAMES:
        return Family.ENCODER
    if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return Family.DECODER
    raise ConfigError(f"{where}cannot tell whether model type {model_type!r} is an encoder or a decoder; set family explicitly")


def resolve_model_path(name_or_path: str) -> str:
    """Map a plug-in's model name (e.g. `synthetic:encoder`) to its folder; other paths unchanged."""
    found = builtin_model(name_or_path)
    if found is None:
        return name_or_path
    models, name = found
    if name not in models.names:
        names = ", ".join(models.path_of(n) for n in models.names)
        raise ConfigError(f"model {name_or_path!r}: not a {models.prefix} model; they are {names}")
    return str(models.ensure(name))


def looks_local(name: str) -> bool:
    """A path the user meant as a folder on disk, not a hub id (`org/model`)."""
    return name.startswith(("/", "./", "../", "~", ".\\")) or name in (".", "..") or Path(name).expanduser().exists()


def _hub_error(name: str, err: Exception) -> CheckpointError:
    if Path(name).expanduser().exists():
        return CheckpointError(f"model {name}: cannot load ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
    if looks_local(name):
        return CheckpointError(f"model {name}: local folder {Path(name).expanduser().absolute()} does not exist; check the path")
    where = "the Hugging Face Hub or its local cache" if hub_available() else "the local Hugging Face cache (the Hub is not reachable: offline)"
    return CheckpointError(
        f"model {name!r} could not be loaded from {where} ({type(err).__name__}); "
        "give a local folder path instead, or download it first"
    )


def hub_available() -> bool:
    """Whether the Hub can be reached; asked once per process. When it cannot, the libraries are
    switched offline so that a hub id missing from the cache fails at once, without retries."""
    return xstilts.hub.hub_reachable()


def _prepare_load(name_or_path: str) -> None:
    """Before a transformers load: for a hub id, decide once whether the Hub is reachable."""
    if not looks_local(name_or_path):
        hub_available()


_WARNED_REMOTE_CODE: set[str] = set()


def warn_remote_code(name_or_path: str, options: BackboneOptions) -> None:
    """Warn once per model, before its config, tokenizer or weights can run repository code."""
    if options.trust_remote_code and name_or_path not in _WARNED_REMOTE_CODE:
        _WARNED_REMOTE_CODE.add(name_or_path)
        log.warning("loading %s with trust_remote_code=True: it runs code from the model repository", name_or_path)


def load_config(name_or_path: str, options: BackboneOptions) -> Any:
    from transformers import AutoConfig  # lazy: loads transformers

    warn_remote_code(name_or_path, options)
    _prepare_load(name_or_path)
    try:
        return AutoConfig.from_pretrained(
            name_or_path, trust_remote_code=options.trust_remote_code, revision=options.revision
        )
    except (OSError, ValueError) as err:
        raise _hub_error(name_or_path, err) from None


def load_tokenizer(name_or_path: str, family: Family, options: BackboneOptions) -> Any:
    from transformers import AutoTokenizer  # lazy: loads transformers

    warn_remote_code(name_or_path, options)
    _prepare_load(name_or_path)
    try:
        tok = AutoTokenizer.from_pretrained(
            name_or_path, trust_remote_code=options.trust_remote_code, revision=options.revision
        )
    except (OSError, ValueError) as err:
        raise _hub_error(name_or_path, err) from None
    if not getattr(tok, "is_fast", False):
        raise ConfigError(f"model {name_or_path}: xstilts needs a fast tokenizer (offset mappings) and none is available")
    if tok.pad_token is None:
        # Decoders often ship without a pad token; padded positions are masked out everywhere.
        fallback = tok.eos_token or tok.unk_token
        if fallback is None:
            raise ConfigError(f"model {name_or_path}: tokenizer has no pad, eos or unk token to pad with")
        tok.pad_token = fallback
        log.info("tokenizer of %s has no pad token; padding with %r", name_or_path, fallback)
    if family is Family.DECODER and tok.eos_token_id is None:
        raise ConfigError(f"model {name_or_path}: decoder tokenizer has no eos token (xstilts ends each decoder input with it); set eos_token in its tokenizer_config.json")
    return tok


ATTENTION_CHOICES = ("auto", "sdpa", "eager", "flash_attention_2")
HALF_DTYPES = ("bfloat16", "float16")


@dataclass(frozen=True)
class AttentionSupport:
    """What the transformers class of a config supports; `model_class` None when unknown
    (remote code, or a model type this transformers does not map to a class)."""

    model_class: str | None
    sdpa: bool
    flash: bool


def attention_support(config: Any) -> AttentionSupport:
    from transformers import AutoModel  # lazy: loads transformers

    try:
        cls = AutoModel._model_mapping[type(config)]
    except (KeyError, ValueError):
        return AttentionSupport(None, True, True)
    # transformers annotates the mapping's values as (slow, fast) tuples; for AutoModel they are model classes
    return AttentionSupport(cls.__name__, bool(getattr(cls, "_supports_sdpa", False)), bool(getattr(cls, "_supports_flash_attn", False)))  # type: ignore[attr-defined]


def attention_support_of_type(model_type: str) -> AttentionSupport:
    """`attention_support` from a config's `model_type` alone (no config file needed)."""
    from transformers import CONFIG_MAPPING  # lazy: loads transformers

    try:
        config = CONFIG_MAPPING[model_type]()
    except Exception:  # an unknown type, or a config class that cannot build with defaults
        return AttentionSupport(None, True, True)
    return attention_support(config)


def flash_attention_usable(dtype: str) -> bool:
    """flash-attention 2 is installed, a CUDA GPU is present and the weights are half precision."""
    if dtype not in HALF_DTYPES:
        return False
    import torch  # lazy: loads torch
    from transformers.utils import is_flash_attn_2_available  # lazy: loads transformers

    return torch.cuda.is_available() and is_flash_attn_2_available()


def attention_problem(support: AttentionSupport, requested: str, dtype: str) -> str | None:
    """Why an explicit `attn_implementation` cannot load (one line), or None when it can."""
    if requested not in ATTENTION_CHOICES:
        return f"attn_implementation {requested!r} is not one of {', '.join(ATTENTION_CHOICES)}"
    name = support.model_class
    if requested == "sdpa" and not support.sdpa:
        return f"attn_implementation sdpa: {name} does not support it in the installed transformers; use auto or eager"
    if requested == "flash_attention_2":
        if not support.flash:
            return f"attn_implementation flash_attention_2: {name} does not support it in the installed transformers; use auto or eager"
        if dtype not in HALF_DTYPES:
            return f"attn_implementation flash_attention_2 needs dtype bfloat16 or float16, not {dtype}"
        from transformers.utils import is_flash_attn_2_available  # lazy: loads transformers

        if not is_flash_attn_2_available():
            return "attn_implementation flash_attention_2: the flash-attn package is not installed (or no CUDA GPU); use auto"
    return None


def resolve_attention(config: Any, options: BackboneOptions, where: str = "") -> tuple[str | None, str]:
    """The `attn_implementation` to load a backbone with, and why.

    `auto` picks flash_attention_2 where the class supports it, flash-attn is installed and the
    weights are half precision on a GPU; else sdpa where the class supports it; else eager. An
    explicit choice is kept, and refused in one line when the class does not support it. None
    (a class transformers does not map, e.g. remote code): transformers decides.
    """
    requested = options.attn_implementation
    support = attention_support(config)
    name = support.model_class
    if requested == "auto":
        if name is None:
            return None, "auto: transformers' default for a class it does not map"
        if support.flash and flash_attention_usable(options.dtype):
            return "flash_attention_2", f"auto: {name} supports flash-attention 2, installed, {options.dtype} on a GPU"
        if support.sdpa:
            return "sdpa", f"auto: {name} supports sdpa"
        return "eager", f"auto: {name} does not support sdpa"
    problem = attention_problem(support, requested, options.dtype)
    if problem:
        raise ConfigError(f"{where}{problem}")
    return requested, "set explicitly"


def attention_of(model: Any) -> str:
    """The attention implementation a loaded model runs with."""
    config = getattr(model, "config", None)
    return str(getattr(config, "_attn_implementation", None) or "unknown")


def torch_dtype(name: str) -> Any:
    import torch  # lazy: loads torch

    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ConfigError(f"dtype: {name!r} is not one of float32, bfloat16, float16") from None


def load_body(name_or_path: str, options: BackboneOptions, config: Any = None) -> Any:
    """The backbone without any task or LM head (`AutoModel`), with the attention implementation
    `resolve_attention` picks for it."""
    from safetensors import SafetensorError  # lazy: loads safetensors
    from transformers import AutoModel  # lazy: loads transformers

    quiet_transformers()
    if config is None:
        config = load_config(name_or_path, options)
    attention, reason = resolve_attention(config, options, where=f"model {name_or_path}: ")
    _prepare_load(name_or_path)
    try:
        model = AutoModel.from_pretrained(
            name_or_path,
            config=config,
            dtype=torch_dtype(options.dtype),
            attn_implementation=attention,
            trust_remote_code=options.trust_remote_code,
            revision=options.revision,
            use_safetensors=True,
        )
    except (OSError, ValueError) as err:
        raise _hub_error(name_or_path, err) from None
    except SafetensorError as err:
        raise _damaged_weights(name_or_path, err) from None
    chosen = attention_of(model)
    log.info("model %s: attention %s (%s)", name_or_path, chosen, reason if chosen == attention else "chosen by transformers")
    if getattr(model, "pooler", None) is not None:
        # BERT-style poolers are unused (heads pool themselves); untrained, they would only
        # receive weight decay and, under DDP, count as parameters without gradients.
        model.pooler = None
    if options.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def _damaged_weights(name_or_path: str, err: Exception) -> CheckpointError:
    """A truncated or garbled safetensors file: name it (a local folder's files are each tried)."""
    from safetensors import SafetensorError, safe_open  # lazy: loads safetensors

    reason = str(err).splitlines()[0] if str(err) else type(err).__name__
    folder = Path(name_or_path)
    if not folder.is_dir():
        return CheckpointError(
            f"model {name_or_path!r}: a weights file in its Hugging Face cache is damaged ({reason}); "
            "delete the model from the cache and download it again"
        )
    damaged = []
    for path in sorted(folder.glob("*.safetensors")):
        try:
            with safe_open(str(path), framework="pt"):
                pass
        except (SafetensorError, OSError):
            damaged.append(str(path))
    where = ", ".join(damaged) if damaged else f"model {name_or_path}"
    return CheckpointError(f"{where}: damaged weights file ({reason}); copy or download the model again")
