"""What the host sends over the host port, independent of the simulator that carries it.

Both the Amaranth and the Verilator harness drive the same command sequences, so the
loading path and the run protocol are defined once, here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from compress.images import MemoryImages
from eie_hw.memory_map import (CMD_CLEAR_INPUTS, CMD_START, CMD_STEP, STATUS_BUSY,  # noqa: F401
                               STATUS_DONE, STATUS_PAUSED, Control, Target)
from eie_hw.pe import PEImages


@dataclass(frozen=True)
class Write:
    target: int
    addr: int
    data: int
    pe: int = 0


def load_commands(images: MemoryImages) -> list[Write]:
    """Every memory word of the images, as host-port writes (the realistic load path)."""
    cfg = images.config
    commands = [Write(Target.LAYERS, i, d.word(cfg)) for i, d in enumerate(images.layers)]
    for p in range(cfg.n_pes):
        words = PEImages(images, p)
        if p == 0:   # codebook writes reach every PE at once
            commands += [Write(Target.CODEBOOK, a, w) for a, w in enumerate(words.codebook)]
        for target, contents in ((Target.SPMAT, words.spmat), (Target.PTR_EVEN, words.ptr_even),
                                 (Target.PTR_ODD, words.ptr_odd), (Target.BIAS, words.bias)):
            commands += [Write(target, a, w, p) for a, w in enumerate(contents)]
    return commands


def input_commands(x_int: np.ndarray, n_pes: int, act_bits: int) -> list[Write]:
    """Clear the input bank, then write every non-zero input activation."""
    mask = (1 << act_bits) - 1
    commands = [Write(Target.CONTROL, Control.STATUS, CMD_CLEAR_INPUTS)]
    for j in np.flatnonzero(x_int):
        commands.append(Write(Target.ACT, int(j) // n_pes, int(x_int[j]) & mask, int(j) % n_pes))
    return commands


def output_addresses(rows: int, n_pes: int, row_order=None) -> list[tuple[int, int]]:
    """(pe, local row) of outputs 0 .. rows-1.

    `row_order` (a load-balanced layer's, compress/balance.py): output `i` is the original
    row `i`, stored at the position `q` with `row_order[q] == i`.
    """
    if row_order is None:
        return [(i % n_pes, i // n_pes) for i in range(rows)]
    position = np.empty(rows, dtype=np.int64)
    position[np.asarray(row_order, dtype=np.int64)] = np.arange(rows)
    return [(int(q) % n_pes, int(q) // n_pes) for q in position]


def to_signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value
