import numpy as np
import pytest
from scipy.stats import ortho_group

from xstilts.errors import DataError
from xstilts.selection import fit_reference, task_embedding, task_similarity

D = 16


def inputs(rng, n, shift=0.0):
    # Anisotropic like pooled transformer features: one direction (the last) with large variance
    # shared by every task and unrelated to any label.
    x = rng.normal(size=(n, D))
    x[:, -1] *= 20.0
    x[:, 3] += shift
    return x


def classes_along(rng, direction, centres, n=300, shift=0.0):
    labels = rng.integers(0, len(centres), n)
    x = inputs(rng, n, shift)
    x[:, direction] += np.asarray(centres)[labels]
    return x, labels


@pytest.fixture
def tasks():
    rng = np.random.default_rng(0)
    return {
        "a": classes_along(rng, 0, [-2.0, 2.0]),
        "a_again": classes_along(rng, 0, [-2.0, 2.0]),  # a fresh sample of the same task
        "b": classes_along(rng, 0, [-2.0, 0.0, 2.0]),  # other labels, same direction
        "c": classes_along(rng, 1, [-2.0, 2.0]),  # same label set, orthogonal direction
    }


def embed_all(tasks, transform=lambda x: x):
    reference = fit_reference(*(transform(x) for x, _ in tasks.values()))
    return {name: task_embedding(transform(x), y, reference) for name, (x, y) in tasks.items()}


def test_a_task_is_most_similar_to_itself(tasks):
    emb = embed_all(tasks)
    own = task_similarity(emb["a"], emb["a"])
    assert own.signal == pytest.approx(1.0)
    assert own.domain == pytest.approx(1.0)
    assert own.score == own.signal
    for other in ("a_again", "b", "c"):
        assert task_similarity(emb["a"], emb[other]).signal < own.signal


def test_shared_label_directions_are_similar_and_orthogonal_ones_are_not(tasks):
    emb = embed_all(tasks)
    # Sampling noise (16 dims, 300 examples) attenuates a perfect 1 to about 0.9.
    assert task_similarity(emb["a"], emb["a_again"]).signal > 0.85
    assert task_similarity(emb["a"], emb["b"]).signal > 0.85
    assert task_similarity(emb["a"], emb["c"]).signal < 0.05
    assert task_similarity(emb["a"], emb["b"]).signal == pytest.approx(task_similarity(emb["b"], emb["a"]).signal)


def test_similarity_ignores_label_names_and_order(tasks):
    x, y = tasks["b"]
    reference = fit_reference(x)
    renamed = np.array(["z", "x", "y"])[y]
    sim = task_similarity(task_embedding(x, y, reference), task_embedding(x, renamed, reference))
    assert sim.signal == pytest.approx(1.0)


def test_similarity_is_invariant_to_rotating_and_scaling_the_feature_space(tasks):
    rotation = 3.0 * ortho_group.rvs(D, random_state=1)
    plain, rotated = embed_all(tasks), embed_all(tasks, lambda x: x @ rotation)
    for other in ("a_again", "b", "c"):
        before, after = task_similarity(plain["a"], plain[other]), task_similarity(rotated["a"], rotated[other])
        assert after.signal == pytest.approx(before.signal, abs=1e-9)
        assert after.domain == pytest.approx(before.domain, abs=1e-9)


def test_whitening_discounts_a_weak_signal_on_a_shared_high_variance_direction():
    # Both tasks shift their classes by +-6 along the shared direction (sd 20: weak) and by +-1.5
    # along their own, orthogonal, unit-variance direction (strong). In raw coordinates the
    # shared direction dominates both label-signal matrices; whitened, the own directions do.
    rng = np.random.default_rng(2)

    def task(own):
        labels = rng.integers(0, 2, 400)
        x = inputs(rng, 400)
        x[:, own] += np.array([-1.5, 1.5])[labels]
        x[:, -1] += np.array([-6.0, 6.0])[labels]
        return x, labels

    a, c = task(0), task(1)

    def similarity(shrinkage):
        reference = fit_reference(a[0], c[0], shrinkage=shrinkage)
        return task_similarity(task_embedding(*a, reference), task_embedding(*c, reference)).signal

    assert similarity(1.0) > 0.8  # full shrinkage to mu*I: raw geometry, only rescaled
    assert similarity(None) < 0.2


def test_domain_cosine_follows_the_input_shift():
    rng = np.random.default_rng(3)
    up = classes_along(rng, 0, [-2.0, 2.0], shift=3.0)
    up_again = classes_along(rng, 1, [-2.0, 2.0], shift=3.0)
    down = classes_along(rng, 0, [-2.0, 2.0], shift=-3.0)
    reference = fit_reference(up[0], up_again[0], down[0])
    emb = [task_embedding(x, y, reference) for x, y in (up, up_again, down)]
    assert task_similarity(emb[0], emb[1]).domain > 0.9
    assert task_similarity(emb[0], emb[2]).domain < -0.9


def test_a_regression_target_compares_with_a_classification_task(tasks):
    rng = np.random.default_rng(4)
    x = inputs(rng, 300)
    score = 2.0 * x[:, 0] + 0.5 * rng.normal(size=300)
    reference = fit_reference(x, tasks["a"][0], tasks["c"][0])
    regression = task_embedding(x, score, reference, regression=True)
    assert task_similarity(regression, task_embedding(*tasks["a"], reference)).signal > 0.85
    assert task_similarity(regression, task_embedding(*tasks["c"], reference)).signal < 0.05


def test_inconsistent_inputs_raise_data_errors(tasks):
    x, y = tasks["a"]
    with pytest.raises(DataError):
        fit_reference(x, x[:, :-1])
    with pytest.raises(DataError):
        task_embedding(x[:, :-1], y, fit_reference(x))
    with pytest.raises(DataError):
        task_embedding(x, np.ones(len(x)), fit_reference(x), regression=True)
    with pytest.raises(DataError):
        task_embedding(x, np.zeros(len(x)), fit_reference(x))


@pytest.mark.parametrize("regression", [False, True], ids=["classes", "regression"])
def test_noise_is_the_expected_signal_strength_of_labels_unrelated_to_the_features(regression):
    rng = np.random.default_rng(5)
    x = inputs(rng, 200)
    reference = fit_reference(x)
    strength, noise = [], []
    for seed in range(100):
        draw = np.random.default_rng(100 + seed)
        y = draw.normal(size=200) if regression else draw.choice(3, 200, p=[0.6, 0.3, 0.1])
        emb = task_embedding(x, y, reference, regression=regression)
        strength.append(emb.strength)
        noise.append(emb.noise)
    assert np.mean(strength) / np.mean(noise) == pytest.approx(1.0, abs=0.1)


def test_noise_fraction_is_small_for_a_strong_task_and_falls_with_fewer_dims(tasks):
    x, y = tasks["a"]
    full = task_embedding(x, y, fit_reference(x))
    assert full.noise_fraction < 0.1
    top = fit_reference(x, dims=2)
    assert top.dims == 2
    assert task_embedding(x, y, top).noise < full.noise / 4


def test_fewer_dims_reduce_the_attenuation_when_the_signal_is_in_the_top_directions(tasks):
    # The label direction (variance 5) and the shared direction (variance 400) are the top two.
    def same_task_similarity(dims):
        reference = fit_reference(tasks["a"][0], tasks["a_again"][0], dims=dims)
        a, again = (task_embedding(*tasks[t], reference) for t in ("a", "a_again"))
        return task_similarity(a, again).signal

    assert same_task_similarity(2) > 0.95
    assert same_task_similarity(2) > same_task_similarity(None) + 0.03
