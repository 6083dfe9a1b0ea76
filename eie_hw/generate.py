"""Verilog generation: the EIE design as files for simulators and ASIC flows.

`generate(config, out_dir)` writes (docs/hardware_flow.md has the details):

| file | what |
|---|---|
| `<design>.v` | the whole accelerator (Amaranth -> Verilog), deterministic, no source paths |
| `eie_sram.v` | behavioural model of the one SRAM module every memory instantiates |
| `files.f` | file list in compile order, paths relative to the list (`verilator -F`) |
| `config.json` | the `EIEConfig` the design was generated from |
| `srams.json` | every SRAM instance: hierarchy, width, depth, image file |
| `config.mk` | OpenROAD-flow-scripts design config (DESIGN_NAME, PLATFORM, VERILOG_FILES, ...) |
| `constraint.sdc` | clock on `clk`, input/output delays of 20 % of the period |
| `lint_waivers.vlt` | the Verilator lint waivers for the generated design file (see below) |

Every memory is an instance of `eie_sram` (`eie_hw/sram.py`), so a flow can swap the
behavioural model for SRAM macros without touching the design.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .config import EIEConfig
from .errors import EIEError
from .sram import SRAM_MODULE, sram_addr_width

SRAM_FILE = "eie_sram.v"
WAIVER_FILE = "lint_waivers.vlt"
CLOCK_PORT = "clk"
RESET_PORT = "rst"
IO_DELAY_FRACTION = 0.2   # input/output delays: 20 % of the clock period

# ORFS platforms whose liberty time unit is the picosecond; the others use ns.
PICOSECOND_PLATFORMS = {"asap7"}


class VerilogPlatform:
    """Passed to `amaranth.back.verilog.convert`: memories become `eie_sram` instances."""

    sram_blackbox = True


# ----------------------------------------------------------------------------- SRAM model

def _sram_header(r_data_kind: str) -> str:
    """The eie_sram port list, shared by the behavioural model and the black box."""
    return f"""module eie_sram #(
    parameter integer WIDTH      = 8,
    parameter integer DEPTH      = 2,
    parameter integer ADDR_WIDTH = 1,
    parameter         INIT_FILE  = ""
) (
    input  wire                  clk,
    input  wire [ADDR_WIDTH-1:0] r_addr,
    input  wire                  r_en,
    output {r_data_kind} [WIDTH-1:0]      r_data,
    input  wire [ADDR_WIDTH-1:0] w_addr,
    input  wire                  w_en,
    input  wire [WIDTH-1:0]      w_data
);
"""


SRAM_VERILOG = """\
// eie_sram: behavioural model of the one SRAM module of the EIE design.
//
// Written by `eie generate` (eie_hw/generate.py); every on-chip memory of the design
// (Spmat, pointer banks, codebook, bias, accumulator banks, the CCU's layer table and
// per-layer cycle counters) is an instance of this module. An ASIC flow replaces this
// file with wrappers that map each (WIDTH, DEPTH) to a memory macro (e.g. fakeram45);
// keep the port list and the timing below. See docs/hardware_flow.md.
//
// Parameters
//   WIDTH       word width in bits
//   DEPTH       words
//   ADDR_WIDTH  address width, max(1, ceil(log2(DEPTH)))
//   INIT_FILE   image file of this memory relative to a compressed model's images/
//               directory ("" = none), e.g. "pe003/spmat.hex"
// Ports (all synchronous to the rising edge of clk)
//   r_addr, r_en   read: r_data holds mem[r_addr] from the cycle after r_en was high
//   r_data         until the next read (it does not change while r_en is low)
//   w_addr, w_en,  write: mem[w_addr] <= w_data
//   w_data
//   A read of the address written in the same cycle returns the new word
//   (write-first / transparent), exactly like the Amaranth simulation model.
//
// Simulation backdoor load: run with +EIE_IMAGES=<model>/images and every instance
// whose INIT_FILE is set loads that file with $readmemh (files hold only the words in
// use; the rest of the memory is not initialized: zero under Verilator's default
// --x-initial, which matches the Amaranth model). Synthesis (SYNTHESIS defined) skips
// the initial block.
"""+ _sram_header("reg ") + """    reg [WIDTH-1:0] mem [0:DEPTH-1];

    always @(posedge clk) begin
        if (w_en)
            mem[w_addr] <= w_data;
        if (r_en)
            r_data <= (w_en && w_addr == r_addr) ? w_data : mem[r_addr];
    end

