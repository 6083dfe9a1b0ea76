"""`eie power`: per-PE power and energy per inference from a layer's switching activity.

1. The layer runs twice on the Verilated design built from SRAM macros, as `eie synth`
   built it, with a SAIF trace (Verilator counts every bit's transitions and time high):
   once stopped when the layer starts, once when it ends. Their difference is exactly the
   compute phase (sim/saif.py `window`).
2. The activity of every PE is averaged bit by bit into one mean PE.
3. Logic: the synthesized PE netlist with every flip-flop output and macro read port cut
   into an input (eie_hw/power_sta.py `cut_registers`); each gets its register's measured
   activity, and OpenSTA propagates them through the gates: internal, switching and
   leakage power per cell, summed by unit and by kind (register, combinational).
4. Memories: each macro's energy per access (its clock pin's internal power) times the
   accesses the run measured on its chip enable, plus every macro's leakage
   (eie_hw/macro_energy.py). fakeram45 charges its clock energy on every edge; counted per
   edge the idle macros alone would be ~0.5 W per PE, so enabled edges are what counts.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .activity import Activity
from .saif import read_saif, window

MACRO_ENABLE_PIN = "ce_in"          # fakeram45: an enabled edge is an access
# Generate blocks name a level in Yosys' netlist but not in Verilator's trace.
_GENERATE_SCOPE = re.compile(r"(?:^|\.)genblk\d+(?=\.)")


@dataclass
class SynthInputs:
    """What `eie power` takes from an `eie synth -o DIR` folder."""
    directory: Path
    work: Path                 # DIR/synth: netlists and Liberty files
    report: dict
    config: EIEConfig
    lib_files: list[str]       # in `work`: the cells, then the macros
    macro_cells: list[str]
    info: object               # eie_hw.synth_liberty.LibertyInfo of the cells
    library: object            # eie_hw.macros.MacroLibrary, or None
    mappings: list             # the PE's eie_hw.macro_mapping.Mapping, pe0's paths


def load_synth(directory) -> SynthInputs:
    """Check and read an `eie synth` output folder (with --liberty and --macros)."""
    from eie_hw.macro_mapping import mapping_from_dict
    from eie_hw.macro_views import resolve_library
    from eie_hw.synth_liberty import parse_liberty
    directory = Path(directory)
    report_path = directory / "report.json"
    try:
        report = json.loads(report_path.read_text())
    except (OSError, json.JSONDecodeError):
        raise EIEError(f"{directory} holds no readable report.json: point --synth at a folder "
                       f"written by `eie synth --liberty FILE -o DIR`") from None
    work = directory / "synth"
    needed = [work / "pe_netlist.v", work / "cells.lib"]
    missing = [str(p) for p in needed if not p.is_file()]
    if report.get("format") != "eie-synth-report" or missing:
        raise EIEError(f"{directory} is not a complete `eie synth` output (missing "
                       f"{', '.join(missing) or 'its report format'}): run `eie synth "
                       f"--liberty FILE -o DIR` again")
    if not report.get("liberty"):
        raise EIEError(f"{directory} was synthesized without --liberty: power needs a "
                       f"Liberty file's cells; run `eie synth --liberty FILE -o DIR`")
    macros = report.get("macros") or {}
    library = resolve_library(macros.get("library")) if macros.get("library") else None
    mappings = [mapping_from_dict(m) for m in macros.get("pe", [])]
    macro_cells = sorted({m.macro for m in mappings if m.kind == "macro"})
    views = [f"macro_{name}.lib" for name in macro_cells]
    missing = [v for v in views if not (work / v).is_file()]
    if missing:
        raise EIEError(f"{work} lacks the macro view(s) {', '.join(missing)}: run `eie synth` "
                       f"again")
    info = parse_liberty((work / "cells.lib").read_text(), source=str(work / "cells.lib"))
    return SynthInputs(directory, work, report, EIEConfig.from_dict(report["config"]),
                       ["cells.lib", *views], macro_cells, info, library, mappings)


# ----------------------------------------------------------------------------- activity

def trace_compute(images_dir, images, x_int, synth: SynthInputs, work: Path,
                  progress=None) -> tuple[Path, Path]:
    """SAIF traces of one sample stopped at the layer's start and at its end."""
    from .verilator_backend import run_verilator
    traces = []
    for stop in ("compute_start", "compute_end"):
        path = work / f"{stop}.saif"
        run_verilator(images_dir, images, x_int[:1], synth.config, waves=str(path),
                      macros=synth.library, stop=stop, progress=progress)
        traces.append(path)
    return traces[0], traces[1]


def rtl_name(netlist_name: str) -> str:
    """A flattened netlist name as Verilator's trace spells it (no generate levels)."""
    return _GENERATE_SCOPE.sub("", netlist_name).lstrip(".")


def mean_pe(activity: Activity, n_pes: int) -> Activity:
    """The PEs' bits averaged into one PE (names relative to a PE): power is linear in
    transitions, so the mean PE's power is the mean of the PEs'."""
    sums: dict[str, list[float]] = {}
    found = set()
    for name, (toggles, high) in activity.bits.items():
        head, _, rest = name.partition(".")
        if head.startswith("pe") and head[2:].isdigit() and rest:
            found.add(head)
            acc = sums.setdefault(rest, [0.0, 0.0])
            acc[0] += toggles
            acc[1] += high
    if len(found) != n_pes:
        raise EIEError(f"the trace holds {len(found)} PEs, the design {n_pes}: trace the "
                       f"design `eie synth` built")
    return Activity(activity.cycles, activity.duration,
                    {rest: (t / n_pes, h / n_pes) for rest, (t, h) in sums.items()})


