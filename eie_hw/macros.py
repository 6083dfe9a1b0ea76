"""SRAM macro libraries: the description of a library and its JSON form (issue #12).

The views are read in `eie_hw/macro_views.py` (`load_library`), the memories are mapped
onto a library in `eie_hw/macro_mapping.py` (`map_memory`, `map_design`).

Every memory of the generated design is a behavioural `eie_sram` (one read port, one write
port; `eie_hw/sram.py`). For a real flow each one is built from the platform's SRAM macros,
or left as flip-flops when it is small. This module describes a macro library and picks, for
each memory, the cheapest tiling of macros (by total macro area) that meets the memory's port
needs. It does not write the Verilog wrappers.

Library
-------
`load_library("fakeram45")` is the vendored Nangate45 library (`eie_hw/macro_libs/fakeram45/`),
read from its Liberty (`.lib.gz`) and LEF (`.lef.gz`) views. `load_library(path)` reads a
library JSON file:

    {
      "name": "my_lib",                 # str, required
      "flop_threshold_bits": 1024,      # int >= 0, optional: memories of at most this many
                                        #   bits (depth x width) stay flip-flops
      "flop_max_bits": 16384,           # int >= 0, optional: the largest memory that may fall
                                        #   back to flip-flops because no macro meets its needs
      "flop_bit_area_um2": 8.246,       # float >= 0, optional: flip-flop area estimate per bit
      "macros": [                       # non-empty list, required
        {
          "name": "fakeram45_64x32",    # str: the macro's cell name
          "words": 64,                  # int > 0: words (depth)
          "bits": 32,                   # int > 0: bits per word (width)
          "ports": 1,                   # 1 = single port (a read or a write per cycle),
                                        # 2 = one read port + one write port (1R1W)
          "write_mask": true,           # bool: per-bit write mask
          "area_um2": 1240.624,         # float, um^2
          "clk_to_q_ns": 0.207,         # float, ns: clock to read data out
          "setup_ns": 0.05,             # float, ns: input setup before the clock
          "lib": "fakeram45_64x32.lib.gz",  # Liberty view; relative = to the JSON's folder
          "lef": "fakeram45_64x32.lef.gz",  # LEF view; relative = to the JSON's folder
          "leakage_nw": 81627.2,        # float, nW, optional
          "lef_size_um": [20.14, 61.6], # [width, height] in um, optional
          "clock_energy_fj": 1591.524   # float, fJ per clock cycle (an access), optional
        }
      ]
    }

`MacroLibrary.to_json(path)` writes this form (view paths relative to the file's folder).

Mapping
-------
`map_memory(depth, width, needs, library)` returns a `Mapping`. `needs` is "read_or_write"
(at most one access per cycle: a single-port macro is enough) or "read_and_write" (a read
and a write in the same cycle: needs a 2-port macro, else flip-flops). A macro of W words x B
bits tiles a memory as `cols = ceil(width / B)` macros side by side and `rows = ceil(depth /
W)` banks; a macro with a write mask may also fold `fold = B // width` (> 1) logical words
into one macro word, `rows = ceil(depth / (W * fold))`, `cols = 1` (a write touches one slice
under the mask; a read selects the slice). The cheapest by total area wins; ties go to fewer
macros, then the smaller clock-to-output. `map_design(srams, library)` maps every memory of
`eie_hw.generate.sram_inventory(config)` with the role -> needs table `NEEDS_OF_ROLE`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import EIEError

__all__ = ["Macro", "MacroLibrary", "NEEDS", "NEEDS_OF_ROLE", "READ_OR_WRITE",
           "READ_AND_WRITE", "VENDORED_DIR", "VENDORED_LIBRARIES"]

READ_OR_WRITE = "read_or_write"
READ_AND_WRITE = "read_and_write"
NEEDS = (READ_OR_WRITE, READ_AND_WRITE)

# Which memories the compute mode reads and writes in the same cycle. Checked against the
# units: spmat, ptr_even/ptr_odd, codebook, bias and the CCU's layer table are only read in
# compute mode and written by the host in I/O mode (`share_with_host`); the CCU's cycle
# counters (layer_cycles) are written by the CCU at the end of a layer (state RUN) and read by
# the host only in I/O mode (ccu.py), never both in one cycle. The activation banks are
# read-modify-write accumulators: the arithmetic unit reads the destination row and writes an
# earlier row in the same cycle, and the scan reads the source bank meanwhile (act_rw.py).
NEEDS_OF_ROLE: dict[str, str] = {
    "spmat": READ_OR_WRITE,
    "ptr_even": READ_OR_WRITE,
    "ptr_odd": READ_OR_WRITE,
    "codebook": READ_OR_WRITE,
    "bias": READ_OR_WRITE,
    "acc0": READ_AND_WRITE,
    "acc1": READ_AND_WRITE,
    "layers": READ_OR_WRITE,
    "layer_cycles": READ_OR_WRITE,
}

# Memories of at most this many bits stay flip-flops. The smallest fakeram45 macro holds 2048
# bits (64x32), so a memory of <= 1 kbit would use at most half of any macro, and each macro
# is a hard block the floorplan must place with a halo and power straps, plus a wrapper;
# ~1 kbit of flops (about 8 um^2 per bit in Nangate45, ~8,400 um^2) is a small part of a PE
# and keeps tiny tables (the CCU's 16-entry layer table and cycle counters) out of the
# floorplan. At 1024 every per-PE memory of the paper configuration still gets macros.
DEFAULT_FLOP_THRESHOLD_BITS = 1024
# A memory that no macro of the library can build (a same-cycle read and write with only
# single-port macros) falls back to flip-flops up to this size; above it that is an error,
# since ~16 kbit of flops (~135,000 um^2) is already a large block.
DEFAULT_FLOP_MAX_BITS = 16384
# Flip-flop memory area per bit, a rough estimate for Nangate45: DFF_X1 (4.522 um^2) plus a
# write-enable MUX2_X1 (1.862) plus about one MUX2_X1 of the read multiplexer tree (1.862).
DEFAULT_FLOP_BIT_AREA_UM2 = 4.522 + 2 * 1.862

VENDORED_DIR = Path(__file__).resolve().parent / "macro_libs"
VENDORED_LIBRARIES = ("fakeram45",)


# ----------------------------------------------------------------------------- data

@dataclass(frozen=True)
class Macro:
    """One SRAM macro of a library."""

    name: str
    words: int
    bits: int
    ports: int            # 1 = single port (read or write per cycle), 2 = 1R1W
    write_mask: bool      # per-bit write mask
    area_um2: float
    clk_to_q_ns: float
    setup_ns: float
    lib: Path
    lef: Path
    leakage_nw: float | None = None
    lef_size_um: tuple[float, float] | None = None   # (width, height)
    clock_energy_fj: float | None = None  # per clock cycle at the clock pin (an access)

    @property
    def capacity_bits(self) -> int:
        return self.words * self.bits

    def to_dict(self, base_dir: Path | None = None) -> dict:
        def rel(p: Path) -> str:
            if base_dir is None:
                return str(p)
            return os.path.relpath(Path(p).resolve(), Path(base_dir).resolve())
        d = {"name": self.name, "words": self.words, "bits": self.bits, "ports": self.ports,
             "write_mask": self.write_mask, "area_um2": self.area_um2,
             "clk_to_q_ns": self.clk_to_q_ns, "setup_ns": self.setup_ns,
             "lib": rel(self.lib), "lef": rel(self.lef)}
        if self.leakage_nw is not None:
            d["leakage_nw"] = self.leakage_nw
        if self.lef_size_um is not None:
            d["lef_size_um"] = list(self.lef_size_um)
        if self.clock_energy_fj is not None:
            d["clock_energy_fj"] = self.clock_energy_fj
        return d


@dataclass
class MacroLibrary:
    """A set of SRAM macros plus the rules for memories that stay flip-flops."""

    name: str
    macros: list[Macro]
    flop_threshold_bits: int = DEFAULT_FLOP_THRESHOLD_BITS
    flop_max_bits: int = DEFAULT_FLOP_MAX_BITS
    flop_bit_area_um2: float = DEFAULT_FLOP_BIT_AREA_UM2

    def macro(self, name: str) -> Macro:
        for m in self.macros:
            if m.name == name:
                return m
        raise EIEError(f"macro library {self.name!r} has no macro {name!r}: use one of "
                       f"{', '.join(m.name for m in self.macros)}")

    def to_dict(self, base_dir: Path | None = None) -> dict:
        return {"name": self.name, "flop_threshold_bits": self.flop_threshold_bits,
                "flop_max_bits": self.flop_max_bits,
                "flop_bit_area_um2": self.flop_bit_area_um2,
                "macros": [m.to_dict(base_dir) for m in self.macros]}

    def to_json(self, path: str | os.PathLike) -> Path:
        """Write the library as JSON; view paths are relative to the file's folder."""
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(path.parent), indent=2) + "\n")
        return path

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "MacroLibrary":
        path = Path(path)
        if not path.is_file():
            raise EIEError(f"macro library file {path} does not exist: give the path of a "
                           f"library JSON file or one of {', '.join(VENDORED_LIBRARIES)}")
        try:
            data = json.loads(path.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise EIEError(f"macro library file {path} is not valid JSON ({e}): fix the file "
                           "(format in eie_hw/macros.py)") from None
        return _library_from_dict(data, path)


# ----------------------------------------------------------------------------- JSON

_REQUIRED = {"name": str, "words": int, "bits": int, "ports": int, "write_mask": bool,
             "area_um2": (int, float), "clk_to_q_ns": (int, float), "setup_ns": (int, float),
             "lib": str, "lef": str}


def _is(value, types) -> bool:
    if isinstance(value, bool) and types is not bool and bool not in (
            types if isinstance(types, tuple) else (types,)):
        return False      # JSON true is not a number
    return isinstance(value, types)


def _library_from_dict(data, path: Path) -> MacroLibrary:
    where = f"macro library file {path}"
    fix = "fix the file (format in eie_hw/macros.py)"
    if not isinstance(data, dict):
        raise EIEError(f"{where} is not a JSON object: {fix}")
    for key in ("name", "macros"):
        if key not in data:
            raise EIEError(f"{where} has no {key!r}: {fix}")
    if not isinstance(data["name"], str) or not data["name"]:
        raise EIEError(f"{where}: 'name' must be a non-empty string: {fix}")
    if not isinstance(data["macros"], list) or not data["macros"]:
        raise EIEError(f"{where}: 'macros' must be a non-empty list: {fix}")
    opts = {}
    for key, types, default in (("flop_threshold_bits", int, DEFAULT_FLOP_THRESHOLD_BITS),
                                ("flop_max_bits", int, DEFAULT_FLOP_MAX_BITS),
                                ("flop_bit_area_um2", (int, float), DEFAULT_FLOP_BIT_AREA_UM2)):
        value = data.get(key, default)
        if not _is(value, types) or value < 0:
            raise EIEError(f"{where}: {key!r} must be a number >= 0, not {value!r}: {fix}")
        opts[key] = value
    base = path.parent
    macros = []
    for i, m in enumerate(data["macros"]):
        macros.append(_macro_from_dict(m, where, i, base, fix))
    names = [m.name for m in macros]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise EIEError(f"{where} names macro(s) {', '.join(sorted(dup))} twice: {fix}")
    return MacroLibrary(data["name"], macros, **opts)


def _macro_from_dict(m, where: str, i: int, base: Path, fix: str) -> Macro:
    """Entry `i` of a library JSON's "macros" list, checked."""
    label = f"{where}, macro #{i}"
    if not isinstance(m, dict):
        raise EIEError(f"{label} is not a JSON object: {fix}")
    if isinstance(m.get("name"), str):
        label = f"{where}, macro {m['name']!r}"
    for key, types in _REQUIRED.items():
        if key not in m:
            raise EIEError(f"{label} has no {key!r}: {fix}")
        if not _is(m[key], types):
            raise EIEError(f"{label}: {key!r} has the wrong type ({m[key]!r}): {fix}")
    if m["words"] <= 0 or m["bits"] <= 0:
        raise EIEError(f"{label} has {m['words']} words x {m['bits']} bits: words and bits "
                       f"must be > 0; {fix}")
    if m["ports"] not in (1, 2):
        raise EIEError(f"{label}: 'ports' is {m['ports']}, use 1 (single port) or 2 "
                       f"(1R1W); {fix}")
    if m["area_um2"] <= 0 or m["clk_to_q_ns"] < 0 or m["setup_ns"] < 0:
        raise EIEError(f"{label}: area must be > 0 and timing >= 0: {fix}")
    views = {}
    for key in ("lib", "lef"):
        p = Path(m[key])
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise EIEError(f"{label}: its {key} view {p} does not exist: copy the view "
                           f"there or fix the path (relative paths are relative to {base})")
        views[key] = p
    leak = m.get("leakage_nw")
    if leak is not None and not _is(leak, (int, float)):
        raise EIEError(f"{label}: 'leakage_nw' has the wrong type ({leak!r}): {fix}")
    size = m.get("lef_size_um")
    if size is not None:
        if (not isinstance(size, list) or len(size) != 2
                or not all(_is(v, (int, float)) for v in size)):
            raise EIEError(f"{label}: 'lef_size_um' must be [width, height]: {fix}")
        size = (float(size[0]), float(size[1]))
    energy = m.get("clock_energy_fj")
    if energy is not None and (not _is(energy, (int, float)) or energy < 0):
        raise EIEError(f"{label}: 'clock_energy_fj' must be a number >= 0, not {energy!r}: {fix}")
    return Macro(m["name"], m["words"], m["bits"], m["ports"], m["write_mask"],
                 float(m["area_um2"]), float(m["clk_to_q_ns"]), float(m["setup_ns"]),
                 views["lib"], views["lef"], None if leak is None else float(leak), size,
                 None if energy is None else float(energy))
