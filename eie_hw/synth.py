"""Logic synthesis (Yosys) and static timing (OpenSTA) of a generated EIE design.

`synthesize(config, out_dir, liberty=..., macros="fakeram45")` generates the design
(`eie_hw.generate`), synthesizes it, and writes `report.json` and `report.txt` into
`out_dir`. docs/hardware_flow.md explains the choices; in short:

* Every PE is an instance of the one module `eie_pe`, so the design is synthesized in
  three parts: the PE, the CCU (`<top>.ccu`) and the top-level glue (the host port; PEs
  and CCU black boxes). Total = glue + CCU + n_pes x PE: per-PE figures, and the 64-PE
  paper configuration synthesizes in minutes.
* Memories (`macros`): with a macro library (default the vendored fakeram45) every
  memory is built as `eie_hw.macro_mapping` maps it, by the `eie_sram` wrapper of
  `eie_hw.macro_verilog`: macros are cells read from their Liberty views (area and
  timing), flip-flop memories and the wrapper's muxes are logic. The PE keeps its units
  as modules so that its area splits like the paper's Table II. With `macros=None`
  (`--macros none`) every SRAM is a black box, timed with the assumed `SRAMTiming`.
* With a liberty file: `dfflibmap`, `abc -D <clock>`, area in the liberty's unit;
  timing with OpenSTA (`eie_hw/synth_sta.py`) of the PE, the CCU and the glue, which sees
  the PE and CCU through their measured port timing (`synth_boundary`); the design min
  period is the slowest part's, at the liberty's corner. Without: generic gate counts.

The pieces: `synth_liberty` (liberty facts, SRAM timing models, macro views),
`synth_yosys` (scripts, statistics), `synth_sta` (timing), `synth_boundary` (the parts'
port timing for the glue), `synth_report` (report).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .checks import count_latches, run_yosys
from .config import EIEConfig
from .errors import EIEError
from .generate import GeneratedDesign, ccu_srams, generate, pe_srams, sram_inventory
from .macro_views import resolve_library
from .macros import MacroLibrary
from .sram import sram_addr_width
from .synth_liberty import (LibertyInfo, SRAMTiming, parse_liberty, prepare_liberty,
                            sram_liberty, unpack_macro_views)
from .synth_boundary import BOUNDARY_NOTE, interface_liberty
from .synth_report import (PAPER, REPORT_FORMAT, REPORT_VERSION, assemble, design_clock,
                           format_report)
from .synth_sta import run_sta, sta_version
from .synth_yosys import (ABC_SPEED_SCRIPT, CCU_MODULE, PE_MODULE_NAME, part_figures,
                          part_script, pe_units, shape_design, sram_stubs)
from .tools import STA_MISSING, sta_bin, yosys_command

__all__ = ["synthesize", "SRAMTiming", "LibertyInfo", "parse_liberty", "format_report",
           "PAPER", "REPORT_FORMAT", "REPORT_VERSION", "PE_MODULE",
           "CCU_MODULE"]

PE_MODULE = PE_MODULE_NAME
DEFAULT_MACROS = "fakeram45"
PART_MODELS = "part_models.lib"     # the PE's and CCU's port timing, for the glue
# PE inputs the top level ties to constants (each PE's own index, eie_hw/eie.py): paths
# from them exist in the PE's netlist but not in the design.
PE_CONSTANTS = ("pe_index",)


@dataclass
class _Memories:
    """How the parts see the memories: what Yosys reads, which cells are SRAMs (name ->
    area), which extra liberty files STA reads, and what the report says about them."""

    sources: list[str]
    cells: dict
    sta_libs: list[str]
    sram_model: dict
    keep: list[str] = field(default_factory=list)     # PE modules kept (the units)
    mappings: tuple | None = None                     # (library, pe maps, ccu maps)


def _blackbox_memories(design: GeneratedDesign, work: Path, info: LibertyInfo | None,
                       timing: SRAMTiming) -> _Memories:
    in_text = len(pe_srams(design.config)) + len(ccu_srams(design.config))
    text, shapes = shape_design(design.design_file.read_text(), in_text)
    (work / "design_bb.v").write_text(text)
    (work / "srams_bb.v").write_text(sram_stubs(shapes, sram_addr_width))
    libs = []
    if info is not None:
        (work / "sram_models.lib").write_text(
            sram_liberty(shapes, sram_addr_width, info, timing))
        libs = ["sram_models.lib"]
    return _Memories(["read_verilog -lib srams_bb.v", "read_verilog design_bb.v"],
                     {f"eie_sram_{d}x{w}": 0.0 for d, w in shapes}, libs,
                     {"kind": "assumed", **asdict(timing)})


def _macro_memories(design: GeneratedDesign, work: Path, library: MacroLibrary,
                    keep_units: bool) -> _Memories:
    from .macro_mapping import map_design
    from .macro_verilog import wrapper_verilog

    config = design.config
    maps = map_design(sram_inventory(config), library)
    n_ccu, n_pe = len(ccu_srams(config)), len(pe_srams(config))
    ccu_maps, pe_maps = maps[:n_ccu], maps[n_ccu:n_ccu + n_pe]
    used = [library.macro(n) for n in sorted({m.macro for m in maps if m.kind == "macro"})]
    libs = unpack_macro_views(used, work)
    (work / "eie_sram_macros.v").write_text(wrapper_verilog(maps, library))
    text = design.design_file.read_text()
    (work / "design.v").write_text(text)
    sources = [f"read_liberty -lib {f}" for f in libs]
    sources += ["read_verilog eie_sram_macros.v", "read_verilog design.v"]
    model = {"kind": "macros", "library": library.name,
             "macros": {m.name: {"clk_to_q_ns": m.clk_to_q_ns, "setup_ns": m.setup_ns,
                                 "area_um2": m.area_um2, "lib": Path(m.lib).name}
                        for m in used},
             "flip_flop_memories": sorted({m.role for m in maps if m.kind != "macro"})}
    return _Memories(sources, {m.name: m.area_um2 for m in library.macros}, libs, model,
                     pe_units(text, design.pe_module) if keep_units else [],
                     (library, pe_maps, ccu_maps))


def _check_macro_counts(figures: dict, mem: _Memories) -> None:
    """The netlists must hold exactly the macros the memories were mapped to."""
    _, pe_maps, ccu_maps = mem.mappings
    for part, maps in (("pe", pe_maps), ("ccu", ccu_maps)):
        want = Counter()
        for m in maps:
            if m.kind == "macro":
                want[m.macro] += m.count
        got = Counter({k: v for k, v in figures[part].get("macros", {}).items() if v})
        if "macros" in figures[part] and got != want:
            raise EIEError(f"internal error: the {part} netlist holds macros {dict(got)}, "
                           f"its memories map to {dict(want)}")


def _say(progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _run_parts(work: Path, design: GeneratedDesign, mem: _Memories, lib_name, info,
               clock_ns: float, progress, jobs: int) -> dict:
    parts = {"pe": PE_MODULE, "ccu": CCU_MODULE, "top": design.top}
    for part in parts:
        (work / f"{part}.ys").write_text(part_script(
            part, design, mem.sources, lib_name, clock_ns, bool(info and info.buffer),
            mem.keep if part == "pe" else ()))

    def run_part(part):
        started = time.time()
        _say(progress, f"synthesizing {part} ({parts[part]})")
        run_yosys((work / f"{part}.ys").read_text(), cwd=work, log_name=f"{part}.log")
        _say(progress, f"synthesized {part} in {time.time() - started:.0f} s")
        return part, part_figures(work, part, parts[part], info, mem.cells,
                                  mem.keep if part == "pe" else ())

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return dict(pool.map(run_part, parts))


def _timing(work: Path, design: GeneratedDesign, mem: _Memories, lib_file: Path, info,
            clock_ns: float, progress) -> dict:
    if info is None:
        return {"skipped": "no liberty file: timing needs one (--liberty)"}
    sta = sta_bin()
    if sta is None:
        print(STA_MISSING, file=sys.stderr)
        _say(progress, STA_MISSING)
        return {"skipped": STA_MISSING}
    timing = {"tool": sta_version(sta), "sram_model": mem.sram_model}
    libs = [lib_file.name, *mem.sta_libs]
    models = {}
    for part, module, cell in (("pe", PE_MODULE, design.pe_module),
                               ("ccu", CCU_MODULE, design.ccu_module)):
        _say(progress, f"static timing of {part} with OpenSTA")
        timing[part] = run_sta(work, part, module, libs, clock_ns, info.time_unit_ns, sta,
                               list(mem.cells), interface=True,
                               constant_inputs=PE_CONSTANTS if part == "pe" else (),
                               buffers=info.buffers)
        models[cell] = timing[part].pop("interface")
        _repair_area(timing[part], info)
    # The glue sees the PEs and the CCU through their measured port timing.
    (work / PART_MODELS).write_text(interface_liberty(models, info))
    _say(progress, "static timing of the top-level glue with OpenSTA")
    timing["top"] = run_sta(work, "top", design.top, [*libs, PART_MODELS], clock_ns,
                            info.time_unit_ns, sta, [*mem.cells, *models],
                            buffers=info.buffers)
    _repair_area(timing["top"], info)
    timing["top"]["boundary"] = BOUNDARY_NOTE
    timing["design"] = design_clock(timing, info)
    return timing


def _repair_area(part_timing: dict, info) -> None:
    repair = part_timing.get("fanout_repair")
    if repair is not None:
        repair["area"] = round(sum(info.areas.get(cell, 0.0) * n
                                   for cell, n in repair["buffers"].items()), 1)


def _work_folder(out: Path) -> Path:
    work = out / "synth"
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EIEError(f"cannot create {work}: {exc.strerror}") from None
    return work


def synthesize(config: EIEConfig, out_dir, *, liberty=None, clock_ns: float = 1.25,
               progress=None, sram_timing: SRAMTiming = SRAMTiming(),
               design_name: str = "eie_top", jobs: int = 2, macros=DEFAULT_MACROS,
               keep_units: bool = True) -> dict:
    """Synthesize `config`; write report.json / report.txt into `out_dir`; return the report.

    `macros`: "fakeram45", a library JSON path, a MacroLibrary, or None / "none" (black
    boxes timed with `sram_timing`). `keep_units`: with macros, synthesize the PE with its
    units as modules (the per-unit area table needs it); False flattens it."""
    t0 = time.time()
    out = Path(out_dir)
    yosys_command()  # fail early with a clear message when Yosys is missing
    library = resolve_library(macros)   # and on a bad library, before the long part
    work = _work_folder(out)
    lib_file, info = prepare_liberty(liberty, work) if liberty is not None else (None, None)

    _say(progress, f"generating Verilog for {config.n_pes} PE(s)")
    design = generate(config, out / "rtl", clock_ns=clock_ns, design_name=design_name)
    if info is not None:
        (work / "abc_speed.script").write_text(ABC_SPEED_SCRIPT)
        if info.buffer:
            # Flip-flop outputs are ABC's inputs: without a driver model ABC sees them as
            # ideal and never buffers their fanout (ORFS does the same).
            (work / "abc.constr").write_text(
                f"set_driving_cell {info.buffer}\nset_load {4 * info.buffer_input_cap:.6g}\n")
    mem = (_blackbox_memories(design, work, info, sram_timing) if library is None
           else _macro_memories(design, work, library, keep_units))

    _say(progress, "checking for latches (yosys proc on the whole design)")
    latches = count_latches(design, work_dir=work / "latch_check")
    figures = _run_parts(work, design, mem, lib_file.name if lib_file else None, info,
                         clock_ns, progress, jobs)
    if mem.mappings is not None:
        _check_macro_counts(figures, mem)
    report = assemble(config, design, figures, latches, liberty, info, clock_ns,
                      mem.mappings)
    report["tools"] = {"yosys": _yosys_version()}
    report["timing"] = _timing(work, design, mem, lib_file, info, clock_ns, progress)
    report["seconds"] = round(time.time() - t0, 1)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.txt").write_text(format_report(report))
    return report


def _yosys_version() -> str:
    try:
        proc = subprocess.run(yosys_command() + ["-V"], capture_output=True, text=True,
                              timeout=120)
        return proc.stdout.strip().split(" (")[0]
    except (OSError, subprocess.TimeoutExpired):
        return "Yosys"
