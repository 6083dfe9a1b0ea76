"""Power of a synthesized netlist with OpenSTA (`report_power`), from input activities.

The logic part of `eie power` (sim/power.py). What Debian's OpenSTA 2.0.17 offers
and what it does not, measured on hand-made netlists (tests/eie_hw/test_power_sta.py):

* an activity is transitions per clock period, with a duty (fraction of time high);
  switching power is 0.5 x C x V^2 x activity / period on every net, internal power the
  liberty's `internal_power` tables per transition, leakage the `leakage_power` states
  weighted by the duties;
* activities set on input ports (`set_power_activity -input_ports`, or `-input` for
  every input) propagate through the logic and through flip-flops (Q takes D's
  activity);
* activities on internal pins do not take: the `-pins` branch of `set_power_activity`
  calls a missing command (`get_pins_error`), and `sta::set_power_pin_activity` on a
  flip-flop output or a gate input changes nothing. There is no `read_vcd`/`read_saif`.

So a simulation's register activities reach the logic only as input-port activities:
`cut_registers` turns each flip-flop's output nets (Q and QN) and each macro's read data
into input ports of their own (Yosys `expose -cut`, renamed `eie_cut_<n>`; `CutBit`
names the register each bit stands for), and the caller sets the activity the
simulation measured on it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from .checks import run_yosys
from .errors import EIEError
from .synth_sta import run_sta_script

POWER_GROUPS = ("Sequential", "Combinational", "Macro", "Pad", "Total")
_COLUMNS = ("internal", "switching", "leakage", "total")
_NUMBER = r"([-+\d.eE]+)"


def power_tcl(module: str, netlist: str, lib_files: list[str], clock_port: str,
              clock_ns: float, time_unit_ns: float, default: tuple[float, float],
              ports: dict[str, tuple[float, float]], instances: bool = False) -> str:
    """The OpenSTA script: every input at `default` (activity, duty), the `ports` at their
    own, the clock at `clock_ns`; the power report by group."""
    reads = "\n".join(f"read_liberty {f}" for f in lib_files)
    period = clock_ns / time_unit_ns
    lines = [reads, f"read_verilog {netlist}", f"link_design {module}",
             f"create_clock -name core_clock -period {period:.6g} [get_ports {{{clock_port}}}]",
             "set_input_delay 0 -clock core_clock "
             f"[lsearch -inline -all -not -exact [all_inputs] [get_ports {{{clock_port}}}]]",
             f"set_power_activity -input -activity {default[0]:.6g} -duty {default[1]:.6g}"]
    for port, (activity, duty) in sorted(ports.items()):
        lines.append(f"set_power_activity -input_ports [get_ports {{{port}}}] "
                     f"-activity {activity:.6g} -duty {duty:.6g}")
    if instances:
        lines += ['puts "EIE-BEGIN-INSTANCES"', "report_power -instances [get_cells *] -digits 9",
                  'puts "EIE-END-INSTANCES"']
    lines += ['puts "EIE-BEGIN-POWER"', "report_power -digits 9", 'puts "EIE-END-POWER"',
              "exit"]
    return "\n".join(lines) + "\n"


def parse_power(text: str) -> dict:
    """report_power's group lines as {group: {internal, switching, leakage, total}} in W."""
    section = re.search(r"EIE-BEGIN-POWER\n(.*?)EIE-END-POWER", text, re.S)
    if section is None:
        raise EIEError("OpenSTA printed no power report")
    groups = {}
    for group in POWER_GROUPS:
        m = re.search(rf"^{group}\s+" + r"\s+".join([_NUMBER] * 4), section.group(1), re.M)
        if m is None:
            raise EIEError(f"OpenSTA's power report has no {group} line")
        groups[group.lower()] = dict(zip(_COLUMNS, (float(v) for v in m.groups())))
    return groups


def parse_instance_power(text: str) -> dict[str, tuple[float, float, float]]:
    """`report_power -instances` as {instance: (internal, switching, leakage)} in W."""
    section = re.search(r"EIE-BEGIN-INSTANCES\n(.*?)EIE-END-INSTANCES", text, re.S)
    if section is None:
        raise EIEError("OpenSTA printed no per-instance power report")
    row = re.compile(r"^\s*" + r"\s+".join([_NUMBER] * 4) + r"\s+(\S+)\s*$", re.M)
    return {m.group(5): (float(m.group(1)), float(m.group(2)), float(m.group(3)))
            for m in row.finditer(section.group(1))}


def run_power(work: Path, module: str, netlist: str, lib_files: list[str], clock_port: str,
              clock_ns: float, sta: str, *, time_unit_ns: float = 1.0,
              default: tuple[float, float] = (0.0, 0.5),
              ports: dict[str, tuple[float, float]] | None = None,
              instances: bool = False, timeout: float = 1800) -> dict:
    """Power of `netlist` (in `work`) at `clock_ns` with the given input activities, by
    group (and with `instances`, per cell under "instances"); the script and the log stay
    in `work` (`power_<module>.tcl` / `.log`)."""
    for name, (activity, duty) in {"default": default, **(ports or {})}.items():
        if activity < 0 or not 0 <= duty <= 1:
            raise EIEError(f"activity of {name}: {activity} transitions per cycle with duty "
                           f"{duty}: give an activity >= 0 and a duty in 0..1")
    script = work / f"power_{module}.tcl"
    script.write_text(power_tcl(module, netlist, lib_files, clock_port, clock_ns,
                                time_unit_ns, default, ports or {}, instances))
    out = run_sta_script(sta, work, script, f"the power of {module}", "EIE-END-POWER",
                         timeout)
    groups = parse_power(out)
    if instances:
        groups["instances"] = parse_instance_power(out)
    return groups


