"""`eie power`'s pieces (sim/power.py): names from the netlist to the trace, the mean PE,
register activities with inverted outputs, macro accesses from chip enables, and clear
errors for an incomplete synthesis folder or a missing `sta`."""

import json

import pytest

from eie_hw.errors import EIEError
from eie_hw.macro_mapping import Mapping
from eie_hw.power_sta import CutBit
from sim.activity import Activity
from sim.power import load_synth, macro_accesses, mean_pe, port_activities, rtl_name


def test_generate_levels_are_dropped_from_netlist_names():
    assert rtl_name("act.bank0.genblk1.genblk1.g_behavioural.u_sram.mem[0][3]") == \
        "act.bank0.g_behavioural.u_sram.mem[0][3]"
    assert rtl_name("genblk2.x") == "x" and rtl_name("arith.weight2[13]") == "arith.weight2[13]"


def test_mean_pe_averages_every_bit_over_the_pes():
    act = Activity(10, 1000, {"pe0.a": (4, 200), "pe1.a": (8, 600), "ccu.b": (3, 10)})
    pe = mean_pe(act, 2)
    assert pe.bits == {"a": (6.0, 400.0)} and pe.cycles == 10
    with pytest.raises(EIEError, match="holds 2 PEs, the design 4"):
        mean_pe(act, 4)


def test_port_activities_invert_qn_and_default_the_untraced():
    pe = Activity(10, 1000, {"u.q": (5, 300), "u.r[1]": (1, 1000)})
    bits = [CutBit("p0", "u.q"), CutBit("p1", "u.q", inverted=True),
            CutBit("p2", "u.genblk1.r[1]"), CutBit("p3", "u.lost")]
    ports, coverage = port_activities(bits, pe)
    assert ports["p0"] == (0.5, 0.3) and ports["p1"] == (0.5, pytest.approx(0.7))
    assert ports["p2"] == (0.1, 1.0)
    assert ports["p3"] == (pytest.approx(1.1 / 3), 0.5)
    assert coverage["traced"] == 3 and coverage["untraced"] == ["u.lost"]


def test_macro_accesses_count_enabled_edges_per_row():
    pe = Activity(100, 100_000, {
        "spmat.sram.g_x.u_tile.u_r0_c0.ce_in": (20, 10_000),
        "spmat.sram.g_x.u_tile.u_r0_c1.ce_in": (20, 10_000),
        "spmat.sram.g_x.u_tile.u_r1_c0.ce_in": (8, 4_000),
        "spmat.sram.g_x.u_tile.u_r1_c1.ce_in": (8, 4_000),
        "ptr.even.g_y.u_tile.u_r0_c0.ce_in": (2, 3_000)})
    mappings = [Mapping("macro", 16384, 64, "read_or_write", "m", cols=2, rows=2,
                        name="pe0.spmat.sram", role="spmat"),
                Mapping("macro", 8192, 18, "read_or_write", "m", cols=1, rows=1,
                        name="pe0.ptr.even", role="ptr_even"),
                Mapping("flops", 64, 32, "read_and_write", name="pe0.act.bank0", role="acc0")]
    assert macro_accesses(pe, mappings, clock_ps=1000) == {"spmat": 14.0, "ptr_even": 3.0}


def test_an_incomplete_synthesis_folder_is_a_clear_error(tmp_path):
    with pytest.raises(EIEError, match="no readable report.json"):
        load_synth(tmp_path)
    (tmp_path / "report.json").write_text(json.dumps({"format": "eie-synth-report"}))
    with pytest.raises(EIEError, match="missing .*pe_netlist.v"):
        load_synth(tmp_path)
    (tmp_path / "synth").mkdir()
    for name in ("pe_netlist.v", "cells.lib"):
        (tmp_path / "synth" / name).write_text("")
    with pytest.raises(EIEError, match="without --liberty"):
        load_synth(tmp_path)
    mapping = {"path": "pe0.spmat.sram", "role": "spmat", "kind": "macro", "depth": 1024,
               "width": 32, "needs": "read_or_write", "macro": "fakeram45_1024x32",
               "cols": 1, "rows": 1, "count": 1}
    (tmp_path / "report.json").write_text(json.dumps({
        "format": "eie-synth-report", "liberty": "x.lib", "config": {},
        "macros": {"library": "fakeram45", "pe": [mapping]}}))
    with pytest.raises(EIEError, match="lacks the macro view.*fakeram45_1024x32"):
        load_synth(tmp_path)


def test_power_without_sta_is_a_clear_error(tmp_path, monkeypatch, capsys):
    import eie_hw.tools
    from eie_hw.cli import main
    monkeypatch.setattr(eie_hw.tools, "sta_bin", lambda: None)
    assert main(["power", "--synth", str(tmp_path), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "OpenSTA (`sta`) is not installed" in err and "Traceback" not in err


# ----------------------------------------------------------------------------- end to end

def _tools_or_skip():
    from pathlib import Path

    from eie_hw.tools import sta_bin, verilator_env
    typ = Path(__file__).resolve().parents[2].parent / "shared" / "pdk" / "nangate45_typ.lib.gz"
    if sta_bin() is None or not typ.is_file():
        pytest.skip("needs OpenSTA (`sta`) and shared/pdk")
    try:
        verilator_env()
    except EIEError as exc:
        pytest.skip(str(exc))
    return typ


def test_eie_power_end_to_end_on_a_tiny_design(tmp_path, capsys):
    """Synthesize a 2-PE design whose Spmat is one fakeram45 macro, run `eie power` on a
    small layer: the trace covers the registers, the macro's measured accesses are the
    model's Spmat reads, the table adds up and the energy is power x time."""
    typ = _tools_or_skip()
    from eie_hw.cli import main
    from eie_hw.synth import synthesize
    from helpers import TINY_MEMORIES, small_config
    config = small_config(n_pes=2, fifo_depth=5, act_entries=9, max_layers=2,
                          **{**TINY_MEMORIES, "spmat_words": 64})
    synthesize(config, tmp_path / "synth", liberty=typ, clock_ns=1.25)
    assert main(["power", "--synth", str(tmp_path / "synth"), "--layer", "16x18:0.5:0.6",
                 "-o", str(tmp_path / "power")]) == 0
    r = json.loads((tmp_path / "power" / "report.json").read_text())
    assert "energy per inference" in capsys.readouterr().out
    assert r["activity"]["traced"] >= 0.99 * r["activity"]["cut_bits"]
    assert abs(r["cycles"] - r["model"]["cycles"]) <= 2
    assert r["memories"]["spmat"]["accesses"] == round(r["model"]["events_per_pe"]["spmat_read"])
    rows = r["per_pe"]["rows"]
    assert rows[-1]["total_mw"] == pytest.approx(sum(x["total_mw"] for x in rows[:-1]), rel=1e-6)
    assert r["per_pe"]["total_mw"] > r["idle_pe_mw"]["total"] > 0
    ccu = r["ccu"]["activity"]
    assert r["ccu"]["total_mw"] > 0 and ccu["traced"] >= 0.99 * ccu["cut_bits"]
    assert r["accelerator"]["power_mw"] == pytest.approx(
        2 * r["per_pe"]["total_mw"] + r["ccu"]["total_mw"], rel=1e-6)
    assert r["energy_per_inference_nj"] == pytest.approx(
        r["accelerator"]["power_mw"] * r["cycles"] * 1.25 / 1e3, rel=1e-3)
    assert not list((tmp_path / "power").glob("*.saif"))        # traces dropped by default
