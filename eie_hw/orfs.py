"""The OpenROAD-flow-scripts hand-off of a generated design: constraint.sdc, config.mk and
the pin constraints (io.tcl), written by `eie_hw.generate.generate`.

ORFS's own macro designs on nangate45 (`flow/designs/nangate45/swerv_wrapper/config.mk`,
which uses fakeram45) are the model: SYNTH_HIERARCHICAL, the macros' views in
ADDITIONAL_LEFS / ADDITIONAL_LIBS, a DIE_AREA / CORE_AREA sized for the macros with their
halo, MACRO_PLACE_HALO / MACRO_PLACE_CHANNEL. Every path is `$(EIE_DESIGN_DIR)/...`, the
folder of config.mk, so the folder can be moved as a whole.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CLOCK_PORT = "clk"
RESET_PORT = "rst"
IO_DELAY_FRACTION = 0.2   # input/output delays: 20 % of the clock period
IO_FILE = "io.tcl"

# ORFS platforms whose liberty time unit is the picosecond; the others use ns.
PICOSECOND_PLATFORMS = {"asap7"}

# Floorplan defaults without macros (percent of the core filled by cells; placement density).
CORE_UTILIZATION = 40
PLACE_DENSITY = 0.60

# With macros. Halo: the keep-out ring ORFS's swerv_wrapper gives each fakeram45 macro
# (room for the macro's pin access and the power straps around it); channel: the gap
# between neighbouring macros it asks for.
MACRO_PLACE_HALO_UM = (10.0, 10.0)
MACRO_PLACE_CHANNEL_UM = (20.0, 20.0)
# Standard-cell logic is not synthesized when `eie generate` runs, so its area is an
# estimate from `eie synth` of the paper configuration (Nangate45 typical, 2026-12-01):
# PE logic 11,031 um^2 (plus a little for the macro wrappers' bank multiplexers), CCU
# 56,183 um^2 at 64 PEs (its LNZD tree and broadcast grow with the PE count), top-level
# glue 8,640 um^2. Flip-flop memories come on top, at the macro library's estimate.
LOGIC_UM2_PER_PE = 12_000.0 + 880.0
LOGIC_UM2_FIXED = 10_000.0
# The logic gets this much of the area the macros leave (ORFS's macro designs run at
# 30-50 % standard-cell utilization), and the core gets this much slack for the macro
# channels and the placement of the macros in rows.
LOGIC_UTILIZATION = 0.45
MACRO_PACKING_SLACK = 1.25
CORE_MARGIN_UM = 10.0
# Placement grid of the platforms' standard-cell sites (ORFS: "These values must be
# multiples of placement site"); others are rounded to 0.1 um.
SITE_UM = {"nangate45": (0.19, 1.4)}


def time_scale(platform: str) -> float:
    """Platform time units per ns."""
    return 1000.0 if platform in PICOSECOND_PLATFORMS else 1.0


def fmt_number(value: float) -> str:
    return f"{value:.6g}"


def sdc_text(design_name: str, clock_ns: float, platform: str = "nangate45") -> str:
    scale = time_scale(platform)
    unit = "ps" if scale != 1.0 else "ns"
    period = clock_ns * scale
    return f"""\
# Timing constraints for {design_name}, written by `eie generate`.
# Clock period {fmt_number(clock_ns)} ns ({fmt_number(1000.0 / clock_ns)} MHz), written in {unit}, the
# platform's liberty time unit. Every other input and output gets {int(IO_DELAY_FRACTION * 100)} %
# of the period as external delay.
current_design {design_name}

set clk_name  core_clock
set clk_port_name {CLOCK_PORT}
set clk_period {fmt_number(period)}
set clk_io_pct {IO_DELAY_FRACTION}

set clk_port [get_ports $clk_port_name]
create_clock -name $clk_name -period $clk_period $clk_port

