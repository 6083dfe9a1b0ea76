"""ActRW: accumulator banks, touched bits, bias and the output stage, against a model."""

import random

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from compress.fixedpoint import output_stage, wrap
from eie_hw.act_rw import ActRW
from eie_hw.config import EIEConfig

from helpers import NARROW_ARITH, small_config

LAT = ActRW.SCAN_LATENCY


NARROW = small_config(n_pes=2, act_entries=16, bias_entries=40, **NARROW_ARITH)
WIDE = NARROW.replace(act_bits=16, act_frac=8, weight_bits=16, acc_bits=32, act_entries=8,
                      bias_entries=16)

# Inputs that stay until changed; every other input is a one-cycle pulse (0 unless given).
LEVELS = ("dst_bank", "io_mode")
INPUTS = ("dst_bank", "clear_dst", "dst_raddr", "dst_ren", "dst_waddr", "dst_wdata", "dst_we",
          "scan_addr", "scan_en", "scan_bias_base", "scan_use_bias", "scan_shift", "scan_relu",
          "scan_bank", "io_mode", "host_act_waddr", "host_act_wdata", "host_act_we",
          "host_bias.r_addr", "host_bias.r_en", "host_bias.w_addr", "host_bias.w_en",
          "host_bias.w_data", "host_clear")


# The model's input names -> the unit's ports (its named interfaces).
PORT_RENAMES = (("dst_", "dst."), ("scan_", "scan."), ("host_act_", "host."),
                ("host_bias.", "host.bias."), ("host_clear", "host.clear"))


def port(dut, name):
    if name not in ("dst_bank",):
        for old, new in PORT_RENAMES:
            if name.startswith(old):
                name = new + name[len(old):]
                break
    obj = dut
    for part in name.split("."):
        obj = getattr(obj, part)
    return obj


def run(dut, steps):
    """Apply one dict of inputs per cycle; return the outputs seen in every cycle."""
    seen = []

    async def bench(ctx):
        levels = {name: 0 for name in LEVELS}
        for step in steps + [{}] * (LAT + 1):
            levels.update({k: v for k, v in step.items() if k in LEVELS})
            for name in INPUTS:
                ctx.set(port(dut, name), step.get(name, levels.get(name, 0)))
            seen.append({
                "dst_rdata": ctx.get(dut.dst.rdata),
                "scan_valid": ctx.get(dut.scan_result.valid),
                "scan_value": ctx.get(dut.scan_result.value),
                "bias_rdata": ctx.get(dut.host.bias.r_data),
            })
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return seen


def stage(cfg, acc, shift, relu):
    return int(output_stage(np.array([acc]), shift, bool(relu), cfg)[0])


class Model:
    """The contract of ActRW, cycle by cycle: `step` returns the dst read result (seen in
    the next cycle) and the scan result (seen SCAN_LATENCY cycles later), or None."""

    def __init__(self, cfg, bias_init=()):
        self.cfg = cfg
        n = cfg.act_entries
        self.bank = [[0] * n, [0] * n]
        self.touched = [[False] * n, [False] * n]
        self.bias = [0] * cfg.bias_entries
        for i, b in enumerate(bias_init):
            self.bias[i] = int(wrap(b, cfg.acc_bits))
        self.dst_bank = 0
        self.io_mode = 0
        self.pending = None      # the scan request issued in the previous step
        self.host_pending = {}   # the host requests of the previous step

    def read(self, b, r):
        return self.bank[b][r] if self.touched[b][r] else 0

    def step(self, s):
        cfg = self.cfg
        self.dst_bank = s.get("dst_bank", self.dst_bank)
        self.io_mode = s.get("io_mode", self.io_mode)
        d = self.dst_bank
        # Host requests are registered: they act in the step after they are issued, with
        # the I/O mode of their own step.
        h, self.host_pending = self.host_pending, dict(s, io_mode=self.io_mode)
        if h.get("host_clear"):
            self.touched = [[False] * cfg.act_entries for _ in range(2)]
        if s.get("clear_dst"):
            self.touched[d] = [False] * cfg.act_entries
        if h.get("io_mode") and h.get("host_act_we"):
            r = h["host_act_waddr"]
            self.bank[0][r], self.touched[0][r] = h["host_act_wdata"], True
        elif s.get("dst_we"):
            r = s["dst_waddr"]
            self.bank[d][r], self.touched[d][r] = s["dst_wdata"], True
        dst = self.read(d, s["dst_raddr"]) if s.get("dst_ren") else None
        # A scan request is registered first: its reads happen in the next step, after
        # that step's bank writes and clears, before its bias write.
        scan = None
        p = self.pending
        if p is not None:
            r = p["scan_addr"]
            acc = self.read(p.get("scan_bank", 0), r)
            if p.get("scan_use_bias"):
                acc += self.bias[p.get("scan_bias_base", 0) + r]
            scan = stage(cfg, int(wrap(acc, cfg.acc_bits)), p.get("scan_shift", 0),
                         p.get("scan_relu", 0))
        self.pending = s if s.get("scan_en") else None
        if h.get("io_mode") and h.get("host_bias.w_en"):
            self.bias[h["host_bias.w_addr"]] = int(wrap(h["host_bias.w_data"], cfg.acc_bits))
        return dst, scan


