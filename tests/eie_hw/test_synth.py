"""Yosys synthesis and OpenSTA timing of a tiny configuration: the report is sane.

Flip-flops the configuration predicts (docs/hardware_flow.md, "Flip-flops"):
- per PE: 2 x act_entries touched bits (one per accumulator-bank row), the activation FIFO
  storage (fifo_depth + 1) x (col_bits + act_bits) (the landing slot, ActivationFIFO),
  four 32-bit counters (busy, starved, Spmat
  reads, MACs); the rest is pipeline and control state, whose size does not depend on
  act_entries or fifo_depth as long as the address widths stay the same;
- in the CCU: the scan queue (QUEUE_DEPTH groups of N activations and N non-zero flags) and
  the group register (N activations and N flags).
The test checks the lower bounds and, exactly, that growing act_entries and fifo_depth
(same widths) adds exactly 2 x d(act_entries) + d(fifo_depth) x (col_bits + act_bits)
flip-flops per PE: the storage maps to flip-flops one bit each, and nothing else scales.
Those two syntheses use `--macros none` (every SRAM a black box, as before macros).

With macros (the default, fakeram45), a config whose Spmat (64 x 32) maps onto one
fakeram45_64x32 and whose other memories stay flip-flops: STA uses the macro's own timing,
the per-PE area table adds up and its memory column is the mapped macros' area.

Timing covers the PE, the CCU and the top-level glue (through the parts' measured port
timing); the design min period is the slowest of the three.
"""

import argparse
import json
from pathlib import Path

import pytest

from eie_hw.ccu import CCU
from eie_hw.cli import main
from eie_hw.cli_hw import add_synth_parser, cmd_synth
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.generate import pe_srams, sram_bits_per_pe
from eie_hw.macro_mapping import map_design
from eie_hw.macro_views import load_library
from eie_hw.macro_views import resolve_library
from eie_hw.synth import PAPER, parse_liberty
from eie_hw.synth_report import PAPER_PE, TABLE_II_UNITS
from eie_hw.synth_yosys import flat_types
from eie_hw.tools import sta_bin

from helpers import TINY_MEMORIES, small_config

PDK = Path(__file__).resolve().parents[2].parent / "shared" / "pdk"
TYP = PDK / "nangate45_typ.lib.gz"

# act_entries 9 -> 16 and fifo_depth 5 -> 6 keep every address and counter width:
# range(9) and range(16) are 4 bits, col_bits = bits(2*9-1) = bits(2*16-1) = 5,
# FIFO pointers range(6)/range(7) and levels range(7)/range(8) are 3 bits (the FIFO has
# fifo_depth + 1 entries).
CFG_A = small_config(n_pes=2, fifo_depth=5, act_entries=9, max_layers=2, **TINY_MEMORIES)
CFG_B = CFG_A.replace(act_entries=16, fifo_depth=6)
# Spmat 64 x 32 = 2,048 bits: one fakeram45_64x32; every other memory <= 1,024 bits: flops.
CFG_M = CFG_A.replace(spmat_words=64)
COUNTERS = 4 * 32


def storage_flops_pe(cfg: EIEConfig) -> int:
    return 2 * cfg.act_entries + (cfg.fifo_depth + 1) * (cfg.col_bits + cfg.act_bits)


@pytest.fixture(scope="module")
def report_a(tmp_path_factory):
    if not TYP.is_file():
        pytest.skip(f"no liberty file at {TYP} (shared/pdk beside the repository)")
    out = tmp_path_factory.mktemp("synth_a")
    from eie_hw.synth import synthesize
    report = synthesize(CFG_A, out, liberty=TYP, clock_ns=1.25, macros=None)
    return out, report


@pytest.fixture(scope="module")
def report_m(tmp_path_factory):
    """CFG_M with the default macro library (fakeram45)."""
    if not TYP.is_file():
        pytest.skip(f"no liberty file at {TYP} (shared/pdk beside the repository)")
    out = tmp_path_factory.mktemp("synth_m")
    from eie_hw.synth import synthesize
    report = synthesize(CFG_M, out, liberty=TYP, clock_ns=1.25)
    return out, report


