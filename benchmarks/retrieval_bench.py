"""Retrieval throughput at Tatoeba/BUCC scale: `xstilts.evaluation.retrieval` on random unit
vectors with planted translation pairs (query i is candidate perm[i] plus noise), so the search
must find them and the result can be checked."""

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


def measure(fn, device: str) -> tuple:
    """fn()'s result and its wall time, CPU time and peak memory."""
    import time

    from benchmarks.machine import PeakMemory

    with PeakMemory(device) as mem:
        started, cpu = time.perf_counter(), time.process_time()
        result = fn()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
    return result, {"seconds": round(wall, 2), "cpu_seconds": round(cpu, 2), "peak_mib": round(mem.mib, 1) if mem.mib else None}


def run_retrieval(n_queries: int, n_candidates: int, dim: int, threads: int, device: str = "cpu", separate_bucc: bool = False) -> dict:
    import torch

    from xstilts.evaluation.retrieval import knn, margin_mine, nearest_neighbour

    torch.set_num_threads(threads)
    queries, candidates, gold = embeddings(n_queries, n_candidates, dim)
    out: dict = {"queries": n_queries, "candidates": n_candidates, "dim": dim, "threads": threads, "device": device}
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
    return out


def main(argv: list[str]) -> int:
    """`python -m benchmarks.retrieval_bench QUERIES CANDIDATES DIM THREADS DEVICE RESULT.json [--separate]`."""
    nq, nc, dim, threads = (int(a) for a in argv[:4])
    result = run_retrieval(nq, nc, dim, threads, argv[4], separate_bucc="--separate" in argv)
    Path(argv[5]).write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
