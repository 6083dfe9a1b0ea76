"""The glue's timing through the parts' interface models (eie_hw/synth_boundary.py): the
measured port timing becomes a Liberty cell, and OpenSTA times paths that cross parts as
the sum of the arcs. A hand-written netlist of three part instances keeps it exact and
fast (no synthesis)."""

import pytest

from eie_hw.errors import EIEError
from eie_hw.synth_boundary import interface_liberty, parse_interface
from eie_hw.synth_liberty import LibertyInfo
from eie_hw.synth_sta import clock_port, run_sta
from eie_hw.tools import sta_bin

# What interface_tcl prints for a part with a 2-bit registered input d, a registered
# output q, a feed-through a -> y and a constant output k (slacks at a 1.25 ns period).
SECTION = """\
IN d[0] 0.55
IN d[1] 0.6
IN a 2.0e+01
IN ce -
OUT q 0.85
OUT y 13.75
OUT k -
THRU a y 0.95
"""

INFO = LibertyInfo("lib", 1.0, 1.0, set(), set(), {}, buffer="BUF", buffer_input_cap=0.001)

NETLIST = """\
module top(clk, q);
  input clk;
  output q;
  wire q0;
  wire y1;
  wire [1:0] dd;
  assign dd = { y1, y1 };
  part p0 (.clk(clk), .d(2'b00), .a(1'b0), .ce(1'b0), .q(q0), .y(), .k());
  part p1 (.clk(clk), .d(2'b00), .a(q0), .ce(1'b0), .q(), .y(y1), .k());
  part p2 (.clk(clk), .d(dd), .a(1'b0), .ce(1'b0), .q(q), .y(), .k());
endmodule
"""


def test_parse_interface():
    iface = parse_interface(SECTION, 1.25, 1.0, "clk")
    assert iface["inputs"] == {"d[0]": 0.7, "d[1]": 0.65, "a": None, "ce": None}
    assert iface["outputs"] == {"q": 0.4, "y": None, "k": None}
    assert iface["through"] == {("a", "y"): 0.3}
    ps = parse_interface(SECTION.replace("0.55", "550"), 1250, 1e-3, "clk")
    assert ps["inputs"]["d[0]"] == pytest.approx(0.7)
    with pytest.raises(EIEError, match="measured no port"):
        parse_interface("", 1.25, 1.0, "clk")


def test_interface_liberty_declares_buses_and_arcs():
    lib = interface_liberty({"part": parse_interface(SECTION, 1.25, 1.0, "clk")}, INFO)
    assert 'cell ("part")' in lib and 'bus ("d") { bus_type : bus2;' in lib
    assert lib.count("setup_rising") == 2 and lib.count("rising_edge") == 1
    assert 'related_pin : "a"; timing_sense : non_unate' in lib
    assert 'pin ("ce") { direction : input; capacitance : 0.001;  }' in lib


def test_clock_port_of_a_module():
    netlist = "module a(x, core_clk);\n  input x;\n  input core_clk;\nendmodule\n"
    assert clock_port(netlist, "a") == "core_clk"
    assert clock_port(NETLIST, "top") == "clk"
    with pytest.raises(EIEError, match="no clock input"):
        clock_port("module b(x);\n  input x;\nendmodule\n", "b")


def test_paths_across_parts_add_up(tmp_path):
    sta = sta_bin()
    if sta is None:
        pytest.skip("OpenSTA (`sta`) is not installed (Debian package opensta)")
    (tmp_path / "models.lib").write_text(
        interface_liberty({"part": parse_interface(SECTION, 1.25, 1.0, "clk")}, INFO))
    (tmp_path / "top_netlist.v").write_text(NETLIST)
    t = run_sta(tmp_path, "top", "top", ["models.lib"], 1.25, 1.0, sta, ["part"])
    # p0 clock -> q (0.4) -> p1 a -> y (0.3) -> p2 d[0] (setup 0.7; d[1]'s is 0.65).
    assert t["min_period_ns"] == pytest.approx(1.4, abs=1e-3)
    assert t["critical_path"]["startpoint"].startswith("p0")
    assert t["critical_path"]["endpoint"] == "p2/d[0]"
    assert t["max_mhz"] == pytest.approx(1000 / 1.4, abs=0.1)
