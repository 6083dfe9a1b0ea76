"""Magnitude pruning (Deep Compression, spec section 4): keep the largest |w|, zero the rest.

Selection uses `np.partition` (linear time) rather than a full sort, because the VGG-6
layer has 100M weights. Ties at the threshold are broken by position (earlier flat index
wins, layers in list order for global pruning), so a given input always gives the same
mask. Exact zeros are never kept: a kept zero would cost an entry in the hardware and
add nothing.
"""

from __future__ import annotations

import math

import numpy as np

from eie_hw.errors import EIEError


def prune_mask(weight: np.ndarray, density: float) -> np.ndarray:
    """Boolean mask keeping the `round(density * weight.size)` largest-magnitude weights."""
    _check_density(density)
    weight = _checked(weight, "the layer")
    return _masks_over([weight], round(density * weight.size))[0]


def global_prune_masks(weights: list[np.ndarray], density: float) -> list[np.ndarray]:
    """One magnitude threshold over all layers, so that the overall kept fraction is `density`.

    Layers with many small weights lose more of them than layers with large ones; this is
    the alternative to pruning every layer to the same density with `prune_mask`.
    """
    _check_density(density)
    weights = [_checked(w, f"layer {i}") for i, w in enumerate(weights)]
    return _masks_over(weights, round(density * sum(w.size for w in weights)))


def check_weight_and_mask(weight, mask) -> tuple[np.ndarray, np.ndarray]:
    """Both as arrays, the mask as bool; a shape mismatch is the caller's error."""
    weight = np.asarray(weight)
    mask = np.asarray(mask)
    if weight.shape != mask.shape:
        raise EIEError(
            f"mask shape {mask.shape} does not match weight shape {weight.shape}; "
            "pass the mask that prune_mask returned for this weight"
        )
    return weight, mask.astype(bool, copy=False)


def apply_mask(weight: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """`weight` with the weights outside `mask` set to zero (same dtype, new array)."""
    weight, mask = check_weight_and_mask(weight, mask)
    return np.where(mask, weight, weight.dtype.type(0))


def _check_density(density: float) -> None:
    ok = isinstance(density, (int, float, np.integer, np.floating)) and not isinstance(density, bool)
    if not ok or not math.isfinite(density) or not 0.0 < density <= 1.0:
        raise EIEError(
            f"density {density!r} is out of range; give the fraction of weights to keep, "
            "a number greater than 0 and at most 1 (e.g. 0.04 for 4 %)"
        )


def _checked(weight: np.ndarray, what: str) -> np.ndarray:
    """`weight` as a finite float array (the caller's array itself when it already is one)."""
    weight = np.asarray(weight)
    if weight.dtype.kind not in "fiub":
        raise EIEError(
            f"{what} has dtype {weight.dtype}; weights must be real numbers, convert them "
            "to float32 first"
        )
    if weight.dtype.kind != "f":
        # abs() of the most negative integer overflows; float64 holds every int32 exactly.
        weight = weight.astype(np.float64)
    # min/max propagate NaN and expose inf without a full-size temporary.
    if weight.size and not (np.isfinite(weight.min()) and np.isfinite(weight.max())):
        bad = weight.size - int(np.count_nonzero(np.isfinite(weight)))
        raise EIEError(
            f"{what} has {bad} non-finite weight(s) (NaN or inf); fix or drop the layer "
            "before pruning, its training has likely diverged"
        )
    return weight


def _masks_over(weights: list[np.ndarray], keep: int) -> list[np.ndarray]:
    """Masks keeping the `keep` largest non-zero |w| over all of `weights` together."""
    keep = min(keep, sum(int(np.count_nonzero(w)) for w in weights))
    if keep == 0:
        return [np.zeros(w.shape, dtype=bool) for w in weights]
    threshold = _kth_largest_magnitude(weights, keep)
    masks = [_magnitude_at_least(w, threshold) for w in weights]
    _drop_late_ties(masks, weights, threshold, sum(int(np.count_nonzero(m)) for m in masks) - keep)
    return masks


def _kth_largest_magnitude(weights: list[np.ndarray], k: int):
    # One owned buffer of |w|, partitioned in place: the largest temporary of the whole
    # pruning step, and the caller's weights stay untouched.
    dtype = np.result_type(*weights)
    mags = np.empty(sum(w.size for w in weights), dtype=dtype)
    start = 0
    for w in weights:
        np.abs(w.ravel(order="K"), out=mags[start:start + w.size])
        start += w.size
    mags.partition(mags.size - k)
    return mags[mags.size - k]


def _magnitude_at_least(weight: np.ndarray, threshold) -> np.ndarray:
    # Compared on w itself so no float |w| copy is needed; C order so that flat indices
    # (the tie-break order) index the mask through a view.
    mask = np.greater_equal(weight, threshold, order="C")
    np.logical_or(mask, weight <= -threshold, out=mask)
    return mask


def _drop_late_ties(masks, weights, threshold, excess: int) -> None:
    """Unkeep the last `excess` weights with |w| == `threshold`, walking from the back."""
    for mask, weight in zip(reversed(masks), reversed(weights)):
        if excess <= 0:
            return
        ties = np.flatnonzero((weight == threshold) | (weight == -threshold))
        drop = ties[max(0, ties.size - excess):]
        mask.reshape(-1)[drop] = False
        excess -= drop.size
