"""Energy of a layer from the performance model's event counts (issue 14).

Memories are exact in the model's terms: every access the RTL makes is an event the model
counts (measured equal in `eie power`'s traces: a Spmat read per word walked, one read of
each pointer bank per broadcast, one codebook read per MAC), times the macro's energy per
access (eie_hw/macro_energy.py), plus every macro's leakage for the layer's time.

Logic is calibrated on `eie power` runs of the paper configuration
(bench/bench_energy.py): per PE, a dynamic energy per clock cycle (the flip-flops' clock
pins, which switch every cycle), per MAC (arithmetic unit, codebook decode, the
destination activation read and write), per broadcast (pointer read, FIFO) and per Spmat
word read (SpmatRead's decode), plus the logic's leakage power. The activation read and
write are one event with the MAC and the pointer read one with the broadcast: the RTL
makes them in lockstep, so no run can tell them apart.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

EVENTS = ("cycle", "mac", "broadcast", "spmat_read")


@dataclass(frozen=True)
class LogicCoefficients:
    """Per PE: dynamic pJ per event, and the logic's leakage in mW."""
    cycle_pj: float
    mac_pj: float
    broadcast_pj: float
    spmat_read_pj: float
    leakage_mw: float
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


CALIBRATION_FILE = Path(__file__).with_name("energy_calibration.json")


def calibrated() -> LogicCoefficients:
    """The coefficients `python bench/bench_energy.py` fitted (sim/energy_calibration.json:
    `eie power` runs of the paper configuration, Nangate45 typical, fakeram45)."""
    try:
        data = json.loads(CALIBRATION_FILE.read_text())
        return LogicCoefficients(**data["coefficients"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EIEError(f"the energy model's calibration {CALIBRATION_FILE} is unreadable "
                       f"({exc}): reinstall eie, or run bench/bench_energy.py") from None


def event_counts(timing, n_pes: int) -> dict[str, float]:
    """The model's events of one layer, summed over the PEs (a `LayerTiming`)."""
    return {"cycle": float(timing.cycles) * n_pes,
            "mac": float(np.sum(timing.pe_busy)),
            "broadcast": float(timing.broadcasts) * n_pes,
            "spmat_read": float(np.sum(timing.spmat_reads))}


def memory_accesses(events: dict[str, float]) -> dict[str, float]:
    """Macro accesses per memory role for the events (whole accelerator)."""
    return {"spmat": events["spmat_read"], "ptr_even": events["broadcast"],
            "ptr_odd": events["broadcast"], "codebook": events["mac"], "bias": 0.0}


def _mappings(config: EIEConfig, library):
    from eie_hw.generate import pe_srams
    from eie_hw.macro_mapping import map_design
    return map_design(pe_srams(config), library)


def energy_terms(timing, config: EIEConfig, library=None,
                 coefficients: LogicCoefficients | None = None, mappings=None) -> dict:
    """One layer on the whole accelerator: its dynamic energy (nJ, clock-independent),
    split into logic and memory, and its static power (mW: leakage)."""
    from eie_hw.macro_energy import memory_energy
    from eie_hw.macro_views import resolve_library
    coefficients = coefficients or calibrated()
    library = library if library is not None else resolve_library("fakeram45")
    mappings = mappings if mappings is not None else _mappings(config, library)
    events = event_counts(timing, config.n_pes)
    accesses = memory_accesses(events)
    memory_dynamic = memory_static = 0.0
    for mapping in mappings:
        energy = memory_energy(mapping, library)
        if energy is not None:
            memory_dynamic += accesses.get(mapping.role, 0.0) * energy.access_pj / 1e3
            memory_static += energy.leakage_mw * config.n_pes
    logic_dynamic = sum(events[e] * getattr(coefficients, f"{e}_pj") for e in EVENTS) / 1e3
    return {"logic_dynamic_nj": logic_dynamic, "memory_dynamic_nj": memory_dynamic,
            "dynamic_nj": logic_dynamic + memory_dynamic,
            "logic_static_mw": coefficients.leakage_mw * config.n_pes,
            "memory_static_mw": memory_static,
            "static_mw": coefficients.leakage_mw * config.n_pes + memory_static,
            "events": events}


def layer_energy(timing, config: EIEConfig, clock_ns: float, library=None,
                 coefficients: LogicCoefficients | None = None, mappings=None) -> dict:
    """Energy (nJ) of one layer on the whole accelerator at `clock_ns`, split into logic
    and memory, dynamic and leakage; `library` the macro library (default fakeram45)."""
    if clock_ns <= 0:
        raise EIEError(f"clock period {clock_ns} ns: give one above 0")
    t = energy_terms(timing, config, library, coefficients, mappings)
    run_ns = timing.cycles * clock_ns
    out = {"logic_dynamic_nj": t["logic_dynamic_nj"],
           "logic_leakage_nj": t["logic_static_mw"] * run_ns / 1e3,
           "memory_dynamic_nj": t["memory_dynamic_nj"],
           "memory_leakage_nj": t["memory_static_mw"] * run_ns / 1e3, "events": t["events"]}
    out["energy_nj"] = t["dynamic_nj"] + t["static_mw"] * run_ns / 1e3
    return out


def fit_logic(samples: list[dict], source: str) -> LogicCoefficients:
    """Coefficients from `eie power` reports' per-PE logic figures and event counts:
    non-negative least squares of the dynamic energy on the events; the leakage is the
    mean of the measured ones (it does not depend on the layer)."""
    from scipy.optimize import nnls
    if len(samples) < len(EVENTS):
        raise EIEError(f"{len(samples)} calibration runs for {len(EVENTS)} coefficients: "
                       f"give at least {len(EVENTS)}")
    a = np.array([[s["events_per_pe"][e] for e in EVENTS] for s in samples])
    b = np.array([s["logic_dynamic_pj_per_pe"] for s in samples])
    scale = a.max(axis=0)
    scale[scale == 0] = 1
    x, _ = nnls(a / scale, b)
    x = x / scale
    leak = float(np.mean([s["logic_leakage_mw_per_pe"] for s in samples]))
    return LogicCoefficients(*(round(float(v), 6) for v in x), leakage_mw=round(leak, 6),
                             source=source)
