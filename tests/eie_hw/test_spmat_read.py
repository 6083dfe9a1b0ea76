"""SpmatRead: entries from packed images, one per cycle, no bubbles, minimal word reads."""

import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from compress.images import pack_layers
from compress.model import CompressedLayer
from eie_hw.spmat_read import SpmatRead

from helpers import small_config

BASE = small_config(n_pes=2, spmat_words=64)


def to_words(entries, config):
    epw, bits = config.entries_per_word, config.entry_bits
    return [sum(int(e) << (s * bits) for s, e in enumerate(entries[w:w + epw]))
            for w in range(0, len(entries), epw)]


def model(entries, ranges, config):
    """Expected (code, z, value, first) stream and the number of word reads."""
    out, reads, held = [], 0, None
    for start, end, value in ranges:
        for e in range(start, end):
            word = e >> config.slot_bits
            if word != held:
                reads, held = reads + 1, word
            ent = int(entries[e])
            out.append((ent & (config.codebook_size - 1), ent >> config.code_bits, value,
                        int(e == start)))
    return out, reads


def run_ranges(dut, ranges, rng=None, p_valid=1.0, max_cycles=20000):
    """Feed `ranges`; return [(cycle, code, z, value, first)], inp transfer cycles, reads."""
    rng = rng or random.Random(0)
    out, takes, result = [], [], {}

    async def bench(ctx):
        sent, valid = 0, False
        for cycle in range(max_cycles):
            if sent == len(ranges) and not ctx.get(dut.busy):
                break
            if not valid and sent < len(ranges) and rng.random() < p_valid:
                valid = True
            ctx.set(dut.inp.valid, valid)
            if valid:
                start, end, value = ranges[sent]
                ctx.set(dut.inp.payload, {"start": start, "end": end, "value": value,
                                          "single": int(start + 1 >= end)})
            if ctx.get(dut.out.valid):
                pl = ctx.get(dut.out.payload)
                out.append((cycle, pl.code, pl.z, pl.value, pl.first))
            if valid and ctx.get(dut.inp.ready):
                takes.append(cycle)
                sent += 1
                valid = False
            await ctx.tick()
        else:
            raise AssertionError("timed out")
        result["reads"] = ctx.get(dut.reads)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return out, takes, result["reads"]


def packed_layer(config, seed, rows=40, cols=48):
    """A layer whose columns range from empty to dense, so that some cross words and some
    share one; returns the images."""
    rng = np.random.default_rng(seed)
    density = rng.choice([0.0, 0.0, 0.03, 0.1, 0.3, 0.9], size=cols)
    codes = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    layer = CompressedLayer(name="l", codes=codes.astype(np.uint8), codebook=codebook,
                            weight_frac=12, relu=False)
    return pack_layers([layer], config)


@pytest.mark.parametrize("sram_width", [32, 64, 128])
def test_packed_columns_back_to_back(sram_width):
    config = BASE.replace(sram_width=sram_width)
    images = packed_layer(config, seed=sram_width)
    rng = random.Random(sram_width)
    for pe in range(config.n_pes):
        entries = images.spmat[pe]
        p = images.layer_pointers(pe, 0)
        # Non-zero activations of a random subset of columns, empty ones dropped as the
        # pointer stage does.
        ranges = [(int(p[j]), int(p[j + 1]), rng.randrange(-2**15, 2**15))
                  for j in range(len(p) - 1) if p[j] != p[j + 1] and rng.random() < 0.8]
        assert any(e - s > config.entries_per_word for s, e, _ in ranges)
        assert any((s >> config.slot_bits) == ((e0 - 1) >> config.slot_bits)
                   for (_, e0, _), (s, _, _) in zip(ranges, ranges[1:]))
        dut = SpmatRead(config, init=to_words(entries, config))
        out, takes, reads = run_ranges(dut, ranges)
        want, want_reads = model(entries, ranges, config)
        assert [o[1:] for o in out] == want
        # One entry per cycle from the first to the last: no bubble between ranges.
        assert out[-1][0] - out[0][0] == len(want) - 1
        assert out[0][0] - takes[0] == SpmatRead.LATENCY
        # Columns arrive in ascending order, so each word is read exactly once.
        assert reads == want_reads == len({e >> config.slot_bits for s, e1, _ in ranges
                                           for e in range(s, e1)})


@pytest.mark.parametrize("sram_width,seed", [(32, 1), (64, 2), (128, 3), (8, 4)])
def test_random_words_and_ranges_with_gaps(sram_width, seed):
    """Arbitrary entry bits, ranges that jump back and forth, inp with idle cycles."""
    config = BASE.replace(sram_width=sram_width, spmat_words=32)
    rng = random.Random(seed)
    n = config.spmat_entries
    entries = [rng.randrange(1 << config.entry_bits) for _ in range(n)]
    ranges = []
    for _ in range(60):
        start = rng.randrange(n) if rng.random() < 0.5 or not ranges else ranges[-1][1] % n
        length = rng.choice([1, 1, 2, 3, config.entries_per_word, 2 * config.entries_per_word + 1])
        ranges.append((start, min(n, start + length), rng.randrange(-2**15, 2**15)))
    dut = SpmatRead(config, init=to_words(entries, config))
    out, _, reads = run_ranges(dut, ranges, rng, p_valid=0.6)
    want, want_reads = model(entries, ranges, config)
    assert [o[1:] for o in out] == want
    assert reads == want_reads