CUT_SUFFIX = ".i"     # Yosys `expose -cut` names the new input <wire>.i
CUT_PREFIX = "eie_cut_"   # the cut ports, renamed to plain identifiers for OpenSTA
MACRO_READ_PIN = "rd_out"  # fakeram45's read data (eie_hw/macro_verilog.py)


@dataclass(frozen=True)
class CutBit:
    """One bit of a cut input port: the OpenSTA port name, the net it replaced (the
    register's name, `unit.signal[bit]`), and whether it is a flip-flop's QN (it switches
    with `register` and is high when that is low)."""
    port: str
    register: str
    inverted: bool = False


def cut_registers(work: Path, netlist: str, top: str, lib_files: list[str],
                  flip_flops: list[str], macros: list[str] = (),
                  out_name: str | None = None) -> tuple[str, list[CutBit]]:
    """Flatten `netlist` (in `work`) and cut every output net of the `flip_flops` cells,
    and the read data of the `macros` (which are then removed: their energy is counted
    per access, eie_hw/macro_energy.py), into input ports; returns the new netlist's file
    name and its cut port bits."""
    if not flip_flops:
        raise EIEError("no flip-flop cells given: the liberty names none (ff groups)")
    out_name = out_name or f"{Path(netlist).stem}_cut.v"
    raw = f"{Path(out_name).stem}_raw.v"
    # One selection of every cell type (Yosys selections stack: %u joins them).
    ffs = " ".join(f"t:{cell}" for cell in sorted(flip_flops)) + " %u" * (len(flip_flops) - 1)
    rams = " ".join(f"t:{cell}" for cell in sorted(macros)) + " %u" * (len(macros) - 1)
    reads = "\n".join(f"read_liberty -lib {f}" for f in lib_files)
    script = [reads, f"read_verilog {netlist}", f"hierarchy -top {top}", "flatten",
              # The nets on flip-flop outputs, without the flip-flops themselves.
              f"select -set q {ffs} %co:+[Q,QN] {ffs} %d"]
    if macros:
        script += [f"select -set m {rams} %co:+[{MACRO_READ_PIN}] {rams} %d",
                   "select -set q @q @m %u"]
    # The cells and nets, to pair each QN net with its Q (`_cut_bits`), and the cells'
    # types (`cut_cells`).
    cells = f"{ffs} %u" + (f" {rams} %u" if macros else "")
    script += [f"select @q {cells}", f"write_json -selected {out_name}.json", "select -clear",
               "expose -cut @q"]
    if macros:
        script.append(f"delete {rams}")
    # Drop the alias wires, whose multi-bit assigns OpenSTA cannot read.
    script += ["opt_clean -purge", f"write_verilog -noattr {raw}"]
    run_yosys("\n".join(script) + "\n", cwd=work, log_name=f"{Path(out_name).stem}.log")
    bits, renames = _cut_bits(work / f"{out_name}.json")
    text = (work / raw).read_text()
    # Escaped port names (`\\arith.weight2[13].i `) hold brackets OpenSTA reads as bus
    # indices: each port becomes eie_cut_<n>.
    text = re.sub(r"\\(\S+) ", lambda m: renames.get(m.group(1), m.group(0)) + " ", text)
    (work / out_name).write_text(text)
    (work / raw).unlink()
    return out_name, bits


def _cut_bits(json_path: Path) -> tuple[list[CutBit], dict[str, str]]:
    """The cut port bits, and {escaped Verilog name of a cut port: its new name}."""
    import json
    module = next(iter(json.loads(json_path.read_text())["modules"].values()))
    names, renames, bits = {}, {}, []
    for k, (key, net) in enumerate(sorted(module["netnames"].items())):
        # A public name that starts with `$` keeps a backslash in Yosys' JSON.
        name, port = key.removeprefix("\\"), f"{CUT_PREFIX}{k}"
        renames[name + CUT_SUFFIX] = port
        for i, bit in enumerate(net["bits"]):
            wide = len(net["bits"]) > 1
            names[bit] = (f"{port}[{i}]" if wide else port,
                          f"{name}[{i}]" if wide else name)
    q_of = {}
    for cell in module["cells"].values():
        conn = cell["connections"]
        for q, qn in zip(conn.get("Q", []), conn.get("QN", [])):
            if q in names:
                q_of[qn] = names[q][1]
    for bit, (port, register) in names.items():
        inverted = bit in q_of
        bits.append(CutBit(port, q_of.get(bit, register), inverted))
    return sorted(bits, key=lambda b: b.port), renames


def cut_cells(work: Path, cut_name: str) -> dict[str, str]:
    """{instance: cell type} of the flip-flops and macros `cut_registers` cut around (the
    names OpenSTA reports, e.g. `spmat.sram.genblk1.g_16384x64.u_tile.u_r0_c0`)."""
    import json
    module = next(iter(json.loads((work / f"{cut_name}.json").read_text())["modules"].values()))
    return {name.removeprefix("\\"): cell["type"] for name, cell in module["cells"].items()}