@pytest.fixture(scope="module")
def report_b(tmp_path_factory):
    """Config B through `eie synth` without a liberty file (generic gates, no timing)."""
    out = tmp_path_factory.mktemp("synth_b")
    parser = argparse.ArgumentParser()
    add_synth_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", "--pes", "2", "--sram-width", "32", "--spmat-words",
                              "32", "--ptr-entries", "32", "--bias-entries", "16",
                              "--max-layers", "2", "--act-entries", "16", "--fifo-depth", "6",
                              "--macros", "none", "-o", str(out)])
    assert args.func is cmd_synth
    assert cmd_synth(args) == 0
    return out, json.loads((out / "report.json").read_text())


def test_report_files_and_no_latches(report_a):
    out, r = report_a
    assert json.loads((out / "report.json").read_text()) == r
    text = (out / "report.txt").read_text()
    assert "PE (each)" in text and "latches: 0" in text
    assert r["latches"] == 0
    assert EIEConfig.from_dict(r["config"]) == CFG_A
    assert r["liberty"] == "nangate45_typ.lib.gz" and r["area_unit"] == "um2"


def test_area_and_cells_are_positive_and_add_up(report_a):
    _, r = report_a
    parts = r["parts"]
    for name in ("pe", "ccu", "top"):
        assert parts[name]["cells"] > 0 and parts[name]["area"] > 0, name
        assert parts[name]["register_area"] > 0
        assert parts[name]["area"] == pytest.approx(
            parts[name]["register_area"] + parts[name]["combinational_area"], abs=0.01)
        # Yosys' own area figure agrees with the one computed from the liberty.
        assert parts[name]["area"] == pytest.approx(parts[name]["yosys_area"], rel=1e-6)
        assert parts[name]["mapped_flip_flops"] == parts[name]["flip_flops"]
        assert parts[name]["srams"] == {"pe": 7, "ccu": 2, "top": 0}[name]
    n = CFG_A.n_pes
    for key in ("cells", "flip_flops", "area"):
        assert r["total"][key] == pytest.approx(
            parts["top"][key] + parts["ccu"][key] + n * parts["pe"][key], abs=0.01)
    assert r["per_pe"]["area"] == parts["pe"]["area"]
    # Every sequential cell is a standard-cell flip-flop (no latch cells).
    lib = parse_liberty(__import__("gzip").open(TYP, "rt").read())
    seq = sum(v for k, v in parts["pe"]["cell_types"].items() if k in lib.sequential)
    assert seq == parts["pe"]["flip_flops"]


def test_sram_bits_per_pe_are_reported(report_a):
    _, r = report_a
    bits = r["per_pe"]["sram_bits"]
    assert bits == sram_bits_per_pe(CFG_A)
    assert bits["spmat"] == CFG_A.spmat_words * CFG_A.sram_width
    assert bits["acc0"] == CFG_A.act_entries * CFG_A.acc_bits
    assert r["total"]["sram_bits"] > CFG_A.n_pes * bits["total"]   # + the CCU's tables


def test_flip_flops_cover_the_configured_storage(report_a):
    _, r = report_a
    cfg, n = CFG_A, CFG_A.n_pes
    pe = r["parts"]["pe"]["flip_flops"]
    assert pe >= storage_flops_pe(cfg) + COUNTERS
    group = n * cfg.act_bits + n
    assert r["parts"]["ccu"]["flip_flops"] >= (CCU.QUEUE_DEPTH + 1) * group
    assert r["total"]["flip_flops"] >= n * (storage_flops_pe(cfg) + COUNTERS)


def test_flip_flops_scale_exactly_with_the_configured_storage(report_a, report_b):
    _, a = report_a
    _, b = report_b
    assert (CFG_A.col_bits, CFG_A.act_bits) == (CFG_B.col_bits, CFG_B.act_bits)
    delta = b["parts"]["pe"]["flip_flops"] - a["parts"]["pe"]["flip_flops"]
    assert delta == storage_flops_pe(CFG_B) - storage_flops_pe(CFG_A)
    assert delta == 2 * (16 - 9) + (6 - 5) * (CFG_A.col_bits + CFG_A.act_bits)


