import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.stats import multivariate_normal, ortho_group

from xstilts.errors import DataError
from xstilts.selection import h_score, log_evidence, logme, nearest_centre_accuracy, shrinkage_h_score
from xstilts.selection._arrays import ledoit_wolf_shrinkage


def gaussian_log_evidence(f, y, alpha, beta):
    """log p(y) with w ~ N(0, I/alpha) integrated out: y ~ N(0, F F^T / alpha + I / beta)."""
    cov = f @ f.T / alpha + np.eye(f.shape[0]) / beta
    return multivariate_normal(np.zeros(f.shape[0]), cov).logpdf(y)


def brute_force_max_evidence(f, y):
    def negative(log_ab):
        return -gaussian_log_evidence(f, y, *np.exp(log_ab))

    best = minimize(negative, x0=[0.0, 0.0], method="Nelder-Mead", options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 4000})
    return -best.fun, np.exp(best.x)


def separable_sample(rng, n=240, classes=3, informative=3, noise_dims=17, separation=3.0):
    labels = rng.integers(0, classes, n)
    signal = np.eye(classes)[labels][:, :informative] * separation
    features = np.hstack([signal + rng.normal(size=(n, informative)), rng.normal(size=(n, noise_dims))])
    return features, labels


@pytest.mark.parametrize("n,d", [(30, 4), (9, 14)], ids=["n>d", "n<d"])
def test_log_evidence_matches_the_gaussian_marginal_likelihood(n, d):
    rng = np.random.default_rng(n)
    f = rng.normal(size=(n, d))
    y = f @ rng.normal(size=d) + rng.normal(size=n)
    for alpha, beta in [(0.3, 2.0), (5.0, 0.1)]:
        assert log_evidence(f, y, alpha, beta)[0] == pytest.approx(gaussian_log_evidence(f, y, alpha, beta), rel=1e-10)


@pytest.mark.parametrize("n,d", [(30, 4), (9, 14)], ids=["n>d", "n<d"])
def test_logme_reaches_the_brute_force_maximum_evidence(n, d):
    rng = np.random.default_rng(d)
    f = rng.normal(size=(n, d))
    y = 0.5 * f @ rng.normal(size=d) + rng.normal(size=n)
    best, (alpha, beta) = brute_force_max_evidence(f, y)
    result = logme(f, y, regression=True)
    assert result.converged
    assert result.score == pytest.approx(best / n, abs=1e-7)
    assert result.alpha[0] == pytest.approx(alpha, rel=1e-3)
    assert result.beta[0] == pytest.approx(beta, rel=1e-3)


def test_logme_classification_is_the_mean_over_one_hot_columns():
    rng = np.random.default_rng(1)
    f, labels = separable_sample(rng, n=60)
    per_class = [logme(f, (labels == c).astype(float), regression=True).score for c in range(3)]
    result = logme(f, labels)
    assert result.per_target == pytest.approx(per_class, rel=1e-10)
    assert result.score == pytest.approx(np.mean(per_class), rel=1e-10)


def test_logme_is_invariant_to_rotation_and_scale_of_features_and_to_label_names():
    rng = np.random.default_rng(2)
    f, labels = separable_sample(rng, n=80)
    rotation = ortho_group.rvs(f.shape[1], random_state=3)
    base = logme(f, labels).score
    assert logme(7.5 * f @ rotation, labels).score == pytest.approx(base, abs=1e-6)
    renamed = np.array(["neutral", "entail", "contra"])[labels]  # sorted: contra=2, entail=1, neutral=0
    assert logme(f, renamed).per_target == pytest.approx(logme(f, labels).per_target[[2, 1, 0]], rel=1e-10)
    assert logme(f, renamed).score == pytest.approx(base, rel=1e-10)


def test_logme_is_not_invariant_to_a_non_isotropic_rescaling():
    # Guards the invariance test above from passing for a trivially constant score.
    rng = np.random.default_rng(4)
    f, labels = separable_sample(rng, n=80)
    stretched = f * np.r_[np.full(3, 0.01), np.full(f.shape[1] - 3, 100.0)]
    assert logme(stretched, labels).score < logme(f, labels).score - 0.05


@pytest.mark.parametrize("estimator", [logme, h_score, shrinkage_h_score, nearest_centre_accuracy])
def test_separating_features_score_higher_than_random_features(estimator):
    rng = np.random.default_rng(5)
    f, labels = separable_sample(rng)
    random = rng.normal(size=f.shape)
    assert estimator(f, labels).score > estimator(random, labels).score


@pytest.mark.parametrize("estimator", [logme, shrinkage_h_score, nearest_centre_accuracy])
def test_more_separation_scores_higher(estimator):
    scores = [estimator(*separable_sample(np.random.default_rng(6), separation=s)).score for s in (0.5, 1.5, 4.0)]
    assert scores[0] < scores[1] < scores[2]


