"""Verilog generation: files, determinism, lint, latches, hand-off files, the SRAM model."""

import argparse
import json
import re
import subprocess

import pytest

from eie_hw.cli_hw import add_generate_parser, cmd_generate
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.checks import count_latches, lint
from eie_hw.generate import (LINT_WAIVERS, SRAM_FILE, GeneratedDesign, generate, pe_srams,
                             sram_bits_per_pe, sram_inventory)
from eie_hw.verilog_modules import merge_identical_modules, modules
from eie_hw.memory_map import pe_image_dir
from eie_hw.pe import PE_MODULE
from eie_hw.tools import verilator_bin, verilator_env

from helpers import TINY_MEMORIES, makefile_variables, small_config

CONFIGS = {
    "1pe-fifo1-w64": small_config(1, 1, 64, act_entries=8, **TINY_MEMORIES),
    "3pe-fifo8-w32": small_config(3, 8, 32, act_entries=8, **TINY_MEMORIES),
    "4pe-fifo3-w16-bcast4": small_config(4, 3, 16, 4, act_entries=8, **TINY_MEMORIES),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def design(request, tmp_path_factory) -> GeneratedDesign:
    cfg = CONFIGS[request.param]
    return generate(cfg, tmp_path_factory.mktemp(request.param), clock_ns=2.0)


def test_files_exist_and_describe_the_design(design):
    d = design.directory
    for name in ("eie_top.v", SRAM_FILE, "files.f", "config.json", "srams.json", "config.mk",
                 "constraint.sdc", "lint_waivers.vlt"):
        assert (d / name).is_file(), name
    assert design.verilog_files == [d / SRAM_FILE, d / "eie_top.v"]
    assert (d / "files.f").read_text().split() == [SRAM_FILE, "eie_top.v"]
    assert EIEConfig.from_json((d / "config.json").read_text()) == design.config
    assert re.search(r"^module eie_top\(", design.design_file.read_text(), re.M)


def sram_instances(body: str) -> list[str]:
    return re.findall(r"^\s*eie_sram #\((.*?)\) \S+\s+\(", body, re.S | re.M)


def test_sram_instances_match_the_inventory(design):
    cfg = design.config
    mods = modules(design.design_file.read_text())
    in_pe = [i for name, body in mods.items()
             if name == PE_MODULE or name.startswith(f"\\{PE_MODULE}.")
             for i in sram_instances(body)]
    outside = [i for name, body in mods.items()
               if not (name == PE_MODULE or name.startswith(f"\\{PE_MODULE}."))
               for i in sram_instances(body)]
    assert len(in_pe) == 7 and len(outside) == 2
    assert len(in_pe) * cfg.n_pes + len(outside) == len(sram_inventory(cfg))
    # Per-PE images are named inside the PE's folder, which the SRAM model derives from
    # the instance name pe<N>: exactly the files `eie compress` writes, for every PE.
    per_pe = sorted(re.search(r'\.INIT_FILE\("([^"]*)"\)', i).group(1) for i in in_pe
                    if ".INIT_PER_PE(32'd1)" in i)
    assert per_pe == sorted(["spmat.hex", "ptr_even.hex", "ptr_odd.hex", "bias.hex"])
    expected = sorted(s.init_file for s in sram_inventory(cfg)
                      if s.init_file.startswith("pe"))
    assert expected == sorted(f"{pe_image_dir(p)}/{f}" for p in range(cfg.n_pes)
                              for f in per_pe)
    shared = [re.search(r'\.INIT_FILE\((?:"([^"]*)")?\)', i).group(1) for i in in_pe + outside
              if ".INIT_PER_PE(32'd0)" in i]
    assert sorted(f for f in shared if f) == ["codebook.hex", "layers.hex"]
    # Widths and depths of the instances are the configured memories.
    def shape(instance):
        return (int(re.search(r"\.DEPTH\(32'd(\d+)\)", instance).group(1)),
                int(re.search(r"\.WIDTH\(32'd(\d+)\)", instance).group(1)))
    shapes = sorted([shape(i) for i in in_pe] * cfg.n_pes + [shape(i) for i in outside])
    assert shapes == sorted((s.depth, s.width) for s in sram_inventory(cfg))
    listed = json.loads((design.directory / "srams.json").read_text())
    assert len(listed) == len(sram_inventory(cfg))


@pytest.mark.parametrize("n_pes", [1, 4, 64])
def test_one_pe_module_instantiated_n_times(tmp_path, n_pes):
    """The hierarchy: one `eie_pe` module, N instances pe0..pe{N-1} in the top level,
    and no two modules with the same body (replicated units are one module)."""
    cfg = EIEConfig(n_pes=n_pes)
    design = generate(cfg, tmp_path)
    text = design.design_file.read_text()
    mods = modules(text)
    assert list(mods).count(PE_MODULE) == 1
    assert not [n for n in mods if re.search(r"\.pe\d+\b", n)]   # no per-PE copies
    top = mods[design.top]
    names = re.findall(rf"^\s*{PE_MODULE} (\S+) \(", top, re.M)
    assert sorted(names) == sorted(f"pe{p}" for p in range(n_pes))
    bodies = [body for body in mods.values()]
    assert len(set(bodies)) == len(bodies)
    assert len(re.findall(r"^\s*\\eie_pe\.act ", text, re.M)) == 1
    if n_pes == 64:
        assert design.design_file.stat().st_size <= 1_000_000


def test_sram_bits_per_pe_follow_the_config():
    cfg = CONFIGS["3pe-fifo8-w32"]
    bits = sram_bits_per_pe(cfg)
    assert bits["spmat"] == cfg.spmat_words * cfg.sram_width
    assert bits["ptr_even"] == bits["ptr_odd"] == cfg.ptr_entries // 2 * cfg.ptr_bits
    wide = CONFIGS["4pe-fifo3-w16-bcast4"]        # 4 pointers a word, same total
    assert sram_bits_per_pe(wide)["ptr_even"] == wide.ptr_entries // 2 * wide.ptr_bits
    assert bits["codebook"] == cfg.max_layers * 16 * cfg.weight_bits
    assert bits["acc0"] == bits["acc1"] == cfg.act_entries * cfg.acc_bits
    assert bits["total"] == sum(s.bits for s in pe_srams(cfg))


def test_lint_clean_with_the_waiver_file(design):
    result = lint(design)
    assert result.ok, result.output[-3000:]


def test_every_waiver_is_needed_and_the_sram_model_needs_none(tmp_path):
    d = generate(CONFIGS["4pe-fifo3-w16-bcast4"], tmp_path)
    raw = lint(d, waivers=False)
    assert not raw.ok
    fired = set(re.findall(r"%Warning-([A-Z]+):", raw.output))
    assert fired <= set(LINT_WAIVERS), fired - set(LINT_WAIVERS)
    assert set(LINT_WAIVERS) <= fired, f"unused waivers: {set(LINT_WAIVERS) - fired}"
    waivers = d.waiver_file.read_text()
    for rule in LINT_WAIVERS:
        assert f'lint_off -rule {rule} -file "*eie_top.v"' in waivers
    # The SRAM model alone: -Wall, no waiver.
    proc = subprocess.run([verilator_bin(), "--lint-only", "-Wall", "--top-module", "eie_sram",
                           "-GWIDTH=12", "-GDEPTH=5", "-GADDR_WIDTH=3", str(d.sram_file)],
                          env=verilator_env(), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_no_latches(design):
    assert count_latches(design) == 0


def test_latch_check_finds_a_latch(tmp_path):
    (tmp_path / "eie_top.v").write_text(
        "module eie_top(input en, input d, output reg q);\n"
        "  always @* if (en) q = d;\nendmodule\n")
    fake = GeneratedDesign(tmp_path, "eie_top", [tmp_path / "eie_top.v"], CONFIGS["1pe-fifo1-w64"])
    assert count_latches(fake) == 1


def test_generation_is_deterministic_and_has_no_machine_paths(tmp_path):
    cfg = CONFIGS["3pe-fifo8-w32"]
    a = generate(cfg, tmp_path / "a")
    b = generate(cfg, tmp_path / "b")
    names = sorted(p.name for p in a.directory.iterdir())
    assert names == sorted(p.name for p in b.directory.iterdir())
    for name in names:
        content = (a.directory / name).read_bytes()
        assert content == (b.directory / name).read_bytes(), name
        for needle in (str(tmp_path).encode(), b"/work/", b"/home/", b"site-packages"):
            assert needle not in content, (name, needle)
    assert b"(* src =" not in a.design_file.read_bytes()


def test_config_mk_and_sdc(design):
    mk = (design.directory / "config.mk").read_text()
    assert re.search(r"^export DESIGN_NAME\s+= eie_top$", mk, re.M)
    assert re.search(r"^export PLATFORM\s+\?= nangate45$", mk, re.M)
    files = re.search(r"^export VERILOG_FILES = (.*)$", mk, re.M).group(1).split()
    assert files == ["$(EIE_DESIGN_DIR)/eie_sram.v", "$(EIE_DESIGN_DIR)/eie_top.v"]
    assert "export SDC_FILE      = $(EIE_DESIGN_DIR)/constraint.sdc" in mk
    assert re.search(r"^export CLOCK_PERIOD = 2$", mk, re.M)
    assert "--macros fakeram45" in mk             # says how to get macros
    sdc = (design.directory / "constraint.sdc").read_text()
    assert "create_clock -name $clk_name -period $clk_period $clk_port" in sdc
    assert re.search(r"^set clk_period 2$", sdc, re.M)
    assert re.search(r"^set clk_port_name clk$", sdc, re.M)
    assert re.search(r"^set clk_io_pct 0.2$", sdc, re.M)
    assert "set_input_delay  [expr $clk_period * $clk_io_pct]" in sdc
    assert "set_output_delay [expr $clk_period * $clk_io_pct]" in sdc


# What ORFS needs from a design's config.mk before its first step runs.
ORFS_REQUIRED = ("DESIGN_NAME", "PLATFORM", "VERILOG_FILES", "SDC_FILE", "CLOCK_PERIOD")


def test_the_orfs_hand_off_is_complete_by_content(design):
    """OpenROAD is not installable here: check what its flow would read."""
    d = design.directory
    variables = makefile_variables((d / "config.mk").read_text())
    for name in ORFS_REQUIRED:
        assert variables.get(name), name
    # floorplan.tcl stops at once without one of its initialization methods
    assert "CORE_UTILIZATION" in variables or {"DIE_AREA", "CORE_AREA"} <= set(variables)
    assert 0 < float(variables["PLACE_DENSITY"]) <= 1
    assert variables["SYNTH_HIERARCHICAL"] == "1"
    named = re.findall(r"\$\(EIE_DESIGN_DIR\)/(\S+)", " ".join(variables.values()))
    assert named and all((d / rel).is_file() for rel in named), named
    # The SDC's design and clock port are the Verilog top and one of its inputs.
    sdc = (d / "constraint.sdc").read_text()
    top = re.search(r"^current_design (\S+)$", sdc, re.M).group(1)
    clock = re.search(r"^set clk_port_name (\S+)$", sdc, re.M).group(1)
    assert top == variables["DESIGN_NAME"] == design.top
    header = re.search(rf"^module {top}\((.*?)\);", design.design_file.read_text(),
                       re.M | re.S).group(1)
    assert clock in re.findall(r"\w+", header)
    assert re.search(rf"^\s*input {clock};", design.design_file.read_text(), re.M)


def test_platform_and_units(tmp_path):
    d = generate(CONFIGS["1pe-fifo1-w64"], tmp_path, clock_ns=1.5, platform="asap7",
                 design_name="eie_small")
    mk = (tmp_path / "config.mk").read_text()
    assert re.search(r"^export PLATFORM\s+\?= asap7$", mk, re.M)
    assert re.search(r"^export CLOCK_PERIOD = 1500$", mk, re.M)     # asap7 is in ps
    assert re.search(r"^set clk_period 1500$", (tmp_path / "constraint.sdc").read_text(), re.M)
    assert d.top == "eie_small" and (tmp_path / "eie_small.v").is_file()
    with pytest.raises(EIEError, match="not a Verilog identifier"):
        generate(CONFIGS["1pe-fifo1-w64"], tmp_path, design_name="1bad")
    with pytest.raises(EIEError, match="positive"):
        generate(CONFIGS["1pe-fifo1-w64"], tmp_path, clock_ns=0)


def test_cli_generate(tmp_path, capsys):
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "gen"
    args = parser.parse_args(["generate", "--pes", "2", "--fifo-depth", "2", "--sram-width",
                              "32", "--spmat-words", "16", "--ptr-entries", "16",
                              "--act-entries", "4", "--clock-ns", "2.5", "-o", str(out)])
    assert args.func is cmd_generate
    assert cmd_generate(args) == 0
    assert "2 PE(s), 16 SRAM instances" in capsys.readouterr().out
    cfg = EIEConfig.from_json((out / "config.json").read_text())
    assert (cfg.n_pes, cfg.fifo_depth, cfg.sram_width, cfg.act_entries) == (2, 2, 32, 4)
    assert "set clk_period 2.5" in (out / "constraint.sdc").read_text()


SRAM_TB = r"""
module tb;
  reg clk = 0;
  reg [2:0] ra = 0, wa = 0; reg re = 0, we = 0; reg [11:0] wd = 0;
  wire [11:0] rd, rd_empty;
  eie_sram #(.WIDTH(12), .DEPTH(5), .ADDR_WIDTH(3), .INIT_FILE("pe001/bias.hex")) dut (
    .clk(clk), .r_addr(ra), .r_en(re), .r_data(rd), .w_addr(wa), .w_en(we), .w_data(wd));
  eie_sram #(.WIDTH(12), .DEPTH(5), .ADDR_WIDTH(3), .INIT_FILE()) empty (
    .clk(clk), .r_addr(ra), .r_en(1'b1), .r_data(rd_empty), .w_addr(3'd0), .w_en(1'b0),
    .w_data(12'd0));
  task cycle; begin #1 clk = 1; #1 clk = 0; end endtask
  initial begin
    $display("R0 %h", rd);
    re = 1; ra = 1; cycle; $display("R1 %h %h", rd, rd_empty);        // backdoor word 1
    re = 0; ra = 2; cycle; $display("R2 %h", rd);                     // held: r_en low
    re = 1; we = 1; wa = 2; wd = 12'h5a5; cycle; $display("R3 %h", rd); // write-first
    we = 0; ra = 0; cycle; $display("R4 %h", rd);                     // backdoor word 0
    ra = 2; cycle; $display("R5 %h", rd);                             // the written word
    ra = 3; cycle; $display("R6 %h", rd);                             // not in the file: 0
    $finish;
  end
endmodule
"""


def test_sram_model_timing_and_backdoor_load(tmp_path):
    d = generate(CONFIGS["1pe-fifo1-w64"], tmp_path / "rtl")
    (tmp_path / "tb.v").write_text(SRAM_TB)
    images = tmp_path / "images"
    (images / "pe001").mkdir(parents=True)
    (images / "pe001" / "bias.hex").write_text("abc\n123\n")
    build = subprocess.run([verilator_bin(), "--binary", "--top-module", "tb", "-o", "sim",
                            "-Mdir", str(tmp_path / "obj"), str(d.sram_file),
                            str(tmp_path / "tb.v")], env=verilator_env(), capture_output=True,
                           text=True, cwd=tmp_path)
    assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
    run = subprocess.run([str(tmp_path / "obj" / "sim"), f"+EIE_IMAGES={images}"],
                         capture_output=True, text=True, cwd=tmp_path)
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines() if line[:1] == "R")
    assert lines == {"R0": "000", "R1": "123 000", "R2": "123", "R3": "5a5", "R4": "abc",
                     "R5": "5a5", "R6": "000"}


def test_merge_identical_modules_keeps_one_of_each_and_renames_instances():
    text = (
        "module top(a, y);\n  \\top.n0  n0 (.a(a));\n  \\top.n1  n1 (.a(a));\n"
        "  \\top.m  m (.a(a));\nendmodule\n"
        "(* generator = \"Amaranth\" *)\nmodule \\top.n0 (a, b);\n  input a;\nendmodule\n"
        "(* generator = \"Amaranth\" *)\nmodule \\top.n1 (b, a);\n  input a;\nendmodule\n"
        "module \\top.m (a);\n  input a;\n  wire w;\nendmodule\n")
    merged = merge_identical_modules(text)
    assert "module \\top.n1 " not in merged and "module \\top.n0 " in merged
    assert merged.count("\\top.n0  n") == 2           # both instances use the kept one
    assert "module \\top.m " in merged                 # a different body stays
    assert merge_identical_modules(merged) == merged  # nothing left to merge
