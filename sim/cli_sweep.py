"""`eie sweep`: the command-line front of sim/sweep/ (hooked into eie_hw/cli.py)."""

from __future__ import annotations

import shlex
import sys

from eie_hw.config import add_config_arguments, config_from_args, config_overrides
from eie_hw.errors import EIEError
from eie_hw.output import add_force_argument


def add_sweep_parser(sub) -> None:
    from compress.balance import BALANCE_MODES

    from .clock import add_clock_arguments
    from .sweep import BACKENDS, TABLE_III, jobs_default
    p = sub.add_parser(
        "sweep", help="design-space sweep: cycles, load balance, Spmat reads, energy (and "
                      "area) per config",
        description="Run every combination of the swept config values on every layer with "
                    "the performance model (or Verilator) and write OUT/sweep.csv, "
                    "OUT/sweep.json and plots (PNG + SVG) into OUT/plots; OUT is replaced only "
                    "when the sweep completes. Points are cached in the user cache folder "
                    "($EIE_CACHE_DIR/sweep, else ~/.cache/eie/sweep): re-running an "
                    "interrupted sweep resumes it.",
        epilog="example: eie sweep --layers Alex-7,NT-We --sweep fifo_depth=1,2,4,8,16,32 "
               "--pes 64 -o build/sweep-fifo   (see docs/sweeps.md)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output directory")
    p.add_argument("--layers", metavar="L1,L2",
                   help=f"synthetic layers: Table III names ({', '.join(TABLE_III)}), `all`, "
                        f"or INxOUT:WEIGHT_DENSITY:ACT_DENSITY")
    p.add_argument("--model", metavar="DIR", action="append",
                   help="a compressed model directory (eie compress -o DIR); repeatable")
    p.add_argument("--input", metavar="ACT.npy",
                   help="inputs for --model (float vector or batch; default: random)")
    p.add_argument("--sweep", metavar="FIELD=V1,V2", action="append",
                   help="config field and its values (repeatable; the points are all "
                        "combinations). Values: 1,2,4 or LO..HI or LO..HI*K (e.g. 1..256*2)")
    p.add_argument("--balance", default="interleave", metavar="MODE[,MODE]",
                   help=f"row-to-PE assignment(s) to compare: {', '.join(BALANCE_MODES)} "
                        f"(default interleave)")
    p.add_argument("--backend", choices=BACKENDS, default="model",
                   help="performance model (default) or the Verilated RTL (spot checks)")
    p.add_argument("--samples", type=int, default=1, metavar="N",
                   help="input vectors per point; figures are averaged (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the synthetic layers and inputs")
    p.add_argument("--jobs", type=int, default=jobs_default(), metavar="N",
                   help=f"local worker processes (default: the core count, "
                        f"{jobs_default()})")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="hand the points to a Dask cluster (e.g. tcp://host:8786)")
    p.add_argument("--synth", action="store_true",
                   help="also synthesize every distinct config (Yosys; minutes each) and "
                        "report PE logic area, slack, the design min period and "
                        "us_at_synth_clock (cycles x that period)")
    p.add_argument("--liberty", metavar="FILE", help="liberty file for --synth (area, timing)")
    add_clock_arguments(p, synth_target=True)
    p.add_argument("--fresh", action="store_true", help="ignore cached points (recompute)")
    add_force_argument(p)
    p.add_argument("--no-plots", action="store_true", help="do not draw plots")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_config_arguments(p)
    p.set_defaults(func=cmd_sweep)


def _layers(args) -> list:
    from .sweep import model_source, parse_layers
    layers = parse_layers(args.layers) if args.layers else []
    if args.input and not args.model:
        raise EIEError("--input goes with --model DIR (synthetic layers make their own inputs)")
    for directory in args.model or []:
        layers.append(model_source(directory, args.input))
    if not layers:
        raise EIEError("nothing to sweep: give --layers (e.g. Alex-7,NT-We) and/or --model DIR")
    return layers


def _options(args):
    from .clock import PAPER_CLOCK_NS, clock_from_args
    from .sweep import SweepOptions, parse_sweep
    # Flags are taken as they are; a --config file is a base whose memory sizes are still
    # enlarged per point as the layers need.
    command = "eie sweep " + " ".join(shlex.quote(a) for a in sys.argv[2:]) \
        if len(sys.argv) > 1 and sys.argv[1] == "sweep" else None
    return SweepOptions(
        base=config_from_args(args), sweep=parse_sweep(args.sweep, force=args.force),
        explicit=frozenset(config_overrides(args)),
        balance=tuple(m.strip() for m in args.balance.split(",") if m.strip()),
        backend=args.backend, samples=args.samples, seed=args.seed, jobs=args.jobs,
        scheduler=args.scheduler, synth=args.synth, liberty=args.liberty,
        clock_ns=args.clock_ns if args.clock_ns is not None else PAPER_CLOCK_NS,
        clock=clock_from_args(args), progress=not args.quiet, plots=not args.no_plots,
        fresh=args.fresh, command=command, force=args.force)


def _time_note(rows: list[dict]) -> str:
    from .clock import NO_PERIOD_NOTE
    if any("us" in r for r in rows):
        return f"us = cycles x {rows[0]['period_ns']:g} ns"
    return NO_PERIOD_NOTE


def cmd_sweep(args) -> int:
    from .sweep import format_table, run_sweep
    layers = _layers(args)
    result = run_sweep(layers, args.output, _options(args))
    print(format_table(result.rows, result.swept), end="")
    print(f"{len(result.rows)} rows ({result.computed} computed, {result.cached} from the "
          f"cache) in {result.seconds:.1f} s")
    print(_time_note(result.rows))
    print(f"wrote {result.csv_path}, {result.json_path}"
          + (f" and {len(result.plots)} plot files in {result.plots[0].parent}"
             if result.plots else ""))
    bad = [r for r in result.rows if r.get("golden_match") is False]
    if bad:
        print(f"{len(bad)} row(s) where the RTL differs from the golden model", file=sys.stderr)
        return 1
    return 0
