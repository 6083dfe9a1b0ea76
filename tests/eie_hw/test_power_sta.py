"""OpenSTA power from input activities (eie_hw/power_sta.py): leakage by the liberty's
state values weighted by the duties, dynamic power proportional to the activity, and
clear errors."""

import re
from pathlib import Path

import pytest

from eie_hw.errors import EIEError
from eie_hw.power_sta import cut_cells, cut_registers, run_power
from eie_hw.synth_liberty import prepare_liberty
from eie_hw.tools import sta_bin

TYP = Path(__file__).resolve().parents[2].parent / "shared" / "pdk" / "nangate45_typ.lib.gz"

NETLIST = """\
module t (clk, a, b, y, z);
  input clk; input a; input b; output y; output z;
  wire n;
  INV_X1 u0 (.A(a), .ZN(n));
  INV_X1 u1 (.A(n), .ZN(y));
  INV_X1 u2 (.A(b), .ZN(z));
endmodule
"""

needs_sta = pytest.mark.skipif(sta_bin() is None or not TYP.is_file(),
                               reason="needs OpenSTA (`sta`) and shared/pdk")


def inverter_leakage_nw(lib_text: str) -> dict[str, float]:
    """INV_X1's leakage by the state of its input, from the liberty."""
    cell = lib_text[lib_text.index("cell (INV_X1)"):]
    cell = cell[:cell.index("pin (")]
    states = re.findall(r'when\s*:\s*"(!?A)";\s*value\s*:\s*([\d.]+);', cell)
    return {when: float(value) for when, value in states}


def power(tmp_path, **ports):
    lib, info = prepare_liberty(TYP, tmp_path)
    (tmp_path / "t.v").write_text(NETLIST)
    return lib, run_power(tmp_path, "t", "t.v", [lib.name], "clk", 1.0, sta_bin(),
                          time_unit_ns=info.time_unit_ns, ports=ports)


@needs_sta
def test_leakage_is_the_liberty_states_weighted_by_the_duties(tmp_path):
    lib, p = power(tmp_path, a=(0.2, 0.25))
    leak = inverter_leakage_nw(lib.read_text())
    # u0's input is high a quarter of the time, u1's (u0's output) three quarters, u2's
    # half (the default duty).
    expected_nw = ((0.75 * leak["!A"] + 0.25 * leak["A"])
                   + (0.25 * leak["!A"] + 0.75 * leak["A"])
                   + (0.5 * leak["!A"] + 0.5 * leak["A"]))
    assert p["combinational"]["leakage"] == pytest.approx(expected_nw * 1e-9, rel=1e-6)
    assert p["total"]["leakage"] == pytest.approx(expected_nw * 1e-9, rel=1e-6)
    assert p["sequential"]["total"] == 0 and p["macro"]["total"] == 0


@needs_sta
def test_dynamic_power_follows_the_activity(tmp_path):
    _, quiet = power(tmp_path)
    assert quiet["combinational"]["internal"] == 0 and quiet["combinational"]["switching"] == 0
    _, one = power(tmp_path, a=(0.2, 0.5))
    _, two = power(tmp_path, a=(0.4, 0.5))
    for kind in ("internal", "switching"):
        assert one["combinational"][kind] > 0
        assert two["combinational"][kind] == pytest.approx(2 * one["combinational"][kind],
                                                           rel=1e-6)
    # b's inverter switches only when b does.
    _, both = power(tmp_path, a=(0.2, 0.5), b=(0.2, 0.5))
    assert both["combinational"]["switching"] > one["combinational"]["switching"]


def test_bad_activity_and_missing_sta_are_clear_errors(tmp_path):
    with pytest.raises(EIEError, match="duty in 0..1"):
        run_power(tmp_path, "t", "t.v", [], "clk", 1.0, "sta", ports={"a": (0.1, 1.5)})
    (tmp_path / "t.v").write_text(NETLIST)
    with pytest.raises(EIEError, match="cannot run OpenSTA .*install Debian's opensta"):
        run_power(tmp_path, "t", "t.v", [], "clk", 1.0, str(tmp_path / "no-sta"))


