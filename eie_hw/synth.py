"""Logic synthesis (Yosys) and static timing (OpenSTA) of a generated EIE design.

`synthesize(config, out_dir, liberty=...)` generates the design (`eie_hw.generate`),
synthesizes it with every SRAM as a black box, and writes `report.json` and `report.txt`
into `out_dir`. What it does (docs/hardware_flow.md explains the choices):

* Every PE is an instance of the one module `eie_pe`, so the design is synthesized in
  three parts: the PE (`eie_pe`, its units flattened into it), the CCU (`<top>.ccu`)
  and the top-level glue (the host port; PEs and CCU black boxes). Total = glue + CCU + n_pes x PE. This keeps per-PE figures and lets the
  64-PE paper configuration synthesize in minutes.
* With a liberty file: `dfflibmap`, `abc -D <clock>`, area in the liberty's unit (um2
  for Nangate45), register (sequential) and combinational area apart. Without: generic
  gate counts.
* Flip-flops are counted per part; SRAM bits per PE come from the configuration.
* Latches: Yosys `proc` on the whole design must infer none.
* Timing, with OpenSTA (`sta`) and a liberty file: the PE and the CCU netlists are timed
  at the clock period, SRAM macros modelled by a generated liberty (`SRAMTiming`: an
  assumed access time and setup/hold, no area) so that paths into and out of SRAMs are
  timed too. Reported: worst slack, the critical path (start, end, delay), and the worst
  path between standard-cell flip-flops only.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from .config import EIEConfig
from .errors import EIEError
from .textfile import read_text
from .checks import count_latches, run_yosys
from .generate import (GeneratedDesign, ccu_srams, generate, pe_srams, sdc_text,
                       sram_bits_per_pe)
from .pe import PE_MODULE as PE_VERILOG_MODULE
from .sram import SRAM_MODULE
from .tools import STA_MISSING, sta_bin, yosys_command

REPORT_FORMAT = "eie-synth-report"
REPORT_VERSION = 1

# The paper's per-PE figures (Table II, 45 nm, worst corner) and clock.
PAPER = {
    "pe_registers_um2": 9465,
    "pe_combinational_um2": 8946,
    "pe_logic_area_um2": 9465 + 8946,
    "critical_path_ns": 1.15,
    "clock_mhz": 800,
}

PE_MODULE = PE_VERILOG_MODULE   # names the PE and CCU get in netlists and reports
CCU_MODULE = "eie_ccu"

# Generic (pre-liberty) Yosys flip-flop cells: one bit each.
_GENERIC_FF = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|ALDFF|ALDFFE|DFFSR|DFFSRE)_")
_GENERIC_LATCH = re.compile(r"^\$_(DLATCH|DLATCHSR)_")


@dataclass(frozen=True)
class SRAMTiming:
    """Timing assumed for every SRAM macro in STA (ns). Documented as an assumption:
    typical of compiled single-port SRAMs at 45 nm (e.g. the fakeram45 models of
    OpenROAD's nangate45 platform); no area (SRAM area is reported in bits)."""

    access_ns: float = 0.30   # clk -> r_data
    setup_ns: float = 0.05    # address / enable / data before clk
    hold_ns: float = 0.02
    input_cap_pf: float = 0.002
    output_slew_ns: float = 0.05


# ----------------------------------------------------------------------------- liberty

@dataclass
class LibertyInfo:
    name: str
    time_unit_ns: float        # 1 liberty time unit in ns
    cap_unit_pf: float         # 1 liberty capacitance unit in pF
    sequential: set            # cells with an ff or latch group
    latches: set               # cells with a latch group
    areas: dict                # cell -> area
    buffer: str | None = None  # smallest non-clock buffer (drives ABC's inputs)
    buffer_input_cap: float = 0.0


def parse_liberty(text: str, source: str = "liberty") -> LibertyInfo:
    """The few facts the report needs: units, sequential cells, areas."""
    lib = re.search(r"^\s*library\s*\(\s*\"?([^)\"]+)\"?\s*\)", text, re.M)
    if lib is None:
        raise EIEError(f"{source} is not a liberty file (no `library (...)` group)")
    tu = re.search(r"time_unit\s*:\s*\"?\s*([\d.]+)\s*(ps|ns|us)\"?", text)
    scale = {"ps": 1e-3, "ns": 1.0, "us": 1e3}
    time_unit_ns = float(tu.group(1)) * scale[tu.group(2)] if tu else 1.0
    cu = re.search(r"capacitive_load_unit\s*\(\s*([\d.]+)\s*,\s*(ff|pf)\s*\)", text, re.I)
    cap_unit_pf = (float(cu.group(1)) * (1e-3 if cu.group(2).lower() == "ff" else 1.0)
                   if cu else 1.0)
    sequential, latches, areas, buffers = set(), set(), {}, []
    starts = [(m.start(), m.group(1)) for m in re.finditer(r"\bcell\s*\(\s*\"?([\w$]+)\"?\s*\)",
                                                           text)]
    for i, (pos, name) in enumerate(starts):
        body = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
        area = re.search(r"\barea\s*:\s*([\d.eE+-]+)", body)
        areas[name] = float(area.group(1)) if area else 0.0
        if re.search(r"\bff\s*\(", body) or re.search(r"\bff_bank\s*\(", body):
            sequential.add(name)
        if re.search(r"\blatch\s*\(", body) or re.search(r"\blatch_bank\s*\(", body):
            sequential.add(name)
            latches.add(name)
        pins = re.findall(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{(.*?)\n\s*\}", body, re.S)
        inputs = [(n, b) for n, b in pins if re.search(r"direction\s*:\s*\"?input", b)]
        outputs = [(n, b) for n, b in pins if re.search(r"direction\s*:\s*\"?output", b)]
        if len(inputs) == 1 and len(outputs) == 1 and name not in sequential:
            fn = re.search(r"function\s*:\s*\"\s*\(?\s*(\w+)\s*\)?\s*\"", outputs[0][1])
            cap = re.search(r"\bcapacitance\s*:\s*([\d.eE+-]+)", inputs[0][1])
            if fn and fn.group(1) == inputs[0][0] and cap:
                buffers.append((("clk" in name.lower(), areas[name], name), float(cap.group(1))))
    if not areas:
        raise EIEError(f"{source} defines no cells")
    info = LibertyInfo(lib.group(1).strip(), time_unit_ns, cap_unit_pf, sequential, latches,
                       areas)
    if buffers:
        (_, _, info.buffer), info.buffer_input_cap = min(buffers)
    return info


def sram_liberty(shapes: list[tuple[int, int]], addr_width, info: LibertyInfo,
                 timing: SRAMTiming) -> str:
    """A liberty library with one timing-only cell per SRAM shape (depth, width)."""
    t = lambda ns: f"{ns / info.time_unit_ns:.6g}"          # noqa: E731
    c = lambda pf: f"{pf / info.cap_unit_pf:.6g}"           # noqa: E731
    unit_ns = info.time_unit_ns
    time_unit = "1ps" if abs(unit_ns - 1e-3) < 1e-9 else "1ns"
    cap_unit = "(1,ff)" if abs(info.cap_unit_pf - 1e-3) < 1e-12 else "(1,pf)"
    out = [f"/* Timing-only models of the EIE SRAM macros (eie_sram), generated by",
           f"   eie_hw/synth.py. ASSUMED values, not a characterized memory: access",
           f"   {timing.access_ns} ns, setup {timing.setup_ns} ns, hold {timing.hold_ns} ns. */",
           "library (eie_sram_models) {",
           "  delay_model : table_lookup;",
           f'  time_unit : "{time_unit}";',
           '  voltage_unit : "1V";',
           '  current_unit : "1mA";',
           '  pulling_resistance_unit : "1kohm";',
           '  leakage_power_unit : "1nW";',
           f"  capacitive_load_unit {cap_unit};",
           "  input_threshold_pct_rise : 50; input_threshold_pct_fall : 50;",
           "  output_threshold_pct_rise : 50; output_threshold_pct_fall : 50;",
           "  slew_lower_threshold_pct_rise : 30; slew_lower_threshold_pct_fall : 30;",
           "  slew_upper_threshold_pct_rise : 70; slew_upper_threshold_pct_fall : 70;",
           "  nom_process : 1; nom_temperature : 25; nom_voltage : 1.0;"]
    widths = sorted({w for _, w in shapes} | {addr_width(d) for d, _ in shapes})
    for w in widths:
        out.append(f"  type (bus{w}) {{ base_type : array; data_type : bit; bit_width : {w}; "
                   f"bit_from : {w - 1}; bit_to : 0; downto : true; }}")

    def check(kind):
        return (f'timing () {{ related_pin : "clk"; timing_type : {kind}_rising; '
                f'rise_constraint (scalar) {{ values ("{t(timing.setup_ns if kind == "setup" else timing.hold_ns)}"); }} '
                f'fall_constraint (scalar) {{ values ("{t(timing.setup_ns if kind == "setup" else timing.hold_ns)}"); }} }}')

    def input_pin(name, width=None):
        head = f"bus ({name}) {{ bus_type : bus{width};" if width else f"pin ({name}) {{"
        return (f"    {head} direction : input; capacitance : {c(timing.input_cap_pf)}; "
                f"{check('setup')} {check('hold')} }}")

    for depth, width in shapes:
        aw = addr_width(depth)
        out += [f"  cell ({SRAM_MODULE}_{depth}x{width}) {{",
                "    area : 0;",
                "    dont_use : true;",
                "    interface_timing : true;",
                f"    pin (clk) {{ direction : input; clock : true; "
                f"capacitance : {c(timing.input_cap_pf)}; }}",
                input_pin("r_addr", aw), input_pin("r_en"),
                input_pin("w_addr", aw), input_pin("w_en"), input_pin("w_data", width),
                f"    bus (r_data) {{ bus_type : bus{width}; direction : output; "
                f'timing () {{ related_pin : "clk"; timing_type : rising_edge; '
                f'cell_rise (scalar) {{ values ("{t(timing.access_ns)}"); }} '
                f'cell_fall (scalar) {{ values ("{t(timing.access_ns)}"); }} '
                f'rise_transition (scalar) {{ values ("{t(timing.output_slew_ns)}"); }} '
                f'fall_transition (scalar) {{ values ("{t(timing.output_slew_ns)}"); }} }} }}',
                "  }"]
    out.append("}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- design prep

_SRAM_INSTANCE = re.compile(
    r"\b" + SRAM_MODULE + r"\s*#\(\s*\.ADDR_WIDTH\(32'd(\d+)\),\s*\.DEPTH\(32'd(\d+)\),"
    r"\s*\.INIT_FILE\((?:\"[^\"]*\")?\),\s*\.INIT_PER_PE\(32'd\d+\),"
    r"\s*\.WIDTH\(32'd(\d+)\)\s*\)")


def shape_design(text: str, expected: int) -> tuple[str, list[tuple[int, int]]]:
    """Replace every `eie_sram #(...)` instance by a per-shape cell `eie_sram_<D>x<W>`."""
    shapes = set()

    def repl(m):
        depth, width = int(m.group(2)), int(m.group(3))
        shapes.add((depth, width))
        return f"{SRAM_MODULE}_{depth}x{width}"

    out, n = _SRAM_INSTANCE.subn(repl, text)
    if n != expected:
        raise EIEError(f"internal error: found {n} {SRAM_MODULE} instances to black-box, "
                       f"expected {expected}")
    return out, sorted(shapes)


def sram_stubs(shapes, addr_width) -> str:
    out = []
    for depth, width in shapes:
        aw = addr_width(depth)
        out.append(f"(* blackbox *)\nmodule {SRAM_MODULE}_{depth}x{width} (clk, r_addr, r_en, "
                   f"r_data, w_addr, w_en, w_data);\n"
                   f"  input clk;\n  input [{aw - 1}:0] r_addr;\n  input r_en;\n"
                   f"  output [{width - 1}:0] r_data;\n  input [{aw - 1}:0] w_addr;\n"
                   f"  input w_en;\n  input [{width - 1}:0] w_data;\nendmodule\n")
    return "\n".join(out)


# ----------------------------------------------------------------------------- yosys

# Yosys `synth` options: Booth multipliers and Kogge-Stone carry chains instead of the
# default array multiplier and ripple carry (what a commercial flow would pick at 800 MHz).
SYNTH_OPTIONS = "-flatten -booth -extra-map +/choices/kogge-stone.v"

# ABC script for delay-driven mapping ({D} = the clock period in ps): SOP balancing
# (`&if -g`) to shorten carry chains, then mapping, buffering and sizing at the target.
ABC_SPEED_SCRIPT = """\
strash
&get -n
&st
&syn2
&if -g
&st
&synch2
&if -g
&st
&dch -f
&nf {D}
&put
buffer
upsize {D}
dnsize {D}
stime -p
"""

def _part_script(part: str, design: GeneratedDesign, lib: str | None, clock_ns: float,
                 constr_file: bool) -> str:
    top = design.top
    lines = ["read_verilog -lib srams_bb.v", "read_verilog design_bb.v"]
    if part == "pe":
        lines += [f"hierarchy -check -top {design.pe_module}"]
        name = PE_MODULE
    elif part == "ccu":
        lines += [f"hierarchy -check -top {design.ccu_module}",
                  f"rename {design.ccu_module} {CCU_MODULE}"]
        name = CCU_MODULE
    else:  # the top-level glue: PEs and CCU as black boxes
        lines += [f"hierarchy -check -top {top}",
                  f"blackbox {design.pe_module} {top}.ccu*"]
        name = top
    lines += [f"synth -top {name} {SYNTH_OPTIONS}",
              f"tee -q -o {part}_generic.json stat -json"]
    if lib:
        constr = " -constr abc.constr" if constr_file else ""
        lines += [f"dfflibmap -liberty {lib}",
                  f"abc -liberty {lib} -D {clock_ns * 1000:.6g} -script abc_speed.script"
                  f"{constr}",
                  "opt_clean -purge",
                  "setundef -zero",
                  f"tee -q -o {part}_stat.json stat -json -liberty {lib}",
                  f"write_verilog -noattr {part}_netlist.v"]
    return "\n".join(lines) + "\n"


def _module_stat(path: Path, module: str) -> dict:
    doc = json.loads(path.read_text())
    modules = doc.get("modules", {})
    for key in (f"\\{module}", module):
        if key in modules:
            return modules[key]
    raise EIEError(f"yosys statistics {path} have no module {module}")


def _part_figures(work: Path, part: str, module: str, liberty: LibertyInfo | None) -> dict:
    generic = _module_stat(work / f"{part}_generic.json", module)
    gtypes = {k: v for k, v in generic.get("num_cells_by_type", {}).items()
              if not k.startswith("$scopeinfo")}
    figures = {
        "module": module,
        "generic_cells": sum(v for k, v in gtypes.items() if not k.startswith(SRAM_MODULE)),
        "flip_flops": sum(v for k, v in gtypes.items() if _GENERIC_FF.match(k)),
        "latches": sum(v for k, v in gtypes.items() if _GENERIC_LATCH.match(k)),
        "srams": sum(v for k, v in gtypes.items() if k.startswith(SRAM_MODULE)),
    }
    if liberty is None:
        figures["cells"] = figures["generic_cells"]
        figures["cell_types"] = dict(sorted(gtypes.items()))
        return figures
    mapped = _module_stat(work / f"{part}_stat.json", module)
    types = {k: v for k, v in mapped.get("num_cells_by_type", {}).items()
             if not k.startswith("$scopeinfo") and not k.startswith(SRAM_MODULE)}
    unmapped = sorted(k for k in types if k.startswith("$"))
    if unmapped:
        raise EIEError(f"synthesis of {module} left unmapped cells {', '.join(unmapped)}: "
                       "the liberty file lacks cells for them")
    seq = {k: v for k, v in types.items() if k in liberty.sequential}
    area = sum(liberty.areas.get(k, 0.0) * v for k, v in types.items())
    reg_area = sum(liberty.areas.get(k, 0.0) * v for k, v in seq.items())
    figures.update({
        "cells": sum(types.values()),
        "mapped_flip_flops": sum(v for k, v in seq.items() if k not in liberty.latches),
        "mapped_latches": sum(v for k, v in seq.items() if k in liberty.latches),
        "area": round(area, 3),
        "register_area": round(reg_area, 3),
        "combinational_area": round(area - reg_area, 3),
        "yosys_area": mapped.get("area"),
        "cell_types": dict(sorted(types.items())),
    })
    return figures


# ----------------------------------------------------------------------------- STA

def _sta_script(part: str, module: str, lib_file: str, sdc_file: str) -> str:
    return f"""\
read_liberty {lib_file}
read_liberty sram_models.lib
read_verilog {part}_netlist.v
link_design {module}
read_sdc {sdc_file}
puts -nonewline "EIE-"
report_worst_slack -digits 4
puts -nonewline "EIE-"
report_tns -digits 4
# Standard-cell flip-flops only (the SRAM models count as registers for STA too).
set std_ffs [list]
foreach inst [all_registers -cells] {{
  if {{![string match "{SRAM_MODULE}*" [get_property $inst ref_name]]}} {{ lappend std_ffs $inst }}
}}
puts "EIE-BEGIN-WORST"
report_checks -path_delay max -digits 4 -fields {{net}}
puts "EIE-END-WORST"
puts "EIE-BEGIN-REG2REG"
if {{[llength $std_ffs] > 0}} {{
  report_checks -path_delay max -digits 4 -fields {{net}} -from $std_ffs -to $std_ffs
}}
puts "EIE-END-REG2REG"
exit
"""


def _instance_nets(netlist: str) -> dict[str, str]:
    """Flip-flop instance -> the net on its Q (or QN) pin, from a Yosys netlist."""
    nets = {}
    for m in re.finditer(r"^\s*(\S+)\s+(\\\S+ |\S+)\s*\((.*?)\);", netlist, re.M | re.S):
        q = re.search(r"\.QN?\(([^()]*?)\)\s*[,)]?", m.group(3) + ")")
        if q:
            nets[m.group(2).strip().lstrip("\\")] = q.group(1).strip().lstrip("\\").replace(" ", "")
    return nets


def _parse_path(text: str, q_nets: dict | None = None) -> dict | None:
    if "No paths found" in text or "Startpoint" not in text:
        return None
    start = re.search(r"Startpoint:\s*(\S+)", text)
    end = re.search(r"Endpoint:\s*(\S+)", text)
    arrival = re.search(r"([-\d.]+)\s+data arrival time", text)
    required = re.search(r"([-\d.]+)\s+data required time", text)
    slack = re.search(r"([-\d.]+)\s+slack\s*\((MET|VIOLATED)\)", text)
    first_net = re.search(r"^\s*\d*\s+(\S+) \(net\)", text, re.M)
    q_nets = q_nets or {}

    def describe(inst, net=None):
        if inst is None:
            return None
        label = net or q_nets.get(inst)
        return f"{inst} ({label})" if label and label != inst else inst

    startpoint = start.group(1) if start else None
    endpoint = end.group(1) if end else None
    return {
        "startpoint": describe(startpoint, first_net.group(1) if first_net else None),
        "endpoint": describe(endpoint.split("/")[0] if endpoint else None),
        "arrival": float(arrival.group(1)) if arrival else None,
        "required": float(required.group(1)) if required else None,
        "slack": float(slack.group(1)) if slack else None,
    }


def _section(text: str, name: str) -> str:
    m = re.search(rf"EIE-BEGIN-{name}\n(.*?)EIE-END-{name}", text, re.S)
    return m.group(1) if m else ""


def run_sta(work: Path, part: str, module: str, lib_file: Path, clock_ns: float,
            time_unit_ns: float, sta: str, timeout: float = 1800) -> dict:
    sdc = work / f"{part}.sdc"
    platform = "asap7" if abs(time_unit_ns - 1e-3) < 1e-9 else "nangate45"
    sdc.write_text(sdc_text(module, clock_ns, platform))
    script = work / f"sta_{part}.tcl"
    # Relative: the scripts run in `work`, and stay valid after the folder is moved.
    script.write_text(_sta_script(part, module, lib_file.name, sdc.name))
    try:
        proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", script.name], cwd=work,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EIEError(f"OpenSTA took more than {timeout:.0f} s on {part}") from None
    out = proc.stdout + proc.stderr
    (work / f"sta_{part}.log").write_text(out)
    worst = re.search(r"EIE-worst slack\s+([-\d.eE+]+)", out)
    q_nets = _instance_nets((work / f"{part}_netlist.v").read_text())
    if proc.returncode != 0 or worst is None:
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise EIEError(f"OpenSTA failed on the {part} netlist (log {work / f'sta_{part}.log'}):"
                       f"\n{tail}")
    to_ns = lambda v: None if v is None else round(v * time_unit_ns, 4)   # noqa: E731
    worst_slack = float(worst.group(1))
    tns = re.search(r"EIE-tns\s+([-\d.eE+]+)", out)
    result = {"module": module, "clock_ns": clock_ns,
              "worst_slack_ns": to_ns(worst_slack),
              "tns_ns": to_ns(float(tns.group(1))) if tns else None,
              "min_period_ns": round(clock_ns - worst_slack * time_unit_ns, 4),
              "log": f"synth/sta_{part}.log"}
    for key, name in (("critical_path", "WORST"), ("reg_to_reg", "REG2REG")):
        path = _parse_path(_section(out, name), q_nets)
        if path is not None:
            for k in ("arrival", "required", "slack"):
                path[k + "_ns"] = to_ns(path.pop(k))
            path["min_period_ns"] = (round(clock_ns - path["slack_ns"], 4)
                                     if path["slack_ns"] is not None else None)
        result[key] = path
    return result


# ----------------------------------------------------------------------------- driver

def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _prepare_liberty(liberty, work: Path) -> tuple[Path, LibertyInfo]:
    src = Path(liberty)
    if not src.is_file():
        raise EIEError(f"liberty file {src} does not exist")
    text = read_text(src, "liberty file", "give a liberty file (.lib or .lib.gz)")
    info = parse_liberty(text, str(src))
    dest = work / "cells.lib"   # unpacked next to the scripts: YoWASP sees only its folder
    dest.write_text(text)
    return dest, info


def synthesize(config: EIEConfig, out_dir, *, liberty=None, clock_ns: float = 1.25,
               progress=None, sram_timing: SRAMTiming = SRAMTiming(),
               design_name: str = "eie_top", jobs: int = 2) -> dict:
    """Synthesize `config`; write report.json / report.txt into `out_dir`; return the report."""
    t0 = time.time()
    out = Path(out_dir)
    work = out / "synth"
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EIEError(f"cannot create {work}: {exc.strerror}") from None
    yosys_command()  # fail early with a clear message when Yosys is missing

    lib_file, info = (None, None)
    if liberty is not None:
        lib_file, info = _prepare_liberty(liberty, work)

    _say(progress, f"generating Verilog for {config.n_pes} PE(s)")
    design = generate(config, out / "rtl", clock_ns=clock_ns, design_name=design_name)

    from .sram import sram_addr_width
    if info is not None:
        (work / "abc_speed.script").write_text(ABC_SPEED_SCRIPT)
        if info.buffer:
            # Flip-flop outputs are ABC's inputs: without a driver model ABC sees them as
            # ideal and never buffers their fanout (ORFS does the same).
            (work / "abc.constr").write_text(
                f"set_driving_cell {info.buffer}\nset_load {4 * info.buffer_input_cap:.6g}\n")
    # The PE module holds its memories once, whatever the number of PEs.
    in_text = len(pe_srams(design.config)) + len(ccu_srams(design.config))
    text, shapes = shape_design(design.design_file.read_text(), in_text)
    (work / "design_bb.v").write_text(text)
    (work / "srams_bb.v").write_text(sram_stubs(shapes, sram_addr_width))

    _say(progress, "checking for latches (yosys proc on the whole design)")
    latches = count_latches(design, work_dir=work / "latch_check")

    parts = {"pe": PE_MODULE, "ccu": CCU_MODULE, "top": design_name}
    lib_name = lib_file.name if lib_file else None
    for part in parts:
        (work / f"{part}.ys").write_text(
            _part_script(part, design, lib_name, clock_ns, bool(info and info.buffer)))

    def run_part(part):
        started = time.time()
        _say(progress, f"synthesizing {part} ({parts[part]})")
        run_yosys((work / f"{part}.ys").read_text(), cwd=work, log_name=f"{part}.log")
        _say(progress, f"synthesized {part} in {time.time() - started:.0f} s")
        return part, _part_figures(work, part, parts[part], info)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        figures = dict(pool.map(run_part, parts))

    report = _assemble(config, design, figures, latches, liberty, info, clock_ns, sram_timing)

    sta = sta_bin() if info is not None else None
    if info is None:
        report["timing"] = {"skipped": "no liberty file: timing needs one (--liberty)"}
    elif sta is None:
        print(STA_MISSING, file=sys.stderr)
        _say(progress, STA_MISSING)
        report["timing"] = {"skipped": STA_MISSING}
    else:
        (work / "sram_models.lib").write_text(
            sram_liberty(shapes, sram_addr_width, info, sram_timing))
        report["timing"] = {"tool": _sta_version(sta),
                            "sram_model": asdict(sram_timing)}
        for part in ("pe", "ccu"):
            _say(progress, f"static timing of {part} with OpenSTA")
            report["timing"][part] = run_sta(work, part, parts[part], lib_file, clock_ns,
                                             info.time_unit_ns, sta)
    report["seconds"] = round(time.time() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(format_report(report))
    return report


def _sta_version(sta: str) -> str:
    try:
        proc = subprocess.run([sta, "-version"], capture_output=True, text=True, timeout=30)
        return "OpenSTA " + proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "OpenSTA"


def _yosys_version() -> str:
    try:
        proc = subprocess.run(yosys_command() + ["-V"], capture_output=True, text=True,
                              timeout=120)
        return proc.stdout.strip().split(" (")[0]
    except (OSError, subprocess.TimeoutExpired):
        return "Yosys"


def _assemble(config, design, figures, latches, liberty, info, clock_ns, sram_timing) -> dict:
    n = config.n_pes
    pe, ccu, top = figures["pe"], figures["ccu"], figures["top"]
    keys = ["cells", "flip_flops"]
    if info is not None:
        keys += ["area", "register_area", "combinational_area"]
    total = {k: round(top[k] + ccu[k] + n * pe[k], 3) for k in keys}
    sram_pe = sram_bits_per_pe(config)
    sram_ccu = sum(s.bits for s in design.srams if not s.path.startswith("pe"))
    total["sram_bits"] = n * sram_pe["total"] + sram_ccu
    per_pe = {k: pe[k] for k in keys}
    per_pe["sram_bits"] = sram_pe
    return {
        "format": REPORT_FORMAT,
        "version": REPORT_VERSION,
        "config": config.to_dict(),
        "design": design.top,
        "clock_ns": clock_ns,
        "liberty": Path(liberty).name if liberty is not None else None,
        "liberty_library": info.name if info else None,
        "area_unit": "um2" if info is not None else None,
        "tools": {"yosys": _yosys_version()},
        "method": (f"parts synthesized separately with every SRAM a black box: the PE "
                   f"(eie_pe, one module for all PEs), CCU, top-level glue (PEs and CCU "
                   f"black boxes); total = glue + CCU + {n} x PE"),
        "latches": latches + sum(f["latches"] + f.get("mapped_latches", 0)
                                 for f in figures.values()),
        "parts": figures,
        "per_pe": per_pe,
        "total": total,
        "paper": PAPER,
    }


# ----------------------------------------------------------------------------- text

def _num(v, digits=0) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}"


def format_report(r: dict) -> str:
    cfg = r["config"]
    lines = [f"EIE synthesis report: {r['design']}, {cfg['n_pes']} PE(s), FIFO {cfg['fifo_depth']}, "
             f"{cfg['sram_width']}-bit Spmat SRAM, {cfg['act_entries']} activations/PE",
             f"clock {r['clock_ns']} ns; liberty: {r['liberty'] or 'none (generic gate counts)'}"
             f"; {r['tools']['yosys']}",
             f"method: {r['method']}", ""]
    area = r["area_unit"] is not None
    head = f"{'part':<18}{'cells':>10}{'flip-flops':>12}"
    if area:
        head += f"{'area um2':>14}{'registers':>12}{'combin.':>12}"
    lines.append(head)
    rows = [("PE (each)", r["parts"]["pe"]), ("CCU", r["parts"]["ccu"]),
            ("top-level glue", r["parts"]["top"]), (f"total ({cfg['n_pes']} PEs)", r["total"])]
    for name, f in rows:
        line = f"{name:<18}{_num(f['cells']):>10}{_num(f['flip_flops']):>12}"
        if area:
            line += (f"{_num(f['area'], 1):>14}{_num(f['register_area'], 1):>12}"
                     f"{_num(f['combinational_area'], 1):>12}")
        lines.append(line)
    lines.append("")
    bits = r["per_pe"]["sram_bits"]
    lines.append("SRAM bits per PE (macros, not in the logic figures): " + ", ".join(
        f"{k} {v:,}" for k, v in bits.items() if k != "total") + f"; total {bits['total']:,} "
        f"({bits['total'] / 8192:,.1f} KiB)")
    lines.append(f"SRAM bits, whole design: {r['total']['sram_bits']:,}")
    lines.append(f"latches: {r['latches']}")
    lines.append("")
    timing = r.get("timing", {})
    if "skipped" in timing:
        lines.append(f"timing: skipped: {timing['skipped']}")
    else:
        sm = timing["sram_model"]
        lines.append(f"timing ({timing['tool']}; SRAM macros assumed: access {sm['access_ns']} "
                     f"ns, setup {sm['setup_ns']} ns):")
        for part in ("pe", "ccu"):
            t = timing[part]
            lines.append(f"  {part}: worst slack {t['worst_slack_ns']} ns at {r['clock_ns']} ns "
                         f"-> min period {t['min_period_ns']} ns "
                         f"({1000 / t['min_period_ns']:.0f} MHz)" if t["min_period_ns"] > 0
                         else f"  {part}: worst slack {t['worst_slack_ns']} ns")
            for key, label in (("critical_path", "critical path"),
                               ("reg_to_reg", "flip-flop to flip-flop")):
                p = t.get(key)
                if p:
                    lines.append(f"    {label}: {p['startpoint']} -> {p['endpoint']}, "
                                 f"arrival {p['arrival_ns']} ns, slack {p['slack_ns']} ns")
    if area:
        paper = r["paper"]
        pe = r["parts"]["pe"]
        lines += ["", f"paper (45 nm, worst corner): PE logic {paper['pe_logic_area_um2']:,} um2 "
                      f"(registers {paper['pe_registers_um2']:,} + combinational "
                      f"{paper['pe_combinational_um2']:,}), critical path "
                      f"{paper['critical_path_ns']} ns",
                  f"this design: PE logic {pe['area']:,.0f} um2 (registers "
                  f"{pe['register_area']:,.0f} + combinational {pe['combinational_area']:,.0f})"]
    return "\n".join(lines) + "\n"
