"""Row-to-PE assignment: the paper's interleaving, or a load-balanced permutation of rows.

The hardware places stored row `q` of a layer in PE `q mod N` at local row `q div N`
(spec section 1), and the next layer reads the stored output `q` as its input column
`q`. The compressor is free to choose *which* original row is stored at position `q`:

- ``"interleave"`` (default, the paper's): stored row `q` = original row `q`, so row `i`
  lives in PE `i mod N`. Nothing is permuted (``row_order`` is None).
- ``"balanced"``: a permutation ``row_order`` (``row_order[q]`` = the original row stored
  at position `q`) chosen so that every PE gets about the same work, *per column*, so
  that the PEs' work is balanced for *any* input vector (only the columns of non-zero
  activations count), not only in total, and the PEs stay in step along the broadcast
  order (what the activation FIFOs need): a greedy vector balancing over single columns
  and blocks of consecutive columns, then swaps that even out the totals
  (`balanced_row_order` has the details). A PE holds exactly as many rows as under
  interleaving (``ceil`` or ``floor(rows / N)``: ``compress.encode.local_rows``), so
  memory sizes do not change. PE `p`'s rows are stored in ascending original order.

A permuted layer stores ``codes[row_order]`` and ``bias[row_order]``; the next layer's
columns are permuted with it (``codes[:, previous row_order]``), so the network computes
the same values, in the permuted order, on chip. The first layer's columns (the network
inputs) are never permuted; the final layer's outputs are put back in the original order
by whoever reads them (``sim.golden``, the hardware harnesses through
``sim.host.output_addresses``). Intermediate layers' outputs stay in the stored order.

Each layer's ``row_order`` is kept in ``CompressedLayer.row_order``, in the model
container's header and in the image manifest (docs/formats.md).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from eie_hw.errors import EIEError

from .encode import local_rows
from .model import CompressedLayer

BALANCE_MODES = ("interleave", "balanced")


def check_mode(mode: str) -> str:
    if mode not in BALANCE_MODES:
        raise EIEError(f"unknown row assignment {mode!r}: use one of "
                       f"{', '.join(BALANCE_MODES)} (--balance)")
    return mode


# Column scales the greedy balances at: single columns, and blocks of 16 and 128
# consecutive columns (the activation FIFOs absorb differences between PEs over a few
# columns, not over hundreds: balancing blocks keeps the PEs in step).
BLOCK_SCALES = (16, 128)


def balanced_row_order(codes: np.ndarray, n_pes: int,
                       block_scales: tuple[int, ...] = BLOCK_SCALES,
                       swap_passes: int | None = None) -> np.ndarray:
    """The load-balanced permutation of the rows of `codes` (rows x cols) over `n_pes` PEs.

    1. Greedy, heaviest row first: each row goes to the PE with room left that minimizes
       its projected entries in the row's columns, summed over the scales (single columns
       and `block_scales`): the entries the PE already has there, plus its remaining room
       times the average entries a remaining row has there (so that PEs that must take
       one more row than others, when rows is not a multiple of N, get lighter rows).
    2. Swaps, for the totals: while some pair of rows, one from the PE with the most
       entries and one from a lighter PE, narrows their gap, swap the pair that halves
       it best (at most `swap_passes`, default 50 N, swaps).
    Returns ``order`` with ``order[q]`` = the original row stored at position `q`.
    """
    codes = np.asarray(codes)
    rows, cols = codes.shape
    if rows == 0:
        return np.zeros(0, dtype=np.int64)
    capacity = np.array([local_rows(rows, n_pes, p) for p in range(n_pes)], dtype=np.int64)
    nonzero = codes != 0
    nz_rows, nz_cols = np.nonzero(nonzero)            # row-major: grouped by row
    per_row = np.bincount(nz_rows, minlength=rows).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(per_row)))

    column_load = np.zeros((cols, n_pes), dtype=np.float32)    # entries per column and PE
    column_left = np.bincount(nz_cols, minlength=cols).astype(np.float64)
    blocks = []   # (per-row entries per block, per-PE entries per block, entries left)
    for size in block_scales:
        if size <= 1 or size >= cols:
            continue
        per_block = np.add.reduceat(nonzero, np.arange(0, cols, size), axis=1,
                                    dtype=np.float64)
        blocks.append((per_block, np.zeros((n_pes, per_block.shape[1])),
                       per_block.sum(axis=0)))
    room = capacity.astype(np.float64)
    rows_left = rows
    load = np.zeros(n_pes, dtype=np.int64)
    owner = np.empty(rows, dtype=np.int64)
    for i in np.argsort(-per_row, kind="stable"):
        c = nz_cols[starts[i]:starts[i + 1]]
        score = column_load[c].sum(axis=0) + (room - 1) * (column_left[c].sum() / rows_left)
        for per_block, pe_blocks, left in blocks:
            r = per_block[i]
            score += pe_blocks @ r + (room - 1) * (float(left @ r) / rows_left)
        score[room <= 0] = np.inf
        # Lowest score; ties: fewest entries, then lowest PE.
        best = np.flatnonzero(score <= score.min() + 1e-9)
        p = int(best[np.argmin(load[best])])
        owner[i] = p
        column_load[c, p] += 1
        column_left[c] -= 1
        for per_block, pe_blocks, left in blocks:
            pe_blocks[p] += per_block[i]
            left -= per_block[i]
        room[p] -= 1
        rows_left -= 1
        load[p] += len(c)

    bins = [np.flatnonzero(owner == p) for p in range(n_pes)]
    _swap_for_totals(bins, per_row, 50 * n_pes if swap_passes is None else swap_passes)
    order = np.empty(rows, dtype=np.int64)
    for p, members in enumerate(bins):
        order[p + n_pes * np.arange(len(members))] = np.sort(members)
    return order


def _swap_for_totals(bins: list[np.ndarray], weight: np.ndarray, max_swaps: int) -> None:
    """Swap rows between PEs (in place) to even out their total entries."""
    load = np.array([weight[b].sum() for b in bins], dtype=np.int64)
    for _ in range(max_swaps):
        heavy = int(np.argmax(load))
        for light in np.argsort(load, kind="stable"):
            light = int(light)
            gap = load[heavy] - load[light]
            if gap <= 1:
                return
            if not len(bins[heavy]) or not len(bins[light]):
                continue
            d = weight[bins[heavy]][:, None] - weight[bins[light]][None, :]
            useful = (d > 0) & (d < gap)
            if not useful.any():
                continue
            cost = np.where(useful, np.abs(2 * d - gap), np.iinfo(np.int64).max)
            a, b = np.unravel_index(int(np.argmin(cost)), cost.shape)
            ra, rb = bins[heavy][a], bins[light][b]
            bins[heavy][a], bins[light][b] = rb, ra
            load[heavy] += weight[rb] - weight[ra]
            load[light] += weight[ra] - weight[rb]
            break
        else:
            return


def row_order(codes: np.ndarray, n_pes: int, mode: str) -> np.ndarray | None:
    """The permutation for `mode` (None for the identity of ``"interleave"``)."""
    if check_mode(mode) == "interleave":
        return None
    return balanced_row_order(codes, n_pes)


def check_row_order(order, rows: int, what: str,
                    hint: str = "the file is corrupt: re-run `eie compress`"
                    ) -> np.ndarray | None:
    """`order` as an int64 permutation of range(rows), or an EIEError naming `what`."""
    if order is None:
        return None
    array = np.asarray(order)
    if (array.ndim != 1 or len(array) != rows or not np.issubdtype(array.dtype, np.integer)
            or not np.array_equal(np.sort(array), np.arange(rows))):
        raise EIEError(f"{what}: row_order is not a permutation of the layer's {rows} "
                       f"rows; {hint}")
    return array.astype(np.int64)


def inverse(order: np.ndarray) -> np.ndarray:
    """inv[i] = stored position of original row i."""
    inv = np.empty_like(order)
    inv[order] = np.arange(len(order), dtype=order.dtype)
    return inv


def assign_rows(layers: list[CompressedLayer], n_pes: int,
                mode: str = "interleave") -> list[CompressedLayer]:
    """The layers as stored for `mode`: rows permuted (row_order set), columns following.

    `layers` must be in the original order (no row_order). With ``"interleave"`` the
    same objects are returned unchanged.
    """
    check_mode(mode)
    if any(layer.row_order is not None for layer in layers):
        raise EIEError("assign_rows: the layers are already permuted; pass them through "
                       "original_layers() first")
    if mode == "interleave":
        return list(layers)
    out, previous = [], None
    for layer in layers:
        order = balanced_row_order(layer.codes, n_pes)
        codes = layer.codes[order]
        if previous is not None:
            codes = codes[:, previous]
        bias = None if layer.bias is None else np.asarray(layer.bias)[order]
        out.append(dataclasses.replace(layer, codes=np.ascontiguousarray(codes), bias=bias,
                                       row_order=order))
        previous = order
    return out


def original_layers(layers: list[CompressedLayer]) -> list[CompressedLayer]:
    """Undo assign_rows: the layers in the original row and column order."""
    out, previous = [], None
    for layer in layers:
        codes, bias = layer.codes, layer.bias
        if previous is not None:
            codes = codes[:, inverse(previous)]
        order = layer.row_order
        if order is not None:
            inv = inverse(np.asarray(order, dtype=np.int64))
            codes = codes[inv]
            bias = None if bias is None else np.asarray(bias)[inv]
        out.append(dataclasses.replace(layer, codes=np.ascontiguousarray(codes), bias=bias,
                                       row_order=None))
        previous = None if order is None else np.asarray(order, dtype=np.int64)
    return out
