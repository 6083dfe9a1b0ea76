"""ArithmeticUnit + ActRW: streamed entries accumulate bit-exactly into the dst bank."""

import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.hdl import Elaboratable, Module, Mux, Signal
from amaranth.sim import Simulator

from compress.fixedpoint import output_stage, wrap
from eie_hw.act_rw import ActRW
from eie_hw.arith import ArithmeticUnit, weight_slices
from eie_hw.config import EIEConfig

from helpers import NARROW_ARITH, small_config


# Narrowest accumulator (wraps often), few rows (same-row hits often).
NARROW = small_config(n_pes=2, act_entries=8, bias_entries=16, max_layers=2, **NARROW_ARITH)
# Other entry fields, and a codebook depth that is not a power of two.
ODD = NARROW.replace(code_bits=3, index_bits=5, max_layers=3)
# The default widths, with enough rows for filler entries (z = 15) to matter.
WIDE = NARROW.replace(act_bits=16, act_frac=8, weight_bits=16, acc_bits=32, act_entries=40,
                      bias_entries=48, max_layers=3)


class Harness(Elaboratable):
    """ArithmeticUnit wired to ActRW as in the PE; `chk_*` takes over the dst read port
    after a stream so that the bank words can be read back exactly."""

    def __init__(self, cfg, codebook_init=(), bias_init=()):
        self.au = ArithmeticUnit(cfg, codebook_init=codebook_init)
        self.act = ActRW(cfg, bias_init=bias_init)
        self.io_mode = Signal()
        self.chk_en = Signal()
        self.chk_addr = Signal(range(cfg.act_entries))

    def elaborate(self, platform):
        m = Module()
        m.submodules.au, m.submodules.act = au, act = self.au, self.act
        m.d.comb += [
            act.dst.raddr.eq(Mux(self.chk_en, self.chk_addr, au.dst.raddr)),
            act.dst.ren.eq(au.dst.ren | self.chk_en),
            au.dst.rdata.eq(act.dst.rdata),
            act.dst.waddr.eq(au.dst.waddr),
            act.dst.wdata.eq(au.dst.wdata),
            act.dst.we.eq(au.dst.we),
            au.io_mode.eq(self.io_mode),
            act.io_mode.eq(self.io_mode),
        ]
        return m


def rand_codebook(cfg, rng):
    lo, hi = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1)) - 1
    book = []
    for _ in range(cfg.max_layers):
        book += [0] + [rng.choice([lo, hi, -1, 1, rng.randint(lo, hi), rng.randint(-9, 9)])
                       for _ in range(cfg.codebook_size - 1)]
    return book


def rand_value(cfg, rng):
    lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
    return rng.choice([lo, hi, lo, hi, -1, 1, rng.randint(lo, hi), rng.randint(lo, hi)])


def column(cfg, rng, rows):
    """Entries (code, z, first) hitting `rows` (ascending), fillers for long gaps."""
    out, prev = [], -1   # each entry lands on prev + z + 1; the first one on z
    for r in rows:
        while r - prev - 1 > cfg.max_skip:
            out.append((0, cfg.max_skip))
            prev += cfg.max_skip + 1
        out.append((rng.randrange(cfg.codebook_size), r - prev - 1))
        prev = r
    return [(c, z, int(i == 0)) for i, (c, z) in enumerate(out)]


def column_rows(entries):
    rows, row = [], 0
    for _, z, first in entries:
        row = z if first else row + z + 1
        rows.append(row)
    return rows


def rand_stream(cfg, rng, n_cols, p_repeat=0.4):
    """Random columns; often the next column starts on the row the previous one ended on
    (a back-to-back hit) or hits it second (two entries apart)."""
    entries, last = [], None
    n = cfg.act_entries
    for _ in range(n_cols):
        k = rng.choice([1, 1, 2, 3, rng.randint(1, n)])
        # Low rows half the time: a column can start on them without fillers.
        pool = range(min(n, cfg.max_skip + 1)) if rng.random() < 0.5 else range(n)
        rows = sorted(rng.sample(pool, min(k, len(pool))))
        if last is not None and rng.random() < p_repeat:
            above = {r for r in rows if r > last}
            if last and rng.random() < 0.5:
                rows = sorted({rng.randrange(last), last} | above)   # hit second
            else:
                rows = sorted({last} | above)                        # hit first
        col = column(cfg, rng, rows)
        value = rand_value(cfg, rng)
        entries += [(c, z, value, first) for c, z, first in col]
        last = column_rows(col)[-1]
    return entries


