"""PointerRead: even/odd bank addressing, blocks of W columns, empty and zero columns,
back-pressure, throughput, host port."""

import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from compress.images import pack_layers, ptr_bank_words
from compress.model import CompressedLayer
from eie_hw.config import EIEConfig
from eie_hw.ptr_read import PointerRead

from helpers import small_config

CFG = small_config(n_pes=2, act_entries=64, spmat_words=64)


def random_pointers(rng, n, config, empty=0.3):
    """n non-decreasing pointers (both banks interleaved), ~`empty` of columns empty."""
    p = [rng.randrange(8)]
    for _ in range(n - 1):
        p.append(p[-1] + (0 if rng.random() < empty else rng.randrange(1, 5)))
    assert p[-1] < 2 ** config.ptr_bits
    return p


def make_dut(p, config=CFG):
    pair = 2 * config.bcast_width
    p = np.array(list(p) + [p[-1]] * (-len(p) % pair))
    return PointerRead(config, even_init=ptr_bank_words(p, config, False),
                       odd_init=ptr_bank_words(p, config, True))


def expected(p, base, blocks, width=1):
    """The live ranges of `blocks` [(k, values)]: non-zero value and start < end."""
    out = []
    for k, values in blocks:
        values = _values(values)
        for i, v in enumerate(values):
            a = base + k * width + i
            if v != 0 and p[a] < p[a + 1]:
                out.append((p[a], p[a + 1], v))
    return out


def _values(values):
    return list(values) if isinstance(values, (list, tuple)) else [values]


def payload(block, values):
    return {"block": block, "values": _values(values)}


def run_columns(dut, ptr_base, cols, rng=None, p_valid=1.0, p_ready=1.0, max_cycles=5000):
    """Drive `cols` [(block, value or values)] into inp; return (outputs, inp transfer
    cycles, out cycles).

    Also checks the stream rule that a presented result stays put until it is taken.
    """
    rng = rng or random.Random(0)
    out, pops, out_cycles = [], [], []

    async def bench(ctx):
        ctx.set(dut.ptr_base, ptr_base)
        await ctx.tick()          # ptr_base is registered
        sent, valid, held = 0, False, None
        for cycle in range(max_cycles):
            if sent == len(cols) and not ctx.get(dut.busy):
                break
            if not valid and sent < len(cols) and rng.random() < p_valid:
                valid = True
            ctx.set(dut.inp.valid, valid)
            if valid:
                ctx.set(dut.inp.payload, payload(*cols[sent]))
            ready = rng.random() < p_ready
            ctx.set(dut.out.ready, ready)
            if ctx.get(dut.out.valid):
                pl = ctx.get(dut.out.payload)
                now = (pl.start, pl.end, pl.value)
                assert pl.single == (pl.start + 1 >= pl.end), "wrong one-entry flag"
                assert held is None or held == now, "payload changed before the transfer"
                held = now
                if ready:
                    out.append(now)
                    out_cycles.append(cycle)
                    held = None
            else:
                assert held is None, "valid dropped before the transfer"
            if valid and ctx.get(dut.inp.ready):
                pops.append(cycle)
                sent += 1
                valid = False
            await ctx.tick()
        else:
            raise AssertionError("timed out")
        assert not ctx.get(dut.out.valid)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out, pops, out_cycles


@pytest.mark.parametrize("ptr_base", [0, 6])
def test_even_and_odd_columns(ptr_base):
    rng = random.Random(ptr_base)
    p = [3 * i + i * i % 5 for i in range(40)]       # strictly increasing: no empties
    dut = make_dut(p)
    # Both parities of j, and of a = ptr_base + j, at both ends of the table; a zero
    # value is skipped.
    cols = [(0, 11), (1, -12), (2, 13), (7, -14), (8, 15), (31, 16), (32, 17), (5, 0)]
    cols = [(j, v) for j, v in cols if ptr_base + j + 1 < len(p)]
    out, _, _ = run_columns(dut, ptr_base, cols, rng)
    assert out == expected(p, ptr_base, cols)


