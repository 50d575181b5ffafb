"""Retrieval benchmark on realistic vectors: the anisotropic generator is anisotropic, and the
brute-force check agrees with the pruning search and notices when a search is wrong."""

from __future__ import annotations

import torch

from benchmarks.retrieval_bench import anisotropic_embeddings, check_against_brute_force, embeddings, isotropy


def test_anisotropic_vectors_share_a_direction_and_have_a_decaying_spectrum():
    q, c, gold = anisotropic_embeddings(200, 1000, 32)
    shape = isotropy(c)
    assert 0.5 < shape["mean_cosine"] < 0.7
    assert shape["top10_variance_share"] > 0.5  # isotropic: ~10/32
    assert isotropy(embeddings(200, 1000, 32)[1])["mean_cosine"] < 0.05
    assert q.shape == (200, 32) and len(set(gold.tolist())) == 200


def test_the_pruning_search_mines_what_brute_force_mines_on_anisotropic_vectors_with_duplicates():
    q, c, _ = anisotropic_embeddings(300, 500, 16)
    c[250:300] = c[200:250]  # duplicate candidates: exactly equal similarities
    check = check_against_brute_force(q, c)
    assert check["mined_pairs_identical"] and check["forward_neighbours_equal"] == check["backward_neighbours_equal"] == 1.0


def test_the_check_reports_a_search_that_misses_neighbours(monkeypatch):
    from xstilts.kinds import retrieval_search as retrieval

    real = retrieval.knn_both_ways

    def shifted(*args, **kwargs):
        (fs, fi), back = real(*args, **kwargs)
        return (fs, torch.roll(fi, 1, dims=0)), back  # the wrong candidates for every query

    monkeypatch.setattr(retrieval, "knn_both_ways", shifted)
    q, c, _ = anisotropic_embeddings(100, 150, 16)
    check = check_against_brute_force(q, c)
    assert check["forward_neighbours_equal"] < 0.1 and not check["mined_pairs_identical"]
