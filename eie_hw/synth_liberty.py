"""Liberty files for `eie synth`: the few facts the report needs from the standard-cell
library, the assumed timing models of black-box SRAMs (`--macros none`), and the
macros' own views unpacked next to the synthesis scripts (`--macros fakeram45|LIB.json`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from .errors import EIEError
from .macros import Macro
from .sram import SRAM_MODULE
from .textfile import read_text


@dataclass(frozen=True)
class SRAMTiming:
    """Timing assumed for every SRAM black box in STA (ns) with `--macros none`.
    Documented as an assumption: typical of compiled single-port SRAMs at 45 nm (e.g. the
    fakeram45 models of OpenROAD's nangate45 platform); no area (SRAM area is reported in
    bits)."""

    access_ns: float = 0.30   # clk -> r_data
    setup_ns: float = 0.05    # address / enable / data before clk
    hold_ns: float = 0.02
    input_cap_pf: float = 0.002
    output_slew_ns: float = 0.05


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
    # Drive buffers as (input capacitance, name, input pin, output pin), smallest first.
    buffers: list = field(default_factory=list)
    voltage: float | None = None       # nominal operating conditions
    temperature: float | None = None

    @property
    def corner(self) -> str:
        """The library's name with its nominal voltage and temperature."""
        conditions = ", ".join(f"{v:g} {u}" for v, u in ((self.voltage, "V"),
                                                           (self.temperature, "C"))
                               if v is not None)
        return f"{self.name} ({conditions})" if conditions else self.name


def _units(text: str) -> tuple[float, float]:
    tu = re.search(r"time_unit\s*:\s*\"?\s*([\d.]+)\s*(ps|ns|us)\"?", text)
    scale = {"ps": 1e-3, "ns": 1.0, "us": 1e3}
    time_unit_ns = float(tu.group(1)) * scale[tu.group(2)] if tu else 1.0
    cu = re.search(r"capacitive_load_unit\s*\(\s*([\d.]+)\s*,\s*(ff|pf)\s*\)", text, re.I)
    cap_unit_pf = (float(cu.group(1)) * (1e-3 if cu.group(2).lower() == "ff" else 1.0)
                   if cu else 1.0)
    return time_unit_ns, cap_unit_pf


# One-input identities that are not there to drive a load: delay cells, level shifters,
# probes, power-gating variants (sky130 has all of them).
_NOT_A_DRIVE_BUFFER = re.compile(r"dly|delay|lsbuf|probe|lpflow|iso", re.I)


def _buffer_candidate(name: str, body: str, area: float):
    """(sort key, input cap, (input pin, output pin)) when the cell is a one-input,
    one-output identity."""
    pins = re.findall(r"\bpin\s*\(\s*\"?(\w+)\"?\s*\)\s*\{(.*?)\n\s*\}", body, re.S)
    inputs = [(n, b) for n, b in pins if re.search(r"direction\s*:\s*\"?input", b)]
    outputs = [(n, b) for n, b in pins if re.search(r"direction\s*:\s*\"?output", b)]
    if len(inputs) != 1 or len(outputs) != 1:
        return None
    fn = re.search(r"function\s*:\s*\"\s*\(?\s*(\w+)\s*\)?\s*\"", outputs[0][1])
    cap = re.search(r"\bcapacitance\s*:\s*([\d.eE+-]+)", inputs[0][1])
    if fn and fn.group(1) == inputs[0][0] and cap:
        return ("clk" in name.lower(), area, name), float(cap.group(1)), (inputs[0][0],
                                                                           outputs[0][0])
    return None


def parse_liberty(text: str, source: str = "liberty") -> LibertyInfo:
    """The few facts the report needs: units, sequential cells, areas."""
    lib = re.search(r"^\s*library\s*\(\s*\"?([^)\"]+)\"?\s*\)", text, re.M)
    if lib is None:
        raise EIEError(f"{source} is not a liberty file (no `library (...)` group)")
    sequential, latches, areas, buffers = set(), set(), {}, []
    starts = [(m.start(), m.group(1))
              for m in re.finditer(r"\bcell\s*\(\s*\"?([\w$]+)\"?\s*\)", text)]
    for i, (pos, name) in enumerate(starts):
        body = text[pos:starts[i + 1][0] if i + 1 < len(starts) else len(text)]
        area = re.search(r"\barea\s*:\s*([\d.eE+-]+)", body)
        areas[name] = float(area.group(1)) if area else 0.0
        if re.search(r"\bff(_bank)?\s*\(", body):
            sequential.add(name)
        if re.search(r"\blatch(_bank)?\s*\(", body):
            sequential.add(name)
            latches.add(name)
        if name not in sequential:
            candidate = _buffer_candidate(name, body, areas[name])
            if candidate:
                buffers.append(candidate)
    if not areas:
        raise EIEError(f"{source} defines no cells")
    info = LibertyInfo(lib.group(1).strip(), *_units(text), sequential, latches, areas)
    for key in ("voltage", "temperature"):
        m = re.search(rf"\bnom_{key}\s*:\s*([-\d.eE+]+)", text)
        setattr(info, key, float(m.group(1)) if m else None)
    if buffers:
        (_, _, info.buffer), info.buffer_input_cap, _ = min(buffers)
        info.buffers = sorted((cap, name, *pins) for (clock, _, name), cap, pins in buffers
                              if not clock and not _NOT_A_DRIVE_BUFFER.search(name))
    return info


