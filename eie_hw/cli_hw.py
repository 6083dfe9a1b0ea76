"""`eie generate` and `eie synth`: the hardware hand-off subcommands.

`eie_hw/cli.py` registers them with `add_generate_parser(sub)` / `add_synth_parser(sub)`;
each parser sets `func` to its command, which returns the exit status.
"""

from __future__ import annotations

import time
from pathlib import Path

from .bounds import check_design_size
from .config import add_config_arguments, config_from_args
from .errors import EIEError
from .output import add_force_argument, output_folder
from .progress import say as _progress


def _positive_float(text: str) -> float:
    """A positive, finite number (inf would reach ABC, OpenSTA and the SDC as a period)."""
    import argparse
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a positive, finite number, got {text}")
    return value


# ----------------------------------------------------------------------------- generate

def add_generate_parser(sub):
    p = sub.add_parser(
        "generate", help="write the accelerator as Verilog with an ASIC-flow hand-off",
        description="Write the EIE design for a configuration as Verilog into DIR: the design, "
                    "the behavioural SRAM model (eie_sram.v, $readmemh backdoor load with "
                    "+EIE_IMAGES=<model>/images), files.f, config.json, srams.json, an "
                    "OpenROAD-flow-scripts config.mk and constraint.sdc, and the lint waiver "
                    "file. See docs/hardware_flow.md.")
    p.add_argument("-o", "--output", metavar="DIR", required=True)
    p.add_argument("--clock-ns", type=_positive_float, default=1.25, metavar="T",
                   help="clock period for constraint.sdc and config.mk (default 1.25 = 800 MHz)")
    p.add_argument("--platform", default="nangate45", metavar="P",
                   help="OpenROAD-flow-scripts platform for config.mk (default nangate45)")
    p.add_argument("--design-name", default="eie_top", metavar="NAME",
                   help="top module name (default eie_top)")
    p.add_argument("--macros", metavar="LIB",
                   help="build every memory from SRAM macros: fakeram45 (Nangate45, vendored) "
                        "or a macro library JSON file (format: docs/hardware_flow.md); none = "
                        "the behavioural eie_sram (the default); writes "
                        "eie_sram_macros.v instead of eie_sram.v, the macros' models and "
                        "views, and a macro floorplan in config.mk")
    p.add_argument("--lint", action="store_true",
                   help="also run verilator --lint-only -Wall and the yosys latch check")
    add_force_argument(p)
    add_config_arguments(p)
    p.set_defaults(func=cmd_generate)
    return p


def cmd_generate(args) -> int:
    from .generate import generate

    config = config_from_args(args)
    check_design_size(config, args.force)
    library = None
    if args.macros is not None:
        from .macro_views import resolve_library
        library = resolve_library(args.macros)
    started = time.time()
    if config.n_pes > 8:
        _progress(f"elaborating {config.n_pes} PEs")
    with output_folder(args.output, "generate", force=args.force) as staging:
        design = generate(config, staging, clock_ns=args.clock_ns, platform=args.platform,
                          design_name=args.design_name, macros=library)
        if args.lint:
            _lint(design)      # a design that fails lint does not replace the folder
    files = [p.name for p in design.verilog_files] + [
        "files.f", "config.json", "srams.json", "config.mk", "io.tcl", "constraint.sdc",
        "lint_waivers.vlt"]
    print(f"wrote {args.output}/ ({', '.join(files)}) in {time.time() - started:.1f} s: "
          f"{config.n_pes} PE(s), {len(design.srams)} SRAM instances"
          + _macro_summary(design)
          + ("; lint: clean (verilator -Wall with lint_waivers.vlt), latches: 0"
             if args.lint else ""))
    return 0


