"""Switching activity of a simulation, from its VCD (pyvcd's reader), for power.

Per signal bit: the transitions and the time spent high, in a window of the run; per
clock cycle (rising edges of the clock in the window) that is the activity and duty
OpenSTA takes (eie_hw/power_sta.py: transitions per clock period, fraction of time high).
`Activity` is also what sim/saif.py gives for a Verilator SAIF, which `eie power` uses: a
64-PE VCD would be gigabytes, and pyvcd's reader refuses the `$rootio` scope name in
Verilator's VCDs. This reader serves VCDs of the Amaranth simulator (and any other that
pyvcd reads).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vcd.reader import TokenKind, tokenize

from eie_hw.errors import EIEError


@dataclass
class Activity:
    """What a window of a VCD saw: clock cycles, its length (VCD time units), and per
    signal bit (`scope.name` or `scope.name[i]`) its transitions and time high."""
    cycles: int
    duration: int
    bits: dict[str, tuple[int, int]] = field(default_factory=dict)

    def per_cycle(self) -> dict[str, tuple[float, float]]:
        """Per bit: (transitions per clock cycle, fraction of the window high)."""
        if self.cycles <= 0 or self.duration <= 0:
            raise EIEError("the window holds no clock cycle: widen it or check the clock name")
        return {name: (toggles / self.cycles, high / self.duration)
                for name, (toggles, high) in self.bits.items()}


class _Bits:
    """One VCD variable: its bit names and, per bit, value, transitions, time high."""

    def __init__(self, name: str, size: int, lsb: int):
        self.names = [name] if size == 1 else [f"{name}[{lsb + i}]" for i in range(size)]
        self.value = 0
        self.known = False           # the first value is the initial one, not a transition
        self.since = [0] * size      # when each bit last went high
        self.toggles = [0] * size
        self.rises = [0] * size
        self.high = [0] * size

    def change(self, value: int, now: int, window) -> None:
        start, end = window
        if not self.known:
            self.known = True
            self.since = [now] * len(self.names)
            self.value = value
            return
        changed = value ^ self.value
        bit = 0
        while changed:
            if changed & 1:
                rising = (value >> bit) & 1
                if start <= now < end:
                    self.toggles[bit] += 1
                    self.rises[bit] += rising
                if rising:
                    self.since[bit] = now
                else:
                    self.high[bit] += _overlap(self.since[bit], now, window)
            changed >>= 1
            bit += 1
        self.value = value

    def close(self, end: int, window) -> None:
        for bit in range(len(self.names)):
            if (self.value >> bit) & 1:
                self.high[bit] += _overlap(self.since[bit], end, window)


def _overlap(a: int, b: int, window) -> int:
    return max(0, min(b, window[1]) - max(a, window[0]))


def _as_int(value) -> int:
    """A VCD value as an int; x, z and the other non-binary states count as 0."""
    if isinstance(value, int):
        return value
    return int("".join("1" if c == "1" else "0" for c in str(value)) or "0", 2)


def read_activity(path, clock: str = "clk", start: int = 0, end: int | None = None,
                  scope: str | None = None) -> Activity:
    """The activity of every variable in `path` (under `scope`, a dotted prefix, if given)
    from VCD time `start` up to, not including, `end` (default: the file's last time).
    `clock` names the clock variable (its last name part); cycles are its rising edges
    in the window. A variable's first value is its initial state, not a transition."""
    path = Path(path)
    window = (start, end if end is not None else _last_time(path))
    variables: dict[str, list[_Bits]] = {}
    scopes: list[str] = []
    clock_ids: list[str] = []
    now = 0
    try:
        with path.open("rb") as stream:
            for token in tokenize(stream):
                kind = token.kind
                if kind is TokenKind.CHANGE_TIME:
                    now = token.time_change
                elif kind is TokenKind.CHANGE_SCALAR or kind is TokenKind.CHANGE_VECTOR:
                    change = (token.scalar_change if kind is TokenKind.CHANGE_SCALAR
                              else token.vector_change)
                    for bits in variables.get(change.id_code, ()):
                        bits.change(_as_int(change.value), now, window)
                elif kind is TokenKind.SCOPE:
                    scopes.append(token.scope.ident)
                elif kind is TokenKind.UPSCOPE:
                    scopes.pop()
                elif kind is TokenKind.VAR:
                    _declare(token.var, scopes, scope, clock, variables, clock_ids)
    except FileNotFoundError:
        raise EIEError(f"no waveform at {path}: run the simulation with --waves") from None
    except Exception as exc:        # pyvcd raises plain exceptions on malformed input
        raise EIEError(f"{path} is not a readable VCD ({exc}): write it again") from None
    if not clock_ids:
        raise EIEError(f"{path} has no clock named {clock!r}"
                       f"{' under ' + scope if scope else ''}: give the clock's name")
    return _collect(variables, clock_ids[0], now, window)


def _last_time(path: Path) -> int:
    """The VCD's last timestamp (the window's default end, excluded), from its tail."""
    try:
        with path.open("rb") as stream:
            stream.seek(0, 2)
            stream.seek(max(0, stream.tell() - 65536))
            tail = stream.read().decode("ascii", "replace")
    except FileNotFoundError:
        raise EIEError(f"no waveform at {path}: run the simulation with --waves") from None
    times = [int(line[1:]) for line in tail.split() if line[:1] == "#" and line[1:].isdigit()]
    if not times:
        raise EIEError(f"{path} is not a readable VCD (no timestamp): write it again")
    return times[-1]


def _declare(var, scopes, scope, clock, variables, clock_ids) -> None:
    name = ".".join([*scopes, var.reference])
    if scope is not None and not name.startswith(scope + "."):
        return
    lsb = var.bit_index[1] if isinstance(var.bit_index, tuple) else (var.bit_index or 0)
    variables.setdefault(var.id_code, []).append(_Bits(name, var.size, lsb))
    if var.reference == clock and var.size == 1:
        clock_ids.append(var.id_code)


def _collect(variables, clock_id: str, now: int, window) -> Activity:
    activity = Activity(cycles=0, duration=int(window[1] - window[0]))
    for id_code, group in variables.items():
        for bits in group:
            bits.close(now, window)
            for name, toggles, high in zip(bits.names, bits.toggles, bits.high):
                activity.bits[name] = (toggles, int(high))
            if id_code == clock_id:
                activity.cycles = bits.rises[0]
    return activity