set non_clock_inputs [lsearch -inline -all -not -exact [all_inputs] $clk_port]
set_input_delay  [expr $clk_period * $clk_io_pct] -clock $clk_name $non_clock_inputs
set_output_delay [expr $clk_period * $clk_io_pct] -clock $clk_name [all_outputs]
"""


def io_constraints_text(design_name: str, ports: list[str]) -> str:
    """Pin placement: every port on the left edge. The accelerator talks to one host, so
    one edge keeps the host port's wires short and leaves three edges to the macros.
    By direction, not by name: the pin placer then sees every bit of every bus."""
    return f"""\
# Pin placement for {design_name}, written by `eie generate` (ORFS IO_CONSTRAINTS, read by
# the floorplan's pin placer): all ports ({", ".join(ports)}) on the left edge.
set_io_pin_constraint -direction INPUT  -region left:*
set_io_pin_constraint -direction OUTPUT -region left:*
"""


# ----------------------------------------------------------------------------- floorplan

@dataclass(frozen=True)
class Floorplan:
    """Die and core of a macro design, um, with how they were sized."""

    die: tuple[float, float, float, float]
    core: tuple[float, float, float, float]
    macro_count: int
    macro_area_um2: float       # the macros' own area (Liberty `area`)
    macro_footprint_um2: float  # with the halo around each
    logic_estimate_um2: float   # standard cells, estimated (see LOGIC_UM2_PER_PE)

    @property
    def core_area_um2(self) -> float:
        x0, y0, x1, y1 = self.core
        return (x1 - x0) * (y1 - y0)


def _snap(value: float, step: float) -> float:
    return round(math.ceil(value / step - 1e-9) * step, 4)


def macro_floorplan(mappings, library, n_pes: int, platform: str) -> Floorplan:
    """A square die holding every macro (with its halo) plus the logic at
    LOGIC_UTILIZATION, with MACRO_PACKING_SLACK for channels and row packing."""
    hx, hy = MACRO_PLACE_HALO_UM
    count = footprint = area = flops = 0.0
    for m in mappings:
        if m.kind != "macro":
            flops += m.area_um2
            continue
        macro = library.macro(m.macro)
        w, h = macro.lef_size_um or (math.sqrt(macro.area_um2),) * 2
        count += m.count
        area += m.area_um2
        footprint += m.count * (w + 2 * hx) * (h + 2 * hy)
    logic = LOGIC_UM2_FIXED + n_pes * LOGIC_UM2_PER_PE + flops
    core_area = (footprint + logic / LOGIC_UTILIZATION) * MACRO_PACKING_SLACK
    sx, sy = SITE_UM.get(platform, (0.1, 0.1))
    side_x, side_y = _snap(math.sqrt(core_area), sx), _snap(math.sqrt(core_area), sy)
    mx, my = _snap(CORE_MARGIN_UM, sx), _snap(CORE_MARGIN_UM, sy)
    die = (0.0, 0.0, round(side_x + 2 * mx, 4), round(side_y + 2 * my, 4))
    core = (mx, my, round(mx + side_x, 4), round(my + side_y, 4))
    return Floorplan(die, core, int(count), area, footprint, logic)


# ----------------------------------------------------------------------------- config.mk

def _shape_lines(srams) -> str:
    shapes: dict[tuple[int, int], int] = {}
    for s in srams:
        shapes[(s.depth, s.width)] = shapes.get((s.depth, s.width), 0) + 1
    return "\n".join(f"#   {count:5d} x {depth} words x {width} bits"
                     for (depth, width), count in sorted(shapes.items()))


def _mk_paths(names) -> str:
    return " \\\n    ".join(f"$(EIE_DESIGN_DIR)/{name}" for name in names)


def _head(design) -> str:
    scale = time_scale(design.platform)
    files = [p.name for p in design.synthesis_files]
    return f"""\
# OpenROAD-flow-scripts design configuration for the EIE accelerator `{design.top}`,
# written by `eie generate`. Use it as DESIGN_CONFIG:
#   make -C OpenROAD-flow-scripts/flow DESIGN_CONFIG=$(pwd)/config.mk
# Paths are relative to this file's folder, so the folder can be moved as a whole.

