"""Timing of the top-level glue through the PE and CCU ports.

The glue netlist holds the PEs and the CCU as black boxes. To time it, each part's port
timing is measured in that part's own OpenSTA run (`interface_tcl`, parsed by
`parse_interface`) and written as a timing-only Liberty cell (`interface_liberty`):

* an input pin gets a setup check against the part's clock: the longest delay from the
  pin to a flip-flop or macro inside the part, plus that endpoint's setup;
* an output pin gets a clock-to-output arc: the latest arrival at the pin from a
  flip-flop or macro inside the part;
* an input that reaches an output without a register between gets a combinational arc
  with that delay (the CCU's ready -> broadcast-valid chain is one).

So the glue's timing covers whole paths that cross parts (CCU -> PE broadcast, PE ready
-> CCU -> PE, PE -> host-port read mux), not only the glue's own gates. Assumed: each
pin loads its net like one input of the liberty's smallest buffer, each output switches
with a fixed 0.05 ns transition, there are no wires (no placement), and the clock is ideal.
"""

from __future__ import annotations

import re

from .errors import EIEError
from .synth_liberty import LibertyInfo, liberty_header, stub_converters

BOUNDARY_NOTE = ("PE and CCU instances timed through interface models measured in their own "
                 "STA runs (inputs: setup = delay to the first register inside; outputs: "
                 "clock-to-output; input-to-output paths as combinational arcs); pins load "
                 "like one smallest buffer input, outputs switch in 0.05 ns, ideal clock, "
                 "no wires")
OUTPUT_SLEW_NS = 0.05
DEFAULT_PIN_CAP_PF = 0.002     # when the liberty has no buffer to take the load from
_FAR = 10                      # "very early / very late" in clock periods


# Per port, the worst slack through it. OpenSTA's vertex slacks give all ports from one
# propagation (seconds for a 64-PE CCU); `find_timing_paths -from` per port re-searches
# the graph every time (minutes), so it is only the fallback for an OpenSTA without them.
_SLACK_PROCS = """\
set eie_fast [expr {[llength [info commands sta::vertex_worst_slack_path]] &&
                    [llength [info commands sta::find_requireds]] &&
                    [llength [info commands sta::time_sta_ui]]}]
proc eie_slack {port dir} {
  global eie_fast
  if {$eie_fast} {
    set pin [sta::get_port_pin_error "pin" $port]
    set worst ""
    foreach vertex [$pin vertices] {
      if {$vertex == "NULL"} { continue }
      set path [sta::vertex_worst_slack_path $vertex max]
      if {$path == "NULL"} { continue }
      set slack [sta::time_sta_ui [$path slack]]
      if {$worst == "" || $slack < $worst} { set worst $slack }
    }
    if {$worst == ""} { return "-" }
    return $worst
  }
  set paths [find_timing_paths -$dir $port -path_delay max]
  if {[llength $paths]} { return [get_property [lindex $paths 0] slack] }
  return "-"
}
proc eie_refresh {} {
  global eie_fast
  if {$eie_fast} { sta::find_requireds }
}
"""


def interface_tcl(clock_port: str, clock_name: str, period: float) -> str:
    """Tcl appended to a part's STA script: per input bit the worst slack to a register
    (outputs pushed far out), per output bit the worst slack from a register (inputs
    pulled far in), and for the inputs that reach an output, the worst path to each."""
    far = f"{-_FAR * period:.6g}"
    return _SLACK_PROCS + f"""\
set eie_clk [get_ports {{{clock_port}}}]
set eie_ins [lsearch -inline -all -not -exact [all_inputs] $eie_clk]
set eie_outs [all_outputs]
proc eie_delays {{in_delay out_delay}} {{
  global eie_ins eie_outs
  if {{[llength $eie_ins]}} {{ set_input_delay $in_delay -clock {clock_name} $eie_ins }}
  if {{[llength $eie_outs]}} {{ set_output_delay $out_delay -clock {clock_name} $eie_outs }}
  eie_refresh
}}
puts "EIE-BEGIN-INTERFACE"
eie_delays 0 {far}
foreach p $eie_ins {{ puts "IN [get_full_name $p] [eie_slack $p from]" }}
eie_delays {far} 0
foreach p $eie_outs {{ puts "OUT [get_full_name $p] [eie_slack $p to]" }}
# Feed-throughs: with the registers out of the way, an input with a path left reaches
# an output (or a macro); only those are searched pair by pair.
set_false_path -to [all_registers -cells]
eie_delays 0 0
if {{[llength $eie_outs]}} {{
  foreach p $eie_ins {{
    if {{[eie_slack $p from] == "-"}} {{ continue }}
    set ends [find_timing_paths -from $p -to $eie_outs -path_delay max \\
                -group_count 1000000 -endpoint_count 1]
    foreach e $ends {{
      set end [get_full_name [get_property $e endpoint]]
      puts "THRU [get_full_name $p] $end [get_property $e slack]"
    }}
  }}
}}
puts "EIE-END-INTERFACE"
"""


