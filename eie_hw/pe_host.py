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

    Writes reach the addressed PE's memory (codebook writes reach every PE: each keeps
    its own copy); reads are answered on `rdata` from the cycle after the read on (the
    SRAM word, or the counter for Control.PE_* reads, live), until the next read.
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
        cfg, bus, mem, io = self.config, self.bus, self.mem, self.io_mode
        m = Module()
        mine = bus.pe == self.pe_index

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
        # Activation writes and clears land a cycle late, from registers: the decode of
        # the shared bus then ends here, not in the touched-bit logic of both banks (the
        # PE's critical path, issue 13). Nothing can observe the delay: activations are
        # read through the scan path, several cycles later, and a start command issued
        # right after still finds them (FETCH and DECODE come before the first scan).
        m.d.sync += [
            mem.act.waddr.eq(bus.addr),
            mem.act.wdata.eq(bus.data[:cfg.act_bits]),
            mem.act.we.eq(bus.write & io & mine & (bus.target == Target.ACT)),
            mem.act.clear.eq(bus.clear_inputs & io),
        ]

        # What the last read asked for; the answer is combinational from then on (SRAM
        # words hold until the next read, counters are live).
        r_target = Signal(TARGET_BITS)
        r_addr = Signal(host_addr_bits(cfg))
        with m.If(bus.read & mine):
            m.d.sync += [r_target.eq(bus.target), r_addr.eq(bus.addr)]
        with m.Switch(r_target):
            for target, path in MEMORY_TARGETS:
                with m.Case(target):
                    m.d.comb += self.rdata.eq(_member(mem, path).r_data)
            with m.Case(Target.CONTROL):
                with m.Switch(r_addr):
                    for address, counter in PE_COUNTERS.items():
                        with m.Case(address):
                            m.d.comb += self.rdata.eq(getattr(self.counters, counter))
        return m

