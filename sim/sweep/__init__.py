"""Design-space sweeps (`eie sweep`): cycles, load balance and Spmat traffic per config.

A sweep runs every combination of the swept `EIEConfig` fields (the *points*) on every
chosen layer and writes one result row per (layer, point): `sweep.csv`, `sweep.json` and
plots (`sim/plots.py`). Layers (`layers.py`) are

- synthetic layers of the paper's Table III (`TABLE_III`: size, weight density and
  activation density; codes and input vectors built with numpy from `seed`, the same
  for every point), or custom ones written ``INxOUT:WEIGHT_DENSITY:ACT_DENSITY``;
- the layers of a compressed model directory (`eie compress -o DIR`; re-packed for every
  point; inputs from a .npy file or random).

Each point is evaluated (`evaluate.py`) by the performance model (`sim/perf_model.py`,
cycle-exact against the RTL; default) or by the Verilated RTL
(`sim/verilator_backend.py`, for spot checks; the model runs too and its cycles are
reported beside). The memory sizes (`act_entries`, `ptr_entries`, `spmat_words`,
`bias_entries`, `max_layers`) are enlarged per point to what the layer needs unless
given explicitly or swept.

`SweepOptions` (`options.py`) holds everything but the layers and the output folder;
its size is checked (`eie_hw.bounds`) from the value counts before any point is listed.
Results are cached per point in the user cache folder (`cache.py`; keys are content
hashes), so an interrupted sweep resumes where it stopped. Points run in parallel over
local processes (`jobs`), or on a Dask cluster (`scheduler`) (`execute.py`). With
`synth`, every distinct config is also synthesized (`synth.py`, cached the same way)
and its logic area, slack and design min period join the rows. With a clock
(`SweepOptions.clock`: a period or an `eie synth` report), each row gets `us` = cycles x
period; with `synth`, `us_at_synth_clock` = cycles x the point's own min period. The
output folder is written through `eie_hw.output.output_folder`: complete, or left as it
was. Documentation: docs/sweeps.md.
"""

from __future__ import annotations

import time
from pathlib import Path

from eie_hw.output import output_folder

from .cache import EVALUATION_VERSION, PointCache, cache_root
from .evaluate import PointTask, evaluate_point, fit_config
from .execute import progress_bar, run_tasks
from .layers import (TABLE_III, LayerSpec, ModelSource, model_source, parse_layers,
                     synthetic_codes, synthetic_layer, synthetic_masks)
from .options import (AUTO_FIELDS, BACKENDS, SweepOptions, check_point, count_values,
                      jobs_default, parse_sweep, parse_values, point_config, point_label,
                      resolve_field, sweep_points, sweep_size)
from .results import (SWEEP_FORMAT, SWEEP_VERSION, SweepResult, add_speedup, add_time,
                      format_table, write_results)
from .synth import run_synth, synth_key


def run_sweep(layers: list, out_dir, options: SweepOptions | None = None) -> SweepResult:
    """Run a sweep and write OUT/sweep.csv, OUT/sweep.json and OUT/plots/.

    `layers`: LayerSpec / ModelSource objects (`parse_layers`, `model_source`);
    `options`: a `SweepOptions`. Everything is checked (the sweep's size first, from the
    value counts) before the output folder is touched; OUT is replaced in one rename when
    the sweep completes, and left as it was when it fails or is interrupted.
    """
    t0 = time.perf_counter()
    if options is not None and not isinstance(options, SweepOptions):
        raise TypeError("run_sweep(layers, out_dir, options): options is a SweepOptions")
    options = (options or SweepOptions()).checked(len(layers or ()))
    points = sweep_points(options.sweep)
    configs = [check_point(options.base, point_config(options, point), options.force)
               for point in points]
    verilator_dir = str(cache_root() / "verilator")
    tasks = [PointTask(layer=layer, point=tuple(point.items()), config=cfg.to_dict(),
                       auto=options.auto, balance=mode, backend=options.backend,
                       samples=options.samples, seed=options.seed,
                       verilator_dir=verilator_dir)
             for layer in layers for mode in options.balance
             for point, cfg in zip(points, configs)]
    cache = PointCache(fresh=options.fresh)
    with output_folder(out_dir, "sweep", force=options.force, flag="-o") as staging:
        final = Path(out_dir)
        counts = {"computed": 0, "cached": 0}
        results = _run_points(tasks, cache, options, counts)
        rows = _rows(tasks, results, cache, options, counts)
        add_speedup(rows, options.sweep)
        add_time(rows, options.clock, options.synth)
        stats = {**counts, "points": len(tasks),
                 "seconds": round(time.perf_counter() - t0, 2)}
        result = _write(rows, layers, options, staging, final, stats)
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


def _run_points(tasks: list[PointTask], cache: PointCache, options, counts) -> dict:
    """{task key: result}, from the cache or evaluated; each new result is cached."""
    results: dict[str, dict] = {}
    pending = []
    for task in tasks:
        hit = cache.get(task.key)
        if hit is not None:
            results[task.key] = hit
        else:
            pending.append(task)
    counts["cached"] += len(tasks) - len(pending)
    bar = progress_bar(len(tasks), counts["cached"], options.progress, "sweep points")

    def done(task, result):
        cache.put(task.key, result)
        results[task.key] = result
        counts["computed"] += 1
        if bar is not None:
            bar.update(1)

    try:
        # evaluate_point is looked up here at call time (a test may replace it).
        run_tasks(pending, options.jobs, options.scheduler, done, worker=evaluate_point)
    finally:
        if bar is not None:
            bar.close()
    return results


def _rows(tasks, results, cache, options, counts) -> list[dict]:
    """The rows of every task in order, with the synthesis fields when asked."""
    synth = {}
    if options.synth:
        synth = run_synth([results[t.key]["config"] for t in tasks], cache, options, counts)
    rows = []
    for task in tasks:
        result = results[task.key]
        extra = synth[synth_key(result["config"], options)] if options.synth else {}
        rows.extend({**row, **extra} for row in result["rows"])
    return rows


def _write(rows, layers, options, staging: Path, final: Path, stats: dict) -> SweepResult:
    """Write the files into `staging`; the result names them where they will be, in
    `final` (the staging folder replaces it when the sweep completes)."""
    write_results(rows, staging, options, layers, stats)
    plots = []
    if options.plots:
        from sim.plots import make_plots
        plots = [final / p.relative_to(staging)
                 for p in make_plots(rows, options.sweep, staging / "plots")]
    return SweepResult(rows=rows, swept=options.sweep, csv_path=final / "sweep.csv",
                       json_path=final / "sweep.json", plots=plots,
                       computed=stats["computed"], cached=stats["cached"])


__all__ = ["TABLE_III", "LayerSpec", "ModelSource", "PointTask", "SweepOptions",
           "SweepResult", "parse_layers", "parse_sweep", "parse_values", "count_values",
           "resolve_field", "sweep_points", "sweep_size", "point_label", "check_point",
           "model_source", "run_sweep", "evaluate_point", "fit_config", "format_table",
           "add_speedup", "add_time", "synthetic_codes", "synthetic_masks", "synthetic_layer",
           "jobs_default", "AUTO_FIELDS", "BACKENDS", "EVALUATION_VERSION", "SWEEP_FORMAT",
           "SWEEP_VERSION", "PointCache", "cache_root", "write_results"]
