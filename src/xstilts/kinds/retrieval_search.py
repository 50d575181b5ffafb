"""Nearest-neighbour retrieval for BUCC, Tatoeba, LAReQA and Mewsli-X, as XTREME does it.

Everything runs on torch tensors, on CPU or GPU (pass `device=`, or give tensors already there),
block by block: one [query block x candidate block] matrix of similarities (64 MB) is the largest
thing held, so 100k x 100k sentences need no 40 GB matrix. With `backend="faiss"` an exact faiss
index is used instead, when faiss is installed. Results come back on the CPU.

Ties. The official scripts use faiss, whose order among equal similarities depends on its code
path. Here ties are always broken the same way: the lower candidate index wins (for Tatoeba's
top-1 search this is also what faiss's L2 index does). "Equal" means equal as computed: identical
vectors can get similarities that differ in the last bit from different positions of a block.
Margin mining reads both directions' neighbours off the same x @ y.T blocks (`knn_both_ways`), so
sim(x, y) is one number in both directions; a separate y @ x.T search can differ from it in the
last bit (with the default blocks it did not, in the checks of tests/benchmarks).

BUCC (the LASER procedure xtreme's `utils_retrieve.py` adapts):
1. Each distinct sentence text is kept once, on each side, before searching.
2. k = 4 nearest neighbours by cosine in both directions; each sentence's neighbourhood mean.
3. Each of a source sentence's k neighbours is scored by the ratio margin
   cos(x, y) / ((mean_k(x) + mean_k(y)) / 2); same backwards. The best-scoring neighbour is kept.
4. "max" retrieval: forward and backward best pairs pooled, sorted by score, taken greedily so
   that every sentence is used at most once; pairs scoring <= 0 are dropped.
5. Pairs whose source or target text occurs on more than one line of its file are dropped (their
   id is ambiguous), texts are mapped back to ids.
6. The threshold maximising F1 against the gold pairs of the dev split is the midpoint between
   the score of the last pair kept and the next one; test pairs scoring >= threshold are predicted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from xstilts.errors import ConfigError, DataError
from xstilts.kinds.pairs import pair_f1, pair_set

log = logging.getLogger(__name__)

ArrayLike = torch.Tensor | np.ndarray
Backend = Literal["torch", "faiss"]
BLOCK_ELEMENTS = 1 << 24  # similarities held at once (64 MB in float32)


# --- nearest neighbours ---------------------------------------------------------------------


def as_embeddings(x: ArrayLike, name: str = "embeddings", device: torch.device | str | None = None) -> torch.Tensor:
    """A float32 2-D tensor on `device` (default: where `x` is), checked to be finite."""
    tensor = torch.as_tensor(x)
    if device is not None:
        tensor = tensor.to(device)
    tensor = tensor.to(torch.float32)
    if tensor.dim() != 2:
        raise DataError(f"{name}: expected a 2-D array (sentences x dimensions), got shape {tuple(tensor.shape)}")
    if tensor.numel() and not bool(torch.isfinite(tensor).all()):
        raise DataError(f"{name}: contains NaN or infinite values")
    return tensor


def l2_normalize(x: torch.Tensor) -> torch.Tensor:
    """Rows scaled to unit length; all-zero rows stay zero."""
    return torch.nn.functional.normalize(x, p=2.0, dim=1, eps=1e-12)


def knn(
    queries: ArrayLike,
    candidates: ArrayLike,
    k: int,
    *,
    normalize: bool = True,
    device: torch.device | str | None = None,
    backend: Backend = "torch",
    query_block: int | None = None,
    candidate_block: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k most similar candidates of every query: (similarities, indices), each [queries, k'].

    k' = min(k, number of candidates). Similarity is the cosine (`normalize=True`) or the plain dot
    product. Rows are sorted best first; equal similarities put the lower candidate index first.
    Results are on the CPU.
    """
    if k < 1:
        raise ConfigError(f"knn: k must be at least 1, got {k}")
    q = as_embeddings(queries, "queries", device)
    c = as_embeddings(candidates, "candidates", q.device)
    if q.shape[1] != c.shape[1]:
        raise DataError(f"knn: queries have {q.shape[1]} dimensions but candidates have {c.shape[1]}")
    if normalize:
        q, c = l2_normalize(q), l2_normalize(c)
    k = min(k, c.shape[0])
    if k == 0 or q.shape[0] == 0:
        return torch.zeros(q.shape[0], k), torch.zeros(q.shape[0], k, dtype=torch.long)
    if backend == "faiss":
        return _faiss_knn(q, c, k)
    _check_backend(backend)
    return _blockwise_knn(q, c, k, query_block, candidate_block)


