"""Magnitude pruning: kept count, kept set, tie-breaking, global threshold, bad input."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from compress.prune import apply_mask, global_prune_masks, prune_mask
from eie_hw.errors import EIEError

finite_f32 = st.floats(-100, 100, width=32, allow_nan=False, allow_infinity=False)
densities = st.floats(0.01, 1.0, allow_nan=False)
matrices = arrays(np.float32, st.tuples(st.integers(1, 12), st.integers(1, 12)),
                  elements=finite_f32)


@settings(max_examples=100, deadline=None)
@given(matrices, densities)
def test_keeps_the_largest_magnitudes(w, density):
    mask = prune_mask(w, density)
    expected = min(round(density * w.size), np.count_nonzero(w))
    assert mask.dtype == bool and mask.shape == w.shape
    assert np.count_nonzero(mask) == expected
    assert not np.any(mask & (w == 0))
    if 0 < expected < w.size:
        assert np.abs(w[mask]).min() >= np.abs(w[~mask]).max()


def test_count_is_round_of_density_times_size():
    w = np.arange(1, 101, dtype=np.float32).reshape(10, 10)
    mask = prune_mask(w, 0.04)
    assert np.count_nonzero(mask) == 4
    assert set(w[mask].tolist()) == {97.0, 98.0, 99.0, 100.0}


def test_negative_weights_count_by_magnitude():
    w = np.array([[-5.0, 1.0], [2.0, -0.5]], dtype=np.float32)
    assert prune_mask(w, 0.5).tolist() == [[True, False], [True, False]]


def test_ties_keep_the_earliest_positions():
    w = np.array([3.0, -1.0, 1.0, 1.0, -1.0, 0.0], dtype=np.float32)
    assert prune_mask(w, 0.5).tolist() == [True, True, True, False, False, False]


def test_exact_zeros_are_never_kept():
    w = np.array([[0.0, -0.0, 0.25], [0.0, 0.0, 0.0]], dtype=np.float32)
    mask = prune_mask(w, 1.0)
    assert mask.tolist() == [[False, False, True], [False, False, False]]
    assert not prune_mask(np.zeros((3, 3), np.float32), 0.5).any()


def test_non_contiguous_input_ties_follow_row_major_order():
    w = np.ones((3, 4), dtype=np.float32).T   # Fortran-ordered view
    mask = prune_mask(w, 0.25)
    assert mask.flatten().tolist() == [True] * 3 + [False] * 9


def test_input_is_not_modified():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((20, 30)).astype(np.float32)
    before = w.copy()
    prune_mask(w, 0.3)
    global_prune_masks([w, w[:5]], 0.3)
    assert np.array_equal(w, before)


@settings(max_examples=60, deadline=None)
@given(st.lists(matrices, min_size=1, max_size=4), densities)
def test_global_pruning_uses_one_threshold(layers, density):
    masks = global_prune_masks(layers, density)
    total = sum(w.size for w in layers)
    nonzero = sum(np.count_nonzero(w) for w in layers)
    assert [m.shape for m in masks] == [w.shape for w in layers]
    assert sum(np.count_nonzero(m) for m in masks) == min(round(density * total), nonzero)
    kept = np.concatenate([np.abs(w[m]) for w, m in zip(layers, masks)])
    pruned = np.concatenate([np.abs(w[~m]) for w, m in zip(layers, masks)])
    if kept.size and pruned.size:
        assert kept.min() >= pruned.max()


def test_global_pruning_differs_from_per_layer():
    small = np.full((10, 10), 0.01, dtype=np.float32)
    large = np.full((10, 10), 1.0, dtype=np.float32)
    masks = global_prune_masks([small, large], 0.5)
    assert not masks[0].any() and masks[1].all()


def test_global_pruning_breaks_ties_by_layer_order():
    layers = [np.ones(4, np.float32), np.ones(4, np.float32)]
    masks = global_prune_masks(layers, 0.75)
    assert masks[0].all() and masks[1].tolist() == [True, True, False, False]


def test_apply_mask_zeroes_pruned_weights():
    w = np.array([[1.5, -2.0], [3.0, 0.5]], dtype=np.float32)
    out = apply_mask(w, prune_mask(w, 0.5))
    assert out.dtype == np.float32
    assert out.tolist() == [[0.0, -2.0], [3.0, 0.0]]


def test_apply_mask_shape_mismatch():
    with pytest.raises(EIEError, match="shape"):
        apply_mask(np.ones((2, 3)), np.ones((3, 2), bool))


@pytest.mark.parametrize("density", [0, 0.0, -0.1, 1.5, float("nan"), True, "0.5"])
def test_bad_density(density):
    with pytest.raises(EIEError, match="density"):
        prune_mask(np.ones((2, 2), np.float32), density)
    with pytest.raises(EIEError, match="density"):
        global_prune_masks([np.ones((2, 2), np.float32)], density)


def test_non_finite_weights_are_counted():
    w = np.ones((4, 4), dtype=np.float32)
    w[0, 0], w[1, 2], w[3, 3] = np.nan, np.inf, -np.inf
    with pytest.raises(EIEError, match="3 non-finite"):
        prune_mask(w, 0.5)
    with pytest.raises(EIEError, match="layer 1 has 3 non-finite"):
        global_prune_masks([np.ones(3, np.float32), w], 0.5)


def test_integer_weights_do_not_overflow():
    w = np.array([-128, 1, 127, 0], dtype=np.int8)
    assert prune_mask(w, 0.25).tolist() == [True, False, False, False]
