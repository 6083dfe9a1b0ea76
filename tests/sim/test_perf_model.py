"""The performance model (sim/perf_model.py) against the Amaranth RTL: every counter,
cycle for cycle.

`assert_same_counters(run_hw, run_model)` (tests/helpers.py) is the comparison; a
hardware run from any backend (Amaranth, Verilator) goes through the same helper. The
randomized cases are seeded (deterministic); `EIE_PERF_MODEL_CASES=N` adds N more random
cases for a longer check.
"""

import os

import numpy as np
import pytest

from compress.images import pack_layers
from compress.model import CompressedLayer
from eie_hw.act_rw import ActRW
from eie_hw.ccu import CCU
from eie_hw.errors import EIEError
from sim.amaranth_backend import run_amaranth
from sim.golden import GoldenModel
from sim import perf_model
from sim.perf_model import layer_inputs_from_golden, run_model, run_model_nonzeros

from helpers import assert_same_counters, random_inputs, random_network, small_config

# The draw order and weight fraction this file's seeds were chosen with.
DRAWS = dict(weight_frac=10, order=("codes", "coin", "bias", "codebook"))


def compare(layers, config, x, run_config=None):
    """Amaranth RTL and model on the same images and inputs; returns both runs."""
    images = pack_layers(layers, config)
    golden = GoldenModel(images).run(inputs_float=x)
    hw = run_amaranth(images, golden.inputs, run_config)
    model = run_model(images, golden, run_config)
    assert_same_counters(hw, model)
    return images, golden, hw, model


