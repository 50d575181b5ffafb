"""Margin mining's one-pass search in both directions gives what two separate searches give."""

from __future__ import annotations

import pytest
import torch

from xstilts.kinds.retrieval_search import _BlockBuffers, knn, knn_both_ways, margin_mine


@pytest.mark.parametrize("blocks", [(None, None), (1, 1), (3, 7), (64, 5), (7, 1000)])
def test_both_ways_equals_two_searches_with_ties_and_any_blocks(blocks):
    g = torch.Generator().manual_seed(0)
    # Small integer vectors: many exactly equal similarities, so tie-breaking is exercised.
    x = torch.randint(-1, 2, (40, 4), generator=g).float()
    y = torch.randint(-1, 2, (57, 4), generator=g).float()
    qb, cb = blocks
    (fs, fi), (bs, bi) = knn_both_ways(x, y, 4, normalize=False, query_block=qb, candidate_block=cb)
    es, ei = knn(x, y, 4, normalize=False, query_block=qb, candidate_block=cb)
    rs, ri = knn(y, x, 4, normalize=False, query_block=qb, candidate_block=cb)
    assert torch.equal(fi, ei) and torch.equal(fs, es)
    assert torch.equal(bi, ri) and torch.equal(bs, rs)


def test_both_ways_caps_k_per_side_and_handles_empty_sides():
    (_fs, fi), (_bs, bi) = knn_both_ways(torch.randn(2, 3), torch.randn(5, 3), 4)
    assert fi.shape == (2, 4) and bi.shape == (5, 2)
    x, y = torch.randn(0, 3), torch.randn(5, 3)
    (_fs, fi), (_bs, bi) = knn_both_ways(x, y, 4)
    assert fi.shape == knn(x, y, 4)[1].shape == (0, 4)
    assert bi.shape == knn(y, x, 4)[1].shape == (5, 0)


def test_mining_with_real_valued_vectors_matches_the_two_search_computation():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(300, 16, generator=g), torch.randn(280, 16, generator=g)
    y[:100] = x[:100] + 0.3 * torch.randn(100, 16, generator=g)
    xn, yn = torch.nn.functional.normalize(x, dim=1), torch.nn.functional.normalize(y, dim=1)
    fs, fi = knn(xn, yn, 4, normalize=False)
    bs, _bi = knn(yn, xn, 4, normalize=False)
    fwd_mean, bwd_mean = fs.mean(1), bs.mean(1)
    fwd_scores = fs / ((fwd_mean[:, None] + bwd_mean[fi]) / 2)
    best = fwd_scores.argmax(1)
    expected = [(i, int(fi[i, best[i]])) for i in range(300)]
    mined = margin_mine(x, y, retrieval="fwd")
    assert [(p.source, p.target) for p in mined] == expected


def test_block_buffers_give_the_plain_matrix_product():
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(9, 5, generator=g), torch.randn(13, 5, generator=g)
    buffers = _BlockBuffers(9, 13, a.device)
    for rows, cols in ((9, 13), (4, 13), (9, 2)):
        sims = buffers.similarities(a[:rows], b[:cols])
        assert torch.equal(sims, a[:rows] @ b[:cols].T)
        assert torch.equal(buffers.transposed(sims), (a[:rows] @ b[:cols].T).T)
