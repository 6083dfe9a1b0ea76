"""Central control unit: layer sequencing, activation scan, LNZD, broadcast.

Computing mode, per layer (descriptor from the on-chip layer table):
- scan group g (local index g of every PE's source bank, i.e. columns g*N .. g*N+N-1)
  through each PE's output-stage read path, a few groups ahead (credit-limited queue);
- the LNZD quadtree picks the lowest block of W = bcast_width adjacent columns of the
  current group that holds a non-zero; the block (its W values, zero where the column
  is zero) is broadcast to every PE, from registers, when every PE's FIFO will have
  room for it when it lands (otherwise the CCU stalls and counts; ccu_broadcast.py);
- when every group is broadcast and every PE has drained, the layer ends; the next
  descriptor follows until the one marked `last`.
I/O mode (idle): the host port owns every memory; see eie.py.
"""

from types import SimpleNamespace

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import fifo, wiring
from amaranth.lib.wiring import In, Out

from .ccu_broadcast import BroadcastStage
from .config import EIEConfig
from .interfaces import (BroadcastSignature, LayerControlSignature, ScanRequestSignature,
                         ScanResultSignature)
from .layouts import fifo_room_layout, group_layout
from .memory_map import (COUNTER_BITS, LAYERS_FILE, SCAN_LATENCY, descriptor_bits,
                         descriptor_layout)
from .sram import SRAM, SRAMPortSignature, share_with_host