`ifndef SYNTHESIS
    reg [8*4096-1:0] images_dir;  // +EIE_IMAGES=<dir> (up to 4096 characters)
    initial begin
        r_data = {WIDTH{1'b0}};
        if (INIT_FILE != "" && $value$plusargs("EIE_IMAGES=%s", images_dir))
            $readmemh({images_dir, "/", INIT_FILE}, mem);
    end
`endif
endmodule
"""

# A model with only the port list, for tools that must not see the behaviour.
SRAM_BLACKBOX_VERILOG = """\
(* blackbox *)
"""+ _sram_header("wire") + """endmodule
"""

# ----------------------------------------------------------------------------- lint waivers

# The one place where Verilator lint warnings are waived. They apply to the generated
# design file only (`<design>.v`); eie_sram.v must pass `-Wall` with no waiver. Each rule
# is an idiom of Amaranth's Verilog backend (Yosys `write_verilog`), not a design problem:
LINT_WAIVERS: dict[str, str] = {
    "WIDTHEXPAND": "Amaranth checks widths in its own IR; the backend then relies on Verilog's "
                   "context-determined zero/sign extension (e.g. `a + b[3:0]` into a wider "
                   "sum), whose result is exactly the IR's",
    "WIDTHTRUNC": "same as WIDTHEXPAND for truncation: the backend assigns wider expressions "
                  "(shifts, `!x` on a vector) to narrower wires on purpose",
    "UNUSEDSIGNAL": "the backend keeps a named wire for every interface field and "
                    "intermediate value (`$12`, `inp__payload.value`) for debugging, used or "
                    "not; unused bits of such wires are expected",
    "PROCASSINIT": "registers are declared with their reset value as initial value "
                   "(`reg x = 1'h0`), which is also the power-on state of the Amaranth "
                   "simulation; the synchronous reset still assigns it",
    "CASEINCOMPLETE": "every `always @*` block assigns its outputs a default before its "
                      "`case`, so missing cases cannot create latches (the yosys latch check "
                      "proves it)",
    "DECLFILENAME": "all modules are in one file and named after their hierarchy "
                    "(`eie_top.pe0.arith`), not after the file",
    "ASCRANGE": "zero-width signals (the LNZD leaf nodes' child indices, which carry no "
                "bits) are written as `[-1:0]`; they are never read",
}


def waiver_file_text(design_file: str) -> str:
    lines = ["`verilator_config",
             f"// Lint waivers for {design_file}, written by `eie generate` from",
             "// eie_hw/generate.py LINT_WAIVERS (the one list). They cover only the generated",
             f"// design file; {SRAM_FILE} is linted with -Wall and no waiver.", ""]
    for rule, why in LINT_WAIVERS.items():
        lines.append(f"// {rule}: {why}")
        lines.append(f'lint_off -rule {rule} -file "*{design_file}"')
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- inventory

@dataclass(frozen=True)
class SRAMInstance:
    """One memory of the design: where it is and what it holds."""

    path: str        # hierarchy below the top, e.g. "pe3.spmat.sram"
    role: str        # spmat, ptr_even, ptr_odd, codebook, bias, acc0, acc1, layers, layer_cycles
    width: int
    depth: int
    init_file: str   # "" = starts empty

    @property
    def bits(self) -> int:
        return self.width * self.depth

    @property
    def addr_width(self) -> int:
        return sram_addr_width(self.depth)

    def to_dict(self) -> dict:
        return {"path": self.path, "role": self.role, "width": self.width,
                "depth": self.depth, "addr_width": self.addr_width, "bits": self.bits,
                "init_file": self.init_file}


def pe_srams(config: EIEConfig, pe: int = 0) -> list[SRAMInstance]:
    """The memories of PE `pe`, as `eie_hw/pe.py` and its units create them."""
    from .pe import CODEBOOK_FILE, pe_image_dir

    cfg, d, p = config, pe_image_dir(pe), f"pe{pe}"
    return [
        SRAMInstance(f"{p}.spmat.sram", "spmat", cfg.sram_width, cfg.spmat_words,
                     f"{d}/spmat.hex"),
        SRAMInstance(f"{p}.ptr.even", "ptr_even", cfg.ptr_word_bits, cfg.ptr_bank_entries,
                     f"{d}/ptr_even.hex"),
        SRAMInstance(f"{p}.ptr.odd", "ptr_odd", cfg.ptr_word_bits, cfg.ptr_bank_entries,
                     f"{d}/ptr_odd.hex"),
        SRAMInstance(f"{p}.arith.codebook", "codebook", cfg.weight_bits,
                     cfg.max_layers * cfg.codebook_size, CODEBOOK_FILE),
        SRAMInstance(f"{p}.act.bias", "bias", cfg.acc_bits, cfg.bias_entries,
                     f"{d}/bias.hex"),
        SRAMInstance(f"{p}.act.bank0", "acc0", cfg.acc_bits, cfg.act_entries, ""),
        SRAMInstance(f"{p}.act.bank1", "acc1", cfg.acc_bits, cfg.act_entries, ""),
    ]


def ccu_srams(config: EIEConfig) -> list[SRAMInstance]:
    from .ccu import COUNTER_BITS, descriptor_bits

    return [
        SRAMInstance("ccu.table", "layers", descriptor_bits(config), config.max_layers,
                     "layers.hex"),
        SRAMInstance("ccu.cycles", "layer_cycles", COUNTER_BITS, config.max_layers, ""),
    ]


def sram_inventory(config: EIEConfig) -> list[SRAMInstance]:
    """Every SRAM instance of the design: the CCU's, then each PE's."""
    out = ccu_srams(config)
    for p in range(config.n_pes):
        out.extend(pe_srams(config, p))
    return out


def sram_bits_per_pe(config: EIEConfig) -> dict[str, int]:
    """SRAM bits of one PE by role, plus 'total'."""
    bits: dict[str, int] = {}
    for s in pe_srams(config):
        bits[s.role] = bits.get(s.role, 0) + s.bits
    bits["total"] = sum(bits.values())
    return bits


# ----------------------------------------------------------------------------- generation

@dataclass
class GeneratedDesign:
    directory: Path
    top: str                   # top module name, e.g. "eie_top"
    verilog_files: list[Path]  # compile order: SRAM model first, then the design
    config: EIEConfig
    clock_ns: float = 1.25
    platform: str = "nangate45"
    srams: list[SRAMInstance] = field(default_factory=list)

    @property
    def design_file(self) -> Path:
        return self.directory / f"{self.top}.v"

    @property
    def sram_file(self) -> Path:
        return self.directory / SRAM_FILE

    @property
    def waiver_file(self) -> Path:
        return self.directory / WAIVER_FILE

    @property
    def sdc_file(self) -> Path:
        return self.directory / "constraint.sdc"

    @property
    def file_list(self) -> Path:
        return self.directory / "files.f"

    def pe_module(self, pe: int = 0) -> str:
        """Verilog name of PE `pe`'s module (Amaranth names modules by hierarchy)."""
        return f"{self.top}.pe{pe}"

    @property
    def ccu_module(self) -> str:
        return f"{self.top}.ccu"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _check_args(design_name: str, clock_ns: float, platform: str) -> None:
    if not _NAME.match(design_name or ""):
        raise EIEError(f"design name {design_name!r} is not a Verilog identifier: use letters, "
                       "digits and _ (not starting with a digit)")
    if design_name == SRAM_MODULE:
        raise EIEError(f"design name {design_name!r} is taken by the SRAM module")
    if not (isinstance(clock_ns, (int, float)) and clock_ns > 0):
        raise EIEError(f"clock period must be a positive number of ns, got {clock_ns!r}")
    if not _NAME.match(platform or ""):
        raise EIEError(f"platform {platform!r} is not a platform name (e.g. nangate45, "
                       "sky130hd, asap7)")


