"""One processing element: activation FIFO -> pointer read -> Spmat read -> MAC <-> act R/W."""

from amaranth.hdl import Module, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .act_fifo import ActivationFIFO
from .act_rw import ActRW
from .arith import ArithmeticUnit
from .config import EIEConfig
from .layouts import broadcast_layout
from .ptr_read import PointerRead
from .spmat_read import SpmatRead
from .sram import SRAMPortSignature

COUNTER_BITS = 32

# Image files (compress/images.py, relative to images/) that the Verilog SRAMs load.
CODEBOOK_FILE = "codebook.hex"   # every PE loads the same codebook


def pe_image_dir(index: int) -> str:
    return f"pe{index:03d}"


class PEImages:
    """Backdoor contents of one PE's memories (lists of ints), from MemoryImages."""

    def __init__(self, images=None, pe: int = 0):
        self.spmat = self.ptr_even = self.ptr_odd = self.bias = self.codebook = ()
        if images is None:
            return
        cfg = images.config
        entries = images.spmat[pe]
        epw, bits = cfg.entries_per_word, cfg.entry_bits
        self.spmat = [sum(int(e) << (s * bits) for s, e in enumerate(entries[w:w + epw]))
                      for w in range(0, len(entries), epw)]
        self.ptr_even = [int(p) for p in images.ptr_bank(pe, False)]
        self.ptr_odd = [int(p) for p in images.ptr_bank(pe, True)]
        self.bias = [int(b) & ((1 << cfg.acc_bits) - 1) for b in images.bias[pe]]
        self.codebook = [int(c) & ((1 << cfg.weight_bits) - 1)
                         for c in images.codebook.reshape(-1)]


def pe_signature(config: EIEConfig) -> dict:
    cfg = config
    return {
        "bcast": In(stream.Signature(broadcast_layout(cfg))),
        # Layer constants, held by the CCU for the whole layer.
        "layer": In(range(cfg.max_layers)),
        "ptr_base": In(range(cfg.ptr_entries)),
        "dst_bank": In(1),
        "clear_dst": In(1),
        "running": In(1),
        "clear_counters": In(1),
        # Source activation reads (CCU scan, host output reads).
        "scan_addr": In(range(cfg.act_entries)),
        "scan_en": In(1),
        "scan_bank": In(1),
        "scan_bias_base": In(range(cfg.bias_entries)),
        "scan_use_bias": In(1),
        "scan_shift": In(range(cfg.acc_bits)),
        "scan_relu": In(1),
        "scan_valid": Out(1),
        "scan_value": Out(signed(cfg.act_bits)),
        "idle": Out(1),
        "busy_cycles": Out(COUNTER_BITS),
        "starved_cycles": Out(COUNTER_BITS),
        "spmat_reads": Out(COUNTER_BITS),
        "macs": Out(COUNTER_BITS),
        # Host (I/O mode).
        "io_mode": In(1),
        "host_spmat": In(SRAMPortSignature(cfg.sram_width, cfg.spmat_words)),
        "host_ptr_even": In(SRAMPortSignature(cfg.ptr_word_bits, cfg.ptr_bank_entries)),
        "host_ptr_odd": In(SRAMPortSignature(cfg.ptr_word_bits, cfg.ptr_bank_entries)),
        "host_codebook": In(SRAMPortSignature(cfg.weight_bits,
                                              cfg.max_layers * cfg.codebook_size)),
        "host_bias": In(SRAMPortSignature(cfg.acc_bits, cfg.bias_entries)),
        "host_act_waddr": In(range(cfg.act_entries)),
        "host_act_wdata": In(signed(cfg.act_bits)),
        "host_act_we": In(1),
        "host_clear": In(1),
    }


