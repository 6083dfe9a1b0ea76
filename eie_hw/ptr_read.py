"""Pointer read: a broadcast block -> the Spmat entry ranges of its non-zero columns
(spec 1, dataflow 3)."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .layouts import broadcast_layout, range_layout
from .lnzd import LNZD
from .sram import SRAM, SRAMPortSignature, share_with_host


class PointerRead(wiring.Component):
    """Reads the W+1 pointers of a block (W = bcast_width) in one cycle from two banks.

    Pointers are stored W to a word (compress/images.py). Block `k` of the layer is
    word `a = ptr_base / W + k`, holding `p[kW] .. p[kW+W-1]`; `p[kW+W]` is slot 0 of
    word `a+1`. Word `a` sits in bank `a & 1` at `a >> 1`. If `a` is even, word `a+1`
    is in the odd bank at the same index; if odd, in the even bank at the next index.
    Each bank is read once per block. With W = 1 this is the paper's even/odd pair.

    Pipeline, two stages, one block per cycle while the ranges flow:

    - cycle t: `inp` transfers, both banks are read (`r_en`);
    - cycle t+1 (S1): the pointers are on the banks' read data; column `i` of the block
      is *live* if its value is non-zero and its range `p[i] .. p[i+1]-1` is not empty
      (`end <= start` counts as empty); a block with no live column is dropped here;
    - cycle t+2: the block is in the output register; its live ranges go to `out`,
      lowest column first, one per transfer (`out.valid` from this cycle).

    `LATENCY` = 2 cycles from the `inp` transfer to `out.valid`. The output register
    takes the next block in the cycle its last range transfers, so the ranges of
    consecutive blocks follow each other on `out` without a gap.

    Back-pressure: the bank read data holds until the next read, so S1 simply keeps its
    block there while the output register is busy, and no new read is issued
    (`inp.ready` low) until S1 can move on. At most two blocks are inside the unit.

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
        port = SRAMPortSignature(config.ptr_word_bits, config.ptr_bank_entries)
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
        w, bits = cfg.bcast_width, cfg.ptr_bits
        m = Module()
        depth = cfg.ptr_bank_entries
        m.submodules.even = even = SRAM(width=cfg.ptr_word_bits, depth=depth,
                                        init=self.even_init, init_file=self.even_file)
        m.submodules.odd = odd = SRAM(width=cfg.ptr_word_bits, depth=depth,
                                      init=self.odd_init, init_file=self.odd_file)
        values_layout = data.ArrayLayout(signed(cfg.act_bits), w)

        s1_valid = Signal()
        s1_odd = Signal()                     # word a was odd: it came from the odd bank
        s1_values = Signal(values_layout)

        word = Mux(s1_odd, odd.port.r_data, even.port.r_data)
        next_word = Mux(s1_odd, even.port.r_data, odd.port.r_data)
        s1_ptrs = Signal(w * bits + bits)     # p[kW] .. p[kW+W], p[kW] lowest
        m.d.comb += s1_ptrs.eq(Cat(word, next_word[:bits]))
        s1_live = Signal(w)
        for i in range(w):
            start, end = s1_ptrs.word_select(i, bits), s1_ptrs.word_select(i + 1, bits)
            # `<=` rather than `==`: a corrupt image with p[j+1] < p[j] is dropped instead
            # of making SpmatRead walk around the whole address space.
            m.d.comb += s1_live[i].eq((s1_values[i] != 0) & (start < end))

        # Output register: the block's pointers, values and the ranges still to send.
        o_ptrs = Signal(w * bits + bits)
        o_values = Signal(values_layout)
        o_live = Signal(w)
        # The same leading-non-zero pick as the CCU's, over the block's live columns.
        m.submodules.next_range = next_range = LNZD(w)
        index = next_range.index
        m.d.comb += [
            next_range.nonzero.eq(o_live),
            self.out.valid.eq(next_range.valid),
            self.out.payload.start.eq(o_ptrs.word_select(index, bits)),
            self.out.payload.end.eq(o_ptrs.word_select(index + 1, bits)),
            self.out.payload.value.eq(o_values[index]),
        ]
        sent = Signal(w)
        m.d.comb += sent.eq(Mux(self.out.ready, Const(1, w) << index, 0))
        left = o_live & ~sent
        out_free = left == 0
        s1_moves = ~s1_valid | (s1_live == 0) | out_free

        m.d.comb += self.inp.ready.eq(s1_moves & ~self.io_mode)
        pop = Signal()
        m.d.comb += pop.eq(self.inp.valid & self.inp.ready)

        addr = Signal(range(cfg.ptr_entries // w + (1 << cfg.block_bits)))   # word address
        m.d.comb += addr.eq((self.ptr_base >> cfg.bcast_bits) + self.inp.payload.block)
        half = addr >> 1

        for bank, host, r_addr in ((even, self.host_even, half + addr[0]),
                                   (odd, self.host_odd, half)):
            share_with_host(m, bank.port, host, self.io_mode, read_addr=r_addr, read_en=pop)

        with m.If(s1_moves):
            m.d.sync += [
                s1_valid.eq(pop),
                s1_odd.eq(addr[0]),
                s1_values.eq(self.inp.payload.values),
            ]
        with m.If(out_free):
            m.d.sync += [
                o_live.eq(Mux(s1_valid, s1_live, 0)),
                o_ptrs.eq(s1_ptrs),
                o_values.eq(s1_values),
            ]
        with m.Else():
            m.d.sync += o_live.eq(left)

        m.d.comb += self.busy.eq(s1_valid | self.out.valid)
        return m
