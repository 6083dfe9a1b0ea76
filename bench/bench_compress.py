"""Time the compression front end on one random layer of VGG-6 size.

    python bench/bench_compress.py [--rows 4096 --cols 25088 --density 0.04 --seed 0]

Each timed stage is a function taking and returning the shared `state` dict, so later
stages (encoding, packing) are added by appending to `STAGES`.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

# Runs from a checkout without installing the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from compress.kmeans import share_weights  # noqa: E402
from compress.prune import prune_mask  # noqa: E402

CODE_BITS = 4


def timed(name: str, fn, *args):
    """Run `fn(*args)`, print its wall-clock seconds under `name`, return (result, seconds)."""
    start = time.perf_counter()
    result = fn(*args)
    seconds = time.perf_counter() - start
    print(f"{name:<28s} {seconds:8.3f} s", flush=True)
    return result, seconds


def stage_prune(state: dict) -> dict:
    state["mask"] = prune_mask(state["weight"], state["density"])
    return state


def stage_share(state: dict) -> dict:
    state["codes"], state["codebook"] = share_weights(state["weight"], state["mask"], CODE_BITS)
    return state


STAGES = [
    ("prune_mask", stage_prune),
    (f"share_weights (code_bits={CODE_BITS})", stage_share),
]


def random_layer(rows: int, cols: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((rows, cols), dtype=np.float32)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4096, help="output neurons (default 4096)")
    parser.add_argument("--cols", type=int, default=25088, help="input neurons (default 25088)")
    parser.add_argument("--density", type=float, default=0.04, help="kept fraction (default 0.04)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    print(f"layer {args.rows} x {args.cols} float32, density {args.density}, seed {args.seed}")
    state = {"weight": random_layer(args.rows, args.cols, args.seed), "density": args.density}
    total = 0.0
    for name, stage in STAGES:
        state, seconds = timed(name, stage, state)
        total += seconds
    print(f"{'total':<28s} {total:8.3f} s")
    print(f"kept {int(np.count_nonzero(state['mask']))} of {state['weight'].size} weights")
    return 0


if __name__ == "__main__":
    sys.exit(main())
