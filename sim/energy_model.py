"""Energy of a layer from the performance model's event counts (issue 14).

Memories are exact in the model's terms: every access the RTL makes is an event the model
counts (measured equal in `eie power`'s traces: a Spmat read per word walked, one read of
each pointer bank per broadcast, one codebook read per MAC), times the macro's energy per
access (eie_hw/macro_energy.py), plus every macro's leakage for the layer's time.

Logic is calibrated on `eie power` runs of the paper configuration
(bench/bench_energy.py), unit by unit: each unit's dynamic energy is fitted on its clocked
base and its own event (`UNIT_EVENTS`: act queue and PtrRead: cycles and broadcasts;
SpmatRead: cycles and Spmat word reads; ArithmUnit: cycles and MACs; ActRW: its
accumulator flip-flops' cycles, MACs (the destination read and write go with each) and
the accumulator entries in use, see below; the host port and PE glue: cycles). The
units' coefficients add up to a dynamic energy per PE per clock cycle (mostly flip-flop
clock pins, which switch every cycle), per accumulator flip-flop per cycle (so that a
configuration with more or wider entries pays for them), per MAC, per broadcast (the
pointer read goes with each), per Spmat word read, and per accumulator entry in use per
cycle, plus the logic's leakage power. The last term is there because Nangate45's
flip-flops take a clock energy that depends on the state they hold (`when` conditions on
the clock pin's internal power): the accumulator flip-flops clock at another cost when a
layer has filled 64 rows per PE than when it uses 16 and the rest hold 0. Other changes
to the PE's logic (FIFO depth, Spmat word width, broadcast width) scale only the events,
not the cost of each: the calibration is the paper configuration's.
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

EVENTS = ("cycle", "acc_flop_cycle", "mac", "broadcast", "spmat_read", "acc_entry_cycle")
# Each unit's clocked base and own events (Table II's units, as in
# eie_hw/synth_report.TABLE_II_UNITS, and "other"): the fit regresses a unit's dynamic
# energy on these. ActRW's clock cost is per accumulator flip-flop, so that a
# configuration with more (or wider) accumulator entries pays for them.
UNIT_EVENTS = {"act_queue": ("cycle", "broadcast"), "ptr_read": ("cycle", "broadcast"),
               "spmat_read": ("cycle", "spmat_read"), "arithm_unit": ("cycle", "mac"),
               "act_rw": ("acc_flop_cycle", "mac", "acc_entry_cycle"), "other": ("cycle",)}
SIGNED_EVENTS = ("acc_entry_cycle",)    # a state-dependent cost: it may be a saving


@dataclass(frozen=True)
class LogicCoefficients:
    """Per PE: dynamic pJ per event, and the logic's leakage in mW."""
    cycle_pj: float
    acc_flop_cycle_pj: float
    mac_pj: float
    broadcast_pj: float
    spmat_read_pj: float
    acc_entry_cycle_pj: float
    leakage_mw: float
    source: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


CALIBRATION_FILE = Path(__file__).with_name("energy_calibration.json")


