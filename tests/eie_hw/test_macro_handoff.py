"""`eie generate --macros`: the memories on SRAM macros, and an ORFS hand-off for a macro
design that is complete by content (OpenROAD itself cannot be installed here)."""

import argparse
import gzip
import json
import re
import shutil

import pytest

from eie_hw.cli_hw import add_generate_parser, cmd_generate
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from eie_hw.generate import generate
from eie_hw.macro_views import load_library
from eie_hw.macros import MacroLibrary

from helpers import makefile_variables, small_config

# Spmat 256 x 64, pointer banks and bias on fakeram45_64x32; codebook 128 x 16 folded;
# accumulators 32 x 32 and the CCU's tables flip-flops.
CONFIG = small_config(2, 4, 64, max_layers=8)

# What ORFS reads for a macro design (ORFS's nangate45/swerv_wrapper is the model).
ORFS_MACRO_DESIGN = ("DESIGN_NAME", "PLATFORM", "VERILOG_FILES", "SDC_FILE", "CLOCK_PERIOD",
                     "ADDITIONAL_LEFS", "ADDITIONAL_LIBS", "DIE_AREA", "CORE_AREA",
                     "PLACE_DENSITY", "MACRO_PLACE_HALO", "SYNTH_HIERARCHICAL",
                     "IO_CONSTRAINTS")


@pytest.fixture(scope="module")
def design(tmp_path_factory):
    return generate(CONFIG, tmp_path_factory.mktemp("macros") / "rtl", macros="fakeram45")


def check_hand_off(folder, top="eie_top"):
    """Every ORFS variable set, every file config.mk names present, views of every macro
    the wrapper instantiates listed; returns the variables."""
    variables = makefile_variables((folder / "config.mk").read_text())
    for name in ORFS_MACRO_DESIGN:
        assert variables.get(name), name
    assert "CORE_UTILIZATION" not in variables       # it would win over DIE_AREA
    named = re.findall(r"\$\(EIE_DESIGN_DIR\)/(\S+)", " ".join(variables.values()))
    missing = [rel for rel in named if not (folder / rel).is_file()]
    assert not missing, missing
    files = [f.split("/")[-1] for f in variables["VERILOG_FILES"].split()]
    assert files == ["eie_sram_macros.v", f"{top}.v"]          # no simulation model
    wrapper = (folder / "eie_sram_macros.v").read_text()
    used = set(re.findall(r"^\s*(fakeram45_\w+) u_r\d+_c\d+", wrapper, re.M))
    lefs, libs = variables["ADDITIONAL_LEFS"], variables["ADDITIONAL_LIBS"]
    for macro in used:
        assert f"macros/{macro}.lef" in lefs and f"macros/{macro}.lib" in libs
        assert f"MACRO {macro}" in (folder / "macros" / f"{macro}.lef").read_text()
        assert re.search(rf"\bcell\s*\(\s*{macro}\s*\)", (folder / "macros" / f"{macro}.lib").read_text())
    assert len(variables["ADDITIONAL_LEFS"].split()) == len(used)
    x0, y0, x1, y1 = map(float, variables["CORE_AREA"].split())
    d0, e0, d1, e1 = map(float, variables["DIE_AREA"].split())
    assert d0 <= x0 < x1 <= d1 and e0 <= y0 < y1 <= e1
    for value in (x0, x1):                        # nangate45's site grid
        assert abs(value / 0.19 - round(value / 0.19)) < 1e-6
    return variables


def test_the_hand_off_of_a_macro_design_is_complete(design):
    check_hand_off(design.directory)
    assert design.synthesis_files == design.verilog_files[1:]
    assert (design.directory / "files.f").read_text().split() == \
        ["macro_models.v", "eie_sram_macros.v", "eie_top.v"]
    assert not (design.directory / "eie_sram.v").exists()


def test_the_folder_is_self_contained(design, tmp_path):
    moved = tmp_path / "elsewhere" / "design"
    shutil.copytree(design.directory, moved)
    check_hand_off(moved)
    old = str(design.directory)
    for path in moved.rglob("*"):
        if path.is_file():
            assert old not in path.read_text(errors="replace"), path
    # The library file written next to the design points into macros/ and loads again.
    library = load_library(moved / "macro_library.json")
    assert all(m.lib.parent == moved / "macros" for m in library.macros)