EIE_DESIGN_DIR := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

export DESIGN_NAME     = {design.top}
export DESIGN_NICKNAME = {design.top}
export PLATFORM       ?= {design.platform}

export VERILOG_FILES = {" ".join(f"$(EIE_DESIGN_DIR)/{f}" for f in files)}
export SDC_FILE      = $(EIE_DESIGN_DIR)/constraint.sdc

# Clock period in the platform's time unit ({'ps' if scale != 1.0 else 'ns'}); constraint.sdc
# has the same value.
export CLOCK_PERIOD = {fmt_number(design.clock_ns * scale)}

# Keep the hierarchy: the PE is one module instantiated {design.config.n_pes} times.
export SYNTH_HIERARCHICAL    = 1
export OPENROAD_HIERARCHICAL ?= 1

# Pins: the host port, clock and reset together on the left edge ({IO_FILE}).
export IO_CONSTRAINTS = $(EIE_DESIGN_DIR)/{IO_FILE}
"""


def config_mk_text(design, sram_file: str) -> str:
    """config.mk of a GeneratedDesign: VERILOG_FILES are its synthesis files; with
    `design.macros` (eie_hw.macro_handoff.MacroHandoff) the macros' views and floorplan."""
    srams, handoff = design.srams, design.macros
    if handoff is None:
        return _head(design) + f"""
# Floorplan. ORFS's floorplan step needs one method; this one sizes the core from the
# synthesized cell area (with {sram_file}, the memories are cells too). The values are
# the middle of what ORFS's own designs on these platforms use; override them freely.
export CORE_UTILIZATION  ?= {CORE_UTILIZATION}
export CORE_ASPECT_RATIO ?= 1
export CORE_MARGIN       ?= 2
export PLACE_DENSITY     ?= {PLACE_DENSITY}

# SRAMs. Every memory is an instance of `eie_sram` ({sram_file}, a behavioural model:
# synthesized as is, each memory becomes flip-flops, which is only sensible for tiny
# configurations). For a real flow, generate with `--macros fakeram45` (or a macro library
# JSON file): eie_sram is then built from the platform's SRAM macros and this file lists
# their views and a floorplan for them. The design uses ({len(srams)} instances):
{_shape_lines(srams)}
# (srams.json lists every instance with its hierarchy path.)
"""
    fp = handoff.floorplan
    return _head(design) + f"""
# SRAM macros of library {handoff.library.name}: {fp.macro_count} instances, {fp.macro_area_um2:,.0f} um^2
# ({handoff.wrapper_file} builds every eie_sram from them; srams.json says how each
# memory was mapped; {handoff.library_file} describes the library with these views).
export ADDITIONAL_LEFS = {_mk_paths(handoff.lef_files)}
export ADDITIONAL_LIBS = {_mk_paths(handoff.lib_files)}

# Floorplan, sized for the macros: each with its {fmt_number(MACRO_PLACE_HALO_UM[0])} um halo takes
# {fp.macro_footprint_um2:,.0f} um^2; the standard cells (estimated {fp.logic_estimate_um2:,.0f} um^2, `eie synth` measures
# them) get {int(LOGIC_UTILIZATION * 100)} % utilization of the rest; x{MACRO_PACKING_SLACK} for channels and macro rows.
# Core {fp.core_area_um2:,.0f} um^2. On a site grid of the platform; override freely.
export DIE_AREA  ?= {" ".join(fmt_number(v) for v in fp.die)}
export CORE_AREA ?= {" ".join(fmt_number(v) for v in fp.core)}
export PLACE_DENSITY ?= {PLACE_DENSITY}
export PLACE_DENSITY_LB_ADDON ?= 0.10

# Macro placement (RTL-MP): the keep-out ring around each macro and the gap between them.
export MACRO_PLACE_HALO    ?= {" ".join(fmt_number(v) for v in MACRO_PLACE_HALO_UM)}
export MACRO_PLACE_CHANNEL ?= {" ".join(fmt_number(v) for v in MACRO_PLACE_CHANNEL_UM)}
"""
