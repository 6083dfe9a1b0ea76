"""Arithmetic unit: codebook lookup, row address accumulation, multiply-accumulate."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import DestinationPortSignature
from .layouts import entry_layout
from .sram import SRAM, SRAMPortSignature, share_with_host


class ArithmeticUnit(wiring.Component):
    """The 4-stage MAC pipeline of the paper (docs/architecture.md, ArithmeticUnit).

    An entry on `inp` in cycle t is in stage A0 in cycle t, A1 in t+1, A2 in t+2 and is
    written in t+3 (`DEPTH` = 4 stages, `WRITE_LATENCY` = 3 cycles from `inp` to the
    destination write). One entry per cycle, no stall:

    - A0: codebook read at `layer * codebook_size + code`; `row = z` if `first`, else
      `row + z + 1`.
    - A1: destination read of `row` (`dst.raddr`, `dst.ren`); `value * weight`, exact.
    - A2: `sum = dest + product`, modulo 2**acc_bits. The read of A1 missed the write of
      the entry just ahead (it happens now, in A3), so when that entry hit the same row
      its sum is forwarded instead. An entry two ahead writes in the cycle of this
      entry's read, which the write-transparent destination read already returns.
    - A3: destination write (`dst.waddr`, `dst.wdata`, `dst.we`).

    Fillers (code 0) pass like any entry; codebook entry 0 is 0, so they add nothing.

    `macs` counts entries written. In I/O mode the host drives the codebook memory
    (`host_codebook`); switch modes only while not `busy`.
    """

    DEPTH = 4
    WRITE_LATENCY = 3

    def __init__(self, config: EIEConfig, codebook_init=(), codebook_file: str = ""):
        self.config = config
        self.codebook_file = codebook_file  # image file of the Verilog SRAM
        mask = (1 << config.weight_bits) - 1
        # Images hold two's complement values; negative Python ints are accepted too.
        self.codebook_init = [int(c) & mask for c in codebook_init]
        cfg = config
        self.codebook_depth = cfg.max_layers * cfg.codebook_size
        super().__init__({
            "inp": In(stream.Signature(entry_layout(cfg), always_ready=True)),
            "layer": In(range(cfg.max_layers)),
            "dst": Out(DestinationPortSignature(cfg)),
            "busy": Out(1),
            "macs": Out(32),
            "clear_counters": In(1),
            "io_mode": In(1),
            "host_codebook": In(SRAMPortSignature(cfg.weight_bits, self.codebook_depth)),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.submodules.codebook = cb = SRAM(width=cfg.weight_bits, depth=self.codebook_depth,
                                          init=self.codebook_init,
                                          init_file=self.codebook_file)
        entry = self.inp.payload

        # A0. codebook_size is a power of two, so the address is a concatenation.
        share_with_host(m, cb.port, self.host_codebook, self.io_mode,
                        read_addr=Cat(entry.code, self.layer), read_en=self.inp.valid)

        row = Signal(range(cfg.act_entries))  # row of the last entry that entered A1
        row_a0 = Signal.like(row, name="row_a0")
        with m.If(entry.first):
            m.d.comb += row_a0.eq(entry.z)
        with m.Else():
            m.d.comb += row_a0.eq(row + entry.z + 1)

        v1 = Signal()
        value1 = Signal(signed(cfg.act_bits))
        m.d.sync += v1.eq(self.inp.valid)
        with m.If(self.inp.valid):
            m.d.sync += [row.eq(row_a0), value1.eq(entry.value)]

        # A1: `row` now holds this entry's row.
        v2 = Signal()
        row2 = Signal.like(row)
        product2 = Signal(signed(cfg.act_bits + cfg.weight_bits))
        m.d.comb += [self.dst.raddr.eq(row), self.dst.ren.eq(v1)]
        m.d.sync += [v2.eq(v1), row2.eq(row),
                     product2.eq(value1 * cb.port.r_data.as_signed())]

        # A2.
        v3 = Signal()
        row3 = Signal.like(row)
        sum3 = Signal(signed(cfg.acc_bits))
        forward = v3 & (row3 == row2)
        dest = Signal(signed(cfg.acc_bits))
        with m.If(forward):
            m.d.comb += dest.eq(sum3)
        with m.Else():
            m.d.comb += dest.eq(self.dst.rdata)
        m.d.sync += [v3.eq(v2), row3.eq(row2)]
        with m.If(v2):
            m.d.sync += sum3.eq(dest + product2)  # the assignment truncates: the wrap

        # A3.
        m.d.comb += [self.dst.waddr.eq(row3), self.dst.wdata.eq(sum3), self.dst.we.eq(v3)]

        m.d.comb += self.busy.eq(self.inp.valid | v1 | v2 | v3)
        with m.If(self.clear_counters):
            m.d.sync += self.macs.eq(0)
        with m.Elif(v3):
            m.d.sync += self.macs.eq(self.macs + 1)
        return m
