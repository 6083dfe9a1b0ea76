"""The Python API: each CLI command as one call, with the same options and the same
report objects (docs/python_api.md).

    from eie_hw import api
    result = api.compress({"fc1.weight": w1, "fc2.weight": w2}, "build/m", pes=4)
    report = api.simulate("build/m", x, backend="verilator")
    figures = api.evaluate("build/m", dataset="digits", backend="model")

Like the CLI, every call checks its input first and raises `eie_hw.errors.EIEError`
with one line naming the problem and the fix; folders are written whole or not at all.
This module sits with the CLI at the top of the data flow (it imports the front end,
the hardware and the simulators); nothing below it imports it.
"""

from __future__ import annotations

from pathlib import Path

from .config import EIEConfig
from .errors import EIEError


def config(base: EIEConfig | dict | str | Path | None = None, **fields) -> EIEConfig:
    """A hardware configuration: the defaults, a dict, a config JSON file or an
    EIEConfig, with `fields` (EIEConfig field names: n_pes, fifo_depth, sram_width, ...;
    `pes` is accepted for n_pes) replaced."""
    if "pes" in fields:
        fields["n_pes"] = fields.pop("pes")
    if base is None:
        cfg = EIEConfig()
    elif isinstance(base, EIEConfig):
        cfg = base
    elif isinstance(base, dict):
        cfg = EIEConfig.from_dict(base)
    else:
        cfg = EIEConfig.from_json(Path(base).read_text())
    try:
        return cfg.replace(**fields)
    except TypeError as exc:
        raise EIEError(f"unknown configuration field ({exc}): use EIEConfig's field names "
                       f"(n_pes, fifo_depth, sram_width, ...)") from None


def compress(model, out_dir, *, density: float = 0.1, layer_density: dict | None = None,
             global_prune: bool = False, weight_frac: dict | None = None,
             kmeans_iterations: int = 100, balance: str = "interleave",
             layers: list[str] | None = None, hw: EIEConfig | dict | None = None,
             force: bool = False, progress=None, **config_fields):
    """`eie compress`: `model` is a file (.npz, .safetensors, .onnx), a dict of .npz-style
    arrays (`<layer>.weight` out x in, `.bias`, `.relu`, ...) or an `onnx.ModelProto`.
    Returns the `CompressResult` (its `.report` is report.json)."""
    from compress.pipeline import CompressOptions, compress_file
    options = CompressOptions(density=density, layer_density=dict(layer_density or {}),
                              global_prune=global_prune, weight_frac=dict(weight_frac or {}),
                              kmeans_iterations=kmeans_iterations, balance=balance,
                              layer_order=layers)
    return compress_file(model, out_dir, config(hw, **config_fields), options,
                         progress=progress, force=force)


def simulate(model_dir, inputs, *, backend: str = "golden", load_via_host: bool = False,
             waves=None, macros=None, clock_ns: float | None = None, progress=None) -> dict:
    """`eie simulate`: the report dict (outputs, cycles, per layer figures)."""
    import numpy as np

    from sim.clock import clock_from
    from sim.run import simulate as run
    return run(model_dir, np.asarray(inputs, dtype=np.float64), backend=backend,
               load_via_host=load_via_host, waves=waves, progress=progress, macros=macros,
               clock=None if clock_ns is None else clock_from(clock_ns))


def evaluate(model_dir, dataset=None, *, backend: str = "golden", samples: int | None = None,
             reference=None, progress_bar: bool = False) -> dict:
    """`eie evaluate`: accuracies (and cycles on hardware backends), the JSON report."""
    from sim.evaluate import evaluate as run
    return run(model_dir, dataset, backend, samples, reference, progress_bar=progress_bar)


def export(model_dir, out) -> Path:
    """`eie export`: the compressed network as dense float weights (.npz or .onnx)."""
    from compress.export import export as run
    return run(model_dir, out)


def generate(out_dir, *, hw: EIEConfig | dict | None = None, clock_ns: float = 1.25,
             macros=None, **config_fields):
    """`eie generate`: the Verilog and the ASIC-flow hand-off; the GeneratedDesign."""
    from .generate import generate as run
    from .macro_views import resolve_library
    return run(config(hw, **config_fields), out_dir, clock_ns=clock_ns,
               macros=resolve_library(macros))


def synthesize(out_dir, *, liberty=None, hw: EIEConfig | dict | None = None,
               clock_ns: float = 1.25, macros="fakeram45", progress=None, **config_fields):
    """`eie synth`: the report dict (report.json)."""
    from .macro_views import resolve_library
    from .synth import synthesize as run
    return run(config(hw, **config_fields), out_dir,
               liberty=None if liberty is None else Path(liberty), clock_ns=clock_ns,
               progress=progress, macros=resolve_library(macros))


def sweep(out_dir, *, layers="Alex-7", sweep: dict | None = None,
          hw: EIEConfig | dict | None = None, **options):
    """`eie sweep`: `layers` Table III names / custom specs (a string as --layers takes)
    or model directories; `sweep` {field: values}; `options` SweepOptions fields
    (balance, backend, samples, seed, jobs, clock, ...). Returns the SweepResult."""
    from sim.sweep import SweepOptions, model_source, parse_layers, run_sweep
    if isinstance(layers, str):
        specs = parse_layers(layers)
    else:
        specs = [model_source(d) if Path(str(d)).is_dir() else parse_layers(str(d))[0]
                 for d in layers]
    values = {k: tuple(v) for k, v in (sweep or {}).items()}
    return run_sweep(specs, out_dir, SweepOptions(base=config(hw), sweep=values, **options))
