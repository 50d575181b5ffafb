"""Similarity of two tasks as seen through one model's features.

A task is summarised from a small labelled sample by two things, both in shared whitened
coordinates (`FeatureReference`, fitted once on the pooled samples of the target and all
candidate intermediate tasks):

- `mean`: where the task's inputs sit, W^T (mean_task - mean_ref). Its cosine between two tasks
  (`TaskSimilarity.domain`) is an input-domain similarity.
- `signal`: a factor G (p, c) of the task's label-signal matrix S = G G^T. For classification
  S = W^T cov(E[f | y]) W, the between-class covariance (whose trace, whitened by the task's own
  covariance, is the H-score); for regression the columns of G are W^T cov(f, y_k) / sd(y_k). S
  says which feature directions carry the task's labels. `TaskSimilarity.signal` is the Frobenius
  cosine <S_a, S_b> / (|S_a| |S_b|) in [0, 1]: 1 when both tasks read their labels off the same
  directions in the same proportions, 0 when off orthogonal ones. It ignores label names, label
  order and the number of classes, so tasks with different label sets compare.

Why this summary: intermediate training sharpens the directions that carry the intermediate
task's labels; a target whose labels live in those directions should gain (the intuition behind
task embeddings such as Task2Vec, Achille et al. 2019, and Vu et al. 2020's TaskEmb, here without
gradients). Whitening matters because pooled transformer features are strongly anisotropic
(Ethayarajh 2019): in raw coordinates a few high-variance directions shared by all inputs make
every pair of tasks look alike. Whitening also makes the similarity invariant to rotating and
isotropically rescaling the feature space.

Sampling noise: estimated class means carry noise in every whitened direction, which adds about
`TaskEmbedding.noise` (in expectation) to |G|_F^2, growing with p/n. Noise of two independent
samples is uncorrelated, so it does not create similarity, but it inflates |S| and pulls the
cosine towards 0 — more for tasks with weak signal. Compare candidates on equal sample sizes,
check `noise_fraction` (near 1 means the labels are indistinguishable from noise), and cap the
whitened dimension with `fit_reference(..., dims=...)` (top principal directions) when p is not
much smaller than n.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class FeatureReference:
    """Shared coordinates: centre `mean` (d,) and whitening map (d, p), p <= d."""

    mean: Floats
    whitening: Floats
    shrinkage: float

    @property
    def dims(self) -> int:
        return self.whitening.shape[1]

    def transform(self, features: Floats) -> Floats:
        return (features - self.mean) @ self.whitening


def fit_reference(
    *feature_sets: ArrayLike, shrinkage: float | None = None, dims: int | None = None, rcond: float = 1e-10
) -> FeatureReference:
    """PCA-whitening fitted on the pooled rows of all given samples.

    Pass equal-sized samples so no task dominates. The covariance is Ledoit-Wolf-shrunk unless
    `shrinkage` is given (0 = none); `dims` keeps only the top principal directions (all by
    default); directions with eigenvalue below rcond * largest are dropped.
    """
    if not feature_sets:
        raise DataError("fit_reference: no feature sets given")
    mats = [as_features(f, f"features #{i}") for i, f in enumerate(feature_sets)]
    widths = {m.shape[1] for m in mats}
    if len(widths) != 1:
        raise DataError(f"fit_reference: feature sets have different widths {sorted(widths)}")
    if dims is not None and dims < 1:
        raise DataError(f"fit_reference: dims must be >= 1, got {dims}")
    pooled = np.concatenate(mats)
    mean = pooled.mean(axis=0)
    cov, a = shrunk_covariance(pooled - mean, shrinkage)
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > rcond * max(values[0], 0.0)
    if dims is not None:
        keep[dims:] = False
    if not keep.any():
        raise DataError("fit_reference: the pooled features have no variance")
    return FeatureReference(mean=mean, whitening=vectors[:, keep] / np.sqrt(values[keep]), shrinkage=a)


@dataclass(frozen=True)
class TaskEmbedding:
    mean: Floats  # (p,)
    signal: Floats  # (p, c); S = signal @ signal.T
    noise: float  # expected contribution of sampling noise to |signal|_F^2
    n: int

    @property
    def strength(self) -> float:
        """|G|_F^2 = tr S: the whitened label-signal variance (noise included)."""
        return float(np.sum(self.signal**2))

    @property
    def noise_fraction(self) -> float:
        return self.noise / self.strength if self.strength > 0 else float("inf")


def _class_noise(centred: Floats, codes: np.ndarray, k: int) -> float:
    """(1/n) sum_c (1 - p_c) tr(Sigma_c), the bias of tr cov(E[f|y]) computed from sample means.

    Given class counts, the sample means are independent with covariance Sigma_c / n_c, and
    sum_c p_c Cov(mean_c - mean) works out to (1/n) sum_c (1 - p_c) Sigma_c. Sigma_c is estimated
    without bias (n_c - 1); a singleton class borrows the pooled within-class covariance.
    """
    n = centred.shape[0]
    counts = np.bincount(codes, minlength=k)
    means = (one_hot(codes, k).T @ centred) / counts[:, None]
    squared = np.bincount(codes, weights=np.sum((centred - means[codes]) ** 2, axis=1), minlength=k)
    pooled_trace = squared.sum() / max(n - k, 1)
    traces = np.where(counts > 1, squared / np.maximum(counts - 1, 1), pooled_trace)
    return float(np.sum((1.0 - counts / n) * traces) / n)


def _regression_noise(centred: Floats, standardised: Floats) -> float:
    """sum_k E|c_k - E c_k|^2 for c_k = mean_i f_i y_ik, estimated as (1/n) mean_i |f_i y_ik - c_k|^2."""
    n = centred.shape[0]
    total = 0.0
    for y in standardised.T:
        products = centred * y[:, None]
        total += float(np.mean(np.sum((products - products.mean(axis=0)) ** 2, axis=1)) / n)
    return total


def task_embedding(
    features: ArrayLike, labels: ArrayLike, reference: FeatureReference, *, regression: bool = False
) -> TaskEmbedding:
    """Summarise a labelled task sample in the reference's whitened coordinates (see module doc)."""
    f = as_features(features)
    n, d = f.shape
    if reference.mean.shape[0] != d:
        raise DataError(f"task_embedding: features have {d} columns, the reference {reference.mean.shape[0]}")
    white = reference.transform(f)
    centred = white - white.mean(axis=0)
    if regression:
        y = as_targets(labels, n)
        sd = y.std(axis=0)
        if np.any(sd == 0):
            raise DataError("task_embedding: a regression target is constant")
        standardised = (y - y.mean(axis=0)) / sd
        signal = centred.T @ standardised / n
        noise = _regression_noise(centred, standardised)
    else:
        codes, k = encode_labels(labels, n)
        signal = between_class_factor(centred, codes, k)
        noise = _class_noise(centred, codes, k)
    return TaskEmbedding(mean=white.mean(axis=0), signal=signal, noise=noise, n=n)