def test_reads_count_distinct_consecutive_words():
    config = BASE.replace(sram_width=32)     # 4 entries per word
    entries = list(range(1, config.spmat_entries + 1))
    entries = [e & 0xFF for e in entries]
    # Word 0 only, word 0 again (no read), words 0..2, word 2 again, word 1, word 5.
    ranges = [(0, 2, 1), (2, 4, 2), (3, 10, 3), (9, 11, 4), (5, 6, 5), (20, 21, 6)]
    dut = SpmatRead(config, init=to_words(entries, config))
    out, _, reads = run_ranges(dut, ranges)
    want, want_reads = model(entries, ranges, config)
    assert [o[1:] for o in out] == want
    assert want_reads == 5 and reads == 5
    assert out[-1][0] - out[0][0] == len(want) - 1


def test_single_entry_ranges_one_per_cycle():
    config = BASE.replace(sram_width=64)
    entries = [(7 * i + 3) & 0xFF for i in range(config.spmat_entries)]
    ranges = [(i, i + 1, i) for i in range(0, 40)] + [(i, i + 1, -i) for i in range(90, 70, -1)]
    dut = SpmatRead(config, init=to_words(entries, config))
    out, takes, reads = run_ranges(dut, ranges)
    want, want_reads = model(entries, ranges, config)
    assert [o[1:] for o in out] == want
    assert takes == list(range(takes[0], takes[0] + len(ranges)))
    assert out[-1][0] - out[0][0] == len(want) - 1
    assert reads == want_reads


def test_clear_reads_host_port_and_io_mode():
    config = BASE.replace(sram_width=32, spmat_words=16)
    entries = [(3 * i) & 0xFF for i in range(config.spmat_entries)]
    dut = SpmatRead(config, init=to_words(entries, config))
    seen = []

    async def feed(ctx, start, end):
        ctx.set(dut.inp.payload, {"start": start, "end": end, "value": 1,
                                  "single": int(start + 1 >= end)})
        ctx.set(dut.inp.valid, 1)
        while not ctx.get(dut.inp.ready):
            await ctx.tick()
        await ctx.tick()
        ctx.set(dut.inp.valid, 0)
        while ctx.get(dut.busy):
            if ctx.get(dut.out.valid):
                pl = ctx.get(dut.out.payload)
                seen.append(pl.code | pl.z << config.code_bits)
            await ctx.tick()

    async def bench(ctx):
        await feed(ctx, 0, 3)
        assert ctx.get(dut.reads) == 1 and seen == entries[0:3]
        ctx.set(dut.clear_reads, 1)
        await ctx.tick()
        ctx.set(dut.clear_reads, 0)
        assert ctx.get(dut.reads) == 0
        # Host writes outside I/O mode are ignored.
        ctx.set(dut.host.w_addr, 0)
        ctx.set(dut.host.w_data, 0x44332211)
        ctx.set(dut.host.w_en, 1)
        await ctx.tick()
        ctx.set(dut.io_mode, 1)
        assert not ctx.get(dut.inp.ready)
        ctx.set(dut.host.w_en, 0)
        ctx.set(dut.host.r_addr, 0)
        ctx.set(dut.host.r_en, 1)
        await ctx.tick()
        ctx.set(dut.host.r_en, 0)
        await ctx.tick()        # host requests are registered first (share_with_host)
        assert ctx.get(dut.host.r_data) == to_words(entries, config)[0]
        ctx.set(dut.host.w_en, 1)
        await ctx.tick()
        ctx.set(dut.host.w_en, 0)
        ctx.set(dut.host.r_en, 1)
        await ctx.tick()
        ctx.set(dut.host.r_en, 0)
        await ctx.tick()
        assert ctx.get(dut.host.r_data) == 0x44332211
        ctx.set(dut.io_mode, 0)
        # Word 0 changed under the held copy: I/O mode made the unit read it again.
        seen.clear()
        await feed(ctx, 1, 4)
        assert seen == [0x22, 0x33, 0x44] and ctx.get(dut.reads) == 1

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


@pytest.mark.parametrize("config", [BASE.replace(sram_width=8, spmat_words=1),
                                    BASE.replace(sram_width=64),
                                    BASE.replace(sram_width=128, spmat_words=100)])
def test_converts_to_verilog(config, signal_ports):
    dut = SpmatRead(config, init=[1, 2][:config.spmat_words])
    assert "module" in verilog.convert(dut, emit_src=False, ports=signal_ports(dut))
