"""The STA step's fan-out repair (eie_hw/synth_sta.py): a flip-flop that drives many
loads gets one buffer, sized between it and the load, and the report says so."""

from pathlib import Path

import pytest

from eie_hw.synth_liberty import prepare_liberty
from eie_hw.synth_sta import REPAIR_LOAD_IN_MIN_BUFFERS, run_sta
from eie_hw.tools import sta_bin

TYP = Path(__file__).resolve().parents[2].parent / "shared" / "pdk" / "nangate45_typ.lib.gz"

pytestmark = pytest.mark.skipif(sta_bin() is None, reason="OpenSTA (`sta`) is not installed")


def fan_out_netlist(n: int) -> str:
    """One flip-flop driving `n` inverters, each into a flip-flop of its own."""
    lines = ["module fan (clk, d, q);", "  input clk;", "  input d;", f"  output [{n - 1}:0] q;",
             "  wire r;", "  DFF_X1 src (.CK(clk), .D(d), .Q(r));"]
    for i in range(n):
        lines += [f"  wire x{i};", f"  INV_X1 inv{i} (.A(r), .ZN(x{i}));",
                  f"  DFF_X1 dst{i} (.CK(clk), .D(x{i}), .Q(q[{i}]));"]
    return "\n".join(lines + ["endmodule", ""])


def time_fan(tmp_path, n, repair=True):
    lib, info = prepare_liberty(TYP, tmp_path)
    (tmp_path / "fan_netlist.v").write_text(fan_out_netlist(n))
    return info, run_sta(tmp_path, "fan", "fan", [lib.name], 1.0, info.time_unit_ns, sta_bin(),
                         [], buffers=info.buffers if repair else ())


def test_a_heavily_loaded_register_gets_one_buffer_and_gets_faster(tmp_path):
    info, t = time_fan(tmp_path, 80)
    repair = t["fanout_repair"]
    assert sum(repair["buffers"].values()) == 1
    (cell,) = repair["buffers"]
    # 80 inverter inputs: the buffer is neither the smallest nor the driver-sized one.
    assert cell in {name for _, name, _, _ in info.buffers[1:-1]}
    assert repair["unrepaired_min_period_ns"] > t["min_period_ns"]
    log = (tmp_path / "sta_fan.log").read_text()
    assert f"EIE-FANOUT-BUFFER {cell} 1" in log


def test_a_lightly_loaded_net_is_left_alone(tmp_path):
    # Well under the limit: 4 inverter inputs against 48 smallest-buffer inputs.
    assert REPAIR_LOAD_IN_MIN_BUFFERS >= 16
    _, t = time_fan(tmp_path, 4)
    assert t["fanout_repair"]["buffers"] == {}
    assert t["fanout_repair"]["unrepaired_min_period_ns"] == t["min_period_ns"]


def test_no_buffers_no_repair(tmp_path):
    _, t = time_fan(tmp_path, 80, repair=False)
    assert t["fanout_repair"] is None
    assert "eie_repair_fanout" not in (tmp_path / "sta_fan.tcl").read_text()