class CCU(wiring.Component):
    # Scan reads in flight plus queued groups; enough that the LNZD never waits for
    # a group while the scan pipeline is full.
    QUEUE_DEPTH = SCAN_LATENCY + 2
    # Send decision -> the broadcast on the bus (it leaves from registers).
    BCAST_LATENCY = 1
    # The drain check (scan finished, every PE idle) is registered before it is used.
    DRAIN_REGISTER = 1

    def __init__(self, config: EIEConfig, layer_init=(), layer_file: str = LAYERS_FILE):
        self.config = config
        self.layer_file = layer_file  # image file of the Verilog layer table
        self.layer_init = list(layer_init)
        n = config.n_pes
        super().__init__({
            "start": In(1),
            # With `step` set at start, the CCU pauses in I/O mode after every layer so
            # that the host can read that layer's outputs; `start` resumes.
            "step": In(1),
            "busy": Out(1),
            "done": Out(1),
            "paused": Out(1),
            "host_layers": In(SRAMPortSignature(descriptor_bits(config), config.max_layers)),
            "host_layer_cycles": In(SRAMPortSignature(COUNTER_BITS, config.max_layers)),
            # Where the host reads the outputs of the last run (through the scan path).
            "out_bank": Out(1),
            "out_bias_base": Out(range(config.bias_entries)),
            "out_use_bias": Out(1),
            "out_shift": Out(range(config.acc_bits)),
            "out_relu": Out(1),
            # To every PE.
            "control": Out(LayerControlSignature(config)),
            "scan": Out(ScanRequestSignature(config)),
            "bcast": Out(BroadcastSignature(config)),
            # From every PE.
            "scan_results": In(ScanResultSignature(config)).array(n),
            "fifo_room": In(fifo_room_layout).array(n),
            "pe_idle": In(n),
            # Counters.
            "stall_cycles": Out(COUNTER_BITS),
            "total_cycles": Out(COUNTER_BITS),
            "layers_done": Out(range(config.max_layers + 1)),
        })

    def elaborate(self, platform):
        cfg = self.config
        m = Module()
        m.submodules.table = table = SRAM(width=descriptor_bits(cfg), depth=cfg.max_layers,
                                          init=self.layer_init, init_file=self.layer_file)
        m.submodules.cycles = cycles = SRAM(width=COUNTER_BITS, depth=cfg.max_layers)
        # What the parts below share: the layer's descriptor and number, and the output
        # stage of the layer whose outputs are being scanned (layer -1 = the host's
        # inputs: identity).
        s = SimpleNamespace(
            table=table, cycles=cycles,
            desc=Signal(descriptor_layout(cfg)),
            layer_idx=Signal(range(max(2, cfg.max_layers))),   # bit 0 selects the bank
            src_bias_base=Signal(range(cfg.bias_entries)), src_use_bias=Signal(),
            src_shift=Signal(range(cfg.acc_bits)), src_relu=Signal(),
            fetch=Signal(),        # read the next layer's descriptor
            restart=Signal(),      # a layer starts: the scan starts over
            scanning=Signal())
        m.d.comb += [
            self.control.layer.eq(s.layer_idx),
            self.control.ptr_base.eq(s.desc.ptr_base),
            self.control.dst_bank.eq(~s.layer_idx[0]),
            self.scan.bank.eq(s.layer_idx[0]),
            self.scan.bias_base.eq(s.src_bias_base),
            self.scan.use_bias.eq(s.src_use_bias),
            self.scan.shift.eq(s.src_shift),
            self.scan.relu.eq(s.src_relu),
        ]
        self._host_tables(m, s)
        scan_finished = self._scan_and_broadcast(m, s)
        self._sequence(m, s, scan_finished)
        return m

    def _host_tables(self, m, s):
        """The host's access to the layer table and the per-layer cycle counters."""
        share_with_host(m, s.table.port, self.host_layers, self.control.io_mode,
                        read_addr=s.layer_idx, read_en=s.fetch)
        # The cycle counters: the CCU writes them, the host reads them in I/O mode, its
        # request registered like every memory's (sram.share_with_host).
        cycles_addr = Signal.like(self.host_layer_cycles.r_addr)
        cycles_read = Signal()
        m.d.sync += [cycles_addr.eq(self.host_layer_cycles.r_addr),
                     cycles_read.eq(self.host_layer_cycles.r_en & self.control.io_mode)]
        with m.If(cycles_read):
            m.d.comb += [s.cycles.port.r_addr.eq(cycles_addr), s.cycles.port.r_en.eq(1)]
        m.d.comb += self.host_layer_cycles.r_data.eq(s.cycles.port.r_data)

    def _scan_and_broadcast(self, m, s):
        """Scan issue and receive, the group queue, the broadcast stage; returns "the
        scan is finished": every group issued, received, taken, and broadcast."""
        cfg, n = self.config, self.config.n_pes
        queue = fifo.SyncFIFO(width=group_layout(cfg).size, depth=self.QUEUE_DEPTH)
        m.submodules.queue = queue
        issue_group = Signal(range(cfg.act_entries + 1))
        issue_col = Signal(cfg.col_bits + 2)
        recv_col = Signal(cfg.col_bits + 2)
        in_flight = Signal(range(self.QUEUE_DEPTH + 1))

        room = (in_flight + queue.level) < self.QUEUE_DEPTH
        issue = s.scanning & (issue_col < s.desc.cols) & room
        m.d.comb += [self.scan.en.eq(issue), self.scan.addr.eq(issue_group)]
        receive = s.scanning & self.scan_results[0].valid
        with m.If(s.restart):
            m.d.sync += [issue_group.eq(0), issue_col.eq(0), recv_col.eq(0), in_flight.eq(0)]
        with m.Else():
            with m.If(issue & ~receive):
                m.d.sync += in_flight.eq(in_flight + 1)
            with m.Elif(~issue & receive):
                m.d.sync += in_flight.eq(in_flight - 1)
            with m.If(issue):
                m.d.sync += [issue_group.eq(issue_group + 1), issue_col.eq(issue_col + n)]
            with m.If(receive):
                m.d.sync += recv_col.eq(recv_col + n)

        # Columns past the layer are zeroed as they enter the queue (their scan reads
        # whatever the bank holds there), so a group's values need no mask later.
        recv = Signal(group_layout(cfg))
        for i, result in enumerate(self.scan_results):
            inside = recv_col + i < s.desc.cols
            m.d.comb += [recv.values[i].eq(Mux(inside, result.value, 0)),
                         recv.nonzero[i].eq(inside & (result.value != 0))]
        m.d.comb += [recv.col.eq(recv_col[:cfg.col_bits]),
                     queue.w_data.eq(recv), queue.w_en.eq(receive)]

        m.submodules.broadcast = stage = BroadcastStage(cfg)
        m.d.comb += [stage.groups.payload.eq(queue.r_data),
                     stage.groups.valid.eq(queue.r_rdy),
                     queue.r_en.eq(stage.groups.ready)]
        for p in range(n):
            m.d.comb += stage.fifo_room[p].eq(self.fifo_room[p])
        wiring.connect(m, stage.bcast, wiring.flipped(self.bcast))
        with m.If(self.control.running & stage.waiting):
            m.d.sync += self.stall_cycles.eq(self.stall_cycles + 1)
        return ((issue_col >= s.desc.cols) & (in_flight == 0) & ~queue.r_rdy & ~stage.busy)

    def _sequence(self, m, s, scan_finished):
        """The layer sequencer: fetch, decode, run until drained, the next layer."""
        cfg = self.config
        layer_cycles = Signal(COUNTER_BITS)
        # "The scan is finished and every PE idle", registered before anything uses it:
        # the 64-input AND of the PEs' flags then ends at a flip-flop, not in the
        # sequencer and the cycle counters (issue 13). The layer ends when it held in
        # the two cycles before: the rule of two idle cycles in a row, a cycle later.
        drained, drained_before = Signal(), Signal()
        m.d.sync += drained.eq(scan_finished & self.pe_idle.all() & self.control.running)
        m.d.comb += self.busy.eq(~self.control.io_mode)
        with m.If(self.busy):
            m.d.sync += self.total_cycles.eq(self.total_cycles + 1)
        with m.If(self.control.running):
            m.d.sync += layer_cycles.eq(layer_cycles + 1)

        stepping = Signal()
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.control.io_mode.eq(1)
                with m.If(self.start):
                    m.d.comb += self.control.clear_counters.eq(1)
                    m.d.sync += [s.layer_idx.eq(0), s.src_use_bias.eq(0), s.src_shift.eq(0),
                                 s.src_relu.eq(0), s.src_bias_base.eq(0), self.done.eq(0),
                                 self.stall_cycles.eq(0), self.total_cycles.eq(0),
                                 self.layers_done.eq(0), stepping.eq(self.step)]
                    m.next = "FETCH"
            with m.State("PAUSE"):
                m.d.comb += [self.control.io_mode.eq(1), self.paused.eq(1)]
                with m.If(self.start):
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += s.fetch.eq(1)
                m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += [self.control.clear_dst.eq(1), s.restart.eq(1)]
                m.d.sync += [s.desc.eq(s.table.port.r_data), layer_cycles.eq(2),
                             drained_before.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.control.running.eq(1), s.scanning.eq(1)]
                # Two idle cycles in a row: nothing can be in a hand-off between units.
                m.d.sync += drained_before.eq(drained)
                with m.If(drained & drained_before):
                    m.d.comb += [s.cycles.port.w_addr.eq(s.layer_idx),
                                 s.cycles.port.w_en.eq(1),
                                 s.cycles.port.w_data.eq(layer_cycles + 1)]
                    self._layer_done(m, s)
                    with m.If(s.desc.last | (s.layer_idx == cfg.max_layers - 1)):
                        m.d.sync += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += s.layer_idx.eq(s.layer_idx + 1)
                        with m.If(stepping):
                            m.next = "PAUSE"
                        with m.Else():
                            m.next = "FETCH"

    def _layer_done(self, m, s):
        """The layer's outputs become the next layer's source, and the host's."""
        desc = s.desc
        m.d.sync += [s.src_bias_base.eq(desc.bias_base), s.src_use_bias.eq(1),
                     s.src_shift.eq(desc.weight_frac), s.src_relu.eq(desc.relu),
                     self.layers_done.eq(self.layers_done + 1),
                     # Host activation reads now see this layer's outputs.
                     self.out_bank.eq(~s.layer_idx[0]),
                     self.out_bias_base.eq(desc.bias_base),
                     self.out_use_bias.eq(1),
                     self.out_shift.eq(desc.weight_frac),
                     self.out_relu.eq(desc.relu)]