def test_empty_columns_dropped():
    p = [0, 0, 4, 4, 4, 9, 10, 10, 10, 11, 11, 11]
    dut = make_dut(p)
    cols = [(j, j + 1) for j in range(len(p) - 1)] + [(0, 5), (1, 6), (3, 7)]
    out, _, _ = run_columns(dut, 0, cols)
    assert out == expected(p, 0, cols)
    assert [o[:2] for o in out] == [(0, 4), (4, 9), (9, 10), (10, 11), (0, 4)]


@pytest.mark.parametrize("seed,p_valid,p_ready", [(1, 0.9, 0.5), (2, 0.5, 0.8), (3, 1.0, 0.3)])
def test_random_columns_with_back_pressure(seed, p_valid, p_ready):
    rng = random.Random(seed)
    p = random_pointers(rng, 150, CFG)
    ptr_base = 2 * rng.randrange(20)
    dut = make_dut(p)
    n_cols = min(2 ** CFG.col_bits, len(p) - 1 - ptr_base)
    cols = [(rng.randrange(n_cols), rng.randrange(-2**15, 2**15)) for _ in range(150)]
    out, _, _ = run_columns(dut, ptr_base, cols, rng, p_valid, p_ready)
    assert out == expected(p, ptr_base, cols)


def test_one_column_per_cycle():
    p = list(range(0, 300, 3))
    dut = make_dut(p)
    k = 60
    cols = [((7 * i) % 90, i + 1) for i in range(k)]
    out, pops, out_cycles = run_columns(dut, 0, cols)
    assert out == expected(p, 0, cols)
    assert pops == list(range(pops[0], pops[0] + k)), "inp not popped every cycle"
    assert out_cycles[0] - pops[0] == PointerRead.LATENCY
    assert out_cycles[-1] - out_cycles[0] == k - 1


def test_stalled_output_holds_and_stops_popping():
    p = list(range(0, 100, 2))
    dut = make_dut(p)
    pops = []

    async def bench(ctx):
        ctx.set(dut.inp.valid, 1)
        for cycle in range(8):
            ctx.set(dut.inp.payload, payload(len(pops), len(pops) + 1))
            if ctx.get(dut.inp.ready):
                pops.append(cycle)
            await ctx.tick()
        # Three columns inside (output register, S2, bank data), nothing more taken.
        assert len(pops) == 3 and ctx.get(dut.busy)
        pl = ctx.get(dut.out.payload)
        assert ctx.get(dut.out.valid) and (pl.start, pl.end, pl.value) == (0, 2, 1)
        ctx.set(dut.inp.valid, 0)
        ctx.set(dut.out.ready, 1)
        for k in (1, 2):
            await ctx.tick()
            pl = ctx.get(dut.out.payload)
            assert ctx.get(dut.out.valid) and (pl.start, pl.end, pl.value) == (2 * k, 2 * k + 2,
                                                                               k + 1)
        await ctx.tick()
        assert not ctx.get(dut.out.valid) and not ctx.get(dut.busy)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def test_empty_columns_pass_a_stalled_output():
    """Dropped columns need no output slot, so they keep draining the FIFO."""
    p = [0, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5]
    dut = make_dut(p)
    pops = []

    async def bench(ctx):
        ctx.set(dut.inp.valid, 1)
        for cycle in range(12):
            ctx.set(dut.inp.payload, payload(min(len(pops), 9), 1))
            if ctx.get(dut.inp.ready):
                pops.append(cycle)
            await ctx.tick()
        assert pops == list(range(12))
        pl = ctx.get(dut.out.payload)
        assert ctx.get(dut.out.valid) and (pl.start, pl.end) == (0, 5)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("width", [1, 2])
