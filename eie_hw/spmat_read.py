"""Sparse matrix read: entry ranges -> one (v, z) entry per cycle (spec 1, dataflow 4)."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .layouts import entry_layout, range_layout
from .sram import SRAM, SRAMPortSignature, share_with_host


class SpmatRead(wiring.Component):
    """Walks each range `start .. end-1` of entry addresses, one entry per cycle.

    Entry `e` is slot `e & (entries_per_word-1)` of word `e >> slot_bits`, bits
    `[slot*entry_bits +: entry_bits]`: the code in the low `code_bits`, `z` above.

    Pipeline:

    - cycle t: `inp` transfers; the range is loaded into the walker;
    - cycle t+1 (issue): the walker's entry address; if its word is not the one the read
      port holds, the word is read (the only reads, counted in `reads`);
    - cycle t+2: the read port holds that word; the entry's slot is picked from it and
      presented on `out`.

    `LATENCY` = 2 cycles from the `inp` transfer to the first entry on `out`. The walker
    takes the next range in the cycle it issues the last entry of the current one, so
    queued ranges follow each other with no bubble, sharing a word without re-reading it.

    The read port's data holds until the next read, and a read happens only when the
    word changes, so the word on the port is always the one of the entry in the output
    stage. `out` has no back-pressure: the arithmetic unit takes an entry every cycle.

    I/O mode hands the SRAM port to `host` (host writes are ignored otherwise). It pauses
    the walker and forgets the held word, since host reads and writes change what the
    read port holds; switch modes while not `busy`.
    """

    LATENCY = 2

    def __init__(self, config: EIEConfig, init=(), init_file: str = ""):
        self.config = config
        self.init_file = init_file  # image file of the Verilog SRAM
        self.init = [int(w) for w in init]
        super().__init__({
            "inp": In(stream.Signature(range_layout(config))),
            "out": Out(stream.Signature(entry_layout(config), always_ready=True)),
            "busy": Out(1),
            "reads": Out(32),
            "clear_reads": In(1),
            "io_mode": In(1),
            "host": In(SRAMPortSignature(config.sram_width, config.spmat_words)),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.submodules.sram = sram = SRAM(width=cfg.sram_width, depth=cfg.spmat_words,
                                        init=self.init, init_file=self.init_file)

        # The walker: the range whose entries are being issued.
        active = Signal()
        cur = Signal(cfg.ptr_bits)
        end = Signal(cfg.ptr_bits)
        value = Signal(signed(cfg.act_bits))
        first = Signal()
        # `last` = `cur + 1 >= end`, kept in a register next to `cur` and `end` rather than
        # computed from them: it heads the back-pressure chain (walker -> pointer stage ->
        # FIFO pop), which then starts at a flip-flop instead of an adder and a compare.
        # `>=` so that a malformed range (end <= start) ends after one entry instead of
        # wrapping around the address space. A range arrives with its own `single` flag
        # (= `start + 1 >= end`, range_layout).
        last = Signal(init=1)

        m.d.comb += self.inp.ready.eq((~active | last) & ~self.io_mode)
        take = self.inp.valid & self.inp.ready
        issue = active & ~self.io_mode

        with m.If(take):
            m.d.sync += [
                active.eq(1),
                cur.eq(self.inp.payload.start),
                end.eq(self.inp.payload.end),
                last.eq(self.inp.payload.single),
                value.eq(self.inp.payload.value),
                first.eq(1),
            ]
        with m.Elif(issue):
            m.d.sync += [cur.eq(cur + 1), first.eq(0), active.eq(~last),
                         last.eq(cur + 2 >= end)]

        word = cur >> cfg.slot_bits
        held_word = Signal(len(word))
        held_valid = Signal()
        need_read = Signal()
        m.d.comb += need_read.eq(issue & (~held_valid | (held_word != word)))
        with m.If(self.io_mode):
            m.d.sync += held_valid.eq(0)
        with m.Elif(need_read):
            m.d.sync += [held_word.eq(word), held_valid.eq(1)]

        share_with_host(m, sram.port, self.host, self.io_mode, read_addr=word,
                        read_en=need_read)

        with m.If(self.clear_reads):
            m.d.sync += self.reads.eq(0)
        with m.Elif(need_read):
            m.d.sync += self.reads.eq(self.reads + 1)

        # Output stage: the entry issued last cycle, picked from the word now on the port.
        out_valid = Signal()
        out_slot = Signal(range(cfg.entries_per_word))
        out_value = Signal(signed(cfg.act_bits))
        out_first = Signal()
        m.d.sync += [
            out_valid.eq(issue),
            out_slot.eq(cur[:cfg.slot_bits]),
            out_value.eq(value),
            out_first.eq(first),
        ]
        if cfg.entries_per_word == 1:
            entry = sram.port.r_data[:cfg.entry_bits]
        else:
            entry = sram.port.r_data.word_select(out_slot, cfg.entry_bits)
        m.d.comb += [
            self.out.valid.eq(out_valid),
            self.out.payload.code.eq(entry[:cfg.code_bits]),
            self.out.payload.z.eq(entry[cfg.code_bits:]),
            self.out.payload.value.eq(out_value),
            self.out.payload.first.eq(out_first),
            self.busy.eq(active | out_valid),
        ]
        return m