def random_case(seed, n_pes, fifo_depth, sram_width, special, bcast_width=1):
    """1-3 layers of up to 40 x 40; a random-sparsity sample plus a `special` one."""
    rng = np.random.default_rng(seed)
    per_pe = -(-40 // n_pes)
    config = small_config(n_pes, fifo_depth, sram_width, bcast_width, act_entries=per_pe,
                          bias_entries=3 * per_pe)
    dims = [int(d) for d in rng.integers(1, 41, int(rng.integers(1, 4)) + 1)]
    density = float(rng.choice([0.02, 0.1, 0.25, 0.5]))
    layers = random_network(rng, dims, density, **DRAWS)
    x = random_inputs(rng, 1, dims[0], float(rng.random()))
    extra = np.zeros((1, dims[0])) if special == "zero" else random_inputs(rng, 1, dims[0], 0)
    return layers, config, np.concatenate([x, extra])


@pytest.mark.parametrize("n_pes,fifo_depth,sram_width,special,bcast_width", [
    (1, 1, 32, "dense", 1), (2, 8, 64, "zero", 1), (3, 2, 128, "dense", 1),
    (4, 1, 64, "zero", 1), (8, 2, 32, "dense", 1), (2, 1, 128, "dense", 1),
    (4, 8, 32, "dense", 1), (8, 1, 128, "dense", 1), (8, 8, 64, "zero", 1),
    (3, 8, 32, "zero", 1), (1, 2, 64, "dense", 1),
    (2, 1, 64, "dense", 2), (4, 2, 32, "zero", 4), (8, 1, 64, "dense", 2),
    (8, 8, 128, "dense", 8), (4, 8, 64, "dense", 2), (8, 2, 32, "dense", 4),
])
def test_model_equals_rtl_on_random_networks(n_pes, fifo_depth, sram_width, special,
                                             bcast_width):
    seed = 1000 * n_pes + 100 * fifo_depth + sram_width + bcast_width
    compare(*random_case(seed, n_pes, fifo_depth, sram_width, special, bcast_width))


EXTRA_CASES = int(os.environ.get("EIE_PERF_MODEL_CASES", "0"))


@pytest.mark.skipif(not EXTRA_CASES, reason="set EIE_PERF_MODEL_CASES=N for N more cases")
@pytest.mark.parametrize("index", range(EXTRA_CASES))
def test_model_equals_rtl_on_more_random_networks(index):
    rng = np.random.default_rng(index)
    n_pes = int(rng.choice([1, 2, 3, 4, 8]))
    bcast_width = int(rng.choice([w for w in (1, 2, 4, 8) if n_pes % w == 0]))
    compare(*random_case(int(rng.integers(1 << 30)), n_pes,
                         int(rng.choice([1, 2, 8])), int(rng.choice([32, 64, 128])),
                         str(rng.choice(["zero", "dense"])), bcast_width))


def dense_layer(n_in, n_out, name="dense"):
    codes = np.full((n_out, n_in), 5, dtype=np.uint8)
    values = np.linspace(-0.5, 0.5, 16).astype(np.float32)
    values[0] = 0
    return CompressedLayer(name, codes, values, 12, True)


def test_balanced_dense_layer_with_full_fifos():
    """Every PE has 4 entries per column: broadcasts outrun the PEs and the FIFOs fill."""
    config = small_config(n_pes=4, fifo_depth=2, sram_width=64, act_entries=16)
    _, _, hw, _ = compare([dense_layer(24, 16)], config, np.ones((1, 24)))
    assert hw.stall_cycles[0] > 0
    assert hw.pe_busy[0] == [24 * 4] * 4


def test_fillers_and_fifo_depth_of_the_design_not_of_the_images():
    rng = np.random.default_rng(7)
    config = small_config(n_pes=2, fifo_depth=8, sram_width=64, act_entries=32)
    # 60 rows over 2 PEs at 3 % density: gaps longer than 15 local rows need fillers.
    layers = random_network(rng, [24, 60, 6], 0.03, **DRAWS)
    run_config = small_config(n_pes=2, fifo_depth=1, sram_width=64, act_entries=32)
    images, _, hw, _ = compare(layers, config, random_inputs(rng, 1, 24, 0.2), run_config)
    assert sum(sum(d.fillers) for d in images.layers) > 0


# ------------------------------------------------------------------ model only (fast)

def test_rtl_constants_the_model_is_built_on():
    assert perf_model.SCAN_LATENCY == ActRW.SCAN_LATENCY == 4
    assert perf_model.QUEUE_DEPTH == CCU.QUEUE_DEPTH == 6
    assert perf_model.ARITH_TAIL == 6


def test_balanced_layer_costs_its_work_plus_23():
    """docs/architecture.md, "Cycle cost of a layer": max entries per PE + 23."""
    config = small_config(n_pes=4, fifo_depth=8, sram_width=64, act_entries=16)
    images = pack_layers([dense_layer(6, 64)], config)
    run = run_model_nonzeros(images, [[np.ones(6, bool)]])
    assert run.layer_cycles == [[96 + 23]]
    assert run.stall_cycles == [0]
    assert run.pe_busy == [[96] * 4] and run.macs == [[96] * 4]


def test_input_forms_agree_and_counters_add_up():
    rng = np.random.default_rng(3)
    config = small_config(n_pes=3, fifo_depth=2, sram_width=64, act_entries=16)
    images = pack_layers(random_network(rng, [20, 25, 9], 0.3, **DRAWS), config)
    golden = GoldenModel(images).run(inputs_float=random_inputs(rng, 3, 20, 0.5))
    a = run_model(images, golden)
    b = run_model(images, layer_inputs_from_golden(golden))
    c = run_model_nonzeros(images, [[x != 0 for x in s] for s in layer_inputs_from_golden(golden)])
    assert a == b == c
    for s in range(3):
        assert a.total_cycles[s] == sum(a.layer_cycles[s])
        assert a.stall_cycles[s] == sum(a.layer_stall_cycles[s])
        assert a.pe_busy[s] == np.sum(a.layer_pe_busy[s], axis=0).tolist()
        work = sum(layer.work_per_pe[s] for layer in golden.layers)
        assert a.pe_busy[s] == work.tolist()


def test_all_zero_layer_costs_only_the_scan():
    config = small_config(n_pes=4, fifo_depth=2, act_entries=16)
    images = pack_layers([dense_layer(8, 8)], config)
    run = run_model_nonzeros(images, [[np.zeros(8, bool)]])
    assert run.pe_busy == [[0] * 4] and run.spmat_reads == [[0] * 4]
    assert run.stall_cycles == [0]
    # 2 groups: scan issue at 2, 3; loaded into the group register at 7, 8 (each spends
    # one cycle there); from 9 the scan is finished and every PE idle, which the drain
    # check sees through its register from 10; RUN ends at 11: 12 cycles, all 10 RUN
    # cycles starved (checked on the RTL).
    assert run.layer_cycles == [[12]]
    assert run.pe_starved == [[10] * 4]


def test_bad_arguments():
    config = small_config(n_pes=2, act_entries=16)
    images = pack_layers([dense_layer(4, 4)], config)
    with pytest.raises(EIEError, match="packed for a different"):
        run_model_nonzeros(images, [[np.ones(4, bool)]], small_config(n_pes=4, act_entries=16))
    with pytest.raises(EIEError, match="inputs of 2 layers"):
        run_model_nonzeros(images, [[np.ones(4, bool)] * 2])
    with pytest.raises(EIEError, match="takes 4 activations"):
        run_model_nonzeros(images, [[np.ones(5, bool)]])
