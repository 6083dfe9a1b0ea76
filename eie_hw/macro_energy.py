"""Energy of the memories built from SRAM macros: per access and leakage (issue 14).

A memory mapped onto `rows x cols` macros (eie_hw/macro_mapping.py) enables one row of
`cols` macros per access (the tile wrapper's `ce_in` is the access and the row's bank
select, eie_hw/macro_verilog.py), so an access costs `cols` x the macro's clock energy
(`Macro.clock_energy_fj`: its Liberty view's clock-pin internal power per cycle) and every
one of the `rows x cols` macros leaks all the time (`Macro.leakage_nw`). Counting the
energy per access rather than per clock edge is the point: fakeram45's views charge it
on every edge, enabled or not (docs/hardware_flow.md, "Power").
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import EIEError
from .macro_mapping import Mapping
from .macros import MacroLibrary


@dataclass(frozen=True)
class MemoryEnergy:
    role: str
    access_pj: float      # one read or write
    leakage_mw: float     # every macro of the memory


def memory_energy(mapping: Mapping, library: MacroLibrary) -> MemoryEnergy | None:
    """The energy figures of one mapped memory; None for a memory left in flip-flops
    (its power is the logic's, from STA)."""
    if mapping.kind != "macro":
        return None
    macro = library.macro(mapping.macro)
    if macro.clock_energy_fj is None or macro.leakage_nw is None:
        raise EIEError(f"macro {macro.name} of library {library.name!r} has no "
                       f"{'clock energy' if macro.clock_energy_fj is None else 'leakage'}: "
                       "its Liberty view needs the clock pin's internal_power and "
                       "cell_leakage_power (or give clock_energy_fj / leakage_nw in the "
                       "library JSON)")
    return MemoryEnergy(role=mapping.role,
                        access_pj=mapping.cols * macro.clock_energy_fj / 1000,
                        leakage_mw=mapping.count * macro.leakage_nw / 1e6)


def memories_power(mappings: list[Mapping], library: MacroLibrary, accesses: dict[str, int],
                   cycles: int, clock_ns: float) -> dict[str, dict]:
    """Per macro-built memory (by role): its dynamic power (mW) for `accesses[role]` reads
    and writes in `cycles` cycles of `clock_ns`, its leakage (mW), and the energy of the
    run (nJ). Roles without a count did no access."""
    if cycles <= 0 or clock_ns <= 0:
        raise EIEError(f"{cycles} cycles of {clock_ns} ns: the run needs a length")
    run_ns = cycles * clock_ns
    figures = {}
    for mapping in mappings:
        energy = memory_energy(mapping, library)
        if energy is None:
            continue
        count = accesses.get(mapping.role, 0)
        if count < 0:
            raise EIEError(f"{count} accesses to {mapping.role}: counts are >= 0")
        dynamic_pj = count * energy.access_pj
        figures[mapping.role] = {
            "accesses": count, "access_pj": round(energy.access_pj, 6),
            "dynamic_mw": dynamic_pj / run_ns,          # pJ / ns = mW
            "leakage_mw": energy.leakage_mw,
            "energy_nj": (dynamic_pj + energy.leakage_mw * run_ns) / 1000,
        }
    return figures