def test_generic_report_without_liberty(report_b):
    out, r = report_b
    assert r["area_unit"] is None and r["liberty"] is None
    assert r["latches"] == 0
    assert r["parts"]["pe"]["cells"] > 0 and "area" not in r["parts"]["pe"]
    assert "skipped" in r["timing"]
    assert "none (generic gate counts)" in (out / "report.txt").read_text()


def test_timing_is_reported(report_a):
    _, r = report_a
    if sta_bin() is None:
        assert "OpenSTA (`sta`) not found" in r["timing"]["skipped"]
        pytest.skip("OpenSTA (`sta`) is not installed (Debian package opensta)")
    for part in ("pe", "ccu", "top"):
        t = r["timing"][part]
        assert isinstance(t["worst_slack_ns"], float)
        assert t["min_period_ns"] == pytest.approx(1.25 - t["worst_slack_ns"], abs=1e-3)
        assert 0.1 < t["min_period_ns"] < 20
        assert t["max_mhz"] == pytest.approx(1000 / t["min_period_ns"], abs=0.1)
        path = t["critical_path"]
        assert path["startpoint"] and path["endpoint"]
        assert path["slack_ns"] == pytest.approx(t["worst_slack_ns"], abs=1e-3)
        assert path["arrival_ns"] > 0
        # The fan-out repair ran (tests/eie_hw/test_synth_sta.py tests what it does).
        repair = t["fanout_repair"]
        assert repair["unrepaired_min_period_ns"] > 0 and repair["area"] >= 0
    for part in ("pe", "ccu"):     # every register-to-register path is clocked
        t = r["timing"][part]
        assert t["reg_to_reg"]["slack_ns"] >= t["worst_slack_ns"], part
    assert r["paper"] == PAPER


def test_glue_is_timed_and_the_design_period_is_the_slowest_part(report_a):
    out, r = report_a
    if sta_bin() is None:
        pytest.skip("OpenSTA (`sta`) is not installed (Debian package opensta)")
    from sim.clock import clock_period_ns
    timing = r["timing"]
    # The CCU runs in the top level's renamed clock domain: its clock port is core_clk,
    # and its SDC must clock that port (else its registers go untimed).
    assert timing["ccu"]["clock_port"] == "core_clk"
    assert "set clk_port_name core_clk" in (out / "synth" / "ccu.sdc").read_text()
    assert "port 'clk' not found" not in (out / "synth" / "sta_ccu.log").read_text()
    # Each PE's index is a constant in the design: no path starts there.
    assert "set_false_path -from [get_ports {pe_index pe_index[*]}]" in (
        out / "synth" / "pe.sdc").read_text()
    assert not timing["pe"]["critical_path"]["startpoint"].startswith("pe_index")
    # The glue reads the PE's and CCU's measured port timing.
    models = (out / "synth" / "part_models.lib").read_text()
    assert 'cell ("eie_pe")' in models and 'cell ("eie_top.ccu")' in models
    assert "setup_rising" in models and "rising_edge" in models
    assert "read_liberty part_models.lib" in (out / "synth" / "sta_top.tcl").read_text()
    assert "interface models" in timing["top"]["boundary"]
    periods = {p: timing[p]["min_period_ns"] for p in ("pe", "ccu", "top")}
    design = timing["design"]
    assert design["min_period_ns"] == max(periods.values())
    assert periods[design["limited_by"]] == design["min_period_ns"]
    assert design["corner"] == "NangateOpenCellLibrary (1.1 V, 25 C)"
    assert design["max_mhz"] == pytest.approx(1000 / design["min_period_ns"], abs=0.1)
    text = (out / "report.txt").read_text()
    assert "top-level glue: worst slack" in text and "(glue: PE and CCU instances" in text
    assert f"design min period {design['min_period_ns']} ns" in text
    assert clock_period_ns(out / "report.json") == design["min_period_ns"]


