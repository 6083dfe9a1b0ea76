"""Yosys synthesis and OpenSTA timing of a tiny configuration: the report is sane.

Flip-flops the configuration predicts (docs/hardware_flow.md, "Flip-flops"):
- per PE: 2 x act_entries touched bits (one per accumulator-bank row), the activation FIFO
  storage fifo_depth x (col_bits + act_bits), four 32-bit counters (busy, starved, Spmat
  reads, MACs); the rest is pipeline and control state, whose size does not depend on
  act_entries or fifo_depth as long as the address widths stay the same;
- in the CCU: the scan queue (QUEUE_DEPTH groups of N activations and N non-zero flags) and
  the group register (N activations and N flags).
The test checks the lower bounds and, exactly, that growing act_entries and fifo_depth
(same widths) adds exactly 2 x d(act_entries) + d(fifo_depth) x (col_bits + act_bits)
flip-flops per PE: the storage maps to flip-flops one bit each, and nothing else scales.
"""

import argparse
import json
import shutil
from pathlib import Path

import pytest

from eie_hw.ccu import CCU
from eie_hw.cli_hw import add_synth_parser, cmd_synth
from eie_hw.config import EIEConfig
from eie_hw.generate import sram_bits_per_pe
from eie_hw.synth import PAPER, parse_liberty
from eie_hw.tools import sta_bin

from helpers import TINY_MEMORIES, small_config

PDK = Path(__file__).resolve().parents[2].parent / "shared" / "pdk"
TYP = PDK / "nangate45_typ.lib.gz"

# act_entries 9 -> 16 and fifo_depth 5 -> 7 keep every address and counter width:
# range(9) and range(16) are 4 bits, col_bits = bits(2*9-1) = bits(2*16-1) = 5,
# FIFO pointers range(5)/range(7) and levels range(6)/range(8) are 3 bits.
CFG_A = small_config(n_pes=2, fifo_depth=5, act_entries=9, max_layers=2, **TINY_MEMORIES)
CFG_B = CFG_A.replace(act_entries=16, fifo_depth=7)
COUNTERS = 4 * 32


def storage_flops_pe(cfg: EIEConfig) -> int:
    return 2 * cfg.act_entries + cfg.fifo_depth * (cfg.col_bits + cfg.act_bits)


@pytest.fixture(scope="module")
def report_a(tmp_path_factory):
    if not TYP.is_file():
        pytest.skip(f"no liberty file at {TYP} (shared/pdk beside the repository)")
    out = tmp_path_factory.mktemp("synth_a")
    from eie_hw.synth import synthesize
    report = synthesize(CFG_A, out, liberty=TYP, clock_ns=1.25)
    return out, report


@pytest.fixture(scope="module")
def report_b(tmp_path_factory):
    """Config B through `eie synth` without a liberty file (generic gates, no timing)."""
    out = tmp_path_factory.mktemp("synth_b")
    parser = argparse.ArgumentParser()
    add_synth_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["synth", "--pes", "2", "--sram-width", "32", "--spmat-words",
                              "32", "--ptr-entries", "32", "--bias-entries", "16",
                              "--max-layers", "2", "--act-entries", "16", "--fifo-depth", "7",
                              "-o", str(out)])
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
    assert delta == 2 * (16 - 9) + (7 - 5) * (CFG_A.col_bits + CFG_A.act_bits)


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
    for part in ("pe", "ccu"):
        t = r["timing"][part]
        assert isinstance(t["worst_slack_ns"], float)
        assert t["min_period_ns"] == pytest.approx(1.25 - t["worst_slack_ns"], abs=1e-3)
        assert 0.1 < t["min_period_ns"] < 20
        path = t["critical_path"]
        assert path["startpoint"] and path["endpoint"]
        assert path["slack_ns"] == pytest.approx(t["worst_slack_ns"], abs=1e-3)
        assert path["arrival_ns"] > 0
    assert r["timing"]["pe"]["reg_to_reg"]["slack_ns"] >= r["timing"]["pe"]["worst_slack_ns"]
    assert r["paper"] == PAPER


def test_missing_liberty_is_a_clear_error(tmp_path):
    from eie_hw.errors import EIEError
    from eie_hw.synth import synthesize
    with pytest.raises(EIEError, match="does not exist"):
        synthesize(CFG_A, tmp_path, liberty=tmp_path / "nope.lib")
    with pytest.raises(EIEError, match="not a liberty file"):
        parse_liberty("hello", "x.lib")
