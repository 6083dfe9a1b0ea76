"""The `eie` command line."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .config import EIEConfig, add_config_arguments, config_from_args
from .errors import EIEError


def _progress(message: str) -> None:
    print(f"[eie {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


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
    add_config_arguments(p)


def _cmd_compress(args) -> int:
    from compress.pipeline import CompressOptions, compress_file, parse_assignments
    from compress.report import format_report

    density, layer_density = parse_assignments(args.density, float, "--density")
    default_frac, weight_frac = parse_assignments(args.weight_frac, int, "--weight-frac")
    if default_frac is not None:
        raise EIEError("--weight-frac takes LAYER=S (the fraction is chosen per layer)")
    options = CompressOptions(layer_density=layer_density, global_prune=args.global_prune,
                              weight_frac=weight_frac,
                              kmeans_iterations=args.kmeans_iterations)
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


def _cmd_simulate(args) -> int:
    from compress.images import read_manifest
    from sim.run import load_inputs, simulate

    packed = EIEConfig.from_dict(read_manifest(args.directory)["config"])
    config = config_from_args(args, base=packed)
    inputs = load_inputs(args.input)
    report = simulate(args.directory, inputs, backend=args.backend, config=config,
                      load_via_host=args.load == "host", waves=args.waves,
                      progress=_progress)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report) + "\n")
    _print_simulation(report)
    return 0


def _worst(value):
    return max(value) if isinstance(value, list) else value


def _print_simulation(report: dict) -> None:
    print(f"backend: {report['backend']}")
    for layer in report["layers"]:
        line = (f"  {layer['name']}: {layer['rows']} x {layer['cols']}, weight fraction "
                f"{layer['weight_frac']}, max entries per PE {_worst(layer['work_per_pe_max'])}")
        if layer["cycles"] is not None:
            line += f", cycles {_worst(layer['cycles'])}"
        if "golden_match" in layer:
            line += f", {'matches' if layer['golden_match'] else 'DIFFERS FROM'} golden"
        print(line)
    if report["cycles"] is not None:
        line = (f"cycles: {_worst(report['cycles'])} (worst sample), load-balance efficiency "
                f"{report['load_balance_efficiency']}")
        if "golden_match" in report:
            line += f", bit-exact against golden: {report['golden_match']}"
        print(line)
    if report.get("verilator", {}).get("waves"):
        print(f"waveform: {report['verilator']['waves']}")
    q = report["quantization_error"]
    print(f"accumulator overflows: {report['accumulator_overflows']}")
    print(f"quantization error vs float reference: max {q['max_abs']:.4g}, rms "
          f"{q['rms']:.4g}, argmax agreement {100 * q['argmax_agreement']:.1f} %")
    outputs = report["outputs"]
    if report["batch"] is None:
        print(f"outputs (fixed point, {report['act_frac']} fraction bits): {outputs}")
    else:
        print(f"outputs: {report['batch']} samples (see --json for values)")


# ----------------------------------------------------------------------------- demo

def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the main job, end to end on the bundled example",
                       description="Compress the bundled example network and run it on "
                                   "the golden model.")
    p.add_argument("-o", "--output", default="build/demo", metavar="DIR")
    p.add_argument("--samples", type=int, default=64, metavar="N",
                   help="samples for the golden model (default 64)")
    p.add_argument("--rtl-samples", type=int, default=4, metavar="N",
                   help="of those, samples also run on the RTL in the Amaranth simulator "
                        "(default 4; about 10 s each)")


def _cmd_demo(args) -> int:
    import numpy as np

    from compress.example import example_inputs, write_example
    from compress.pipeline import CompressOptions, compress_file
    from compress.report import format_report
    from sim.run import simulate

    out = Path(args.output)
    model_path = write_example(out / "example.npz")
    _progress(f"bundled example network 64-300-100-10 written to {model_path}")
    config = EIEConfig(n_pes=16, act_entries=64, bias_entries=64, spmat_words=1024,
                       ptr_entries=1024, max_layers=4)
    options = CompressOptions(layer_density={"fc1": 0.12, "fc2": 0.12, "fc3": 0.3})
    result = compress_file(model_path, out / "compressed", config, options,
                           progress=_progress)
    print(format_report(result.report), end="")
    inputs = example_inputs(args.samples)
    np.save(out / "inputs.npy", inputs)
    _progress(f"running {args.samples} samples on the golden model")
    report = simulate(result.directory, inputs)
    (out / "simulate.json").write_text(json.dumps(report) + "\n")
    rtl = None
    if args.rtl_samples > 0:
        _progress(f"running {args.rtl_samples} samples on the RTL (Amaranth simulator)")
        rtl = simulate(result.directory, inputs[:args.rtl_samples], backend="amaranth")
        (out / "simulate_rtl.json").write_text(json.dumps(rtl) + "\n")
    q = report["quantization_error"]
    work = [max(layer["work_per_pe_max"]) for layer in report["layers"]]
    total = result.report["total"]
    print("\nsummary")
    print(f"  weights kept: {total['kept']:,} of {total['weights']:,} "
          f"({100 * total['density']:.1f} %)")
    print(f"  compression: {total['deep_compression_ratio']}x (Deep Compression), "
          f"{total['on_disk_ratio']}x on disk ({total['model_eie_bytes']:,} B)")
    print(f"  golden model vs float reference on {args.samples} samples: argmax agreement "
          f"{100 * q['argmax_agreement']:.1f} %, max error {q['max_abs']:.4g}, "
          f"{report['accumulator_overflows']} accumulator overflows")
    print(f"  worst-case entries per PE by layer ({config.n_pes} PEs): {work}")
    if rtl is not None:
        cycles = rtl["cycles"]
        print(f"  RTL on {args.rtl_samples} samples: bit-exact against golden: "
              f"{rtl['golden_match']}; cycles per inference {min(cycles)}..{max(cycles)} "
              f"(per layer {[max(layer['cycles']) for layer in rtl['layers']]}), "
              f"load-balance efficiency {np.mean(rtl['load_balance_efficiency']):.2f}")
    print(f"  written: {out}/ (compressed/ model + images + reports, simulate*.json)")
    return 0 if rtl is None or rtl["golden_match"] else 1


# ----------------------------------------------------------------------------- main

def build_parser() -> argparse.ArgumentParser:
    from .cli_hw import add_generate_parser, add_synth_parser
    parser = argparse.ArgumentParser(prog="eie", description="EIE accelerator generator")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_compress(sub)
    _add_simulate(sub)
    add_generate_parser(sub)
    add_synth_parser(sub)
    _add_demo(sub)
    return parser


def _cmd_generate(args) -> int:
    from .cli_hw import cmd_generate
    return cmd_generate(args)


def _cmd_synth(args) -> int:
    from .cli_hw import cmd_synth
    return cmd_synth(args)


COMMANDS = {"compress": _cmd_compress, "simulate": _cmd_simulate, "generate": _cmd_generate,
            "synth": _cmd_synth, "demo": _cmd_demo}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except EIEError as exc:
        print(f"eie {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
