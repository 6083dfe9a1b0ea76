"""Central control unit: layer sequencing, activation scan, LNZD, broadcast.

Computing mode, per layer (descriptor from the on-chip layer table):
- scan group g (local index g of every PE's source bank, i.e. columns g*N .. g*N+N-1)
  through each PE's output-stage read path, a few groups ahead (credit-limited queue);
- the LNZD quadtree picks the lowest block of W = bcast_width adjacent columns of the
  current group that holds a non-zero; the block (its W values, zero where the column
  is zero) is broadcast to every PE when no PE's FIFO is full (otherwise the CCU stalls
  and counts);
- when every group is broadcast and every PE has drained, the layer ends; the next
  descriptor follows until the one marked `last`.
I/O mode (idle): the host port owns every memory; see eie.py.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, fifo, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import LayerControlSignature, ScanRequestSignature, ScanResultSignature
from .layouts import broadcast_layout
from .lnzd import LNZD
from .memory_map import (COUNTER_BITS, LAYERS_FILE, SCAN_LATENCY, descriptor_bits,
                         descriptor_layout)
from .sram import SRAM, SRAMPortSignature, share_with_host


class CCU(wiring.Component):
    # Scan reads in flight plus queued groups; enough that the LNZD never waits for
    # a group while the scan pipeline is full.
    QUEUE_DEPTH = SCAN_LATENCY + 2

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
            "bcast_valid": Out(1),
            "bcast_payload": Out(broadcast_layout(config)),
            # From every PE.
            "scan_results": In(ScanResultSignature(config)).array(n),
            "fifo_ready": In(n),
            "pe_idle": In(n),
            # Counters.
            "stall_cycles": Out(COUNTER_BITS),
            "total_cycles": Out(COUNTER_BITS),
            "layers_done": Out(range(config.max_layers + 1)),
        })

    def elaborate(self, platform):
        cfg = self.config
        n = cfg.n_pes
        m = Module()

        m.submodules.table = table = SRAM(width=descriptor_bits(cfg), depth=cfg.max_layers,
                                          init=self.layer_init, init_file=self.layer_file)
        m.submodules.cycles = cycles_mem = SRAM(width=COUNTER_BITS, depth=cfg.max_layers)
        w = cfg.bcast_width
        m.submodules.lnzd = lnzd = LNZD(n // w)

        desc = Signal(descriptor_layout(cfg))
        layer_idx = Signal(range(max(2, cfg.max_layers)))  # bit 0 selects the bank
        layer_cycles = Signal(COUNTER_BITS)

        # Output stage of the layer whose outputs are being scanned (layer -1 = the
        # host's inputs: identity).
        src_bias_base = Signal(range(cfg.bias_entries))
        src_use_bias = Signal()
        src_shift = Signal(range(cfg.acc_bits))
        src_relu = Signal()

        m.d.comb += [
            self.control.layer.eq(layer_idx),
            self.control.ptr_base.eq(desc.ptr_base),
            self.control.dst_bank.eq(~layer_idx[0]),
            self.scan.bank.eq(layer_idx[0]),
            self.scan.bias_base.eq(src_bias_base),
            self.scan.use_bias.eq(src_use_bias),
            self.scan.shift.eq(src_shift),
            self.scan.relu.eq(src_relu),
        ]

        # ---- host access to the tables while idle
        fetch = Signal()   # read the next layer's descriptor
        share_with_host(m, table.port, self.host_layers, self.control.io_mode,
                        read_addr=layer_idx, read_en=fetch)
        # The cycle counters: the CCU writes them, the host reads them in I/O mode, its
        # request registered like every memory's (sram.share_with_host).
        cycles_addr = Signal.like(self.host_layer_cycles.r_addr)
        cycles_read = Signal()
        m.d.sync += [cycles_addr.eq(self.host_layer_cycles.r_addr),
                     cycles_read.eq(self.host_layer_cycles.r_en & self.control.io_mode)]
        with m.If(cycles_read):
            m.d.comb += [cycles_mem.port.r_addr.eq(cycles_addr), cycles_mem.port.r_en.eq(1)]
        m.d.comb += self.host_layer_cycles.r_data.eq(cycles_mem.port.r_data)

        # ---- scan issue / receive, group queue, group register, broadcast
        queue = fifo.SyncFIFO(width=n * cfg.act_bits + n + cfg.col_bits, depth=self.QUEUE_DEPTH)
        m.submodules.queue = queue
        issue_group = Signal(range(cfg.act_entries + 1))
        issue_col = Signal(cfg.col_bits + 2)
        recv_col = Signal(cfg.col_bits + 2)
        in_flight = Signal(range(self.QUEUE_DEPTH + 1))
        scanning = Signal()

        room = (in_flight + queue.level) < self.QUEUE_DEPTH
        issue = scanning & (issue_col < desc.cols) & room
        m.d.comb += [self.scan.en.eq(issue), self.scan.addr.eq(issue_group)]
        receive = scanning & self.scan_results[0].valid
        with m.If(issue & ~receive):
            m.d.sync += in_flight.eq(in_flight + 1)
        with m.Elif(~issue & receive):
            m.d.sync += in_flight.eq(in_flight - 1)
        with m.If(issue):
            m.d.sync += [issue_group.eq(issue_group + 1), issue_col.eq(issue_col + n)]

        recv_values = Cat(*(result.value for result in self.scan_results))
        recv_mask = Signal(n)
        for i in range(n):
            m.d.comb += recv_mask[i].eq((self.scan_results[i].value != 0)
                                        & (recv_col + i < desc.cols))
        m.d.comb += [queue.w_data.eq(Cat(recv_values, recv_mask, recv_col[:cfg.col_bits])),
                     queue.w_en.eq(receive)]
        with m.If(receive):
            m.d.sync += recv_col.eq(recv_col + n)

        g_values = Signal(data.ArrayLayout(signed(cfg.act_bits), n))
        g_mask = Signal(n)
        g_col = Signal(cfg.col_bits)
        for k in range(n // w):
            m.d.comb += lnzd.nonzero[k].eq(g_mask[k * w:(k + 1) * w].any())
        all_ready = self.fifo_ready.all()
        send = lnzd.valid & all_ready
        block_shift = Cat(Const(0, cfg.bcast_bits), lnzd.index)     # index * W
        # Values whose mask bit is clear were zeroed when the group loaded (a block's bits
        # are cleared together, so the load mask is the send mask): the LNZD -> payload
        # path, the CCU's critical one, is the value select alone.
        block_values = g_values.as_value().word_select(lnzd.index, w * cfg.act_bits)
        m.d.comb += [
            self.bcast_valid.eq(send),
            self.bcast_payload.block.eq((g_col >> cfg.bcast_bits) + lnzd.index),
        ]
        for i in range(w):
            m.d.comb += self.bcast_payload.values[i].eq(
                block_values.word_select(i, cfg.act_bits))
        remaining = Signal(n)
        m.d.comb += remaining.eq(g_mask)
        with m.If(send):
            m.d.comb += remaining.eq(g_mask & ~(Const((1 << w) - 1, n) << block_shift))
        load = (remaining == 0) & queue.r_rdy
        m.d.comb += queue.r_en.eq(load)
        q_values = queue.r_data[:n * cfg.act_bits]
        q_mask = queue.r_data[n * cfg.act_bits:n * cfg.act_bits + n]
        with m.If(load):
            m.d.sync += [g_mask.eq(q_mask), g_col.eq(queue.r_data[n * cfg.act_bits + n:])]
            m.d.sync += [g_values[i].eq(
                Mux(q_mask[i], q_values.word_select(i, cfg.act_bits), 0)) for i in range(n)]
        with m.Else():
            m.d.sync += g_mask.eq(remaining)
        with m.If(self.control.running & lnzd.valid & ~all_ready):
            m.d.sync += self.stall_cycles.eq(self.stall_cycles + 1)

        scan_finished = ((issue_col >= desc.cols) & (in_flight == 0) & ~queue.r_rdy
                         & (g_mask == 0))
        all_idle = self.pe_idle.all()
        idle_before = Signal()

        # ---- layer sequencing
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
                    m.d.sync += [layer_idx.eq(0), src_use_bias.eq(0), src_shift.eq(0),
                                 src_relu.eq(0), src_bias_base.eq(0), self.done.eq(0),
                                 self.stall_cycles.eq(0), self.total_cycles.eq(0),
                                 self.layers_done.eq(0), stepping.eq(self.step)]
                    m.next = "FETCH"
            with m.State("PAUSE"):
                m.d.comb += [self.control.io_mode.eq(1), self.paused.eq(1)]
                with m.If(self.start):
                    m.next = "FETCH"
            with m.State("FETCH"):
                m.d.comb += fetch.eq(1)
                m.next = "DECODE"
            with m.State("DECODE"):
                m.d.comb += self.control.clear_dst.eq(1)
                m.d.sync += [desc.eq(table.port.r_data), issue_group.eq(0), issue_col.eq(0),
                             recv_col.eq(0), in_flight.eq(0), layer_cycles.eq(2),
                             idle_before.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [self.control.running.eq(1), scanning.eq(1)]
                # Two idle cycles in a row: nothing can be in a hand-off between units.
                m.d.sync += idle_before.eq(scan_finished & all_idle)
                with m.If(scan_finished & all_idle & idle_before):
                    m.d.comb += [cycles_mem.port.w_addr.eq(layer_idx),
                                 cycles_mem.port.w_en.eq(1),
                                 cycles_mem.port.w_data.eq(layer_cycles + 1)]
                    m.d.sync += [src_bias_base.eq(desc.bias_base), src_use_bias.eq(1),
                                 src_shift.eq(desc.weight_frac), src_relu.eq(desc.relu),
                                 self.layers_done.eq(self.layers_done + 1),
                                 # Host activation reads now see this layer's outputs.
                                 self.out_bank.eq(~layer_idx[0]),
                                 self.out_bias_base.eq(desc.bias_base),
                                 self.out_use_bias.eq(1),
                                 self.out_shift.eq(desc.weight_frac),
                                 self.out_relu.eq(desc.relu)]
                    with m.If(desc.last | (layer_idx == cfg.max_layers - 1)):
                        m.d.sync += self.done.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += layer_idx.eq(layer_idx + 1)
                        with m.If(stepping):
                            m.next = "PAUSE"
                        with m.Else():
                            m.next = "FETCH"
        return m
