"""1-D k-means weight sharing with linear initialization (Deep Compression, spec section 4).

In one dimension the clusters of sorted values are contiguous ranges whose boundaries are
the midpoints between sorted centroids. So the values are sorted once, and each Lloyd
iteration is a `searchsorted` of the k-1 midpoints plus prefix-sum differences for the
cluster means: O(k log n) per iteration instead of an (n x k) distance matrix. Millions of
kept weights cluster in about a second.
"""

from __future__ import annotations

import numpy as np

from eie_hw.errors import EIEError
from .prune import check_weight_and_mask

MAX_CODE_BITS = 8   # codes are stored as uint8


def linear_init(values: np.ndarray, k: int) -> np.ndarray:
    """`k` centroids evenly spaced between the min and max of `values` (float64)."""
    _check_k(k)
    flat = _finite_values(values)
    return np.linspace(float(flat.min()), float(flat.max()), k, dtype=np.float64)


def kmeans_1d(values: np.ndarray, k: int, max_iter: int = 100,
              tol: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means on scalars, started from `linear_init`.

    Returns `(centroids, labels)`: `centroids` float64 of shape (k,), sorted ascending;
    `labels` of shape `values.shape`, the index of each value's nearest centroid (the lower
    index on a tie). Stops when the assignment no longer changes, when no centroid moves by
    more than `tol`, or after `max_iter` iterations. A cluster that becomes empty keeps its
    previous centroid.
    """
    centroids = linear_init(values, k)
    flat = np.asarray(values).reshape(-1)
    ordered = np.sort(flat).astype(np.float64, copy=False)
    # Float64 prefix sums: float32 running sums over millions of weights lose the means.
    prefix = np.concatenate(([0.0], np.cumsum(ordered)))
    bounds = None
    for _ in range(max_iter):
        new_bounds = _cluster_bounds(ordered, centroids)
        if bounds is not None and np.array_equal(new_bounds, bounds):
            break
        bounds = new_bounds
        updated = _cluster_means(prefix, bounds, centroids)
        moved = float(np.max(np.abs(updated - centroids)))
        centroids = updated
        if moved <= tol:
            break
    labels = nearest_centroid(flat.astype(np.float64, copy=False), centroids)
    return centroids, labels.reshape(np.shape(values))


def nearest_centroid(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest of the sorted `centroids` for each value (lower index on a tie)."""
    labels = np.searchsorted(_midpoints(centroids), values, side="left")
    return _settle_on_nearest(values, centroids, labels)


def share_weights(weight: np.ndarray, mask: np.ndarray, code_bits: int,
                  max_iter: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Weight sharing of one pruned layer.

    Returns `(codes, codebook)`: `codes` uint8 of `weight.shape`, 0 exactly where `mask` is
    False; `codebook` float32 of length `2**code_bits` with `codebook[0] == 0.0`, reserved
    for pruned weights (and the hardware's filler entries). The kept weights are clustered
    into `2**code_bits - 1` clusters with codes 1 .. 2**code_bits - 1, so a kept weight
    never gets code 0 even when its centroid is close to zero.
    """
    _check_code_bits(code_bits)
    weight, mask = check_weight_and_mask(weight, mask)
    codes = np.zeros(weight.shape, dtype=np.uint8)
    codebook = np.zeros(2 ** code_bits, dtype=np.float32)
    kept = weight[mask]
    if kept.size == 0:
        return codes, codebook
    k = 2 ** code_bits - 1
    distinct = np.unique(kept)
    if distinct.size == k:
        # Already shared (e.g. a model `eie export` wrote): its values are the centroids,
        # with no error, and compressing the export again gives the same codebook.
        centroids = distinct.astype(np.float64)
        labels = np.searchsorted(distinct, kept)
    else:
        centroids, labels = kmeans_1d(kept, k, max_iter=max_iter)
    codes[mask] = labels + 1
    codebook[1:] = centroids
    return codes, codebook


def _cluster_bounds(ordered: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Start of each cluster in `ordered`, plus len(ordered) at the end (k+1 entries)."""
    # side="right": a value on a midpoint joins the lower cluster, as in nearest_centroid.
    inner = np.searchsorted(ordered, _midpoints(centroids), side="right")
    return np.concatenate(([0], inner, [ordered.size]))


def _cluster_means(prefix: np.ndarray, bounds: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    counts = np.diff(bounds)
    sums = prefix[bounds[1:]] - prefix[bounds[:-1]]
    means = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
    # Rounding in the prefix sums could swap two nearly equal means; the midpoint
    # search needs them ascending.
    return np.sort(means)


def _midpoints(centroids: np.ndarray) -> np.ndarray:
    return centroids[:-1] + (centroids[1:] - centroids[:-1]) / 2


def _settle_on_nearest(values, centroids, labels):
    """Correct the midpoint labels where rounding put a value next to its nearest centroid.

    The rounded distance |v - c| is non-increasing then non-decreasing along sorted
    centroids, so walking up while the next is no farther, then down while the previous is
    no farther, ends on the first centroid of minimal distance, which is what an argmin
    over all centroids gives.
    """
    last = centroids.size - 1
    _walk(values, centroids, labels, step=+1, stop=last)
    _walk(values, centroids, labels, step=-1, stop=0)
    return labels


def _walk(values, centroids, labels, step: int, stop: int) -> None:
    active = np.flatnonzero(labels != stop)
    while active.size:
        here = labels[active]
        v = values[active]
        closer = np.abs(v - centroids[here + step]) <= np.abs(v - centroids[here])
        active = active[closer]
        labels[active] += step
        active = active[labels[active] != stop]


def _finite_values(values: np.ndarray) -> np.ndarray:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype.kind not in "fiu":
        raise EIEError(
            f"cannot cluster values of dtype {flat.dtype}; pass real numbers (float32)"
        )
    if flat.size == 0:
        raise EIEError("no values to cluster; k-means needs at least one value")
    finite = np.isfinite(flat)
    if not finite.all():
        bad = flat.size - int(np.count_nonzero(finite))
        raise EIEError(
            f"{bad} of the values to cluster are not finite (NaN or inf); fix the weights "
            "before weight sharing"
        )
    return flat


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise EIEError(f"number of clusters k={k!r} is invalid; give an integer >= 1")


def _check_code_bits(code_bits: int) -> None:
    valid = isinstance(code_bits, (int, np.integer)) and not isinstance(code_bits, bool)
    if not valid or not 1 <= code_bits <= MAX_CODE_BITS:
        raise EIEError(
            f"code_bits={code_bits!r} is out of range; give an integer from 1 to "
            f"{MAX_CODE_BITS} (4 gives the paper's 16-entry codebook)"
        )


