"""ActivationFIFO: room flags, level, the CCU's send protocol under random pops, Verilog."""

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


def room(ctx, dut):
    return ctx.get(dut.room.one), ctx.get(dut.room.two)


def entries(depth):
    return depth + ActivationFIFO.LANDING_SLOTS


def test_depth_1_room_flags():
    """Depth 1: one broadcast ahead of the PE, and the landing slot."""
    dut = ActivationFIFO(small_config(fifo_depth=1, act_entries=16))
    assert entries(1) == 2

    async def bench(ctx):
        assert room(ctx, dut) == (1, 1) and not ctx.get(dut.r.valid)
        ctx.set(dut.w.payload, {"block": 5, "values": [-7]})
        ctx.set(dut.w.valid, 1)
        await ctx.tick()
        assert room(ctx, dut) == (1, 0)
        ctx.set(dut.w.payload, {"block": 6, "values": [3]})
        await ctx.tick()
        ctx.set(dut.w.valid, 0)
        assert room(ctx, dut) == (0, 0)
        assert ctx.get(dut.r.valid) and ctx.get(dut.level) == 2
        payload = ctx.get(dut.r.payload)
        assert (payload.block, payload.values[0]) == (5, -7)
        # A pop frees a slot, and the room flags say so only from the next cycle: they
        # come from the level register, with no path from this cycle's read.
        ctx.set(dut.r.ready, 1)
        assert room(ctx, dut) == (0, 0)
        await ctx.tick()
        ctx.set(dut.r.ready, 0)
        assert room(ctx, dut) == (1, 0) and ctx.get(dut.level) == 1

    run(dut, bench)


@pytest.mark.parametrize("depth", [2, 8])
def test_fill_then_drain(depth):
    dut = ActivationFIFO(small_config(fifo_depth=depth, act_entries=16))
    written = [{"block": i % 64, "values": [100 - 37 * i]} for i in range(entries(depth))]

    async def bench(ctx):
        ctx.set(dut.w.valid, 1)
        for i, item in enumerate(written):
            assert ctx.get(dut.level) == i
            assert room(ctx, dut) == (1, int(i + 1 < entries(depth)))
            ctx.set(dut.w.payload, item)
            await ctx.tick()
        ctx.set(dut.w.valid, 0)
        assert room(ctx, dut) == (0, 0)
        ctx.set(dut.r.ready, 1)
        for item in written:
            assert ctx.get(dut.r.valid)
            payload = ctx.get(dut.r.payload)
            assert (payload.block, payload.values[0]) == (item["block"], item["values"][0])
            await ctx.tick()
        assert not ctx.get(dut.r.valid) and ctx.get(dut.level) == 0

    run(dut, bench)


@pytest.mark.parametrize("depth,seed", [(1, 1), (2, 2), (3, 3), (8, 4)])
def test_ccu_protocol_under_random_pops(depth, seed):
    """The CCU's side of the broadcast (eie_hw/ccu.py): decide from the room flags, with
    two slots asked while a broadcast is on the bus, and put the broadcast on the bus a
    cycle later. Under random pops no write may meet a full FIFO, nothing is lost or
    reordered, and a sender with something to send waits only while there is no room."""
    rng = random.Random(seed)
    dut = ActivationFIFO(small_config(fifo_depth=depth, act_entries=16))
    capacity = entries(depth)
    items = [{"block": rng.randrange(64), "values": [rng.randrange(-2**15, 2**15)]}
             for _ in range(300)]
    received = []

    async def bench(ctx):
        model = deque()
        sent = 0
        on_bus = None
        for _ in range(3000):
            ctx.set(dut.w.valid, on_bus is not None)
            if on_bus is not None:
                ctx.set(dut.w.payload, on_bus)
                assert len(model) < capacity, "a broadcast met a full FIFO"
            pop = rng.random() < 0.4
            ctx.set(dut.r.ready, pop)
            assert ctx.get(dut.level) == len(model)
            assert ctx.get(dut.r.valid) == bool(model)
            one, two = room(ctx, dut)
            want = sent < len(items) and rng.random() < 0.7
            send = want and (two if on_bus is not None else one)
            # Room is refused only when the FIFO, counting what is on the bus, is full.
            if want and not send:
                assert len(model) + (on_bus is not None) >= capacity
            if pop and model:
                payload = ctx.get(dut.r.payload)
                received.append({"block": payload.block, "values": [payload.values[0]]})
                assert received[-1] == model.popleft()
            if on_bus is not None:
                model.append(on_bus)
            on_bus = items[sent] if send else None
            sent += bool(send)
            await ctx.tick()
            if len(received) == len(items):
                break

    run(dut, bench)
    assert received == items


@pytest.mark.parametrize("config", [small_config(fifo_depth=1, act_entries=16), EIEConfig()])
def test_converts_to_verilog(config):
    assert "module" in verilog.convert(ActivationFIFO(config), emit_src=False)
