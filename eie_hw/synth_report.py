"""`eie synth`'s report: assembling report.json from the parts' figures, the per-PE
area table next to the paper's Table II, and report.txt.
"""

from __future__ import annotations

from pathlib import Path

from .errors import EIEError
from .generate import sram_bits_per_pe

REPORT_FORMAT = "eie-synth-report"
REPORT_VERSION = 3       # 2: macros, per_pe.area_table, timing.sram_model.kind;
                         # 3: timing.top (the glue), timing.design, max_mhz, clock_port
# The timed parts, in report order, and what the report calls them.
TIMED_PARTS = (("pe", "PE"), ("ccu", "CCU"), ("top", "top-level glue"))

# The paper's per-PE figures (Table II, 45 nm, worst corner) and clock.
PAPER = {
    "pe_registers_um2": 9465,
    "pe_combinational_um2": 8946,
    "pe_logic_area_um2": 9465 + 8946,
    "critical_path_ns": 1.15,
    "clock_mhz": 800,
}
PAPER_PE = {"memory": 594786, "registers": 9465, "combinational": 8946, "total": 638024}

# Table II's rows: key, label, the PE's unit instance (module `eie_pe.<instance>`), the
# paper's area (um2). The memories inside a unit count in its row.
TABLE_II_UNITS = (("act_queue", "Act queue", "fifo", 758),
                  ("ptr_read", "PtrRead", "ptr", 121849),
                  ("spmat_read", "SpmatRead", "spmat", 469412),
                  ("arithm_unit", "ArithmUnit", "arith", 3110),
                  ("act_rw", "ActRW", "act", 18934))
COLUMNS = ("memory", "registers", "combinational", "total")


def unit_modules(pe_module: str) -> dict[str, str]:
    return {key: f"{pe_module}.{inst}" for key, _, inst, _ in TABLE_II_UNITS}


def _row(key: str, label: str, f: dict, paper: dict) -> dict:
    row = {"unit": key, "label": label, "memory": f["memory_area"],
           "registers": f["register_area"], "combinational": f["combinational_area"]}
    row["total"] = round(row["memory"] + row["registers"] + row["combinational"], 3)
    row["paper"] = paper
    row["ratio"] = round(row["total"] / paper["total"], 3) if paper.get("total") else None
    return row


def unit_instance(mapping) -> str:
    """The PE unit instance a memory sits in (`pe0.spmat.sram` -> `spmat`; "" for none)."""
    return mapping.name.split(".")[1] if mapping.name.count(".") >= 2 else ""


def _memories_by_unit(mappings, key_of_instance: dict) -> dict[str, list]:
    out: dict[str, list] = {}
    for m in mappings:
        inst = unit_instance(m)
        entry = {"role": m.role, "kind": m.kind}
        if m.kind == "macro":
            entry.update(macro=m.macro, count=m.count, area_um2=round(m.area_um2, 3))
        out.setdefault(key_of_instance.get(inst, "other"), []).append(entry)
    return out


def area_table(pe: dict, pe_module: str, pe_mappings) -> dict:
    """Per-PE area by unit (rows) and kind (memory/registers/combinational), with the
    paper's Table II beside it. The PE's own logic and the host port are "other"."""
    modules = unit_modules(pe_module)
    units = pe.get("units", {})
    missing = sorted(m for m in modules.values() if m not in units)
    if missing:
        raise EIEError(f"internal error: the PE netlist has no unit module(s) "
                       f"{', '.join(missing)}: eie_hw/synth_report.py's TABLE_II_UNITS is stale")
    rows, rest = [], {k: pe[k] for k in ("memory_area", "register_area", "combinational_area")}
    for key, label, _, paper in TABLE_II_UNITS:
        f = units[modules[key]]
        rows.append(_row(key, label, f, {"total": paper}))
        for k in rest:
            rest[k] = round(rest[k] - f[k], 3)
    rows.append(_row("other", "other (host port, PE glue)", rest, {}))
    rows.append(_row("total", "PE total", pe, dict(PAPER_PE)))
    inst_key = {inst: key for key, _, inst, _ in TABLE_II_UNITS}
    by_unit = _memories_by_unit(pe_mappings, inst_key)
    for row in rows[:-1]:
        row["memories"] = by_unit.get(row["unit"], [])
    # The macros each unit's netlist holds must be the ones its memories were mapped to.
    for row in rows[:-1]:
        expected = sum(e.get("area_um2", 0.0) for e in row["memories"])
        if abs(expected - row["memory"]) > 0.01 * max(1.0, expected):
            raise EIEError(f"internal error: {row['label']} holds {row['memory']:,.3f} um2 of "
                           f"macros in the netlist, its memories map to {expected:,.3f} um2")
    paper_units = sum(p for *_, p in TABLE_II_UNITS)
    return {"unit": "um2", "columns": list(COLUMNS), "rows": rows,
            "paper_not_itemized": PAPER_PE["total"] - paper_units}


def _logic_keys(info) -> list[str]:
    keys = ["cells", "flip_flops"]
    if info is not None:
        keys += ["area", "register_area", "combinational_area", "memory_area"]
    return keys


