"""Power of a synthesized netlist with OpenSTA (`report_power`), from input activities.

Issue 14 (in progress): the logic part of `eie power`. What Debian's OpenSTA 2.0.17 offers
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
`cut_registers` turns each flip-flop's output net into an input port of its own (Yosys
`expose -cut`), named after the register (`<unit>.<signal>[bit].i`), and the caller
sets the activity the simulation measured on it.
"""

from __future__ import annotations

import re
from pathlib import Path

from .checks import run_yosys
from .errors import EIEError
from .synth_sta import run_sta_script

POWER_GROUPS = ("Sequential", "Combinational", "Macro", "Pad", "Total")
_COLUMNS = ("internal", "switching", "leakage", "total")
_NUMBER = r"([-+\d.eE]+)"


def power_tcl(module: str, netlist: str, lib_files: list[str], clock_port: str,
              clock_ns: float, time_unit_ns: float, default: tuple[float, float],
              ports: dict[str, tuple[float, float]]) -> str:
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


def run_power(work: Path, module: str, netlist: str, lib_files: list[str], clock_port: str,
              clock_ns: float, sta: str, *, time_unit_ns: float = 1.0,
              default: tuple[float, float] = (0.0, 0.5),
              ports: dict[str, tuple[float, float]] | None = None,
              timeout: float = 1800) -> dict:
    """Power of `netlist` (in `work`) at `clock_ns` with the given input activities;
    the script and the log stay in `work` (`power_<module>.tcl` / `.log`)."""
    for name, (activity, duty) in {"default": default, **(ports or {})}.items():
        if activity < 0 or not 0 <= duty <= 1:
            raise EIEError(f"activity of {name}: {activity} transitions per cycle with duty "
                           f"{duty}: give an activity >= 0 and a duty in 0..1")
    script = work / f"power_{module}.tcl"
    script.write_text(power_tcl(module, netlist, lib_files, clock_port, clock_ns,
                                time_unit_ns, default, ports or {}))
    out = run_sta_script(sta, work, script, f"the power of {module}", "EIE-END-POWER",
                         timeout)
    return parse_power(out)


CUT_SUFFIX = ".i"     # Yosys `expose -cut` names the new input <wire>.i


def cut_registers(work: Path, netlist: str, top: str, lib_files: list[str],
                  flip_flops: list[str], out_name: str | None = None) -> tuple[str, list[str]]:
    """Flatten `netlist` (in `work`) and cut every output net of the `flip_flops` cells
    into an input port; returns the new netlist's file name and the register nets, as the
    names the ports carry without the `CUT_SUFFIX`."""
    if not flip_flops:
        raise EIEError("no flip-flop cells given: the liberty names none (ff groups)")
    out_name = out_name or f"{Path(netlist).stem}_cut.v"
    # One selection of every flip-flop type (Yosys selections stack: %u joins them).
    cells = " ".join(f"t:{cell}" for cell in sorted(flip_flops)) + " %u" * (len(flip_flops) - 1)
    reads = "\n".join(f"read_liberty -lib {f}" for f in lib_files)
    outputs = "%co:+[Q,QN]"
    script = (f"{reads}\nread_verilog {netlist}\nhierarchy -top {top}\nflatten\n"
              # The nets on flip-flop outputs, without the flip-flops themselves.
              f"select -set q {cells} {outputs} {cells} %d\n"
              f"tee -q -o {out_name}.nets select -list @q\n"
              f"expose -cut @q\nwrite_verilog -noattr {out_name}\n")
    run_yosys(script, cwd=work, log_name=f"{Path(out_name).stem}.log")
    listed = (work / f"{out_name}.nets").read_text().split()
    nets = sorted(name.split("/", 1)[1] if "/" in name else name for name in listed)
    return out_name, nets
