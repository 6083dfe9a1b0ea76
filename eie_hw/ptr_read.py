"""Pointer read: column j -> the Spmat entry range p[j] .. p[j+1]-1 (spec 1, dataflow 3)."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .layouts import broadcast_layout, range_layout
from .sram import SRAM, SRAMPortSignature


class PointerRead(wiring.Component):
    """Reads `p[j]` and `p[j+1]` in one cycle from the even and odd pointer banks.

    Pointer address `a = ptr_base + col` is split on its LSB: `p[a]` sits in bank `a & 1`
    at `a >> 1`. If `a` is even, `p[a+1]` is in the odd bank at the same index; if odd,
    it is in the even bank at the next index. Each bank is read once per column.

    Pipeline, two stages, one column per cycle while `out.ready` stays high:

    - cycle t: `inp` transfers, both banks are read (`r_en`);
    - cycle t+1 (S1): the pointers are on the banks' read data; a range with
      `end <= start` (an empty column) is dropped here;
    - cycle t+2: the range is in the output register, `out.valid` high.

    `LATENCY` = 2 cycles from the `inp` transfer to `out.valid`.

    Back-pressure: the bank read data holds until the next read, so S1 simply keeps its
    column there while the output register is stuck, and no new read is issued
    (`inp.ready` low) until S1 can move on. At most two columns are inside the unit.

    I/O mode: the host ports drive both banks (reads and writes); no column is popped.
    Compute mode ignores host writes. Switch modes only while the unit is not `busy`.
    """

    LATENCY = 2

    def __init__(self, config: EIEConfig, even_init=(), odd_init=(), even_file: str = "",
                 odd_file: str = ""):
        self.config = config
        self.even_file, self.odd_file = even_file, odd_file  # image files (Verilog)
        self.even_init = [int(v) for v in even_init]
        self.odd_init = [int(v) for v in odd_init]
        port = SRAMPortSignature(config.ptr_bits, config.ptr_bank_entries)
        super().__init__({
            "inp": In(stream.Signature(broadcast_layout(config))),
            "ptr_base": In(range(config.ptr_entries)),
            "out": Out(stream.Signature(range_layout(config))),
            "busy": Out(1),
            "io_mode": In(1),
            "host_even": In(port),
            "host_odd": In(port),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        depth = cfg.ptr_bank_entries
        m.submodules.even = even = SRAM(width=cfg.ptr_bits, depth=depth, init=self.even_init,
                                           init_file=self.even_file)
        m.submodules.odd = odd = SRAM(width=cfg.ptr_bits, depth=depth, init=self.odd_init,
                                         init_file=self.odd_file)

        s1_valid = Signal()
        s1_odd = Signal()                     # a was odd: p[j] came from the odd bank
        s1_value = Signal(signed(cfg.act_bits))

        start = Mux(s1_odd, odd.port.r_data, even.port.r_data)
        end = Mux(s1_odd, even.port.r_data, odd.port.r_data)
        # `<=` rather than `==`: a corrupt image with p[j+1] < p[j] is dropped instead of
        # making SpmatRead walk around the whole address space.
        s1_empty = end <= start
        out_free = ~self.out.valid | self.out.ready
        s1_moves = ~s1_valid | s1_empty | out_free

        m.d.comb += self.inp.ready.eq(s1_moves & ~self.io_mode)
        pop = Signal()
        m.d.comb += pop.eq(self.inp.valid & self.inp.ready)

        addr = Signal(range(cfg.ptr_entries + (1 << cfg.col_bits)))
        m.d.comb += addr.eq(self.ptr_base + self.inp.payload.col)
        half = addr >> 1

        for bank, host, r_addr in ((even, self.host_even, half + addr[0]),
                                   (odd, self.host_odd, half)):
            m.d.comb += [
                bank.port.w_addr.eq(host.w_addr),
                bank.port.w_data.eq(host.w_data),
                bank.port.w_en.eq(host.w_en & self.io_mode),
                host.r_data.eq(bank.port.r_data),
            ]
            with m.If(self.io_mode):
                m.d.comb += [bank.port.r_addr.eq(host.r_addr), bank.port.r_en.eq(host.r_en)]
            with m.Else():
                m.d.comb += [bank.port.r_addr.eq(r_addr), bank.port.r_en.eq(pop)]

        with m.If(s1_moves):
            m.d.sync += [
                s1_valid.eq(pop),
                s1_odd.eq(addr[0]),
                s1_value.eq(self.inp.payload.value),
            ]
        with m.If(out_free):
            m.d.sync += [
                self.out.valid.eq(s1_valid & ~s1_empty),
                self.out.payload.start.eq(start),
                self.out.payload.end.eq(end),
                self.out.payload.value.eq(s1_value),
            ]

        m.d.comb += self.busy.eq(s1_valid | self.out.valid)
        return m
