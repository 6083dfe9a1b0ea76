"""`eie power`'s report: the mean PE's power split like the paper's Table II (units x
memory / registers / combinational, dynamic and leakage apart), the whole accelerator,
and the layer's energy per inference; report.json and report.txt."""

from __future__ import annotations

from eie_hw.synth_report import TABLE_II_UNITS, unit_instance

REPORT_FORMAT = "eie-power-report"
REPORT_VERSION = 1
# Table II, per PE at 800 MHz, 45 nm (mW).
PAPER_PE_MW = {"total": 9.157, "memory": 5.416, "registers": 1.026, "combinational": 0.841,
               "act_queue": 0.112, "ptr_read": 1.807, "spmat_read": 4.955,
               "arithm_unit": 1.162, "act_rw": 1.122}
PAPER_PES = 64
KINDS = ("memory", "registers", "combinational")
_UNIT_OF_INSTANCE = {inst: key for key, _, inst, _ in TABLE_II_UNITS}


def _unit_of(instance: str) -> str:
    return _UNIT_OF_INSTANCE.get(instance, "other")


def _empty_row(key: str, label: str) -> dict:
    row = {"unit": key, "label": label}
    for kind in KINDS:
        row[kind] = {"dynamic_mw": 0.0, "leakage_mw": 0.0}
    return row


def table(logic: dict, memories: dict, mappings) -> list[dict]:
    """Rows per Table II unit (+ other, total): per kind dynamic and leakage mW."""
    rows = {key: _empty_row(key, label) for key, label, _, _ in TABLE_II_UNITS}
    rows["other"] = _empty_row("other", "other (host port, PE glue)")
    for instance, kinds in logic["by_unit"].items():
        row = rows[_unit_of(instance)]
        for kind, (internal, switching, leakage) in kinds.items():
            row[kind]["dynamic_mw"] += (internal + switching) * 1e3
            row[kind]["leakage_mw"] += leakage * 1e3
    unit_of_role = {m.role: _unit_of(unit_instance(m)) for m in mappings}
    for role, figures in memories.items():
        cell = rows[unit_of_role.get(role, "other")]["memory"]
        cell["dynamic_mw"] += figures["dynamic_mw"]
        cell["leakage_mw"] += figures["leakage_mw"]
    out = list(rows.values())
    total = _empty_row("total", "PE total")
    for row in out:
        for kind in KINDS:
            for part in ("dynamic_mw", "leakage_mw"):
                total[kind][part] += row[kind][part]
    out.append(total)
    for row in out:
        row["total_mw"] = sum(row[k]["dynamic_mw"] + row[k]["leakage_mw"] for k in KINDS)
        row["paper_mw"] = PAPER_PE_MW.get(row["unit"])
        _round(row)
    return out


def _round(row: dict) -> None:
    for kind in KINDS:
        row[kind] = {k: round(v, 6) for k, v in row[kind].items()}
    row["total_mw"] = round(row["total_mw"], 6)


def _part(logic: dict) -> dict:
    t = logic["total"]
    return {"dynamic_mw": round((t["internal"] + t["switching"]) * 1e3, 6),
            "leakage_mw": round(t["leakage"] * 1e3, 6), "total_mw": round(t["total"] * 1e3, 6),
            "idle_mw": round(logic["idle"]["total"]["total"] * 1e3, 6),
            "activity": logic["coverage"]}


def assemble(*, layer: dict, synth, logic: dict, memories: dict, ccu: dict, cycles: int,
             clock_ns: float, seconds: dict) -> dict:
    rows = table(logic, memories, synth.mappings)
    total = rows[-1]
    n = synth.config.n_pes
    pe_mw = total["total_mw"]
    ccu_part = _part(ccu)
    chip_mw = pe_mw * n + ccu_part["total_mw"]
    run_ns = cycles * clock_ns
    energy_nj = chip_mw * run_ns / 1e3           # mW x ns = pJ
    dynamic = sum(total[k]["dynamic_mw"] for k in KINDS)
    leakage = sum(total[k]["leakage_mw"] for k in KINDS)
    split = {kind: round(total[kind]["dynamic_mw"] + total[kind]["leakage_mw"], 6)
             for kind in KINDS}
    paper_us = layer.get("paper_us")
    return {
        "format": REPORT_FORMAT, "version": REPORT_VERSION,
        "layer": layer, "config": synth.config.to_dict(),
        "synth": str(synth.directory), "liberty": synth.report.get("liberty"),
        "macros": (synth.report.get("macros") or {}).get("library"),
        "clock_ns": clock_ns, "cycles": cycles, "time_us": round(run_ns / 1e3, 4),
        "activity": logic["coverage"],
        "memories": {role: {k: (round(v, 6) if isinstance(v, float) else v)
                            for k, v in f.items()} for role, f in memories.items()},
        "per_pe": {"rows": rows, "split": split, "dynamic_mw": round(dynamic, 6),
                   "leakage_mw": round(leakage, 6), "total_mw": round(pe_mw, 6)},
        "ccu": ccu_part,
        "accelerator": {"pes": n, "pes_mw": round(pe_mw * n, 4), "ccu_mw": ccu_part["total_mw"],
                        "power_mw": round(chip_mw, 4),
                        "scope": "the PEs and the CCU (the top-level glue, a host port "
                                 "and a response FIFO, is not measured)"},
        "idle_pe_mw": {k: round(v["total"] * 1e3, 6) for k, v in logic["idle"].items()},
        "logic_per_pe": {"dynamic_mw": round(sum(total[k]["dynamic_mw"]
                                                 for k in ("registers", "combinational")), 6),
                         "leakage_mw": round(sum(total[k]["leakage_mw"]
                                                 for k in ("registers", "combinational")), 6)},
        "energy_per_inference_nj": round(energy_nj, 4),
        "at_min_period": _at_period(synth.report, chip_mw, dynamic * n + ccu_part["dynamic_mw"],
                                    clock_ns, cycles),
        "inferences_per_joule": round(1e9 / energy_nj, 1) if energy_nj > 0 else None,
        "paper": {"pe_mw": PAPER_PE_MW, "pes": PAPER_PES,
                  "power_mw": round(PAPER_PE_MW["total"] * PAPER_PES, 3),
                  "layer_us": paper_us,
                  "energy_per_inference_nj": (round(PAPER_PE_MW["total"] * PAPER_PES
                                                    * paper_us, 3) if paper_us else None)},
        "seconds": seconds,
    }


