"""Reading a macro library: the vendored one from its Liberty and LEF views, or a JSON
file (format: eie_hw/macros.py).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterable

from .errors import EIEError
from .macros import VENDORED_DIR, VENDORED_LIBRARIES, Macro, MacroLibrary
from .textfile import read_text


# ----------------------------------------------------------------------------- Liberty / LEF

_TOKEN = re.compile(r'/\*.*?\*/|//[^\n]*|\\\n|"(?:[^"\\]|\\.)*"|[(){}:;,]|[^\s(){}:;,"]+', re.S)


@dataclass
class _Group:
    kind: str
    args: list[str]
    attrs: list[tuple[str, list[str]]] = field(default_factory=list)
    groups: list["_Group"] = field(default_factory=list)

    def attr(self, name: str):
        for k, v in self.attrs:
            if k == name:
                return v
        return None

    def find(self, kind: str) -> list["_Group"]:
        return [g for g in self.groups if g.kind == kind]

    def walk(self):
        yield self
        for g in self.groups:
            yield from g.walk()


def _parse_liberty(text: str) -> _Group:
    """A small Liberty parser: groups `k (args) { ... }`, simple `k : v ;` and complex
    `k (args) ;` attributes (the trailing `;` is optional). Enough for SRAM macro views."""
    toks = [t for t in _TOKEN.findall(text)
            if not (t.startswith("/*") or t.startswith("//") or t == "\\\n")]
    pos = 0

    def unq(t: str) -> str:
        return t[1:-1] if t.startswith('"') else t

    def body(until_close: bool) -> _Group:
        nonlocal pos
        g = _Group("", [])
        while pos < len(toks):
            t = toks[pos]
            if t == "}":
                if until_close:
                    pos += 1
                    return g
                raise ValueError("unbalanced '}'")
            if t == ";":
                pos += 1
                continue
            name = t
            pos += 1
            if pos < len(toks) and toks[pos] == ":":
                pos += 1
                vals = []
                while pos < len(toks) and toks[pos] not in (";", "}"):
                    vals.append(unq(toks[pos]))
                    pos += 1
                g.attrs.append((name, vals))
            elif pos < len(toks) and toks[pos] == "(":
                pos += 1
                args = []
                while pos < len(toks) and toks[pos] != ")":
                    if toks[pos] != ",":
                        args.append(unq(toks[pos]))
                    pos += 1
                pos += 1
                if pos < len(toks) and toks[pos] == "{":
                    pos += 1
                    sub = body(True)
                    sub.kind, sub.args = name, args
                    g.groups.append(sub)
                else:
                    g.attrs.append((name, args))
            else:
                raise ValueError(f"unexpected token {name!r}")
        if until_close:
            raise ValueError("missing '}'")
        return g

    return body(False)


def _numbers(values: Iterable[str]) -> list[float]:
    out = []
    for v in values:
        out.extend(float(x) for x in v.replace(",", " ").split())
    return out


_TIME_SCALE = {"1ns": 1.0, "1ps": 1e-3, "10ps": 1e-2, "100ps": 0.1, "1us": 1e3}
_POWER_SCALE = {"1nw": 1.0, "1pw": 1e-3, "10pw": 1e-2, "100pw": 0.1, "1uw": 1e3, "1mw": 1e6}


def _read_view(path: Path) -> str:
    return read_text(path, "macro view", "copy the view there or fix the library's path "
                     "(a Liberty or LEF text file, optionally gzipped)")


def read_macro_views(lib: str | os.PathLike, lef: str | os.PathLike) -> Macro:
    """A `Macro` from its Liberty and LEF views: area, words/bits (the `memory()` group),
    clock-to-output (max of the read data's clock-edge timing tables), setup (max of the
    inputs' setup constraints), leakage, ports (1 if reads and writes share one address),
    write mask (a `w_mask*` bus with `memory_write`), and the LEF `SIZE`."""
    lib, lef = Path(lib), Path(lef)
    bad = f"macro view {lib}"
    try:
        top = _parse_liberty(_read_view(lib))
    except ValueError as e:
        raise EIEError(f"{bad} is not valid Liberty ({e}): replace it") from None
    libs = top.find("library")
    if not libs:
        raise EIEError(f"{bad} has no library() group: replace it with a Liberty file")
    library = libs[0]
    cells = [c for c in library.find("cell") if c.find("memory")]
    if not cells:
        raise EIEError(f"{bad} has no cell with a memory() group: it is not an SRAM macro view")
    stem = lib.name.split(".")[0]
    cell = next((c for c in cells if c.args and c.args[0] == stem), cells[0])
    name = cell.args[0] if cell.args else stem
    tunit = (library.attr("time_unit") or ["1ns"])[0].lower()
    punit = (library.attr("leakage_power_unit") or ["1nw"])[0].lower()
    tscale = _TIME_SCALE.get(tunit)
    pscale = _POWER_SCALE.get(punit)
    if tscale is None or pscale is None:
        raise EIEError(f"{bad} uses units {tunit!r}/{punit!r} this reader does not know: "
                       f"use one of {', '.join(_TIME_SCALE)} and {', '.join(_POWER_SCALE)}")
    try:
        mem = cell.find("memory")[0]
        addr_w = int(mem.attr("address_width")[0])
        bits = int(mem.attr("word_width")[0])
        area = float(cell.attr("area")[0])
    except (TypeError, ValueError, IndexError):
        raise EIEError(f"{bad}: cell {name} lacks area or memory() address_width/word_width: "
                       "fix the view") from None
    words = 2 ** addr_w
    pins = [g for g in cell.groups if g.kind in ("pin", "bus")]
    clk_q, setup, read_addrs, write_addrs, mask = [], [], set(), set(), False
    for p in pins:
        pname = p.args[0] if p.args else ""
        for r in p.find("memory_read"):
            read_addrs.add(tuple(r.attr("address") or ()))
        for w in p.find("memory_write"):
            write_addrs.add(tuple(w.attr("address") or ()))
            if "mask" in pname.lower():
                mask = True
        for t in p.find("timing"):
            ttype = (t.attr("timing_type") or [""])[0]
            if p.find("memory_read") and ttype in ("rising_edge", "falling_edge"):
                for tab in t.groups:
                    if tab.kind in ("cell_rise", "cell_fall"):
                        clk_q.extend(_numbers(tab.attr("values") or []))
            if ttype in ("setup_rising", "setup_falling"):
                for tab in t.groups:
                    if tab.kind in ("rise_constraint", "fall_constraint"):
                        setup.extend(_numbers(tab.attr("values") or []))
    if not clk_q:
        raise EIEError(f"{bad}: no clock-to-output timing on the read data of {name}: "
                       "fix the view")
    clock_energy = _clock_energy_fj(library, pins)
    leak = cell.attr("cell_leakage_power")
    ports = 1 if read_addrs and read_addrs == write_addrs and len(read_addrs) == 1 else 2

    size = None
    lef_text = _read_view(lef)
    mm = re.search(r"\bMACRO\s+" + re.escape(name) + r"\b(.*?)\bEND\s+" + re.escape(name),
                   lef_text, re.S)
    if mm is None:
        raise EIEError(f"macro view {lef} has no MACRO {name}: give the LEF of {name}")
    ms = re.search(r"\bSIZE\s+([\d.eE+-]+)\s+BY\s+([\d.eE+-]+)", mm.group(1))
    if ms:
        size = (float(ms.group(1)), float(ms.group(2)))
    return Macro(name=name, words=words, bits=bits, ports=ports, write_mask=mask,
                 area_um2=area, clk_to_q_ns=round(max(clk_q) * tscale, 6),
                 setup_ns=round(max(setup) * tscale, 6) if setup else 0.0,
                 lib=lib, lef=lef,
                 leakage_nw=None if leak is None else float(leak[0]) * pscale,
                 lef_size_um=size, clock_energy_fj=clock_energy)


_CAP_SCALE_FF = {"ff": 1.0, "pf": 1e3}


def _clock_energy_fj(library: _Group, pins: list[_Group]) -> float | None:
    """Energy of one clock cycle at the clock pin (its internal power, rise + fall), in fJ:
    what the view charges per access (fakeram45 charges it on every edge, enabled or
    not; issue 14 counts it per access). Liberty's energy unit is the capacitance unit
    times the voltage unit squared (fF x V^2 = fJ). None when the view has none."""
    unit = library.attr("capacitive_load_unit") or ["1", "ff"]
    try:
        scale = float(unit[0]) * _CAP_SCALE_FF[unit[-1].lower()]
    except (ValueError, KeyError):
        return None
    for pin in pins:
        if (pin.attr("clock") or [""])[0] != "true":
            continue
        energy = 0.0
        for power in pin.find("internal_power"):
            for edge in power.groups:
                if edge.kind in ("rise_power", "fall_power"):
                    values = _numbers(edge.attr("values") or [])
                    energy += max(values) if values else 0.0
        return round(energy * scale, 6) if energy else None
    return None


@lru_cache(maxsize=None)
def _vendored(name: str) -> MacroLibrary:
    folder = VENDORED_DIR / name
    libs = sorted(folder.glob("*.lib.gz"))
    if not libs:
        raise EIEError(f"the vendored macro library {name} is missing from {folder}: "
                       "reinstall eie")
    macros = []
    for lib in libs:
        lef = lib.with_name(lib.name.replace(".lib.gz", ".lef.gz"))
        macros.append(read_macro_views(lib, lef))
    macros.sort(key=lambda m: (m.words * m.bits, m.words, m.name))
    return MacroLibrary(name, macros)


def load_library(spec: str | os.PathLike) -> MacroLibrary:
    """`"fakeram45"` = the vendored Nangate45 library; anything else = a library JSON file."""
    if isinstance(spec, str) and spec in VENDORED_LIBRARIES:
        lib = _vendored(spec)
        return MacroLibrary(lib.name, list(lib.macros), lib.flop_threshold_bits,
                            lib.flop_max_bits, lib.flop_bit_area_um2)
    return MacroLibrary.from_json(spec)


def resolve_library(spec) -> MacroLibrary | None:
    """The one way every command reads its `--macros`: None or "none" -> None (no
    macros); a MacroLibrary as is; a vendored name or a library JSON path -> the library."""
    if spec is None or (isinstance(spec, str) and spec == "none"):
        return None
    if isinstance(spec, MacroLibrary):
        return spec
    if spec not in VENDORED_LIBRARIES and Path(spec).is_dir():
        raise EIEError(f"macro library {spec} is a folder: give a library JSON file "
                       "(format in eie_hw/macros.py), fakeram45 or none")
    return load_library(spec)
