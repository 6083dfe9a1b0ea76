"""The scale run: a 64-PE (or `--pes 256`) design on Verilator, one Alex-7-sized layer.

    python bench/bench_verilator.py [--rows 4096 --cols 4096 --density 0.09
                                     --act-density 0.35 --pes 64 --seed 0 --build-root DIR
                                     --host-load --macros fakeram45 --json FILE]

Design: 64 PEs, FIFO depth 8, 64-bit Spmat words, act_entries 64 (4096 activations per
layer) -- the default `EIEConfig`; with `--pes 256`, 16 activations per PE. Layer: 4096 x 4096 codes, 9 % non-zero, random codes
1..15 and a random float codebook (weight fraction from `choose_weight_frac`), a bias and
ReLU; input: 35 % non-zero activations (negative ones included).

Stages timed: packing + writing the memory images, the golden model, Verilog generation +
Verilator build (cached per configuration: a second run reports 0 s and says so), and the
simulation process (Verilator start, `$readmemh` backdoor load of every SRAM, input
writes, the layer, read-out of all 4096 outputs and the counters over the host port).
"Simulated cycles" are all clock cycles the test bench ran (host traffic included);
"accelerator cycles" the layer's own counter (TOTAL_CYCLES); "compute" the cycles and
seconds of the layer running with no host traffic (the bench asleep until `busy` falls).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# Runs from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compress.fixedpoint import choose_weight_frac  # noqa: E402
from compress.images import pack_layers  # noqa: E402
from compress.manifest import write_images  # noqa: E402
from compress.model import CompressedLayer  # noqa: E402
from eie_hw.config import EIEConfig  # noqa: E402
from sim.golden import GoldenModel  # noqa: E402
from sim.verilator_backend import default_build_root, run_verilator  # noqa: E402


def synthetic_layer(rng, rows: int, cols: int, density: float, config: EIEConfig):
    codes = np.zeros((rows, cols), dtype=np.uint8)
    mask = rng.random((rows, cols)) < density
    codes[mask] = rng.integers(1, 16, int(mask.sum()), dtype=np.uint8)
    codebook = rng.normal(0, 0.1, 16).astype(np.float32)
    codebook[0] = 0
    return CompressedLayer(name="alex7", codes=codes, codebook=codebook,
                           weight_frac=choose_weight_frac(codebook, config), relu=True,
                           bias=rng.normal(0, 0.1, rows).astype(np.float32),
                           dense_weights=rows * cols)


def timed(name, fn, *args, **kw):
    start = time.perf_counter()
    result = fn(*args, **kw)
    seconds = time.perf_counter() - start
    print(f"{name:<44s} {seconds:9.2f} s", flush=True)
    return result, seconds


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096)
    parser.add_argument("--cols", type=int, default=4096)
    parser.add_argument("--density", type=float, default=0.09)
    parser.add_argument("--act-density", type=float, default=0.35)
    parser.add_argument("--pes", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--build-root", default=None,
                        help=f"Verilator build cache (default {default_build_root()})")
    parser.add_argument("--host-load", action="store_true",
                        help="load the memories through the host port instead of $readmemh")
    parser.add_argument("--macros", metavar="LIB",
                        help="memories built from SRAM macros (fakeram45 or a library JSON)")
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args(argv)

    config = EIEConfig(n_pes=args.pes, fifo_depth=8, sram_width=64,
                       act_entries=-(-max(args.rows, args.cols) // args.pes))
    rng = np.random.default_rng(args.seed)
    wall = time.perf_counter()
    layer = synthetic_layer(rng, args.rows, args.cols, args.density, config)
    x = rng.normal(0, 1.0, (1, args.cols))
    x[rng.random(x.shape) >= args.act_density] = 0
    print(f"layer {args.rows} x {args.cols}: {layer.nonzeros} non-zero weights "
          f"({layer.nonzeros / layer.codes.size:.2%}), {np.count_nonzero(x)} non-zero "
          f"activations ({np.count_nonzero(x) / x.size:.2%}); {config.n_pes} PEs, FIFO "
          f"{config.fifo_depth}, {config.sram_width}-bit Spmat", flush=True)

    work = Path(tempfile.mkdtemp(prefix="eie-bench-verilator-"))
    def pack_and_write():
        packed = pack_layers([layer], config)
        write_images(packed, work / "model")
        return packed

    images, t_pack = timed("pack + write images", pack_and_write)
    golden, t_golden = timed("golden model", GoldenModel(images).run, inputs_float=x)
    run, t_run = timed("generate + build + simulate", run_verilator,
                       work / "model", images, golden.inputs, config,
                       load_via_host=args.host_load, build_root=args.build_root,
                       macros=args.macros,
                       progress=lambda m: print("  " + m, flush=True))
    wall = time.perf_counter() - wall
    print(f"  Verilog generation {run.generate_seconds:.2f} s, Verilator build "
          f"{run.build_seconds:.2f} s{' (cached)' if run.build_cached else ''}, "
          f"simulation process {run.sim_seconds:.2f} s")

    match = bool(np.array_equal(run.layer_outputs[0][0], golden.layers[0].outputs[0]))
    work_max = int(golden.layers[0].work_per_pe[0].max())
    figures = {
        "command": "python bench/bench_verilator.py " + " ".join(argv or sys.argv[1:]),
        "config": config.to_dict(),
        "macros": args.macros,
        "nonzero_weights": layer.nonzeros,
        "stored_entries": int(sum(images.layers[0].entries)),
        "nonzero_activations": int(np.count_nonzero(x)),
        "golden_match": match,
        "accelerator_cycles": run.total_cycles[0],
        "layer_cycles": run.layer_cycles[0],
        "busiest_pe_entries": work_max,
        "ccu_stall_cycles": run.stall_cycles[0],
        "simulated_cycles": run.host_cycles,
        "build_cached": run.build_cached,
        "generate_s": round(run.generate_seconds, 2),
        "verilator_build_s": round(run.build_seconds, 2),
        "simulation_process_s": round(run.sim_seconds, 2),
        "protocol_s": round(run.run_seconds, 2),
        "simulated_cycles_per_s": round(run.host_cycles / run.sim_seconds, 1),
        "simulated_cycles_per_s_protocol_only": round(run.host_cycles / run.run_seconds, 1),
        "compute_cycles": run.compute_cycles,
        "compute_s": round(run.compute_seconds, 3),
        "compute_cycles_per_s": round(run.compute_cycles / max(run.compute_seconds, 1e-9), 1),
        "pack_s": round(t_pack, 2),
        "golden_s": round(t_golden, 2),
        "wall_s": round(wall, 2),
        "wall_without_build_s": round(wall - run.generate_seconds - run.build_seconds, 2),
        "build_dir": str(run.build_dir),
    }
    print(json.dumps(figures, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1) + "\n")
    return 0 if match else 1


if __name__ == "__main__":
    sys.exit(main())