def model(cfg, entries, codebook, layer, acc=None):
    """Exact and wrapped accumulators after `entries`."""
    exact = list(acc) if acc else [0] * cfg.act_entries
    row = 0
    for code, z, value, first in entries:
        row = z if first else row + z + 1
        exact[row] += value * codebook[layer * cfg.codebook_size + code]
    return exact, [int(wrap(x, cfg.acc_bits)) for x in exact]


def simulate(h, cfg, script, bubbles=0.0, seed=0):
    """Run `script`: a list of ("stream", layer, dst_bank, entries), ("clear", dst_bank),
    ("io_cb_write", addr, data), ("io_cb_read", addr), ("read_bank", bank),
    ("scan", bank, [(addr, bias_base, use_bias, shift, relu)]), ("host_act", {row: value}),
    ("macs",), ("clear_counters",). Returns the results of the reading commands."""
    rng = random.Random(seed)
    au, act = h.au, h.act
    results = []

    async def bench(ctx):
        async def idle_until_done():
            for _ in range(10):
                if not ctx.get(au.busy):
                    return
                await ctx.tick()
            raise AssertionError("busy does not drop")

        for cmd in script:
            op = cmd[0]
            if op == "stream":
                _, layer, dst_bank, entries = cmd
                ctx.set(au.layer, layer)
                ctx.set(act.dst_bank, dst_bank)
                busy_seen = False
                for code, z, value, first in entries:
                    while rng.random() < bubbles:
                        ctx.set(au.inp.valid, 0)
                        await ctx.tick()
                    ctx.set(au.inp.valid, 1)
                    ctx.set(au.inp.payload, {"code": code, "z": z, "value": value,
                                             "first": first})
                    busy_seen |= ctx.get(au.busy)
                    await ctx.tick()
                ctx.set(au.inp.valid, 0)
                # Writes land ArithmeticUnit.WRITE_LATENCY cycles after the last entry.
                for _ in range(ArithmeticUnit.WRITE_LATENCY):
                    assert ctx.get(au.busy)
                    await ctx.tick()
                assert not ctx.get(au.busy) and busy_seen
            elif op == "clear":
                ctx.set(act.dst_bank, cmd[1])
                ctx.set(act.clear_dst, 1)
                await ctx.tick()
                ctx.set(act.clear_dst, 0)
            elif op == "io":
                ctx.set(h.io_mode, cmd[1])
                await ctx.tick()
            elif op == "io_cb_write":
                ctx.set(au.host_codebook.w_en, 1)
                ctx.set(au.host_codebook.w_addr, cmd[1])
                ctx.set(au.host_codebook.w_data, cmd[2])
                await ctx.tick()
                ctx.set(au.host_codebook.w_en, 0)
            elif op == "io_cb_read":
                ctx.set(au.host_codebook.r_en, 1)
                ctx.set(au.host_codebook.r_addr, cmd[1])
                await ctx.tick()
                ctx.set(au.host_codebook.r_en, 0)
                await ctx.tick()    # the request is registered first (share_with_host)
                results.append(ctx.get(au.host_codebook.r_data))
            elif op == "read_bank":
                await idle_until_done()
                ctx.set(act.dst_bank, cmd[1])
                words = []
                ctx.set(h.chk_en, 1)
                for r in range(cfg.act_entries):
                    ctx.set(h.chk_addr, r)
                    await ctx.tick()
                    words.append(ctx.get(act.dst.rdata))
                ctx.set(h.chk_en, 0)
                results.append(words)
            elif op == "scan":
                _, bank, reads = cmd
                got = []
                ctx.set(act.scan.bank, bank)
                for t in range(len(reads) + ActRW.SCAN_LATENCY):
                    if t < len(reads):
                        addr, base, use, shift, relu = reads[t]
                        ctx.set(act.scan.en, 1)
                        for name, v in (("addr", addr), ("bias_base", base),
                                        ("use_bias", use), ("shift", shift), ("relu", relu)):
                            ctx.set(getattr(act.scan, name), v)
                    else:
                        ctx.set(act.scan.en, 0)
                    if ctx.get(act.scan_result.valid):
                        got.append(ctx.get(act.scan_result.value))
                    await ctx.tick()
                assert not ctx.get(act.scan_result.valid) and len(got) == len(reads)
                results.append(got)
            elif op == "host_act":
                for r, v in cmd[1].items():
                    ctx.set(act.host.we, 1)
                    ctx.set(act.host.waddr, r)
                    ctx.set(act.host.wdata, v)
                    await ctx.tick()
                ctx.set(act.host.we, 0)
            elif op == "macs":
                results.append(ctx.get(au.macs))
            elif op == "clear_counters":
                ctx.set(au.clear_counters, 1)
                await ctx.tick()
                ctx.set(au.clear_counters, 0)
            else:
                raise ValueError(op)

    sim = Simulator(h)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return results