@functools.lru_cache(maxsize=1)
def calibrated() -> LogicCoefficients:
    """The coefficients `python bench/bench_energy.py` fitted (sim/energy_calibration.json:
    `eie power` runs of the paper configuration, Nangate45 typical, fakeram45)."""
    try:
        data = json.loads(CALIBRATION_FILE.read_text())
        return LogicCoefficients(**data["coefficients"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EIEError(f"the energy model's calibration {CALIBRATION_FILE} is unreadable "
                       f"({exc}): reinstall eie, or run bench/bench_energy.py") from None


def event_counts(timing, config: EIEConfig, rows: int) -> dict[str, float]:
    """The model's events of one layer of `rows` outputs on `config`, summed over the PEs
    (a `LayerTiming`): a PE has 2 x act_entries x acc_bits accumulator flip-flops and
    holds about rows / n_pes of its entries."""
    n = config.n_pes
    in_use = min(rows, n * config.act_entries)
    return {"cycle": float(timing.cycles) * n,
            "acc_flop_cycle": float(timing.cycles) * n * 2 * config.act_entries
            * config.acc_bits,
            "mac": float(np.sum(timing.pe_busy)),
            "broadcast": float(timing.broadcasts) * n,
            "spmat_read": float(np.sum(timing.spmat_reads)),
            "acc_entry_cycle": float(timing.cycles) * in_use}


def memory_accesses(events: dict[str, float]) -> dict[str, float]:
    """Macro accesses per memory role for the events (whole accelerator)."""
    return {"spmat": events["spmat_read"], "ptr_even": events["broadcast"],
            "ptr_odd": events["broadcast"], "codebook": events["mac"], "bias": 0.0}


def _mappings(config: EIEConfig, library):
    from eie_hw.generate import pe_srams
    from eie_hw.macro_mapping import map_design
    return map_design(pe_srams(config), library)


def energy_terms(timing, config: EIEConfig, rows: int, library=None,
                 coefficients: LogicCoefficients | None = None, mappings=None) -> dict:
    """One layer on the whole accelerator: its dynamic energy (nJ, clock-independent),
    split into logic and memory, and its static power (mW: leakage)."""
    from eie_hw.macro_energy import memory_energy
    from eie_hw.macro_views import resolve_library
    coefficients = coefficients or calibrated()
    library = library if library is not None else resolve_library("fakeram45")
    mappings = mappings if mappings is not None else _mappings(config, library)
    events = event_counts(timing, config, rows)
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


def layer_energy(timing, config: EIEConfig, rows: int, clock_ns: float, library=None,
                 coefficients: LogicCoefficients | None = None, mappings=None) -> dict:
    """Energy (nJ) of one layer on the whole accelerator at `clock_ns`, split into logic
    and memory, dynamic and leakage; `library` the macro library (default fakeram45)."""
    if clock_ns <= 0:
        raise EIEError(f"clock period {clock_ns} ns: give one above 0")
    t = energy_terms(timing, config, rows, library, coefficients, mappings)
    run_ns = timing.cycles * clock_ns
    out = {"logic_dynamic_nj": t["logic_dynamic_nj"],
           "logic_leakage_nj": t["logic_static_mw"] * run_ns / 1e3,
           "memory_dynamic_nj": t["memory_dynamic_nj"],
           "memory_leakage_nj": t["memory_static_mw"] * run_ns / 1e3, "events": t["events"]}
    out["energy_nj"] = t["dynamic_nj"] + t["static_mw"] * run_ns / 1e3
    return out


def fit_logic(samples: list[dict], source: str) -> LogicCoefficients:
    """Coefficients from `eie power` runs: per sample the mean PE's events
    (`events_per_pe`), each unit's dynamic energy in pJ (`unit_dynamic_pj`) and the
    logic's leakage (`logic_leakage_mw`). Each unit is fitted (least squares, the
    coefficients >= 0 but the signed ones) on its `UNIT_EVENTS`; the leakage is the mean
    (it does not depend on the layer)."""
    from scipy.optimize import lsq_linear
    most = max(len(e) for e in UNIT_EVENTS.values())
    if len(samples) < most + 1:
        raise EIEError(f"{len(samples)} calibration runs: give at least {most + 1} (a unit "
                       f"has {most} coefficients)")
    total = dict.fromkeys(EVENTS, 0.0)
    for unit, keys in UNIT_EVENTS.items():
        a = np.array([[s["events_per_pe"][k] for k in keys] for s in samples])
        b = np.array([s["unit_dynamic_pj"][unit] for s in samples])
        scale = np.abs(a).max(axis=0)
        scale[scale == 0] = 1
        low = [-np.inf if k in SIGNED_EVENTS else 0.0 for k in keys]
        x = lsq_linear(a / scale, b, bounds=(low, [np.inf] * len(keys))).x / scale
        for key, value in zip(keys, x):
            total[key] += float(value)
    leak = float(np.mean([s["logic_leakage_mw"] for s in samples]))
    return LogicCoefficients(**{f"{k}_pj": round(v, 6) for k, v in total.items()},
                             leakage_mw=round(leak, 6), source=source)
