"""Label-based transferability estimators on a model's pooled features.

Each estimator takes features (n, d) of a task's examples from one model (or one intermediate
checkpoint) and the task's labels, and says how well a linear head on those features could fit
the labels, without training the model. Higher is better for every score here. Scores are only
comparable between feature sets scored on the same examples and labels (same target sample).

- `logme`: LogME (You et al., ICML 2021), the maximised log evidence of a Bayesian linear model
  per target column, divided by n and averaged over columns (one-hot classes or regression targets).
- `h_score` / `shrinkage_h_score`: H-score (Bao et al., ICIP 2019) and its Ledoit-Wolf-regularised
  form (Ibrahim et al., ICLR 2023), which is stable when n is not much larger than d.
- `nearest_centre_accuracy`: cross-validated accuracy of a nearest-class-mean classifier with a
  fixed seed; interpretable (a percentage) and assumption-light.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from xstilts.errors import DataError
from xstilts.selection._arrays import (
    Floats,
    as_features,
    as_targets,
    between_class_factor,
    encode_labels,
    one_hot,
    shrunk_covariance,
)

_TINY = 1e-300
_HUGE = 1e300


@dataclass(frozen=True)
class LogMEResult:
    """`score` is the mean of `per_target`: max log evidence / n of each target column."""

    score: float
    per_target: Floats
    alpha: Floats
    beta: Floats
    iterations: int
    converged: bool


@dataclass(frozen=True)
class HScoreResult:
    score: float
    shrinkage: float  # 0 for the plain H-score


@dataclass(frozen=True)
class NearestCentreResult:
    """`score` is accuracy in [0, 1]; `chance` is the majority-class rate of the same labels."""

    score: float
    chance: float
    folds: int
    seed: int


def _target_matrix(labels: ArrayLike, n: int, regression: bool) -> Floats:
    if regression:
        return as_targets(labels, n)
    codes, k = encode_labels(labels, n)
    return one_hot(codes, k)


def _posterior_terms(
    alpha: Floats, beta: Floats, sigma: Floats, z: Floats, outside: Floats
) -> tuple[Floats, Floats, Floats, Floats]:
    """gamma, m^T m, ||F m - y||^2 and q = beta*sigma/alpha per singular direction, in the SVD basis.

    With F = U S V^T, sigma = s^2, z = U^T y and t = alpha + beta sigma, the posterior mean is
    m = V diag(beta s / t) z (You et al. 2021: m = beta A^{-1} F^T y, A = alpha I + beta F^T F), so
    m^T m = sum beta^2 sigma z^2 / t^2, and F m - y has components -alpha z / t inside span(U)
    plus the part of y outside span(U), of squared norm `outside`. Everything is written in
    q = beta sigma / alpha so that a very large alpha (no usable signal) does not overflow.
    """
    q = beta * sigma[:, None] / alpha
    shrink = 1.0 / (1.0 + q)  # alpha / t
    gamma = np.sum(q * shrink, axis=0)
    m2 = np.sum(q * (beta / alpha) * (z * shrink) ** 2, axis=0)
    res2 = np.sum((z * shrink) ** 2, axis=0) + outside
    return gamma, m2, res2, q


def _log_evidence(alpha: Floats, beta: Floats, sigma: Floats, z: Floats, outside: Floats, n: int) -> Floats:
    """LogME eq. (2): n/2 log b + d/2 log a - n/2 log 2pi - b/2 ||Fm-y||^2 - a/2 m^T m - 1/2 log|A|.

    |A| = alpha^(d - r) prod_i (alpha + beta sigma_i) over the r singular directions, so
    d/2 log a - 1/2 log|A| = -1/2 sum_i log(1 + q_i): d drops out except through r.
    """
    _, m2, res2, q = _posterior_terms(alpha, beta, sigma, z, outside)
    return (
        0.5 * n * np.log(beta)
        - 0.5 * n * math.log(2 * math.pi)
        - 0.5 * beta * res2
        - 0.5 * alpha * m2
        - 0.5 * np.sum(np.log1p(q), axis=0)
    )


def _svd_basis(f: Floats, y: Floats) -> tuple[Floats, Floats, Floats]:
    u, s, _ = np.linalg.svd(f, full_matrices=False)
    z = u.T @ y
    outside = np.maximum(np.sum(y**2, axis=0) - np.sum(z**2, axis=0), 0.0)
    return s**2, z, outside


def log_evidence(features: ArrayLike, targets: ArrayLike, alpha: float, beta: float) -> Floats:
    """Log evidence log p(y | F, alpha, beta) of each target column (not divided by n).

    The model is y = F w + e, w ~ N(0, I/alpha), e ~ N(0, I/beta). Exposed to check LogME and to
    inspect the evidence surface; `logme` maximises it over (alpha, beta).
    """
    f = as_features(features)
    y = as_targets(targets, f.shape[0])
    if alpha <= 0 or beta <= 0:
        raise DataError(f"log_evidence: alpha and beta must be positive, got {alpha}, {beta}")
    sigma, z, outside = _svd_basis(f, y)
    k = y.shape[1]
    return _log_evidence(np.full(k, alpha), np.full(k, beta), sigma, z, outside, f.shape[0])


def logme(
    features: ArrayLike,
    labels: ArrayLike,
    *,
    regression: bool = False,
    max_iter: int = 1000,
    tol: float = 1e-7,
) -> LogMEResult:
    """LogME of `labels` given `features` (You et al., ICML 2021, Algorithm 1).

    Classification (default): labels are n class ids, scored as one one-hot column per class.
    Regression: labels are n values or an (n, k) matrix. Per column, alpha and beta follow the
    fixed-point updates gamma = sum beta sigma_i / (alpha + beta sigma_i), alpha = gamma / m^T m,
    beta = (n - gamma) / ||F m - y||^2, from alpha = beta = 1, all computed from one SVD of F.
    The result is the maximised evidence divided by n, averaged over columns. Like the paper,
    the linear model has no bias term: pass features as the model gives them.
    """
    f = as_features(features)
    n = f.shape[0]
    y = _target_matrix(labels, n, regression)
    sigma, z, outside = _svd_basis(f, y)
    k = y.shape[1]
    alpha, beta = np.ones(k), np.ones(k)
    converged = False
    iterations = 0
    for iterations in range(1, max_iter + 1):  # noqa: B007 - the count is reported after the loop
        gamma, m2, res2, _ = _posterior_terms(alpha, beta, sigma, z, outside)
        new_alpha = gamma / np.maximum(m2, _TINY)
        new_beta = (n - gamma) / np.maximum(res2, _TINY)
        alpha_change = np.abs(new_alpha - alpha) / alpha
        beta_change = np.abs(new_beta - beta) / beta
        alpha = np.clip(new_alpha, _TINY, _HUGE)
        beta = np.clip(new_beta, _TINY, _HUGE)
        # When the features explain nothing, the evidence peaks at alpha -> infinity (w = 0) and
        # alpha grows without converging; once beta*sigma/alpha is negligible (and beta has settled)
        # the evidence equals that supremum to ~1e-12, so the column is done.
        alpha_done = (alpha_change < tol) | (beta * sigma.max() / alpha < 1e-12)
        if np.all(alpha_done & (beta_change < tol)):
            converged = True
            break
    per_target = _log_evidence(alpha, beta, sigma, z, outside, n) / n
    return LogMEResult(
        score=float(per_target.mean()),
        per_target=per_target,
        alpha=alpha,
        beta=beta,
        iterations=iterations,
        converged=converged,
    )


def h_score(features: ArrayLike, labels: ArrayLike) -> HScoreResult:
    """H-score (Bao et al. 2019): tr(cov(f)^+ cov(E[f | y])), pseudo-inverse as in the paper.

    Unstable when n is close to d or smaller (the empirical covariance is then singular or
    ill-conditioned): prefer `shrinkage_h_score` on small samples of large models.
    """
    f = as_features(features)
    codes, k = encode_labels(labels, f.shape[0])
    centred = f - f.mean(axis=0)
    cov = centred.T @ centred / f.shape[0]
    g = between_class_factor(centred, codes, k)
    return HScoreResult(score=float(np.sum(g * (np.linalg.pinv(cov, hermitian=True) @ g))), shrinkage=0.0)


def shrinkage_h_score(features: ArrayLike, labels: ArrayLike, shrinkage: float | None = None) -> HScoreResult:
    """Regularised H-score (Ibrahim et al. 2023): tr(cov_a(f)^{-1} (1 - a) cov(E[f | y])).

    cov_a = (1 - a) S + a (tr S / d) I, with a from Ledoit-Wolf (2004) unless `shrinkage` is given.
    """
    f = as_features(features)
    codes, k = encode_labels(labels, f.shape[0])
    centred = f - f.mean(axis=0)
    cov_a, a = shrunk_covariance(centred, shrinkage)
    g = between_class_factor(centred, codes, k)
    solved: np.ndarray
    if a == 0.0:
        solved = np.linalg.pinv(cov_a, hermitian=True) @ g
    else:
        solved = np.linalg.solve(cov_a, g)
    return HScoreResult(score=float((1.0 - a) * np.sum(g * solved)), shrinkage=a)


def stratified_folds(codes: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Fold id per example: each class is shuffled with `seed` and dealt round-robin."""
    rng = np.random.default_rng(seed)
    fold_of = np.empty(codes.shape[0], dtype=np.int64)
    offset = 0
    for c in np.unique(codes):
        members = rng.permutation(np.flatnonzero(codes == c))
        # Continue the deal where the previous class stopped so small classes do not all land in fold 0.
        fold_of[members] = (np.arange(members.shape[0]) + offset) % folds
        offset += members.shape[0]
    return fold_of


def nearest_centre_accuracy(
    features: ArrayLike, labels: ArrayLike, *, folds: int = 5, seed: int = 0
) -> NearestCentreResult:
    """Stratified k-fold accuracy of assigning each held-out example to the nearest class mean.

    Euclidean distance on the features as given. A class absent from a fold's training part
    cannot be predicted in that fold (its held-out members count as errors).
    """
    f = as_features(features)
    n = f.shape[0]
    codes, _ = encode_labels(labels, n)
    if not 2 <= folds <= n:
        raise DataError(f"nearest_centre_accuracy: folds must be in [2, {n}], got {folds}")
    fold_of = stratified_folds(codes, folds, seed)
    right = 0
    for fold in range(folds):
        train, test = fold_of != fold, fold_of == fold
        present = np.unique(codes[train])
        centres = np.stack([f[train & (codes == c)].mean(axis=0) for c in present])
        d2 = np.sum(centres**2, axis=1)[None, :] - 2.0 * f[test] @ centres.T
        right += int(np.sum(present[np.argmin(d2, axis=1)] == codes[test]))
    chance = float(np.bincount(codes).max() / n)
    return NearestCentreResult(score=right / n, chance=chance, folds=folds, seed=seed)
