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


def range_layout(config: EIEConfig) -> data.StructLayout:
    """A non-empty column slice of the Spmat: entry addresses start .. end-1."""
    return data.StructLayout({"start": config.ptr_bits, "end": config.ptr_bits,
                              "value": signed(config.act_bits)})


def entry_layout(config: EIEConfig) -> data.StructLayout:
    """One stored entry on its way to the arithmetic unit."""
    return data.StructLayout({"code": config.code_bits, "z": config.index_bits,
                              "value": signed(config.act_bits), "first": 1})