def test_h_score_hand_computed():
    labels = np.array([0, 0, 1, 1])
    # Perfectly separated 1-D feature: all variance is between classes.
    assert h_score(np.array([[0.0], [0.0], [1.0], [1.0]]), labels).score == pytest.approx(1.0)
    # Class means 0.5 and 1.5: between-class variance 0.25 of total variance 0.5.
    assert h_score(np.array([[0.0], [1.0], [1.0], [2.0]]), labels).score == pytest.approx(0.5)


def test_shrinkage_h_score_without_shrinkage_equals_h_score():
    rng = np.random.default_rng(7)
    f, labels = separable_sample(rng, n=100)
    plain = h_score(f, labels).score
    assert shrinkage_h_score(f, labels, shrinkage=0.0).score == pytest.approx(plain, rel=1e-8)
    assert shrinkage_h_score(f, labels, shrinkage=0.5).score < plain


def test_shrinkage_h_score_stays_sane_when_features_outnumber_examples():
    rng = np.random.default_rng(8)
    labels = rng.integers(0, 2, 20)
    noise = rng.normal(size=(20, 200))
    # With d > n the plain H-score of pure noise fits the labels perfectly (H = 1 for 2 classes).
    assert h_score(noise, labels).score == pytest.approx(1.0, abs=1e-6)
    shrunk = shrinkage_h_score(noise, labels)
    assert shrunk.shrinkage > 0.5
    signal = noise.copy()
    signal[:, 0] += 4.0 * labels
    assert shrinkage_h_score(signal, labels).score > shrunk.score


def brute_force_ledoit_wolf(centred):
    n, d = centred.shape
    s = centred.T @ centred / n
    mu = np.trace(s) / d
    d2 = np.sum((s - mu * np.eye(d)) ** 2)
    b2 = sum(np.sum((np.outer(x, x) - s) ** 2) for x in centred) / n**2
    return min(b2, d2) / d2


@pytest.mark.parametrize("n,d", [(12, 30), (60, 5)])
def test_ledoit_wolf_shrinkage_matches_its_definition(n, d):
    rng = np.random.default_rng(n)
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
    x -= x.mean(axis=0)
    assert ledoit_wolf_shrinkage(x) == pytest.approx(brute_force_ledoit_wolf(x), rel=1e-10)
    sklearn_covariance = pytest.importorskip("sklearn.covariance")
    assert ledoit_wolf_shrinkage(x) == pytest.approx(sklearn_covariance.ledoit_wolf_shrinkage(x, assume_centered=True), rel=1e-8)


def test_nearest_centre_accuracy_is_exact_on_clusters_and_near_chance_on_noise():
    rng = np.random.default_rng(9)
    labels = np.repeat(np.arange(4), 25)
    clusters = np.eye(4)[labels] * 10 + rng.normal(size=(100, 4))
    assert nearest_centre_accuracy(clusters, labels).score == 1.0
    noise = nearest_centre_accuracy(rng.normal(size=(100, 4)), labels)
    assert noise.chance == 0.25
    assert noise.score < 0.45


def test_nearest_centre_accuracy_is_reproducible_with_its_seed():
    rng = np.random.default_rng(10)
    f, labels = separable_sample(rng, n=60, separation=1.0)
    runs = {nearest_centre_accuracy(f, labels, seed=s).score for s in range(6)}
    assert nearest_centre_accuracy(f, labels, seed=3).score == nearest_centre_accuracy(f, labels, seed=3).score
    assert len(runs) > 1  # the seed really changes the split


@pytest.mark.parametrize(
    "features,labels",
    [
        (np.ones((4, 2)), np.zeros(4)),  # one class
        (np.full((4, 2), np.nan), np.array([0, 1, 0, 1])),
        (np.ones((4, 2)), np.array([0, 1, 0])),
        (np.ones(4), np.array([0, 1, 0, 1])),
    ],
    ids=["one-class", "nan", "length", "vector"],
)
@pytest.mark.parametrize("estimator", [logme, h_score, shrinkage_h_score, nearest_centre_accuracy])
def test_bad_inputs_raise_data_errors(estimator, features, labels):
    with pytest.raises(DataError):
        estimator(features, labels)


def test_logme_of_features_orthogonal_to_the_target_is_the_noise_only_evidence():
    # z = U^T y = 0: the evidence is maximised as alpha -> infinity (w = 0), where
    # y ~ N(0, I/beta) with beta = n/||y||^2, i.e. L/n = -1/2 (log(2 pi ||y||^2 / n) + 1).
    rng = np.random.default_rng(11)
    y = rng.normal(size=40)
    f = rng.normal(size=(40, 6))
    f -= np.outer(y, y @ f) / (y @ y)
    result = logme(f, y, regression=True)
    assert result.converged
    assert result.score == pytest.approx(-0.5 * (np.log(2 * np.pi * (y @ y) / 40) + 1), abs=1e-9)
