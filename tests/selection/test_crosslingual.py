import itertools

import numpy as np
import pytest
from scipy.stats import ortho_group

from xstilts.errors import DataError
from xstilts.selection import crosslingual_alignment, linear_cka


def brute_force_unbiased_hsic(k, l):
    """Song et al. (2012): the U-statistic over ordered distinct (i, j, q, r) of
    K_ij L_ij + K_ij L_qr - 2 K_ij L_iq, divided by n (n-1) (n-2) (n-3)."""
    n = k.shape[0]
    total = sum(
        k[i, j] * l[i, j] + k[i, j] * l[q, r] - 2 * k[i, j] * l[i, q]
        for i, j, q, r in itertools.permutations(range(n), 4)
    )
    return total / (n * (n - 1) * (n - 2) * (n - 3))


def brute_force_cka(x, y, debiased):
    k, l = x @ x.T, y @ y.T
    if debiased:
        return brute_force_unbiased_hsic(k, l) / np.sqrt(brute_force_unbiased_hsic(k, k) * brute_force_unbiased_hsic(l, l))
    h = np.eye(len(x)) - 1.0 / len(x)
    hsic = lambda a, b: np.trace(a @ h @ b @ h)  # noqa: E731
    return hsic(k, l) / np.sqrt(hsic(k, k) * hsic(l, l))


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_matches_brute_force_hsic_formulas(debiased):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(7, 3))
    y = x @ rng.normal(size=(3, 5)) + rng.normal(size=(7, 5))
    assert linear_cka(x, y, debiased=debiased) == pytest.approx(brute_force_cka(x, y, debiased), rel=1e-9)


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_of_a_rotated_scaled_shifted_copy_is_one(debiased):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(60, 12))
    copy = 4.0 * x @ ortho_group.rvs(12, random_state=2) + 3.0
    assert linear_cka(x, copy, debiased=debiased) == pytest.approx(1.0, abs=1e-10)


def test_cka_is_not_invariant_to_an_anisotropic_stretch():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(200, 8))
    assert linear_cka(x, x * np.r_[100.0, np.ones(7)], debiased=True) < 0.5


def test_debiased_cka_of_independent_noise_is_near_zero_even_with_few_examples():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(120, 256)), rng.normal(size=(120, 256))
    assert abs(linear_cka(x, y, debiased=True)) < 0.05
    # The plain estimator is biased towards 1 when width exceeds n: why `score` is the debiased one.
    assert linear_cka(x, y) > 0.5


def test_plain_cka_of_independent_noise_is_near_zero_with_many_examples():
    rng = np.random.default_rng(5)
    assert linear_cka(rng.normal(size=(3000, 6)), rng.normal(size=(3000, 6))) < 0.01


@pytest.mark.parametrize("debiased", [False, True])
def test_cka_gives_the_same_value_in_feature_and_gram_form(debiased):
    # n > d takes the d x d route, n < d the n x n one; padding with zero columns switches route.
    rng = np.random.default_rng(12)
    x = rng.normal(size=(40, 5))
    y = x @ rng.normal(size=(5, 6)) + rng.normal(size=(40, 6))
    wide = np.hstack([y, np.zeros((40, 60))])
    assert linear_cka(x, wide, debiased=debiased) == pytest.approx(linear_cka(x, y, debiased=debiased), rel=1e-10)


def test_retrieval_in_blocks_equals_one_block():
    from xstilts.selection.crosslingual import _retrieval_accuracy

    rng = np.random.default_rng(13)
    q = rng.normal(size=(50, 3))
    c = q + rng.normal(size=(50, 3))
    q, c = q / np.linalg.norm(q, axis=1)[:, None], c / np.linalg.norm(c, axis=1)[:, None]
    assert _retrieval_accuracy(q, c, block=7) == _retrieval_accuracy(q, c, block=1000)


def parallel(rng, n=100, d=32, noise=0.3):
    english = rng.normal(size=(n, d))
    return english, english + noise * rng.normal(size=(n, d))


def test_alignment_falls_as_translations_get_noisier():
    results = [crosslingual_alignment(*parallel(np.random.default_rng(6), noise=s)) for s in (0.2, 1.0, 3.0)]
    for better, worse in itertools.pairwise(results):
        assert better.cka > worse.cka
        assert better.cosine_gap > worse.cosine_gap
        assert better.retrieval_accuracy >= worse.retrieval_accuracy
    assert results[0].retrieval_accuracy == 1.0
    assert results[0].score == results[0].cka


def test_unaligned_pairs_score_near_chance():
    rng = np.random.default_rng(7)
    english, target = parallel(rng)
    shuffled = crosslingual_alignment(english, target[rng.permutation(len(target))])
    assert abs(shuffled.cka) < 0.1
    assert abs(shuffled.cosine_gap) < 0.05
    assert shuffled.retrieval_accuracy < 0.1


def test_cosines_hand_computed():
    english = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, -1.0]])
    target = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 1.0]])  # last pair opposite
    result = crosslingual_alignment(english, target)
    cos = (english / np.linalg.norm(english, axis=1)[:, None]) @ (target / np.linalg.norm(target, axis=1)[:, None]).T
    assert result.aligned_cosine == pytest.approx(0.5)  # (1 + 1 + 1 - 1) / 4
    assert result.random_cosine == pytest.approx((cos.sum() - 2.0) / 12)
    assert result.cosine_gap == pytest.approx(0.5 - (cos.sum() - 2.0) / 12)
    # Pairs 0-2 find each other; English [1,-1] is nearest target [1,0] and target [-1,1] is
    # nearest English [0,1], so 3 of 4 in each direction.
    assert result.retrieval_accuracy == pytest.approx(0.75)


def test_retrieval_ties_share_credit():
    english = np.eye(4)
    target = np.ones((4, 4))  # every target is equally close to every English sentence
    result = crosslingual_alignment(english, target)
    # en->target: each row ties 4 ways (credit 1/4); target->en: the same.
    assert result.retrieval_accuracy == pytest.approx(0.25)


def test_centring_each_language_removes_a_language_offset():
    rng = np.random.default_rng(8)
    english, target = parallel(rng, noise=0.5)
    offset = 10.0 * rng.normal(size=english.shape[1])
    raw = crosslingual_alignment(english, target + offset)
    centred = crosslingual_alignment(english, target + offset, centre_each_language=True)
    assert centred.retrieval_accuracy > raw.retrieval_accuracy
    assert centred.retrieval_accuracy == crosslingual_alignment(english, target, centre_each_language=True).retrieval_accuracy
    assert centred.cka == pytest.approx(raw.cka)  # CKA centres anyway


def test_mismatched_inputs_raise_data_errors():
    rng = np.random.default_rng(9)
    with pytest.raises(DataError):
        crosslingual_alignment(rng.normal(size=(10, 4)), rng.normal(size=(9, 4)))
    with pytest.raises(DataError):
        crosslingual_alignment(rng.normal(size=(10, 4)), rng.normal(size=(10, 5)))
    with pytest.raises(DataError):
        crosslingual_alignment(np.zeros((10, 4)), rng.normal(size=(10, 4)))
    with pytest.raises(DataError):
        linear_cka(rng.normal(size=(3, 4)), rng.normal(size=(3, 4)), debiased=True)