def design_verilog(config: EIEConfig, design_name: str = "eie_top") -> str:
    """The design as one Verilog text (without the SRAM model)."""
    from amaranth.back import verilog

    from .eie import EIE

    text = verilog.convert(EIE(config), name=design_name, platform=VerilogPlatform(),
                           emit_src=False)
    header = (f"// EIE accelerator `{design_name}`, generated by `eie generate` "
              f"(eie_hw/generate.py).\n"
              f"// Configuration: {json.dumps(config.to_dict(), sort_keys=True)}\n"
              f"// Memories are instances of `{SRAM_MODULE}` ({SRAM_FILE}); "
              f"compile that file first.\n")
    return header + text


def _fmt_ns(value: float) -> str:
    return f"{value:.6g}"


def sdc_text(design_name: str, clock_ns: float, platform: str = "nangate45") -> str:
    scale = 1000.0 if platform in PICOSECOND_PLATFORMS else 1.0
    unit = "ps" if scale != 1.0 else "ns"
    period = clock_ns * scale
    return f"""\
# Timing constraints for {design_name}, written by `eie generate`.
# Clock period {_fmt_ns(clock_ns)} ns ({_fmt_ns(1000.0 / clock_ns)} MHz), written in {unit}, the
# platform's liberty time unit. Every other input and output gets {int(IO_DELAY_FRACTION * 100)} %
# of the period as external delay.
current_design {design_name}

set clk_name  core_clock
set clk_port_name {CLOCK_PORT}
set clk_period {_fmt_ns(period)}
set clk_io_pct {IO_DELAY_FRACTION}

set clk_port [get_ports $clk_port_name]
create_clock -name $clk_name -period $clk_period $clk_port

set non_clock_inputs [lsearch -inline -all -not -exact [all_inputs] $clk_port]
set_input_delay  [expr $clk_period * $clk_io_pct] -clock $clk_name $non_clock_inputs
set_output_delay [expr $clk_period * $clk_io_pct] -clock $clk_name [all_outputs]
"""


