"""Payload layouts shared between units, derived from the config."""

from amaranth.hdl import signed
from amaranth.lib import data

from .config import EIEConfig


def broadcast_layout(config: EIEConfig) -> data.StructLayout:
    """A broadcast: block k = columns kW .. kW+W-1 (W = bcast_width) and their values.

    A value is zero where its column is zero or past the layer's last column; such a
    column is skipped by every PE. With W = 1 this is the paper's (j, a_j) pair.
    """
    return data.StructLayout({
        "block": config.block_bits,
        "values": data.ArrayLayout(signed(config.act_bits), config.bcast_width),
    })


# A PE's room for broadcasts, for the CCU's send decision one cycle ahead (eie_hw/ccu.py):
# `one` = a free FIFO slot, `two` = two free slots; both from the FIFO's registered level.
fifo_room_layout = data.StructLayout({"one": 1, "two": 1})


def group_layout(config: EIEConfig) -> data.StructLayout:
    """A scanned group in the CCU's queue: the N activations of columns col .. col+N-1
    (zero where the column is zero or past the layer), their non-zero flags, col."""
    return data.StructLayout({
        "values": data.ArrayLayout(signed(config.act_bits), config.n_pes),
        "nonzero": config.n_pes,
        "col": config.col_bits,
    })


def range_layout(config: EIEConfig) -> data.StructLayout:
    """A non-empty column slice of the Spmat: entry addresses start .. end-1; `single` =
    `start + 1 >= end` (one entry), worked out by the pointer stage a cycle ahead so that
    the walker's end-of-range flag is a select, not an add and a compare."""
    return data.StructLayout({"start": config.ptr_bits, "end": config.ptr_bits,
                              "value": signed(config.act_bits), "single": 1})


def entry_layout(config: EIEConfig) -> data.StructLayout:
    """One stored entry on its way to the arithmetic unit."""
    return data.StructLayout({"code": config.code_bits, "z": config.index_bits,
                              "value": signed(config.act_bits), "first": 1})
