"""`eie demo`: the main job, train -> compress -> generate -> run on the RTL.

Everything goes into one output folder written through `eie_hw.output.output_folder`,
so an interrupted demo leaves the previous one whole.
"""

from __future__ import annotations

import time
from pathlib import Path

from .config import EIEConfig
from .output import add_force_argument, output_folder, write_json
from .progress import say as _progress


def add_demo_parser(sub):
    p = sub.add_parser("demo", help="the main job: train, compress, generate, run on Verilator",
                       description="Train the digits MLP (64-300-100-10), Deep-Compress it, "
                                   "generate the accelerator's Verilog, run the test set on "
                                   "it under Verilator and print a summary.")
    p.add_argument("-o", "--output", default="build/demo", metavar="DIR")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="test samples to run on the hardware (default: all 360)")
    p.add_argument("--backend", choices=("verilator", "amaranth"), default="verilator",
                   help="hardware simulator (amaranth is slower: use --samples 8)")
    p.add_argument("--seed", type=int, default=0, metavar="S")
    add_force_argument(p)
    p.set_defaults(func=cmd_demo)
    return p


def cmd_demo(args) -> int:
    from compress.deep_compression import DEMO_HW

    config = EIEConfig(**DEMO_HW)
    started = time.perf_counter()
    with output_folder(args.output, "demo", force=args.force) as staging:
        figures = _run(staging, config, args)
    _print_summary(figures, config, args, Path(args.output))
    print(f"  total time {time.perf_counter() - started:.0f} s")
    return 0 if figures["report"]["golden_match"] else 1


def _run(out: Path, config: EIEConfig, args) -> dict:
    """Train, compress, generate and simulate into `out`; the figures of the summary."""
    from compress.datasets import load_dataset
    from compress.deep_compression import train_and_compress
    from sim.evaluate import topk_accuracy
    from sim.run import simulate

    from .generate import generate

    training = train_and_compress(out / "train", seed=args.seed, progress=_progress,
                                  hw_config=config)
    _progress(f"generating the Verilog for {config.n_pes} PEs")
    generate(config, out / "rtl")
    data = load_dataset(None)
    n = len(data.x_test) if args.samples is None else max(1, min(args.samples,
                                                                 len(data.x_test)))
    _progress(f"running {n} test samples on the {args.backend} backend (the first run "
              f"builds the simulator: about 30 s)")
    report = simulate(out / "train" / "compressed", data.x_test[:n], backend=args.backend,
                      progress=_progress)
    write_json(out / "hardware.json", report, indent=None)
    labels = data.y_test[:n]

    # The same figures as `eie evaluate DIR --backend B --samples N` gives.
    def accuracy(outputs) -> float:
        return topk_accuracy(outputs, labels, 1)

    return {"training": training, "report": report, "n": n, "test_size": len(data.y_test),
            "hardware": accuracy(report["outputs"]),
            "golden": accuracy(report["layers"][-1]["outputs"]),
            "float": accuracy(report["outputs_float"])}


def _print_summary(figures: dict, config: EIEConfig, args, out: Path) -> None:
    import numpy as np

    training, report, n = figures["training"], figures["report"], figures["n"]
    acc, total = training["accuracy"], training["compression"]
    cycles = np.array(report["cycles"])
    per_layer = [int(np.mean(layer["cycles"])) for layer in report["layers"]]
    print("\nsummary (digits 8x8, 64-300-100-10 MLP)")
    print(f"  accuracy, all {figures['test_size']} test samples: dense float "
          f"{100 * acc['dense']:.2f} %, compressed float {100 * acc['quantized']:.2f} %")
    print(f"  on {n} test samples: compressed float {100 * figures['float']:.2f} %, golden "
          f"model {100 * figures['golden']:.2f} %, hardware ({args.backend}) "
          f"{100 * figures['hardware']:.2f} %; hardware bit-exact against golden: "
          f"{report['golden_match']}")
    print(f"  weights kept: {training['weights_kept']:,} of {training['weights']:,} "
          f"({100 * training['weights_kept'] / training['weights']:.1f} %)")
    print(f"  compression: {total['deep_compression_ratio']}x (Deep Compression), "
          f"{total['on_disk_ratio']}x on disk ({total['model_eie_bytes']:,} B model.eie)")
    print(f"  cycles per inference ({config.n_pes} PEs): mean {cycles.mean():.0f}, "
          f"min {cycles.min()}, max {cycles.max()}; per layer {per_layer}")
    print(f"  load-balance efficiency: {np.mean(report['load_balance_efficiency']):.3f}")
    print(f"  written: {out}/train (models, training.json), {out}/train/compressed "
          f"(model.eie, images, report), {out}/rtl (Verilog, OpenROAD hand-off), "
          f"{out}/hardware.json")