def config_mk_text(design: GeneratedDesign, srams: list[SRAMInstance]) -> str:
    scale = 1000.0 if design.platform in PICOSECOND_PLATFORMS else 1.0
    shapes: dict[tuple[int, int], int] = {}
    for s in srams:
        shapes[(s.depth, s.width)] = shapes.get((s.depth, s.width), 0) + 1
    shape_lines = "\n".join(f"#   {count:5d} x {depth} words x {width} bits"
                            for (depth, width), count in sorted(shapes.items()))
    files = " ".join(f"$(EIE_DESIGN_DIR)/{p.name}" for p in design.verilog_files)
    return f"""\
# OpenROAD-flow-scripts design configuration for the EIE accelerator `{design.top}`,
# written by `eie generate`. Use it as DESIGN_CONFIG:
#   make -C OpenROAD-flow-scripts/flow DESIGN_CONFIG=$(pwd)/config.mk
# Paths are relative to this file's folder, so the folder can be moved as a whole.

EIE_DESIGN_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

export DESIGN_NAME     = {design.top}
export DESIGN_NICKNAME = {design.top}
export PLATFORM       ?= {design.platform}

export VERILOG_FILES = {files}
export SDC_FILE      = $(EIE_DESIGN_DIR)/constraint.sdc

# Clock period in the platform's time unit ({'ps' if scale != 1.0 else 'ns'}); constraint.sdc
# has the same value.
export CLOCK_PERIOD = {_fmt_ns(design.clock_ns * scale)}

# SRAMs. Every memory is an instance of `{SRAM_MODULE}` (ports and timing in
# {SRAM_FILE} and docs/hardware_flow.md). {SRAM_FILE} is a behavioural model: synthesized
# as is, each memory becomes flip-flops, which is only sensible for tiny configurations.
# For a real flow, replace {SRAM_FILE} in VERILOG_FILES by wrappers named `{SRAM_MODULE}`
# that instantiate one macro per (DEPTH, WIDTH) (e.g. fakeram45_<depth>x<width> on
# nangate45), and list the macros' views here. The design uses ({len(srams)} instances):
{shape_lines}
# (srams.json lists every instance with its hierarchy path.)
# export ADDITIONAL_LEFS = $(EIE_DESIGN_DIR)/macros/<macro>.lef ...
# export ADDITIONAL_LIBS = $(EIE_DESIGN_DIR)/macros/<macro>.lib ...
# export MACRO_PLACE_HALO = 10 10
"""


