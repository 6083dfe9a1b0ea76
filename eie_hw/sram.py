"""The one SRAM abstraction every on-chip memory goes through.

In Amaranth it elaborates to `amaranth.lib.memory.Memory` with one synchronous,
write-transparent read port and one write port; a later step maps the same ports to
SRAM macros for an ASIC flow. Keeping every memory behind this class is what makes
that swap a one-place change.
"""

from amaranth.hdl import Elaboratable, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out


class SRAMPortSignature(wiring.Signature):
    """One read and one write port, seen from the side that drives the addresses.

    `r_data` holds the word addressed in the cycle `r_en` was high, from the next
    cycle on, until the next read.
    """

    def __init__(self, width: int, depth: int):
        self.width, self.depth = width, depth
        super().__init__({
            "r_addr": Out(range(max(depth, 2))),
            "r_en": Out(1),
            "r_data": In(width),
            "w_addr": Out(range(max(depth, 2))),
            "w_en": Out(1),
            "w_data": Out(width),
        })


class SRAM(wiring.Component):
    """`depth` x `width` memory, optionally initialized (the backdoor load)."""

    def __init__(self, *, width: int, depth: int, init=()):
        self.width, self.depth = width, depth
        self.init = list(init)
        if len(self.init) > depth:
            raise ValueError(f"SRAM init has {len(self.init)} words for depth {depth}")
        super().__init__({"port": In(SRAMPortSignature(width, depth))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.mem = mem = Memory(shape=self.width, depth=self.depth, init=self.init)
        wp = mem.write_port()
        rp = mem.read_port(transparent_for=(wp,))
        m.d.comb += [
            wp.addr.eq(self.port.w_addr), wp.en.eq(self.port.w_en),
            wp.data.eq(self.port.w_data),
            rp.addr.eq(self.port.r_addr), rp.en.eq(self.port.r_en),
            self.port.r_data.eq(rp.data),
        ]
        return m
