"""ActivationFIFO: full/empty flags, level, order under random push/pop, Verilog."""

import random
from collections import deque

import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from eie_hw.act_fifo import ActivationFIFO
from eie_hw.config import EIEConfig

from helpers import small_config


def run(dut, bench):
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_depth_1_full_and_empty():
    dut = ActivationFIFO(small_config(fifo_depth=1, act_entries=16))

    async def bench(ctx):
        assert ctx.get(dut.w.ready) and not ctx.get(dut.r.valid) and ctx.get(dut.level) == 0
        ctx.set(dut.w.payload, {"block": 5, "values": [-7]})
        ctx.set(dut.w.valid, 1)
        await ctx.tick()
        # One write fills it: the CCU must stall from here on.
        assert not ctx.get(dut.w.ready)
        assert ctx.get(dut.r.valid) and ctx.get(dut.level) == 1
        payload = ctx.get(dut.r.payload)
        assert (payload.block, payload.values[0]) == (5, -7)
        # A write offered while full is not taken, even when the entry is popped the
        # same cycle.
        ctx.set(dut.w.payload, {"block": 6, "values": [3]})
        ctx.set(dut.r.ready, 1)
        await ctx.tick()
        assert ctx.get(dut.level) == 0 and not ctx.get(dut.r.valid)
        assert ctx.get(dut.w.ready)
        ctx.set(dut.r.ready, 0)
        await ctx.tick()
        payload = ctx.get(dut.r.payload)
        assert ctx.get(dut.level) == 1 and (payload.block, payload.values[0]) == (6, 3)

    run(dut, bench)


@pytest.mark.parametrize("depth", [2, 8])
def test_fill_then_drain(depth):
    dut = ActivationFIFO(small_config(fifo_depth=depth, act_entries=16))
    written = []

    async def bench(ctx):
        ctx.set(dut.w.valid, 1)
        for i in range(depth + 3):
            item = {"block": i % 64, "values": [100 - 37 * i]}
            ctx.set(dut.w.payload, item)
            if ctx.get(dut.w.ready):
                written.append(item)
            assert ctx.get(dut.level) == min(i, depth)
            assert ctx.get(dut.w.ready) == (i < depth)
            await ctx.tick()
        assert len(written) == depth
        ctx.set(dut.w.valid, 0)
        ctx.set(dut.r.ready, 1)
        for item in written:
            assert ctx.get(dut.r.valid)
            payload = ctx.get(dut.r.payload)
            assert (payload.block, payload.values[0]) == (item["block"], item["values"][0])
            await ctx.tick()
        assert not ctx.get(dut.r.valid) and ctx.get(dut.level) == 0

    run(dut, bench)


@pytest.mark.parametrize("depth,seed", [(1, 1), (2, 2), (3, 3), (8, 4)])
def test_random_push_pop_keeps_order(depth, seed):
    rng = random.Random(seed)
    dut = ActivationFIFO(small_config(fifo_depth=depth, act_entries=16))
    items = [{"block": rng.randrange(64), "values": [rng.randrange(-2**15, 2**15)]}
             for _ in range(300)]
    received = []

    async def bench(ctx):
        model = deque()
        sent = 0
        valid = False
        for _ in range(1500):
            # Stream rule: once valid, hold the payload until it is taken.
            if not valid and sent < len(items) and rng.random() < 0.6:
                valid = True
            ctx.set(dut.w.valid, valid)
            if valid:
                ctx.set(dut.w.payload, items[sent])
            ready = rng.random() < 0.5
            ctx.set(dut.r.ready, ready)

            assert ctx.get(dut.level) == len(model)
            assert ctx.get(dut.w.ready) == (len(model) < depth)
            assert ctx.get(dut.r.valid) == bool(model)
            push = valid and ctx.get(dut.w.ready)
            if ready and ctx.get(dut.r.valid):
                payload = ctx.get(dut.r.payload)
                received.append({"block": payload.block, "values": [payload.values[0]]})
                assert received[-1] == model.popleft()
            if push:
                model.append(items[sent])
                sent += 1
                valid = False
            await ctx.tick()
            if len(received) == len(items):
                break

    run(dut, bench)
    assert received == items


@pytest.mark.parametrize("config", [small_config(fifo_depth=1, act_entries=16), EIEConfig()])
def test_converts_to_verilog(config):
    assert "module" in verilog.convert(ActivationFIFO(config), emit_src=False)