def check_against_model(cfg, steps, seen, bias_init=()):
    """Every dst read and every scan read of `steps` returns what the model says."""
    model = Model(cfg, bias_init)
    dst_checked = scan_checked = 0
    for t, s in enumerate(steps + [{}]):     # one more step answers the last scan
        dst, scan = model.step(s)
        if dst is not None:
            assert seen[t + 1]["dst_rdata"] == dst, f"dst read issued in cycle {t}"
            dst_checked += 1
        if t == 0:
            continue
        # `scan` answers the request of step t-1.
        assert seen[t - 1 + LAT]["scan_valid"] == (scan is not None), f"scan valid, cycle {t - 1}"
        if scan is not None:
            assert seen[t - 1 + LAT]["scan_value"] == scan, f"scan read issued in cycle {t - 1}"
            scan_checked += 1
    return dst_checked, scan_checked


def rand_acc(rng, bits):
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return rng.choice([lo, hi, lo + 1, hi - 1, 0, -1, 1, rng.randint(lo, hi),
                       rng.randint(-300, 300), rng.randint(lo, hi)])


@pytest.mark.parametrize("cfg", [NARROW, WIDE])
def test_random_traffic_matches_model(cfg):
    """Arithmetic reads and writes on the dst bank while the source bank is scanned, with
    layer swaps, clears, same-cycle read/write hits, varying shift, ReLU and bias."""
    rng = random.Random(cfg.acc_bits)
    n = cfg.act_entries
    bias_init = [rand_acc(rng, cfg.acc_bits) for _ in range(cfg.bias_entries)]
    dut = ActRW(cfg, bias_init=bias_init)
    steps, dst_bank = [], 0
    for _ in range(700):
        s = {}
        # The banks swap between layers, with no scan in flight (a scan request is
        # registered: it reads its bank in the step after it is issued).
        scan_in_flight = bool(steps) and steps[-1].get("scan_en")
        if rng.random() < 0.02 and not scan_in_flight:
            dst_bank ^= 1
            s["dst_bank"] = dst_bank
            s["clear_dst"] = 1
        elif rng.random() < 0.02:
            s["clear_dst"] = 1
        if rng.random() < 0.01:
            s["host_clear"] = 1
        if rng.random() < 0.6:
            s.update(dst_we=1, dst_waddr=rng.randrange(n), dst_wdata=rand_acc(rng, cfg.acc_bits))
        if rng.random() < 0.7:
            # Often the row being written: the write-transparent case.
            r = s["dst_waddr"] if "dst_waddr" in s and rng.random() < 0.4 else rng.randrange(n)
            s.update(dst_ren=1, dst_raddr=r)
        if rng.random() < 0.7:
            shift = rng.choice([0, 1, 2, rng.randrange(cfg.acc_bits), cfg.acc_bits - 1])
            s.update(scan_en=1, scan_bank=dst_bank ^ 1, scan_addr=rng.randrange(n),
                     scan_bias_base=rng.randrange(cfg.bias_entries - n + 1),
                     scan_use_bias=rng.random() < 0.5, scan_shift=shift,
                     scan_relu=rng.random() < 0.5)
        steps.append(s)
    dst_checked, scan_checked = check_against_model(cfg, steps, run(dut, steps), bias_init)
    assert dst_checked > 300 and scan_checked > 300


def test_dst_read_sees_same_cycle_and_previous_cycle_writes():
    cfg = NARROW
    dut = ActRW(cfg)
    steps = [
        {"dst_ren": 1, "dst_raddr": 3},                                    # untouched: 0
        {"dst_we": 1, "dst_waddr": 3, "dst_wdata": -1234, "dst_ren": 1, "dst_raddr": 3},
        {"dst_we": 1, "dst_waddr": 5, "dst_wdata": 77},
        {"dst_ren": 1, "dst_raddr": 5},                                    # previous cycle
        {"dst_we": 1, "dst_waddr": 3, "dst_wdata": 9, "dst_ren": 1, "dst_raddr": 3},
        {"dst_ren": 1, "dst_raddr": 3},
    ]
    seen = run(dut, steps)
    assert [seen[t]["dst_rdata"] for t in (1, 2, 4, 5, 6)] == [0, -1234, 77, 9, 9]
    check_against_model(cfg, steps, seen)