def test_real_images_two_layers(width):
    """Pointers from packed images: layer 1 starts at a non-zero ptr_base."""
    rng = np.random.default_rng(5)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    layers = []
    for name, (rows, cols) in (("a", (24, 17)), ("b", (9, 24))):
        codes = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < 0.15)
        layers.append(CompressedLayer(name=name, codes=codes.astype(np.uint8),
                                      codebook=codebook, weight_frac=12, relu=True))
    cfg = CFG.replace(bcast_width=width)
    images = pack_layers(layers, cfg)
    assert images.layers[1].ptr_base > 0
    for pe in range(cfg.n_pes):
        p = [int(x) for x in images.ptr[pe]]
        for li, desc in enumerate(images.layers):
            dut = PointerRead(cfg, even_init=images.ptr_bank(pe, False),
                              odd_init=images.ptr_bank(pe, True))
            # Every block of the layer, the last one padded with zero values.
            n_blocks = -(-desc.cols // width)
            cols = [(k, [j + 1 if j < desc.cols else 0
                         for j in range(k * width, (k + 1) * width)]) for k in range(n_blocks)]
            out, _, _ = run_columns(dut, desc.ptr_base, cols)
            assert out == expected(p, desc.ptr_base, cols, width)
            pointers = images.layer_pointers(pe, li)
            assert sum(e - s for s, e, _ in out) == pointers[-1] - pointers[0]


def test_host_port_in_io_mode():
    p = list(range(20))
    dut = make_dut(p)

    async def bench(ctx):
        # Compute mode: host writes are ignored.
        for host in (dut.host_even, dut.host_odd):
            ctx.set(host.w_addr, 3)
            ctx.set(host.w_data, 99)
            ctx.set(host.w_en, 1)
        await ctx.tick()
        ctx.set(dut.io_mode, 1)
        assert not ctx.get(dut.inp.ready)
        for host in (dut.host_even, dut.host_odd):
            ctx.set(host.w_en, 0)
            ctx.set(host.r_addr, 3)
            ctx.set(host.r_en, 1)
        await ctx.tick()
        for host in (dut.host_even, dut.host_odd):
            ctx.set(host.r_en, 0)
        await ctx.tick()        # host requests are registered first (share_with_host)
        assert ctx.get(dut.host_even.r_data) == 6 and ctx.get(dut.host_odd.r_data) == 7
        # I/O mode: write, then read back two cycles after r_en.
        for host, data in ((dut.host_even, 200), (dut.host_odd, 201)):
            ctx.set(host.w_addr, 4)
            ctx.set(host.w_data, data)
            ctx.set(host.w_en, 1)
        await ctx.tick()
        for host in (dut.host_even, dut.host_odd):
            ctx.set(host.w_en, 0)
            ctx.set(host.r_addr, 4)
            ctx.set(host.r_en, 1)
        await ctx.tick()
        for host in (dut.host_even, dut.host_odd):
            ctx.set(host.r_en, 0)
        await ctx.tick()
        assert ctx.get(dut.host_even.r_data) == 200 and ctx.get(dut.host_odd.r_data) == 201
        # Back to compute: column 8 (even a) now reads p[8] = 200, p[9] = 201.
        ctx.set(dut.io_mode, 0)
        ctx.set(dut.out.ready, 1)
        ctx.set(dut.inp.valid, 1)
        ctx.set(dut.inp.payload, payload(8, 1))
        assert ctx.get(dut.inp.ready)
        await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        await ctx.tick().repeat(PointerRead.LATENCY - 1)
        pl = ctx.get(dut.out.payload)
        assert ctx.get(dut.out.valid) and (pl.start, pl.end) == (200, 201)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("config", [
    EIEConfig(n_pes=1, act_entries=1, spmat_words=1, sram_width=8, ptr_entries=2),
    EIEConfig(n_pes=8, act_entries=64, spmat_words=1024, ptr_entries=1024),
    EIEConfig(n_pes=8, act_entries=64, spmat_words=1024, ptr_entries=1024, bcast_width=8),
])
def test_converts_to_verilog(config):
    dut = PointerRead(config, even_init=[0], odd_init=[1])
    assert "module" in verilog.convert(dut, emit_src=False)