def test_srams_json_records_the_macros_of_every_memory(design):
    records = json.loads((design.directory / "srams.json").read_text())
    assert len(records) == len(design.srams)
    by_role = {r["role"]: r["mapping"] for r in records}
    assert by_role["spmat"]["macro"] == "fakeram45_64x32" and by_role["spmat"]["count"] == 8
    assert by_role["codebook"]["fold"] == 2
    assert by_role["acc0"]["kind"] == "flops" and "threshold" in by_role["acc0"]["reason"]
    macros = sum(r["mapping"].get("count", 0) for r in records)
    assert macros == design.macros.floorplan.macro_count


def test_paper_configuration_leaves_no_large_behavioural_memory(tmp_path):
    design = generate(EIEConfig(), tmp_path / "paper", macros="fakeram45")
    variables = check_hand_off(design.directory)
    assert len(design.srams) == 64 * 7 + 2
    for record in json.loads((design.directory / "srams.json").read_text()):
        mapping = record["mapping"]
        if mapping["kind"] == "flops":
            # the accumulators are the paper's activation register files; the rest is tiny
            assert record["role"] in ("acc0", "acc1") or record["bits"] <= 1024, record
    fp = design.macros.floorplan
    assert fp.macro_count == 64 * 42 and fp.core_area_um2 > fp.macro_footprint_um2
    assert {m.split("/")[-1] for m in variables["ADDITIONAL_LIBS"].split()} == {
        "fakeram45_1024x32.lib", "fakeram45_2048x39.lib", "fakeram45_64x32.lib"}


def test_a_one_macro_library_file(tmp_path):
    one = load_library("fakeram45").macro("fakeram45_64x32")
    views = tmp_path / "lib"
    views.mkdir()
    for view in (one.lib, one.lef):         # plain text views, next to the JSON
        (views / view.name.replace(".gz", "")).write_bytes(gzip.decompress(view.read_bytes()))
    library = MacroLibrary("only64x32", [one.__class__(**{
        **one.__dict__, "lib": views / "fakeram45_64x32.lib",
        "lef": views / "fakeram45_64x32.lef"})])
    library.to_json(views / "lib.json")
    design = generate(CONFIG, tmp_path / "rtl", macros=str(views / "lib.json"))
    variables = check_hand_off(design.directory)
    assert variables["ADDITIONAL_LIBS"].endswith("macros/fakeram45_64x32.lib")


def _cli(tmp_path, *extra):
    parser = argparse.ArgumentParser()
    add_generate_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["generate", "--pes", "2", "--max-layers", "8", "-o",
                              str(tmp_path / "out"), *extra])


def test_cli_generate_with_macros(tmp_path, capsys):
    assert cmd_generate(_cli(tmp_path, "--macros", "fakeram45")) == 0
    out = capsys.readouterr().out
    assert "fakeram45_64x32" in out and "flip-flops" in out
    check_hand_off(tmp_path / "out")


@pytest.mark.parametrize("problem,message", [
    ("missing", "does not exist"),
    ("no view", "lib view"),
    ("cannot build", "cannot be built"),
])
def test_bad_libraries_are_one_clear_error(tmp_path, problem, message):
    path = tmp_path / "lib.json"
    one = load_library("fakeram45").macro("fakeram45_64x32").to_dict()
    if problem == "no view":
        one["lib"] = str(tmp_path / "gone.lib")
    if problem == "cannot build":       # single-port only, no flip-flop fallback: the
        one["lef"] = str(load_library("fakeram45").macro("fakeram45_64x32").lef)
        one["lib"] = str(load_library("fakeram45").macro("fakeram45_64x32").lib)
    if problem != "missing":            # accumulators (read and write) cannot be built
        path.write_text(json.dumps({"name": "bad", "flop_max_bits": 0, "macros": [one]}))
    with pytest.raises(EIEError, match=message):
        cmd_generate(_cli(tmp_path, "--macros", str(path)))
    assert not (tmp_path / "out").exists()


def test_a_read_only_memory_of_the_accumulators_shape_is_built_like_them(tmp_path):
    """Bias and accumulators both 64 x 32: one shape, one build (the wrapper dispatches on
    the shape), so the bias becomes a register file as well."""
    config = small_config(2, 4, 64, act_entries=64, bias_entries=64)
    design = generate(config, tmp_path / "rtl", macros="fakeram45")
    kinds = {m.role: m.kind for m in design.macros.mappings}
    assert kinds["bias"] == kinds["acc0"] == "flops" and kinds["spmat"] == "macro"
    check_hand_off(design.directory)
