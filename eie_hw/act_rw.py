"""Act R/W: accumulator banks with touched bits, bias, and the output stage on read."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import (DestinationPortSignature, HostActSignature, ScanRequestSignature,
                         ScanResultSignature)
from .memory_map import SCAN_LATENCY
from .sram import SRAM, share_with_host


class ActRW(wiring.Component):
    """The two accumulator banks of a PE (docs/architecture.md, "Accumulator banks").

    Bank `dst_bank` is the destination of the running layer, the other one its source.
    Each bank has a register of `act_entries` touched bits: a read of an untouched row
    returns 0, so a layer starts with a one-cycle `clear_dst` instead of a clearing pass.

    Read ports. Each bank SRAM has a single read port. The destination bank's port serves
    the arithmetic side (`dst`), the source bank's port serves the scan side (`scan`).
    A scan (`scan.en`) of bank `scan.bank` takes that bank's port in the cycle it is
    issued, even when `scan.bank == dst_bank`: that happens only for host reads of the
    final outputs, issued while the PE is idle, so no arithmetic read is lost. (A scan of
    the destination bank during a layer would silently corrupt the arithmetic read.)

    Arithmetic side: `dst.rdata` is the word of row `dst.raddr` in the cycle after
    `dst.ren`, 0 if the row is untouched. A write in the same cycle as the read is seen
    (the SRAM is write-transparent, and the touched bit is taken from the register's
    next state), and so is any earlier write. `dst.we` writes the row and sets its
    touched bit.

    Scan side: `scan.en` in cycle t gives `scan_result.valid` and `.value` in cycle
    t + `SCAN_LATENCY`, one read per cycle:

    - t: the request into a register;
    - t+1: bank read of `scan.addr`, bias read of `scan.bias_base + scan.addr`;
    - t+2: `acc = wrap(bank (0 if untouched) + bias (0 unless scan.use_bias))`;
    - t+3: `((2*acc) >> shift + 1) >> 1`, which equals `(acc + 2**(shift-1)) >> shift`
      for shift > 0 and `acc` for shift 0, exact in acc_bits + 1 bits;
    - t+4: saturate to act_bits, ReLU (combinational on the output).

    The scan parameters travel with the read, so they only need to be valid with
    `scan.en`.

    Host side (I/O mode): `host.we` writes an activation into bank 0, sign-extended,
    and sets its touched bit (it takes bank 0's write port; the PE is idle). `host.bias`
    writes the bias memory and reads it; a host bias read takes the bias read port from
    the scan side (the host issues one command per cycle, so they never meet, and takes
    each word the cycle after its read). `host.clear` clears the touched bits of both
    banks.
    """

    SCAN_LATENCY = SCAN_LATENCY

    def __init__(self, config: EIEConfig, bias_init=(), bias_file: str = ""):
        self.config = config
        self.bias_file = bias_file  # image file of the Verilog SRAM
        mask = (1 << config.acc_bits) - 1
        # Images hold two's complement values; negative Python ints are accepted too.
        self.bias_init = [int(b) & mask for b in bias_init]
        cfg = config
        super().__init__({
            "dst_bank": In(1),
            "clear_dst": In(1),
            "dst": In(DestinationPortSignature(cfg)),
            "scan": In(ScanRequestSignature(cfg)),
            "scan_result": Out(ScanResultSignature(cfg)),
            "io_mode": In(1),
            "host": In(HostActSignature(cfg)),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        banks = [SRAM(width=cfg.acc_bits, depth=cfg.act_entries) for _ in range(2)]
        m.submodules.bank0, m.submodules.bank1 = banks
        m.submodules.bias = bias = SRAM(width=cfg.acc_bits, depth=cfg.bias_entries,
                                        init=self.bias_init, init_file=self.bias_file)

        # The scan request is registered on the way in: the CCU's (or the host's) request
        # reaches N PEs' flip-flops and nothing else, and the bank, touched-bit and bias
        # reads below start at this PE's own flip-flops (issue 13: `scan.en` to N PEs
        # was the top level's critical path). It costs a cycle of SCAN_LATENCY.
        scan = ScanRequestSignature(cfg).create(path=("scan_q",))
        m.d.sync += [getattr(scan, name).eq(getattr(self.scan, name))
                     for name in self.scan.signature.members]

        # Host activation writes and clears are registered too (as every memory's host
        # requests are, sram.share_with_host): the host decode ends at flip-flops, not in
        # the touched-bit logic of both banks.
        host_act_we, host_clear = Signal(), Signal()
        host_waddr, host_wdata = Signal.like(self.host.waddr), Signal.like(self.host.wdata)
        m.d.sync += [host_act_we.eq(self.host.we & self.io_mode), host_clear.eq(self.host.clear),
                     host_waddr.eq(self.host.waddr), host_wdata.eq(self.host.wdata)]
        dst_bank1 = Signal()     # bank of the arithmetic read, for the next cycle
        dst_touched = Signal()   # touched bit of the arithmetic read, for the next cycle
        scan_touched = Signal()  # same for the scan read
        host_regs = (host_act_we, host_clear, host_waddr, host_wdata)
        for b, bank in enumerate(banks):
            self._bank_ports(m, b, bank, scan, host_regs, dst_touched, scan_touched)

        m.d.sync += dst_bank1.eq(self.dst_bank)
        dst_data = Mux(dst_bank1, banks[1].port.r_data, banks[0].port.r_data)
        m.d.comb += self.dst.rdata.eq(Mux(dst_touched, dst_data.as_signed(), 0))

        # Bias memory: the scan side reads it, except for a host bias read in I/O mode
        # (host activation reads use the scan side in I/O mode too).
        share_with_host(m, bias.port, self.host.bias, self.io_mode,
                        read_addr=scan.bias_base + scan.addr,
                        read_en=scan.en & scan.use_bias,
                        host_reads=self.io_mode & self.host.bias.r_en)

        self._output_stage(m, scan, banks, bias, scan_touched)
        return m

    def _bank_ports(self, m, b, bank, scan, host_regs, dst_touched, scan_touched):
        """Bank `b`'s write and read ports and its touched bits."""
        cfg = self.config
        host_act_we, host_clear, host_waddr, host_wdata = host_regs
        is_dst = self.dst_bank == b
        scanned = scan.en & (scan.bank == b)

        # Write port: the host loads inputs into bank 0 in I/O mode (the PE is idle);
        # otherwise the arithmetic unit writes the destination bank.
        we = Signal(name=f"we{b}")
        waddr = Signal(range(cfg.act_entries), name=f"waddr{b}")
        if b == 0:
            with m.If(host_act_we):
                m.d.comb += [we.eq(1), waddr.eq(host_waddr),
                             bank.port.w_data.eq(host_wdata)]
            with m.Else():
                m.d.comb += [we.eq(self.dst.we & is_dst), waddr.eq(self.dst.waddr),
                             bank.port.w_data.eq(self.dst.wdata)]
        else:
            m.d.comb += [we.eq(self.dst.we & is_dst), waddr.eq(self.dst.waddr),
                         bank.port.w_data.eq(self.dst.wdata)]
        m.d.comb += [bank.port.w_addr.eq(waddr), bank.port.w_en.eq(we)]

        with m.If(scanned):
            m.d.comb += [bank.port.r_addr.eq(scan.addr), bank.port.r_en.eq(1)]
        with m.Else():
            m.d.comb += [bank.port.r_addr.eq(self.dst.raddr),
                         bank.port.r_en.eq(self.dst.ren & is_dst)]

        # The touched bits. A read samples the next state, not the register, so that
        # it agrees with the write-transparent SRAM about a write in the same cycle.
        touched = Signal(cfg.act_entries, name=f"touched{b}")
        touched_next = Signal(cfg.act_entries, name=f"touched{b}_next")
        clear = host_clear | (self.clear_dst & is_dst)
        # A write in the same cycle as a clear survives it: it is the newer event.
        # (Whole-vector operations: a per-bit loop is the same logic, but a simulator
        # then evaluates act_entries small expressions every cycle.)
        written = Signal(cfg.act_entries, name=f"written{b}")
        with m.If(we):
            m.d.comb += written.bit_select(waddr, 1).eq(1)
        m.d.comb += touched_next.eq(Mux(clear, 0, touched) | written)
        m.d.sync += touched.eq(touched_next)

        with m.If(is_dst):
            m.d.sync += dst_touched.eq(touched_next.bit_select(self.dst.raddr, 1))
        with m.If(scan.bank == b):
            m.d.sync += scan_touched.eq(touched_next.bit_select(scan.addr, 1))

    def _output_stage(self, m, scan, banks, bias, scan_touched):
        """The scan side: bank word + bias, rounding shift, saturation and ReLU."""
        cfg = self.config
        # Scan pipeline; the parameters travel along with each read.
        v1, scan_bank1, use_bias1 = Signal(), Signal(), Signal()
        shift1, shift2 = (Signal(range(cfg.acc_bits), name=f"shift{i}") for i in (1, 2))
        relu1, relu2, relu3 = Signal(), Signal(), Signal()
        v2, v3 = Signal(), Signal()
        m.d.sync += [
            v1.eq(scan.en), scan_bank1.eq(scan.bank), use_bias1.eq(scan.use_bias),
            shift1.eq(scan.shift), relu1.eq(scan.relu),
            v2.eq(v1), shift2.eq(shift1), relu2.eq(relu1),
            v3.eq(v2), relu3.eq(relu2),
        ]

        # t+1: bank word (0 if untouched) + bias, modulo 2**acc_bits.
        scan_data = Mux(scan_bank1, banks[1].port.r_data, banks[0].port.r_data).as_signed()
        word = Mux(scan_touched, scan_data, 0)
        bias_word = Mux(use_bias1, bias.port.r_data.as_signed(), 0)
        acc2 = Signal(signed(cfg.acc_bits))
        m.d.sync += acc2.eq(word + bias_word)  # the assignment truncates: the wrap

        # t+2: round half up and shift. Shifting 2*acc first leaves the rounding bit as the
        # LSB, so one increment serves every shift, shift 0 included, without a wrap.
        doubled = Cat(Const(0, 1), acc2).as_signed()
        rounded = ((doubled >> shift2) + 1) >> 1
        y3 = Signal(signed(cfg.acc_bits + 1))
        m.d.sync += y3.eq(rounded)

        # t+3: saturate, ReLU.
        hi, lo = (1 << (cfg.act_bits - 1)) - 1, -(1 << (cfg.act_bits - 1))
        sat = Mux(y3 > hi, hi, Mux(y3 < lo, lo, y3))
        m.d.comb += [
            self.scan_result.valid.eq(v3),
            self.scan_result.value.eq(Mux(relu3 & (y3 < 0), 0, sat)),
        ]