@dataclass(frozen=True)
class TaskSimilarity:
    """`signal` in [0, 1] (primary, `score`); `domain` in [-1, 1], NaN if a mean is at the centre.

    `domain` is relative to the reference's pooled mean, so it needs a reference pooled over
    several tasks: with only two equal-sized samples their means are opposite and it is -1.
    """

    signal: float
    domain: float

    @property
    def score(self) -> float:
        return self.signal


def _cosine(a: Floats, b: Floats) -> float:
    norms = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(a @ b / norms) if norms > 0 else float("nan")


def task_similarity(a: TaskEmbedding, b: TaskEmbedding) -> TaskSimilarity:
    if a.signal.shape[0] != b.signal.shape[0]:
        raise DataError("task_similarity: the embeddings come from different references")
    # <G_a G_a^T, G_b G_b^T>_F = |G_a^T G_b|_F^2, so the p x p matrices are never formed.
    cross = float(np.sum((a.signal.T @ b.signal) ** 2))
    norm_a = float(np.linalg.norm(a.signal.T @ a.signal))
    norm_b = float(np.linalg.norm(b.signal.T @ b.signal))
    if norm_a == 0 or norm_b == 0:
        raise DataError("task_similarity: a task's labels carry no signal in these features")
    return TaskSimilarity(signal=cross / (norm_a * norm_b), domain=_cosine(a.mean, b.mean))
