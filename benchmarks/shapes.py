"""Model shapes benchmarked (tiny ones for CPU, real architecture shapes for GPU, all with random
weights built from a config), model FLOPs and the peak FLOP/s table for MFU."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Shape:
    name: str
    family: str  # encoder | decoder
    layers: int
    hidden: int
    heads: int
    intermediate: int
    vocab: int | None = None  # None: the benchmark tokenizer's size
    kv_heads: int | None = None
    note: str = ""


SHAPES: dict[str, Shape] = {
    "tiny": Shape("tiny", "encoder", 4, 128, 4, 512, note="the synthetic benchmark's XLM-R-style encoder"),
    "tiny-decoder": Shape("tiny-decoder", "decoder", 4, 128, 4, 344, note="the synthetic benchmark's Llama-style decoder"),
    "xlmr-large": Shape("xlmr-large", "encoder", 24, 1024, 16, 4096, vocab=250002, note="XLM-R Large (560M parameters)"),
    "decoder-1b": Shape("decoder-1b", "decoder", 16, 2048, 32, 8192, vocab=128256, kv_heads=8, note="Llama-3.2-1B shape (1.24B parameters)"),
}

MAX_POSITIONS = 512


def model_config(shape: Shape, tokenizer: Any) -> Any:
    from transformers import LlamaConfig, XLMRobertaConfig

    common = dict(
        vocab_size=shape.vocab or len(tokenizer),
        hidden_size=shape.hidden,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        intermediate_size=shape.intermediate,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    if shape.family == "encoder":
        return XLMRobertaConfig(**common, max_position_embeddings=MAX_POSITIONS + 2, type_vocab_size=1, layer_norm_eps=1e-5)
    return LlamaConfig(
        **common, num_key_value_heads=shape.kv_heads or shape.heads, max_position_embeddings=MAX_POSITIONS,
        tie_word_embeddings=True, rope_theta=500000.0,
    )


def matmul_parameters(model: Any) -> int:
    """Parameters that take part in matrix products: every matrix except embedding tables (their
    lookups cost no FLOPs). This is N in the 6 * N * tokens rule."""
    import torch

    embeddings = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    return sum(p.numel() for p in model.parameters() if p.ndim >= 2 and id(p) not in embeddings)


def training_flops(n_params: int, layers: int, hidden: int, lengths: list[int]) -> float:
    """Model FLOPs of one training pass (forward + backward) over sequences of these real
    (unpadded) lengths: 6 * N per token, plus attention 12 * layers * hidden * length per token
    (PaLM's appendix B count; causal masking not discounted)."""
    return float(sum(6 * n_params * t + 12 * layers * hidden * t * t for t in lengths))


def inference_flops(n_params: int, layers: int, hidden: int, lengths: list[int]) -> float:
    """A third of the training count: forward only."""
    return training_flops(n_params, layers, hidden, lengths) / 3


# Dense bf16 tensor-core peaks (no sparsity), FLOP/s, from the vendors' data sheets.
# Matched against torch.cuda.get_device_name in this order: the first substring found wins;
# other GPUs need --peak-tflops.
PEAK_BF16: tuple[tuple[str, float], ...] = (
    ("GH200", 989e12),
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("B200", 2250e12),
    ("A100", 312e12),
    ("A800", 312e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("A10", 125e12),
    ("V100", 125e12),  # fp16: V100 has no bf16
)


def peak_flops(device_name: str) -> float | None:
    for key, peak in PEAK_BF16:
        if key.lower() in device_name.lower():
            return peak
    return None
