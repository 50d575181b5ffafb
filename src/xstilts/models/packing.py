"""Padding-free packing of training batches: the features of a batch share rows, each attending
only to itself.

A packed batch is the kind's padded batch (labels, masks and heads unchanged) plus the packed
rows the backbone runs on:
  packed_input_ids     (rows, width)  the features' tokens laid end to end, padding after them;
  packed_position_ids  (rows, width)  each feature's positions, restarting at 0 at its first token;
  packed_segments      (rows, width)  1, 2, ... for the features of a row, 0 for padding;
  unpack_index         (batch, length) for every token of the padded batch, its flat position in
                       the packed rows (0 at padding), to put the hidden states back per feature.
The backbone sees a block-diagonal attention mask (bidirectional blocks for encoders, causal ones
for decoders) under sdpa and eager, or, under flash-attention 2, one row of real tokens with the
sequence boundaries (`cu_seq_lens_*`, as transformers' `DataCollatorWithFlattening` gives). Its
hidden states are unpacked into the padded layout, so every head pools and every loss reads the
feature's own tokens exactly as without packing.

Which families and kinds can pack is stated here once (`packing_problem`), torch-free, so that
`xstilts plan` refuses an unsupported combination before training.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from xstilts.kinds import KINDS, handler_named

if TYPE_CHECKING:
    import torch

Batch = dict[str, "torch.Tensor"]

# Model types whose backbone takes explicit position ids and a custom 4D attention mask (checked
# for exactness against unpacked runs in tests/models/test_packing.py), and the first position
# id of a sequence: RoBERTa-style embeddings count from padding_idx + 1, the others from 0.
AFTER_PADDING = "after_padding"
FROM_ZERO = "from_zero"
PACKABLE_MODEL_TYPES: dict[str, str] = {
    "xlm-roberta": AFTER_PADDING,
    "roberta": AFTER_PADDING,
    "bert": FROM_ZERO,
    "rembert": FROM_ZERO,
    "gpt2": FROM_ZERO,
    "llama": FROM_ZERO,
    "mistral": FROM_ZERO,
    "qwen2": FROM_ZERO,
    "qwen3": FROM_ZERO,
    "gemma": FROM_ZERO,
    "xglm": FROM_ZERO,
}
def packing_problem(model_type: str, kinds: Sequence[str]) -> str | None:
    """Why training tasks of `kinds` on a `model_type` backbone cannot use packing (one line), or
    None. A kind packs when its handler says so (`KindHandler.packable`)."""
    if model_type not in PACKABLE_MODEL_TYPES:
        return f"packing: model type {model_type!r} is not supported (supported: {', '.join(sorted(PACKABLE_MODEL_TYPES))})"
    unsupported = [k for k in dict.fromkeys(kinds) if k in KINDS and not handler_named(k).packable]
    if unsupported:
        packable = [k for k in KINDS.names() if handler_named(k).packable]
        return f"packing: {', '.join(unsupported)} tasks cannot be packed (kinds that can: {', '.join(packable)})"
    return None


def first_position(config: Any) -> int:
    """The position id of a sequence's first token, as the model builds it from input ids."""
    if PACKABLE_MODEL_TYPES.get(config.model_type) == AFTER_PADDING:
        return int(config.pad_token_id) + 1
    return 0


# -- packing a batch ------------------------------------------------------------------------------
def pack_rows(lengths: Sequence[int], budget: int) -> list[list[int]]:
    """Feature indices per row: greedy first-fit of the features, longest first, into rows of at
    most `budget` tokens (a longer feature gets a row of its own)."""
    rows: list[list[int]] = []
    room: list[int] = []
    for i in sorted(range(len(lengths)), key=lambda j: (-lengths[j], j)):
        for r, free in enumerate(room):
            if lengths[i] <= free:
                rows[r].append(i)
                room[r] -= lengths[i]
                break
        else:
            rows.append([i])
            room.append(max(budget, lengths[i]) - lengths[i])
    return rows


def row_cost(n_rows: int, width: int, attention_parity: float | None) -> float:
    """What running `n_rows` rows of `width` positions costs, in position units: every position
    costs 1, plus its attention over the row's `width` keys, which a mask does not skip (sdpa,
    eager) and which equals the rest of a position's compute at `width == attention_parity`
    (None: attention confined to each feature, as flash-attention's varlen kernel does)."""
    return n_rows * width * (1 + width / attention_parity if attention_parity else 1)