def assemble(config, design, figures, latches, liberty, info, clock_ns, macros) -> dict:
    """report.json without the timing; `macros` is None or (library, pe mappings,
    ccu mappings)."""
    n = config.n_pes
    pe, ccu, top = figures["pe"], figures["ccu"], figures["top"]
    keys = _logic_keys(info)
    total = {k: round(top.get(k, 0) + ccu.get(k, 0) + n * pe.get(k, 0), 3) for k in keys}
    sram_pe = sram_bits_per_pe(config)
    total["sram_bits"] = n * sram_pe["total"] + sum(
        s.bits for s in design.srams if not s.path.startswith("pe"))
    per_pe = {k: pe[k] for k in keys}
    per_pe["sram_bits"] = sram_pe
    if info is not None:
        for d in (per_pe, total):
            d["total_area"] = round(d["area"] + d["memory_area"], 3)
    report = {
        "format": REPORT_FORMAT, "version": REPORT_VERSION,
        "config": config.to_dict(), "design": design.top, "clock_ns": clock_ns,
        "liberty": Path(liberty).name if liberty is not None else None,
        "liberty_library": info.name if info else None,
        "area_unit": "um2" if info is not None else None,
        "method": _method(n, macros, "units" in pe),
        "latches": latches + sum(f["latches"] + f.get("mapped_latches", 0)
                                 for f in figures.values()),
        "parts": figures, "per_pe": per_pe, "total": total, "paper": PAPER,
        "macros": None,
    }
    if macros is not None:
        library, pe_maps, ccu_maps = macros
        report["macros"] = {"library": library.name,
                            "pe": [m.to_dict() for m in pe_maps],
                            "ccu": [m.to_dict() for m in ccu_maps]}
        if info is not None and "units" in pe:
            per_pe["area_table"] = area_table(pe, figures["pe"]["module"], pe_maps)
    return report


def _method(n: int, macros, units: bool) -> str:
    parts = (f"parts synthesized separately: the PE (eie_pe, one module for all PEs), CCU, "
             f"top-level glue (PEs and CCU black boxes); total = glue + CCU + {n} x PE")
    if macros is None:
        return parts + "; every SRAM a black box with assumed timing (--macros none)"
    return (parts + f"; memories built from {macros[0].name} macros (Liberty cells) or "
            "flip-flops by the eie_sram wrapper" + ("; the PE keeps its units as modules"
                                                    if units else "; the PE flattened"))


def design_clock(timing: dict, info) -> dict:
    """The design's achievable clock: the slowest part's, at the liberty's corner."""
    worst = max((p for p, _ in TIMED_PARTS), key=lambda p: timing[p]["min_period_ns"])
    period = timing[worst]["min_period_ns"]
    return {"min_period_ns": period,
            "max_mhz": round(1000 / period, 1) if period > 0 else None,
            "limited_by": worst, "corner": info.corner, "library": info.name}


# ----------------------------------------------------------------------------- text

