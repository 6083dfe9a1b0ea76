"""One processing element: activation FIFO -> pointer read -> Spmat read -> MAC <-> act R/W."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .act_fifo import ActivationFIFO
from .act_rw import ActRW
from .arith import ArithmeticUnit
from .config import EIEConfig
from .interfaces import (BroadcastSignature, HostBusSignature, LayerControlSignature,
                         PEStatusSignature, ScanRequestSignature, ScanResultSignature)
from .layouts import fifo_room_layout
from .memory_map import (BIAS_FILE, CODEBOOK_FILE, PTR_EVEN_FILE, PTR_ODD_FILE, SPMAT_FILE,
                         pe_read_bits, pe_select_bits)
from .pe_host import PEHostPort
from .ptr_read import PointerRead
from .spmat_read import SpmatRead

PE_MODULE = "eie_pe"   # the PE's Verilog module name, one module for every PE


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


def pe_signature(config: EIEConfig) -> wiring.Signature:
    """The PE's ports, seen from the PE. The same signature describes the real PE
    (Amaranth) and its Verilog instance (eie_hw/eie.py), so both connect alike."""
    return wiring.Signature({
        "bcast": In(BroadcastSignature(config)),
        "fifo_room": Out(fifo_room_layout),
        "control": In(LayerControlSignature(config)),
        "scan": In(ScanRequestSignature(config)),
        "scan_result": Out(ScanResultSignature(config)),
        "status": Out(PEStatusSignature()),
        "host": In(HostBusSignature(config)),
        # This PE's number on the host port: a constant input, the same module for all.
        "pe_index": In(pe_select_bits(config)),
        "host_rdata": Out(pe_read_bits(config)),
    })


class ProcessingElement(wiring.Component):
    """One PE. The hardware is the same for every PE: its number on the host port is the
    `pe_index` input, and in Verilog its per-PE image files are named relative to the
    PE's own folder, which the SRAM model derives from the instance name (eie_hw/sram.py).
    `init` is its backdoor contents in the Amaranth simulation."""

    def __init__(self, config: EIEConfig, init: PEImages | None = None):
        self.config = config
        self.init = init or PEImages()
        super().__init__(pe_signature(config))

    def elaborate(self, platform):
        cfg, init = self.config, self.init
        m = Module()
        m.submodules.fifo = fifo = ActivationFIFO(cfg)
        m.submodules.ptr = ptr = PointerRead(cfg, even_init=init.ptr_even,
                                             odd_init=init.ptr_odd, even_file=PTR_EVEN_FILE,
                                             odd_file=PTR_ODD_FILE)
        m.submodules.spmat = spmat = SpmatRead(cfg, init=init.spmat, init_file=SPMAT_FILE)
        m.submodules.arith = arith = ArithmeticUnit(cfg, codebook_init=init.codebook,
                                                    codebook_file=CODEBOOK_FILE)
        m.submodules.act = act = ActRW(cfg, bias_init=init.bias, bias_file=BIAS_FILE)

        wiring.connect(m, wiring.flipped(self.bcast), fifo.w)
        m.d.comb += self.fifo_room.eq(fifo.room)
        wiring.connect(m, fifo.r, ptr.inp)
        wiring.connect(m, ptr.out, spmat.inp)
        wiring.connect(m, spmat.out, arith.inp)
        wiring.connect(m, arith.dst, act.dst)
        wiring.connect(m, wiring.flipped(self.scan), act.scan)
        wiring.connect(m, act.scan_result, wiring.flipped(self.scan_result))

        control = self.control
        m.d.comb += [
            ptr.ptr_base.eq(control.ptr_base),
            arith.layer.eq(control.layer),
            act.dst_bank.eq(control.dst_bank),
            act.clear_dst.eq(control.clear_dst),
        ]

        # I/O mode: the host reaches every memory through its unit.
        for unit in (ptr, spmat, arith, act):
            m.d.comb += unit.io_mode.eq(control.io_mode)
        m.submodules.host = host = PEHostPort(cfg)
        wiring.connect(m, wiring.flipped(self.host), host.bus)
        m.d.comb += [host.pe_index.eq(self.pe_index), host.io_mode.eq(control.io_mode),
                     self.host_rdata.eq(host.rdata)]
        for name in self.status.signature.members:
            m.d.comb += getattr(host.counters, name).eq(getattr(self.status, name))
        wiring.connect(m, host.mem.spmat, spmat.host)
        wiring.connect(m, host.mem.ptr_even, ptr.host_even)
        wiring.connect(m, host.mem.ptr_odd, ptr.host_odd)
        wiring.connect(m, host.mem.codebook, arith.host_codebook)
        wiring.connect(m, host.mem.act, act.host)

        status = self.status
        m.d.comb += status.idle.eq(~fifo.r.valid & ~ptr.busy & ~spmat.busy & ~arith.busy)
        m.d.comb += [status.spmat_reads.eq(spmat.reads), status.macs.eq(arith.macs),
                     spmat.clear_reads.eq(control.clear_counters),
                     arith.clear_counters.eq(control.clear_counters)]
        self._counters(m, spmat, fifo)
        return m

    def _counters(self, m, spmat, fifo):
        # Busy: an entry enters the arithmetic unit. Starved: the layer runs, yet the FIFO
        # is empty and nothing is on its way to the arithmetic unit.
        status, control = self.status, self.control
        with m.If(control.clear_counters):
            m.d.sync += [status.busy_cycles.eq(0), status.starved_cycles.eq(0)]
        with m.Elif(control.running):
            with m.If(spmat.out.valid):
                m.d.sync += status.busy_cycles.eq(status.busy_cycles + 1)
            with m.Elif(~fifo.r.valid):
                m.d.sync += status.starved_cycles.eq(status.starved_cycles + 1)
