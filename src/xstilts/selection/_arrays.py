"""Input checks and small linear-algebra helpers shared by the selection estimators."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from xstilts.errors import DataError

Floats = NDArray[np.float64]


def as_features(features: ArrayLike, what: str = "features", min_rows: int = 2) -> Floats:
    """A finite float64 matrix (n, d) with at least `min_rows` rows."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2:
        raise DataError(f"{what}: expected a matrix (n, d), got shape {x.shape}")
    if x.shape[0] < min_rows or x.shape[1] < 1:
        raise DataError(f"{what}: need at least {min_rows} rows and 1 column, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise DataError(f"{what}: contains NaN or infinite values")
    return x


def encode_labels(labels: ArrayLike, n: int, what: str = "labels") -> tuple[NDArray[np.int64], int]:
    """Class labels of any hashable dtype as codes 0..k-1 (sorted by label), and k."""
    y = np.asarray(labels)
    if y.ndim != 1 or y.shape[0] != n:
        raise DataError(f"{what}: expected {n} labels in a vector, got shape {y.shape}")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise DataError(f"{what}: need at least 2 distinct classes, got {len(classes)}")
    return codes.astype(np.int64), len(classes)


def one_hot(codes: NDArray[np.int64], k: int) -> Floats:
    out = np.zeros((codes.shape[0], k))
    out[np.arange(codes.shape[0]), codes] = 1.0
    return out


def between_class_factor(centred: Floats, codes: NDArray[np.int64], k: int) -> Floats:
    """G (d, k) with G G^T = cov(E[f | y]) = sum_c p_c (mu_c - mu)(mu_c - mu)^T; rows centred on mu."""
    n = centred.shape[0]
    counts = np.bincount(codes, minlength=k).astype(np.float64)
    sums = one_hot(codes, k).T @ centred  # (k, d)
    means = sums / counts[:, None]
    return (means * np.sqrt(counts / n)[:, None]).T


def as_targets(targets: ArrayLike, n: int, what: str = "targets") -> Floats:
    """Regression targets as a finite float64 matrix (n, k); a vector becomes one column."""
    y = np.asarray(targets, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2 or y.shape[0] != n:
        raise DataError(f"{what}: expected {n} rows of targets, got shape {np.asarray(targets).shape}")
    if not np.all(np.isfinite(y)):
        raise DataError(f"{what}: contains NaN or infinite values")
    return y


def ledoit_wolf_shrinkage(centred: Floats) -> float:
    """Ledoit & Wolf (2004) shrinkage intensity towards mu*I for the covariance of centred rows.

    With S = X^T X / n and mu = tr(S)/d, the intensity is min(b2, d2) / d2 where
    d2 = ||S - mu I||_F^2 and b2 = (1/n^2) sum_k ||x_k x_k^T - S||_F^2; the sum expands to
    sum_k ||x_k||^4 - n ||S||_F^2, so no per-sample d x d matrix is formed.
    """
    n, d = centred.shape
    s = centred.T @ centred / n
    mu = np.trace(s) / d
    d2 = float(np.sum((s - mu * np.eye(d)) ** 2))
    if d2 <= 0.0:
        return 0.0  # S is already a multiple of the identity
    row_norms2 = np.sum(centred**2, axis=1)
    b2 = float((np.sum(row_norms2**2) / n - np.sum(s**2)) / n)
    return min(max(b2, 0.0), d2) / d2


def shrunk_covariance(centred: Floats, shrinkage: float | None = None) -> tuple[Floats, float]:
    """(1 - a) S + a mu I with a from Ledoit-Wolf unless given; returns the matrix and a."""
    n, d = centred.shape
    s = centred.T @ centred / n
    a = ledoit_wolf_shrinkage(centred) if shrinkage is None else float(shrinkage)
    if not 0.0 <= a <= 1.0:
        raise DataError(f"shrinkage must lie in [0, 1], got {a}")
    mu = np.trace(s) / d
    return (1.0 - a) * s + a * mu * np.eye(d), a