def test_missing_liberty_is_a_clear_error(tmp_path):
    from eie_hw.errors import EIEError
    from eie_hw.synth import synthesize
    with pytest.raises(EIEError, match="does not exist"):
        synthesize(CFG_A, tmp_path, liberty=tmp_path / "nope.lib")
    with pytest.raises(EIEError, match="not a liberty file"):
        parse_liberty("hello", "x.lib")


# ----------------------------------------------------------------------------- --macros none

def test_macros_none_keeps_black_boxes_and_assumed_timing(report_a):
    out, r = report_a
    assert r["macros"] is None and "area_table" not in r["per_pe"]
    assert r["per_pe"]["memory_area"] == 0 and r["per_pe"]["total_area"] == r["per_pe"]["area"]
    assert (out / "synth" / "srams_bb.v").is_file()
    assert not list((out / "synth").glob("macro_*.lib"))
    if "skipped" not in r["timing"]:
        assert r["timing"]["sram_model"]["kind"] == "assumed"
        assert r["timing"]["sram_model"]["access_ns"] == 0.30
        assert "SRAM macros assumed: access 0.3 ns" in (out / "report.txt").read_text()


# ----------------------------------------------------------------------------- macros

def _pe_mappings(cfg):
    return map_design(pe_srams(cfg), load_library("fakeram45"))


def test_macro_timing_comes_from_the_macro_views(report_m):
    out, r = report_m
    if sta_bin() is None:
        pytest.skip("OpenSTA (`sta`) is not installed (Debian package opensta)")
    macro = load_library("fakeram45").macro("fakeram45_64x32")
    model = r["timing"]["sram_model"]
    assert model["kind"] == "macros" and model["library"] == "fakeram45"
    assert model["macros"] == {macro.name: {"clk_to_q_ns": macro.clk_to_q_ns,
                                            "setup_ns": macro.setup_ns,
                                            "area_um2": macro.area_um2,
                                            "lib": macro.lib.name}}
    assert f"{macro.name} clk->q {macro.clk_to_q_ns} ns" in (out / "report.txt").read_text()
    # STA read the macro's own view (no timing-only model) and linked the macro cell.
    script = (out / "synth" / "sta_pe.tcl").read_text()
    assert f"read_liberty macro_{macro.name}.lib" in script
    assert "sram_models.lib" not in script
    assert f"{macro.name} " in (out / "synth" / "pe_netlist.v").read_text()
    for part in ("pe", "ccu", "top"):
        t = r["timing"][part]
        assert t["min_period_ns"] == pytest.approx(1.25 - t["worst_slack_ns"], abs=1e-3)
        assert 0.1 < t["min_period_ns"] < 20
    assert r["timing"]["design"]["min_period_ns"] == max(
        r["timing"][p]["min_period_ns"] for p in ("pe", "ccu", "top"))


def test_area_table_adds_up(report_m):
    _, r = report_m
    table = r["per_pe"]["area_table"]
    rows = {row["unit"]: row for row in table["rows"]}
    assert list(rows) == [k for k, *_ in TABLE_II_UNITS] + ["other", "total"]
    for column in table["columns"]:
        parts = sum(row[column] for key, row in rows.items() if key != "total")
        assert parts == pytest.approx(rows["total"][column], abs=0.05), column
    for row in rows.values():
        assert row["total"] == pytest.approx(
            row["memory"] + row["registers"] + row["combinational"], abs=0.01)
        assert min(row["memory"], row["registers"], row["combinational"]) >= 0, row
    pe = r["per_pe"]
    assert rows["total"]["total"] == pytest.approx(pe["area"] + pe["memory_area"], abs=0.01)
    assert rows["total"]["registers"] == pytest.approx(pe["register_area"], abs=0.01)
    assert rows["total"]["paper"] == PAPER_PE
    for key, _, _, paper in TABLE_II_UNITS:
        assert rows[key]["paper"] == {"total": paper}
        assert rows[key]["ratio"] == pytest.approx(rows[key]["total"] / paper, abs=1e-3)
    assert rows["act_queue"]["registers"] > 0 and rows["arithm_unit"]["combinational"] > 0