class ProcessingElement(wiring.Component):
    def __init__(self, config: EIEConfig, init: PEImages | None = None, index: int = 0):
        self.config = config
        self.init = init or PEImages()
        self.index = index  # names this PE's image files (pe{index:03d}/*.hex)
        super().__init__(pe_signature(config))

    def elaborate(self, platform):
        cfg, init = self.config, self.init
        m = Module()
        m.submodules.fifo = fifo = ActivationFIFO(cfg)
        d = pe_image_dir(self.index)
        m.submodules.ptr = ptr = PointerRead(cfg, even_init=init.ptr_even,
                                             odd_init=init.ptr_odd,
                                             even_file=f"{d}/ptr_even.hex",
                                             odd_file=f"{d}/ptr_odd.hex")
        m.submodules.spmat = spmat = SpmatRead(cfg, init=init.spmat,
                                               init_file=f"{d}/spmat.hex")
        m.submodules.arith = arith = ArithmeticUnit(cfg, codebook_init=init.codebook,
                                                    codebook_file=CODEBOOK_FILE)
        m.submodules.act = act = ActRW(cfg, bias_init=init.bias, bias_file=f"{d}/bias.hex")

        wiring.connect(m, wiring.flipped(self.bcast), fifo.w)
        wiring.connect(m, fifo.r, ptr.inp)
        wiring.connect(m, ptr.out, spmat.inp)
        wiring.connect(m, spmat.out, arith.inp)
        m.d.comb += [
            ptr.ptr_base.eq(self.ptr_base),
            arith.layer.eq(self.layer),
            act.dst_bank.eq(self.dst_bank),
            act.clear_dst.eq(self.clear_dst),
            act.dst_raddr.eq(arith.dst_raddr),
            act.dst_ren.eq(arith.dst_ren),
            arith.dst_rdata.eq(act.dst_rdata),
            act.dst_waddr.eq(arith.dst_waddr),
            act.dst_wdata.eq(arith.dst_wdata),
            act.dst_we.eq(arith.dst_we),
        ]
        for name in ("addr", "en", "bank", "bias_base", "use_bias", "shift", "relu"):
            m.d.comb += getattr(act, f"scan_{name}").eq(getattr(self, f"scan_{name}"))
        m.d.comb += [self.scan_valid.eq(act.scan_valid), self.scan_value.eq(act.scan_value)]

        # I/O mode: the host reaches every memory through its unit.
        for unit in (ptr, spmat, arith, act):
            m.d.comb += unit.io_mode.eq(self.io_mode)
        wiring.connect(m, wiring.flipped(self.host_spmat), spmat.host)
        wiring.connect(m, wiring.flipped(self.host_ptr_even), ptr.host_even)
        wiring.connect(m, wiring.flipped(self.host_ptr_odd), ptr.host_odd)
        wiring.connect(m, wiring.flipped(self.host_codebook), arith.host_codebook)
        wiring.connect(m, wiring.flipped(self.host_bias), act.host_bias)
        m.d.comb += [
            act.host_act_waddr.eq(self.host_act_waddr),
            act.host_act_wdata.eq(self.host_act_wdata),
            act.host_act_we.eq(self.host_act_we),
            act.host_clear.eq(self.host_clear),
        ]

        m.d.comb += self.idle.eq(~fifo.r.valid & ~ptr.busy & ~spmat.busy & ~arith.busy)
        m.d.comb += [self.spmat_reads.eq(spmat.reads), self.macs.eq(arith.macs),
                     spmat.clear_reads.eq(self.clear_counters),
                     arith.clear_counters.eq(self.clear_counters)]
        self._counters(m, spmat, fifo)
        return m

    def _counters(self, m, spmat, fifo):
        # Busy: an entry enters the arithmetic unit. Starved: the layer runs, yet the FIFO
        # is empty and nothing is on its way to the arithmetic unit.
        with m.If(self.clear_counters):
            m.d.sync += [self.busy_cycles.eq(0), self.starved_cycles.eq(0)]
        with m.Elif(self.running):
            with m.If(spmat.out.valid):
                m.d.sync += self.busy_cycles.eq(self.busy_cycles + 1)
            with m.Elif(~fifo.r.valid):
                m.d.sync += self.starved_cycles.eq(self.starved_cycles + 1)
