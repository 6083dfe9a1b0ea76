"""Arithmetic unit: codebook lookup, row address accumulation, multiply-accumulate."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import DestinationPortSignature
from .layouts import entry_layout
from .sram import SRAM, SRAMPortSignature, share_with_host


class ArithmeticUnit(wiring.Component):
    """The MAC pipeline (docs/architecture.md, ArithmeticUnit): the paper's four stages,
    with the codebook read and the multiplier spread over two more so that no stage holds
    more than one of SRAM read, half a multiplier, or an add (issue 13: 800 MHz and up).

    An entry on `inp` in cycle t is in stage A<k> in cycle t+k and is written in t+5
    (`DEPTH` = 6 stages, `WRITE_LATENCY` = 5 cycles from `inp` to the destination write).
    One entry per cycle, no stall:

    - A0: codebook read at `layer * codebook_size + code`; `row = z` if `first`, else
      `row + z + 1`.
    - A1: the codebook word into a register (the SRAM's clock-to-output is not followed
      by a multiplier in the same cycle).
    - A2: the two partial products `value * w_lo` and `value * w_hi` (w = w_hi * 2**k +
      w_lo, k = weight_bits // 2), each half as deep as the whole multiplier.
    - A3: `product = (p_hi << k) + p_lo`, exact; destination read of `row` (`dst.raddr`,
      `dst.ren`).
    - A4: `sum = dest + product`, modulo 2**acc_bits. The read of A3 missed the write of
      the entry just ahead (it happens now, in A5), so when that entry hit the same row
      its sum is forwarded instead. An entry two ahead writes in the cycle of this
      entry's read, which the write-transparent destination read already returns.
    - A5: destination write (`dst.waddr`, `dst.wdata`, `dst.we`).

    Fillers (code 0) pass like any entry; codebook entry 0 is 0, so they add nothing.

    `macs` counts entries written. In I/O mode the host drives the codebook memory
    (`host_codebook`); switch modes only while not `busy`.
    """

    DEPTH = 6
    WRITE_LATENCY = 5

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
        with m.If(self.inp.valid):
            m.d.sync += row.eq(row_a0)

        # Stage registers: valid, row, and what each stage hands on.
        valid = [Signal(name=f"v{k}") for k in range(6)]
        rows = [row] + [Signal.like(row, name=f"row{k}") for k in range(2, 6)]
        m.d.comb += valid[0].eq(self.inp.valid)
        m.d.sync += [valid[k + 1].eq(valid[k]) for k in range(5)]
        m.d.sync += [rows[k + 1].eq(rows[k]) for k in range(4)]
        row3, row5 = rows[2], rows[4]

        value1 = Signal(signed(cfg.act_bits))
        with m.If(self.inp.valid):
            m.d.sync += value1.eq(entry.value)

        # A1: the weight into a register.
        value2 = Signal.like(value1)
        weight2 = Signal(cfg.weight_bits)
        m.d.sync += [value2.eq(value1), weight2.eq(cb.port.r_data)]

        # A2: partial products (w_lo unsigned, w_hi signed: w = w_hi * 2**k + w_lo).
        k = cfg.weight_bits // 2
        p_lo = Signal(signed(cfg.act_bits + k + 1))
        p_hi = Signal(signed(cfg.act_bits + cfg.weight_bits - k))
        m.d.sync += [p_lo.eq(value2 * weight2[:k]), p_hi.eq(value2 * weight2[k:].as_signed())]

        # A3: the exact product; the destination read.
        product4 = Signal(signed(cfg.act_bits + cfg.weight_bits))
        m.d.sync += product4.eq((p_hi << k) + p_lo)
        m.d.comb += [self.dst.raddr.eq(row3), self.dst.ren.eq(valid[3])]

        # A4.
        row4 = rows[3]
        sum5 = Signal(signed(cfg.acc_bits))
        forward = valid[5] & (row5 == row4)
        dest = Signal(signed(cfg.acc_bits))
        with m.If(forward):
            m.d.comb += dest.eq(sum5)
        with m.Else():
            m.d.comb += dest.eq(self.dst.rdata)
        with m.If(valid[4]):
            m.d.sync += sum5.eq(dest + product4)  # the assignment truncates: the wrap

        # A5.
        m.d.comb += [self.dst.waddr.eq(row5), self.dst.wdata.eq(sum5), self.dst.we.eq(valid[5])]

        m.d.comb += self.busy.eq(Cat(valid).any())
        with m.If(self.clear_counters):
            m.d.sync += self.macs.eq(0)
        with m.Elif(valid[5]):
            m.d.sync += self.macs.eq(self.macs + 1)
        return m