def hits(cfg, entries):
    """(back-to-back same-row hits, same row two entries apart) in a stream."""
    rows, row = [], 0
    for _, z, _, first in entries:
        row = z if first else row + z + 1
        rows.append(row)
    return (sum(a == b for a, b in zip(rows, rows[1:])),
            sum(a == b for a, b in zip(rows, rows[2:])))


# Weights of 3 and 7 bits: fewer slices than four, and slices of unequal width.
SLICED = [NARROW.replace(weight_bits=3), NARROW.replace(weight_bits=7, act_bits=9)]


@pytest.mark.parametrize("cfg,bubbles", [(NARROW, 0.0), (NARROW, 0.3), (ODD, 0.1),
                                         (WIDE, 0.0), (SLICED[0], 0.2), (SLICED[1], 0.0)])
def test_random_stream_accumulates_bit_exactly(cfg, bubbles):
    rng = random.Random(cfg.acc_bits * 7 + int(bubbles * 10))
    book = rand_codebook(cfg, rng)
    entries = rand_stream(cfg, rng, n_cols=80 if cfg is WIDE else 200)
    exact, want = model(cfg, entries, book, layer=1)
    b2b, two_apart = hits(cfg, entries)
    assert b2b > 10 and two_apart > 10
    if cfg is WIDE:
        assert any(c == 0 and z == cfg.max_skip for c, z, _, _ in entries)  # fillers
    elif cfg is NARROW:
        assert exact != want  # the accumulators did wrap
    h = Harness(cfg, codebook_init=book)
    banks = simulate(h, cfg, [("stream", 1, 1, entries), ("read_bank", 1), ("read_bank", 0),
                              ("macs",)], bubbles=bubbles)
    assert banks[0] == want
    assert banks[1] == [0] * cfg.act_entries   # the source bank is untouched
    assert banks[2] == len(entries)


@pytest.mark.parametrize("cfg", [NARROW, WIDE])
def test_same_row_back_to_back_and_two_apart(cfg):
    """Last entry of column j and first of column j+1 on the same row (forwarding), and
    the same row two entries apart (write-transparent read), with extreme values."""
    lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
    book = [0] * (cfg.max_layers * cfg.codebook_size)
    book[1], book[2], book[3] = -(1 << (cfg.weight_bits - 1)), (1 << (cfg.weight_bits - 1)) - 1, 3
    r = min(cfg.act_entries - 1, cfg.max_skip)
    entries = [
        # back to back: row 2, row 2, row 2 (three single-entry columns)
        (1, 2, lo, 1), (1, 2, lo, 1), (2, 2, hi, 1),
        # column ending on row 5, next column starts there
        (3, 0, 7, 1), (2, 4, -3, 0), (1, 5, hi, 1),
        # two apart: ... row 5 | row 1, row 5
        (3, 1, -1, 1), (2, 3, -1, 0),
        # two apart and back to back mixed: r | 4, r | r
        (1, r, lo, 1), (2, 4, lo, 1), (1, r - 5, lo, 0), (1, r, hi, 1),
        # three apart (plain read after the write)
        (3, 0, 1, 1), (3, 1, 1, 1), (3, 3, 1, 1), (3, 0, 2, 1),
    ]
    exact, want = model(cfg, entries, book, layer=0)
    h = Harness(cfg, codebook_init=book)
    got = simulate(h, cfg, [("stream", 0, 1, entries), ("read_bank", 1)])[0]
    assert got == want
    if cfg is NARROW:
        assert exact != want


