"""Pretraining the synthetic benchmark's tiny encoder (masked LM, XLM-R config) and decoder
(causal LM, Llama config) from scratch on the synthetic multilingual corpus.

`xstilts synthetic pretrain` runs this; results are cached under the benchmark's fingerprint.
If a copy made by that command for the same fingerprint ships inside the package
(`xstilts/synthetic/pretrained/`), it is used instead of pretraining again.
"""

from __future__ import annotations

import json
import logging
import math
import random
import shutil
import time
from pathlib import Path

from xstilts.errors import unknown_name
from xstilts.io import atomic_dir, atomic_write_json
from xstilts.models.backbone import BackboneOptions, resolve_attention
from xstilts.progress import progress_bar
from xstilts.synthetic.files import SyntheticBenchmark
from xstilts.synthetic.spec import MODEL_NAMES, ModelShape, ModelVariant, SyntheticSpec, model_variant

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).parent / "pretrained"


def model_config(family: str, shape: ModelShape, tokenizer) -> object:
    from transformers import LlamaConfig, XLMRobertaConfig  # lazy: loads transformers

    common = dict(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    if family == "encoder":
        return XLMRobertaConfig(**common, max_position_embeddings=shape.max_positions + 2, type_vocab_size=1)
    return LlamaConfig(**common, max_position_embeddings=shape.max_positions, tie_word_embeddings=True)


def ensure_pretrained(name: str, spec: SyntheticSpec | None = None, progress: bool = True) -> Path:
    """Path of the pretrained synthetic model `name` (`encoder`, `decoder-1`, ...; see
    `xstilts.synthetic.spec.ModelVariant`), pretraining it if no copy exists."""
    variant = _variant(name)
    bench = SyntheticBenchmark(spec)
    target = bench.model_dir(name)
    if (target / "DONE").exists():
        return target
    shipped = SHIPPED_DIR / bench.spec.pretraining_fingerprint / name
    if (shipped / "DONE").exists():
        with atomic_dir(target) as tmp:
            shutil.copytree(shipped, tmp, dirs_exist_ok=True)
        log.info("using the shipped pretrained synthetic %s (%s)", name, bench.spec.pretraining_fingerprint)
        return target
    tokenizer_dir = bench.tokenizer_dir()
    with atomic_dir(target) as tmp:
        pretrain(bench, variant, tokenizer_dir, tmp, progress=progress)
    return target


def existing_pretrained(name: str, spec: SyntheticSpec | None = None) -> Path | None:
    """The pretrained synthetic model's folder when a copy exists (made before, or shipped:
    then copied into the cache); None when it would have to be pretrained."""
    bench = SyntheticBenchmark(spec)
    built = (bench.model_dir(name) / "DONE").exists()
    shipped = (SHIPPED_DIR / bench.spec.pretraining_fingerprint / name / "DONE").exists()
    return ensure_pretrained(name, spec) if built or shipped else None


def _variant(name: str) -> ModelVariant:
    variant = model_variant(name)
    if variant is None:
        raise unknown_name("synthetic model", name, MODEL_NAMES)
    return variant


def _documents(bench: SyntheticBenchmark, tokenizer, length: int) -> list[list[int]]:
    lines = bench.corpus_path().read_text(encoding="utf-8").splitlines()
    encoded = tokenizer(lines, add_special_tokens=False, truncation=True, max_length=length - 2)["input_ids"]
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    return [[bos, *ids, eos] for ids in encoded if ids]


def pretrain(bench: SyntheticBenchmark, variant: ModelVariant, tokenizer_dir: Path, out_dir: Path, progress: bool = True) -> dict:
    import torch  # lazy: loads torch
    from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoTokenizer  # lazy: loads transformers

    spec = bench.spec
    settings = spec.pretrain
    family = variant.family
    shape = spec.encoder if family == "encoder" else spec.decoder
    seed = spec.pretraining_seed(variant.variant)
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(str(tokenizer_dir))
    config = model_config(family, shape, tokenizer)
    model_cls = AutoModelForMaskedLM if family == "encoder" else AutoModelForCausalLM
    attention, _ = resolve_attention(config, BackboneOptions())
    model = model_cls.from_config(config, attn_implementation=attention)
    docs = _documents(bench, tokenizer, settings.sequence_length)
    rng = random.Random(seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.01)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min(1.0, (s + 1) / settings.warmup_steps) * max(0.05, 0.5 * (1 + math.cos(math.pi * s / settings.steps)))
    )
    pad = tokenizer.pad_token_id
    model.train()
    started = time.time()
    losses: list[float] = []
    bar = progress_bar(total=settings.steps, description=f"pretraining synthetic {variant.name}", enabled=progress)
    for _ in range(settings.steps):
        batch = rng.sample(docs, settings.batch_size)
        width = max(len(d) for d in batch)
        ids = torch.full((len(batch), width), pad, dtype=torch.long)
        for i, d in enumerate(batch):
            ids[i, : len(d)] = torch.tensor(d)
        mask = (ids != pad).long()
        if family == "encoder":
            inputs, labels = _mask_tokens(ids, mask, tokenizer, settings.mask_rate)
        else:
            inputs, labels = ids, ids.masked_fill(mask == 0, -100)
        loss = model(input_ids=inputs, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())
        bar.update(1, loss=sum(losses[-50:]) / len(losses[-50:]))
    bar.close()
    model.save_pretrained(str(out_dir), safe_serialization=True)
    tokenizer.save_pretrained(str(out_dir))
    summary = {
        "family": family,
        "model": variant.name,
        "spec": spec.pretraining_fingerprint,
        "fingerprint": spec.model_fingerprint(variant.variant),
        "seed": seed,
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": settings.steps,
        "final_loss": sum(losses[-50:]) / len(losses[-50:]),
        "seconds": round(time.time() - started, 1),
    }
    atomic_write_json(out_dir / "pretraining.json", summary)
    (out_dir / "DONE").write_text(json.dumps(summary))
    log.info("pretrained synthetic %s: %s", variant.name, summary)
    return summary


def _mask_tokens(ids, mask, tokenizer, rate: float):
    """BERT-style masking: of the chosen positions, 80% <mask>, 10% random token, 10% unchanged."""
    import torch  # lazy: loads torch

    special = (ids == tokenizer.bos_token_id) | (ids == tokenizer.eos_token_id) | (mask == 0)
    chosen = (torch.rand(ids.shape) < rate) & ~special
    labels = ids.masked_fill(~chosen, -100)
    inputs = ids.clone()
    roll = torch.rand(ids.shape)
    inputs[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_ids = torch.randint(len(tokenizer), ids.shape)
    swap = chosen & (roll >= 0.8) & (roll < 0.9)
    inputs[swap] = random_ids[swap]
    return inputs, labels