def _num(v, digits=0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def _parts_lines(r: dict) -> list[str]:
    cfg, area = r["config"], r["area_unit"] is not None
    macros = area and r.get("macros") is not None
    head = f"{'part':<18}{'cells':>10}{'flip-flops':>12}"
    if area:
        head += f"{'logic um2':>14}{'registers':>12}{'combin.':>12}"
    if macros:
        head += f"{'macros um2':>14}{'total um2':>14}"
    lines = [head]
    rows = [("PE (each)", r["parts"]["pe"]), ("CCU", r["parts"]["ccu"]),
            ("top-level glue", r["parts"]["top"]), (f"total ({cfg['n_pes']} PEs)", r["total"])]
    for name, f in rows:
        line = f"{name:<18}{_num(f['cells']):>10}{_num(f['flip_flops']):>12}"
        if area:
            line += (f"{_num(f['area'], 1):>14}{_num(f['register_area'], 1):>12}"
                     f"{_num(f['combinational_area'], 1):>12}")
        if macros:
            line += (f"{_num(f['memory_area'], 1):>14}"
                     f"{_num(f['area'] + f['memory_area'], 1):>14}")
        lines.append(line)
    return lines


def _table_lines(t: dict) -> list[str]:
    lines = ["per-PE area (um2), like the paper's Table II (paper: 45 nm, its own SRAMs):",
             f"{'unit':<28}{'memory':>11}{'registers':>11}{'combin.':>11}{'total':>11}"
             f"{'paper':>11}{'ratio':>7}"]
    for row in t["rows"]:
        paper = row["paper"].get("total")
        lines.append(f"{row['label']:<28}" + "".join(f"{_num(row[c]):>11}" for c in COLUMNS)
                     + f"{_num(paper):>11}"
                     + (f"{row['ratio']:>7.2f}" if row["ratio"] is not None else f"{'-':>7}"))
    p = t["rows"][-1]["paper"]
    lines.append(f"{'paper: PE total':<28}" + "".join(f"{_num(p[c]):>11}" for c in COLUMNS))
    lines.append(f"(the paper's unit rows add up to {PAPER_PE['total'] - t['paper_not_itemized']:,}"
                 f"; {t['paper_not_itemized']:,} um2 of its total is not itemized)")
    for row in t["rows"][:-1]:
        mems = ", ".join(f"{e['role']} {e['count']} x {e['macro']}" if e["kind"] == "macro"
                         else f"{e['role']} flip-flops" for e in row["memories"])
        if mems:
            lines.append(f"  {row['label']}: {mems}")
    return lines


def _sram_model_line(timing: dict) -> str:
    sm = timing["sram_model"]
    if sm["kind"] == "macros":
        used = "; ".join(f"{name} clk->q {m['clk_to_q_ns']} ns, setup {m['setup_ns']} ns"
                         for name, m in sm["macros"].items()) or "none used"
        return (f"timing ({timing['tool']}; SRAM timing from the {sm['library']} macros' "
                f"Liberty views: {used}):")
    return (f"timing ({timing['tool']}; SRAM macros assumed: access {sm['access_ns']} "
            f"ns, setup {sm['setup_ns']} ns):")


def _part_lines(label: str, t: dict) -> list[str]:
    head = f"  {label}: worst slack {t['worst_slack_ns']} ns at {t['clock_ns']} ns"
    if t["min_period_ns"] > 0:
        head += f" -> min period {t['min_period_ns']} ns ({1000 / t['min_period_ns']:.0f} MHz)"
    lines = [head]
    for key, name in (("critical_path", "critical path"),
                      ("reg_to_reg", "flip-flop to flip-flop")):
        p = t.get(key)
        if p:
            lines.append(f"    {name}: {p['startpoint']} -> {p['endpoint']}, "
                         f"arrival {p['arrival_ns']} ns, slack {p['slack_ns']} ns")
    repair = t.get("fanout_repair")
    if repair and repair["buffers"]:
        cells = ", ".join(f"{n} x {c}" for c, n in sorted(repair["buffers"].items()))
        lines.append(f"    fan-out repair: {sum(repair['buffers'].values())} buffers ({cells}; "
                     f"{repair['area']:,} area units, not in the logic area above); without "
                     f"them the min period is {repair['unrepaired_min_period_ns']} ns")
    return lines


def _timing_lines(r: dict) -> list[str]:
    timing = r.get("timing", {})
    if "skipped" in timing:
        return [f"timing: skipped: {timing['skipped']}"]
    lines = [_sram_model_line(timing)]
    for part, label in TIMED_PARTS:
        lines += _part_lines(label, timing[part])
    lines.append(f"    (glue: {timing['top']['boundary']})")
    d = timing["design"]
    if d["max_mhz"] is not None:
        label = dict(TIMED_PARTS)[d["limited_by"]]
        lines += [f"design min period {d['min_period_ns']} ns "
                  f"({1000 / d['min_period_ns']:.0f} MHz), set "
                  f"by the {label}; corner {d['corner']}",
                  f"time per layer = cycles x {d['min_period_ns']} ns: eie simulate / eie "
                  f"sweep --synth-report <this folder>/report.json"]
    return lines


def format_report(r: dict) -> str:
    cfg = r["config"]
    lines = [f"EIE synthesis report: {r['design']}, {cfg['n_pes']} PE(s), FIFO "
             f"{cfg['fifo_depth']}, {cfg['sram_width']}-bit Spmat SRAM, {cfg['act_entries']} "
             f"activations/PE",
             f"clock {r['clock_ns']} ns; liberty: {r['liberty'] or 'none (generic gate counts)'}"
             f"; macros: {r['macros']['library'] if r.get('macros') else 'none'}"
             f"; {r['tools']['yosys']}",
             f"method: {r['method']}", "", *_parts_lines(r), ""]
    bits = r["per_pe"]["sram_bits"]
    lines.append("SRAM bits per PE: " + ", ".join(
        f"{k} {v:,}" for k, v in bits.items() if k != "total") + f"; total {bits['total']:,} "
        f"({bits['total'] / 8192:,.1f} KiB)")
    lines += [f"SRAM bits, whole design: {r['total']['sram_bits']:,}",
              f"latches: {r['latches']}", ""]
    if "area_table" in r["per_pe"]:
        lines += _table_lines(r["per_pe"]["area_table"]) + [""]
    lines += _timing_lines(r)
    if r["area_unit"] is not None:
        paper, pe = r["paper"], r["parts"]["pe"]
        lines += ["", f"paper (45 nm, worst corner): PE logic {paper['pe_logic_area_um2']:,} "
                      f"um2 (registers {paper['pe_registers_um2']:,} + combinational "
                      f"{paper['pe_combinational_um2']:,}), critical path "
                      f"{paper['critical_path_ns']} ns",
                  f"this design: PE logic {pe['area']:,.0f} um2 (registers "
                  f"{pe['register_area']:,.0f} + combinational {pe['combinational_area']:,.0f})"]
    return "\n".join(lines) + "\n"