def _macro_summary(design) -> str:
    handoff = design.macros
    if handoff is None:
        return " (behavioural eie_sram; --macros fakeram45 maps them onto SRAM macros)"
    mapped = [m for m in handoff.mappings if m.kind == "macro"]
    fp = handoff.floorplan
    return (f"; {len(mapped)} built from {fp.macro_count} {handoff.library.name} macros "
            f"({', '.join(handoff.used_macros)}; {fp.macro_area_um2:,.0f} um2), "
            f"{len(handoff.mappings) - len(mapped)} flip-flops; die "
            f"{fp.die[2]:,.0f} x {fp.die[3]:,.0f} um")


def _lint(design) -> None:
    from .checks import count_latches, lint

    _progress("verilator --lint-only -Wall")
    result = lint(design)
    if not result.ok:
        raise EIEError("verilator lint failed:\n" + result.output[-3000:])
    _progress("yosys latch check")
    latches = count_latches(design)
    if latches:
        raise EIEError(f"the design has {latches} latch(es)")


# ----------------------------------------------------------------------------- synth

def add_synth_parser(sub):
    p = sub.add_parser(
        "synth", help="synthesize the design with Yosys (memories on SRAM macros), time it "
                      "with OpenSTA",
        description="Generate the design, synthesize one PE, the CCU and the top-level glue "
                    "with Yosys, every memory built from SRAM macros (--macros) or flip-flops, "
                    "and report cells, flip-flops, area (with --liberty) per PE and in total, "
                    "the per-PE area by unit next to the paper's Table II, latches, and with "
                    "OpenSTA (`sta`, Debian package opensta) the achievable clock of the PE, "
                    "the CCU and the top-level glue (min period, MHz, worst path) and of the "
                    "design (the slowest), at the liberty's corner. Writes DIR/report.json "
                    "and DIR/report.txt; `eie simulate` / `eie sweep --synth-report "
                    "DIR/report.json` turn cycles into microseconds with it.")
    p.add_argument("-o", "--output", metavar="DIR", required=True)
    p.add_argument("--liberty", metavar="FILE",
                   help="standard-cell liberty file (.lib or .lib.gz), e.g. a Nangate45 corner; "
                        "without it: generic gate counts and no timing")
    p.add_argument("--clock-ns", type=_positive_float, default=1.25, metavar="T",
                   help="target clock period for mapping and timing (default 1.25 = 800 "
                        "MHz); the report gives the achievable one (min period, MHz)")
    p.add_argument("--macros", default="fakeram45", metavar="LIB",
                   help="SRAM macro library the memories are built from: fakeram45 (default, "
                        "the vendored Nangate45 macros), a library JSON file "
                        "(eie_hw/macros.py), or none (every SRAM a black box with assumed "
                        "timing, for platforms without a macro library)")
    p.add_argument("--sram-access-ns", type=_positive_float, default=None, metavar="T",
                   help="with --macros none: assumed SRAM clock-to-output time for timing "
                        "(default 0.30)")
    add_force_argument(p)
    add_config_arguments(p)
    p.set_defaults(func=cmd_synth)
    return p


def cmd_synth(args) -> int:
    from .macro_views import resolve_library
    from .synth import SRAMTiming, synthesize

    config = config_from_args(args)
    liberty = Path(args.liberty) if args.liberty else None
    if liberty is not None and not liberty.is_file():
        raise EIEError(f"liberty file {liberty} does not exist")
    library = resolve_library(args.macros)      # a bad library fails before the long part
    timing = SRAMTiming()
    if args.sram_access_ns is not None:
        if library is not None:
            raise EIEError(f"--sram-access-ns sets the assumed SRAM timing of --macros none; "
                           f"with --macros {args.macros} the macros' Liberty views give it")
        timing = SRAMTiming(access_ns=args.sram_access_ns)
    check_design_size(config, args.force)
    with output_folder(args.output, "synth", force=args.force) as staging:
        report = synthesize(config, staging, liberty=liberty, clock_ns=args.clock_ns,
                            progress=_progress, sram_timing=timing, macros=library)
    print((Path(args.output) / "report.txt").read_text(), end="")
    print(f"wrote {args.output}/report.json and report.txt in {report['seconds']:.0f} s")
    return 0
