"""The generated Verilog on Verilator (cocotb): bit-exact against the golden model and
cycle-exact against the Amaranth simulator.

Builds are cached per configuration (a hash of the generated Verilog): tests with the
same configuration share one build. The cache lives in a per-session temporary
directory, or in $EIE_VERILATOR_BUILD when set (e.g. `build/verilator`, so that re-running
the tests does not recompile).
"""

import os

import numpy as np
import pytest

pytest.importorskip("cocotb_tools.runner")

from compress.images import pack_layers  # noqa: E402
from compress.manifest import write_images  # noqa: E402
from eie_hw.errors import EIEError  # noqa: E402
from sim.amaranth_backend import run_amaranth  # noqa: E402
from sim.golden import GoldenModel  # noqa: E402
from sim.perf_model import run_model  # noqa: E402
from sim.verilator_backend import (BUILD_ROOT_ENV, build_design, report_fields,  # noqa: E402
                                   run_verilator)

from helpers import (assert_matches_golden, assert_same_counters, random_inputs,  # noqa: E402
                     random_network, small_config)


@pytest.fixture(scope="session")
def build_root(tmp_path_factory):
    from eie_hw.tools import verilator_env
    try:
        verilator_env()
    except EIEError as exc:
        pytest.skip(str(exc))
    explicit = os.environ.get(BUILD_ROOT_ENV)
    return explicit if explicit else tmp_path_factory.mktemp("verilator-build")


def prepare(tmp_path, rng, config, dims, density=0.3, samples=2):
    # No coin toss for the bias: every network has layers with and without one.
    layers = random_network(rng, dims, density, config, bias=lambda k: k != 1)
    images = pack_layers(layers, config)
    write_images(images, tmp_path / "model")
    x = random_inputs(rng, samples, dims[0], 0.35)
    x[0, 0] = 0                                 # at least one zero
    x[0, -1] = -abs(x[0, -1]) - 0.5             # and one negative
    golden = GoldenModel(images).run(inputs_float=x)
    return images, golden


# (n_pes, fifo_depth, sram_width, bcast_width): the last one broadcasts 2 columns at once.
CONFIGS = [(2, 1, 32, 1), (3, 2, 64, 1), (4, 8, 128, 2)]
# Builds take most of this file's time (about 20-40 s each on 2 cores), so the tests share
# three: the first configuration is built (only) with VCD tracing support, which the
# waveform test needs anyway; tracing is off unless a run asks for waves.
TRACED = {CONFIGS[0]: "vcd"}
# The two runs, as assert_same_counters names them when they differ.
NAMES = ("Verilator", "Amaranth")


def run_on(tmp_path, images, golden, config, build_root, **kw):
    key = (config.n_pes, config.fifo_depth, config.sram_width, config.bcast_width)
    kw.setdefault("build_waves", TRACED.get(key))
    return run_verilator(tmp_path / "model", images, golden.inputs, config,
                         build_root=build_root, **kw)


@pytest.mark.parametrize("n_pes,fifo_depth,sram_width,bcast_width", CONFIGS)
def test_backdoor_bit_exact_and_cycle_exact(tmp_path, build_root, n_pes, fifo_depth,
                                            sram_width, bcast_width):
    rng = np.random.default_rng(1000 + 100 * n_pes + fifo_depth + sram_width)
    config = small_config(n_pes, fifo_depth, sram_width, bcast_width)
    dims = [int(d) for d in rng.integers(2 * n_pes + 4, 8 * n_pes + 24, 3)]
    images, golden = prepare(tmp_path, rng, config, dims)
    run = run_on(tmp_path, images, golden, config, build_root)
    assert run.waves is None
    assert_matches_golden(run, golden)
    assert_same_counters(run, run_amaranth(images, golden.inputs, config), NAMES)
    # The performance model predicts the RTL's every counter exactly (issue 6).
    assert_same_counters(run, run_model(images, golden, config), ("Verilator", "model"))
    assert run.total_cycles[0] > 0 and run.host_cycles > sum(run.total_cycles)


def test_host_port_loading(tmp_path, build_root):
    rng = np.random.default_rng(21)
    config = small_config(*CONFIGS[2])
    images, golden = prepare(tmp_path, rng, config, [13, 17, 7], samples=1)
    run = run_on(tmp_path, images, golden, config, build_root, load_via_host=True)
    assert_matches_golden(run, golden)
    amaranth = run_amaranth(images, golden.inputs, config, load_via_host=True)
    assert_same_counters(run, amaranth, NAMES)


