"""The paper's benchmark table: synthetic Table III layers on our design, beside Table IV.

    python bench/bench_paper_table.py [--samples 5 --seed 0 --jobs 2 --bcast-width 8
                                       -o build/paper-table --verilator --readme
                                       --clock-ns T | --synth-report FILE
                                       --wide-synth-report FILE]

Every layer of the spec's Table III (size, weight density, activation density) is built
as random codes (uniform non-zeros at the weight density) and run at 64 PEs, FIFO depth
8, 64-bit Spmat words on `--samples` random input vectors (uniform non-zeros at the
activation density) with the performance model (`sim/perf_model.py`, cycle-exact against
the RTL), for both row-to-PE assignments (`interleave`, the paper's `i mod N`, and
`balanced`, compress/balance.py), on the paper's design (one column per broadcast) and
on one that broadcasts `--bcast-width` adjacent columns at once (`bcast_width`,
docs/architecture.md). It uses `sim.sweep.run_sweep`, so every point is cached in the
user cache folder (`$EIE_CACHE_DIR/sweep`, docs/sweeps.md) and a re-run is instant.

Reported per layer: the paper's EIE actual time (Table IV, us) and, with a clock
(`--clock-ns T`, or `--synth-report FILE`: the design min period of an `eie synth`
report), ours at that clock for every variant ("us at our clock" = cycles x period;
`--wide-synth-report FILE` puts the --bcast-width variant at its own design's clock);
the paper's EIE actual and theoretical cycles (Table IV, us x 800),
the broadcast count nnz(a) (one broadcast per cycle at most: a lower bound), and per
assignment the ideal cycles (perfect balance: entries of the non-zero columns / 64), our
cycles, their excess over ideal, and the load-balance efficiency (busy / (64 x cycles)).
All figures are means over the samples.

`--verilator` also runs every layer, for one sample, on the Verilated RTL, and reports
its cycles and whether they equal the model's. All layers run on one design per
broadcast width, whose memories are sized for the largest layer (`table_design`), so
the whole table costs two 64-PE builds (cached in the user cache folder). `--readme`
rewrites the generated table in bench/README.md (between its paper-table markers).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# Runs from a checkout without installing the package.
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eie_hw.config import EIEConfig  # noqa: E402
from eie_hw.errors import EIEError  # noqa: E402
from sim.clock import (add_clock_arguments, clock_from_args, read_synth_clock,  # noqa: E402
                       to_us)
from sim.sweep import TABLE_III, SweepOptions, run_sweep  # noqa: E402

PAPER_CONFIG = EIEConfig(n_pes=64, fifo_depth=8, sram_width=64)
BEGIN, END = "<!-- paper-table:begin -->", "<!-- paper-table:end -->"
MODES = ("interleave", "balanced")


def variants(wide: int) -> list[tuple[str, int]]:
    """(row assignment, bcast_width) column groups of the table."""
    return [("interleave", 1), ("balanced", 1)] + ([("balanced", wide)] if wide > 1 else [])


def variant_name(mode: str, width: int) -> str:
    return mode if width == 1 else f"{mode}, W={width}"


def table_design(model_rows: list[dict]) -> EIEConfig:
    """The paper configuration with every memory as large as the largest layer needs
    (the model sweep's rows carry each layer's fitted sizes), so that every layer of the
    table runs on one Verilator build per broadcast width."""
    sizes = {f: max(int(r[f]) for r in model_rows)
             for f in ("act_entries", "bias_entries", "ptr_entries", "spmat_words")}
    return PAPER_CONFIG.replace(**sizes)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=5, help="input vectors per layer (5)")
    p.add_argument("--seed", type=int, default=0, help="seed of layers and inputs (0)")
    p.add_argument("--jobs", type=int, default=2, help="worker processes (2)")
    p.add_argument("-o", "--output", default=str(ROOT / "build" / "paper-table"),
                   help="sweep output directory (build/paper-table)")
    p.add_argument("--layers", default=",".join(TABLE_III), help="subset of Table III")
    p.add_argument("--bcast-width", type=int, default=8,
                   help="columns per broadcast of the wide design (8; 1 = paper design only)")
    p.add_argument("--verilator", action="store_true",
                   help="also run every layer (one sample) on the Verilated RTL")
    p.add_argument("--readme", action="store_true",
                   help="write the table into bench/README.md")
    add_clock_arguments(p)
    p.add_argument("--wide-synth-report", metavar="FILE",
                   help="the wide (--bcast-width) design's own `eie synth` report: its "
                        "variant's microseconds at that design's clock (default: the clock "
                        "of --clock-ns / --synth-report for every variant)")
    return p.parse_args(argv)


def _n(v, digits=0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def table(rows: dict, verilator: dict, specs, samples: int, wide: int,
          clock=None) -> str:
    groups = variants(wide)
    names = " / ".join(variant_name(*g) for g in groups)
    head = ["layer", "in x out", "W %", "A %", "paper us"]
    if clock is not None:
        head.append(f"us at our clock ({names})")
    head += ["paper actual", "paper theor.", "nnz(a)"]
    for mode, width in groups:
        head += [f"{variant_name(mode, width)}: ideal", "cycles", "vs ideal", "LB eff."]
    head.append(f"Verilator, sample 1 ({names})")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for spec in specs:
        r0 = rows[(spec.name, MODES[0], 1)]
        line = [spec.name, f"{spec.cols} x {spec.rows}", f"{100 * spec.weight_density:g}",
                f"{100 * spec.act_density:g}", _n(spec.paper_us, 1)]
        if clock is not None:
            line.append(" / ".join(_n(rows[(spec.name, *g)].get("us"), 2) for g in groups))
        line += [_n(spec.paper_cycles), _n(spec.paper_theoretical_cycles),
                 _n(r0["broadcasts"])]
        for mode, width in groups:
            r = rows[(spec.name, mode, width)]
            line += [_n(r["ideal_cycles_balanced"]), _n(r["cycles"]),
                     f"{100 * (r['cycles'] / r['ideal_cycles_balanced'] - 1):+.1f} %",
                     f"{r['load_balance_efficiency']:.3f}"]
        v = [verilator.get((spec.name, mode, width)) for mode, width in groups]
        if all(x is None for x in v):
            line.append("-" if not verilator else "not run")
        else:
            line.append(" / ".join(
                "-" if x is None else f"{x['cycles']:,} ({'= model' if x['model_matches_rtl'] else 'model ' + format(x['model_cycles'], ',')}"
                f"{'' if x['golden_match'] else ', OUTPUTS DIFFER'})" for x in v))
        lines.append("| " + " | ".join(line) + " |")
    return "\n".join(lines) + "\n"


def _heading(args, clock, out: Path, wide_clock=None) -> str:
    """The paragraph above the table: the command that made it, and the clock."""
    flags = ""
    if args.clock_ns is not None:
        flags = f" --clock-ns {args.clock_ns:g}"
    elif args.synth_report is not None:
        flags = f" --synth-report {_shown(Path(args.synth_report))}"
    if args.wide_synth_report is not None:
        flags += f" --wide-synth-report {_shown(Path(args.wide_synth_report))}"
    layers = "" if args.layers == ",".join(TABLE_III) else f" --layers {args.layers}"
    text = (f"Command: `python bench/bench_paper_table.py --samples {args.samples} --seed "
            f"{args.seed} --bcast-width {args.bcast_width}{layers}"
            f"{' --verilator' if args.verilator else ''}{flags} --readme` "
            f"(64 PEs, FIFO 8, 64-bit Spmat words; means over {args.samples} random input "
            f"vectors; table written {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
            f"sweep results in {_shown(out)}).\n\n")
    if clock is not None:
        source = (f"--clock-ns {clock.period_ns:g}" if args.clock_ns is not None else
                  f"the design min period of {_shown(Path(args.synth_report))}, set by the "
                  f"{clock.limited_by}")
        text += (f"Our clock: {clock.period_ns:g} ns ({clock.mhz:.0f} MHz; {source}"
                 f"{', ' + clock.corner if clock.corner else ''}); the paper's: 1.25 ns "
                 f"(800 MHz), critical path 1.15 ns.")
        if wide_clock is not None and wide_clock is not clock:
            text += (f" The W = {args.bcast_width} variant is at its own design's clock: "
                     f"{wide_clock.period_ns:g} ns ({wide_clock.mhz:.0f} MHz; the design min "
                     f"period of {_shown(Path(args.wide_synth_report))}, set by the "
                     f"{wide_clock.limited_by}).")
        text += "\n\n"
    return text


def _shown(path: Path) -> str:
    """`path` relative to the repository when inside it (no machine paths in README)."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def write_readme(text: str) -> Path:
    path = ROOT / "bench" / "README.md"
    readme = path.read_text()
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in readme and END in readme:
        start = readme.index(BEGIN)
        end = readme.index(END) + len(END)
        readme = readme[:start] + block + readme[end:]
    else:
        readme = readme.rstrip("\n") + "\n\n## The paper's benchmark table (Table III / IV)\n\n" \
            + block + "\n"
    path.write_text(readme)
    return path