def test_memory_area_is_the_mapped_macros(report_m):
    out, r = report_m
    maps = _pe_mappings(CFG_M)
    macro_maps = [m for m in maps if m.kind == "macro"]
    assert [m.role for m in macro_maps] == ["spmat"]           # what the config is built for
    expected = sum(m.area_um2 for m in macro_maps)
    rows = {row["unit"]: row for row in r["per_pe"]["area_table"]["rows"]}
    assert r["per_pe"]["memory_area"] == pytest.approx(expected, abs=0.01)
    assert rows["total"]["memory"] == pytest.approx(expected, abs=0.01)
    assert rows["spmat_read"]["memory"] == pytest.approx(expected, abs=0.01)
    assert r["parts"]["pe"]["macros"] == {"fakeram45_64x32": 1}
    assert r["total"]["memory_area"] == pytest.approx(CFG_M.n_pes * expected, abs=0.01)
    assert "per-PE area (um2), like the paper's Table II" in (out / "report.txt").read_text()


def test_flop_memories_are_flip_flops(report_a, report_m):
    """Every memory mapped to flip-flops is storage + a registered read port in the PE."""
    _, a = report_a
    _, m = report_m
    flop_bits = sum(s.depth * s.width + s.width for s, mp in
                    zip(pe_srams(CFG_M), _pe_mappings(CFG_M)) if mp.kind == "flops")
    grown = m["parts"]["pe"]["flip_flops"] - a["parts"]["pe"]["flip_flops"]
    # The few more: the Spmat tile's registered bank/slice, one more Spmat address bit, and
    # some of the registered host requests (sram.share_with_host), which Yosys merges
    # (equal inputs) differently around black boxes than around flip-flop memories.
    assert flop_bits <= grown <= flop_bits + 128
    act = {row["unit"]: row for row in m["per_pe"]["area_table"]["rows"]}["act_rw"]
    assert act["memory"] == 0 and act["registers"] > 2 * CFG_M.act_entries * CFG_M.acc_bits * 4


def test_flat_types_rolls_up_the_hierarchy():
    stats = {"modules": {
        "top": {"num_cells_by_type": {"u": 2, "AND2": 1, "$scopeinfo": 3}},
        "u": {"num_cells_by_type": {"\\v": 3, "DFF": 1, "RAM": 1}},
        "v": {"num_cells_by_type": {"INV": 2}}}, "design": {}}
    assert flat_types(stats, "top") == {"AND2": 1, "DFF": 2, "RAM": 2, "INV": 12}
    with pytest.raises(EIEError, match="no module nope"):
        flat_types(stats, "nope")


def test_macro_library_spec(tmp_path):
    assert resolve_library(None) is None and resolve_library("none") is None
    lib = resolve_library("fakeram45")
    assert resolve_library(lib) is lib
    one = lib.__class__("one", [lib.macro("fakeram45_64x32")])
    path = one.to_json(tmp_path / "one.json")
    assert [m.name for m in resolve_library(str(path)).macros] == ["fakeram45_64x32"]


def test_macro_view_without_its_cell_is_a_clear_error(tmp_path):
    from dataclasses import replace
    from eie_hw.synth_liberty import unpack_macro_views
    macro = load_library("fakeram45").macro("fakeram45_64x32")
    other = replace(macro, name="fakeram45_99x9")
    with pytest.raises(EIEError, match="does not define cell fakeram45_99x9"):
        unpack_macro_views([other], tmp_path)
    with pytest.raises(EIEError, match="macro view .* does not exist"):
        unpack_macro_views([replace(macro, lib=tmp_path / "gone.lib")], tmp_path)


@pytest.mark.parametrize("flags, message", [
    (["--macros", "no-such-library.json"], "macro library file no-such-library.json does not"),
    (["--macros", "{bad}"], "is not valid JSON"),
    (["--sram-access-ns", "0.4"], "--sram-access-ns sets the assumed SRAM timing"),
])
def test_bad_macros_flag_is_one_error_line(flags, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    argv = ["synth", "--pes", "2", "-o", str(tmp_path / "out"),
            *[f.format(bad=bad) for f in flags]]
    assert main(argv) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1 and message in err[0], err
    assert not (tmp_path / "out").exists()