def knn_both_ways(
    x: ArrayLike,
    y: ArrayLike,
    k: int,
    *,
    normalize: bool = True,
    device: torch.device | str | None = None,
    backend: Backend = "torch",
    query_block: int | None = None,
    candidate_block: int | None = None,
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """`knn(x, y, k)` and `knn(y, x, k)` from one pass over the similarity blocks: each block of
    x @ y.T gives both the best y of every x (its rows) and the best x of every y (its columns),
    so margin mining computes its similarities once instead of twice. The same ranking rules as
    `knn` (best first, lower index first on equal similarity)."""
    if k < 1:
        raise ConfigError(f"knn: k must be at least 1, got {k}")
    _check_backend(backend)
    if backend == "faiss":
        return knn(x, y, k, normalize=normalize, device=device, backend=backend), knn(y, x, k, normalize=normalize, device=device, backend=backend)
    a = as_embeddings(x, "queries", device)
    b = as_embeddings(y, "candidates", a.device)
    if a.shape[1] != b.shape[1]:
        raise DataError(f"knn: queries have {a.shape[1]} dimensions but candidates have {b.shape[1]}")
    if normalize:
        a, b = l2_normalize(a), l2_normalize(b)
    ka, kb = min(k, b.shape[0]), min(k, a.shape[0])
    if a.shape[0] == 0 or b.shape[0] == 0:
        return (
            (torch.zeros(a.shape[0], ka), torch.zeros(a.shape[0], ka, dtype=torch.long)),
            (torch.zeros(b.shape[0], kb), torch.zeros(b.shape[0], kb, dtype=torch.long)),
        )
    return _blockwise_knn_both_ways(a, b, ka, kb, query_block, candidate_block)


def _blockwise_knn_both_ways(
    a: torch.Tensor, b: torch.Tensor, ka: int, kb: int, query_block: int | None, candidate_block: int | None
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    na, nb = a.shape[0], b.shape[0]
    candidate_block = candidate_block or min(nb, 1 << 14)
    query_block = query_block or max(1, BLOCK_ELEMENTS // candidate_block)
    starts = list(range(0, nb, candidate_block))
    blocks = _BlockBuffers(min(na, query_block), min(nb, candidate_block), a.device)
    # Running best rows of b's side, one pair per candidate block; a-blocks arrive in index order,
    # so `_merge_topk`'s "later indices are larger" holds for them too.
    b_best = [
        (torch.empty(min(candidate_block, nb - c0), 0, device=a.device), torch.empty(min(candidate_block, nb - c0), 0, dtype=torch.long, device=a.device))
        for c0 in starts
    ]
    a_sims, a_index = [], []
    for q0 in range(0, na, query_block):
        a_part = a[q0 : q0 + query_block]
        best_s = torch.empty(a_part.shape[0], 0, device=a.device)
        best_i = torch.empty(a_part.shape[0], 0, dtype=torch.long, device=a.device)
        for n, c0 in enumerate(starts):
            sims = blocks.similarities(a_part, b[c0 : c0 + candidate_block])
            block_s, block_i = _block_topk(sims, ka)
            best_s, best_i = _merge_topk(best_s, best_i, block_s, block_i + c0, ka)
            b_best[n] = _merge_columns(b_best[n], sims, q0, kb, blocks)
        a_sims.append(best_s.cpu())
        a_index.append(best_i.cpu())
    forward = (torch.cat(a_sims), torch.cat(a_index))
    backward = (torch.cat([s.cpu() for s, _ in b_best]), torch.cat([i.cpu() for _, i in b_best]))
    return forward, backward


def _check_backend(backend: str) -> None:
    if backend not in ("torch", "faiss"):
        raise ConfigError(f"knn: unknown backend {backend!r}; use 'torch' or 'faiss'")


def _blockwise_knn(
    q: torch.Tensor, c: torch.Tensor, k: int, query_block: int | None, candidate_block: int | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k candidates of every query from [query block x candidate block] similarity blocks."""
    nq, nc = q.shape[0], c.shape[0]
    candidate_block = candidate_block or min(nc, 1 << 14)
    query_block = query_block or max(1, BLOCK_ELEMENTS // candidate_block)
    blocks = _BlockBuffers(min(nq, query_block), min(nc, candidate_block), q.device)
    sims_out, index_out = [], []
    for q0 in range(0, nq, query_block):
        q_part = q[q0 : q0 + query_block]
        best_s = torch.empty(q_part.shape[0], 0, device=q.device)
        best_i = torch.empty(q_part.shape[0], 0, dtype=torch.long, device=q.device)
        for c0 in range(0, nc, candidate_block):
            block_s, block_i = _block_topk(blocks.similarities(q_part, c[c0 : c0 + candidate_block]), k)
            best_s, best_i = _merge_topk(best_s, best_i, block_s, block_i + c0, k)
        sims_out.append(best_s.cpu())
        index_out.append(best_i.cpu())
    return torch.cat(sims_out), torch.cat(index_out)


def _merge_columns(
    best: tuple[torch.Tensor, torch.Tensor], sims: torch.Tensor, offset: int, k: int, blocks: _BlockBuffers
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge each column's top k of this block into the running top k of that column.

    A column can only change if its best value in this block beats its current k-th best
    (strictly: on equal values the earlier, lower index stays), so once the lists are full only
    those columns are ranked; after a few blocks that is a small share of them.
    """
    best_s, best_i = best
    if best_s.shape[1] < k:
        col_s, col_i = _block_topk(blocks.transposed(sims), k)
        return _merge_topk(best_s, best_i, col_s, col_i + offset, k)
    changed = (sims.amax(dim=0) > best_s[:, -1]).nonzero().flatten()
    if changed.numel() == 0:
        return best
    col_s, col_i = _block_topk(sims.index_select(1, changed).T, k)
    new_s, new_i = _merge_topk(best_s[changed], best_i[changed], col_s, col_i + offset, k)
    best_s, best_i = best_s.clone(), best_i.clone()
    best_s[changed], best_i[changed] = new_s, new_i
    return best_s, best_i


class _BlockBuffers:
    """Output buffers reused by every similarity block. A fresh 64 MB tensor per block costs page
    faults on the CPU: a third of the matrix product's time at 128 dimensions. The values are
    the same matrix product's, bit for bit."""

    def __init__(self, rows: int, cols: int, device: torch.device) -> None:
        self.size, self.device = rows * cols, device
        self._flat = torch.empty(self.size, device=device)
        self._flat_t: torch.Tensor | None = None

    def similarities(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        out = self._flat[: a.shape[0] * b.shape[0]].view(a.shape[0], b.shape[0])
        return torch.mm(a, b.T, out=out)

    def transposed(self, sims: torch.Tensor) -> torch.Tensor:
        """A contiguous copy of sims.T: top-k along rows is several times faster than along columns."""
        if self._flat_t is None:
            self._flat_t = torch.empty(self.size, device=self.device)
        out = self._flat_t[: sims.numel()].view(sims.shape[1], sims.shape[0])
        return out.copy_(sims.T)


def _block_topk(sims: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact top-k of each row of one block, lower column first among equal values."""
    if sims.shape[1] <= k:
        order = torch.sort(sims, dim=1, descending=True, stable=True)
        return order.values, order.indices
    values, indices = sims.topk(k + 1, dim=1)
    # topk orders equal values arbitrarily: order by (value desc, index asc) ...
    by_index = torch.argsort(indices, dim=1)
    values, indices = values.gather(1, by_index), indices.gather(1, by_index)
    by_value = torch.argsort(values, dim=1, descending=True, stable=True)
    values, indices = values.gather(1, by_value), indices.gather(1, by_value)
    # ... and it picks arbitrarily among values tied at the k-th place: redo those rows exactly.
    straddling = (values[:, k - 1] == values[:, k]).nonzero().flatten()
    if straddling.numel():
        exact = torch.sort(sims[straddling], dim=1, descending=True, stable=True)
        values[straddling] = exact.values[:, : k + 1]
        indices[straddling] = exact.indices[:, : k + 1]
    return values[:, :k], indices[:, :k]


def _merge_topk(
    s1: torch.Tensor, i1: torch.Tensor, s2: torch.Tensor, i2: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best k of two sorted candidate lists per row, where every index in the second list is
    larger than those in the first: a stable sort then keeps lower indices first among ties."""
    s, i = torch.cat([s1, s2], dim=1), torch.cat([i1, i2], dim=1)
    order = torch.argsort(s, dim=1, descending=True, stable=True)[:, :k]
    return s.gather(1, order), i.gather(1, order)


def _faiss_knn(q: torch.Tensor, c: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        import faiss  # lazy: loads faiss
    except ImportError:
        raise ConfigError("knn: backend 'faiss' asked for but faiss is not installed (pip install faiss-cpu)") from None
    index = faiss.IndexFlatIP(c.shape[1])
    index.add(np.ascontiguousarray(c.cpu().numpy()))
    sims, indices = index.search(np.ascontiguousarray(q.cpu().numpy()), k)
    return torch.from_numpy(sims), torch.from_numpy(indices).long()


def nearest_neighbour(queries: ArrayLike, candidates: ArrayLike, **knn_options) -> list[int]:
    """Index of the most cosine-similar candidate of every query (lower index on ties)."""
    _, indices = knn(queries, candidates, 1, **knn_options)
    if indices.shape[1] == 0:
        raise DataError("nearest_neighbour: there are no candidates")
    return indices[:, 0].tolist()


# --- Tatoeba --------------------------------------------------------------------------------


def tatoeba_predictions(source: ArrayLike, english: ArrayLike, **knn_options) -> list[int]:
    """XTREME's Tatoeba predictions: for every English sentence (in file order), the index of its
    nearest source-language sentence by cosine. Gold is the index of its translation."""
    return nearest_neighbour(english, source, **knn_options)


# --- ranking (LAReQA, Mewsli-X) -------------------------------------------------------------


def rank_candidates(
    queries: ArrayLike,
    candidates: ArrayLike,
    query_ids: Sequence[str],
    candidate_ids: Sequence[str],
    k: int = 20,
    **knn_options,
) -> dict[str, list[str]]:
    """The k best candidate ids of every query id, best first (the retrieval prediction format)."""
    if len(query_ids) != len(queries) or len(candidate_ids) != len(candidates):
        raise DataError(
            f"rank_candidates: {len(query_ids)} query ids for {len(queries)} queries, "
            f"{len(candidate_ids)} candidate ids for {len(candidates)} candidates"
        )
    _, indices = knn(queries, candidates, k, **knn_options)
    return {qid: [candidate_ids[j] for j in row] for qid, row in zip(query_ids, indices.tolist())}


# --- BUCC -----------------------------------------------------------------------------------

Retrieval = Literal["max", "fwd", "bwd", "intersect"]
Margin = Literal["ratio", "distance", "absolute"]


@dataclass(frozen=True)
class BuccCandidate:
    source_id: str
    target_id: str
    score: float


@dataclass(frozen=True)
class MinedPair:
    source: int  # index among the unique source sentences
    target: int
    score: float


def unique_texts(texts: Sequence[str]) -> tuple[list[int], list[int]]:
    """(first line of every distinct text, in order of first appearance; line -> distinct index)."""
    first: dict[str, int] = {}
    line_to_unique = []
    for text in texts:
        if text not in first:
            first[text] = len(first)
        line_to_unique.append(first[text])
    representatives = [0] * len(first)
    for line, u in enumerate(line_to_unique):
        representatives[u] = line  # the last line wins, as xtreme's unique_embeddings
    return representatives, line_to_unique


def margin_mine(
    source: ArrayLike,
    target: ArrayLike,
    *,
    retrieval: Retrieval = "max",
    margin: Margin = "ratio",
    neighbourhood: int = 4,
    threshold: float = 0.0,
    **knn_options,
) -> list[MinedPair]:
    """Mine sentence pairs from two embedding matrices by margin scoring (cosine).

    Returns pairs in the order the official miner writes them: "max" sorted by score descending
    (forward candidates before backward ones on equal scores), the others by sentence index.
    `threshold` only applies to "max" (pairs scoring <= threshold are dropped after being taken).
    """
    if retrieval not in ("max", "fwd", "bwd", "intersect"):
        raise ConfigError(f"margin_mine: unknown retrieval {retrieval!r}; use max, fwd, bwd or intersect")
    if margin not in ("ratio", "distance", "absolute"):
        raise ConfigError(f"margin_mine: unknown margin {margin!r}; use ratio, distance or absolute")
    knn_options.pop("normalize", None)
    x = l2_normalize(as_embeddings(source, "source embeddings"))
    y = l2_normalize(as_embeddings(target, "target embeddings", x.device))
    if x.shape[0] == 0 or y.shape[0] == 0:
        return []
    if knn_options.get("backend", "torch") == "torch":
        (fwd_sims, fwd_idx), (bwd_sims, bwd_idx) = knn_both_ways(x, y, neighbourhood, normalize=False, **knn_options)
    else:
        fwd_sims, fwd_idx = knn(x, y, neighbourhood, normalize=False, **knn_options)
        bwd_sims, bwd_idx = knn(y, x, neighbourhood, normalize=False, **knn_options)
    return mine_neighbourhoods((fwd_sims, fwd_idx), (bwd_sims, bwd_idx), retrieval=retrieval, margin=margin, threshold=threshold)


def mine_neighbourhoods(
    forward: tuple[torch.Tensor, torch.Tensor],
    backward: tuple[torch.Tensor, torch.Tensor],
    *,
    retrieval: Retrieval = "max",
    margin: Margin = "ratio",
    threshold: float = 0.0,
) -> list[MinedPair]:
    """`margin_mine`'s pairs from the k nearest neighbours of both sides, (similarities, indices)
    of the source rows among the targets and of the target rows among the sources."""
    fwd_sims, fwd_idx = forward
    bwd_sims, bwd_idx = backward
    n_source, n_target = fwd_sims.shape[0], bwd_sims.shape[0]
    fwd_mean, bwd_mean = fwd_sims.mean(dim=1), bwd_sims.mean(dim=1)
    fwd_scores = _margin(fwd_sims, (fwd_mean[:, None] + bwd_mean[fwd_idx]) / 2, margin)
    bwd_scores = _margin(bwd_sims, (bwd_mean[:, None] + fwd_mean[bwd_idx]) / 2, margin)
    fwd_best_score, fwd_best = _best_candidate(fwd_scores, fwd_idx)
    bwd_best_score, bwd_best = _best_candidate(bwd_scores, bwd_idx)

    if retrieval == "fwd":
        return [MinedPair(i, j, s) for i, (j, s) in enumerate(zip(fwd_best.tolist(), fwd_best_score.tolist()))]
    if retrieval == "bwd":
        return [MinedPair(i, j, s) for j, (i, s) in enumerate(zip(bwd_best.tolist(), bwd_best_score.tolist()))]
    if retrieval == "intersect":
        back = bwd_best.tolist()
        return [
            MinedPair(i, j, s)
            for i, (j, s) in enumerate(zip(fwd_best.tolist(), fwd_best_score.tolist()))
            if back[j] == i
        ]
    sources = torch.cat([torch.arange(n_source), bwd_best]).tolist()
    targets = torch.cat([fwd_best, torch.arange(n_target)]).tolist()
    scores = torch.cat([fwd_best_score, bwd_best_score])
    order = torch.argsort(scores, descending=True, stable=True).tolist()
    score_list = scores.tolist()
    used_sources: set[int] = set()
    used_targets: set[int] = set()
    mined = []
    for n in order:
        i, j = sources[n], targets[n]
        if i in used_sources or j in used_targets:
            continue
        used_sources.add(i)
        used_targets.add(j)
        if score_list[n] > threshold:
            mined.append(MinedPair(i, j, score_list[n]))
    return mined


def _best_candidate(scores: torch.Tensor, indices: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Best margin score per row and its candidate; the nearer neighbour wins a tie."""
    position = torch.argmax(scores, dim=1)  # documented to return the first of equal maxima
    return scores.gather(1, position[:, None])[:, 0], indices.gather(1, position[:, None])[:, 0]


def _margin(similarity: torch.Tensor, neighbourhood_mean: torch.Tensor, margin: Margin) -> torch.Tensor:
    if margin == "ratio":
        return similarity / neighbourhood_mean
    if margin == "distance":
        return similarity - neighbourhood_mean
    return similarity


def mine_bucc_candidates(
    source_ids: Sequence[str],
    source_texts: Sequence[str],
    source_embeddings: ArrayLike,
    target_ids: Sequence[str],
    target_texts: Sequence[str],
    target_embeddings: ArrayLike,
    **mine_options,
) -> list[BuccCandidate]:
    """Scored (source id, target id) candidates of one BUCC split, as xtreme's miner produces them.

    Sentences with identical text are embedded once; candidates whose source or target text occurs
    on several lines are dropped, since their id is ambiguous. Options go to `margin_mine`.
    """
    _check_side(source_ids, source_texts, source_embeddings, "source")
    _check_side(target_ids, target_texts, target_embeddings, "target")
    src_rep, _ = unique_texts(source_texts)
    trg_rep, _ = unique_texts(target_texts)
    src_emb = as_embeddings(source_embeddings, "source embeddings")[src_rep]
    trg_emb = as_embeddings(target_embeddings, "target embeddings")[trg_rep]
    src_id_of = _unambiguous_ids(source_ids, source_texts)
    trg_id_of = _unambiguous_ids(target_ids, target_texts)
    best: dict[tuple[str, str], float] = {}
    for pair in margin_mine(src_emb, trg_emb, **mine_options):
        src_text, trg_text = source_texts[src_rep[pair.source]].strip(), target_texts[trg_rep[pair.target]].strip()
        if src_text in src_id_of and trg_text in trg_id_of:
            key = (src_id_of[src_text], trg_id_of[trg_text])
            best[key] = max(pair.score, best.get(key, pair.score))
    return [BuccCandidate(s, t, score) for (s, t), score in best.items()]


def _check_side(ids: Sequence[str], texts: Sequence[str], embeddings: ArrayLike, side: str) -> None:
    if not len(ids) == len(texts) == len(embeddings):
        raise DataError(
            f"BUCC {side}: {len(ids)} ids, {len(texts)} texts and {len(embeddings)} embeddings should be as many"
        )


def _unambiguous_ids(ids: Sequence[str], texts: Sequence[str]) -> dict[str, str]:
    """Stripped text -> id, leaving out texts that occur on more than one line."""
    id_of: dict[str, str] = {}
    repeated: set[str] = set()
    for sentence_id, text in zip(ids, texts):
        text = text.strip()
        if text in id_of:
            repeated.add(text)
        else:
            id_of[text] = sentence_id
    for text in repeated:
        del id_of[text]
    return id_of


def best_bucc_threshold(candidates: Sequence[BuccCandidate], gold: Mapping[str, Sequence[str]] | set) -> float:
    """The score threshold that maximises F1 of the candidates against the gold pairs.

    Candidates are walked from the best score down (stable on ties); whenever F1 strictly improves,
    the threshold becomes the midpoint between this candidate's score and the next one's. When the
    best F1 is reached only at the last candidate (where xtreme's code fails), its score is used.
    0.0 when no candidate is correct.
    """
    gold_pairs = gold if isinstance(gold, set) else pair_set(gold)
    ranked = sorted(candidates, key=lambda c: -c.score)
    threshold = 0.0
    best_f1 = 0.0
    correct = 0
    for n, cand in enumerate(ranked, start=1):
        correct += (cand.source_id, cand.target_id) in gold_pairs
        if correct == 0:
            continue
        precision, recall = correct / n, correct / len(gold_pairs)
        f1 = 2 * precision * recall / (precision + recall)
        if f1 > best_f1:
            best_f1 = f1
            threshold = (cand.score + ranked[n].score) / 2 if n < len(ranked) else cand.score
    return threshold


def extract_bucc_pairs(candidates: Sequence[BuccCandidate], threshold: float) -> list[tuple[str, str]]:
    """Candidate pairs scoring at least `threshold`, in candidate order."""
    return [(c.source_id, c.target_id) for c in candidates if c.score >= threshold]


@dataclass(frozen=True)
class BuccResult:
    threshold: float  # chosen on the dev split's gold pairs
    dev_scores: dict[str, float]  # bucc_f1 of the dev split at that threshold
    test_pairs: list[tuple[str, str]]  # predicted test pairs (the submission's test-<lang>.tsv lines)
    test_scores: dict[str, float] | None  # bucc_f1 on test when test gold is given


@dataclass(frozen=True)
class BuccSplit:
    source_ids: Sequence[str]
    source_texts: Sequence[str]
    source_embeddings: ArrayLike
    target_ids: Sequence[str]
    target_texts: Sequence[str]
    target_embeddings: ArrayLike
    gold: Mapping[str, Sequence[str]] | None = None  # source id -> target ids


def bucc_evaluate(dev: BuccSplit, test: BuccSplit, **mine_options) -> BuccResult:
    """The whole BUCC procedure: mine dev, pick the threshold on dev gold, mine test, extract."""
    if dev.gold is None:
        raise DataError("BUCC: the dev split needs gold pairs to choose the threshold")
    dev_candidates = mine_bucc_candidates(*_split_args(dev), **mine_options)
    threshold = best_bucc_threshold(dev_candidates, dev.gold)
    dev_scores = pair_f1(extract_bucc_pairs(dev_candidates, threshold), dev.gold)
    test_candidates = mine_bucc_candidates(*_split_args(test), **mine_options)
    test_pairs = extract_bucc_pairs(test_candidates, threshold)
    test_scores = pair_f1(test_pairs, test.gold) if test.gold is not None else None
    log.info("BUCC threshold %.6f: dev F1 %.2f, %d test pairs", threshold, dev_scores["f1"], len(test_pairs))
    return BuccResult(threshold, dev_scores, test_pairs, test_scores)


def _split_args(split: BuccSplit) -> tuple:
    return (
        split.source_ids, split.source_texts, split.source_embeddings,
        split.target_ids, split.target_texts, split.target_embeddings,
    )
