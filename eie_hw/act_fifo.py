"""Activation FIFO: the per-PE queue of broadcast (j, a_j) pairs (spec 1, dataflow 2)."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .config import EIEConfig
from .layouts import broadcast_layout


class ActivationFIFO(wiring.Component):
    """`config.fifo_depth` broadcasts, first-word-fall-through.

    `w.ready` is low exactly when the queue is full; the CCU stalls its broadcast on it.
    A full queue does not accept a write in the cycle it is read (`SyncFIFO` semantics),
    so at depth 1 a PE takes at most one column every other cycle: the paper's depth-1
    point, where about half the cycles are idle.
    """

    def __init__(self, config: EIEConfig):
        self.config = config
        layout = broadcast_layout(config)
        super().__init__({
            "w": In(stream.Signature(layout)),
            "r": Out(stream.Signature(layout)),
            "level": Out(range(config.fifo_depth + 1)),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = fifo = SyncFIFO(width=len(self.w.payload.as_value()),
                                            depth=self.config.fifo_depth)
        m.d.comb += [
            fifo.w_data.eq(self.w.payload),
            fifo.w_en.eq(self.w.valid),
            self.w.ready.eq(fifo.w_rdy),
            self.r.payload.eq(fifo.r_data),
            self.r.valid.eq(fifo.r_rdy),
            fifo.r_en.eq(self.r.ready),
            self.level.eq(fifo.level),
        ]
        return m
