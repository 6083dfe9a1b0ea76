"""Power and energy at the paper's configuration: `eie power` on Table III layers and on
calibration layers, the energy model fitted and checked, Table III energy per inference.

    python bench/bench_energy.py --synth build/synth-typ-final1 [-o build/energy]
                                 [--write-calibration] [--readme]

1. `eie power` (sim/power.py) runs every layer below that fits the synthesized design
   (the paper configuration: 64 activation entries per PE, so at most 4096 inputs and
   outputs) into OUT/<layer>/ (skipped when its report is there: a re-run resumes).
2. The energy model's logic coefficients (sim/energy_model.py) are fitted on the
   CALIBRATION layers only; `--write-calibration` stores them in
   sim/energy_calibration.json.
3. The model is checked against `eie power` on the VALIDATION layers, which the fit did
   not see (goal: within 10 %).
4. Energy per inference of all nine Table III layers: measured where the layer fits the
   paper configuration, the energy model where it does not (Alex-6, VGG-6 and NT-Wd need
   more activation entries than the paper's 64 per PE: the model prices them on a design
   with the entries they need, i.e. more accumulator flip-flops, and the paper
   configuration's SRAM macros).
`--readme` rewrites the generated part of bench/README.md (between its energy markers).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from eie_hw.cli import main as eie_main  # noqa: E402
from eie_hw.errors import EIEError  # noqa: E402
from sim.energy_model import (CALIBRATION_FILE, EVENTS, LogicCoefficients,  # noqa: E402
                              fit_logic, layer_energy)
from sim.sweep import TABLE_III  # noqa: E402

CALIBRATION = ("Alex-8", "VGG-8", "NT-We", "4096x1000:0.05:0.2", "2048x2048:0.3:0.8",
               "1024x4096:0.15:1.0", "4096x512:0.5:0.5")
VALIDATION = ("Alex-7", "VGG-7", "NT-LSTM")
BEGIN, END = "<!-- energy-table:begin -->", "<!-- energy-table:end -->"


def folder_name(layer: str) -> str:
    return layer.replace(":", "_")


def run_power(synth: Path, out: Path, layer: str) -> dict:
    report = out / folder_name(layer) / "report.json"
    if not report.is_file():
        start = time.perf_counter()
        code = eie_main(["power", "--synth", str(synth), "--layer", layer, "-o",
                         str(report.parent), "--force"])
        if code != 0:
            raise EIEError(f"eie power failed on {layer}")
        print(f"{layer}: {time.perf_counter() - start:.0f} s", file=sys.stderr)
    return json.loads(report.read_text())


def sample(report: dict) -> dict:
    """A calibration sample: the mean PE's events (the model's, as `eie power` counted
    them for its run) and each unit's measured dynamic energy (pJ) and the logic's
    leakage."""
    events = report["model"]["events_per_pe"]
    missing = [e for e in EVENTS if e not in events]
    if missing:
        raise EIEError(f"{report['layer']['name']}: its eie power report lacks the events "
                       f"{', '.join(missing)} (an older eie): delete its folder and re-run")
    run_ns = report["cycles"] * report["clock_ns"]
    units = {row["unit"]: (row["registers"]["dynamic_mw"]
                           + row["combinational"]["dynamic_mw"]) * run_ns
             for row in report["per_pe"]["rows"] if row["unit"] != "total"}
    return {"events_per_pe": events, "unit_dynamic_pj": units,
            "logic_leakage_mw": report["logic_per_pe"]["leakage_mw"]}


def model_energy(layer: str, synth_config, clock_ns: float,
                 coefficients: LogicCoefficients) -> tuple[float, int, int | None]:
    """The energy model's nJ and cycles of a layer, and None if it fits the synthesized
    design, else the activation entries per PE it needs. Such a layer is timed and priced
    on a design with memories sized for it (as bench_paper_table.py does: more
    accumulator flip-flops), with the synthesized design's SRAM macros."""
    from compress.images import pack_layers
    from eie_hw.generate import pe_srams
    from eie_hw.macro_mapping import map_design
    from eie_hw.macro_views import resolve_library
    from sim.cli_power import _synthetic
    from sim.perf_model import LayerShape, layer_timing
    from sim.sweep.evaluate import PointTask, _assigned_layers, _model_inputs, fit_config
    from sim.sweep.layers import parse_layers
    spec = parse_layers(layer)[0]
    library = resolve_library("fakeram45")
    mappings = map_design(pe_srams(synth_config), library)
    try:
        images, x_int, _ = _synthetic(spec, synth_config, "balanced", 0)
        config, mask, fits = synth_config, x_int[0] != 0, True
    except EIEError:
        task = PointTask(spec, (), synth_config.to_dict(),
                         ("act_entries", "bias_entries", "spmat_words", "ptr_entries"),
                         "balanced", "model", 1, 0)
        layers, encoded = _assigned_layers(task, synth_config)
        config = fit_config(synth_config, layers, encoded, task.auto)
        images = pack_layers(layers, config, encoded=encoded)
        mask, fits = _model_inputs(task, images)[0][0][0], False
    timing = layer_timing(LayerShape(images, 0), mask, config.n_pes, config.fifo_depth,
                          config.bcast_width)
    e = layer_energy(timing, config, spec.rows, clock_ns, library, coefficients,
                     mappings=mappings)
    return e["energy_nj"], timing.cycles, None if fits else config.act_entries


