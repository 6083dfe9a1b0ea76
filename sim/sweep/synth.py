"""Synthesis of every distinct configuration of a sweep (`--synth`): `SynthTask`, its
evaluation (`eie_hw.synth.synthesize`, in a folder of the user cache) and the fields it
adds to the rows, cached per configuration like the points."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

from eie_hw.config import EIEConfig
from eie_hw.synth_report import REPORT_VERSION

from .cache import PointCache, cache_root, content_key
from .execute import progress_bar, run_tasks
from .layers import file_digest


@dataclass(frozen=True)
class SynthTask:
    config: dict
    liberty: str | None
    liberty_digest: str | None
    clock_ns: float
    out_dir: str

    @property
    def key(self) -> str:
        return "synth-" + content_key({"config": self.config, "liberty": self.liberty_digest,
                                       "clock_ns": self.clock_ns, "macros": SWEEP_MACROS,
                                       "report": REPORT_VERSION})

    @property
    def label(self) -> str:
        c = self.config
        return (f"synthesis of {c['n_pes']} PEs, FIFO {c['fifo_depth']}, "
                f"{c['sram_width']}-bit SRAM")


# Sweeps synthesize with the memories on the vendored Nangate45 macros, as `eie synth` does
# by default: the SRAM width and PE count change the macro area and the SRAM timing.
SWEEP_MACROS = "fakeram45"


def evaluate_synth(task: SynthTask) -> dict:
    from eie_hw.synth import synthesize
    start = time.perf_counter()
    config = EIEConfig.from_dict(task.config)
    report = synthesize(config, task.out_dir, liberty=task.liberty, clock_ns=task.clock_ns,
                        macros=SWEEP_MACROS)
    return {"key": task.key, "synth": synth_fields(report, task.out_dir),
            "seconds": round(time.perf_counter() - start, 3)}


def synth_fields(report: dict, out_dir) -> dict:
    pe, total = report["per_pe"], report["total"]
    fields = {
        "synth_pe_cells": pe.get("cells"),
        "synth_pe_flip_flops": pe.get("flip_flops"),
        "synth_pe_area_um2": pe.get("area"),
        "synth_pe_register_area_um2": pe.get("register_area"),
        "synth_pe_combinational_area_um2": pe.get("combinational_area"),
        "synth_pe_memory_area_um2": pe.get("memory_area"),
        "synth_pe_total_area_um2": pe.get("total_area"),
        "synth_total_area_um2": total.get("area"),
        "synth_pe_slack_ns": None,
        "synth_pe_min_period_ns": None,
        "synth_ccu_slack_ns": None,
        "synth_ccu_min_period_ns": None,
        "synth_glue_slack_ns": None,
        "synth_glue_min_period_ns": None,
        "synth_min_period_ns": None,
        "synth_limited_by": None,
        "synth_corner": None,
        "synth_report": str(Path(out_dir) / "report.json"),
    }
    timing = report.get("timing", {})
    for part, name in (("pe", "pe"), ("ccu", "ccu"), ("top", "glue")):
        if part in timing:
            fields[f"synth_{name}_slack_ns"] = timing[part].get("worst_slack_ns")
            fields[f"synth_{name}_min_period_ns"] = timing[part].get("min_period_ns")
    design = timing.get("design")
    if design:
        fields["synth_min_period_ns"] = design.get("min_period_ns")
        fields["synth_limited_by"] = design.get("limited_by")
        fields["synth_corner"] = design.get("corner")
    return fields


_LIBERTY_DIGESTS: dict = {}


def _liberty_digest(liberty) -> str | None:
    if liberty is None:
        return None
    path = str(Path(liberty).resolve())
    if path not in _LIBERTY_DIGESTS:
        _LIBERTY_DIGESTS[path] = file_digest(Path(path))
    return _LIBERTY_DIGESTS[path]


def synth_task(config: dict, liberty, clock_ns: float) -> SynthTask:
    """The synthesis of `config`; its reports go to the user cache, `synth/<key>`."""
    probe = SynthTask(config=config, liberty=None if liberty is None
                      else str(Path(liberty).resolve()), liberty_digest=_liberty_digest(liberty),
                      clock_ns=float(clock_ns), out_dir="")
    return dataclasses.replace(probe, out_dir=str(cache_root() / "synth" / probe.key))


def run_synth(configs: list[dict], cache: PointCache, options, counts: dict) -> dict:
    """{config key: synthesis fields} for every distinct config in `configs`."""
    unique: dict[str, SynthTask] = {}
    for config in configs:
        st = synth_task(config, options.liberty, options.clock_ns)
        unique.setdefault(st.key, st)
    found, pending = {}, []
    for key, st in unique.items():
        hit = cache.get(key)
        if hit is not None:      # the report path as it is now (the cache may have moved)
            found[key] = {**hit["synth"], "synth_report": str(Path(st.out_dir) / "report.json")}
        else:
            pending.append(st)
    counts["cached"] += len(unique) - len(pending)
    bar = progress_bar(len(unique), len(unique) - len(pending), options.progress, "syntheses")

    def done(task, result):
        cache.put(task.key, result)
        found[task.key] = result["synth"]
        counts["computed"] += 1
        if bar is not None:
            bar.update(1)

    try:
        # Each synthesis runs Yosys on two threads already: at most jobs // 2 at a time.
        run_tasks(pending, max(1, options.jobs // 2), options.scheduler, done,
                  worker=evaluate_synth)
    finally:
        if bar is not None:
            bar.close()
    return {key: found[key] for key in unique}


def synth_key(config: dict, options) -> str:
    return synth_task(config, options.liberty, options.clock_ns).key
