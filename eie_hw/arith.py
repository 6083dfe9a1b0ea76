"""Arithmetic unit: codebook lookup, row address accumulation, multiply-accumulate."""

from amaranth.hdl import Cat, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import DestinationPortSignature
from .layouts import entry_layout
from .sram import SRAM, SRAMPortSignature, share_with_host


MULTIPLIER_SLICES = 4


def weight_slices(weight_bits: int) -> list[tuple[int, int]]:
    """(lsb, msb) of the weight's slices for the partial products, lowest first: up to
    MULTIPLIER_SLICES of about equal width."""
    parts = min(MULTIPLIER_SLICES, weight_bits)
    bounds = [round(j * weight_bits / parts) for j in range(parts + 1)]
    return list(zip(bounds, bounds[1:]))


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
    - A2: the partial products `value * w_j` of the weight's four slices (w = sum of
      w_j * 2**lsb_j, the top slice signed), each a quarter of the whole multiplier.
    - A2 also issues the destination read of `row` (`dst.raddr`, `dst.ren`).
    - A3: `product` = the sum of the shifted partial products, exact; the destination
      word into a register.
    - A4: `sum = dest + product`, modulo 2**acc_bits. The read of A2 missed the writes
      of the two entries ahead (one writes now, in A5, the other wrote last cycle), so
      when one of them hit the same row its sum is forwarded instead, the nearer one
      first. An entry three ahead writes in the cycle of this entry's read, which the
      write-transparent destination read already returns.
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
        product4 = self._multiply(m, entry.value, cb.port.r_data)

        self._accumulate(m, rows, valid, product4)

        m.d.comb += self.busy.eq(Cat(valid).any())
        with m.If(self.clear_counters):
            m.d.sync += self.macs.eq(0)
        with m.Elif(valid[5]):
            m.d.sync += self.macs.eq(self.macs + 1)
        return m

    def _multiply(self, m, value0, weight1):
        """A0-A3: `value0` (A0) times the codebook word (on the port in A1), exact, in a
        register in A4."""
        cfg = self.config
        value1 = Signal(signed(cfg.act_bits))
        with m.If(self.inp.valid):
            m.d.sync += value1.eq(value0)

        # A1: the weight into a register.
        value2 = Signal.like(value1)
        weight2 = Signal(cfg.weight_bits)
        m.d.sync += [value2.eq(value1), weight2.eq(weight1)]

        # A2: partial products of the weight's slices (the top one signed, the others
        # unsigned: w = sum of w_j * 2**lsb_j), each a quarter of the multiplier.
        partials = []
        for j, (lsb, msb) in enumerate(weight_slices(cfg.weight_bits)):
            piece = weight2[lsb:msb]
            top = msb == cfg.weight_bits
            partial = Signal(signed(cfg.act_bits + (msb - lsb) + (0 if top else 1)),
                             name=f"partial{j}")
            m.d.sync += partial.eq(value2 * (piece.as_signed() if top else piece))
            partials.append((lsb, partial))

        # A3: the exact product.
        product4 = Signal(signed(cfg.act_bits + cfg.weight_bits))
        m.d.sync += product4.eq(sum(partial << lsb for lsb, partial in partials))
        return product4

    def _accumulate(self, m, rows, valid, product4):
        """A2-A5: read the destination row, add the product, write the sum back."""
        cfg = self.config
        row5 = rows[4]
        # The destination read is issued in A2 and its word registered in A3, so the add
        # in A4 starts at flip-flops (not at the accumulator banks' read mux). The two
        # entries ahead write after that read: in A5 now (`sum5`) and in the cycle before
        # (`sum6`, the word written then); a match with either is forwarded instead.
        # Which one matches is known from the rows a stage early, also registered.
        row2, row3, row4 = rows[1], rows[2], rows[3]
        m.d.comb += [self.dst.raddr.eq(row2), self.dst.ren.eq(valid[2])]
        dest4 = Signal(signed(cfg.acc_bits))
        m.d.sync += dest4.eq(self.dst.rdata)

        # A4.
        sum5, sum6 = Signal(signed(cfg.acc_bits)), Signal(signed(cfg.acc_bits))
        m.d.sync += sum6.eq(sum5)
        hit5, hit6 = Signal(), Signal()     # the entry in A4 matches the one in A5 / A6
        m.d.sync += [hit5.eq(valid[4] & (row3 == row4)), hit6.eq(valid[5] & (row3 == row5))]
        dest = Signal(signed(cfg.acc_bits))
        with m.If(hit5):
            m.d.comb += dest.eq(sum5)
        with m.Elif(hit6):
            m.d.comb += dest.eq(sum6)
        with m.Else():
            m.d.comb += dest.eq(dest4)
        with m.If(valid[4]):
            m.d.sync += sum5.eq(dest + product4)  # the assignment truncates: the wrap

        # A5.
        m.d.comb += [self.dst.waddr.eq(row5), self.dst.wdata.eq(sum5), self.dst.we.eq(valid[5])]
