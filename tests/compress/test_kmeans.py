"""1-D k-means weight sharing: initialization, convergence, nearest labels, codebook layout."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from compress.kmeans import kmeans_1d, linear_init, nearest_centroid, share_weights
from eie_hw.errors import EIEError

small_floats = st.floats(-10, 10, allow_nan=False, allow_infinity=False)
value_arrays = arrays(np.float64, st.integers(1, 60), elements=small_floats)


def test_linear_init_is_evenly_spaced_between_min_and_max():
    c = linear_init(np.array([3.0, -1.0, 0.5, 2.0], np.float32), 5)
    assert c.dtype == np.float64
    assert np.allclose(c, [-1.0, 0.0, 1.0, 2.0, 3.0])
    assert np.allclose(np.diff(c), 1.0)


def test_finds_the_means_of_separated_clusters():
    rng = np.random.default_rng(0)
    centers = np.array([-3.0, 0.0, 3.0, 6.0])
    values = np.concatenate([c + 0.1 * rng.standard_normal(500) for c in centers])
    rng.shuffle(values)
    centroids, labels = kmeans_1d(values, 4)
    for i in range(4):
        assert np.isclose(centroids[i], values[labels == i].mean(), rtol=0, atol=1e-12)
    assert np.allclose(centroids, centers, atol=0.05)
    assert np.all(np.diff(centroids) > 0)


def brute_force_distance(values, centroids):
    return np.abs(values[:, None] - centroids[None, :]).min(axis=1)


@settings(max_examples=150, deadline=None)
@given(value_arrays, st.integers(1, 8))
def test_labels_are_nearest_centroid(values, k):
    centroids, labels = kmeans_1d(values, k)
    assert centroids.shape == (k,) and labels.shape == values.shape
    assert np.all(np.diff(centroids) >= 0)
    assert labels.min() >= 0 and labels.max() < k
    chosen = np.abs(values - centroids[labels])
    assert np.array_equal(chosen, brute_force_distance(values, centroids))


@settings(max_examples=150, deadline=None)
@given(value_arrays, arrays(np.float64, st.integers(1, 10), elements=small_floats))
def test_nearest_centroid_matches_argmin(values, centroids):
    centroids = np.sort(centroids)
    labels = nearest_centroid(values, centroids)
    expected = np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)
    assert np.array_equal(labels, expected)


@settings(max_examples=80, deadline=None)
@given(value_arrays, st.integers(1, 6))
def test_converged_centroids_are_cluster_means(values, k):
    centroids, labels = kmeans_1d(values, k, max_iter=1000)
    for i in np.unique(labels):
        assert np.isclose(centroids[i], values[labels == i].mean(), rtol=1e-9, atol=1e-9)


def test_fewer_distinct_values_than_clusters():
    values = np.array([1.0, 1.0, 2.0, 2.0, 2.0])
    centroids, labels = kmeans_1d(values, 6)
    assert np.all(np.isfinite(centroids))
    assert np.array_equal(centroids[labels], values)


def test_all_values_equal():
    centroids, labels = kmeans_1d(np.full(7, 0.5), 4)
    assert np.all(centroids == 0.5) and np.all(labels == 0)


def test_labels_keep_the_input_shape():
    values = np.arange(12, dtype=np.float32).reshape(3, 4)
    _, labels = kmeans_1d(values, 3)
    assert labels.shape == (3, 4)


def random_layer(seed, shape=(24, 40), density=0.3):
    rng = np.random.default_rng(seed)
    weight = rng.standard_normal(shape).astype(np.float32)
    return weight, rng.random(shape) < density


@pytest.mark.parametrize("seed", range(3))
def test_share_weights_codebook_layout(seed):
    weight, mask = random_layer(seed)
    codes, codebook = share_weights(weight, mask, 4)
    assert codes.dtype == np.uint8 and codes.shape == weight.shape
    assert codebook.dtype == np.float32 and codebook.shape == (16,)
    assert codebook[0] == 0.0
    assert np.all(codes[~mask] == 0)
    assert np.all(codes[mask] >= 1) and codes.max() <= 15
    # Each kept weight sits on its nearest shared value (float32 rounding aside).
    err = np.abs(weight[mask] - codebook[codes[mask]])
    best = np.abs(weight[mask][:, None] - codebook[None, 1:]).min(axis=1)
    assert np.allclose(err, best, atol=1e-6)


def test_share_weights_approximates_the_kept_weights():
    weight, mask = random_layer(7, shape=(100, 100))
    codes, codebook = share_weights(weight, mask, 4)
    kept = weight[mask].astype(np.float64)
    rms = np.sqrt(np.mean((kept - codebook[codes[mask]]) ** 2))
    start = linear_init(kept, 15)
    rms_start = np.sqrt(np.mean((kept - start[nearest_centroid(kept, start)]) ** 2))
    # Lloyd-Max with 15 levels on a Gaussian reaches about 0.105 sigma.
    assert rms < 0.11 * kept.std()
    assert rms < rms_start


def test_share_weights_empty_mask():
    weight, _ = random_layer(0)
    codes, codebook = share_weights(weight, np.zeros(weight.shape, bool), 4)
    assert not codes.any() and not codebook.any() and codebook.shape == (16,)


def test_share_weights_single_kept_value():
    weight = np.zeros((3, 3), np.float32)
    weight[1, 2] = -0.75
    mask = weight != 0
    codes, codebook = share_weights(weight, mask, 4)
    assert codes[1, 2] >= 1 and np.count_nonzero(codes) == 1
    assert codebook[codes[1, 2]] == np.float32(-0.75)
    assert codebook[0] == 0.0


def test_kept_weight_near_zero_never_gets_code_zero():
    weight = np.array([[0.0, 1e-30, -1e-30, 1.0]], np.float32)
    mask = np.array([[True, True, True, True]])
    codes, codebook = share_weights(weight, mask, 2)
    assert np.all(codes >= 1) and codebook.shape == (4,)


def test_pruned_non_finite_weights_are_ignored():
    weight = np.array([[np.nan, 1.0, 2.0]], np.float32)
    codes, _ = share_weights(weight, np.array([[False, True, True]]), 4)
    assert codes[0, 0] == 0 and np.all(codes[0, 1:] >= 1)


@pytest.mark.parametrize("code_bits", [0, 9, 2.0, True])
def test_bad_code_bits(code_bits):
    with pytest.raises(EIEError, match="code_bits"):
        share_weights(np.ones((2, 2), np.float32), np.ones((2, 2), bool), code_bits)


def test_bad_inputs():
    with pytest.raises(EIEError, match="shape"):
        share_weights(np.ones((2, 2)), np.ones((2, 3), bool), 4)
    with pytest.raises(EIEError, match="not finite"):
        share_weights(np.array([np.nan, 1.0]), np.array([True, True]), 4)
    with pytest.raises(EIEError, match="no values"):
        kmeans_1d(np.array([]), 3)
    with pytest.raises(EIEError, match="k=0"):
        linear_init(np.ones(3), 0)