def main(argv=None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.layers.split(",") if n.strip()]
    unknown = [n for n in names if n not in TABLE_III]
    if unknown:
        raise SystemExit(f"unknown layer(s) {unknown}; Table III has {list(TABLE_III)}")
    specs = [TABLE_III[n] for n in names]
    out = Path(args.output)
    t0 = time.perf_counter()
    try:        # the config's own check of the width (power of two dividing the PEs)
        PAPER_CONFIG.replace(bcast_width=args.bcast_width)
        clock = clock_from_args(args)
        wide_clock = clock
        if args.wide_synth_report is not None:
            if clock is None:
                raise EIEError("--wide-synth-report needs --synth-report or --clock-ns for "
                               "the W = 1 design")
            wide_clock = read_synth_clock(args.wide_synth_report)
    except EIEError as exc:
        raise SystemExit(f"error: {exc}") from None
    widths = sorted({1, args.bcast_width})
    result = run_sweep(specs, out / "model", SweepOptions(
        base=PAPER_CONFIG, balance=MODES, sweep={"bcast_width": widths},
        samples=args.samples, seed=args.seed, jobs=args.jobs, progress=True, plots=False,
        clock=clock))
    rows = {(r["layer"], r["balance"], r["bcast_width"]): r for r in result.rows}
    for (_, _, width), r in rows.items():
        if width > 1 and wide_clock is not clock:
            r["us"] = to_us(r["cycles"], wide_clock.period_ns)
    model_seconds = time.perf_counter() - t0
    print(f"performance model: {len(result.rows)} rows in {model_seconds:.1f} s "
          f"({result.computed} computed, {result.cached} cached)", flush=True)

    verilator = {}
    if args.verilator:
        design = table_design(result.rows)
        print(f"Verilator: every layer on one design per width (act_entries "
              f"{design.act_entries}, bias_entries {design.bias_entries}, ptr_entries "
              f"{design.ptr_entries}, spmat_words {design.spmat_words})", flush=True)
        t1 = time.perf_counter()
        try:
            vres = run_sweep(specs, out / "verilator", SweepOptions(
                base=design, balance=MODES, sweep={"bcast_width": widths}, samples=1,
                seed=args.seed, jobs=1, backend="verilator", progress=True, plots=False))
            verilator = {(r["layer"], r["balance"], r["bcast_width"]): r for r in vres.rows}
        except EIEError as exc:
            print(f"Verilator: not run: {exc}", file=sys.stderr)
        print(f"Verilator part: {time.perf_counter() - t1:.0f} s", flush=True)
    text = _heading(args, clock, out, wide_clock) + table(rows, verilator, specs,
                                                          args.samples, args.bcast_width,
                                                          clock)
    print(text)
    if args.readme:
        print(f"wrote {write_readme(text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
