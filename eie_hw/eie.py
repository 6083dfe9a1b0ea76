"""Top level: N PEs, the CCU and the host port.

Host port: a command stream (`cmd`) and a response stream (`rsp`, one per read). The
memory map (targets, control addresses, status bits, widths) is
`eie_hw/memory_map.py`. Memory targets are reachable only in I/O mode (while the
accelerator is idle); the control target also while it runs (status, counters).

| target | addr | data |
|---|---|---|
| SPMAT, PTR_EVEN, PTR_ODD, BIAS | word address in PE `pe` | the word |
| CODEBOOK | `layer * 2**code_bits + code`; writes go to every PE | weight |
| ACT | local row in PE `pe`; write: input activation (bank 0); read: output of the last run (after bias, shift, saturation, ReLU) | activation |
| LAYERS | layer index | descriptor word (`memory_map.descriptor_fields`) |
| CONTROL | see `Control` | |

A command is registered before it fans out to the memories of every PE (one cycle of
latency, a command per cycle for writes): the fan-out then starts at flip-flops, which
keeps it off the host's input timing and off the simulator's per-input evaluation.

In Verilog (a platform asking for SRAM black boxes) every PE is an instance of the one
module `eie_pe` (`pe.PE_MODULE`), generated once (eie_hw/generate.py).
"""

from amaranth.hdl import (Cat, ClockDomain, ClockSignal, DomainRenamer, Instance, Module,
                          Mux, ResetSignal, Signal, Value)
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .ccu import CCU
from .config import EIEConfig
from .interfaces import HostBusSignature, ScanRequestSignature
from .memory_map import (CMD_CLEAR_INPUTS, CMD_START, CMD_STEP, PE_COUNTERS, READ_LATENCY,
                         SCAN_LATENCY, STATUS_BUSY, STATUS_DONE, STATUS_PAUSED, Control,
                         Target, host_command_layout, host_data_bits, pe_instance_name)
from .pe import PE_MODULE, PEImages, ProcessingElement, pe_signature
from .sram import wants_sram_blackbox

__all__ = ["EIE", "Control", "Target", "host_command_layout", "host_data_bits",
           "READ_LATENCY", "layer_table_init", "pe_verilog_instance"]


# Reads in flight (from the cycle a read is taken until its answer enters the queue:
# READ_LATENCY + 1 cycles) plus one answer waiting: one read a cycle keeps the port busy.
RESPONSE_QUEUE = READ_LATENCY + 3
# The CCU's words and status are taken in CCU_WORD_STAGE; a PE's answers (memory words
# and counters, which the PE registers on the way in and out, and activations from the
# output stage) all in the pipeline's last stage, through one select over the PEs.
CCU_WORD_STAGE = 2
PE_WORD_STAGE = 4
assert READ_LATENCY == SCAN_LATENCY == PE_WORD_STAGE > CCU_WORD_STAGE >= 2


def _pe_answers(stage) -> Value:
    """The read in `stage` is answered by a PE (memory word, counter or activation)."""
    memory = ((stage.target == Target.SPMAT) | (stage.target == Target.PTR_EVEN)
              | (stage.target == Target.PTR_ODD) | (stage.target == Target.BIAS)
              | (stage.target == Target.CODEBOOK) | (stage.target == Target.ACT))
    counter = stage.target == Target.CONTROL
    counter &= Cat(*(stage.addr == a for a in PE_COUNTERS)).any()
    return memory | counter


def read_stage_layout(config: EIEConfig) -> data.StructLayout:
    """A read on its way through the host port's read pipeline."""
    layout = host_command_layout(config)
    return data.StructLayout({"valid": 1, "target": layout["target"].shape,
                              "pe": layout["pe"].shape, "addr": layout["addr"].shape,
                              "data": host_data_bits(config)})


# The clock domain of everything inside: the `sync` clock, with the reset input
# registered once. The register keeps the reset pin off every unit's next-state logic:
# for timing (one flip-flop drives the fan-out to N PEs) and for simulation speed (no
# combinational path from an input pin into the datapath, which Verilator would
# otherwise re-evaluate whenever any input, the clock included, changes).
CORE = "core"


def layer_table_init(images) -> list[int]:
    return [d.word(images.config) for d in images.layers] if images is not None else []


