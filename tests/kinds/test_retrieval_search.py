"""Nearest neighbours, margin mining, BUCC thresholds, Tatoeba and ranking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from xstilts.errors import ConfigError, DataError
from xstilts.kinds.retrieval_search import (
    BuccCandidate,
    BuccSplit,
    best_bucc_threshold,
    bucc_evaluate,
    extract_bucc_pairs,
    knn,
    margin_mine,
    mine_bucc_candidates,
    nearest_neighbour,
    rank_candidates,
    tatoeba_predictions,
)

E1, E2 = [1.0, 0.0], [0.0, 1.0]


# --- knn ------------------------------------------------------------------------------------


def test_ties_go_to_the_lower_index_whatever_the_blocks() -> None:
    candidates = torch.tensor([E1, E2, E1, E1, E2, E1])
    for block in (1, 2, 3, 4, None):
        sims, idx = knn(torch.tensor([E1]), candidates, 3, candidate_block=block)
        assert idx.tolist() == [[0, 2, 3]], block
        assert sims.tolist() == [[1.0, 1.0, 1.0]]


def test_many_equal_candidates_straddling_k() -> None:
    candidates = torch.ones(10, 2)
    for block in (3, 7, None):
        _, idx = knn(torch.ones(2, 2), candidates, 4, candidate_block=block, query_block=1)
        assert idx.tolist() == [[0, 1, 2, 3]] * 2


def test_blocked_search_equals_brute_force() -> None:
    # Small integers make every dot product exact, so equal similarities are truly equal.
    gen = torch.Generator().manual_seed(0)
    q = torch.randint(-2, 3, (37, 6), generator=gen).float()
    c = torch.randint(-2, 3, (53, 6), generator=gen).float()
    sims = q @ c.T
    expected = [sorted(range(53), key=lambda j: (-sims[i, j].item(), j))[:5] for i in range(37)]
    for q_block, c_block in ((1, 1), (4, 7), (16, 53), (None, None)):
        got_s, got_i = knn(q, c, 5, normalize=False, query_block=q_block, candidate_block=c_block)
        assert got_i.tolist() == expected, (q_block, c_block)
        assert torch.equal(got_s, sims.gather(1, got_i))


def test_cosine_or_dot_product() -> None:
    q, c = torch.tensor([[2.0, 0.0]]), torch.tensor([[1.0, 0.0], [10.0, 1.0]])
    assert knn(q, c, 1)[1].tolist() == [[0]]  # cosine 1 beats 0.995
    assert knn(q, c, 1, normalize=False)[1].tolist() == [[1]]  # dot 20 beats 2


def test_knn_accepts_numpy_and_caps_k() -> None:
    sims, idx = knn(np.array([E1]), np.array([E2, E1]), 10)
    assert idx.tolist() == [[1, 0]]
    assert sims.tolist() == [[1.0, 0.0]]


def test_knn_refuses_bad_input() -> None:
    with pytest.raises(DataError, match="dimensions"):
        knn(torch.ones(2, 3), torch.ones(2, 4), 1)
    with pytest.raises(DataError, match="NaN"):
        knn(torch.tensor([[float("nan"), 0.0]]), torch.ones(2, 2), 1)
    with pytest.raises(DataError, match="2-D"):
        knn(torch.ones(3), torch.ones(2, 3), 1)
    with pytest.raises(ConfigError, match="k must be"):
        knn(torch.ones(1, 2), torch.ones(2, 2), 0)
    with pytest.raises(ConfigError, match="unknown backend"):
        knn(torch.ones(1, 2), torch.ones(2, 2), 1, backend="annoy")  # type: ignore[arg-type]


# --- Tatoeba and ranking --------------------------------------------------------------------


def test_tatoeba_searches_the_source_sentences_for_every_english_one() -> None:
    source = np.array([E1, E2])
    english = np.array([[0.0, 2.0], [3.0, 0.1], [1.0, 1.0]])
    # the last English sentence is equally close to both: the lower index wins
    assert tatoeba_predictions(source, english) == [1, 0, 0]


def test_nearest_neighbour_needs_candidates() -> None:
    with pytest.raises(DataError, match="no candidates"):
        nearest_neighbour(torch.ones(1, 2), torch.ones(0, 2))


def test_rank_candidates_returns_ids_best_first() -> None:
    queries = np.array([E1, E2])
    candidates = np.array([E2, [1.0, 1.0], E1])
    ranked = rank_candidates(queries, candidates, ["q1", "q2"], ["a", "b", "c"], k=2)
    assert ranked == {"q1": ["c", "b"], "q2": ["a", "b"]}
    with pytest.raises(DataError, match="query ids"):
        rank_candidates(queries, candidates, ["q1"], ["a", "b", "c"])


# --- margin mining --------------------------------------------------------------------------


def test_ratio_margin_by_hand() -> None:
    # x0 = e1; y0 = e1, y1 = e2. Neighbourhoods (k = min(4, n)): mean_x0 = (1 + 0) / 2,
    # mean_y0 = 1, mean_y1 = 0. margin(x0, y0) = 1 / ((0.5 + 1) / 2) = 4/3.
    mined = margin_mine(np.array([E1]), np.array([E1, E2]))
    assert [(p.source, p.target) for p in mined] == [(0, 0)]
    assert mined[0].score == pytest.approx(4 / 3)


def test_max_retrieval_uses_every_sentence_once() -> None:
    diagonal = [math.sqrt(0.5), math.sqrt(0.5)]
    x, y = np.array([E1, diagonal]), np.array([E1])
    # Both sources prefer y0: forward keeps both, max and intersect only the better one.
    fwd = margin_mine(x, y, retrieval="fwd")
    assert [(p.source, p.target) for p in fwd] == [(0, 0), (1, 0)]
    mean_y0 = (1 + math.sqrt(0.5)) / 2
    assert fwd[0].score == pytest.approx(1 / ((1 + mean_y0) / 2), rel=1e-6)
    assert fwd[1].score == pytest.approx(math.sqrt(0.5) / ((math.sqrt(0.5) + mean_y0) / 2), rel=1e-6)
    assert [(p.source, p.target) for p in margin_mine(x, y, retrieval="max")] == [(0, 0)]
    assert [(p.source, p.target) for p in margin_mine(x, y, retrieval="intersect")] == [(0, 0)]
    assert [(p.source, p.target) for p in margin_mine(x, y, retrieval="bwd")] == [(0, 0)]


def test_max_retrieval_drops_pairs_at_or_below_the_threshold() -> None:
    assert margin_mine(np.array([E1]), np.array([E1, E2]), threshold=1.5) == []
    with pytest.raises(ConfigError, match="unknown retrieval"):
        margin_mine(np.array([E1]), np.array([E1]), retrieval="union")  # type: ignore[arg-type]


def _reference_max_mining(x: np.ndarray, y: np.ndarray, k: int = 4) -> list[tuple[int, int]]:
    """A direct transcription of the procedure on the full similarity matrix, for comparison."""
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    y = y / np.linalg.norm(y, axis=1, keepdims=True)
    sims = x @ y.T
    kx, ky = min(k, len(y)), min(k, len(x))
    fwd_nn = [sorted(range(len(y)), key=lambda j: (-sims[i, j], j))[:kx] for i in range(len(x))]
    bwd_nn = [sorted(range(len(x)), key=lambda i: (-sims[i, j], i))[:ky] for j in range(len(y))]
    mean_x = [np.mean([sims[i, j] for j in fwd_nn[i]]) for i in range(len(x))]
    mean_y = [np.mean([sims[i, j] for i in bwd_nn[j]]) for j in range(len(y))]
    margin = lambda i, j: sims[i, j] / ((mean_x[i] + mean_y[j]) / 2)  # noqa: E731
    pool = [(max(margin(i, j) for j in fwd_nn[i]), i, max(fwd_nn[i], key=lambda j: margin(i, j))) for i in range(len(x))]
    pool += [(max(margin(i, j) for i in bwd_nn[j]), max(bwd_nn[j], key=lambda i: margin(i, j)), j) for j in range(len(y))]
    used_x, used_y, pairs = set(), set(), []
    for score, i, j in sorted(pool, key=lambda t: -t[0]):
        if i not in used_x and j not in used_y:
            used_x.add(i)
            used_y.add(j)
            if score > 0:
                pairs.append((i, j))
    return pairs


def test_max_mining_matches_a_direct_computation() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=(40, 8))
    y = np.concatenate([x[:25] + 0.3 * rng.normal(size=(25, 8)), rng.normal(size=(10, 8))])
    mined = margin_mine(x, y, candidate_block=7, query_block=5)
    assert sorted((p.source, p.target) for p in mined) == sorted(_reference_max_mining(x, y))


# --- BUCC candidates and threshold ----------------------------------------------------------


def test_candidates_whose_text_repeats_are_dropped() -> None:
    source_ids, source_texts = ["s0", "s1", "s2", "s3"], ["a", "b", "a", "c "]
    target_ids, target_texts = ["t0", "t1", "t2", "t3"], ["A", "B", "C", "C"]
    emb = np.array([E1, E2, E1, [1.0, -1.0]])
    target_emb = np.array([E1, E2, [1.0, -1.0], [1.0, -1.0]])
    candidates = mine_bucc_candidates(source_ids, source_texts, emb, target_ids, target_texts, target_emb)
    # "a" is on two source lines and "C" on two target lines: only s1-t1 has unambiguous ids.
    assert [(c.source_id, c.target_id) for c in candidates] == [("s1", "t1")]


def test_bucc_inputs_must_line_up() -> None:
    with pytest.raises(DataError, match="should be as many"):
        mine_bucc_candidates(["s0"], ["a", "b"], np.ones((2, 2)), ["t0"], ["x"], np.ones((1, 2)))


def _candidates(*spec: tuple[str, float]) -> list[BuccCandidate]:
    return [BuccCandidate(src, "t-" + src, score) for src, score in spec]


def test_threshold_is_the_midpoint_after_the_best_f1() -> None:
    candidates = _candidates(("a", 1.5), ("x", 1.4), ("b", 1.2), ("y", 1.0))
    gold = {"a": ["t-a"], "b": ["t-b"], "c": ["t-c"]}  # c is never mined
    # F1 after each candidate: 0.5, 0.4, 0.667, 0.571 -> best after b: (1.2 + 1.0) / 2
    assert best_bucc_threshold(candidates, gold) == pytest.approx(1.1)
    assert extract_bucc_pairs(candidates, 1.1) == [("a", "t-a"), ("x", "t-x"), ("b", "t-b")]


def test_threshold_when_the_best_f1_is_at_the_last_candidate() -> None:
    candidates = _candidates(("x", 1.5), ("a", 1.2))
    assert best_bucc_threshold(candidates, {"a": ["t-a"]}) == 1.2


def test_threshold_without_correct_candidates_is_zero() -> None:
    assert best_bucc_threshold(_candidates(("x", 1.5)), {"a": ["t-a"]}) == 0.0


def test_threshold_with_tied_scores_keeps_both() -> None:
    # Official behaviour: the best F1 is after the first, the midpoint of equal scores is that
    # score, and extraction keeps everything >= it, so the tied wrong pair comes along.
    candidates = _candidates(("a", 1.0), ("x", 1.0), ("y", 0.5))
    threshold = best_bucc_threshold(candidates, {"a": ["t-a"]})
    assert threshold == 1.0
    assert extract_bucc_pairs(candidates, threshold) == [("a", "t-a"), ("x", "t-x")]


def test_bucc_procedure_end_to_end() -> None:
    rng = np.random.default_rng(2)

    def split(n_pairs: int, n_noise: int) -> BuccSplit:
        src = rng.normal(size=(n_pairs + n_noise, 64))
        trg = np.concatenate([src[:n_pairs] + 0.05 * rng.normal(size=(n_pairs, 64)), rng.normal(size=(n_noise, 64))])
        order = rng.permutation(len(trg))
        src_ids = [f"de-{i}" for i in range(len(src))]
        trg_ids = [f"en-{i}" for i in range(len(trg))]
        gold = {f"de-{i}": [f"en-{int(np.where(order == i)[0][0])}"] for i in range(n_pairs)}
        return BuccSplit(
            src_ids, [f"s{i}" for i in range(len(src))], src,
            trg_ids, [f"t{i}" for i in range(len(trg))], trg[order], gold,
        )

    result = bucc_evaluate(split(30, 20), split(25, 30))
    assert result.dev_scores["f1"] == 100.0
    assert result.test_scores is not None and result.test_scores["f1"] == 100.0
    assert len(result.test_pairs) == 25
    with pytest.raises(DataError, match="needs gold pairs"):
        bucc_evaluate(BuccSplit([], [], np.zeros((0, 2)), [], [], np.zeros((0, 2))), split(2, 2))


def test_faiss_backend_agrees_when_installed() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(3)
    q, c = rng.normal(size=(20, 8)).astype(np.float32), rng.normal(size=(50, 8)).astype(np.float32)
    torch_sims, torch_idx = knn(q, c, 4)
    faiss_sims, faiss_idx = knn(q, c, 4, backend="faiss")
    assert torch.equal(torch_idx, faiss_idx)
    assert torch.allclose(torch_sims, faiss_sims, atol=1e-5)
