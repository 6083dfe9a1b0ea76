"""Per-PE CSC encoding of one layer with relative indices and filler zeros (spec section 1).

Row `i` lives in PE `i mod N` at local row `i div N`. For every PE the layer's columns are
stored one after another; each stored entry is `(v, z)`: codebook index `v` and the count
`z` of zero local rows skipped since the previous entry of the column (the first entry
counts from local row 0). A gap longer than `max_skip` is bridged by filler entries
`(0, max_skip)`, each standing for `max_skip + 1` rows.

An entry word is `(z << code_bits) | v`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from eie_hw.config import EIEConfig


@dataclass
class PEColumns:
    """One PE's slice of one layer, in storage order."""
    entries: np.ndarray      # (n_entries,) uint16: (z << code_bits) | v
    col_counts: np.ndarray   # (cols,) int64: entries of each column, fillers included
    fillers: int


def local_rows(rows: int, n_pes: int, pe: int) -> int:
    """Rows of a `rows`-row vector that live in PE `pe`."""
    return max(0, (rows - pe + n_pes - 1) // n_pes)


def encode_pe(codes: np.ndarray, pe: int, config: EIEConfig) -> PEColumns:
    """Encode the rows pe, pe+N, pe+2N, ... of `codes` (rows x cols)."""
    sub = codes[pe::config.n_pes]
    cols = codes.shape[1]
    # Nonzeros of the transpose come out column by column, rows ascending: CSC order.
    col_idx, row_idx = np.nonzero(sub.T)
    values = sub[row_idx, col_idx].astype(np.int64)
    previous = np.empty_like(row_idx)
    previous[1:] = row_idx[:-1]
    first_in_column = np.ones(len(row_idx), dtype=bool)
    first_in_column[1:] = col_idx[1:] != col_idx[:-1]
    previous[first_in_column] = -1
    gap = row_idx - previous - 1
    span = config.max_skip + 1
    fillers = gap // span
    z = gap % span

    n_entries = len(values) + int(fillers.sum())
    filler_word = config.max_skip << config.code_bits
    entries = np.full(n_entries, filler_word, dtype=np.uint16)
    # Each real entry comes after its own fillers.
    position = np.cumsum(fillers + 1) - 1
    entries[position] = (z << config.code_bits) | values

    per_column_cost = np.bincount(col_idx, weights=fillers + 1, minlength=cols)
    return PEColumns(entries=entries, col_counts=per_column_cost.astype(np.int64),
                     fillers=int(fillers.sum()))


def encode_layer(codes: np.ndarray, config: EIEConfig) -> list[PEColumns]:
    return [encode_pe(codes, pe, config) for pe in range(config.n_pes)]


def entry_fields(entries: np.ndarray, config: EIEConfig) -> tuple[np.ndarray, np.ndarray]:
    """Split entry words into (v, z)."""
    entries = np.asarray(entries, dtype=np.int64)
    return entries & (config.codebook_size - 1), entries >> config.code_bits


def decode_pe_entries(entries: np.ndarray, col_counts: np.ndarray,
                      config: EIEConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stored entries back to (local_row, col, code), fillers included (code 0).

    This is the hardware's row address accumulation: row = previous row + z + 1, with
    the previous row at -1 at the start of every column.
    """
    v, z = entry_fields(entries, config)
    cols = np.repeat(np.arange(len(col_counts), dtype=np.int64), col_counts)
    step = z + 1
    running = np.cumsum(step)
    column_start = np.concatenate(([0], np.cumsum(col_counts)[:-1]))
    # Subtract the running total reached before each column's first entry.
    before_column = np.concatenate(([0], running))[column_start]
    rows = running - np.repeat(before_column, col_counts) - 1
    return rows, cols, v


def decode_layer(pe_columns: list[PEColumns], rows: int, cols: int,
                 config: EIEConfig) -> np.ndarray:
    """Rebuild the dense code matrix from per-PE entries (the inverse of encode_layer)."""
    codes = np.zeros((rows, cols), dtype=np.uint8)
    for pe, pc in enumerate(pe_columns):
        local_row, col, v = decode_pe_entries(pc.entries, pc.col_counts, config)
        real = v != 0
        codes[local_row[real] * config.n_pes + pe, col[real]] = v[real]
    return codes