def test_three_layer_network_with_fillers(tmp_path, build_root):
    rng = np.random.default_rng(22)
    config = small_config(*CONFIGS[1])
    # 60 rows over 3 PEs at 4 % density: gaps of more than 15 local rows need fillers.
    images, golden = prepare(tmp_path, rng, config, [24, 60, 40, 9], density=0.04)
    assert len(images.layers) == 3
    assert sum(sum(d.fillers) for d in images.layers) > 0
    run = run_on(tmp_path, images, golden, config, build_root)
    assert_matches_golden(run, golden)
    assert_same_counters(run, run_amaranth(images, golden.inputs, config), NAMES)


def test_design_fifo_depth_differs_from_the_packed_one(tmp_path, build_root):
    """fifo_depth is not a packing field: images packed for depth 8 run on depth 2."""
    rng = np.random.default_rng(23)
    packed = small_config(3, 8, 64)
    images, golden = prepare(tmp_path, rng, packed, [20, 30, 8], samples=1)
    design = small_config(*CONFIGS[1])
    run = run_on(tmp_path, None, golden, design, build_root)
    assert_matches_golden(run, golden)
    assert_same_counters(run, run_amaranth(images, golden.inputs, design), NAMES)


def test_vcd_waveform(tmp_path, build_root):
    rng = np.random.default_rng(24)
    config = small_config(*CONFIGS[0])
    images, golden = prepare(tmp_path, rng, config, [8, 10, 4], samples=1)
    run = run_on(tmp_path, images, golden, config, build_root, waves="vcd",
                 work_dir=tmp_path / "run")
    assert_matches_golden(run, golden)
    assert run.waves == tmp_path / "run" / "dump.vcd"
    text = run.waves.read_text(errors="replace")
    assert "$enddefinitions" in text and "busy" in text and "cmd__payload" in text
    assert run.waves.stat().st_size > 10_000
    assert report_fields(run)["waves"] == str(run.waves)


def test_build_is_cached(build_root):
    config = small_config(*CONFIGS[1])
    design, build_dir, _ = build_design(config, build_root)
    again, build_dir_again, seconds = build_design(config, build_root)
    assert seconds == 0.0 and build_dir_again == build_dir
    assert (build_dir / design.top).is_file()
    assert [p.read_bytes() for p in again.verilog_files] == \
        [p.read_bytes() for p in design.verilog_files]


def test_bad_waveform_format_is_a_clear_error(tmp_path, build_root):
    config = small_config(*CONFIGS[0])
    with pytest.raises(EIEError, match="vcd, fst"):
        build_design(config, build_root, waves="ghw")


# Memories on SRAM macros (`--macros fakeram45`): the Spmat (256 x 64), pointer banks and
# bias (64 x 32) become fakeram45_64x32 tiles, the codebook (128 x 16) folds two words into
# one macro word under the write mask; the accumulator banks (32 x 32) and the CCU's tables
# stay flip-flops. The wrapper is cycle-equal to the behavioural eie_sram, so every counter
# equals the unmapped design's (the model's), and the macros' single port holds: the
# wrapper stops the simulation with $error if a memory is ever read and written in one cycle.
MACRO_CONFIG = dict(n_pes=2, fifo_depth=4, sram_width=64, max_layers=8)


@pytest.mark.parametrize("load", ["backdoor", "host"])
def test_design_on_sram_macros_is_bit_exact(tmp_path, build_root, load):
    from eie_hw.macro_mapping import map_design
    from eie_hw.macro_views import load_library
    from eie_hw.generate import sram_inventory

    rng = np.random.default_rng(31)
    config = small_config(**MACRO_CONFIG)
    kinds = {m.role: (m.kind, m.fold) for m in map_design(sram_inventory(config),
                                                          load_library("fakeram45"))}
    assert kinds["spmat"][0] == kinds["bias"][0] == "macro" and kinds["codebook"] == ("macro", 2)
    assert kinds["acc0"][0] == "flops"
    images, golden = prepare(tmp_path, rng, config, [30, 40, 9], samples=2)
    run = run_on(tmp_path, images, golden, config, build_root, macros="fakeram45",
                 load_via_host=load == "host")
    assert_matches_golden(run, golden)
    assert_same_counters(run, run_model(images, golden, config), ("Verilator", "model"))
    rtl = {p.name for p in build_design(config, build_root, macros="fakeram45").design
           .verilog_files}
    assert rtl == {"macro_models.v", "eie_sram_macros.v", "eie_top.v"}