REGISTERED = """\
module r (clk, d, y);
  input clk; input d; output y;
  wire q;
  DFF_X1 f (.CK(clk), .D(d), .Q(q));
  INV_X1 u0 (.A(q), .ZN(y));
endmodule
"""


@needs_sta
def test_a_cut_register_output_carries_its_own_activity(tmp_path):
    """Pin activities do not take in this OpenSTA: the register's output becomes a port."""
    lib, info = prepare_liberty(TYP, tmp_path)
    (tmp_path / "r.v").write_text(REGISTERED)
    cut, bits = cut_registers(tmp_path, "r.v", "r", [lib.name], sorted(info.sequential))
    assert [(b.register, b.inverted) for b in bits] == [("q", False)]
    port = bits[0].port

    def run(activity):
        return run_power(tmp_path, "r", cut, [lib.name], "clk", 1.0, sta_bin(),
                         time_unit_ns=info.time_unit_ns, ports={port: (activity, 0.5)})

    quiet, busy = run(0.0), run(0.3)
    assert quiet["combinational"]["internal"] == 0
    assert busy["combinational"]["internal"] > 0 and busy["combinational"]["switching"] > 0
    # The flip-flop's own power follows its D input (idle here), not the cut output.
    assert busy["sequential"]["internal"] == pytest.approx(quiet["sequential"]["internal"])


# A register whose inverted output is used too, a bus register, and a macro whose read
# data feeds logic: every output net is cut, the QN net names its Q, the macro is gone.
MIXED = """module m (clk, d, e, y, z, w);
  input clk; input d; input [1:0] e; output y; output z; output [1:0] w;
  wire q, qn; wire [1:0] r; wire rd;
  DFF_X1 f0 (.CK(clk), .D(d), .Q(q), .QN(qn));
  DFF_X1 f1 (.CK(clk), .D(e[0]), .Q(r[0]));
  DFF_X1 f2 (.CK(clk), .D(e[1]), .Q(r[1]));
  RAM1 u_ram (.clk(clk), .ce_in(d), .rd_out(rd));
  NAND2_X1 g0 (.A1(q), .A2(qn), .ZN(y));
  INV_X1 g1 (.A(rd), .ZN(z));
  INV_X1 g2 (.A(r[0]), .ZN(w[0]));
  INV_X1 g3 (.A(r[1]), .ZN(w[1]));
endmodule
"""
RAM_LIB = """library (ram) {
  cell (RAM1) {
    area : 10;
    pin (clk) { direction : input; clock : true; capacitance : 0.001; }
    pin (ce_in) { direction : input; capacitance : 0.001; }
    pin (rd_out) { direction : output; function : "ce_in"; }
  }
}
"""


@needs_sta
def test_cut_pairs_inverted_outputs_splits_buses_and_removes_macros(tmp_path):
    lib, info = prepare_liberty(TYP, tmp_path)
    (tmp_path / "m.v").write_text(MIXED)
    (tmp_path / "ram.lib").write_text(RAM_LIB)
    cut, bits = cut_registers(tmp_path, "m.v", "m", [lib.name, "ram.lib"],
                              sorted(info.sequential), macros=["RAM1"])
    assert sorted((b.register, b.inverted) for b in bits) == [
        ("q", False), ("q", True), ("r[0]", False), ("r[1]", False), ("rd", False)]
    text = (tmp_path / cut).read_text()
    assert "RAM1" not in text and "\\" not in text     # plain port names for OpenSTA
    assert cut_cells(tmp_path, cut)["u_ram"] == "RAM1"
    ports = {b.port: (0.5 if b.register == "rd" else 0.0, 0.5) for b in bits}
    p = run_power(tmp_path, "m", cut, [lib.name], "clk", 1.0, sta_bin(),
                  time_unit_ns=info.time_unit_ns, ports=ports, instances=True)
    # Only the inverter on the macro's read data switches.
    assert p["instances"]["g1"][0] > 0
    assert all(p["instances"][g][0] == 0 for g in ("g0", "g2", "g3"))
