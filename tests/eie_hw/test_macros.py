"""SRAM macro libraries and the mapping of memories onto them (eie_hw/macro*.py)."""

import dataclasses
import hashlib
import json
import math
import shutil
from pathlib import Path

import pytest

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.generate import pe_srams, sram_inventory
from eie_hw.macro_mapping import macro_area_by_role, map_design, map_memory
from eie_hw.macro_views import load_library, read_macro_views
from eie_hw.macros import NEEDS_OF_ROLE, READ_AND_WRITE, READ_OR_WRITE, Macro, MacroLibrary

VENDORED = Path(__file__).resolve().parents[2] / "eie_hw" / "macro_libs" / "fakeram45"
SHARED = Path("/work/shared/pdk/fakeram45")


@pytest.fixture(scope="module")
def fakeram45():
    return load_library("fakeram45")


def brute_force(depth, width, needs, library):
    """Every tiling of every usable macro, independently of map_memory: (area, count, name)."""
    best = None
    for m in library.macros:
        if needs == READ_AND_WRITE and m.ports != 2:
            continue
        options = [(-(-width // m.bits), -(-depth // m.words))]
        if m.write_mask:   # any fold that fits (map_memory only tries the largest)
            options += [(1, -(-depth // (m.words * fold)))
                        for fold in range(2, m.bits // width + 1)]
        for cols, rows in options:
            cand = (cols * rows * m.area_um2, cols * rows, m.name)
            best = cand if best is None or cand[:2] < best[:2] else best
    return best


# ----------------------------------------------------------------------------- the library

def test_vendored_views_are_complete_and_byte_exact():
    names = sorted(p.name for p in VENDORED.iterdir())
    assert len([n for n in names if n.endswith(".lib.gz")]) == 11
    assert len([n for n in names if n.endswith(".lef.gz")]) == 11
    assert "LICENSE" in names and "README.md" in names
    if SHARED.is_dir():
        for p in SHARED.glob("*.gz"):
            assert hashlib.sha1((VENDORED / p.name).read_bytes()).digest() == \
                hashlib.sha1(p.read_bytes()).digest(), p.name


def test_fakeram45_read_from_views(fakeram45):
    assert fakeram45.name == "fakeram45"
    assert len(fakeram45.macros) == 11
    m = fakeram45.macro("fakeram45_64x32")
    assert (m.words, m.bits, m.ports, m.write_mask) == (64, 32, 1, True)
    assert m.area_um2 == pytest.approx(1240.624)
    assert m.clk_to_q_ns == pytest.approx(0.207)
    assert m.setup_ns == pytest.approx(0.050)
    assert m.leakage_nw == pytest.approx(81627.2)
    # The clock pin's internal power, rise + fall: 795.762 fJ each (fF x V^2, the view's
    # capacitance unit is 1 fF).
    assert m.clock_energy_fj == pytest.approx(2 * 795.762)
    assert m.lef_size_um == pytest.approx((20.14, 61.6))
    assert m.lib.is_file() and m.lef.is_file()
    big = fakeram45.macro("fakeram45_2048x39")
    assert (big.words, big.bits) == (2048, 39)
    assert big.area_um2 == pytest.approx(45478.818)
    assert big.clk_to_q_ns == pytest.approx(0.435)
    for m in fakeram45.macros:   # area = LEF width x height (README)
        assert m.area_um2 == pytest.approx(m.lef_size_um[0] * m.lef_size_um[1], rel=1e-4)
        assert m.name == f"fakeram45_{m.words}x{m.bits}"


def test_unknown_macro_name(fakeram45):
    with pytest.raises(EIEError, match="no macro 'nope'"):
        fakeram45.macro("nope")


# ----------------------------------------------------------------------------- tiling

def test_depth_not_a_power_of_two(fakeram45):
    m = map_memory(1000, 32, READ_OR_WRITE, fakeram45)
    assert m.kind == "macro"
    macro = fakeram45.macro(m.macro)
    assert m.rows == math.ceil(1000 / (macro.words * m.fold))
    assert (m.area_um2, m.count) == pytest.approx(brute_force(1000, 32, READ_OR_WRITE,
                                                              fakeram45)[:2])
    assert m.efficiency < 1.0


def test_width_wider_than_any_macro(fakeram45):
    m = map_memory(700, 100, READ_OR_WRITE, fakeram45)
    assert m.kind == "macro" and m.cols >= 2 and m.fold == 1
    macro = fakeram45.macro(m.macro)
    assert m.cols * macro.bits >= 100 and m.rows * macro.words >= 700
    assert m.area_um2 == pytest.approx(brute_force(700, 100, READ_OR_WRITE, fakeram45)[0])


def test_width_narrower_than_any_macro(fakeram45):
    m = map_memory(3000, 5, READ_OR_WRITE, fakeram45)
    assert m.kind == "macro" and m.cols == 1 and m.fold > 1
    assert m.area_um2 == pytest.approx(brute_force(3000, 5, READ_OR_WRITE, fakeram45)[0])


def test_exactly_one_macro(fakeram45):
    m = map_memory(1024, 32, READ_OR_WRITE, fakeram45)
    assert (m.macro, m.cols, m.rows, m.fold, m.count) == ("fakeram45_1024x32", 1, 1, 1, 1)
    assert m.efficiency == 1.0
    assert m.area_um2 == pytest.approx(16406.082)


def test_small_memory_stays_flops(fakeram45):
    m = map_memory(16, 32, READ_OR_WRITE, fakeram45)       # 512 bits < the smallest macro
    assert m.kind == "flops" and m.count == 0 and "threshold" in m.reason
    assert map_memory(32, 32, READ_OR_WRITE, fakeram45).kind == "flops"   # 1024: at it
    assert map_memory(33, 32, READ_OR_WRITE, fakeram45).kind == "macro"


def test_small_memory_with_threshold_zero_takes_one_macro(fakeram45):
    lib = dataclasses.replace(fakeram45, flop_threshold_bits=0)
    m = map_memory(16, 32, READ_OR_WRITE, lib)
    assert m.kind == "macro" and m.count == 1 and m.efficiency < 1.0


def test_deep_narrow_memory_folds(fakeram45):
    m = map_memory(8192, 18, READ_OR_WRITE, fakeram45)
    assert (m.macro, m.cols, m.rows, m.fold, m.count) == ("fakeram45_2048x39", 1, 2, 2, 2)
    unfolded = min(math.ceil(18 / x.bits) * math.ceil(8192 / x.words) * x.area_um2
                   for x in fakeram45.macros)
    assert m.area_um2 < unfolded


def test_no_folding_without_write_mask(fakeram45):
    lib = dataclasses.replace(fakeram45, macros=[dataclasses.replace(x, write_mask=False)
                                                 for x in fakeram45.macros])
    m = map_memory(8192, 18, READ_OR_WRITE, lib)
    assert m.fold == 1
    assert m.area_um2 == pytest.approx(brute_force(8192, 18, READ_OR_WRITE, lib)[0])
    assert m.area_um2 > map_memory(8192, 18, READ_OR_WRITE, fakeram45).area_um2


SHAPES = [(33, 32), (200, 7), (255, 16), (256, 16), (257, 16), (1000, 20), (1500, 64),
          (2049, 39), (4095, 40), (5000, 3), (8192, 18), (16384, 64), (300, 130),
          (64, 200), (12345, 11), (777, 48), (2048, 1)]


@pytest.mark.parametrize("depth,width", SHAPES)
def test_cheapest_by_brute_force(fakeram45, depth, width):
    m = map_memory(depth, width, READ_OR_WRITE, fakeram45)
    area, count, _ = brute_force(depth, width, READ_OR_WRITE, fakeram45)
    assert m.kind == "macro"
    assert m.area_um2 == pytest.approx(area) and m.count == count
    macro = fakeram45.macro(m.macro)
    # the tiling holds the memory
    assert m.cols * macro.bits >= width * m.fold
    assert m.rows * macro.words * m.fold >= depth
    assert m.macro_bits == m.count * macro.words * macro.bits
    assert 0 < m.efficiency <= 1.0


def test_tie_break_fewer_macros_then_faster(tmp_path):
    def mk(name, words, bits, area, t):
        return Macro(name, words, bits, 1, True, area, t, 0.05, tmp_path / "x", tmp_path / "y")
    lib = MacroLibrary("t", [mk("small", 64, 32, 100.0, 0.1), mk("big", 128, 32, 200.0, 0.3),
                             mk("big_fast", 128, 32, 200.0, 0.2)], flop_threshold_bits=0)
    m = map_memory(128, 32, READ_OR_WRITE, lib)
    assert (m.macro, m.count) == ("big_fast", 1)


def test_read_and_write_needs_two_ports(fakeram45, tmp_path):
    m = map_memory(64, 32, READ_AND_WRITE, fakeram45)
    assert m.kind == "flops" and "2 ports" in m.reason
    two = Macro("rf_64x32", 64, 32, 2, False, 2000.0, 0.3, 0.05, tmp_path / "a", tmp_path / "b")
    lib = dataclasses.replace(fakeram45, macros=[*fakeram45.macros, two])
    m = map_memory(64, 32, READ_AND_WRITE, lib)
    assert (m.kind, m.macro, m.count) == ("macro", "rf_64x32", 1)
    # a 2-port macro serves read_or_write memories too (chosen here only if cheapest)
    assert map_memory(64, 32, READ_OR_WRITE, lib).macro == "fakeram45_64x32"


def test_library_that_cannot_build_a_memory(fakeram45):
    with pytest.raises(EIEError, match=r"pe0\.act\.bank0.*2 ports"):
        map_memory(4096, 32, READ_AND_WRITE, fakeram45, name="pe0.act.bank0")


def test_bad_memory_arguments(fakeram45):
    with pytest.raises(EIEError, match="must be > 0"):
        map_memory(0, 32, READ_OR_WRITE, fakeram45)
    with pytest.raises(EIEError, match="unknown port needs"):
        map_memory(64, 32, "write_only", fakeram45)


# ----------------------------------------------------------------------------- JSON

def one_macro_library(tmp_path, fakeram45, name="fakeram45_256x16"):
    views = tmp_path / "views"
    views.mkdir()
    src = fakeram45.macro(name)
    for p in (src.lib, src.lef):
        shutil.copyfile(p, views / p.name)
    macro = dataclasses.replace(src, lib=views / src.lib.name, lef=views / src.lef.name)
    lib = MacroLibrary("one", [macro], flop_threshold_bits=512)
    return lib.to_json(tmp_path / "one.json")


def test_json_library_with_one_macro(tmp_path, fakeram45):
    path = one_macro_library(tmp_path, fakeram45)
    data = json.loads(path.read_text())
    assert data["macros"][0]["lib"] == "views/fakeram45_256x16.lib.gz"   # relative
    lib = load_library(str(path))
    assert lib.name == "one" and lib.flop_threshold_bits == 512
    assert lib.macros[0] == dataclasses.replace(fakeram45.macro("fakeram45_256x16"),
                                                lib=tmp_path / "views/fakeram45_256x16.lib.gz",
                                                lef=tmp_path / "views/fakeram45_256x16.lef.gz")
    m = map_memory(1000, 20, READ_OR_WRITE, lib)
    assert (m.macro, m.cols, m.rows, m.fold, m.count) == ("fakeram45_256x16", 2, 4, 1, 8)
    m = map_memory(1000, 8, READ_OR_WRITE, lib)       # folds two 8-bit words per word
    assert (m.cols, m.rows, m.fold, m.count) == (1, 2, 2, 2)
    assert map_memory(32, 16, READ_OR_WRITE, lib).kind == "flops"
    # the folder can be moved as a whole
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    shutil.copytree(tmp_path, moved)
    assert load_library(moved / "one.json").macros[0].lib == moved / "views/fakeram45_256x16.lib.gz"
    # the views read back as the JSON says
    again = read_macro_views(lib.macros[0].lib, lib.macros[0].lef)
    assert again == lib.macros[0]


def test_vendored_library_round_trips_through_json(tmp_path, fakeram45):
    path = fakeram45.to_json(tmp_path / "lib.json")
    again = load_library(path)
    assert [m.name for m in again.macros] == [m.name for m in fakeram45.macros]
    assert [dataclasses.replace(m, lib=m.lib.resolve(), lef=m.lef.resolve()) for m in again.macros] \
        == [dataclasses.replace(m, lib=m.lib.resolve(), lef=m.lef.resolve())
            for m in fakeram45.macros]


def test_missing_library_file(tmp_path):
    with pytest.raises(EIEError, match="does not exist.*fakeram45"):
        load_library(str(tmp_path / "nope.json"))


def test_missing_macro_view(tmp_path, fakeram45):
    path = one_macro_library(tmp_path, fakeram45)
    (tmp_path / "views" / "fakeram45_256x16.lef.gz").unlink()
    with pytest.raises(EIEError, match=r"fakeram45_256x16.*lef view .* does not exist"):
        load_library(path)


def edit(path, change):
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("change,message", [
    (lambda d: d.pop("macros"), "has no 'macros'"),
    (lambda d: d.update(macros=[]), "non-empty list"),
    (lambda d: d["macros"][0].pop("area_um2"), "has no 'area_um2'"),
    (lambda d: d["macros"][0].update(words="256"), "'words' has the wrong type"),
    (lambda d: d["macros"][0].update(write_mask=1), "'write_mask' has the wrong type"),
    (lambda d: d["macros"][0].update(bits=True), "'bits' has the wrong type"),
    (lambda d: d["macros"][0].update(words=0), "0 words"),
    (lambda d: d["macros"][0].update(ports=3), "'ports' is 3"),
    (lambda d: d.update(flop_threshold_bits=-1), "flop_threshold_bits"),
    (lambda d: d["macros"].append(dict(d["macros"][0])), "twice"),
    (lambda d: d["macros"][0].update(lef_size_um=[1]), "lef_size_um"),
    (lambda d: d["macros"][0].update(clock_energy_fj=-1), "'clock_energy_fj' must be"),
    (lambda d: d["macros"][0].update(clock_energy_fj="7"), "'clock_energy_fj' must be"),
])
def test_malformed_library(tmp_path, fakeram45, change, message):
    path = edit(one_macro_library(tmp_path, fakeram45), change)
    with pytest.raises(EIEError, match=message):
        load_library(path)


def test_library_not_json(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{ not json")
    with pytest.raises(EIEError, match="not valid JSON"):
        load_library(path)
    path.write_text("[1, 2]")
    with pytest.raises(EIEError, match="not a JSON object"):
        load_library(path)


def test_broken_liberty_view(tmp_path, fakeram45):
    lib = tmp_path / "x.lib"
    lib.write_text("library(x) { cell(x) { area : 1.0; }")
    with pytest.raises(EIEError, match="not valid Liberty"):
        read_macro_views(lib, fakeram45.macros[0].lef)
    lib.write_text("library(x) { cell(x) { area : 1.0; } }")
    with pytest.raises(EIEError, match="no cell with a memory"):
        read_macro_views(lib, fakeram45.macros[0].lef)


# ----------------------------------------------------------------------------- the design

def test_needs_of_every_role():
    assert set(NEEDS_OF_ROLE) == {s.role for s in sram_inventory(EIEConfig(n_pes=1))}
    assert {r for r, n in NEEDS_OF_ROLE.items() if n == READ_AND_WRITE} == {"acc0", "acc1"}


def test_unknown_role(fakeram45):
    s = dataclasses.replace(pe_srams(EIEConfig())[0], role="mystery")
    with pytest.raises(EIEError, match="mystery"):
        map_design([s], fakeram45)


def per_pe_report(mappings) -> str:
    lines = ["per-PE mapping onto fakeram45:"]
    for m in mappings:
        if m.kind == "macro":
            lines.append(f"  {m.role:9s} {m.depth}x{m.width}: {m.macro} {m.cols}x{m.rows}"
                         f"x{m.fold} = {m.count} macros, {m.area_um2:,.0f} um2, "
                         f"eff {m.efficiency:.3f}")
        else:
            lines.append(f"  {m.role:9s} {m.depth}x{m.width}: flops ({m.reason}), "
                         f"~{m.area_um2:,.0f} um2 est.")
    total = macro_area_by_role(mappings)["total"]
    lines.append(f"  macro area per PE: {total:,.0f} um2 (paper Table II: 594,786 um2 memory)")
    return "\n".join(lines)


def test_paper_configuration(fakeram45):
    config = EIEConfig()
    srams = sram_inventory(config)
    mappings = map_design(srams, fakeram45)
    assert len(mappings) == len(srams)
    for s, m in zip(srams, mappings):
        assert (m.name, m.role, m.depth, m.width) == (s.path, s.role, s.depth, s.width)
        json.dumps(m.to_dict())
        if s.bits > fakeram45.flop_threshold_bits and NEEDS_OF_ROLE[s.role] == READ_OR_WRITE:
            assert m.kind == "macro", m
        if m.kind == "flops":
            assert (s.bits <= fakeram45.flop_threshold_bits
                    or NEEDS_OF_ROLE[s.role] == READ_AND_WRITE), m
    pe0 = [m for m in mappings if m.name.startswith("pe0.")]
    report = per_pe_report(pe0)
    print(report)
    areas = macro_area_by_role(pe0)
    assert areas["total"] == pytest.approx(714353.64, rel=1e-6), report
    assert {m.role: (m.macro, m.cols, m.rows, m.fold) for m in pe0 if m.kind == "macro"} == {
        "spmat": ("fakeram45_1024x32", 2, 16, 1),
        "ptr_even": ("fakeram45_2048x39", 1, 2, 2),
        "ptr_odd": ("fakeram45_2048x39", 1, 2, 2),
        "codebook": ("fakeram45_64x32", 1, 2, 2),
        "bias": ("fakeram45_64x32", 1, 4, 1),
    }, report
    # every PE maps the same way
    for p in range(config.n_pes):
        pe = [m for m in mappings if m.name.startswith(f"pe{p}.")]
        assert [m.to_dict() | {"path": ""} for m in pe] == [m.to_dict() | {"path": ""}
                                                             for m in pe0]