def test_touched_bits_clear_dst_and_host_clear():
    cfg = NARROW
    dut = ActRW(cfg)
    w = lambda b, r, v: {"dst_bank": b, "dst_we": 1, "dst_waddr": r, "dst_wdata": v}
    rd = lambda b, r: {"dst_bank": b, "dst_ren": 1, "dst_raddr": r}
    steps = [
        w(0, 2, 100), w(1, 2, 200), w(1, 4, -5),
        rd(0, 2), rd(1, 2), rd(1, 4), rd(1, 6),
        {"dst_bank": 1, "clear_dst": 1},         # clears bank 1 only
        rd(1, 2), rd(1, 4), rd(0, 2),
        # A write in the cycle of a clear survives it.
        {"dst_bank": 1, "clear_dst": 1, "dst_we": 1, "dst_waddr": 7, "dst_wdata": 31},
        rd(1, 7),
        {"host_clear": 1},                       # clears both banks
        rd(0, 2), rd(1, 7),
        # A read in the cycle of a clear already sees it.
        w(0, 1, 12), {"dst_bank": 0, "clear_dst": 1, "dst_ren": 1, "dst_raddr": 1},
    ]
    seen = run(dut, steps)
    got = [seen[t + 1]["dst_rdata"] for t, s in enumerate(steps) if s.get("dst_ren")]
    assert got == [100, 200, -5, 0, 0, 0, 100, 31, 0, 0, 0]
    check_against_model(cfg, steps, seen)


@pytest.mark.parametrize("cfg", [NARROW, WIDE])
def test_host_inputs_into_bank0_pass_through(cfg):
    """Layer 0 input path: host writes into bank 0 (sign-extended, touched), read back
    unchanged through the output stage with shift 0, no ReLU, no bias."""
    rng = random.Random(1)
    dut = ActRW(cfg)
    lo, hi = -(1 << (cfg.act_bits - 1)), (1 << (cfg.act_bits - 1)) - 1
    n = cfg.act_entries
    values = {r: rng.choice([lo, hi, 0, -1, 1, rng.randint(lo, hi)]) for r in range(n)
              if r % 3}
    steps = [{"io_mode": 1}]
    steps += [{"host_act_we": 1, "host_act_waddr": r, "host_act_wdata": v}
              for r, v in values.items()]
    # Ignored outside I/O mode.
    steps += [{"io_mode": 0}, {"host_act_we": 1, "host_act_waddr": 0, "host_act_wdata": 5}]
    steps += [{"scan_en": 1, "scan_bank": 0, "scan_addr": r} for r in range(n)]
    # The bank holds the sign-extended activation.
    steps += [{"dst_bank": 0, "dst_ren": 1, "dst_raddr": r} for r in range(n)]
    seen = run(dut, steps)
    scans = [seen[t + LAT]["scan_value"] for t, s in enumerate(steps) if s.get("scan_en")]
    dsts = [seen[t + 1]["dst_rdata"] for t, s in enumerate(steps) if s.get("dst_ren")]
    assert scans == [values.get(r, 0) for r in range(n)]
    assert dsts == scans
    check_against_model(cfg, steps, seen)