def measure_activity(start_trace: Path, end_trace: Path, clock_ps: float) -> Activity:
    """The whole design's activity between the two traces (names under `eie_top`)."""
    start = read_saif(start_trace, scope="eie_top")
    end = read_saif(end_trace, scope="eie_top")
    return window(start, end, "clk", clock_ps)


def port_activities(bits, pe: Activity) -> tuple[dict, dict]:
    """{cut port: (transitions per cycle, duty)} from the mean PE, and how many cut bits
    found their register in the trace. Bits the trace lacks get the mean activity of
    those it has (their count is reported)."""
    per_cycle = pe.per_cycle()
    ports, missing = {}, []
    for bit in bits:
        found = per_cycle.get(rtl_name(bit.register))
        if found is None:
            missing.append(bit)
            continue
        activity, duty = found
        ports[bit.port] = (activity, 1.0 - duty if bit.inverted else duty)
    mean = (sum(a for a, _ in ports.values()) / len(ports)) if ports else 0.0
    for bit in missing:
        ports[bit.port] = (mean, 0.5)
    return ports, {"cut_bits": len(bits), "traced": len(bits) - len(missing),
                   "untraced": sorted({b.register for b in missing})[:20],
                   "untraced_activity": round(mean, 6)}


def macro_accesses(pe: Activity, mappings, clock_ps: float) -> dict[str, float]:
    """Per memory role: accesses per PE in the window (enabled edges of a row of the
    tile's macros), from the macros' chip enables."""
    enabled: dict[str, float] = {}
    for name, (_, high) in pe.bits.items():
        if name.endswith("." + MACRO_ENABLE_PIN):
            enabled[name] = high / clock_ps
    out = {}
    for m in mappings:
        if m.kind != "macro":
            continue
        prefix = m.name.partition(".")[2] + "."
        edges = sum(v for k, v in enabled.items() if k.startswith(prefix))
        out[m.role] = edges / max(1, m.cols)
    return out


# ----------------------------------------------------------------------------- power

# The synthesized parts `eie power` measures: netlist file and top module.
PARTS = {"pe": ("pe_netlist.v", "eie_pe"), "ccu": ("ccu_netlist.v", "eie_ccu")}


def part_activity(activity: Activity, scope: str) -> Activity:
    """The bits under `scope` (a unit instance of the top, e.g. `ccu`), named relative
    to it."""
    prefix = scope + "."
    bits = {k[len(prefix):]: v for k, v in activity.bits.items() if k.startswith(prefix)}
    if not bits:
        raise EIEError(f"the trace holds nothing under {scope}: trace the design `eie synth` "
                       f"built")
    return Activity(activity.cycles, activity.duration, bits)


def logic_power(synth: SynthInputs, activity: Activity, clock_ns: float, sta: str,
                work: Path, part: str = "pe", progress=None) -> dict:
    """A part's logic power by unit and kind (W), from OpenSTA on its netlist cut at its
    registers (and macros), in `work` (the netlist and cells are copied there)."""
    import shutil

    from eie_hw.power_sta import cut_cells, cut_registers, run_power
    say = progress or (lambda message: None)
    netlist, module = PARTS[part]
    work.mkdir(parents=True, exist_ok=True)
    for name in (netlist, *synth.lib_files):
        if not (work / name).is_file():
            shutil.copyfile(synth.work / name, work / name)
    say(f"cutting the {part.upper()} netlist at its registers and macros (Yosys)")
    cut, bits = cut_registers(work, netlist, module, synth.lib_files,
                              sorted(synth.info.sequential), macros=synth.macro_cells,
                              out_name=f"{part}_power_cut.v")
    ports, coverage = port_activities(bits, activity)
    say(f"OpenSTA: power of the {part.upper()} with {coverage['traced']:,} of {len(bits):,} "
        f"register bits from the trace")
    figures = run_power(work, module, cut, ["cells.lib"], "clk", clock_ns, sta,
                        time_unit_ns=synth.info.time_unit_ns, ports=ports, instances=True)
    # The same part with every register holding: what the flip-flops' clock pins and the
    # leakage cost on their own (clock gating's share).
    idle = run_power(work, module, cut, ["cells.lib"], "clk", clock_ns, sta,
                     time_unit_ns=synth.info.time_unit_ns,
                     ports={port: (0.0, duty) for port, (_, duty) in ports.items()})
    kinds = cut_cells(work, cut)
    by_unit: dict[str, dict[str, list[float]]] = {}
    for instance, parts in figures["instances"].items():
        unit = instance.split(".", 1)[0] if "." in instance else ""
        kind = "registers" if kinds.get(instance) in synth.info.sequential else "combinational"
        acc = by_unit.setdefault(unit, {}).setdefault(kind, [0.0, 0.0, 0.0])
        for i, value in enumerate(parts):
            acc[i] += value
    return {"by_unit": by_unit, "total": figures["total"], "coverage": coverage,
            "idle": {k: idle[k] for k in ("sequential", "combinational", "total")}}


def memory_power(synth: SynthInputs, pe: Activity, clock_ns: float,
                 clock_ps: float) -> dict:
    """The mean PE's macro memories: accesses, dynamic power, leakage, energy."""
    from eie_hw.macro_energy import memories_power
    if synth.library is None:
        return {}
    accesses = macro_accesses(pe, synth.mappings, clock_ps)
    return memories_power(synth.mappings, synth.library,
                          {role: round(n) for role, n in accesses.items()},
                          pe.cycles, clock_ns)
