"""Payload layouts shared between units, derived from the config."""

from amaranth.hdl import signed
from amaranth.lib import data

from .config import EIEConfig


def broadcast_layout(config: EIEConfig) -> data.StructLayout:
    """A broadcast activation: column j and its value a_j."""
    return data.StructLayout({"col": config.col_bits, "value": signed(config.act_bits)})


def range_layout(config: EIEConfig) -> data.StructLayout:
    """A non-empty column slice of the Spmat: entry addresses start .. end-1."""
    return data.StructLayout({"start": config.ptr_bits, "end": config.ptr_bits,
                              "value": signed(config.act_bits)})


def entry_layout(config: EIEConfig) -> data.StructLayout:
    """One stored entry on its way to the arithmetic unit."""
    return data.StructLayout({"code": config.code_bits, "z": config.index_bits,
                              "value": signed(config.act_bits), "first": 1})
