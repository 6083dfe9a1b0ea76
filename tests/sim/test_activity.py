"""Activity extraction from a short VCD (sim/activity.py), written with pyvcd's writer."""

import pytest
from vcd import VCDWriter

from eie_hw.errors import EIEError
from sim.activity import read_activity


def write_vcd(path, cycles=10, period=10):
    """clk (rising at 5, 15, ..., 95); a 2-bit counter stepping on every rising edge;
    `hold` high throughout; `late` high from the edge at 65 on, all in scope top.pe."""
    with path.open("w") as f, VCDWriter(f, timescale="1 ns", date="today") as w:
        clk = w.register_var("top", "clk", "wire", size=1, init=0)
        count = w.register_var("top.pe", "count", "reg", size=2, init=0)
        hold = w.register_var("top.pe", "hold", "wire", size=1, init=1)
        late = w.register_var("top.pe", "late", "wire", size=1, init=0)
        assert hold is not None
        for c in range(cycles):
            edge = c * period + period // 2
            w.change(clk, edge, 1)
            w.change(count, edge, (c + 1) % 4)
            if c == 6:
                w.change(late, edge, 1)
            w.change(clk, edge + period // 2, 0)   # the last fall ends the run
    return path


def test_transitions_per_cycle_and_duty(tmp_path):
    vcd = write_vcd(tmp_path / "run.vcd")
    activity = read_activity(vcd, clock="clk")
    assert activity.cycles == 10 and activity.duration == 100
    per = activity.per_cycle()
    assert per["top.pe.count[0]"] == (1.0, 0.5)     # 1,0,1,0,...: every cycle, half high
    assert per["top.pe.count[1]"][0] == pytest.approx(0.5)
    assert per["top.pe.hold"] == (0.0, 1.0)          # its initial value is no transition
    assert per["top.pe.late"] == (0.1, 0.35)         # one rise at 65 of 100 ns
    assert per["top.clk"] == (1.9, 0.5)              # the fall at 100 ends the window


def test_window_and_scope(tmp_path):
    vcd = write_vcd(tmp_path / "run.vcd")
    activity = read_activity(vcd, clock="clk", start=50, end=100, scope="top")
    assert activity.cycles == 5 and activity.duration == 50
    assert activity.per_cycle()["top.pe.late"] == (0.2, 0.7)
    pe_only = read_activity(vcd, clock="clk", scope="top")
    assert "top.clk" in pe_only.bits
    with pytest.raises(EIEError, match="no clock named 'clk' under top.pe"):
        read_activity(vcd, clock="clk", scope="top.pe")


def test_missing_and_broken_files_are_clear_errors(tmp_path):
    with pytest.raises(EIEError, match="no waveform at .*--waves"):
        read_activity(tmp_path / "none.vcd")
    bad = tmp_path / "bad.vcd"
    bad.write_text("$var wire 1 ! clk $end\n$enddefinitions $end\n#0\n2!\n")
    with pytest.raises(EIEError, match="not a readable VCD"):
        read_activity(bad)


def test_an_amaranth_simulation_vcd_reads(tmp_path):
    """The Amaranth simulator's own VCD: a 2-bit counter toggles bit 0 every cycle."""
    from amaranth import Module, Signal
    from amaranth.sim import Simulator
    m = Module()
    count = Signal(2)
    m.d.sync += count.eq(count + 1)
    sim = Simulator(m)
    sim.add_clock(1e-6)
    path = tmp_path / "c.vcd"

    async def bench(ctx):
        await ctx.tick().repeat(8)

    sim.add_testbench(bench)
    with sim.write_vcd(str(path)):
        sim.run()
    act = read_activity(path, "clk")
    assert act.cycles >= 8
    per_cycle = act.per_cycle()
    bit0 = next(v for k, v in per_cycle.items() if k.endswith("count[0]"))
    bit1 = next(v for k, v in per_cycle.items() if k.endswith("count[1]"))
    assert bit0[0] == pytest.approx(1.0, abs=0.15) and bit1[0] == pytest.approx(0.5, abs=0.15)
