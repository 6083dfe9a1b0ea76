"""Static timing of the synthesized parts (PE, CCU, top-level glue) with OpenSTA (`sta`).

The PE and CCU runs can also measure their port timing (`synth_boundary`), from which
the glue, where they are black boxes, is timed."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .errors import EIEError
from .orfs import CLOCK_PORT, sdc_text
from .synth_boundary import interface_tcl, parse_interface

CLOCK_NAME = "core_clock"      # the clock sdc_text creates


# Nets that load their standard-cell driver with more than this many of the smallest
# buffer's inputs get a buffer (`FANOUT_REPAIR_TCL`).
REPAIR_LOAD_IN_MIN_BUFFERS = 48

# Fan-out repair, an estimate of what a physical flow's repair_design does first (issue
# 13). ABC sizes the gates it maps, but it sees neither the flip-flops (mapped before it)
# nor the macros' pins as loads, so a flip-flop or gate may be left driving dozens of
# macro pins: a register driving 78 write-mask pins took 1.1 ns. Every net whose load
# exceeds `limit` (in the liberty's capacitance unit, pins and wire-load estimate)
# and whose driver is a standard cell gets one buffer in front of all its loads, the one
# whose input capacitance is nearest sqrt(load x smallest input): the two stages then
# share the effort. Debian's OpenSTA has no insert_buffer command, so the buffer is made
# from make_instance / connect_pin.
FANOUT_REPAIR_TCL = """\
proc eie_repair_fanout {limit smallest buffers memory_cells} {
  set corner [sta::cmd_corner]
  set used [dict create]
  set count 0
  foreach net [get_nets -hierarchical *] {
    set load [sta::capacitance_sta_ui [$net capacitance rise $corner max]]
    if {$load <= $limit} { continue }
    set driver ""
    set loads {}
    foreach pin [get_pins -of_objects $net] {
      if {[$pin is_hierarchical]} { continue }
      if {[$pin is_driver]} { set driver $pin } elseif {[$pin is_load]} {
        lappend loads [get_full_name $pin] }
    }
    if {$driver == "" || [llength $loads] < 2} { continue }
    set cell [get_property [$driver instance] ref_name]
    if {[lsearch -exact $memory_cells $cell] >= 0} { continue }
    set target [expr {sqrt($load * $smallest)}]
    set best ""
    foreach {cap name in out} $buffers {
      set distance [expr {abs(log($cap / $target))}]
      if {$best == "" || $distance < $best_distance} {
        lassign [list $name $in $out $distance] best best_in best_out best_distance }
    }
    incr count
    set net_name [get_full_name $net]
    make_instance eie_fanout_buf_$count $best
    make_net eie_fanout_net_$count
    foreach pin $loads {
      disconnect_pin $net_name $pin
      connect_pin eie_fanout_net_$count $pin
    }
    connect_pin $net_name eie_fanout_buf_$count/$best_in
    connect_pin eie_fanout_net_$count eie_fanout_buf_$count/$best_out
    dict incr used $best
  }
  dict for {name n} $used { puts "EIE-FANOUT-BUFFER $name $n" }
}
"""


def repair_call(buffers, memory_cells) -> str:
    """The Tcl that reports the worst slack as it is, then repairs the fan-out
    (`FANOUT_REPAIR_TCL`) with the liberty's drive buffers (`LibertyInfo.buffers`); ''
    when it has none."""
    if not buffers:
        return ""
    flat = " ".join(f"{cap:.6g} {name} {pin_in} {pin_out}"
                    for cap, name, pin_in, pin_out in buffers)
    smallest = buffers[0][0]
    limit = REPAIR_LOAD_IN_MIN_BUFFERS * smallest
    return ('puts -nonewline "EIE-UNREPAIRED-"\nreport_worst_slack -digits 4\n'
            + FANOUT_REPAIR_TCL
            + f"eie_repair_fanout {limit:.6g} {smallest:.6g} [list {flat}] "
              f"[list {' '.join(sorted(memory_cells))}]\n")


def _sta_script(part: str, module: str, lib_files: list[str], sdc_file: str,
                memory_cells: list[str], extra: str = "", repair: str = "") -> str:
    reads = "\n".join(f"read_liberty {f}" for f in lib_files)
    cells = " ".join(sorted(memory_cells))
    return f"""\
{reads}
read_verilog {part}_netlist.v
link_design {module}
read_sdc {sdc_file}
{repair}puts -nonewline "EIE-"
report_worst_slack -digits 4
puts -nonewline "EIE-"
report_tns -digits 4
# Standard-cell flip-flops only: SRAM cells count as registers for STA too.
set sram_cells [list {cells}]
set std_ffs [list]
foreach inst [all_registers -cells] {{
  if {{[lsearch -exact $sram_cells [get_property $inst ref_name]] < 0}} {{ lappend std_ffs $inst }}
}}
puts "EIE-BEGIN-WORST"
report_checks -path_delay max -digits 4 -fields {{net}}
puts "EIE-END-WORST"
puts "EIE-BEGIN-REG2REG"
if {{[llength $std_ffs] > 0}} {{
  report_checks -path_delay max -digits 4 -fields {{net}} -from $std_ffs -to $std_ffs
}}
puts "EIE-END-REG2REG"
{extra}exit
"""


_MODULE = re.compile(r"^module (\\\S+ |\S+?) ?\((.*?)^endmodule", re.M | re.S)
_CELL = re.compile(r"^\s*(\\\S+ |\S+)\s+(\\\S+ |\S+)\s*\((.*?)\);", re.M | re.S)


def _bare(name: str) -> str:
    return name.strip().lstrip("\\")


def clock_port(netlist: str, module: str) -> str:
    """The clock input of `module`: `clk`, else the one-bit input named `*clk` (the CCU's
    is `core_clk`: the top level runs it in a renamed clock domain)."""
    for m in _MODULE.finditer(netlist):
        if _bare(m.group(1)) != module:
            continue
        scalars = [_bare(n) for n in re.findall(r"^\s*input\s+(\\\S+ |\w+)\s*;", m.group(2),
                                                re.M)]
        for name in [CLOCK_PORT] + sorted(n for n in scalars if n.endswith("clk")):
            if name in scalars:
                return name
        raise EIEError(f"internal error: module {module} has no clock input (clk or *clk)")
    raise EIEError(f"internal error: the netlist has no module {module}")


def _sdc(module: str, clock_ns: float, platform: str, port: str,
         constant_inputs: tuple = ()) -> str:
    text = sdc_text(module, clock_ns, platform)
    for name in constant_inputs:
        # Tied to a constant where the part is instantiated: no path starts there.
        text += f"set_false_path -from [get_ports {{{name} {name}[*]}}]\n"
    if port == CLOCK_PORT:
        return text
    # Without this the clock would name a port the part does not have: OpenSTA warns,
    # makes a virtual clock, and every register-to-register path goes untimed.
    line = f"set clk_port_name {CLOCK_PORT}\n"
    if line not in text:
        raise EIEError("internal error: eie_hw/orfs.py sdc_text no longer sets clk_port_name")
    return text.replace(line, f"set clk_port_name {port}\n")


def _instance_nets(netlist: str, top: str | None = None) -> dict[str, str]:
    """Flip-flop instance -> the net on its Q (or QN) pin, from a Yosys netlist; the
    instances of submodules by their path from `top` (`arith/_12_`), as STA names them."""
    cells: dict[str, list] = {}
    for m in _MODULE.finditer(netlist):
        cells[_bare(m.group(1))] = [(_bare(c.group(1)), _bare(c.group(2)), c.group(3))
                                    for c in _CELL.finditer(m.group(2))]
    if not cells:
        return {}
    nets: dict[str, str] = {}

    def walk(module: str, prefix: str, depth: int) -> None:
        for kind, inst, pins in cells.get(module, []):
            if kind in cells and depth < 8:
                walk(kind, f"{prefix}{inst}/", depth + 1)
                continue
            q = re.search(r"\.QN?\(([^()]*?)\)\s*[,)]?", pins + ")")
            if q:
                nets[prefix + inst] = _bare(q.group(1)).replace(" ", "")

    walk(_bare(top) if top else next(iter(cells)), "", 0)
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
    pins = re.findall(r"[\^v] (\S+) \(", text.split("data arrival time")[0])

    def describe(inst, net=None):
        if inst is None:
            return None
        label = net or q_nets.get(inst)
        return f"{inst} ({label})" if label and label != inst else inst

    return {
        "startpoint": describe(start.group(1) if start else None,
                               first_net.group(1) if first_net else None),
        "endpoint": _endpoint(end.group(1) if end else None, pins, q_nets, describe),
        "arrival": float(arrival.group(1)) if arrival else None,
        "required": float(required.group(1)) if required else None,
        "slack": float(slack.group(1)) if slack else None,
    }


def _endpoint(inst, pins: list[str], q_nets: dict, describe):
    """A flip-flop by the net it drives; a macro or part model by the pin the path
    enters (`pe0/control__running`): the instance alone does not say which input."""
    if inst is not None and inst not in q_nets and pins and pins[-1].startswith(inst + "/"):
        return pins[-1]
    return describe(inst)


def _section(text: str, name: str) -> str:
    m = re.search(rf"EIE-BEGIN-{name}\n(.*?)EIE-END-{name}", text, re.S)
    return m.group(1) if m else ""


def run_sta_script(sta: str, work: Path, script: Path, what: str, done: str,
                   timeout: float) -> str:
    """Run the OpenSTA `script` in `work`; its output is also written next to it (.log).
    `done`: a regular expression the output must hold when the script ran through;
    `what` names the job in errors."""
    try:
        proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", script.name], cwd=work,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EIEError(f"OpenSTA took more than {timeout:.0f} s on {what}") from None
    except OSError as exc:
        raise EIEError(f"cannot run OpenSTA ({sta}): {exc.strerror or exc}: install Debian's "
                       "opensta package") from None
    out = proc.stdout + proc.stderr
    log = script.with_suffix(".log")
    log.write_text(out)
    if proc.returncode != 0 or not re.search(done, out):
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise EIEError(f"OpenSTA failed on {what} (log {log}):\n{tail}")
    return out


def run_sta(work: Path, part: str, module: str, lib_files: list[str], clock_ns: float,
            time_unit_ns: float, sta: str, memory_cells: list[str],
            timeout: float = 1800, interface: bool = False,
            constant_inputs: tuple = (), buffers=()) -> dict:
    """Time `<part>_netlist.v` at `clock_ns`, reading `lib_files` (in `work`).

    `memory_cells`: cells that are not standard-cell flip-flops (macros, models); with
    `interface`, the result's "interface" holds the port timing (`synth_boundary`);
    `constant_inputs`: ports tied to constants by the design (no paths from them);
    `buffers`: the liberty's drive buffers, for the fan-out repair (`FANOUT_REPAIR_TCL`),
    none: no repair."""
    netlist = (work / f"{part}_netlist.v").read_text()
    port = clock_port(netlist, module)
    sdc = work / f"{part}.sdc"
    platform = "asap7" if abs(time_unit_ns - 1e-3) < 1e-9 else "nangate45"
    sdc.write_text(_sdc(module, clock_ns, platform, port, constant_inputs))
    period = clock_ns / time_unit_ns
    extra = interface_tcl(port, CLOCK_NAME, period) if interface else ""
    script = work / f"sta_{part}.tcl"
    # Relative: the scripts run in `work`, and stay valid after the folder is moved.
    script.write_text(_sta_script(part, module, lib_files, sdc.name, memory_cells, extra,
                                  repair_call(buffers, memory_cells)))
    out = run_sta_script(sta, work, script, f"the {part} netlist",
                         r"EIE-worst slack\s+[-\d.eE+]+", timeout)
    result = _timing_result(out, clock_ns, time_unit_ns, _instance_nets(netlist, module))
    result["fanout_repair"] = _repair_result(out, clock_ns, time_unit_ns) if buffers else None
    result = {"module": module, "clock_port": port, **result, "log": f"synth/sta_{part}.log"}
    if interface:
        result["interface"] = parse_interface(_section(out, "INTERFACE"), period,
                                              time_unit_ns, port)
    return result


def _timing_result(out: str, clock_ns: float, time_unit_ns: float, q_nets: dict) -> dict:
    to_ns = lambda v: None if v is None else round(v * time_unit_ns, 4)   # noqa: E731
    worst_slack = float(re.search(r"EIE-worst slack\s+([-\d.eE+]+)", out).group(1))
    tns = re.search(r"EIE-tns\s+([-\d.eE+]+)", out)
    min_period = round(clock_ns - worst_slack * time_unit_ns, 4)
    result = {"clock_ns": clock_ns, "worst_slack_ns": to_ns(worst_slack),
              "tns_ns": to_ns(float(tns.group(1))) if tns else None,
              "min_period_ns": min_period,
              "max_mhz": round(1000 / min_period, 1) if min_period > 0 else None}
    for key, name in (("critical_path", "WORST"), ("reg_to_reg", "REG2REG")):
        path = _parse_path(_section(out, name), q_nets)
        if path is not None:
            for k in ("arrival", "required", "slack"):
                path[k + "_ns"] = to_ns(path.pop(k))
            path["min_period_ns"] = (round(clock_ns - path["slack_ns"], 4)
                                     if path["slack_ns"] is not None else None)
        result[key] = path
    return result


def _repair_result(out: str, clock_ns: float, time_unit_ns: float) -> dict:
    """Buffers the fan-out repair added, and the min period before it."""
    before = re.search(r"EIE-UNREPAIRED-worst slack\s+([-\d.eE+]+)", out)
    return {"buffers": {name: int(n) for name, n in
                        re.findall(r"^EIE-FANOUT-BUFFER (\S+) (\d+)$", out, re.M)},
            "unrepaired_min_period_ns": (round(clock_ns - float(before.group(1)) * time_unit_ns,
                                               4) if before else None)}


def sta_version(sta: str) -> str:
    try:
        proc = subprocess.run([sta, "-version"], capture_output=True, text=True, timeout=30)
        return "OpenSTA " + proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "OpenSTA"
