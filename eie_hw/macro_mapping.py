"""Mapping the design's memories onto a macro library: the cheapest tiling by area that
meets each memory's port needs (rules: eie_hw/macros.py's docstring).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping as _MappingABC

from .errors import EIEError
from .macros import NEEDS, NEEDS_OF_ROLE, READ_AND_WRITE, READ_OR_WRITE, Macro, MacroLibrary


@dataclass(frozen=True)
class Mapping:
    """How one memory is built: from `count` = cols x rows macros, or from flip-flops."""

    kind: str               # "macro" | "flops"
    depth: int
    width: int
    needs: str
    macro: str = ""         # macro name ("" for flops)
    cols: int = 0
    rows: int = 0
    fold: int = 1
    count: int = 0
    area_um2: float = 0.0   # macros: total macro area; flops: the library's estimate
    macro_bits: int = 0     # bits of the macros used (0 for flops)
    clk_to_q_ns: float | None = None
    reason: str = ""        # why flops
    name: str = ""          # the memory's path, when known
    role: str = ""

    @property
    def used_bits(self) -> int:
        return self.depth * self.width

    @property
    def efficiency(self) -> float:
        """Used bits over the bits of the macros used (1.0 for flops)."""
        return self.used_bits / self.macro_bits if self.macro_bits else 1.0

    def to_dict(self) -> dict:
        d = {"kind": self.kind, "depth": self.depth, "width": self.width, "needs": self.needs,
             "used_bits": self.used_bits, "area_um2": round(self.area_um2, 3)}
        if self.name:
            d = {"path": self.name, "role": self.role, **d}
        if self.kind == "macro":
            d.update(macro=self.macro, cols=self.cols, rows=self.rows, fold=self.fold,
                     count=self.count, macro_bits=self.macro_bits,
                     efficiency=round(self.efficiency, 4), clk_to_q_ns=self.clk_to_q_ns)
        else:
            d["reason"] = self.reason
        return d



def mapping_from_dict(d: dict) -> Mapping:
    """A Mapping back from its `to_dict` (as `eie synth`'s report.json holds it)."""
    keys = ("kind", "depth", "width", "needs", "macro", "cols", "rows", "fold", "count",
            "area_um2", "macro_bits", "clk_to_q_ns", "reason", "role")
    try:
        return Mapping(**{k: d[k] for k in keys if k in d}, name=d.get("path", ""))
    except TypeError as exc:
        raise EIEError(f"a memory mapping without its shape ({exc}): run `eie synth` "
                       f"again") from None

# ----------------------------------------------------------------------------- mapping

def _candidates(depth: int, width: int, macro: Macro) -> list[tuple[int, int, int]]:
    """(cols, rows, fold) tilings of a depth x width memory by `macro`."""
    out = [(math.ceil(width / macro.bits), math.ceil(depth / macro.words), 1)]
    fold = macro.bits // width
    if fold > 1 and macro.write_mask:
        out.append((1, math.ceil(depth / (macro.words * fold)), fold))
    return out


def _flops(depth, width, needs, library, reason, name, role) -> Mapping:
    return Mapping("flops", depth, width, needs,
                   area_um2=depth * width * library.flop_bit_area_um2, reason=reason,
                   name=name, role=role)


def map_memory(depth: int, width: int, needs: str, library: MacroLibrary, *,
               name: str = "", role: str = "") -> Mapping:
    """The cheapest way to build a `depth` x `width` memory with `needs` from `library`."""
    label = f"memory {name}" if name else "memory"
    if depth <= 0 or width <= 0:
        raise EIEError(f"{label} has {depth} words x {width} bits: both must be > 0")
    if needs not in NEEDS:
        raise EIEError(f"{label}: unknown port needs {needs!r}: use {' or '.join(NEEDS)}")
    bits = depth * width
    if bits <= library.flop_threshold_bits:
        return _flops(depth, width, needs, library,
                      f"{bits} bits <= the flop threshold ({library.flop_threshold_bits})",
                      name, role)
    usable = [m for m in library.macros
              if m.ports == 2 or needs == READ_OR_WRITE]
    best, best_key = None, None
    for m in usable:
        for cols, rows, fold in _candidates(depth, width, m):
            count = cols * rows
            area = count * m.area_um2
            key = (area, count, m.clk_to_q_ns, m.name, fold)
            if best_key is None or key < best_key:
                best_key = key
                best = Mapping("macro", depth, width, needs, macro=m.name, cols=cols,
                               rows=rows, fold=fold, count=count, area_um2=area,
                               macro_bits=count * m.capacity_bits, clk_to_q_ns=m.clk_to_q_ns,
                               name=name, role=role)
    if best is not None:
        return best
    lacks = ("a macro with a read port and a write port (2 ports); its macros are all "
             "single-port" if needs == READ_AND_WRITE else "any macro")
    if bits <= library.flop_max_bits:
        return _flops(depth, width, needs, library,
                      f"needs {needs}: library {library.name} lacks {lacks}", name, role)
    raise EIEError(f"{label} ({depth} words x {width} bits, {needs}) cannot be built from "
                   f"macro library {library.name}: it lacks {lacks}, and {bits} bits is more "
                   f"than its flip-flop fallback allows ({library.flop_max_bits}); add such a "
                   f"macro to the library or make the memory smaller")


def map_design(srams, library: MacroLibrary,
               needs_of_role: _MappingABC[str, str] | None = None) -> list[Mapping]:
    """The mapping of every memory (objects with path, role, depth, width, such as
    `eie_hw.generate.SRAMInstance`), in order.

    Memories of one shape (depth, width) are built one way: the eie_sram wrapper picks a
    build by its DEPTH and WIDTH parameters alone. So each shape gets the needs of its most
    demanding memory (e.g. a bias table of the accumulators' shape becomes a register
    file too)."""
    table = NEEDS_OF_ROLE if needs_of_role is None else needs_of_role
    shape_needs: dict[tuple[int, int], str] = {}
    for s in srams:
        if s.role not in table:
            raise EIEError(f"memory {s.path} has role {s.role!r} with no port needs: add it "
                           f"to eie_hw.macros.NEEDS_OF_ROLE")
        key = (s.depth, s.width)
        if shape_needs.get(key) != READ_AND_WRITE:
            shape_needs[key] = table[s.role]
    return [map_memory(s.depth, s.width, shape_needs[(s.depth, s.width)], library,
                       name=getattr(s, "path", ""), role=s.role) for s in srams]


def macro_area_by_role(mappings: Iterable[Mapping]) -> dict[str, float]:
    """Macro area (um^2) by role, plus 'total'; flip-flop memories count 0."""
    out: dict[str, float] = {}
    for m in mappings:
        a = m.area_um2 if m.kind == "macro" else 0.0
        out[m.role] = out.get(m.role, 0.0) + a
    out["total"] = sum(out.values())
    return out
