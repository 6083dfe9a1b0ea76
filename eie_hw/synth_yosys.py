"""The Yosys side of `eie synth`: the design as the synthesis scripts read it, the scripts
of the three parts (PE, CCU, top-level glue), and the figures read back from Yosys'
`stat -json` (rolled up over the hierarchy where a part keeps one).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .errors import EIEError
from .sram import SRAM_MODULE
from .synth_liberty import LibertyInfo

PE_MODULE_NAME = "eie_pe"    # the PE and CCU names in netlists and reports
CCU_MODULE = "eie_ccu"

# Generic (pre-liberty) Yosys flip-flop cells: one bit each.
_GENERIC_FF = re.compile(r"^\$_(DFF|DFFE|SDFF|SDFFE|SDFFCE|ALDFF|ALDFFE|DFFSR|DFFSRE)_")
_GENERIC_LATCH = re.compile(r"^\$_(DLATCH|DLATCHSR)_")

# Yosys `synth` options: Booth multipliers and Kogge-Stone carry chains instead of the
# default array multiplier and ripple carry (what a commercial flow would pick at 800 MHz).
SYNTH_OPTIONS = "-flatten -booth -extra-map +/choices/kogge-stone.v"

# ABC script for delay-driven mapping: SOP balancing (`&if -g`) to shorten carry chains,
# then mapping, buffering and sizing for the shortest delay ABC can reach. No delay target
# is given on purpose: Yosys hands a script file to ABC as `source <file>` and does not
# put the clock into it, so a `{D}` there was never replaced (and ABC ignored it). Without
# a target, &nf maps for minimum delay and recovers area only where that costs no delay,
# which is what a "min period" figure should measure; `--clock-ns` sets the STA clock.
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
&nf
&put
buffer
upsize
dnsize
stime -p
"""


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


def pe_units(design_text: str, pe_module: str) -> list[str]:
    """The PE's unit modules (`eie_pe.act`, `eie_pe.fifo`, ...): its direct children,
    which Amaranth names `<pe>.<instance>`."""
    names = re.findall(r"^module \\(" + re.escape(pe_module) + r"\.\w+) ", design_text, re.M)
    return sorted(set(names))


# ----------------------------------------------------------------------------- scripts

def part_script(part: str, design, sources: list[str], lib: str | None, clock_ns: float,
                constr_file: bool, keep: list[str] = ()) -> str:
    """The Yosys script of one part. `sources` reads the design; `keep` names modules
    synthesized as modules of their own (everything else is flattened into them)."""
    top = design.top
    lines = list(sources)
    if part.startswith("pe"):
        lines += [f"hierarchy -check -top {design.pe_module}"]
        name = PE_MODULE_NAME
    elif part == "ccu":
        lines += [f"hierarchy -check -top {design.ccu_module}",
                  f"rename {design.ccu_module} {CCU_MODULE}"]
        name = CCU_MODULE
    else:  # the top-level glue: PEs and CCU as black boxes
        lines += [f"hierarchy -check -top {top}",
                  f"blackbox {design.pe_module} {top}.ccu*"]
        name = top
    if keep:
        lines.append(f"setattr -mod -set keep_hierarchy 1 {' '.join(keep)}")
    lines += [f"synth -top {name} {SYNTH_OPTIONS}",
              f"tee -q -o {part}_generic.json stat -json"]
    if lib:
        constr = " -constr abc.constr" if constr_file else ""
        lines += [f"dfflibmap -liberty {lib}",
                  f"abc -liberty {lib} -D {clock_ns * 1000:.6g} -script abc_speed.script"
                  f"{constr}",
                  # As ORFS does: split nets so that write_verilog writes no compound
                  # `assign {a, b} = ...`, which OpenSTA's Verilog reader refuses.
                  "splitnets",
                  "opt_clean -purge",
                  "setundef -zero",
                  f"tee -q -o {part}_stat.json stat -json -liberty {lib}",
                  f"write_verilog -noattr {part}_netlist.v"]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- figures

def _bare(name: str) -> str:
    return name[1:] if name.startswith("\\") else name


def _stats(path: Path) -> dict:
    doc = json.loads(path.read_text())
    return {"modules": {_bare(k): v for k, v in doc.get("modules", {}).items()},
            "design": doc.get("design", {})}


def flat_types(stats: dict, module: str, _depth: int = 0) -> Counter:
    """Leaf cell types of `module` with the cells of its submodules, times their count."""
    modules = stats["modules"]
    if module not in modules:
        raise EIEError(f"yosys statistics have no module {module}")
    if _depth > 64:
        raise EIEError(f"internal error: module hierarchy under {module} is too deep")
    out: Counter = Counter()
    for kind, n in modules[module].get("num_cells_by_type", {}).items():
        kind = _bare(kind)
        if kind.startswith("$scopeinfo"):
            continue
        if kind in modules:
            for sub, m in flat_types(stats, kind, _depth + 1).items():
                out[sub] += n * m
        else:
            out[kind] += n
    return out


def cell_figures(types: Counter, liberty: LibertyInfo, memory_cells: dict) -> dict:
    """Area of mapped cells, split into memory (SRAM cells: `memory_cells` name -> area),
    registers (sequential standard cells) and combinational standard cells."""
    std = {k: v for k, v in types.items() if k not in memory_cells}
    unmapped = sorted(k for k in std if k.startswith("$"))
    if unmapped:
        raise EIEError(f"synthesis left unmapped cells {', '.join(unmapped)}: the liberty "
                       "file lacks cells for them")
    seq = {k: v for k, v in std.items() if k in liberty.sequential}
    # Cells the liberty does not define are the glue's black-box PEs and CCU: no area.
    area = sum(liberty.areas.get(k, 0.0) * v for k, v in std.items())
    reg = sum(liberty.areas[k] * v for k, v in seq.items())
    macros = {k: v for k, v in sorted(types.items()) if k in memory_cells}
    return {"cells": sum(std.values()),
            "mapped_flip_flops": sum(v for k, v in seq.items() if k not in liberty.latches),
            "mapped_latches": sum(v for k, v in seq.items() if k in liberty.latches),
            "area": round(area, 3), "register_area": round(reg, 3),
            "combinational_area": round(area - reg, 3),
            "macros": macros,
            "memory_area": round(sum(memory_cells[k] * v for k, v in macros.items()), 3)}


def part_figures(work: Path, part: str, module: str, liberty: LibertyInfo | None,
                 memory_cells: dict, units: list[str] = ()) -> dict:
    """Cells, flip-flops, area of one synthesized part; per unit too when it has `units`."""
    generic = flat_types(_stats(work / f"{part}_generic.json"), module)
    figures = {
        "module": module,
        "generic_cells": sum(v for k, v in generic.items() if k not in memory_cells),
        "flip_flops": sum(v for k, v in generic.items() if _GENERIC_FF.match(k)),
        "latches": sum(v for k, v in generic.items() if _GENERIC_LATCH.match(k)),
        "srams": sum(v for k, v in generic.items() if k in memory_cells),
    }
    if liberty is None:
        figures["cells"] = figures["generic_cells"]
        figures["cell_types"] = dict(sorted(generic.items()))
        return figures
    stats = _stats(work / f"{part}_stat.json")
    types = flat_types(stats, module)
    figures.update(cell_figures(types, liberty, memory_cells))
    figures["yosys_area"] = stats["design"].get("area",
                                                stats["modules"][module].get("area"))
    figures["cell_types"] = {k: v for k, v in sorted(types.items()) if k not in memory_cells}
    if units:
        figures["units"] = {u: cell_figures(flat_types(stats, u), liberty, memory_cells)
                            for u in units}
    return figures
