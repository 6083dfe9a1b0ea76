"""Memory energy from the macros' Liberty views (eie_hw/macro_energy.py), by hand."""

import dataclasses

import pytest

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.generate import pe_srams
from eie_hw.macro_energy import memories_power, memory_energy
from eie_hw.macro_mapping import map_design
from eie_hw.macro_views import load_library


@pytest.fixture(scope="module")
def fakeram45():
    return load_library("fakeram45")


def paper_mappings(library):
    return {m.role: m for m in map_design(pe_srams(EIEConfig()), library)}


def test_spmat_of_the_paper_configuration(fakeram45):
    spmat = paper_mappings(fakeram45)["spmat"]
    # 16,384 x 64 bits on 16 rows x 2 columns of fakeram45_1024x32 (bench/README.md).
    assert (spmat.macro, spmat.rows, spmat.cols) == ("fakeram45_1024x32", 16, 2)
    energy = memory_energy(spmat, fakeram45)
    # An access clocks one row: 2 macros x 2 x 3,566.4 fJ (rise + fall at the clock pin,
    # fakeram45 README); all 32 macros leak 797,666 nW.
    assert energy.access_pj == pytest.approx(2 * 2 * 3566.4 / 1000)
    assert energy.leakage_mw == pytest.approx(32 * 797666 / 1e6)


def test_power_and_energy_of_a_run(fakeram45):
    mappings = list(paper_mappings(fakeram45).values())
    figures = memories_power(mappings, fakeram45, {"spmat": 1000}, cycles=2000, clock_ns=1.25)
    spmat = figures["spmat"]
    access = 2 * 2 * 3566.4 / 1000                       # pJ
    assert spmat["dynamic_mw"] == pytest.approx(1000 * access / 2500)
    assert spmat["energy_nj"] == pytest.approx((1000 * access + 32 * 0.797666 * 2500) / 1000)
    # The pointer banks did no access in this run: leakage only.
    assert figures["ptr_even"]["dynamic_mw"] == 0 and figures["ptr_even"]["leakage_mw"] > 0
    # The accumulators stay flip-flops at the paper configuration: not a macro memory.
    assert "acc0" not in figures and "acc1" not in figures


def test_clear_errors(fakeram45):
    spmat = paper_mappings(fakeram45)["spmat"]
    blind = dataclasses.replace(fakeram45.macro(spmat.macro), clock_energy_fj=None)
    library = dataclasses.replace(fakeram45, macros=[blind])
    with pytest.raises(EIEError, match="has no clock energy.*internal_power"):
        memory_energy(spmat, library)
    with pytest.raises(EIEError, match="needs a length"):
        memories_power([spmat], fakeram45, {}, cycles=0, clock_ns=1.25)
