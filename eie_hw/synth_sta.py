"""Static timing of the synthesized PE and CCU netlists with OpenSTA (`sta`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .errors import EIEError
from .generate import sdc_text


def _sta_script(part: str, module: str, lib_files: list[str], sdc_file: str,
                memory_cells: list[str]) -> str:
    reads = "\n".join(f"read_liberty {f}" for f in lib_files)
    cells = " ".join(sorted(memory_cells))
    return f"""\
{reads}
read_verilog {part}_netlist.v
link_design {module}
read_sdc {sdc_file}
puts -nonewline "EIE-"
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
exit
"""


_MODULE = re.compile(r"^module (\\\S+ |\S+?) ?\((.*?)^endmodule", re.M | re.S)
_CELL = re.compile(r"^\s*(\\\S+ |\S+)\s+(\\\S+ |\S+)\s*\((.*?)\);", re.M | re.S)


def _bare(name: str) -> str:
    return name.strip().lstrip("\\")


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

    def describe(inst, net=None):
        if inst is None:
            return None
        label = net or q_nets.get(inst)
        return f"{inst} ({label})" if label and label != inst else inst

    return {
        "startpoint": describe(start.group(1) if start else None,
                               first_net.group(1) if first_net else None),
        "endpoint": describe(end.group(1) if end else None),
        "arrival": float(arrival.group(1)) if arrival else None,
        "required": float(required.group(1)) if required else None,
        "slack": float(slack.group(1)) if slack else None,
    }


def _section(text: str, name: str) -> str:
    m = re.search(rf"EIE-BEGIN-{name}\n(.*?)EIE-END-{name}", text, re.S)
    return m.group(1) if m else ""


def _run(sta: str, work: Path, part: str, script: Path, timeout: float) -> str:
    try:
        proc = subprocess.run([sta, "-no_init", "-no_splash", "-exit", script.name], cwd=work,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise EIEError(f"OpenSTA took more than {timeout:.0f} s on {part}") from None
    out = proc.stdout + proc.stderr
    (work / f"sta_{part}.log").write_text(out)
    if proc.returncode != 0 or not re.search(r"EIE-worst slack\s+[-\d.eE+]+", out):
        tail = "\n".join(out.strip().splitlines()[-15:])
        raise EIEError(f"OpenSTA failed on the {part} netlist (log {work / f'sta_{part}.log'}):"
                       f"\n{tail}")
    return out


def run_sta(work: Path, part: str, module: str, lib_files: list[str], clock_ns: float,
            time_unit_ns: float, sta: str, memory_cells: list[str],
            timeout: float = 1800) -> dict:
    """Time `<part>_netlist.v` at `clock_ns`, reading `lib_files` (in `work`)."""
    sdc = work / f"{part}.sdc"
    platform = "asap7" if abs(time_unit_ns - 1e-3) < 1e-9 else "nangate45"
    sdc.write_text(sdc_text(module, clock_ns, platform))
    script = work / f"sta_{part}.tcl"
    # Relative: the scripts run in `work`, and stay valid after the folder is moved.
    script.write_text(_sta_script(part, module, lib_files, sdc.name, memory_cells))
    out = _run(sta, work, part, script, timeout)
    q_nets = _instance_nets((work / f"{part}_netlist.v").read_text(), module)
    to_ns = lambda v: None if v is None else round(v * time_unit_ns, 4)   # noqa: E731
    worst_slack = float(re.search(r"EIE-worst slack\s+([-\d.eE+]+)", out).group(1))
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


def sta_version(sta: str) -> str:
    try:
        proc = subprocess.run([sta, "-version"], capture_output=True, text=True, timeout=30)
        return "OpenSTA " + proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "OpenSTA"
