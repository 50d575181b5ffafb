"""Retrieval throughput at Tatoeba/BUCC scale: `xstilts.kinds.retrieval_search` on vectors with
planted translation pairs, so the search must find them and the result can be checked.

Vectors (`--vectors`):
  isotropic    random Gaussian vectors; query i is candidate gold[i] plus noise.
  anisotropic  what sentence encoders give: a shared mean direction (mean cosine ~0.6 between
               unrelated vectors) and a decaying spectrum (variance of the j-th principal
               direction ~ 1/j), in a random basis; pairs planted as above.
  encoder      real encoder outputs: the benchmark's tiny XLM-R-shaped encoder (random weights,
               `xstilts.models.XStiltsModel.embed`, mean pooling, as evaluation does) over synthetic
               sentences: candidates are English sentences, queries the same propositions in the
               synthetic language "clo" (gold = the translation). Encoding is timed apart from mining.
The pruning search (the column shortcut of `knn_both_ways`) is checked against brute force: the
k nearest neighbours of every row on both sides from full similarity rows, and the pairs mining
takes from them, compared exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def embeddings(n_queries: int, n_candidates: int, dim: int, seed: int = 0) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    candidates = torch.randn(n_candidates, dim, generator=g)
    gold = torch.randperm(n_candidates, generator=g)[:n_queries]
    queries = candidates[gold] + 0.8 * torch.randn(n_queries, dim, generator=g)
    return queries, candidates, gold


VECTORS = ("isotropic", "anisotropic", "encoder")


def anisotropic_embeddings(n_queries: int, n_candidates: int, dim: int, seed: int = 0, mean_cosine: float = 0.6) -> tuple:
    import torch

    g = torch.Generator().manual_seed(seed)
    scale = 1.0 / torch.arange(1, dim + 1, dtype=torch.float32).sqrt()  # variance 1/j along direction j
    scale /= scale.norm()  # E|centred vector|^2 = 1
    basis, _ = torch.linalg.qr(torch.randn(dim, dim, generator=g))
    mean = torch.nn.functional.normalize(torch.randn(dim, generator=g), dim=0) * (mean_cosine / (1 - mean_cosine)) ** 0.5

    def sample(n: int) -> torch.Tensor:
        return (torch.randn(n, dim, generator=g) * scale) @ basis

    candidates = sample(n_candidates) + mean
    gold = torch.randperm(n_candidates, generator=g)[:n_queries]
    queries = candidates[gold] + 0.8 * sample(n_queries)
    return queries, candidates, gold


def encoder_embeddings(work: Path, n_queries: int, n_candidates: int, threads: int, batch_size: int = 128, seed: int = 0) -> tuple:
    """(queries, candidates, gold, timings): tiny-encoder embeddings of synthetic sentences."""
    import random

    import torch

    from xstilts.synthetic.world import World

    from benchmarks.shapes import SHAPES
    from benchmarks.training import xstilts_model

    torch.set_num_threads(threads)
    world, rng = World(0), random.Random(seed)
    propositions = [world.random_proposition(rng) for _ in range(n_candidates)]
    english = [world.realise(p, "en").text for p in propositions]
    order = list(range(n_candidates))
    rng.shuffle(order)
    gold = order[:n_queries]
    other = [world.realise(propositions[i], "clo").text for i in gold]
    model = xstilts_model(work, SHAPES["tiny"]).eval()
    tokenizer = model.tokenizer
    timings = {}

    def encode(texts: list[str]) -> torch.Tensor:
        ids = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=128)["input_ids"]
        by_length = sorted(range(len(ids)), key=lambda i: len(ids[i]))  # batches of similar length, as evaluation does
        out = torch.empty(len(ids), model.body.config.hidden_size)
        with torch.inference_mode():
            for s0 in range(0, len(ids), batch_size):
                rows = by_length[s0 : s0 + batch_size]
                width = max(len(ids[i]) for i in rows)
                batch = torch.full((len(rows), width), tokenizer.pad_token_id)
                mask = torch.zeros(len(rows), width, dtype=torch.long)
                for r, i in enumerate(rows):
                    batch[r, : len(ids[i])] = torch.tensor(ids[i])
                    mask[r, : len(ids[i])] = 1
                out[rows] = model.embed({"input_ids": batch, "attention_mask": mask}).float()
        return out

    candidates, timings["encode_candidates"] = measure(lambda: encode(english), "cpu")
    queries, timings["encode_queries"] = measure(lambda: encode(other), "cpu")
    return queries, candidates, torch.tensor(gold), timings


def isotropy(x) -> dict:
    """Mean cosine between random pairs of rows, and the share of variance in the top 10 principal
    directions: ~0 and ~10/dim for isotropic vectors."""
    import torch

    g = torch.Generator().manual_seed(1)
    n = min(x.shape[0], 4000)
    rows = torch.nn.functional.normalize(x[torch.randperm(x.shape[0], generator=g)[:n]].float(), dim=1)
    cos = (rows[: n // 2] * rows[n // 2 : 2 * (n // 2)]).sum(1).mean()
    centred = rows - rows.mean(0)
    variance = torch.linalg.svdvals(centred) ** 2
    return {"mean_cosine": round(float(cos), 3), "top10_variance_share": round(float(variance[:10].sum() / variance.sum()), 3)}


def brute_force_neighbours(a, b, k: int, chunk: int = 2048) -> tuple:
    """The k most similar rows of b for every row of a, from full similarity rows (no pruning);
    the lower index first on equal similarity (a stable sort), the rule `knn` documents:
    duplicate sentences give exactly equal similarities."""
    import torch

    sims, idx = [], []
    for s0 in range(0, a.shape[0], chunk):
        full = a[s0 : s0 + chunk] @ b.T
        values, indices = torch.sort(full, dim=1, descending=True, stable=True)
        sims.append(values[:, :k].contiguous())
        idx.append(indices[:, :k].contiguous())
    return torch.cat(sims), torch.cat(idx)


def check_against_brute_force(queries, candidates, k: int = 4) -> dict:
    """Agreement of the pruning search (knn_both_ways) and of the pairs it mines with brute force."""

    from xstilts.kinds.retrieval_search import knn_both_ways, l2_normalize, mine_neighbourhoods

    x, y = l2_normalize(queries.float()), l2_normalize(candidates.float())
    fast_fwd, fast_bwd = knn_both_ways(x, y, k, normalize=False)
    slow_fwd, slow_bwd = brute_force_neighbours(x, y, k), brute_force_neighbours(y, x, k)

    def same_sets(fast, slow) -> float:
        return float((fast[1] == slow[1]).all(1).float().mean())

    fast_pairs = {(p.source, p.target) for p in mine_neighbourhoods(fast_fwd, fast_bwd)}
    slow_pairs = {(p.source, p.target) for p in mine_neighbourhoods(slow_fwd, slow_bwd)}
    return {
        "forward_neighbours_equal": round(same_sets(fast_fwd, slow_fwd), 6),
        "backward_neighbours_equal": round(same_sets(fast_bwd, slow_bwd), 6),
        "similarities_max_abs_diff": float(max((fast_fwd[0] - slow_fwd[0]).abs().max(), (fast_bwd[0] - slow_bwd[0]).abs().max())),
        "mined_pairs": len(fast_pairs), "mined_pairs_brute_force": len(slow_pairs),
        "mined_pairs_recall_of_brute_force": round(len(fast_pairs & slow_pairs) / max(1, len(slow_pairs)), 6),
        "mined_pairs_identical": fast_pairs == slow_pairs,
    }


def measure(fn, device: str) -> tuple:
    """fn()'s result and its wall time, CPU time and peak memory."""
    import time

    from benchmarks.machine import PeakMemory

    with PeakMemory(device) as mem:
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return result, {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "peak_mib": round(mem.mib, 1) if mem.mib else None}


