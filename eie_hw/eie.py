"""Top level: N PEs, the CCU and the host port.

Host port: a command stream (`cmd`) and a response stream (`rsp`, one per read).
Memory targets are reachable only in I/O mode (while the accelerator is idle); the
control target also while it runs (status, counters). Addresses:

| target | addr | data |
|---|---|---|
| SPMAT, PTR_EVEN, PTR_ODD, BIAS | word address in PE `pe` | the word |
| CODEBOOK | `layer * 2**code_bits + code`; writes go to every PE | weight |
| ACT | local row in PE `pe`; write: input activation (bank 0); read: output of the last run (after bias, shift, saturation, ReLU) | activation |
| LAYERS | layer index | descriptor word (`compress.images.descriptor_fields`) |
| CONTROL | see `Control` | |
"""

import enum

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .act_rw import ActRW
from .ccu import CCU, COUNTER_BITS, descriptor_bits
from .config import EIEConfig
from .pe import PEImages, ProcessingElement


class Target(enum.IntEnum):
    SPMAT = 0
    PTR_EVEN = 1
    PTR_ODD = 2
    CODEBOOK = 3
    BIAS = 4
    ACT = 5
    LAYERS = 6
    CONTROL = 7


class Control(enum.IntEnum):
    # read: bit 0 busy, bit 1 done, bit 2 paused after a layer;
    # write: bit 0 start (or resume), bit 1 clear inputs, bit 2 step (pause after layers)
    STATUS = 0
    TOTAL_CYCLES = 1
    STALL_CYCLES = 2    # CCU cycles stalled on a full FIFO
    LAYERS_DONE = 3
    PE_BUSY = 4         # of PE `pe`
    PE_STARVED = 5
    PE_SPMAT_READS = 6
    PE_MACS = 7
    LAYER_CYCLES = 8    # + layer index


PE_COUNTERS = {Control.PE_BUSY: "busy_cycles", Control.PE_STARVED: "starved_cycles",
               Control.PE_SPMAT_READS: "spmat_reads", Control.PE_MACS: "macs"}

# A read answers after a fixed number of cycles: the slowest path is an activation read
# through the output stage.
READ_LATENCY = max(1, ActRW.SCAN_LATENCY)


def host_data_bits(config: EIEConfig) -> int:
    return max(config.sram_width, config.acc_bits, config.ptr_word_bits, descriptor_bits(config),
               COUNTER_BITS)


def host_addr_bits(config: EIEConfig) -> int:
    depths = [config.spmat_words, config.ptr_bank_entries, config.bias_entries,
              config.act_entries, config.max_layers * config.codebook_size,
              Control.LAYER_CYCLES + config.max_layers]
    return max(1, max((d - 1).bit_length() for d in depths))


def host_command_layout(config: EIEConfig) -> data.StructLayout:
    return data.StructLayout({
        "write": 1,
        "target": 3,
        "pe": max(1, (config.n_pes - 1).bit_length()),
        "addr": host_addr_bits(config),
        "data": host_data_bits(config),
    })


def layer_table_init(images) -> list[int]:
    return [d.word(images.config) for d in images.layers] if images is not None else []