def _pct(a: float, b: float) -> str:
    return f"{100 * (a / b - 1):+.1f} %"


def check_rows(reports: dict, names, synth_config, coefficients) -> list[str]:
    lines = ["| layer | cycles | eie power nJ | energy model nJ | model vs measured |",
             "|---|---|---|---|---|"]
    for name in names:
        r = reports[name]
        model, _, _ = model_energy(name, synth_config, r["clock_ns"], coefficients)
        lines.append(f"| {name} | {r['cycles']:,} | {r['energy_per_inference_nj']:,.1f} | "
                     f"{model:,.1f} | {_pct(model, r['energy_per_inference_nj'])} |")
    return lines


def table_iii_rows(reports: dict, synth_config, clock_ns, coefficients) -> list[str]:
    lines = ["| layer | cycles | us at 800 MHz | energy nJ | from | inferences/J | paper us "
             "| paper nJ (586 mW x us) |", "|---|---|---|---|---|---|---|---|"]
    for name, spec in TABLE_III.items():
        if name in reports:
            r = reports[name]
            nj, cycles, source = r["energy_per_inference_nj"], r["cycles"], "eie power"
        else:
            nj, cycles, entries = model_energy(name, synth_config, clock_ns, coefficients)
            source = "energy model" + (f", on {entries} act entries/PE" if entries else "")
        paper_nj = 9.157 * 64 * spec.paper_us
        lines.append(f"| {name} | {cycles:,} | {cycles * clock_ns / 1e3:.2f} | {nj:,.0f} | "
                     f"{source} | {1e9 / nj:,.0f} | {spec.paper_us} | {paper_nj:,.0f} |")
    return lines


def pe_table(report: dict) -> list[str]:
    lines = ["| per PE, mW | memory | registers | combinational | total | paper total |",
             "|---|---|---|---|---|---|"]
    for row in report["per_pe"]["rows"]:
        cells = [row[k]["dynamic_mw"] + row[k]["leakage_mw"]
                 for k in ("memory", "registers", "combinational")]
        paper = "-" if row["paper_mw"] is None else f"{row['paper_mw']:.3f}"
        lines.append(f"| {row['label']} | " + " | ".join(f"{c:.3f}" for c in cells)
                     + f" | {row['total_mw']:.3f} | {paper} |")
    return lines