def parse_interface(section: str, period: float, unit_ns: float, clock_port: str) -> dict:
    """The part's port timing (ns) from `interface_tcl`'s output (`period` and the slacks
    in liberty units of `unit_ns` ns).

    A slack of a period or more is a path that only met the far-away port delay: no
    register on that side (a pure feed-through, or a constant)."""
    inputs, outputs, through = {}, {}, {}
    for line in section.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] in ("IN", "OUT"):
            slack = None if words[2] == "-" else float(words[2])
            value = (None if slack is None or slack >= period
                     else round((period - slack) * unit_ns, 6))
            (inputs if words[0] == "IN" else outputs)[words[1]] = value
        elif len(words) == 4 and words[0] == "THRU":
            through[(words[1], words[2])] = round((period - float(words[3])) * unit_ns, 6)
    if not inputs and not outputs:
        raise EIEError("internal error: OpenSTA measured no port of the part "
                       "(EIE-BEGIN-INTERFACE section empty)")
    return {"clock": clock_port, "inputs": inputs, "outputs": outputs, "through": through}


_BIT = re.compile(r"^(.*)\[(\d+)\]$")


def _buses(names) -> dict[str, int | None]:
    """Port name -> bus width (None for a scalar), from bit names such as `x[3]`."""
    ports: dict[str, int | None] = {}
    for name in names:
        m = _BIT.match(name)
        if m:
            ports[m.group(1)] = max(ports.get(m.group(1)) or 0, int(m.group(2)) + 1)
        else:
            ports.setdefault(name, None)
    return ports


def _quote(name: str) -> str:
    return '"' + name + '"'


def _cell(name: str, iface: dict, t, cap: str) -> list[str]:
    """One part's cell; `t` writes ns in the library's unit, `cap` is the pin load."""
    clock = iface["clock"]
    slew = t(OUTPUT_SLEW_NS)
    arcs_to: dict[str, list[str]] = {}
    for (src, dst), delay in sorted(iface["through"].items()):
        arcs_to.setdefault(dst, []).append(
            f"timing () {{ related_pin : {_quote(src)}; timing_sense : non_unate; "
            f'cell_rise (scalar) {{ values ("{t(delay)}"); }} '
            f'cell_fall (scalar) {{ values ("{t(delay)}"); }} '
            f'rise_transition (scalar) {{ values ("{slew}"); }} '
            f'fall_transition (scalar) {{ values ("{slew}"); }} }}')

    def body(bit: str, direction: str) -> str:
        arcs = []
        if direction == "input":
            setup = iface["inputs"].get(bit)
            if setup is not None:
                arcs.append(f"timing () {{ related_pin : {_quote(clock)}; timing_type : "
                            f'setup_rising; rise_constraint (scalar) {{ values ("{t(setup)}"); '
                            f'}} fall_constraint (scalar) {{ values ("{t(setup)}"); }} }}')
        else:
            delay = iface["outputs"].get(bit)
            if delay is not None:
                arcs.append(f"timing () {{ related_pin : {_quote(clock)}; timing_type : "
                            f'rising_edge; cell_rise (scalar) {{ values ("{t(delay)}"); }} '
                            f'cell_fall (scalar) {{ values ("{t(delay)}"); }} '
                            f'rise_transition (scalar) {{ values ("{slew}"); }} '
                            f'fall_transition (scalar) {{ values ("{slew}"); }} }}')
            arcs += arcs_to.get(bit, [])
        return " ".join(arcs)

    out = [f"  cell ({_quote(name)}) {{", "    area : 0;", "    dont_use : true;",
           "    interface_timing : true;",
           f"    pin ({_quote(clock)}) {{ direction : input; clock : true; "
           f"capacitance : {cap}; }}"]
    for direction, bits in (("input", iface["inputs"]), ("output", iface["outputs"])):
        pin_cap = f" capacitance : {cap};" if direction == "input" else ""
        for port, width in _buses(bits).items():
            if width is None:
                out.append(f"    pin ({_quote(port)}) {{ direction : {direction};{pin_cap} "
                           f"{body(port, direction)} }}")
                continue
            out.append(f"    bus ({_quote(port)}) {{ bus_type : bus{width}; "
                       f"direction : {direction};{pin_cap}")
            for i in range(width):
                bit = f"{port}[{i}]"
                out.append(f"      pin ({_quote(bit)}) {{ {body(bit, direction)} }}")
            out.append("    }")
    out.append("  }")
    return out


def interface_liberty(cells: dict[str, dict], info: LibertyInfo) -> str:
    """A Liberty library with one timing-only cell per part (cell name -> interface)."""
    t, c = stub_converters(info)
    cap_pf = (info.buffer_input_cap * info.cap_unit_pf if info.buffer
              else DEFAULT_PIN_CAP_PF)
    widths = set()
    for iface in cells.values():
        for bits in (iface["inputs"], iface["outputs"]):
            widths |= {w for w in _buses(bits).values() if w}
    out = liberty_header("eie_part_models", info, sorted(widths),
                         "Interface timing of the EIE PE and CCU, measured by OpenSTA on "
                         "their own netlists (eie_hw/synth_boundary.py)")
    for name, iface in cells.items():
        out += _cell(name, iface, t, c(cap_pf))
    out.append("}")
    return "\n".join(out) + "\n"