def prepare_liberty(liberty, work: Path) -> tuple[Path, LibertyInfo]:
    """The standard-cell liberty, unpacked into `work` (YoWASP's Yosys sees only its
    working folder), and its facts."""
    src = Path(liberty)
    if not src.is_file():
        raise EIEError(f"liberty file {src} does not exist")
    text = read_text(src, "liberty file", "give a liberty file (.lib or .lib.gz)")
    info = parse_liberty(text, str(src))
    dest = work / "cells.lib"
    dest.write_text(text)
    return dest, info


def unpack_macro_views(macros: list[Macro], work: Path) -> list[str]:
    """Each macro's Liberty view as `work/macro_<name>.lib`; the file names, in order.

    A view that does not define its macro's cell would surface later as a Yosys "module
    not found" deep in a log, so it is refused here."""
    names = []
    for m in macros:
        text = read_text(m.lib, "macro view", f"give the Liberty view of macro {m.name} "
                         "(a .lib or .lib.gz file) in the macro library")
        if not re.search(r"\bcell\s*\(\s*\"?" + re.escape(m.name) + r"\"?\s*\)", text):
            raise EIEError(f"macro view {m.lib} does not define cell {m.name}: give the "
                           f"Liberty view of {m.name} in the macro library")
        name = f"macro_{m.name}.lib"
        (work / name).write_text(text)
        names.append(name)
    return names


def _stub_units(info: LibertyInfo) -> tuple[str, float, str, float]:
    """Units of a generated library: the standard cells' (ps or ns; fF or pF)."""
    ps = abs(info.time_unit_ns - 1e-3) < 1e-9
    ff = abs(info.cap_unit_pf - 1e-3) < 1e-12
    return ("1ps" if ps else "1ns", 1e-3 if ps else 1.0,
            "(1,ff)" if ff else "(1,pf)", 1e-3 if ff else 1.0)


def stub_converters(info: LibertyInfo):
    """(ns -> text, pF -> text) in the units `liberty_header` declares."""
    _, t_ns, _, c_pf = _stub_units(info)
    return (lambda ns: f"{ns / t_ns:.6g}"), (lambda pf: f"{pf / c_pf:.6g}")


def liberty_header(name: str, info: LibertyInfo, bus_widths, comment: str) -> list[str]:
    """The opening of a generated timing-only library, up to its bus types."""
    time_unit, _, cap_unit, _ = _stub_units(info)
    out = [f"/* {comment}. */",
           f"library ({name}) {{",
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
    for w in bus_widths:
        out.append(f"  type (bus{w}) {{ base_type : array; data_type : bit; bit_width : {w}; "
                   f"bit_from : {w - 1}; bit_to : 0; downto : true; }}")
    return out


def sram_liberty(shapes: list[tuple[int, int]], addr_width, info: LibertyInfo,
                 timing: SRAMTiming) -> str:
    """A liberty library with one timing-only cell per SRAM shape (depth, width)."""
    t, c = stub_converters(info)
    widths = sorted({w for _, w in shapes} | {addr_width(d) for d, _ in shapes})
    out = liberty_header(
        "eie_sram_models", info, widths,
        "Timing-only models of the EIE SRAM macros (eie_sram), generated by\n"
        "   eie_hw/synth_liberty.py. ASSUMED values, not a characterized memory: access\n"
        f"   {timing.access_ns} ns, setup {timing.setup_ns} ns, hold {timing.hold_ns} ns")

    def check(kind):
        value = t(timing.setup_ns if kind == "setup" else timing.hold_ns)
        return (f'timing () {{ related_pin : "clk"; timing_type : {kind}_rising; '
                f'rise_constraint (scalar) {{ values ("{value}"); }} '
                f'fall_constraint (scalar) {{ values ("{value}"); }} }}')

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
