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

import tempfile  # noqa: E402

from compress.container import write_container  # noqa: E402
from compress.encode import encode_layer  # noqa: E402
from compress.fixedpoint import choose_weight_frac  # noqa: E402
from compress.images import pack_layers  # noqa: E402
from compress.kmeans import share_weights  # noqa: E402
from compress.manifest import write_images  # noqa: E402
from compress.model import CompressedLayer, CompressedModel  # noqa: E402
from compress.prune import prune_mask  # noqa: E402
from eie_hw.config import EIEConfig  # noqa: E402
from sim.golden import GoldenModel  # noqa: E402

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


def bench_config(rows: int, cols: int) -> EIEConfig:
    """The paper's PE (64 PEs, 64-bit Spmat words) with room for one layer of this size."""
    per_pe = -(-max(rows, cols) // 64)
    return EIEConfig(n_pes=64, act_entries=per_pe, bias_entries=per_pe,
                     ptr_entries=2 * (-(-(cols + 1) // 2)), spmat_words=1 << 17)


def stage_encode_pack(state: dict) -> dict:
    weight = state["weight"]
    config = bench_config(*weight.shape)
    layer = CompressedLayer(name="vgg6", codes=state["codes"], codebook=state["codebook"],
                            weight_frac=choose_weight_frac(state["codebook"], config),
                            relu=True, dense_weights=weight.size)
    state["config"], state["layer"] = config, layer
    state["encoded"] = [encode_layer(layer.codes, config)]
    state["images"] = pack_layers([layer], config, encoded=state["encoded"])
    return state


def stage_write(state: dict) -> dict:
    with tempfile.TemporaryDirectory() as out:
        stats = write_container(Path(out) / "model.eie", CompressedModel([state["layer"]]),
                                state["config"], encoded=state["encoded"])
        write_images(state["images"], out)
    state["model_bytes"] = stats.total_bytes
    return state


def stage_golden(state: dict) -> dict:
    rng = np.random.default_rng(1)
    x = rng.random(state["weight"].shape[1]) * (rng.random(state["weight"].shape[1]) < 0.183)
    state["golden"] = GoldenModel(state["images"]).run(inputs_float=x)
    return state


STAGES = [
    ("prune_mask", stage_prune),
    (f"share_weights (code_bits={CODE_BITS})", stage_share),
    ("encode + pack (64 PEs)", stage_encode_pack),
    ("write model.eie + images", stage_write),
    ("golden model, 1 input", stage_golden),
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
    print(f"kept {int(np.count_nonzero(state['mask']))} of {state['weight'].size} weights; "
          f"{sum(state['images'].layers[0].fillers)} fillers; model.eie "
          f"{state['model_bytes']:,} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