def cheapest_rows(lengths: Sequence[int], budget: int, attention_parity: float | None = None) -> list[list[int]]:
    """The packing (`pack_rows`) that costs least (`row_cost`) among row widths from the longest
    feature up to `budget`, one feature a row (the padded batch) included: for each row count R,
    the narrowest width that could hold the tokens in R rows is tried."""
    longest, total = max(lengths), sum(lengths)
    best: list[list[int]] = [[i] for i in range(len(lengths))]
    best_cost = row_cost(len(lengths), longest, attention_parity)
    for n_rows in range(max(1, -(-total // max(budget, longest))), len(lengths)):
        rows = pack_rows(lengths, max(longest, -(-total // n_rows)))
        cost = row_cost(len(rows), max(sum(lengths[i] for i in row) for row in rows), attention_parity)
        if cost < best_cost:
            best, best_cost = rows, cost
    return best


def pack(batch: Batch, budget: int, pad_id: int, rows: list[list[int]] | None = None, attention_parity: float | None = None) -> Batch:
    """The padded `batch` with its packed rows added (see the module docstring): rows of at most
    `budget` tokens (or the longest feature) laid out at the least cost (`cheapest_rows`), or as
    `rows` (feature indices per row) say. Unchanged when no two features share a row."""
    import torch  # lazy: loads torch

    ids, mask = batch["input_ids"], batch["attention_mask"]
    if ids.dim() != 2:
        raise ValueError("packing needs one sequence per feature")
    lengths = mask.sum(-1).tolist()
    rows = rows or cheapest_rows(lengths, budget, attention_parity)
    if len(rows) == len(lengths):
        return batch
    width = max(sum(lengths[i] for i in row) for row in rows)
    packed_ids = torch.full((len(rows), width), pad_id, dtype=ids.dtype)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    segments = torch.zeros((len(rows), width), dtype=torch.long)
    unpack_index = torch.zeros(ids.shape, dtype=torch.long)
    for r, row in enumerate(rows):
        start = 0
        for s, i in enumerate(row, start=1):
            n = int(lengths[i])
            # Features are right-padded: a feature's tokens are its first `n` positions.
            packed_ids[r, start : start + n] = ids[i, :n]
            positions[r, start : start + n] = torch.arange(n)
            segments[r, start : start + n] = s
            unpack_index[i, :n] = torch.arange(r * width + start, r * width + start + n)
            start += n
    return batch | {"packed_input_ids": packed_ids, "packed_position_ids": positions, "packed_segments": segments, "unpack_index": unpack_index}


def is_packed(batch: Batch) -> bool:
    return "packed_input_ids" in batch


def to_packed(values: torch.Tensor, batch: Batch) -> torch.Tensor:
    """Per-token values of the padded batch (batch, length) laid out as the packed rows."""
    out = values.new_zeros(batch["packed_input_ids"].shape)
    real = batch["attention_mask"].bool()
    out.view(-1)[batch["unpack_index"][real]] = values[real]
    return out


# -- running the backbone on packed rows ------------------------------------------------------------
def block_mask(segments: torch.Tensor, causal: bool, attention: str, dtype: torch.dtype) -> torch.Tensor:
    """A (rows, 1, width, width) mask letting each token attend to the tokens of its own feature
    (and, for a decoder, only to earlier ones); padding attends to padding, so that no row of the
    mask is empty. Boolean (True: attend) for sdpa, additive (0 or the dtype's minimum) for eager."""
    import torch  # lazy: loads torch

    allowed = segments[:, :, None] == segments[:, None, :]
    if causal:
        width = segments.size(-1)
        allowed = allowed & torch.ones(width, width, dtype=torch.bool, device=segments.device).tril()
    allowed = allowed[:, None]
    if attention == "sdpa":
        return allowed
    return torch.zeros(allowed.shape, dtype=dtype, device=segments.device).masked_fill(~allowed, torch.finfo(dtype).min)


def varlen_boundaries(positions: torch.Tensor) -> torch.Tensor:
    """Cumulative sequence lengths (int32, starting with 0) of sequences laid end to end, each of
    whose position ids restarts at 0: flash-attention's `cu_seqlens`."""
    import torch  # lazy: loads torch

    starts = (positions == 0).nonzero().squeeze(-1)
    return torch.cat([starts, starts.new_tensor([positions.numel()])]).to(torch.int32)


def attention_parity(body: Any) -> float | None:
    """The row width at which a position's attention costs as much as the rest of its compute:
    6 x the hidden size (forward FLOPs: 4 x width x hidden for attention, 24 x hidden^2 for the
    projections and the feed-forward layer); None under flash-attention, whose varlen kernel
    attends within each feature only."""
    config = body.config
    if str(getattr(config, "_attn_implementation", "")).startswith("flash_attention"):
        return None
    return 6.0 * float(config.hidden_size)


def packed_hidden(body: Any, batch: Batch, causal: bool, extra: dict[str, torch.Tensor]) -> torch.Tensor:
    """The backbone's last hidden states for a packed batch, in the padded layout (batch, length,
    hidden); `extra` holds further per-token inputs in the packed layout (token type ids)."""
    import torch  # lazy: loads torch

    config = body.config
    attention = str(getattr(config, "_attn_implementation", "eager"))
    ids, segments = batch["packed_input_ids"], batch["packed_segments"]
    positions = batch["packed_position_ids"] + first_position(config)
    index = batch["unpack_index"]
    if attention.startswith("flash_attention"):
        # One row of real tokens; the sequence boundaries bound flash-attention's varlen kernel.
        real = segments.reshape(-1) > 0
        compact = torch.cumsum(real.long(), 0) - 1
        cu = varlen_boundaries(batch["packed_position_ids"].reshape(-1)[real])
        longest = int(cu.diff().max())
        out = body(
            input_ids=ids.reshape(-1)[real][None], position_ids=positions.reshape(-1)[real][None],
            **{k: v.reshape(-1)[real][None] for k, v in extra.items()},
            cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=longest, max_length_k=longest,
        ).last_hidden_state
        return out[0][compact[index]]
    dtype = next(body.parameters()).dtype
    mask = block_mask(segments, causal, attention, dtype)
    out = body(input_ids=ids, attention_mask=mask, position_ids=positions, **extra).last_hidden_state
    return out.reshape(-1, out.size(-1))[index]
