"""`eie power`: the command-line front of sim/power.py (hooked into eie_hw/cli.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError
from eie_hw.output import add_force_argument, output_folder, write_json

DEFAULT_LAYER = "Alex-8"


def add_power_parser(sub) -> None:
    from compress.balance import BALANCE_MODES
    p = sub.add_parser(
        "power", help="per-PE power (Table II split) and energy per inference of a layer, "
                      "from its switching activity on Verilator and OpenSTA",
        description="Run one layer (a Table III layer, a custom synthetic one, or the first "
                    "layer of a compressed model) on the Verilated design `eie synth` "
                    "built, trace its switching activity (SAIF) over the compute phase, and "
                    "compute the mean PE's power: logic with OpenSTA from the measured "
                    "register activities, memories from the macros' energy per access and "
                    "leakage. Writes OUT/report.json, OUT/report.txt, the layer's images and the "
                    "OpenSTA scripts and logs (OUT/sta); the traces with --keep-traces.",
        epilog="example: eie synth --liberty ../shared/pdk/nangate45_typ.lib.gz -o "
               "build/synth && eie power --synth build/synth -o build/power  "
               "(see docs/hardware_flow.md, Power)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output directory")
    p.add_argument("--synth", metavar="DIR", required=True,
                   help="an `eie synth --liberty FILE -o DIR` folder: its design, netlist, "
                        "Liberty and macro views are what is measured")
    p.add_argument("--layer", metavar="NAME",
                   help=f"a Table III layer or INxOUT:WEIGHT_DENSITY:ACT_DENSITY (default "
                        f"{DEFAULT_LAYER})")
    p.add_argument("--model", metavar="DIR",
                   help="instead of --layer: the first layer of a compressed model "
                        "(eie compress -o DIR)")
    p.add_argument("--input", metavar="ACT.npy",
                   help="for --model: the input (float vector; default: random)")
    p.add_argument("--balance", default="balanced", choices=BALANCE_MODES,
                   help="row-to-PE assignment of a synthetic layer (default balanced)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic layer and input")
    from .clock import _period_arg
    p.add_argument("--clock-ns", type=_period_arg, metavar="T",
                   help="clock period for power (default: the synthesis target, 1.25 ns = "
                        "the paper's 800 MHz)")
    p.add_argument("--keep-traces", action="store_true",
                   help="keep the two SAIF traces in OUT (about 180 MB each at 64 PEs)")
    add_force_argument(p)
    p.set_defaults(func=cmd_power)


def _progress(message: str) -> None:
    print(f"[power] {message}", file=sys.stderr, flush=True)


def _synthetic(spec, config, balance: str, seed: int):
    """Images and one input of a synthetic layer packed for the synthesized design."""
    from compress.balance import assign_rows
    from compress.encode import encode_layer
    from compress.images import pack_layers

    from .sweep.layers import synthetic_inputs, synthetic_layer
    layers = assign_rows([synthetic_layer(spec, config, seed)], config.n_pes, balance)
    images = pack_layers(layers, config,
                         encoded=[encode_layer(layer.codes, config) for layer in layers])
    _, x_int = synthetic_inputs(spec, config, 1, seed)
    layer = {"name": spec.name, "cols": spec.cols, "rows": spec.rows,
             "weight_density": spec.weight_density, "act_density": spec.act_density,
             "paper_us": spec.paper_us, "balance": balance, "seed": seed}
    return images, x_int, layer


def _model(directory, input_path, config, seed: int):
    from compress.manifest import read_images

    from .golden import GoldenModel
    from .run import load_inputs
    images = read_images(Path(directory), config)
    if input_path:
        x = np.atleast_2d(load_inputs(input_path))[:1]
    else:
        x = np.random.default_rng(seed).normal(0, 1, (1, images.layers[0].cols))
    x_int = GoldenModel(images).run(inputs_float=x).inputs
    first = images.layers[0]
    return images, x_int, {"name": f"{Path(directory).name}/{first.name}", "cols": first.cols,
                           "rows": first.rows, "paper_us": None}


def model_figures(images, sample, config, clock_ns: float, report: dict) -> dict:
    """The performance model's cycles and events for the run, and the energy model's
    estimate beside the measured energy."""
    from .energy_model import calibrated, event_counts, layer_energy
    from .perf_model import LayerShape, layer_timing
    timing = layer_timing(LayerShape(images, 0), np.asarray(sample) != 0, config.n_pes,
                          config.fifo_depth, config.bcast_width)
    rows = images.layers[0].rows
    events = event_counts(timing, config, rows)
    out = {"cycles": timing.cycles,
           "events_per_pe": {k: round(v / config.n_pes, 3) for k, v in events.items()}}
    coefficients = calibrated()
    if coefficients.source != "uncalibrated":
        estimate = layer_energy(timing, config, rows, clock_ns,
                                coefficients=coefficients)["energy_nj"]
        measured = report["energy_per_inference_nj"]
        out.update(energy_model_nj=round(estimate, 3), coefficients=coefficients.to_dict(),
                   energy_model_error=round(estimate / measured - 1, 4) if measured else None)
    return out


def cmd_power(args) -> int:
    from compress.manifest import write_images
    from eie_hw.tools import sta_bin

    from .power import (load_synth, logic_power, mean_pe, measure_activity, memory_power,
                        part_activity, trace_compute)
    from .power_report import assemble, format_report
    from .sweep.layers import parse_layers
    from .verilator_backend import CLOCK_PS
    if args.model and args.layer:
        raise EIEError("give --layer or --model, not both")
    sta = sta_bin()
    if sta is None:
        raise EIEError("OpenSTA (`sta`) is not installed: apt-get install opensta")
    synth = load_synth(args.synth)
    clock_ns = (args.clock_ns if args.clock_ns is not None
                else float(synth.report.get("clock_ns") or 1.25))
    config = synth.config
    if args.model:
        images, x_int, layer = _model(args.model, args.input, config, args.seed)
    else:
        specs = parse_layers(args.layer or DEFAULT_LAYER)
        if len(specs) != 1:
            raise EIEError("--layer takes one layer")
        try:
            images, x_int, layer = _synthetic(specs[0], config, args.balance, args.seed)
        except EIEError as exc:
            raise EIEError(f"{exc} (eie power: give these flags to the `eie synth` whose "
                           f"folder --synth names)") from None
    seconds, start = {}, time.perf_counter()
    with output_folder(args.output, "power", force=args.force) as staging:
        write_images(images, staging / "layer")
        start_trace, end_trace = trace_compute(staging / "layer", images, x_int, synth,
                                               staging, progress=_progress)
        seconds["simulation"] = round(time.perf_counter() - start, 1)
        _progress("reading the traces")
        tick = time.perf_counter()
        activity = measure_activity(start_trace, end_trace, CLOCK_PS)
        seconds["traces"] = round(time.perf_counter() - tick, 1)
        if not args.keep_traces:
            start_trace.unlink()
            end_trace.unlink()
        pe = mean_pe(activity, config.n_pes)
        tick = time.perf_counter()
        logic = logic_power(synth, pe, clock_ns, sta, staging / "sta", "pe", _progress)
        ccu = logic_power(synth, part_activity(activity, "ccu"), clock_ns, sta,
                          staging / "sta", "ccu", _progress)
        seconds["sta"] = round(time.perf_counter() - tick, 1)
        memories = memory_power(synth, pe, clock_ns, CLOCK_PS)
        report = assemble(layer=layer, synth=synth, logic=logic, memories=memories,
                          ccu=ccu, cycles=pe.cycles, clock_ns=clock_ns, seconds=seconds)
        report["model"] = model_figures(images, x_int[0], config, clock_ns, report)
        write_json(staging / "report.json", report)
        (staging / "report.txt").write_text(format_report(report))
    print(format_report(report), end="")
    print(f"wrote {args.output}/report.json and report.txt")
    return 0
