"""Plots of a sweep (`eie sweep`), PNG and SVG, with matplotlib's Agg backend.

`make_plots(rows, sweep, out_dir)` draws, for the swept fields present:

| swept field | file | y axis | paper |
|---|---|---|---|
| fifo_depth | `load_balance_vs_fifo_depth` | load-balance efficiency | Fig. 8 |
| n_pes | `speedup_vs_pes` | speedup over the smallest PE count (linear reference dashed) | Fig. 11 |
| sram_width | `spmat_reads_vs_sram_width` | Spmat SRAM reads, all PEs | Fig. 9 |
| any | `cycles_vs_<field>` | cycles (solid) and the perfect-balance bound (dotted) | |
| any, with synthesis | `synth_area_vs_<field>`, `synth_slack_vs_<field>`, `synth_period_vs_<field>` | PE logic area, PE worst slack, design min period | |
| any, with a clock | `time_vs_<field>` | microseconds per layer (with synthesis: at each point's min period) | |
| any | `energy_vs_<field>` | energy per layer, nJ (the energy model at the sweep's clock, else 1.25 ns) | Fig. 9 (sram_width) |

One line per layer (and row assignment, backend and value of the other swept fields).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

# Deterministic SVGs (no random ids, no date).
matplotlib.rcParams["svg.hashsalt"] = "eie-sweep"
FORMATS = ("png", "svg")


def _series(rows: list[dict], x_field: str, sweep: dict, y_field: str):
    """{label: [(x, y), ...]} grouping rows by everything but x_field."""
    others = [f for f in sweep if f != x_field]
    many_balance = len({r["balance"] for r in rows}) > 1
    many_backend = len({r["backend"] for r in rows}) > 1
    series: dict[str, list] = {}
    for r in rows:
        y = r.get(y_field)
        if y is None or y == "":
            continue
        parts = [r["layer"]]
        if many_balance:
            parts.append(r["balance"])
        if many_backend:
            parts.append(r["backend"])
        parts += [f"{f}={r[f]}" for f in others]
        series.setdefault(" ".join(parts), []).append((r[x_field], y))
    return {k: sorted(v) for k, v in series.items()}


def _log2_axis(values) -> bool:
    values = sorted(set(values))
    return len(values) > 2 and values[0] > 0 and values[-1] / values[0] >= 8


def _figure(title: str, x_field: str, y_label: str, series: dict, *, log_x=None,
            log_y=False, reference=None, dotted: dict | None = None, y_range=None):
    fig = Figure(figsize=(7.5, 4.6), layout="constrained")
    ax = fig.subplots()
    xs = [x for points in series.values() for x, _ in points]
    for i, (label, points) in enumerate(series.items()):
        color = f"C{i % 10}"
        ax.plot([p[0] for p in points], [p[1] for p in points], marker="o", ms=4,
                color=color, label=label)
        if dotted and label in dotted:
            d = dotted[label]
            ax.plot([p[0] for p in d], [p[1] for p in d], ls=":", color=color, lw=1)
    if reference is not None:
        rx, ry, rlabel = reference
        ax.plot(rx, ry, ls="--", color="0.5", lw=1, label=rlabel)
    if log_x if log_x is not None else _log2_axis(xs):
        ax.set_xscale("log", base=2)
    if log_y:
        ax.set_yscale("log")
    if y_range is not None:
        ax.set_ylim(*y_range)
    if xs:
        ticks = sorted(set(xs))
        if len(ticks) <= 12:
            ax.set_xticks(ticks, [str(t) for t in ticks])
    ax.set_xlabel(x_field)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=11)
    ax.grid(True, which="major", alpha=0.3)
    if series:
        ax.legend(fontsize=7, loc="best", ncols=2 if len(series) > 8 else 1)
    return fig


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = out_dir / f"{stem}.{fmt}"
        fig.savefig(path, format=fmt, dpi=120, metadata={"Date": None} if fmt == "svg" else None)
        paths.append(path)
    return paths


def make_plots(rows: list[dict], sweep: dict, out_dir) -> list[Path]:
    """Write the figures for the swept fields into `out_dir`; returns the files written."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    if not rows:
        return written
    if "fifo_depth" in sweep:
        s = _series(rows, "fifo_depth", sweep, "load_balance_efficiency")
        written += _save(_figure("Load-balance efficiency vs FIFO depth (paper Fig. 8)",
                                 "fifo_depth", "load-balance efficiency", s,
                                 y_range=(0, 1.02)),
                         out, "load_balance_vs_fifo_depth")
    if "n_pes" in sweep:
        s = _series(rows, "n_pes", sweep, "speedup")
        pes = sorted({r["n_pes"] for r in rows})
        ref = (pes, [p / pes[0] for p in pes], "linear")
        written += _save(_figure("Speedup vs PE count (paper Fig. 11)", "n_pes",
                                 f"speedup over {pes[0]} PE(s)", s, log_x=True, log_y=True,
                                 reference=ref),
                         out, "speedup_vs_pes")
    if "sram_width" in sweep:
        s = _series(rows, "sram_width", sweep, "spmat_reads")
        written += _save(_figure("Spmat SRAM reads vs SRAM width (paper Fig. 9)",
                                 "sram_width", "Spmat reads (all PEs)", s, log_x=True,
                                 log_y=True),
                         out, "spmat_reads_vs_sram_width")
    for f in sweep:
        s = _series(rows, f, sweep, "cycles")
        ideal = _series(rows, f, sweep, "ideal_cycles_balanced")
        written += _save(_figure(f"Cycles vs {f} (dotted: perfect balance)", f, "cycles", s,
                                 dotted=ideal, log_y=f == "n_pes"),
                         out, f"cycles_vs_{f}")
        written += _field_plots(rows, f, sweep, out)
    return written


def _has(rows: list[dict], key: str) -> bool:
    return any(r.get(key) is not None for r in rows)


def _field_plots(rows: list[dict], f: str, sweep: dict, out: Path) -> list[Path]:
    """The synthesis and time figures against one swept field, where the rows have them."""
    figures = []
    if _has(rows, "synth_pe_area_um2"):
        figures.append((f"PE logic area vs {f}", "PE logic area (um2)", "synth_pe_area_um2",
                        f"synth_area_vs_{f}"))
    if _has(rows, "synth_pe_slack_ns"):
        figures.append((f"PE worst slack vs {f}", "worst slack (ns)", "synth_pe_slack_ns",
                        f"synth_slack_vs_{f}"))
    if _has(rows, "synth_min_period_ns"):
        figures.append((f"Design min period vs {f} (slowest of PE, CCU, glue)",
                        "min period (ns)", "synth_min_period_ns", f"synth_period_vs_{f}"))
    # Time per layer: at each point's own synthesized clock when there is one.
    if _has(rows, "us_at_synth_clock"):
        figures.append((f"Time per layer vs {f} (at each point's min period)",
                        "microseconds", "us_at_synth_clock", f"time_vs_{f}"))
    elif _has(rows, "us"):
        figures.append((f"Time per layer vs {f} (at {rows[0]['period_ns']:g} ns)",
                        "microseconds", "us", f"time_vs_{f}"))
    # Energy per layer (the energy model; Fig. 9 against sram_width).
    if _has(rows, "energy_nj"):
        figures.append((f"Energy per layer vs {f} (energy model, at "
                        f"{rows[0]['energy_clock_ns']:g} ns)", "energy (nJ)", "energy_nj",
                        f"energy_vs_{f}"))
    written: list[Path] = []
    for title, y_label, key, name in figures:
        s = _series(rows, f, sweep, key)
        written += _save(_figure(title, f, y_label, s), out, name)
    return written
