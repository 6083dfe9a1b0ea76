"""The CCU alone, its broadcast under random back-pressure (issue 13): every block of
columns holding a non-zero goes out once, in order, from registers, and only into room
the PEs' registered flags promised, whatever the PEs pop."""

import random

import pytest
from amaranth.sim import Simulator

from eie_hw.ccu import CCU
from eie_hw.memory_map import SCAN_LATENCY, descriptor_fields

from helpers import small_config


def descriptor_word(config, **values) -> int:
    word, shift = 0, 0
    for name, width in descriptor_fields(config):
        word |= values.get(name, 0) << shift
        shift += width
    return word


def expected_broadcasts(acts, n_pes, width):
    """(block, values) of every block of `width` columns holding a non-zero."""
    out = []
    for k in range(-(-len(acts) // width)):
        values = [acts[c] if c < len(acts) else 0 for c in range(k * width, k * width + width)]
        if any(values):
            out.append((k, values))
    return out


class PEs:
    """The PEs as the CCU sees them: scan answers SCAN_LATENCY cycles after a request, and
    per PE a FIFO level popped at random, its room flags from the level register."""

    def __init__(self, dut, acts, depth, rng):
        self.dut, self.acts, self.depth, self.rng = dut, acts, depth, rng
        self.n = len(dut.fifo_room)
        self.levels = [0] * self.n
        self.answers = {}          # cycle -> group address
        self.received = []

    def step(self, ctx, cycle):
        dut = self.dut
        for p in range(self.n):
            ctx.set(dut.fifo_room[p].one, self.levels[p] < self.depth)
            ctx.set(dut.fifo_room[p].two, self.levels[p] + 1 < self.depth)
            ctx.set(dut.pe_idle[p], self.levels[p] == 0)
        group = self.answers.pop(cycle, None)
        for p, result in enumerate(dut.scan_results):
            ctx.set(result.valid, group is not None)
            col = (group or 0) * self.n + p
            ctx.set(result.value, self.acts[col] if col < len(self.acts) else 0x7ABC)
        if ctx.get(dut.scan.en):
            self.answers[cycle + SCAN_LATENCY] = ctx.get(dut.scan.addr)
        landing = ctx.get(dut.bcast.valid)
        if landing:
            payload = ctx.get(dut.bcast.payload)
            self.received.append((payload.block, list(payload.values)))
        for p in range(self.n):
            if landing:
                assert self.levels[p] < self.depth, f"a broadcast met PE {p}'s full FIFO"
            pop = self.levels[p] > 0 and self.rng.random() < 0.35
            self.levels[p] += int(landing) - int(pop)


@pytest.mark.parametrize("n_pes,width,depth,seed", [
    (4, 1, 1, 1), (4, 1, 2, 2), (8, 2, 2, 3), (16, 4, 3, 4), (8, 1, 8, 5), (16, 16, 1, 6)])
def test_every_block_goes_out_once_into_promised_room(n_pes, width, depth, seed):
    rng = random.Random(seed)
    config = small_config(n_pes=n_pes, bcast_width=width, fifo_depth=depth, act_entries=8)
    cols = rng.randrange(1, n_pes * config.act_entries + 1)
    acts = [rng.randrange(-2**15, 2**15) if rng.random() < 0.3 else 0 for _ in range(cols)]
    dut = CCU(config, layer_init=[descriptor_word(config, rows=1, cols=cols, last=1)])
    pes = PEs(dut, acts, depth, rng)

    async def bench(ctx):
        ctx.set(dut.start, 1)
        for cycle in range(20000):
            pes.step(ctx, cycle)
            await ctx.tick()
            ctx.set(dut.start, 0)
            if ctx.get(dut.done):
                break
        else:
            raise AssertionError("the layer never ended")
        assert pes.levels == [0] * n_pes   # the layer ends only when every PE drained

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert pes.received == expected_broadcasts(acts, n_pes, width)