def pe_verilog_instance(signature, index: int):
    """PE `index` as an instance of the `eie_pe` module: (its ports as an interface
    object with the PE's `signature`, the `Instance`). Port names are those Amaranth gives
    the module's flattened signature members (`control__layer`, `bcast__payload`)."""
    pe = signature.create(path=(pe_instance_name(index),))
    ports = {}
    for path, member, value in pe.signature.flatten(pe):
        prefix = "i_" if member.flow == In else "o_"
        ports[prefix + "__".join(str(part) for part in path)] = value
    return pe, Instance(PE_MODULE, i_clk=ClockSignal(CORE), i_rst=ResetSignal(CORE), **ports)


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
        m.domains.core = core = ClockDomain(CORE, local=True)
        reset = Signal(reset_less=True)
        m.d.sync += reset.eq(ResetSignal("sync"))
        m.d.comb += [core.clk.eq(ClockSignal("sync")), core.rst.eq(reset)]
        in_core = DomainRenamer(CORE)

        ccu = CCU(cfg, layer_init=layer_table_init(self.images))
        m.submodules.ccu = in_core(ccu)
        pes = []
        signature = pe_signature(cfg)
        for p in range(cfg.n_pes):
            if wants_sram_blackbox(platform):
                pe, instance = pe_verilog_instance(signature, p)
                m.submodules[pe_instance_name(p)] = instance
            else:
                pe = ProcessingElement(cfg, PEImages(self.images, p))
                m.submodules[pe_instance_name(p)] = in_core(pe)
            pes.append(pe)
        m.d.comb += [self.busy.eq(ccu.busy), self.done.eq(ccu.done)]

        # The layer constants reach every PE; each PE answers scans and reports idle.
        wiring.connect(m, ccu.control, *(pe.control for pe in pes))
        wiring.connect(m, ccu.bcast, *(pe.bcast for pe in pes))
        for p, pe in enumerate(pes):
            m.d.comb += pe.pe_index.eq(p)
            wiring.connect(m, pe.scan_result, ccu.scan_results[p])
            m.d.comb += [ccu.fifo_room[p].eq(pe.fifo_room), ccu.pe_idle[p].eq(pe.status.idle)]

        host_scan = self._host_port(m, ccu, pes)
        # The scan path serves the CCU while computing and host reads while idle.
        scan = ScanRequestSignature(cfg).create(path=("pe_scan",))
        io = ccu.control.io_mode
        for name in scan.signature.members:
            m.d.comb += getattr(scan, name).eq(Mux(io, getattr(host_scan, name),
                                                   getattr(ccu.scan, name)))
        wiring.connect(m, scan, *(pe.scan for pe in pes))
        return m

    def _host_port(self, m, ccu, pes):
        """The command stage, the read response, and every PE's host interface; returns
        the host's scan request (activation reads through the output stage)."""
        cfg = self.config
        io = ccu.control.io_mode

        # The command register. Reads are pipelined: one may be issued every cycle, and
        # each answers READ_LATENCY cycles later through a small response queue; a
        # command is taken only while the queue has room for every read in flight.
        cmd = Signal(host_command_layout(cfg))
        staged = Signal()
        responses = fifo.SyncFIFO(width=host_data_bits(cfg), depth=RESPONSE_QUEUE)
        m.submodules.responses = DomainRenamer(CORE)(responses)
        m.d.core += staged.eq(self.cmd.valid & self.cmd.ready)
        with m.If(self.cmd.valid & self.cmd.ready):
            m.d.core += cmd.eq(self.cmd.payload)
        write = staged & cmd.write
        read = staged & ~cmd.write
        stages = self._read_pipeline(m, cmd, read, pes, ccu, responses)
        # Reads in flight: the one in the command register and those in the pipeline.
        in_flight = read + sum(stage.valid for stage in stages)
        m.d.comb += self.cmd.ready.eq((in_flight + responses.level) < RESPONSE_QUEUE)

        def selected(target):
            return cmd.target == target

        def command(bit):   # a bit of the control command word
            return (cmd.data & bit).any()

        control_write = write & selected(Target.CONTROL) & (cmd.addr == Control.STATUS)
        # One bus to every PE; each PE decodes its own part (eie_hw/pe_host.py).
        bus = HostBusSignature(cfg).create(path=("host_bus",))
        m.d.comb += [bus.write.eq(write), bus.read.eq(read), bus.target.eq(cmd.target),
                     bus.pe.eq(cmd.pe), bus.addr.eq(cmd.addr), bus.data.eq(cmd.data),
                     bus.clear_inputs.eq(control_write & command(CMD_CLEAR_INPUTS))]
        wiring.connect(m, bus, *(pe.host for pe in pes))

        # Layer table and per-layer cycle counters live in the CCU.
        m.d.comb += [
            ccu.host_layers.w_addr.eq(cmd.addr), ccu.host_layers.w_data.eq(cmd.data),
            ccu.host_layers.w_en.eq(write & io & selected(Target.LAYERS)),
            ccu.host_layers.r_addr.eq(cmd.addr),
            ccu.host_layers.r_en.eq(read & io & selected(Target.LAYERS)),
            ccu.host_layer_cycles.r_addr.eq(cmd.addr - Control.LAYER_CYCLES),
            ccu.host_layer_cycles.r_en.eq(read & selected(Target.CONTROL)
                                          & (cmd.addr >= Control.LAYER_CYCLES)),
            ccu.start.eq(control_write & io & command(CMD_START)),
            ccu.step.eq(command(CMD_STEP)),
        ]

        # Activation reads go through the output-stage path of the scan port.
        host_scan = ScanRequestSignature(cfg).create(path=("host_scan",))
        m.d.comb += [
            host_scan.addr.eq(cmd.addr), host_scan.en.eq(read & io & selected(Target.ACT)),
            host_scan.bank.eq(ccu.out_bank), host_scan.bias_base.eq(ccu.out_bias_base),
            host_scan.use_bias.eq(ccu.out_use_bias), host_scan.shift.eq(ccu.out_shift),
            host_scan.relu.eq(ccu.out_relu),
        ]
        wiring.connect(m, wiring.flipped(self.rsp), responses.r_stream)
        return host_scan

    def _read_pipeline(self, m, cmd, read, pes, ccu, responses):
        """Stage k holds the read issued k cycles ago; returns the stages. The CCU's words
        and status are taken in stage CCU_WORD_STAGE; a PE's answers (memory words and
        counters, activations from the output stage) in the last stage, when the read
        enters the response queue."""
        cfg = self.config
        stages = [Signal(read_stage_layout(cfg), name=f"read{k}")
                  for k in range(1, READ_LATENCY + 1)]
        m.d.core += [stages[0].valid.eq(read), stages[0].target.eq(cmd.target),
                     stages[0].pe.eq(cmd.pe), stages[0].addr.eq(cmd.addr)]
        for earlier, later in zip(stages, stages[1:]):
            m.d.core += later.eq(earlier)
        # (After the copies: these assignments are the ones that count for the data.)
        # Every memory registers the host's request (sram.share_with_host), so the CCU's
        # words are there in stage 2. Status and counters are live.
        ccu_stage = stages[CCU_WORD_STAGE - 1]
        m.d.core += stages[CCU_WORD_STAGE].data.eq(self._word_mux(m, ccu_stage, ccu))
        last = stages[PE_WORD_STAGE - 1]
        m.d.comb += [
            responses.w_en.eq(last.valid),
            responses.w_data.eq(Mux(_pe_answers(last), self._pe_answer(m, last, pes),
                                    last.data)),
        ]
        return stages

    def _pe_answer(self, m, stage, pes):
        """The answer of the PE the read in `stage` addressed: its read-back word, or
        for an activation read its output stage's value."""
        activation = stage.target == Target.ACT
        answer = Signal(host_data_bits(self.config))
        with m.Switch(stage.pe):
            for p, pe in enumerate(pes):
                with m.Case(p):
                    m.d.comb += answer.eq(Mux(activation, pe.scan_result.value.as_unsigned(),
                                              pe.host_rdata))
        return answer

    def _word_mux(self, m, stage, ccu):
        """The CCU's answer to the read in `stage` (PE words and activations come
        later)."""
        value = Signal(host_data_bits(self.config))
        with m.Switch(stage.target):
            with m.Case(Target.LAYERS):
                m.d.comb += value.eq(ccu.host_layers.r_data)
            with m.Case(Target.CONTROL):
                self._control_mux(m, value, stage.addr, ccu)
        return value

    def _control_mux(self, m, value, r_addr, ccu):
        with m.Switch(r_addr):
            with m.Case(Control.STATUS):
                m.d.comb += value.eq(Mux(ccu.busy, STATUS_BUSY, 0) | Mux(ccu.done, STATUS_DONE, 0)
                                     | Mux(ccu.paused, STATUS_PAUSED, 0))
            with m.Case(Control.TOTAL_CYCLES):
                m.d.comb += value.eq(ccu.total_cycles)
            with m.Case(Control.STALL_CYCLES):
                m.d.comb += value.eq(ccu.stall_cycles)
            with m.Case(Control.LAYERS_DONE):
                m.d.comb += value.eq(ccu.layers_done)
            with m.Case(*PE_COUNTERS):
                pass                                  # a PE's word, a stage later
            with m.Default():
                m.d.comb += value.eq(ccu.host_layer_cycles.r_data)
