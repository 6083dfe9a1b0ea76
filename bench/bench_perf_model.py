"""Time the cycle-exact performance model (sim/perf_model.py) on one VGG-6-sized layer.

    python bench/bench_perf_model.py [--rows 4096 --cols 25088 --density 0.04
                                      --act-density 0.183 --pes 64 --fifo-depth 8
                                      --sram-width 64 --seed 0 --repeat 3]

The layer is random codes (1..15 at `--density`, uniform over the matrix), packed with
`compress.images.pack_layers`; the input's non-zero pattern is uniform at
`--act-density`. Building and packing the layer is timed separately from the model;
the model is timed from the packed images and the non-zero mask
(`run_model_nonzeros`), best and all of `--repeat` runs.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# Runs from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compress.images import pack_layers  # noqa: E402
from compress.model import CompressedLayer  # noqa: E402
from eie_hw.config import EIEConfig  # noqa: E402
from sim.perf_model import run_model_nonzeros  # noqa: E402


def random_codes(rows: int, cols: int, density: float, rng) -> np.ndarray:
    """uint8 codes, non-zero (1..15) with probability `density`, built in row chunks."""
    codes = np.zeros((rows, cols), dtype=np.uint8)
    chunk = max(1, (1 << 24) // max(1, cols))
    for lo in range(0, rows, chunk):
        hi = min(rows, lo + chunk)
        keep = rng.random((hi - lo, cols), dtype=np.float32) < density
        codes[lo:hi][keep] = rng.integers(1, 16, int(keep.sum()), dtype=np.uint8)
    return codes


def bench_config(rows: int, cols: int, pes: int, fifo_depth: int, sram_width: int) -> EIEConfig:
    per_pe = -(-max(rows, cols) // pes)
    return EIEConfig(n_pes=pes, fifo_depth=fifo_depth, sram_width=sram_width,
                     act_entries=per_pe, bias_entries=per_pe,
                     ptr_entries=2 * (-(-(cols + 1) // 2)), spmat_words=1 << 17)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=4096, help="output neurons (default 4096)")
    p.add_argument("--cols", type=int, default=25088, help="input neurons (default 25088)")
    p.add_argument("--density", type=float, default=0.04, help="weight density (0.04)")
    p.add_argument("--act-density", type=float, default=0.183,
                   help="fraction of non-zero input activations (0.183)")
    p.add_argument("--pes", type=int, default=64, help="PEs (64)")
    p.add_argument("--fifo-depth", type=int, default=8, help="activation FIFO depth (8)")
    p.add_argument("--sram-width", type=int, default=64, help="Spmat word bits (64)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--repeat", type=int, default=3, help="timed model runs (3)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    codes = random_codes(args.rows, args.cols, args.density, rng)
    codebook = np.linspace(-1, 1, 16).astype(np.float32)
    codebook[0] = 0
    layer = CompressedLayer(name="vgg6", codes=codes, codebook=codebook, weight_frac=8,
                            relu=True)
    config = bench_config(args.rows, args.cols, args.pes, args.fifo_depth, args.sram_width)
    images = pack_layers([layer], config)
    build = time.perf_counter() - start
    print(f"layer {args.rows} x {args.cols}, density {args.density}, {args.pes} PEs, "
          f"FIFO {args.fifo_depth}, {args.sram_width}-bit Spmat; build + pack {build:.2f} s",
          flush=True)
    mask = rng.random(args.cols) < args.act_density

    times = []
    for _ in range(args.repeat):
        start = time.perf_counter()
        run = run_model_nonzeros(images, [[mask]], config)
        times.append(time.perf_counter() - start)
    d = images.layers[0]
    work = np.array(run.pe_busy[0])
    cycles = run.layer_cycles[0][0]
    ideal = work.sum() / args.pes
    print(f"model: best {min(times):.3f} s, runs {', '.join(f'{t:.3f}' for t in times)} s")
    print(f"entries {sum(d.entries):,} ({sum(d.fillers):,} fillers); non-zero inputs "
          f"{int(mask.sum()):,}; cycles {cycles:,}; busiest PE {int(work.max()):,}; "
          f"ideal {ideal:,.0f}; stall {run.stall_cycles[0]:,}; load-balance efficiency "
          f"{work.sum() / (args.pes * cycles):.3f}; Spmat reads (all PEs) "
          f"{sum(run.spmat_reads[0]):,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
