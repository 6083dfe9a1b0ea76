"""The `eie` command line."""

from __future__ import annotations

import argparse
import os
import signal
import sys

from .bounds import check_design_size
from .config import EIEConfig, add_config_arguments, config_from_args
from .errors import EIEError
from .output import add_force_argument, check_output_path, write_json
from .progress import say as _progress


# ----------------------------------------------------------------------------- compress

def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def _add_compress(sub) -> None:
    p = sub.add_parser("compress", help="prune, share weights, Huffman-code and pack a model",
                       description="Compress the fully connected layers of MODEL (an .npz "
                                   "of <layer>.weight arrays, a .safetensors file with "
                                   "PyTorch nn.Linear names, or an .onnx MLP; the format is "
                                   "read from the content) and pack them into per-PE memory "
                                   "images in DIR.")
    p.add_argument("model", metavar="MODEL")
    p.add_argument("--layers", metavar="L1,L2",
                   help="a .safetensors file's layers to compress, in this order (default: "
                        "all, in the file's order)")
    p.add_argument("-o", "--output", metavar="DIR", required=True)
    p.add_argument("--density", action="append", metavar="[LAYER=]D",
                   help="fraction of weights kept, for every layer or LAYER=D for one "
                        "(repeatable; default 0.1)")
    p.add_argument("--global-prune", action="store_true",
                   help="one magnitude threshold over all layers instead of per layer")
    p.add_argument("--weight-frac", action="append", metavar="LAYER=S",
                   help="override the fixed-point weight fraction of a layer")
    p.add_argument("--kmeans-iterations", type=_non_negative_int, default=100, metavar="N",
                   help="k-means iterations of the weight sharing (default 100; 0 keeps "
                        "the linear initialization)")
    p.add_argument("--balance", choices=("interleave", "balanced"), default="interleave",
                   help="row-to-PE assignment: interleave (row i -> PE i mod N, the paper's; "
                        "default) or balanced (rows permuted so that every PE gets about "
                        "the same work; outputs come back in the original order)")
    add_force_argument(p)
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
                              balance=args.balance,
                              layer_order=([n.strip() for n in args.layers.split(",")
                                            if n.strip()] if args.layers else None))
    if density is not None:
        options.density = density
    config = config_from_args(args)
    result = compress_file(args.model, args.output, config, options, progress=_progress,
                           force=args.force)
    print(format_report(result.report), end="")
    print(f"wrote {result.directory}/ (model.eie, manifest.json, images/, report.json, "
          f"report.txt) in {result.seconds:.1f} s")
    return 0


def _add_export(sub) -> None:
    p = sub.add_parser("export", help="write a compressed model back as dense float weights "
                                      "(.npz or .onnx)",
                       description="Write the network compressed in DIR as dense float "
                                   "weights (each weight its codebook value, pruned ones 0: "
                                   "what the hardware computes before fixed-point "
                                   "rounding), in the original row order: an .npz that "
                                   "`eie compress` reads, or an ONNX graph of Gemm and Relu "
                                   "nodes (the onnx extra).")
    p.add_argument("model_dir", metavar="DIR", help="output directory of `eie compress`")
    p.add_argument("-o", "--output", metavar="OUT.npz|OUT.onnx", required=True)
    p.set_defaults(func=_cmd_export)


def _cmd_export(args) -> int:
    from compress.export import export
    path = export(args.model_dir, args.output)
    print(f"wrote {path}")
    return 0


# ----------------------------------------------------------------------------- simulate

def _add_simulate(sub) -> None:
    from sim.clock import add_clock_arguments
    from sim.run import BACKENDS
    p = sub.add_parser("simulate", help="run a compressed model on a backend",
                       description="Run the model packed in DIR on one input vector or a "
                                   "batch and report outputs (and, for hardware backends, "
                                   "cycles; with --clock-ns or --synth-report, microseconds "
                                   "per layer and per inference).")
    p.add_argument("directory", metavar="DIR", help="output directory of `eie compress`")
    p.add_argument("--input", required=True, metavar="ACT.npy",
                   help="float vector, or 2-D batch with one row per sample")
    p.add_argument("--backend", default="golden", choices=BACKENDS)
    p.add_argument("--json", metavar="OUT.json", help="write the full report here")
    p.add_argument("--load", choices=("backdoor", "host"), default="backdoor",
                   help="hardware backends: preload memories (backdoor, fast) or write "
                        "them through the host port (realistic)")
    p.add_argument("--waves", metavar="FILE.vcd|FILE.fst|FILE.saif",
                   help="hardware backends: write a waveform (verilator: .vcd or .fst, or "
                        "switching activity per signal bit as .saif; amaranth: .vcd)")
    p.add_argument("--macros", metavar="LIB",
                   help="verilator backend: simulate the design whose memories are built from "
                        "SRAM macros (fakeram45 or a library JSON file), as `eie generate "
                        "--macros` writes it")
    add_clock_arguments(p)
    add_force_argument(p)
    add_config_arguments(p)
    p.set_defaults(func=_cmd_simulate)


def _cmd_simulate(args) -> int:
    from compress.manifest import read_manifest
    from sim.clock import clock_from_args
    from sim.run import format_simulation, load_inputs, simulate

    # Output paths first: a bad one must not cost a simulation.
    if args.json is not None:
        check_output_path(args.json, folder=False, flag="--json")
    if args.waves is not None:
        check_output_path(args.waves, folder=False, flag="--waves")
    if args.macros is not None and args.backend != "verilator":
        raise EIEError("--macros needs --backend verilator (the other backends do not "
                       "simulate the Verilog)")
    clock = clock_from_args(args)          # a bad report must not cost a simulation
    if clock is not None and args.backend == "golden":
        raise EIEError("--clock-ns / --synth-report need a backend that counts cycles: "
                       "--backend model, amaranth or verilator")
    packed = EIEConfig.from_dict(read_manifest(args.directory)["config"])
    config = config_from_args(args, base=packed)
    check_design_size(config, args.force)
    macros = None
    if args.macros is not None:
        from eie_hw.macro_views import resolve_library
        macros = resolve_library(args.macros)     # a bad library fails before the run
    inputs = load_inputs(args.input)
    report = simulate(args.directory, inputs, backend=args.backend, config=config,
                      load_via_host=args.load == "host", waves=args.waves,
                      progress=_progress, macros=macros, clock=clock)
    if args.json is not None:
        write_json(args.json, report, flag="--json", indent=None)
    print(format_simulation(report), end="")
    return 0


# ----------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    from compress.cli_train import add_dsd_parser, add_train_parser
    from sim.cli_evaluate import add_evaluate_parser
    from sim.cli_power import add_power_parser
    from sim.cli_sweep import add_sweep_parser

    from .cli_demo import add_demo_parser
    from .cli_hw import add_generate_parser, add_synth_parser
    parser = argparse.ArgumentParser(prog="eie", description="EIE accelerator generator")
    parser.add_argument("--version", action=_VersionAction,
                        help="print the versions of eie and of the tools it finds, and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_compress(sub)
    _add_export(sub)
    _add_simulate(sub)
    add_generate_parser(sub)
    add_synth_parser(sub)
    add_sweep_parser(sub)
    add_power_parser(sub)
    add_evaluate_parser(sub)
    add_train_parser(sub)
    add_dsd_parser(sub)
    add_demo_parser(sub)
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
    try:
        return _main(argv)
    except BrokenPipeError:
        # The reader went away (`eie ... | head`): nothing is wrong with the command. Send
        # what is still buffered nowhere, so that Python's exit does not fail on it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _main(argv) -> int:
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
