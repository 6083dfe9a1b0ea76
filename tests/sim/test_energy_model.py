"""The energy model (sim/energy_model.py): the model's events priced by the macros'
energy per access and the calibrated logic coefficients, on a tiny layer; the fit."""

import numpy as np
import pytest

from compress.images import pack_layers
from eie_hw.errors import EIEError
from eie_hw.generate import pe_srams
from eie_hw.macro_energy import memory_energy
from eie_hw.macro_mapping import map_design
from eie_hw.macro_views import resolve_library
from helpers import random_layer, small_config
from sim.energy_model import (EVENTS, UNIT_EVENTS, LogicCoefficients, event_counts,
                              fit_logic, layer_energy, memory_accesses)
from sim.perf_model import LayerShape, layer_timing

COEFFS = LogicCoefficients(cycle_pj=1.5, acc_flop_cycle_pj=0.002, mac_pj=0.7, broadcast_pj=2.0,
                           spmat_read_pj=0.3, acc_entry_cycle_pj=-0.01, leakage_mw=0.25,
                           source="test")
ROWS = 24


@pytest.fixture
def tiny():
    rng = np.random.default_rng(3)
    config = small_config(n_pes=4, sram_width=64, spmat_words=2048, ptr_entries=2048)
    images = pack_layers([random_layer(rng, 48, ROWS, 0.3)], config)
    mask = rng.random(48) < 0.5
    timing = layer_timing(LayerShape(images, 0), mask, config.n_pes, config.fifo_depth,
                          config.bcast_width)
    return config, timing


def test_events_are_the_models_counts(tiny):
    config, timing = tiny
    events = event_counts(timing, config, ROWS)
    flops = 2 * config.act_entries * config.acc_bits
    assert events == {"cycle": timing.cycles * 4, "acc_flop_cycle": timing.cycles * 4 * flops,
                      "mac": timing.pe_busy.sum(),
                      "broadcast": timing.broadcasts * 4,
                      "spmat_read": timing.spmat_reads.sum(),
                      "acc_entry_cycle": timing.cycles * ROWS}
    # A layer with more rows than the accumulators hold fills them all.
    assert event_counts(timing, config, 10**6)["acc_entry_cycle"] == \
        timing.cycles * 4 * config.act_entries
    assert memory_accesses(events)["codebook"] == events["mac"]


def test_energy_is_events_times_prices_plus_leakage(tiny):
    config, timing = tiny
    library = resolve_library("fakeram45")
    clock_ns = 2.0
    e = layer_energy(timing, config, ROWS, clock_ns, library, COEFFS)
    n, run_ns = config.n_pes, timing.cycles * clock_ns
    flops = 2 * config.act_entries * config.acc_bits
    logic_pj = (1.5 * timing.cycles * n + 0.002 * timing.cycles * n * flops
                + 0.7 * timing.pe_busy.sum()
                + 2.0 * timing.broadcasts * n + 0.3 * timing.spmat_reads.sum()
                - 0.01 * timing.cycles * ROWS)
    assert e["logic_dynamic_nj"] == pytest.approx(logic_pj / 1e3)
    assert e["logic_leakage_nj"] == pytest.approx(0.25 * n * run_ns / 1e3)
    accesses = {"spmat": timing.spmat_reads.sum(), "ptr_even": timing.broadcasts * n,
                "ptr_odd": timing.broadcasts * n, "codebook": timing.pe_busy.sum()}
    dynamic_pj = leak_mw = 0.0
    for mapping in map_design(pe_srams(config), library):
        energy = memory_energy(mapping, library)
        if energy is not None:
            dynamic_pj += accesses.get(mapping.role, 0) * energy.access_pj
            leak_mw += energy.leakage_mw
    assert dynamic_pj > 0
    assert e["memory_dynamic_nj"] == pytest.approx(dynamic_pj / 1e3)
    assert e["memory_leakage_nj"] == pytest.approx(leak_mw * n * run_ns / 1e3)
    assert e["energy_nj"] == pytest.approx(sum(e[k] for k in (
        "logic_dynamic_nj", "logic_leakage_nj", "memory_dynamic_nj", "memory_leakage_nj")))
    with pytest.raises(EIEError, match="clock period"):
        layer_energy(timing, config, ROWS, 0.0, library, COEFFS)


def test_fit_recovers_the_coefficients():
    """Units priced with known costs (the cycle cost split among them) come back."""
    rng = np.random.default_rng(0)
    cycle_share = {"act_queue": 0.1, "ptr_read": 0.2, "spmat_read": 0.2, "arithm_unit": 0.3,
                   "other": 0.2}
    shared = {"broadcast": 0.5, "mac": 0.5, "cycle": None}     # two units share these
    samples = []
    for _ in range(6):
        events = dict(zip(EVENTS, rng.uniform(100, 5000, len(EVENTS))))
        units = {}
        for unit, own in UNIT_EVENTS.items():
            units[unit] = 0.0
            for event in own:
                share = cycle_share[unit] if event == "cycle" else shared.get(event) or 1.0
                units[unit] += share * getattr(COEFFS, f"{event}_pj") * events[event]
        samples.append({"events_per_pe": events, "unit_dynamic_pj": units,
                        "logic_leakage_mw": 0.25})
    fitted = fit_logic(samples, "test")
    for k in EVENTS:
        assert getattr(fitted, f"{k}_pj") == pytest.approx(getattr(COEFFS, f"{k}_pj"),
                                                           rel=1e-4, abs=1e-6)
    assert fitted.leakage_mw == 0.25
    with pytest.raises(EIEError, match="at least 4"):
        fit_logic(samples[:3], "test")
