"""The CCU's broadcast stage: group register, LNZD, and the registered broadcast.

Kept next to the CCU (eie_hw/ccu.py), its only user. A scanned group (`group_layout`)
loads into the group register; the LNZD quadtree picks the lowest block of W =
bcast_width adjacent columns that holds a non-zero, and that block goes to every PE from
registers, when the PEs' room flags say it will fit when it lands a cycle later.
"""

from amaranth.hdl import Cat, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import BroadcastSignature
from .layouts import fifo_room_layout, group_layout
from .lnzd import LNZD, any_below


class BroadcastStage(wiring.Component):
    """`groups` in, `bcast` out (eie_hw/interfaces.py, BroadcastSignature).

    Timing (sim/perf_model.py): a group is taken (`groups.ready`) in the cycle the
    register empties: the cycle its last block is sent, or the cycle after it loaded when
    it has no block; a block is sent in the cycle the LNZD shows it and every PE has room
    (`waiting` otherwise) and is on `bcast` the cycle after. `busy`: a block is in the
    register or on the bus.
    """

    def __init__(self, config: EIEConfig):
        self.config = config
        super().__init__({
            "groups": In(stream.Signature(group_layout(config))),
            "fifo_room": In(fifo_room_layout).array(config.n_pes),
            "bcast": Out(BroadcastSignature(config)),
            "waiting": Out(1),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        cfg = self.config
        n, w = cfg.n_pes, cfg.bcast_width
        m = Module()
        m.submodules.lnzd = lnzd = LNZD(n // w)

        # The group register: its values, which blocks still hold a non-zero, its column.
        g_values = Signal.like(self.groups.payload.values)
        g_blocks = Signal(n // w)
        g_col = Signal(cfg.col_bits)
        m.d.comb += lnzd.nonzero.eq(g_blocks)
        # The room flags are a cycle old, so they count neither this cycle's pops (which
        # only add room) nor the broadcast on the bus now, which takes a slot when it
        # lands: with one on the bus, every FIFO needs room for two.
        room_one = Cat(*(room.one for room in self.fifo_room)).all()
        room_two = Cat(*(room.two for room in self.fifo_room)).all()
        all_ready = Mux(self.bcast.valid, room_two, room_one)
        send = lnzd.valid & all_ready
        m.d.comb += [self.waiting.eq(lnzd.valid & ~all_ready),
                     self.busy.eq(lnzd.valid | self.bcast.valid)]

        # What a send leaves, and whether it empties the register, come from the blocks
        # by a prefix OR beside the LNZD, not through its index.
        after_send = g_blocks & any_below(m, g_blocks, name="g_blocks_below")
        group = self.groups.payload
        load = self.groups.valid & Mux(send, after_send == 0, ~lnzd.valid)
        m.d.comb += self.groups.ready.eq(load)
        with m.If(load):
            m.d.sync += [g_blocks[k].eq(group.nonzero[k * w:(k + 1) * w].any())
                         for k in range(n // w)]
            m.d.sync += g_col.eq(group.col)
        with m.Elif(send):
            m.d.sync += g_blocks.eq(after_send)
        # The values take the next group whenever the current one is down to its last
        # block (or none), sent or not: their enable, which reaches every value register,
        # then waits on registers only, never on the PEs' room flags. A last block still
        # waiting for room is safe in the payload register, which holds while it waits.
        with m.If(self.groups.valid & ((after_send == 0) | ~lnzd.valid)):
            m.d.sync += g_values.eq(group.values)

        # Values of zero or absent columns are zero in the group (ccu.py zeroes them as
        # they enter the queue), so the LNZD -> payload path is the value select alone.
        block_values = g_values.as_value().word_select(lnzd.index, w * cfg.act_bits)
        held = Signal()                # the payload is a block that waited for room
        m.d.sync += [self.bcast.valid.eq(send), held.eq(self.waiting)]
        with m.If(lnzd.valid & ~held):
            m.d.sync += self.bcast.payload.block.eq((g_col >> cfg.bcast_bits) + lnzd.index)
            m.d.sync += [self.bcast.payload.values[i].eq(
                block_values.word_select(i, cfg.act_bits)) for i in range(w)]
        return m
