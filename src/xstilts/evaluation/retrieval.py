"""Similarity search for retrieval tasks."""

from __future__ import annotations

import torch


def cosine_top_k(queries: torch.Tensor, candidates: torch.Tensor, k: int, chunk: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-k candidates by cosine similarity for each query, computed in chunks of queries."""
    q = torch.nn.functional.normalize(queries.float(), dim=-1)
    c = torch.nn.functional.normalize(candidates.float(), dim=-1)
    scores, idx = [], []
    for i in range(0, q.size(0), chunk):
        s, j = (q[i : i + chunk] @ c.T).topk(k, dim=-1)
        scores.append(s)
        idx.append(j)
    return torch.cat(scores), torch.cat(idx)
