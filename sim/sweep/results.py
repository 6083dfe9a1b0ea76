"""A sweep's results: `SweepResult`, the speedup and time columns, `sweep.csv` and
`sweep.json` (format `eie-sweep`, docs/sweeps.md) and the terminal table."""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path

from sim.clock import PAPER_CLOCK_NS, to_us

from .layers import LayerSpec
from .options import field_names

SWEEP_FORMAT = "eie-sweep"
SWEEP_VERSION = 1
LEADING_COLUMNS = ["layer", "balance", "backend", "samples"]


@dataclass
class SweepResult:
    rows: list[dict]
    swept: dict[str, list[int]]
    csv_path: Path
    json_path: Path
    plots: list[Path] = field(default_factory=list)
    computed: int = 0            # points (and syntheses) evaluated in this run
    cached: int = 0              # taken from the on-disk cache
    seconds: float = 0.0


def add_speedup(rows: list[dict], sweep: dict) -> None:
    """speedup = cycles at the smallest swept PE count / cycles (same layer and others)."""
    if "n_pes" not in sweep:
        for row in rows:
            row["speedup"] = None
        return
    others = [f for f in sweep if f != "n_pes"]

    def group(row):
        return (row["layer"], row["balance"], row["backend"], tuple(row[f] for f in others))

    smallest: dict = {}
    for row in rows:
        g = group(row)
        if g not in smallest or row["n_pes"] < smallest[g]["n_pes"]:
            smallest[g] = row
    for row in rows:
        base = smallest[group(row)]
        row["speedup"] = round(base["cycles"] / row["cycles"], 4) if row["cycles"] else None


def add_time(rows: list[dict], clock, synth: bool) -> None:
    """`us` = cycles x the sweep's clock (with one), and with --synth `us_at_synth_clock`
    = cycles x the point's own design min period (None where it was not timed)."""
    for row in rows:
        if clock is not None:
            row["period_ns"] = clock.period_ns
            row["us"] = to_us(row["cycles"], clock.period_ns)
        if synth:
            period = row.get("synth_min_period_ns")
            row["us_at_synth_clock"] = (to_us(row["cycles"], period)
                                        if period and period > 0 else None)
        add_energy(row, clock.period_ns if clock is not None else PAPER_CLOCK_NS)


def add_energy(row: dict, period_ns: float) -> None:
    """`energy_nj` of the layer (the energy model, sim/energy_model.py): its dynamic
    energy plus its static power for cycles x `period_ns`; `energy_clock_ns` says which."""
    if row.get("dynamic_energy_nj") is None:
        return
    row["energy_clock_ns"] = period_ns
    row["energy_nj"] = round(row["dynamic_energy_nj"]
                             + row["static_power_mw"] * row["cycles"] * period_ns / 1e3, 4)


def _columns(rows: list[dict], sweep: dict) -> list[str]:
    fields = field_names()
    swept = [f for f in sweep]
    lead = LEADING_COLUMNS + swept + [f for f in fields if f not in swept]
    rest = []
    for row in rows:
        for k in row:
            if k not in lead and k not in rest:
                rest.append(k)
    return lead + rest


def _layer_docs(layers) -> list[dict]:
    docs = []
    for layer in layers:
        if isinstance(layer, LayerSpec):
            docs.append({"name": layer.name, **layer.key(), "paper_cycles": layer.paper_cycles})
        else:
            docs.append({"name": layer.name, "kind": "model", "directory": layer.directory,
                         "input": layer.input})
    return docs


def write_results(rows: list[dict], folder: Path, options, layers, stats: dict
                  ) -> tuple[Path, Path]:
    """Write `folder`/sweep.csv and `folder`/sweep.json; `options`: the checked
    SweepOptions. Nothing written names `folder` (a staging folder, renamed after)."""
    columns = _columns(rows, options.sweep)
    csv_path = folder / "sweep.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    doc = {
        "format": SWEEP_FORMAT,
        "version": SWEEP_VERSION,
        "command": options.command,
        "swept": options.sweep,
        "base_config": options.base.to_dict(),
        "auto_sized": list(options.auto),
        "balance": list(options.balance),
        "backend": options.backend,
        "samples": options.samples,
        "seed": options.seed,
        "clock": options.clock.to_dict() if options.clock is not None else None,
        "layers": _layer_docs(layers),
        "columns": columns,
        "rows": rows,
        "stats": stats,
    }
    json_path = folder / "sweep.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    return csv_path, json_path


def _table_head(rows: list[dict], swept: list[str]) -> list[str]:
    head = (["layer", "balance"] + swept +
            ["cycles", "ideal(max PE)", "ideal(balance)", "over", "LB eff", "stalls",
             "Spmat reads"])
    if any(r.get("speedup") is not None for r in rows):
        head.append("speedup")
    if any("us" in r for r in rows):
        head.append("us")
    if any("synth_pe_area_um2" in r for r in rows):
        head += ["PE area um2", "PE slack ns", "min period ns", "us @synth"]
    if any("golden_match" in r for r in rows):
        head += ["model cycles", "golden"]
    return head


def _table_line(r: dict, swept: list[str], head: list[str]) -> list[str]:
    line = [r["layer"], r["balance"]] + [str(r[f]) for f in swept] + [
        f"{r['cycles']:,}", f"{r['ideal_cycles_max_pe']:,}",
        f"{r['ideal_cycles_balanced']:,.0f}", f"{100 * r['cycles_over_ideal']:+.1f}%",
        f"{r['load_balance_efficiency']:.3f}", f"{r['stall_cycles']:,}",
        f"{r['spmat_reads']:,}"]
    if "speedup" in head:
        line.append("" if r.get("speedup") is None else f"{r['speedup']:.2f}")
    if "us" in head:
        line.append(_opt(r.get("us"), "{:,.3f}"))
    if "PE area um2" in head:
        line += [_opt(r.get("synth_pe_area_um2"), "{:,.0f}"),
                 _opt(r.get("synth_pe_slack_ns"), "{}"),
                 _opt(r.get("synth_min_period_ns"), "{}"),
                 _opt(r.get("us_at_synth_clock"), "{:,.3f}")]
    if "golden" in head:
        line += [f"{r.get('model_cycles', '-')}", str(r.get("golden_match", "-"))]
    return line


def _opt(value, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def format_table(rows: list[dict], sweep: dict) -> str:
    """A short text table of the rows for the terminal."""
    swept = list(sweep)
    head = _table_head(rows, swept)
    table = [head] + [_table_line(r, swept, head) for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths)))
                     for row in table) + "\n"
