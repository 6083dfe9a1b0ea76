"""Activation FIFO: the per-PE queue of broadcast (j, a_j) pairs (spec 1, dataflow 2)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .interfaces import BroadcastSignature
from .layouts import broadcast_layout, fifo_room_layout


class ActivationFIFO(wiring.Component):
    """`config.fifo_depth` broadcasts the CCU may send ahead of the PE, plus
    `LANDING_SLOTS` = 1 more entry; first-word-fall-through.

    A broadcast is written in the cycle it arrives (`w.valid`): the CCU sends only into
    room it has seen in `room` (eie_hw/ccu.py), so a write never meets a full queue.
    `room` comes from the queue's level register alone, with no path from this cycle's
    read or write, so the CCU's view is a cycle old, and a broadcast on the bus must have
    its slot before it lands: that is the extra entry. With it the queue buffers as
    much as a `fifo_depth` queue whose full flag the CCU saw in the same cycle (the paper's
    design and ours before issue 13): without it, Table III's NT-We took 1 % more
    cycles. A full queue does not accept a write in the cycle it is read (`SyncFIFO`).
    """

    LANDING_SLOTS = 1

    def __init__(self, config: EIEConfig):
        self.config = config
        layout = broadcast_layout(config)
        super().__init__({
            "w": In(BroadcastSignature(config)),
            "room": Out(fifo_room_layout),
            "r": Out(stream.Signature(layout)),
            "level": Out(range(config.fifo_depth + self.LANDING_SLOTS + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        depth = self.config.fifo_depth + self.LANDING_SLOTS
        m.submodules.fifo = fifo = SyncFIFO(width=len(self.w.payload.as_value()), depth=depth)
        m.d.comb += [
            fifo.w_data.eq(self.w.payload),
            fifo.w_en.eq(self.w.valid),
            self.r.payload.eq(fifo.r_data),
            self.r.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.r.ready),
            self.level.eq(fifo.level),
            self.room.one.eq(fifo.w_rdy),              # not full: level != depth
            self.room.two.eq(fifo.level + 1 < depth),
        ]
        return m