class EIE(wiring.Component):
    """The accelerator. `images` (compress.images.MemoryImages) preloads every memory."""

    def __init__(self, config: EIEConfig, images=None):
        if images is not None:
            images.config.check_packing_compatible(config, what="the memory images")
        self.config = config
        self.images = images
        super().__init__({
            "cmd": In(stream.Signature(host_command_layout(config))),
            "rsp": Out(stream.Signature(host_data_bits(config))),
            "busy": Out(1),
            "done": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.submodules.ccu = ccu = CCU(cfg, layer_init=layer_table_init(self.images))
        pes = []
        for p in range(cfg.n_pes):
            pe = ProcessingElement(cfg, PEImages(self.images, p), index=p)
            m.submodules[f"pe{p}"] = pe
            pes.append(pe)
        m.d.comb += [self.busy.eq(ccu.busy), self.done.eq(ccu.done)]

        host_scan = self._host_port(m, ccu, pes)
        for p, pe in enumerate(pes):
            for name in ("layer", "ptr_base", "dst_bank", "clear_dst", "running",
                         "clear_counters", "io_mode"):
                m.d.comb += getattr(pe, name).eq(getattr(ccu, name))
            m.d.comb += [
                pe.bcast.valid.eq(ccu.bcast_valid),
                pe.bcast.payload.eq(ccu.bcast_payload),
                ccu.fifo_ready[p].eq(pe.bcast.ready),
                ccu.pe_idle[p].eq(pe.idle),
                ccu.scan_values[p].eq(pe.scan_value),
            ]
            # The scan path serves the CCU while computing and host reads while idle.
            for name in ("addr", "en", "bank", "bias_base", "use_bias", "shift", "relu"):
                with m.If(ccu.io_mode):
                    m.d.comb += getattr(pe, f"scan_{name}").eq(host_scan[name])
                with m.Else():
                    m.d.comb += getattr(pe, f"scan_{name}").eq(getattr(ccu, f"scan_{name}"))
        m.d.comb += ccu.scan_valid.eq(pes[0].scan_valid)
        return m

    def _host_port(self, m, ccu, pes) -> dict:
        cfg = self.config
        cmd = self.cmd.payload
        take = self.cmd.valid & self.cmd.ready
        write = take & cmd.write
        read = take & ~cmd.write
        io = ccu.io_mode

        # One read at a time: the response register holds it until taken.
        waiting = Signal(range(READ_LATENCY + 1))
        pending = Signal()
        r_target = Signal(3)
        r_pe = Signal.like(cmd.pe)
        r_addr = Signal.like(cmd.addr)
        m.d.comb += self.cmd.ready.eq(~pending & ~self.rsp.valid)
        with m.If(read):
            m.d.sync += [pending.eq(1), waiting.eq(READ_LATENCY), r_target.eq(cmd.target),
                         r_pe.eq(cmd.pe), r_addr.eq(cmd.addr)]
        with m.Elif(pending & (waiting != 0)):
            m.d.sync += waiting.eq(waiting - 1)

        def selected(target, p=None):
            hit = cmd.target == target
            return hit if p is None else hit & (cmd.pe == p)

        memories = ((Target.SPMAT, "host_spmat"), (Target.PTR_EVEN, "host_ptr_even"),
                    (Target.PTR_ODD, "host_ptr_odd"), (Target.BIAS, "host_bias"),
                    (Target.CODEBOOK, "host_codebook"))
        for p, pe in enumerate(pes):
            for target, port_name in memories:
                port = getattr(pe, port_name)
                # Codebook writes are broadcast: every PE keeps its own copy.
                w_hit = selected(target) if target == Target.CODEBOOK else selected(target, p)
                m.d.comb += [
                    port.w_addr.eq(cmd.addr), port.w_data.eq(cmd.data),
                    port.w_en.eq(write & io & w_hit),
                    port.r_addr.eq(cmd.addr), port.r_en.eq(read & io & selected(target, p)),
                ]
            m.d.comb += [
                pe.host_act_waddr.eq(cmd.addr),
                pe.host_act_wdata.eq(cmd.data[:cfg.act_bits]),
                pe.host_act_we.eq(write & io & selected(Target.ACT, p)),
            ]

        # Layer table and per-layer cycle counters live in the CCU.
        m.d.comb += [
            ccu.host_layers.w_addr.eq(cmd.addr), ccu.host_layers.w_data.eq(cmd.data),
            ccu.host_layers.w_en.eq(write & io & selected(Target.LAYERS)),
            ccu.host_layers.r_addr.eq(cmd.addr),
            ccu.host_layers.r_en.eq(read & io & selected(Target.LAYERS)),
            ccu.host_layer_cycles.r_addr.eq(cmd.addr - Control.LAYER_CYCLES),
            ccu.host_layer_cycles.r_en.eq(read & selected(Target.CONTROL)
                                          & (cmd.addr >= Control.LAYER_CYCLES)),
        ]

        control_write = write & selected(Target.CONTROL) & (cmd.addr == Control.STATUS)
        m.d.comb += [ccu.start.eq(control_write & io & cmd.data[0]),
                     ccu.step.eq(cmd.data[2])]
        for pe in pes:
            m.d.comb += pe.host_clear.eq(control_write & io & cmd.data[1])

        # Activation reads go through the output-stage path of the scan port.
        host_scan = {
            "addr": cmd.addr, "en": read & io & selected(Target.ACT),
            "bank": ccu.out_bank, "bias_base": ccu.out_bias_base,
            "use_bias": ccu.out_use_bias, "shift": ccu.out_shift, "relu": ccu.out_relu,
        }
        captured = Signal(host_data_bits(cfg))
        pe_scan = Signal(signed(cfg.act_bits))
        with m.Switch(r_pe):
            for p, pe in enumerate(pes):
                with m.Case(p):
                    m.d.comb += pe_scan.eq(pe.scan_value)
        # Capture the scan result the cycle it appears: the pipeline moves on after it.
        with m.If(pending & (waiting == READ_LATENCY - ActRW.SCAN_LATENCY + 1)
                  & (r_target == Target.ACT)):
            m.d.sync += captured.eq(pe_scan)
        m.d.comb += self.rsp.payload.eq(self._read_mux(m, r_target, r_pe, r_addr, pes, ccu,
                                                       captured))
        with m.If(pending & (waiting == 0)):
            m.d.sync += [self.rsp.valid.eq(1), pending.eq(0)]
            m.d.sync += captured.eq(self.rsp.payload)
        with m.If(self.rsp.valid & self.rsp.ready):
            m.d.sync += self.rsp.valid.eq(0)
        return host_scan

    def _read_mux(self, m, r_target, r_pe, r_addr, pes, ccu, captured):
        """Data for the pending read: SRAM outputs hold their word until the next read."""
        value = Signal(host_data_bits(self.config))
        with m.If(self.rsp.valid | (r_target == Target.ACT)):
            m.d.comb += value.eq(captured)
        with m.Else():
            with m.Switch(r_target):
                for target, port_name in ((Target.SPMAT, "host_spmat"),
                                          (Target.PTR_EVEN, "host_ptr_even"),
                                          (Target.PTR_ODD, "host_ptr_odd"),
                                          (Target.BIAS, "host_bias"),
                                          (Target.CODEBOOK, "host_codebook")):
                    with m.Case(target):
                        with m.Switch(r_pe):
                            for p, pe in enumerate(pes):
                                with m.Case(p):
                                    m.d.comb += value.eq(getattr(pe, port_name).r_data)
                with m.Case(Target.LAYERS):
                    m.d.comb += value.eq(ccu.host_layers.r_data)
                with m.Case(Target.CONTROL):
                    self._control_mux(m, value, r_addr, r_pe, pes, ccu)
        return value

    def _control_mux(self, m, value, r_addr, r_pe, pes, ccu):
        with m.Switch(r_addr):
            with m.Case(Control.STATUS):
                m.d.comb += value.eq(ccu.busy | (ccu.done << 1) | (ccu.paused << 2))
            with m.Case(Control.TOTAL_CYCLES):
                m.d.comb += value.eq(ccu.total_cycles)
            with m.Case(Control.STALL_CYCLES):
                m.d.comb += value.eq(ccu.stall_cycles)
            with m.Case(Control.LAYERS_DONE):
                m.d.comb += value.eq(ccu.layers_done)
            for address, counter in PE_COUNTERS.items():
                with m.Case(address):
                    with m.Switch(r_pe):
                        for p, pe in enumerate(pes):
                            with m.Case(p):
                                m.d.comb += value.eq(getattr(pe, counter))
            with m.Default():
                m.d.comb += value.eq(ccu.host_layer_cycles.r_data)
