"""The `eie` command line."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from .config import EIEConfig, add_config_arguments, config_from_args
from .errors import EIEError
from .progress import say as _progress


# ----------------------------------------------------------------------------- compress

def _add_compress(sub) -> None:
    p = sub.add_parser("compress", help="prune, share weights, Huffman-code and pack a model",
                       description="Compress the fully connected layers of MODEL.npz and "
                                   "pack them into per-PE memory images in DIR.")
    p.add_argument("model", metavar="MODEL.npz")
    p.add_argument("-o", "--output", metavar="DIR", required=True)
    p.add_argument("--density", action="append", metavar="[LAYER=]D",
                   help="fraction of weights kept, for every layer or LAYER=D for one "
                        "(repeatable; default 0.1)")
    p.add_argument("--global-prune", action="store_true",
                   help="one magnitude threshold over all layers instead of per layer")
    p.add_argument("--weight-frac", action="append", metavar="LAYER=S",
                   help="override the fixed-point weight fraction of a layer")
    p.add_argument("--kmeans-iterations", type=int, default=100, metavar="N")
    p.add_argument("--balance", choices=("interleave", "balanced"), default="interleave",
                   help="row-to-PE assignment: interleave (row i -> PE i mod N, the paper's; "
                        "default) or balanced (rows permuted so that every PE gets about "
                        "the same work; outputs come back in the original order)")
    add_config_arguments(p)
    p.set_defaults(func=_cmd_compress)


def _cmd_compress(args) -> int:
    from compress.pipeline import CompressOptions, compress_file, parse_assignments
    from compress.report import format_report

    density, layer_density = parse_assignments(args.density, float, "--density")
    default_frac, weight_frac = parse_assignments(args.weight_frac, int, "--weight-frac")
    if default_frac is not None:
        raise EIEError("--weight-frac takes LAYER=S (the fraction is chosen per layer)")
    options = CompressOptions(layer_density=layer_density, global_prune=args.global_prune,
                              weight_frac=weight_frac,
                              kmeans_iterations=args.kmeans_iterations,
                              balance=args.balance)
    if density is not None:
        options.density = density
    config = config_from_args(args)
    result = compress_file(args.model, args.output, config, options, progress=_progress)
    print(format_report(result.report), end="")
    print(f"wrote {result.directory}/ (model.eie, manifest.json, images/, report.json, "
          f"report.txt) in {result.report['seconds']:.1f} s")
    return 0


# ----------------------------------------------------------------------------- simulate

def _add_simulate(sub) -> None:
    from sim.run import BACKENDS
    p = sub.add_parser("simulate", help="run a compressed model on a backend",
                       description="Run the model packed in DIR on one input vector or a "
                                   "batch and report outputs (and, for hardware backends, "
                                   "cycles).")
    p.add_argument("directory", metavar="DIR", help="output directory of `eie compress`")
    p.add_argument("--input", required=True, metavar="ACT.npy",
                   help="float vector, or 2-D batch with one row per sample")
    p.add_argument("--backend", default="golden", choices=BACKENDS)
    p.add_argument("--json", metavar="OUT.json", help="write the full report here")
    p.add_argument("--load", choices=("backdoor", "host"), default="backdoor",
                   help="hardware backends: preload memories (backdoor, fast) or write "
                        "them through the host port (realistic)")
    p.add_argument("--waves", metavar="FILE.vcd|FILE.fst",
                   help="hardware backends: write a waveform (verilator: .vcd or .fst; "
                        "amaranth: .vcd)")
    add_config_arguments(p)
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args) -> int:
    from compress.images import read_manifest
    from sim.run import format_simulation, load_inputs, simulate

    packed = EIEConfig.from_dict(read_manifest(args.directory)["config"])
    config = config_from_args(args, base=packed)
    inputs = load_inputs(args.input)
    report = simulate(args.directory, inputs, backend=args.backend, config=config,
                      load_via_host=args.load == "host", waves=args.waves,
                      progress=_progress)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report) + "\n")
    print(format_simulation(report), end="")
    return 0


# ----------------------------------------------------------------------------- demo

def _add_demo(sub) -> None:
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
    p.set_defaults(func=_cmd_demo)


def _cmd_demo(args) -> int:
    import numpy as np

    from compress.datasets import load_dataset
    from compress.deep_compression import DEMO_HW, train_and_compress
    from sim.run import simulate

    from .generate import generate

    out = Path(args.output)
    config = EIEConfig(**DEMO_HW)
    t0 = time.perf_counter()
    training = train_and_compress(out / "train", seed=args.seed, progress=_progress,
                                  hw_config=config)
    compressed = Path(training["paths"]["compressed"])
    _progress(f"generating the Verilog for {config.n_pes} PEs into {out / 'rtl'}")
    generate(config, out / "rtl")
    data = load_dataset(None)
    n = len(data.x_test) if args.samples is None else max(1, min(args.samples,
                                                                 len(data.x_test)))
    _progress(f"running {n} test samples on the {args.backend} backend (the first run "
              f"builds the simulator: about 30 s)")
    report = simulate(compressed, data.x_test[:n], backend=args.backend, progress=_progress)
    (out / "hardware.json").write_text(json.dumps(report) + "\n")

    labels = data.y_test[:n]
    hw_acc = float(np.mean(np.argmax(report["outputs"], axis=1) == labels))
    golden = np.array(report["layers"][-1]["outputs"])
    golden_acc = float(np.mean(np.argmax(golden, axis=1) == labels))
    float_acc = float(np.mean(np.argmax(report["outputs_float"], axis=1) == labels))
    acc = training["accuracy"]
    total = training["compression"]
    cycles = np.array(report["cycles"])
    per_layer = [int(np.mean(layer["cycles"])) for layer in report["layers"]]
    print("\nsummary (digits 8x8, 64-300-100-10 MLP)")
    print(f"  accuracy, all {len(data.y_test)} test samples: dense float "
          f"{100 * acc['dense']:.2f} %, compressed float {100 * acc['quantized']:.2f} %")
    print(f"  on {n} test samples: compressed float {100 * float_acc:.2f} %, golden model "
          f"{100 * golden_acc:.2f} %, hardware ({args.backend}) {100 * hw_acc:.2f} %; "
          f"hardware bit-exact against golden: {report['golden_match']}")
    print(f"  weights kept: {training['weights_kept']:,} of {training['weights']:,} "
          f"({100 * training['weights_kept'] / training['weights']:.1f} %)")
    print(f"  compression: {total['deep_compression_ratio']}x (Deep Compression), "
          f"{total['on_disk_ratio']}x on disk ({total['model_eie_bytes']:,} B model.eie)")
    print(f"  cycles per inference ({config.n_pes} PEs): mean {cycles.mean():.0f}, "
          f"min {cycles.min()}, max {cycles.max()}; per layer {per_layer}")
    print(f"  load-balance efficiency: {np.mean(report['load_balance_efficiency']):.3f}")
    print(f"  written: {out}/train (models, training.json), {compressed} (model.eie, "
          f"images, report), {out}/rtl (Verilog, OpenROAD hand-off), {out}/hardware.json")
    print(f"  total time {time.perf_counter() - t0:.0f} s")
    return 0 if report["golden_match"] else 1


# ----------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    from compress.cli_train import add_dsd_parser, add_train_parser
    from sim.cli_sweep import add_sweep_parser

    from .cli_hw import add_generate_parser, add_synth_parser
    parser = argparse.ArgumentParser(prog="eie", description="EIE accelerator generator")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of eie and of the tools it finds, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_compress(sub)
    _add_simulate(sub)
    add_generate_parser(sub)
    add_synth_parser(sub)
    add_sweep_parser(sub)
    add_train_parser(sub)
    add_dsd_parser(sub)
    _add_demo(sub)
    return parser


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        from .tools import tool_versions
        print("\n".join(f"{name} {version}" for name, version in tool_versions().items()))
        parser.exit()


class Terminated(BaseException):
    """SIGTERM, raised where the process is so that output folders are cleaned up."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        return args.func(args)
    except EIEError as exc:
        print(f"eie {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: output folders left as they were", file=sys.stderr)
        return 130
    except Terminated:
        print("terminated: output folders left as they were", file=sys.stderr)
        return 143
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
