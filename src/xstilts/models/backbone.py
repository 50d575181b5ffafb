"""Loading pretrained backbones (encoder-only or decoder-only) and their tokenizers.

Any Hugging Face model with a masked-LM or causal-LM architecture loads through the Auto classes;
its family is detected from the config (masked-LM architectures are encoders, causal-only ones are
decoders) and can be overridden. Weights load from safetensors only and remote code runs only when
the spec asks for it.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from xstilts.errors import CheckpointError, ConfigError

log = logging.getLogger(__name__)

SYNTHETIC_PREFIX = "synthetic:"


class Family(str, Enum):
    ENCODER = "encoder"
    DECODER = "decoder"


@dataclass(frozen=True)
class BackboneOptions:
    """How to load a backbone; part of every run's recorded configuration."""

    family: str = "auto"  # auto | encoder | decoder
    dtype: str = "float32"  # float32 | bfloat16 | float16 (weights; autocast is the trainer's)
    attn_implementation: str = "sdpa"  # sdpa | eager | flash_attention_2
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    revision: str | None = None


def quiet_transformers() -> None:
    """Silence per-load reports and progress bars unless the user asked for verbose output."""
    import transformers

    if os.environ.get("TRANSFORMERS_VERBOSITY", "error") == "error":
        transformers.utils.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()


def detect_family(config: Any, override: str = "auto", where: str = "") -> Family:
    if override in (Family.ENCODER.value, Family.DECODER.value):
        return Family(override)
    if override != "auto":
        raise ConfigError(f"{where}family: {override!r} is not one of auto, encoder, decoder")
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
    """Map `synthetic:encoder` / `synthetic:decoder` to the built-in pretrained tiny models."""
    if name_or_path.startswith(SYNTHETIC_PREFIX):
        from xstilts.synthetic.pretrain import ensure_pretrained

        family = name_or_path[len(SYNTHETIC_PREFIX):]
        if family not in ("encoder", "decoder"):
            raise ConfigError(f"model {name_or_path!r}: the synthetic models are synthetic:encoder and synthetic:decoder")
        return str(ensure_pretrained(family))
    return name_or_path


def _hub_error(name: str, err: Exception) -> CheckpointError:
    local = Path(name).exists()
    if local:
        return CheckpointError(f"model {name}: cannot load ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})")
    return CheckpointError(
        f"model {name!r} could not be loaded from the Hugging Face Hub or its local cache "
        f"({type(err).__name__}); give a local folder path instead, or download it first"
    )


_WARNED_REMOTE_CODE: set[str] = set()


def warn_remote_code(name_or_path: str, options: BackboneOptions) -> None:
    """Warn once per model, before its config, tokenizer or weights can run repository code."""
    if options.trust_remote_code and name_or_path not in _WARNED_REMOTE_CODE:
        _WARNED_REMOTE_CODE.add(name_or_path)
        log.warning("loading %s with trust_remote_code=True: it runs code from the model repository", name_or_path)


def load_config(name_or_path: str, options: BackboneOptions) -> Any:
    from transformers import AutoConfig

    warn_remote_code(name_or_path, options)
    try:
        return AutoConfig.from_pretrained(
            name_or_path, trust_remote_code=options.trust_remote_code, revision=options.revision
        )
    except (OSError, ValueError) as err:
        raise _hub_error(name_or_path, err) from None


def load_tokenizer(name_or_path: str, family: Family, options: BackboneOptions) -> Any:
    from transformers import AutoTokenizer

    warn_remote_code(name_or_path, options)
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
    return tok


def torch_dtype(name: str) -> Any:
    import torch

    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]
    except KeyError:
        raise ConfigError(f"dtype: {name!r} is not one of float32, bfloat16, float16") from None


def load_body(name_or_path: str, options: BackboneOptions) -> Any:
    """The backbone without any task or LM head (`AutoModel`)."""
    from transformers import AutoModel

    quiet_transformers()
    warn_remote_code(name_or_path, options)
    try:
        model = AutoModel.from_pretrained(
            name_or_path,
            dtype=torch_dtype(options.dtype),
            attn_implementation=options.attn_implementation,
            trust_remote_code=options.trust_remote_code,
            revision=options.revision,
            use_safetensors=True,
        )
    except (OSError, ValueError) as err:
        raise _hub_error(name_or_path, err) from None
    if getattr(model, "pooler", None) is not None:
        # BERT-style poolers are unused (heads pool themselves); untrained, they would only
        # receive weight decay and, under DDP, count as parameters without gradients.
        model.pooler = None
    if options.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    return model


def offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") in ("1", "true", "True")