def test_layers_banks_clear_host_inputs_and_scan_path():
    """Layer flow: host inputs into bank 0, layer 0 into bank 1, then layer 1 into bank 0
    after clear_dst (old inputs and untouched rows read 0), with outputs read through the
    scan path: shift, rounding, saturation, ReLU and bias against output_stage."""
    cfg = NARROW
    rng = random.Random(5)
    book = rand_codebook(cfg, rng)
    bias = [rng.randint(-(1 << 15), (1 << 15) - 1) for _ in range(cfg.bias_entries)]
    n = cfg.act_entries
    inputs = {r: rand_value(cfg, rng) for r in range(n) if r != 3}
    s0 = rand_stream(cfg, rng, 30)
    # Layer 1 leaves row n-1 untouched.
    s1 = [e for e in rand_stream(NARROW.replace(act_entries=n - 1), rng, 30)]
    reads = [(r, base, use, shift, relu) for r in range(n)
             for base, use, shift, relu in ((0, 0, 0, 0), (3, 1, 0, 0), (8, 1, 1, 1),
                                            (8, 1, 4, 0), (2, 0, 7, 0), (0, 1, 15, 0))]
    script = [
        ("io", 1), ("host_act", inputs), ("io", 0),
        ("scan", 0, [(r, 0, 0, 0, 0) for r in range(n)]),
        ("clear", 1), ("stream", 0, 1, s0),
        ("clear", 0), ("stream", 1, 0, s1),
        ("read_bank", 1), ("read_bank", 0),
        ("scan", 1, reads), ("scan", 0, reads),
    ]
    in_scan, bank1, bank0, out1, out0 = simulate(Harness(cfg, book, bias), cfg, script)
    assert in_scan == [inputs.get(r, 0) for r in range(n)]
    _, want1 = model(cfg, s0, book, 0)
    _, want0 = model(cfg, s1, book, 1)
    assert bank1 == want1 and bank0 == want0 and want0[n - 1] == 0

    def expected(acc):
        return [int(output_stage(np.array([wrap(acc[r] + (bias[base + r] if use else 0),
                                                cfg.acc_bits)]), shift, bool(relu), cfg)[0])
                for r, base, use, shift, relu in reads]

    assert out1 == expected(want1) and out0 == expected(want0)
    lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
    assert lo in out1 + out0 and hi in out1 + out0   # saturation was exercised


def test_io_mode_codebook_writes_by_host():
    cfg = NARROW
    mask = (1 << cfg.weight_bits) - 1
    h = Harness(cfg)  # codebook all zero until the host writes it
    layer, base = 1, cfg.codebook_size
    writes = {base + 1: -128, base + 2: 127, base + 5: -3}
    entries = [(1, 0, 100, 1), (2, 1, -100, 0), (5, 0, -7, 1), (5, 4, 1, 1)]
    script = [("io_cb_write", base + 1, 55),  # not in I/O mode: ignored
              ("io", 1)]
    script += [("io_cb_write", a, v & mask) for a, v in writes.items()]
    script += [("io_cb_read", a) for a in writes] + [("io_cb_read", 3)]
    script += [("io", 0), ("clear_counters",), ("macs",), ("stream", layer, 1, entries),
               ("read_bank", 1), ("macs",), ("clear_counters",), ("macs",)]
    *readback, macs0, bank, macs1, macs2 = simulate(h, cfg, script)
    assert readback == [v & mask for v in writes.values()] + [0]
    book = [0] * (cfg.max_layers * cfg.codebook_size)
    for a, v in writes.items():
        book[a] = v
    assert bank == model(cfg, entries, book, layer)[1]
    assert bank[0] == int(wrap(100 * -128 - 7 * -3, cfg.acc_bits))
    assert (macs0, macs1, macs2) == (0, len(entries), 0)


@pytest.mark.parametrize("cfg", [EIEConfig(), ODD.replace(act_entries=5)])
def test_converts_to_verilog(cfg, signal_ports):
    dut = ArithmeticUnit(cfg, codebook_init=[0, -1, 2])
    assert "module" in verilog.convert(dut, emit_src=False, ports=signal_ports(dut))


@pytest.mark.parametrize("bits,slices", [(2, [(0, 1), (1, 2)]), (3, [(0, 1), (1, 2), (2, 3)]),
                                         (7, [(0, 2), (2, 4), (4, 5), (5, 7)]),
                                         (16, [(0, 4), (4, 8), (8, 12), (12, 16)])])
def test_weight_slices_cover_the_weight(bits, slices):
    assert weight_slices(bits) == slices