def fig9_rows(sweep_dir: Path) -> list[str]:
    """Fig. 9 from an `eie sweep --sweep sram_width=...` folder: per layer and width the
    Spmat reads, their energy (reads x the width's macro access energy) and the layer's
    energy (the energy model), the minimum of each marked."""
    import csv

    from eie_hw.generate import pe_srams
    from eie_hw.macro_energy import memory_energy
    from eie_hw.macro_mapping import map_design
    from eie_hw.macro_views import resolve_library
    from eie_hw.config import EIEConfig
    library = resolve_library("fakeram45")
    rows = list(csv.DictReader((sweep_dir / "sweep.csv").open()))
    layers: dict[str, list] = {}
    for r in rows:
        config = EIEConfig.from_dict({k: int(r[k]) for k in EIEConfig().to_dict()
                                      if k in r})
        spmat = next(m for m in map_design(pe_srams(config), library) if m.role == "spmat")
        access_pj = memory_energy(spmat, library).access_pj
        layers.setdefault(r["layer"], []).append(
            (int(r["sram_width"]), int(r["spmat_reads"]), access_pj,
             int(r["spmat_reads"]) * access_pj / 1e3, float(r["energy_nj"])))
    lines = ["| layer | width | Spmat reads | pJ per read | Spmat read nJ | layer nJ |",
             "|---|---|---|---|---|---|"]
    for name, points in layers.items():
        best_read = min(p[3] for p in points)
        best = min(p[4] for p in points)
        for width, reads, pj, read_nj, nj in points:
            lines.append(f"| {name} | {width} | {reads:,} | {pj:.1f} | "
                         f"{read_nj:,.0f}{' (min)' if read_nj == best_read else ''} | "
                         f"{nj:,.0f}{' (min)' if nj == best else ''} |")
    return lines


def write_readme(text: str) -> None:
    path = ROOT / "bench" / "README.md"
    readme = path.read_text()
    block = f"{BEGIN}\n{text}{END}"
    if BEGIN in readme and END in readme:
        readme = readme[:readme.index(BEGIN)] + block + readme[readme.index(END) + len(END):]
    else:
        readme = readme.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(readme)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synth", required=True, help="an `eie synth --liberty` folder")
    parser.add_argument("-o", "--output", default="build/energy")
    parser.add_argument("--write-calibration", action="store_true")
    parser.add_argument("--readme", action="store_true")
    parser.add_argument("--fig9", metavar="SWEEP_DIR",
                        help="add Fig. 9 from an `eie sweep --sweep sram_width=...` folder")
    args = parser.parse_args(argv)
    synth, out = Path(args.synth), Path(args.output)
    reports = {name: run_power(synth, out, name) for name in CALIBRATION + VALIDATION}
    from eie_hw.config import EIEConfig
    synth_config = EIEConfig.from_dict(reports["Alex-8"]["config"])
    clock_ns = reports["Alex-8"]["clock_ns"]
    coefficients = fit_logic([sample(reports[n]) for n in CALIBRATION],
                             source=f"bench/bench_energy.py on {synth}, "
                                    f"{time.strftime('%Y-%m-%d')}: " + ", ".join(CALIBRATION))
    if args.write_calibration:
        CALIBRATION_FILE.write_text(json.dumps({"coefficients": coefficients.to_dict()},
                                               indent=1) + "\n")
    coeff = ", ".join(f"{e} {getattr(coefficients, e + '_pj'):.4g} pJ" for e in EVENTS)
    text = "\n".join(
        [f"Measured {time.strftime('%Y-%m-%d')} with `python bench/bench_energy.py --synth "
         f"{synth}` (64 PEs, FIFO 8, 64-bit Spmat, fakeram45, Nangate45 typical, "
         f"{clock_ns} ns).", "", "Per PE, Alex-8 (`eie power --synth " f"{synth}`):", "",
         *pe_table(reports["Alex-8"]), "",
         f"Energy model, fitted on {', '.join(CALIBRATION)}: per PE {coeff}, logic leakage "
         f"{coefficients.leakage_mw:.3f} mW. Checked on layers the fit did not see:", "",
         *check_rows(reports, VALIDATION, synth_config, coefficients), "",
         "Fit residuals on the calibration layers:", "",
         *check_rows(reports, CALIBRATION, synth_config, coefficients), "",
         "Table III, energy per inference at 800 MHz (`eie power`: the 64 PEs and the CCU; "
         "the energy model: the 64 PEs):", "",
         *table_iii_rows(reports, synth_config, clock_ns, coefficients), ""]
        + (["Fig. 9, energy against the Spmat SRAM width (the energy model; the Spmat "
            "capacity kept at 1 Mbit per PE; `eie sweep --layers Alex-7,Alex-8,VGG-7,NT-We,"
            "NT-LSTM --sweep sram_width=32,64,128,256,512 --pes 64 --balance balanced -o "
            f"{args.fig9}`):", "", *fig9_rows(Path(args.fig9)), ""] if args.fig9 else []))
    print(text)
    if args.readme:
        write_readme(text + "\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except EIEError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