@pytest.mark.parametrize("cfg", [NARROW, WIDE])
def test_output_stage_rounding_saturation_relu(cfg):
    """Directed corners of output_stage: shift 0, 1 and large, round half up on both signs,
    the exact (un-wrapped) rounding add at the top of the range, saturation, ReLU."""
    a = cfg.acc_bits
    top, bot = (1 << (a - 1)) - 1, -(1 << (a - 1))
    accs = [0, 1, -1, 2, -2, 3, -3, 5, -5, 6, -6, 127, 128, -128, -129, 255, -256,
            top, top - 1, bot, bot + 1, 1 << (a - 2), -(1 << (a - 2))]
    shifts = [0, 1, 2, 3, 4, a // 2, a - 2, a - 1]
    cases = [(acc, s, relu) for acc in accs for s in shifts for relu in (0, 1)]
    dut = ActRW(cfg)
    n = cfg.act_entries
    # The accumulators go in through the dst port; the scan reads the same bank, as the
    # host does for final outputs (the scan wins the shared read port).
    steps = []
    for base in range(0, len(cases), n):
        chunk = cases[base:base + n]
        steps += [{"dst_bank": 1, "dst_we": 1, "dst_waddr": r, "dst_wdata": acc}
                  for r, (acc, _, _) in enumerate(chunk)]
        steps += [{"scan_en": 1, "scan_bank": 1, "scan_addr": r, "scan_shift": s,
                   "scan_relu": relu, "dst_ren": 1, "dst_raddr": (r + 1) % n}
                  for r, (_, s, relu) in enumerate(chunk)]
    seen = run(dut, steps)
    got = [seen[t + LAT]["scan_value"] for t, s in enumerate(steps) if s.get("scan_en")]
    assert got == [stage(cfg, acc, s, relu) for acc, s, relu in cases]
    # Spot checks of the contract itself, independent of the model function.
    hi_act = (1 << (cfg.act_bits - 1)) - 1
    want = {(5, 1, 0): 3, (-5, 1, 0): -2, (6, 2, 0): 2, (-6, 2, 0): -1, (3, 0, 0): 3,
            (-3, 0, 1): 0, (top, 1, 0): hi_act, (top, a - 1, 0): 1, (bot, a - 1, 0): -1,
            (bot, a - 1, 1): 0}
    for key, value in want.items():
        assert got[cases.index(key)] == value, key


def test_bias_add_wraps_and_host_bias_port():
    cfg = NARROW
    a = cfg.acc_bits
    top = (1 << (a - 1)) - 1
    # Negative ints in the init are two's complement.
    bias_init = [1, -1, -300, 5] + [0] * 8 + [-7]
    dut = ActRW(cfg, bias_init=bias_init)
    w = lambda r, v: {"dst_bank": 1, "dst_we": 1, "dst_waddr": r, "dst_wdata": v}
    scan = lambda r, base, use=1: {"scan_en": 1, "scan_bank": 0, "scan_addr": r,
                                    "scan_bias_base": base, "scan_use_bias": use}
    steps = [
        w(0, top), w(1, 10), w(2, 0), {"dst_bank": 0},
        # bank 1 is the source now; bias[base + r].
        {"scan_en": 1, "scan_bank": 1, "scan_addr": 0, "scan_use_bias": 1},  # top+1 wraps
        {"scan_en": 1, "scan_bank": 1, "scan_addr": 1, "scan_use_bias": 1},  # 10-1
        {"scan_en": 1, "scan_bank": 1, "scan_addr": 1, "scan_use_bias": 0},  # 10
        {"scan_en": 1, "scan_bank": 1, "scan_addr": 2, "scan_use_bias": 1,
         "scan_bias_base": 10},                                              # 0-7
        scan(3, 1),                               # untouched row of bank 0 + bias[4] = 0
        # Host bias writes only in I/O mode; host reads come back the next cycle.
        {"host_bias.w_en": 1, "host_bias.w_addr": 1, "host_bias.w_data": 99},
        {"io_mode": 1, "host_bias.w_en": 1, "host_bias.w_addr": 2,
         "host_bias.w_data": (-42) & ((1 << a) - 1)},
        {"host_bias.r_en": 1, "host_bias.r_addr": 2},
        {"host_bias.r_en": 1, "host_bias.r_addr": 1},
        {"host_bias.r_en": 1, "host_bias.r_addr": 12},
        {},
        # Final-output read in I/O mode through the same path.
        {"scan_en": 1, "scan_bank": 1, "scan_addr": 2, "scan_use_bias": 1,
         "scan_bias_base": 0},
    ]
    seen = run(dut, steps)
    scans = [seen[t + LAT]["scan_value"] for t, s in enumerate(steps) if s.get("scan_en")]
    lo_act = -(1 << (cfg.act_bits - 1))
    assert scans == [lo_act, 9, 10, -7, 0, -42]
    # A host read is registered (sram.share_with_host): its word is there two cycles on.
    reads = [seen[t + 2]["bias_rdata"] for t, s in enumerate(steps) if s.get("host_bias.r_en")]
    assert reads == [(-42) & ((1 << a) - 1), 0xffff, (-7) & 0xffff]


def test_scan_and_arith_ports_in_parallel_on_both_banks():
    """In a layer, the scan (source bank) and the arithmetic side (dst bank) read every
    cycle at the same time, each from its own bank."""
    cfg = NARROW
    dut = ActRW(cfg)
    n = cfg.act_entries
    steps = [{"dst_bank": 0, "dst_we": 1, "dst_waddr": r, "dst_wdata": 1000 + r}
             for r in range(n)]
    steps += [{"dst_bank": 1, "dst_we": 1, "dst_waddr": r, "dst_wdata": -r} for r in range(n)]
    steps += [{"scan_en": 1, "scan_bank": 0, "scan_addr": r, "scan_shift": 3,
               "dst_ren": 1, "dst_raddr": n - 1 - r} for r in range(n)]
    seen = run(dut, steps)
    _, scans = check_against_model(cfg, steps, seen)
    assert scans == n


@pytest.mark.parametrize("cfg", [EIEConfig(), NARROW.replace(act_entries=5, bias_entries=7)])
def test_converts_to_verilog(cfg):
    assert "module" in verilog.convert(ActRW(cfg, bias_init=[-1, 3]), emit_src=False)
