"""A PE's side of the host port: decode the shared host bus into the PE's memories.

Every PE sees the same registered host command (`HostBusSignature`) and compares the
command's PE number with its own `pe_index` (a constant input, not a parameter, so that
every PE stays one module). Only the top level's read-back multiplexer is per PE.
"""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import HostBusSignature, HostPESignature, PEStatusSignature
from .memory_map import (PE_COUNTERS, TARGET_BITS, Target, host_addr_bits, pe_read_bits,
                         pe_select_bits)

# Host port target -> the member of HostPESignature it reaches.
MEMORY_TARGETS = ((Target.SPMAT, ("spmat",)), (Target.PTR_EVEN, ("ptr_even",)),
                  (Target.PTR_ODD, ("ptr_odd",)), (Target.CODEBOOK, ("codebook",)),
                  (Target.BIAS, ("act", "bias")))


def _member(interface, path):
    for name in path:
        interface = getattr(interface, name)
    return interface


class PEHostPort(wiring.Component):
    """Host bus -> the PE's memory ports (I/O mode only) and the PE's read-back word.

    The bus is registered on the way in, so everything happens a cycle after the bus
    carries it. Writes reach the addressed PE's memory (codebook writes reach every PE:
    each keeps its own copy); reads are answered on `rdata`, a register, from the fourth
    cycle after the bus carried the read on (the SRAM word, or the counter for
    Control.PE_* reads, live), until the next read. A write the bus carries with
    `io_mode` high lands even if a start command follows at once: the CCU leaves I/O mode
    a cycle after the start.
    """

    def __init__(self, config: EIEConfig):
        self.config = config
        super().__init__({
            "bus": In(HostBusSignature(config)),
            "pe_index": In(pe_select_bits(config)),
            "io_mode": In(1),
            "counters": In(PEStatusSignature()),
            "mem": Out(HostPESignature(config)),
            "rdata": Out(pe_read_bits(config)),
        })

    def elaborate(self, platform):
        cfg, mem = self.config, self.mem
        m = Module()
        # The shared bus is registered here, in every PE, before anything decodes it: the
        # top level's command register then drives N PEs' flip-flops and nothing else, and
        # the PE's own decode starts at its own flip-flops (issue 13: both were critical
        # paths). Every host access reaches the PE's memories a cycle later; the top level
        # takes the PE's read-back word later too (eie.py, PE_WORD_STAGE).
        bus = HostBusSignature(cfg).create(path=("bus_q",))
        m.d.sync += [getattr(bus, name).eq(getattr(self.bus, name))
                     for name in self.bus.signature.members]
        io = Signal()
        m.d.sync += io.eq(self.io_mode)
        mine = Signal()
        m.d.sync += mine.eq(self.bus.pe == self.pe_index)

        for target, path in MEMORY_TARGETS:
            port = _member(mem, path)
            # Codebook writes are broadcast: every PE keeps its own copy.
            w_hit = (bus.target == target) & (mine | (target == Target.CODEBOOK))
            m.d.comb += [
                port.w_addr.eq(bus.addr), port.w_data.eq(bus.data),
                port.w_en.eq(bus.write & io & w_hit),
                port.r_addr.eq(bus.addr),
                port.r_en.eq(bus.read & io & mine & (bus.target == target)),
            ]
        m.d.comb += [
            mem.act.waddr.eq(bus.addr),
            mem.act.wdata.eq(bus.data[:cfg.act_bits]),
            mem.act.we.eq(bus.write & io & mine & (bus.target == Target.ACT)),
            mem.act.clear.eq(bus.clear_inputs & io),
        ]

        # What the last read asked for, from the cycle its word is there: the memories
        # register the request again (sram.share_with_host), so the word comes two cycles
        # after the bus carried the read. It is registered once more before it leaves the
        # PE, so the top level's 64-way select starts at a flip-flop, not at a macro's
        # clock-to-output and this mux (SRAM words hold until the next read, counters are
        # live).
        read2, target2, addr2 = Signal(), Signal(TARGET_BITS), Signal(host_addr_bits(cfg))
        m.d.sync += [read2.eq(bus.read & mine), target2.eq(bus.target), addr2.eq(bus.addr)]
        r_target = Signal(TARGET_BITS)
        r_addr = Signal(host_addr_bits(cfg))
        with m.If(read2):
            m.d.sync += [r_target.eq(target2), r_addr.eq(addr2)]
        word = Signal.like(self.rdata, name="word")
        with m.Switch(r_target):
            for target, path in MEMORY_TARGETS:
                with m.Case(target):
                    m.d.comb += word.eq(_member(mem, path).r_data)
            with m.Case(Target.CONTROL):
                with m.Switch(r_addr):
                    for address, counter in PE_COUNTERS.items():
                        with m.Case(address):
                            m.d.comb += word.eq(getattr(self.counters, counter))
        m.d.sync += self.rdata.eq(word)
        return m

