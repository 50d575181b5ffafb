"""How well a model aligns a target language with English, from embeddings of parallel sentences.

Row i of `english` and row i of `target` embed the same sentence in the two languages (e.g. the
Tatoeba or FLORES pairs, pooled as for retrieval). Computed on a base model, the alignment
predicts how much of an English gain survives zero-shot transfer into that language; computed on
each intermediate checkpoint, its change from the base model estimates what the intermediate
task does to cross-lingual alignment (the paper's largest gains were on BUCC and Tatoeba).

Two views, both in `AlignmentResult`:
- linear CKA (Kornblith et al., ICML 2019) between the two embedding matrices: similarity of the
  pairwise-similarity structure of the sentences, invariant to rotation and isotropic scaling of
  either space. The plain estimator is biased upwards when n is not much larger than the width
  (for n < d independent random matrices already score near 1), so the primary `score` is the
  debiased CKA built on the unbiased HSIC estimator of Song et al. (2012, eq. 5).
- cosines: the mean cosine of aligned pairs, of all non-aligned pairs, their gap, and the
  Tatoeba-style 1-nearest-neighbour retrieval accuracy (mean of both directions).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from xstilts.errors import DataError
from xstilts.selection._arrays import Floats, as_features


def _paired(english: ArrayLike, target: ArrayLike, min_rows: int) -> tuple[Floats, Floats]:
    x = as_features(english, "english embeddings", min_rows)
    y = as_features(target, "target-language embeddings", min_rows)
    if x.shape[0] != y.shape[0]:
        raise DataError(f"parallel embeddings: {x.shape[0]} English rows but {y.shape[0]} target rows")
    return x, y


def _frobenius_cross(x: Floats, y: Floats) -> float:
    """||X^T Y||_F^2 = tr(K L) with K = X X^T, L = Y Y^T, by whichever product is smaller."""
    n = x.shape[0]
    if n <= max(x.shape[1], y.shape[1]):
        return float(np.sum((x @ x.T) * (y @ y.T)))
    return float(np.sum((x.T @ y) ** 2))


def _unbiased_hsic(x: Floats, y: Floats) -> float:
    """Song et al. (2012) eq. 5 for linear kernels, without forming n x n matrices (needs n >= 4).

    With K~, L~ the Gram matrices with zeroed diagonals:
    [tr(K~ L~) + (1^T K~ 1)(1^T L~ 1) / ((n-1)(n-2)) - 2/(n-2) 1^T K~ L~ 1] / (n (n-3)),
    where tr(K~ L~) = ||X^T Y||_F^2 - sum_i |x_i|^2 |y_i|^2 and K~ 1 = X (X^T 1) - (|x_i|^2)_i.
    """
    n = x.shape[0]
    kd, ld = np.sum(x**2, axis=1), np.sum(y**2, axis=1)
    trace_kl = _frobenius_cross(x, y) - float(kd @ ld)
    k_ones = x @ x.sum(axis=0) - kd
    l_ones = y @ y.sum(axis=0) - ld
    return (
        trace_kl
        + k_ones.sum() * l_ones.sum() / ((n - 1) * (n - 2))
        - 2.0 * float(k_ones @ l_ones) / (n - 2)
    ) / (n * (n - 3))


def linear_cka(x: ArrayLike, y: ArrayLike, *, debiased: bool = False) -> float:
    """Linear CKA of two representations of the same n examples (widths may differ).

    Plain: ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) on column-centred X, Y, in [0, 1].
    Debiased: HSIC_u(X, Y) / sqrt(HSIC_u(X, X) HSIC_u(Y, Y)); about 0 for independent
    representations at any n, can be slightly negative; NaN if a denominator is not positive
    (a representation with no variance). Memory is O(n d), or O(n^2) when n < d.
    """
    a, b = _paired(x, y, min_rows=4 if debiased else 2)
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    if debiased:
        self_a, self_b = _unbiased_hsic(a, a), _unbiased_hsic(b, b)
        if self_a <= 0 or self_b <= 0:
            return float("nan")
        return float(_unbiased_hsic(a, b) / np.sqrt(self_a * self_b))
    den = float(np.sqrt(_frobenius_cross(a, a) * _frobenius_cross(b, b)))
    return float(_frobenius_cross(a, b) / den) if den > 0 else float("nan")


@dataclass(frozen=True)
class AlignmentResult:
    cka: float  # debiased linear CKA (primary)
    cka_biased: float
    aligned_cosine: float  # mean cos(english_i, target_i)
    random_cosine: float  # mean cos(english_i, target_j) over all i != j
    cosine_gap: float  # aligned - random
    retrieval_accuracy: float  # 1-NN by cosine, mean of en->target and target->en, in [0, 1]
    n: int

    @property
    def score(self) -> float:
        return self.cka


def _unit_rows(x: Floats, what: str) -> Floats:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    if np.any(norms == 0):
        raise DataError(f"{what}: an embedding is all zeros (after centring, if asked)")
    return x / norms


def _retrieval_accuracy(queries: Floats, candidates: Floats, block: int = 1024) -> float:
    """Share of unit-norm queries whose most similar candidate is their own pair; a tie shares
    the credit. Works in blocks of queries so memory stays O(block * n)."""
    credit = 0.0
    for start in range(0, queries.shape[0], block):
        cos = queries[start : start + block] @ candidates.T
        is_max = cos == cos.max(axis=1, keepdims=True)
        own = is_max[np.arange(cos.shape[0]), np.arange(start, start + cos.shape[0])]
        credit += float(np.sum(own / is_max.sum(axis=1)))
    return credit / queries.shape[0]


def crosslingual_alignment(
    english: ArrayLike, target: ArrayLike, *, centre_each_language: bool = False
) -> AlignmentResult:
    """Alignment of a target language with English from parallel embeddings (see module doc).

    `centre_each_language` subtracts each language's mean embedding before the cosines, removing
    the language-identity component (Libovicky et al. 2020); off by default to match the XTREME
    retrieval procedure. CKA centres in any case.
    """
    x, y = _paired(english, target, min_rows=4)
    if x.shape[1] != y.shape[1]:
        raise DataError(f"parallel embeddings: widths differ ({x.shape[1]} vs {y.shape[1]}); use one model for both")
    if centre_each_language:
        x, y = x - x.mean(axis=0), y - y.mean(axis=0)
    ex, ty = _unit_rows(x, "english embeddings"), _unit_rows(y, "target-language embeddings")
    n = ex.shape[0]
    aligned_sum = float(np.sum(ex * ty))
    all_pairs_sum = float(ex.sum(axis=0) @ ty.sum(axis=0))  # sum of the whole cosine matrix
    aligned = aligned_sum / n
    random = (all_pairs_sum - aligned_sum) / (n * (n - 1))
    retrieval = 0.5 * (_retrieval_accuracy(ex, ty) + _retrieval_accuracy(ty, ex))
    return AlignmentResult(
        cka=linear_cka(x, y, debiased=True),
        cka_biased=linear_cka(x, y),
        aligned_cosine=aligned,
        random_cosine=random,
        cosine_gap=aligned - random,
        retrieval_accuracy=retrieval,
        n=n,
    )
