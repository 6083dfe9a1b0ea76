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

    Pipeline, three stages, one block per cycle while the ranges flow:

    - cycle t: `inp` transfers, both banks are read (`r_en`);
    - cycle t+1 (R): the pointers are on the banks' read data, and go, in the block's
      order, into S2's registers;
    - cycle t+2 (S2): column `i` of the block is *live* if its value is non-zero and its
      range `p[i] .. p[i+1]-1` is not empty (`end <= start` counts as empty); a block with
      no live column is dropped here;
    - cycle t+3: the block is in the output register; its live ranges go to `out`,
      lowest column first, one per transfer (`out.valid` from this cycle).

    `LATENCY` = 3 cycles from the `inp` transfer to `out.valid`. The output register
    takes the next block in the cycle its last range transfers, so the ranges of
    consecutive blocks follow each other on `out` without a gap. The range compares are
    made from S2's registers, a cycle after the read: the FIFO pop (`inp.ready`) then
    waits on registers and a compare, never on the pointer macros' clock-to-output (the
    PE's critical path before, issue 13).

    Back-pressure: the bank read data holds until the next read, so R simply keeps its
    block there while S2 is full, and no new read is issued (`inp.ready` low) until R can
    move on. At most three blocks are inside the unit.

    `ptr_base` is taken into a register: set it a cycle before the first block.

    I/O mode: the host ports drive both banks (reads and writes); no column is popped.
    Compute mode ignores host writes. Switch modes only while the unit is not `busy`.
    """

    LATENCY = 3

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

        # R: the block whose pointers the banks are reading out.
        r_valid = Signal()
        r_odd = Signal()                      # word a was odd: it came from the odd bank
        r_values = Signal(values_layout)
        word = Mux(r_odd, odd.port.r_data, even.port.r_data)
        next_word = Mux(r_odd, even.port.r_data, odd.port.r_data)

        # S2: the block and its pointers p[kW] .. p[kW+W] (p[kW] lowest), in registers.
        s2_valid = Signal()
        s2_values = Signal(values_layout)
        s2_ptrs = Signal(w * bits + bits)
        s2_live, s2_single = self._ranges(m, s2_ptrs, s2_values)
        # Output register: the block's pointers, values and the ranges still to send.
        out_free = self._output(m, s2_valid, s2_ptrs, s2_values, s2_live, s2_single)
        s2_moves = ~s2_valid | (s2_live == 0) | out_free
        r_moves = ~r_valid | s2_moves

        m.d.comb += self.inp.ready.eq(r_moves & ~self.io_mode)
        pop = Signal()
        m.d.comb += pop.eq(self.inp.valid & self.inp.ready)

        # Word address a = base + block. The even bank reads (a + 1) >> 1, from a second
        # adder whose base is one higher, so that each bank's address is one add away
        # from the FIFO's read data. The base is a register: ptr_base is set when a
        # layer's descriptor is decoded, many cycles before that layer's first block.
        word_bits = range(cfg.ptr_entries // w + (1 << cfg.block_bits))
        base, base_plus_1 = Signal(word_bits), Signal(word_bits)
        m.d.sync += [base.eq(self.ptr_base >> cfg.bcast_bits),
                     base_plus_1.eq((self.ptr_base >> cfg.bcast_bits) + 1)]
        addr, addr_plus_1 = Signal(word_bits), Signal(word_bits)
        m.d.comb += [addr.eq(base + self.inp.payload.block),
                     addr_plus_1.eq(base_plus_1 + self.inp.payload.block)]

        for bank, host, r_addr in ((even, self.host_even, addr_plus_1 >> 1),
                                   (odd, self.host_odd, addr >> 1)):
            share_with_host(m, bank.port, host, self.io_mode, read_addr=r_addr, read_en=pop)

        with m.If(r_moves):
            m.d.sync += [
                r_valid.eq(pop),
                r_odd.eq(addr[0]),
                r_values.eq(self.inp.payload.values),
            ]
        with m.If(s2_moves):
            m.d.sync += [
                s2_valid.eq(r_valid),
                s2_values.eq(r_values),
                s2_ptrs.eq(Cat(word, next_word[:bits])),
            ]
        m.d.comb += self.busy.eq(r_valid | s2_valid | self.out.valid)
        return m

    def _ranges(self, m, ptrs, values):
        """Per column of S2's block: live (value non-zero, range not empty), and a range
        of one entry (`single`, for SpmatRead)."""
        w, bits = self.config.bcast_width, self.config.ptr_bits
        live, single = Signal(w, name="s2_live"), Signal(w, name="s2_single")
        for i in range(w):
            start, end = ptrs.word_select(i, bits), ptrs.word_select(i + 1, bits)
            # `<` rather than `!=`: a corrupt image with p[j+1] < p[j] is dropped instead
            # of making SpmatRead walk around the whole address space.
            m.d.comb += [live[i].eq((values[i] != 0) & (start < end)),
                         single[i].eq(start + 1 >= end)]
        return live, single

    def _output(self, m, s2_valid, s2_ptrs, s2_values, s2_live, s2_single):
        """The output register: it sends the live ranges of its block, lowest column
        first, and takes S2's block in the cycle the last one goes. Returns that
        condition ("the output register is free")."""
        w, bits = self.config.bcast_width, self.config.ptr_bits
        o_ptrs = Signal.like(s2_ptrs, name="o_ptrs")
        o_values = Signal.like(s2_values, name="o_values")
        o_live, o_single = Signal(w, name="o_live"), Signal(w, name="o_single")
        # The same leading-non-zero pick as the CCU's, over the block's live columns.
        m.submodules.next_range = next_range = LNZD(w)
        index = next_range.index
        m.d.comb += [
            next_range.nonzero.eq(o_live),
            self.out.valid.eq(next_range.valid),
            self.out.payload.start.eq(o_ptrs.word_select(index, bits)),
            self.out.payload.end.eq(o_ptrs.word_select(index + 1, bits)),
            self.out.payload.value.eq(o_values[index]),
            self.out.payload.single.eq(o_single.bit_select(index, 1)),
        ]
        sent = Signal(w)
        m.d.comb += sent.eq(Mux(self.out.ready, Const(1, w) << index, 0))
        left = o_live & ~sent
        out_free = left == 0
        with m.If(out_free):
            m.d.sync += [
                o_live.eq(Mux(s2_valid, s2_live, 0)),
                o_ptrs.eq(s2_ptrs),
                o_single.eq(s2_single),
                o_values.eq(s2_values),
            ]
        with m.Else():
            m.d.sync += o_live.eq(left)
        return out_free
