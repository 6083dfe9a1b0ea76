"""Switching activity from a SAIF file (Verilator `--trace-saif`), for power.

A SAIF holds, per signal bit, the time spent at 0 and at 1 (T0, T1) and the number of
transitions (TC) over the whole trace: what OpenSTA's `set_power_activity` takes, counted
by the simulator itself, in one record per bit instead of a value change per cycle (a
64-PE VCD of one Alex-8 layer would be gigabytes). A window of the run is the difference
of two SAIFs of the same deterministic run stopped at its two ends (`window`).

Names come back as dotted paths with the SAIF escapes removed: `pe3.arith.weight2[13]`,
`pe0.fifo.fifo.storage[5][0]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from eie_hw.errors import EIEError

from .activity import Activity

_TIME_UNITS_PS = {"fs": 1e-3, "ps": 1.0, "ns": 1e3, "us": 1e6, "ms": 1e9, "s": 1e12}
# One token: an INSTANCE or NET/PORT group opening, a net record (name, T0, T1 and the
# rest of its durations and counts), or a group's closing paren.
_TOKEN = re.compile(
    rb"\(INSTANCE\s+(\S+)|\((NET|PORT)\b|"
    rb"\(((?:\\.|[^\s()\\])+)\s+\(T0 (\d+)\)\s*\(T1 (\d+)\)((?:\s*\([A-Z]+ \d+\))*)\s*\)|"
    rb"(\))")


@dataclass
class Saif:
    """One SAIF: its length in ps, and per bit (T0, T1, TC) in ps / transitions."""
    duration_ps: float
    nets: dict[str, tuple[float, float, int]] = field(default_factory=dict)


def _unescape(name: bytes) -> str:
    return re.sub(rb"\\(.)", rb"\1", name).decode()


def _header(text: bytes, path: Path) -> tuple[float, float]:
    """(time unit in ps, duration in those units) from the SAIF header."""
    scale = re.search(rb"\(TIMESCALE\s+(\d+)\s*([a-z]+)\)", text[:4096])
    duration = re.search(rb"\(DURATION\s+(\d+)\)", text[:4096])
    if not text.lstrip().startswith((b"(SAIFILE", b"//")) or scale is None \
            or duration is None or scale.group(2).decode() not in _TIME_UNITS_PS:
        raise EIEError(f"{path} is not a SAIF file with a TIMESCALE and a DURATION: "
                       f"write it again with a simulator's SAIF output")
    unit = int(scale.group(1)) * _TIME_UNITS_PS[scale.group(2).decode()]
    return unit, float(duration.group(1))


def read_saif(path, scope: str | None = None) -> Saif:
    """Every net of the SAIF at `path` (only those under the dotted `scope`, given as a
    prefix such as `eie_top`; names are then relative to it)."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        raise EIEError(f"no activity file at {path}: run the simulation again") from None
    unit, duration = _header(text, path)
    saif = Saif(duration * unit)
    stack: list[str] = []          # instance names; "" for a NET/PORT group
    names: list[str] = []          # the dotted path of the open instances
    want = scope.split(".") if scope else []
    here = ""
    for m in _TOKEN.finditer(text):
        if m.group(3) is not None:
            if here is not None:
                raw = m.group(3)
                name = (_unescape(raw) if b"\\" in raw else raw.decode())
                tc = m.group(6).find(b"(TC ")
                toggles = int(m.group(6)[tc + 4:m.group(6).index(b")", tc)]) if tc >= 0 else 0
                saif.nets[here + name] = (float(m.group(4)) * unit, float(m.group(5)) * unit,
                                          toggles)
            continue
        if m.group(1) is not None:
            stack.append(_unescape(m.group(1)))
        elif m.group(2) is not None:
            stack.append("")
        elif stack:
            stack.pop()
        else:
            continue
        names = [n for n in stack if n]
        inside = names[:len(want)] == want
        here = ".".join(names[len(want):]) + "." if inside and len(names) > len(want) else \
            ("" if inside else None)
    if not saif.nets:
        raise EIEError(f"{path} has no nets{' under ' + scope if scope else ''}: "
                       f"check the scope, or trace the design again")
    return saif


def window(start: Saif, end: Saif, clock: str, clock_ps: float) -> Activity:
    """The activity between two SAIFs of one run stopped at `start` and at `end`:
    per bit (transitions, time high in ps) in the window, cycles from `clock_ps`."""
    if end.duration_ps <= start.duration_ps:
        raise EIEError("the activity window is empty: the second trace must end after the "
                       "first")
    if clock not in end.nets:
        raise EIEError(f"the trace has no clock {clock!r}: give the clock's name")
    activity = Activity(cycles=round((end.duration_ps - start.duration_ps) / clock_ps),
                        duration=int(end.duration_ps - start.duration_ps))
    for name, (_, high, toggles) in end.nets.items():
        before = start.nets.get(name, (0.0, 0.0, 0))
        activity.bits[name] = (toggles - before[2], int(high - before[1]))
    return activity
