"""A backbone with one head per task, and its checkpoint format.

A checkpoint is a folder:
  body/            the backbone (`save_pretrained`, safetensors) and its tokenizer
  heads.safetensors  every head's weights, keys `<task>.<param>`
  manifest.json    family, base model, heads (task, kind, outputs, pooling), file checksums
Loading checks the manifest against what the caller expects (family, head kinds) and the
checksums against the files, so a wrong or damaged checkpoint fails with a clear error.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from xstilts.data.formatting import InputFormat
from xstilts.errors import CheckpointError
from xstilts.io import atomic_write_json, sha256_file
from xstilts.kinds import handler_for
from xstilts.kinds.tensors import pool
from xstilts.models.backbone import (
    BackboneOptions,
    Family,
    attention_of,
    detect_family,
    load_body,
    load_config,
    load_tokenizer,
    resolve_model_path,
)
from xstilts.models.packing import is_packed, packed_hidden, to_packed
from xstilts.models.sdpa import parse_sdpa_backends, sdpa_backends
from xstilts.tasks.base import Task

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
LM_TASK = "__lm__"  # forward() name of the language-modelling objective (LM-mixing baseline)
FORMAT_VERSION = 1


def default_pooling(family: Family) -> str:
    return "first" if family is Family.ENCODER else "last"


def default_retrieval_layer(num_layers: int) -> int:
    """Index into `hidden_states` (0 = embeddings) of the layer used for retrieval.

    num_layers // 2 + 2 is the paper's choice for both models it names: layer 14 of XLM-R Large
    (24 layers) and layer 8 of mBERT (12 layers).
    """
    return min(num_layers // 2 + 2, num_layers)


def segment_separator(body: nn.Module, tokenizer: Any, family: Family) -> int | None:
    """The separator id after which the second segment starts, for an encoder with segment
    embeddings whose tokenizer returns token type ids; None for every other model."""
    if family is not Family.ENCODER or int(getattr(body.config, "type_vocab_size", 0) or 0) < 2:
        return None
    if "token_type_ids" not in getattr(tokenizer, "model_input_names", ()):
        return None
    return tokenizer.sep_token_id


@dataclass(frozen=True)
class HeadInfo:
    task: str
    kind: str
    outputs: int
    pooling: str


class XStiltsModel(nn.Module):
    lm_model: nn.Module  # attached by xstilts.training.lm for language-modelling batches
    # How LM_TASK turns (lm_model, batch) into the loss (xstilts.training.lm's chunked loss); None: lm_model's own .loss
    lm_objective: Callable[[nn.Module, dict[str, torch.Tensor]], torch.Tensor] | None = None

    def __init__(self, body: nn.Module, family: Family, tokenizer: Any, base_model: str, pooling: str | None = None) -> None:
        super().__init__()
        self.body: Any = body  # a Hugging Face model (or a peft wrapper of one): its attributes are dynamic
        self.family = family
        self.tokenizer = tokenizer
        self.base_model = base_model
        self.pooling = pooling or default_pooling(family)
        self.heads = nn.ModuleDict()
        self.head_info: dict[str, HeadInfo] = {}
        self.input_format = InputFormat.for_tokenizer(tokenizer, family)
        self.segment_sep = segment_separator(body, tokenizer, family)
        # Attention kernels sdpa may use (xstilts.models.sdpa): auto, torch, or a tuple of backends
        self.sdpa_backends: str | tuple[str, ...] = "auto"

    @property
    def hidden_size(self) -> int:
        return int(self.body.config.hidden_size)

    @property
    def attn_implementation(self) -> str:
        """The attention implementation the backbone runs with (recorded in each stage's provenance)."""
        return attention_of(self.body)

    @property
    def num_layers(self) -> int:
        return int(self.body.config.num_hidden_layers)

    @staticmethod
    def _key(task_name: str) -> str:
        return task_name.replace(".", "_")

    def add_head(self, task: Task) -> None:
        handler = handler_for(task)
        head = handler.make_head(self.hidden_size, task, self.pooling)
        head.to(next(self.body.parameters()).dtype)
        self.heads[self._key(task.name)] = head
        self.head_info[task.name] = HeadInfo(task.name, task.kind.value, handler.head_outputs(task), self.pooling)

    def has_head(self, task_name: str) -> bool:
        return task_name in self.head_info

    def drop_heads(self, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
        """Remove every head except those of the tasks in `keep`; returns the removed task names."""
        dropped = [name for name in self.head_info if name not in keep]
        for name in dropped:
            del self.heads[self._key(name)]
            del self.head_info[name]
        return dropped

    def forward(self, task_name: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits of `task_name`'s head; for LM_TASK, the language-modelling loss. A packed batch
        (`xstilts.models.packing`) runs the backbone on its packed rows; heads see the padded layout."""
        with sdpa_backends(self.sdpa_backends, batch["input_ids"].device.type):
            return self._forward(task_name, batch)

    def _forward(self, task_name: str, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        if task_name == LM_TASK:
            if self.lm_objective is not None:
                return self.lm_objective(self.lm_model, batch)
            return self.lm_model(**batch).loss
        ids, mask = batch["input_ids"], batch["attention_mask"]
        choices = ids.dim() == 3
        if choices:
            b, c, length = ids.shape
            ids, mask = ids.reshape(b * c, length), mask.reshape(b * c, length)
        if is_packed(batch):
            extra = {k: to_packed(v, batch) for k, v in self._segments(ids, mask).items()}
            hidden = packed_hidden(self.body, batch, causal=self.family is Family.DECODER, extra=extra)
        else:
            hidden = self.body(input_ids=ids, attention_mask=mask, **self._segments(ids, mask)).last_hidden_state
        logits = self.heads[self._key(task_name)](hidden, mask)
        if choices:
            logits = logits.view(b, c)
        return logits

    def _segments(self, ids: torch.Tensor, mask: torch.Tensor) -> dict[str, torch.Tensor]:
        """`token_type_ids` for models pretrained with segment embeddings (BERT, RemBERT): 1 after
        the first separator (`[CLS] A [SEP] B [SEP]`), as their tokenizers give; none otherwise."""
        if self.segment_sep is None:
            return {}
        is_sep = (ids == self.segment_sep).long()
        return {"token_type_ids": ((is_sep.cumsum(-1) - is_sep) > 0).long() * mask}

    def embed(self, batch: dict[str, torch.Tensor], layer: int | None = None, pooling: str = "mean") -> torch.Tensor:
        ids, mask = batch["input_ids"], batch["attention_mask"]
        with sdpa_backends(self.sdpa_backends, ids.device.type):
            out = self.body(input_ids=ids, attention_mask=mask, output_hidden_states=True, **self._segments(ids, mask))
        layer = default_retrieval_layer(self.num_layers) if layer is None else layer
        if not -len(out.hidden_states) <= layer < len(out.hidden_states):
            raise CheckpointError(f"retrieval layer {layer} does not exist: the model has {self.num_layers} layers (0..{self.num_layers})")
        return pool(out.hidden_states[layer], batch["attention_mask"], pooling)

    def plain_body(self) -> Any:
        """The backbone as a plain Hugging Face model: LoRA adapters merged into a copy of it."""
        if hasattr(self.body, "merge_and_unload"):

            return copy.deepcopy(self.body).merge_and_unload()
        return self.body

    def apply_lora(self, r: int, alpha: int, dropout: float, target_modules: list[str] | None) -> int:
        """Wrap the backbone with LoRA adapters (peft); returns the number of trainable parameters."""
        from peft import LoraConfig, get_peft_model  # lazy: loads peft

        config = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules)
        try:
            self.body = get_peft_model(self.body, config)
        except ValueError as err:
            raise CheckpointError(f"{self.base_model}: LoRA cannot be applied ({str(err).splitlines()[0]}); set lora.target_modules") from None
        return sum(p.numel() for p in self.body.parameters() if p.requires_grad)

    # -- checkpoints --------------------------------------------------------------------------------
    def save(self, directory: Path, extra: dict | None = None) -> None:
        directory = Path(directory)
        body_dir = directory / "body"
        self.plain_body().save_pretrained(str(body_dir), safe_serialization=True)
        self.tokenizer.save_pretrained(str(body_dir))
        heads = {f"{name}.{k}": v.detach().contiguous().cpu() for name, head in self.heads.items() for k, v in head.state_dict().items()}
        save_file(heads, str(directory / "heads.safetensors"))
        files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
        manifest = {
            "format_version": FORMAT_VERSION,
            "family": self.family.value,
            "base_model": self.base_model,
            "model_type": self.body.config.model_type,
            "pooling": self.pooling,
            "heads": [vars(h) for h in self.head_info.values()],
            "checksums": {str(p.relative_to(directory)): sha256_file(p) for p in files},
            **(extra or {}),
        }
        atomic_write_json(directory / MANIFEST, manifest)


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.exists():
        raise CheckpointError(f"{directory}: not an xstilts checkpoint (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path}: corrupt manifest ({err.msg})") from None
    if manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{path}: checkpoint format {manifest.get('format_version')} is not {FORMAT_VERSION}")
    return manifest


def verify_checksums(directory: Path, manifest: dict) -> None:
    for rel, digest in manifest.get("checksums", {}).items():
        path = Path(directory) / rel
        if not path.exists():
            raise CheckpointError(f"{path}: missing from checkpoint")
        if sha256_file(path) != digest:
            raise CheckpointError(f"{path}: checksum mismatch (file damaged or partly written)")


def load_pretrained(name_or_path: str, options: BackboneOptions, pooling: str | None = None) -> XStiltsModel:
    """A pretrained backbone from the hub or a folder, without heads."""
    path = resolve_model_path(name_or_path)
    config = load_config(path, options)
    family = detect_family(config, options.family, where=f"model {name_or_path}: ")
    tokenizer = load_tokenizer(path, family, options)
    body = load_body(path, options, config=config)
    model = XStiltsModel(body, family, tokenizer, base_model=name_or_path, pooling=pooling)
    model.sdpa_backends = parse_sdpa_backends(options.sdpa_backends)
    return model


def load_checkpoint(directory: Path, options: BackboneOptions, tasks: dict[str, Task] | None = None, expect_family: Family | None = None, keep_heads: bool = True) -> XStiltsModel:
    """An xstilts checkpoint; heads are restored for the tasks in `tasks` that it has."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    verify_checksums(directory, manifest)
    family = Family(manifest["family"])
    if expect_family is not None and family is not expect_family:
        raise CheckpointError(f"{directory}: checkpoint is a {family.value} model, expected a {expect_family.value}")
    body_dir = str(directory / "body")
    tokenizer = load_tokenizer(body_dir, family, options)
    body = load_body(body_dir, options)
    model = XStiltsModel(body, family, tokenizer, base_model=manifest["base_model"], pooling=manifest["pooling"])
    model.sdpa_backends = parse_sdpa_backends(options.sdpa_backends)
    if keep_heads and tasks:
        weights = load_file(str(directory / "heads.safetensors"))
        for info in manifest["heads"]:
            task = tasks.get(info["task"])
            if task is None:
                continue
            if task.kind.value != info["kind"]:
                raise CheckpointError(f"{directory}: head {info['task']!r} is a {info['kind']} head, but the task is {task.kind.value}")
            model.add_head(task)
            key = XStiltsModel._key(task.name)
            state = {k[len(key) + 1:]: v for k, v in weights.items() if k.startswith(key + ".")}
            try:
                model.heads[key].load_state_dict(state)
            except RuntimeError as err:
                raise CheckpointError(f"{directory}: head {task.name!r} does not fit the task ({str(err).splitlines()[0]})") from None
    return model
