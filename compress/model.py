"""The compressed network as the front end hands it on.

A `CompressedLayer` is one fully connected layer after pruning and weight sharing:
a dense matrix of codebook indices (0 = pruned), its float codebook (entry 0 exactly 0)
and the fixed-point weight fraction `s` chosen for it. Everything downstream (packing,
Huffman coding, the golden model's float reference) starts from this.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class CompressedLayer:
    name: str
    codes: np.ndarray            # (rows, cols) uint8, 0 = zero weight
    codebook: np.ndarray         # (2**code_bits,) float32, codebook[0] == 0
    weight_frac: int             # s: fixed-point fraction bits of the codebook
    relu: bool
    bias: np.ndarray | None = None   # (rows,) float32, or None
    # Statistics from the steps before packing, carried into the report.
    dense_weights: int = 0       # rows * cols of the original layer
    stats: dict = field(default_factory=dict)
    # Row-to-PE assignment (compress/balance.py): row_order[q] = the original row stored
    # at position q (PE q mod N); None = the paper's interleaving (identity). When set,
    # `codes` and `bias` are in the stored order (and the columns follow the previous
    # layer's row_order).
    row_order: np.ndarray | None = None

    @property
    def rows(self) -> int:
        return int(self.codes.shape[0])

    @property
    def cols(self) -> int:
        return int(self.codes.shape[1])

    @property
    def nonzeros(self) -> int:
        return int(np.count_nonzero(self.codes))

    def shared_weights(self) -> np.ndarray:
        """The float weight matrix the codes stand for (for float references)."""
        return self.codebook.astype(np.float64)[self.codes]

    def bias_or_zeros(self) -> np.ndarray:
        if self.bias is None:
            return np.zeros(self.rows, dtype=np.float32)
        return self.bias


@dataclass
class CompressedModel:
    layers: list[CompressedLayer]
    source: str = ""