def run_retrieval(n_queries: int, n_candidates: int, dim: int, threads: int, device: str = "cpu", separate_bucc: bool = False,
                  vectors: str = "isotropic", work: Path | None = None, check: bool = False) -> dict:
    import torch

    from xstilts.kinds.retrieval_search import knn, margin_mine, nearest_neighbour

    torch.set_num_threads(threads)
    out: dict = {"queries": n_queries, "candidates": n_candidates, "threads": threads, "device": device, "vectors": vectors}
    if vectors == "isotropic":
        queries, candidates, gold = embeddings(n_queries, n_candidates, dim)
    elif vectors == "anisotropic":
        queries, candidates, gold = anisotropic_embeddings(n_queries, n_candidates, dim)
    elif vectors == "encoder":
        if work is None:
            raise ValueError("encoder vectors need the benchmark's work folder (its tiny model)")
        queries, candidates, gold, out["encoding"] = encoder_embeddings(work, n_queries, n_candidates, threads)
        dim = candidates.shape[1]
    else:
        raise ValueError(f"vectors: {vectors!r} is not one of {', '.join(VECTORS)}")
    out["dim"] = dim
    out["isotropy"] = isotropy(candidates)
    kw = {"device": device} if device != "cpu" else {}

    predicted, out["tatoeba"] = measure(lambda: nearest_neighbour(queries, candidates, **kw), device)
    out["tatoeba"]["accuracy"] = round(float((torch.tensor(predicted) == gold).float().mean()), 4)

    pairs, out["bucc"] = measure(lambda: margin_mine(queries, candidates, **kw), device)
    found = {(p.source, p.target) for p in pairs}
    out["bucc"]["recall"] = round(sum((i, g) in found for i, g in enumerate(gold.tolist())) / n_queries, 4)
    out["bucc"]["pairs"] = len(pairs)

    if separate_bucc:
        # The neighbourhood searches of margin mining as two separate kNN runs, one per
        # direction: what mining cost before both directions shared one similarity block.
        _, out["bucc_two_searches"] = measure(lambda: (knn(queries, candidates, 4, **kw), knn(candidates, queries, 4, **kw)), device)
    out["similarity_gflop"] = round(2.0 * n_queries * n_candidates * dim / 1e9, 1)
    if check:
        out["brute_force"], timing = measure(lambda: check_against_brute_force(queries, candidates), device)
        out["brute_force"]["seconds"] = timing["seconds"]
    return out


def main(argv: list[str]) -> int:
    """`python -m benchmarks.retrieval_bench QUERIES CANDIDATES DIM THREADS DEVICE RESULT.json
    [--separate] [--check] [--vectors=KIND] [--work=DIR]`."""
    nq, nc, dim, threads = (int(a) for a in argv[:4])
    options = dict(a[2:].split("=", 1) for a in argv[6:] if "=" in a)
    result = run_retrieval(nq, nc, dim, threads, argv[4], separate_bucc="--separate" in argv, vectors=options.get("vectors", "isotropic"),
                           work=Path(options["work"]) if "work" in options else None, check="--check" in argv)
    Path(argv[5]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