def generate(config: EIEConfig, out_dir, *, clock_ns: float = 1.25,
             platform: str = "nangate45", design_name: str = "eie_top") -> GeneratedDesign:
    """Write the Verilog design and its hand-off files into `out_dir` (created)."""
    if not isinstance(config, EIEConfig):
        raise EIEError("generate() needs an EIEConfig")
    _check_args(design_name, clock_ns, platform)
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EIEError(f"cannot create output directory {out}: {exc.strerror}") from None

    srams = sram_inventory(config)
    design_file = out / f"{design_name}.v"
    design = GeneratedDesign(directory=out, top=design_name,
                             verilog_files=[out / SRAM_FILE, design_file], config=config,
                             clock_ns=float(clock_ns), platform=platform, srams=srams)
    text = design_verilog(config, design_name)
    found = len(re.findall(rf"^\s*{SRAM_MODULE} #\(", text, flags=re.M))
    if found != len(srams):  # the inventory and the units must agree
        raise EIEError(f"internal error: the design has {found} {SRAM_MODULE} instances, "
                       f"the inventory {len(srams)}")

    files = {
        design_file.name: text,
        SRAM_FILE: SRAM_VERILOG,
        "files.f": "".join(f"{p.name}\n" for p in design.verilog_files),
        "config.json": config.to_json(),
        "srams.json": json.dumps([s.to_dict() for s in srams], indent=1) + "\n",
        "constraint.sdc": sdc_text(design_name, clock_ns, platform),
        WAIVER_FILE: waiver_file_text(design_file.name),
    }
    files["config.mk"] = config_mk_text(design, srams)
    for name, content in files.items():
        try:
            (out / name).write_text(content)
        except OSError as exc:
            raise EIEError(f"cannot write {out / name}: {exc.strerror}") from None
    return design


# ----------------------------------------------------------------------------- checks

@dataclass
class ToolResult:
    ok: bool
    output: str
    command: list[str]


def lint(design: GeneratedDesign, *, waivers: bool = True, timeout: float = 600) -> ToolResult:
    """`verilator --lint-only -Wall` on the generated files (with the waiver file)."""
    from .tools import verilator_bin, verilator_env

    cmd = [verilator_bin(), "--lint-only", "-Wall", "--top-module", design.top]
    if waivers:
        cmd.append(str(design.waiver_file))
    cmd += [str(p) for p in design.verilog_files]
    try:
        proc = subprocess.run(cmd, env=verilator_env(), capture_output=True, text=True,
                              timeout=timeout, cwd=design.directory)
    except subprocess.TimeoutExpired:
        raise EIEError(f"verilator lint took more than {timeout:.0f} s") from None
    return ToolResult(proc.returncode == 0, proc.stdout + proc.stderr, cmd)


LATCH_CELLS = ("$dlatch", "$adlatch", "$dlatchsr", "$_DLATCH_P_", "$_DLATCH_N_")


def run_yosys(script: str, *, cwd, log_name: str = "yosys.log",
              timeout: float = 3600) -> str:
    """Run a Yosys script (text) in `cwd`; return the log; EIEError with its tail on failure."""
    from .tools import yosys_command

    cwd = Path(cwd)
    script_file = cwd / (Path(log_name).stem + ".ys")
    script_file.write_text(script)
    log_file = cwd / log_name
    cmd = yosys_command() + ["-q", "-l", log_file.name, "-s", script_file.name]
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EIEError(f"yosys ({script_file}) took more than {timeout:.0f} s") from None
    log = log_file.read_text() if log_file.exists() else ""
    if proc.returncode != 0:
        tail = "\n".join((log + proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise EIEError(f"yosys failed on {script_file} (log {log_file}):\n{tail}")
    return log


def count_latches(design: GeneratedDesign, work_dir=None) -> int:
    """Latches Yosys infers (`proc`) in the design; must be 0."""
    with tempfile.TemporaryDirectory(prefix="eie_latch_") as tmp:
        work = Path(work_dir or tmp)
        work.mkdir(parents=True, exist_ok=True)
        (work / "eie_sram_bb.v").write_text(SRAM_BLACKBOX_VERILOG)
        # YoWASP's Yosys sees only its working directory: work on a copy of the design.
        shutil.copyfile(design.design_file, work / design.design_file.name)
        cells = " ".join(f"t:{c}" for c in LATCH_CELLS)
        script = (f"read_verilog -lib eie_sram_bb.v\n"
                  f"read_verilog {design.design_file.name}\n"
                  f"hierarchy -check -top {design.top}\n"
                  f"proc\n"
                  f"tee -o latches.txt select -count {cells}\n")
        log = run_yosys(script, cwd=work, log_name="latch_check.log")
        text = (work / "latches.txt").read_text() if (work / "latches.txt").exists() else log
        match = re.search(r"(\d+) objects", text)
        if match is None:
            raise EIEError("could not read the latch count from yosys")
        return int(match.group(1))