def _at_period(synth_report: dict, chip_mw: float, dynamic_mw: float, clock_ns: float,
               cycles: int) -> dict | None:
    """The same run at the design's min period (`eie synth`'s timing): dynamic power
    scales with the clock, leakage does not; the energy per inference loses leakage."""
    period = ((synth_report.get("timing") or {}).get("design") or {}).get("min_period_ns")
    if not period:
        return None
    dynamic = dynamic_mw * clock_ns / period
    power = dynamic + (chip_mw - dynamic_mw)
    return {"period_ns": period, "power_mw": round(power, 4),
            "energy_per_inference_nj": round(power * cycles * period / 1e3, 4)}


def _f(v, digits=3) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def format_report(r: dict) -> str:
    layer = r["layer"]
    lines = [f"eie power: {layer['name']} ({layer['cols']} x {layer['rows']}) on "
             f"{r['config']['n_pes']} PEs, {r['cycles']:,} cycles at {r['clock_ns']} ns "
             f"({1e3 / r['clock_ns']:.0f} MHz) = {r['time_us']} us",
             f"liberty {r['liberty']}, memories on {r['macros']} macros; activity of "
             f"{r['activity']['traced']:,} of {r['activity']['cut_bits']:,} register bits "
             f"from the trace (averaged over the PEs)", "",
             "per PE, mW (dynamic + leakage)      memory   registers  combinational"
             "     total    paper"]
    for row in r["per_pe"]["rows"]:
        cells = [f"{row[k]['dynamic_mw'] + row[k]['leakage_mw']:10.3f}" for k in KINDS]
        lines.append(f"  {row['label']:<32}{''.join(cells)}   {row['total_mw']:9.3f}  "
                     f"{_f(row['paper_mw']):>7}")
    pe = r["per_pe"]
    paper = r["paper"]
    lines += ["", f"per PE: dynamic {pe['dynamic_mw']:.3f} mW, leakage {pe['leakage_mw']:.3f} "
              f"mW; paper {paper['pe_mw']['total']} mW (memory {paper['pe_mw']['memory']}, "
              f"registers {paper['pe_mw']['registers']}, combinational "
              f"{paper['pe_mw']['combinational']})"]
    for role, m in r["memories"].items():
        lines.append(f"  {role:<10} {m['accesses']:>9,} accesses x {m['access_pj']:.2f} pJ: "
                     f"{m['dynamic_mw']:.3f} mW dynamic + {m['leakage_mw']:.3f} mW leakage")
    idle = r["idle_pe_mw"]
    lines.append(f"  with every register holding, the logic still takes {idle['total']:.3f} mW "
                 f"({idle['sequential']:.3f} mW in the flip-flops: their clock pins, which "
                 f"clock gating would stop)")
    acc = r["accelerator"]
    ccu = r["ccu"]
    lines += ["", f"CCU: {ccu['total_mw']:.3f} mW (dynamic {ccu['dynamic_mw']:.3f}, leakage "
              f"{ccu['leakage_mw']:.3f}; {ccu['activity']['traced']:,} of "
              f"{ccu['activity']['cut_bits']:,} register bits traced)"]
    lines += ["", f"accelerator, {acc['scope']}: {acc['power_mw']:,.1f} mW "
              f"({acc['pes']} x {pe['total_mw']:.3f} + CCU {acc['ccu_mw']:.3f}); paper "
              f"{paper['power_mw']:,.1f} mW",
              f"energy per inference: {r['energy_per_inference_nj']:,.1f} nJ "
              f"({_f(r['inferences_per_joule'], 0)} inferences/J)"
              + (f"; paper {paper['energy_per_inference_nj']:,.1f} nJ "
                 f"({paper['layer_us']} us x {paper['power_mw']:,.0f} mW)"
                 if paper["energy_per_inference_nj"] else "")]
    fast = r.get("at_min_period")
    if fast:
        lines.append(f"at the design's min period ({fast['period_ns']} ns): "
                     f"{fast['power_mw']:,.1f} mW, {fast['energy_per_inference_nj']:,.1f} nJ "
                     f"per inference")
    return "\n".join(lines) + "\n"
