"""`eie simulate`: run a packed model on a backend and build the JSON report."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from compress.manifest import read_images
from compress.model_io import describe_head, file_head, read_npy_header
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .clock import NO_PERIOD_NOTE, Clock, describe_clock
from .golden import GoldenModel, GoldenResult

BACKENDS = ("golden", "model", "amaranth", "verilator")


def load_inputs(path) -> np.ndarray:
    """The float activations of `--input`: one .npy vector, or a batch (one row a sample)."""
    path = Path(path)
    head = file_head(path, "input file")
    if head.startswith(b"PK"):
        raise EIEError(f"{path} is an .npz archive; give one .npy array (a vector, or a "
                       f"batch with one row per sample)")
    if not head.startswith(b"\x93NUMPY"):
        raise EIEError(f"{path} is not a .npy array (numpy.save): it is "
                       f"{describe_head(head)}; save the activations with "
                       f"numpy.save(path, x)")
    try:
        with open(path, "rb") as stream:
            _, dtype = read_npy_header(stream, str(path), path.stat().st_size)
            _check_input_dtype(path, dtype)
            stream.seek(0)
            array = np.lib.format.read_array(stream, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise EIEError(f"cannot read {path} as a .npy array ({exc})") from None
    if array.ndim not in (1, 2):
        raise EIEError(f"{path} has shape {array.shape}: give a vector or a 2-D batch "
                       f"(one row per sample)")
    if array.size == 0:
        raise EIEError(f"{path} is empty (shape {array.shape}): give at least one sample")
    return array


def _check_input_dtype(path: Path, dtype: np.dtype) -> None:
    if dtype.kind in "fiu":
        return
    if dtype.kind == "c":
        raise EIEError(f"{path} holds complex values ({dtype}); activations must be real: "
                       f"save the real part if the imaginary part is meant to be 0")
    what = "strings" if dtype.kind in "USa" else f"{dtype} values"
    raise EIEError(f"{path} holds {what} ({dtype}), not numbers; give float activations")


def _per_sample(array: np.ndarray, batched: bool):
    values = array.tolist()
    return values if batched else values[0]


def golden_report(result: GoldenResult, config: EIEConfig, batched: bool) -> dict:
    layers = []
    for layer in result.layers:
        work = layer.work_per_pe
        layers.append({
            "name": layer.name,
            "rows": layer.rows,
            "cols": layer.cols,
            "weight_frac": layer.weight_frac,
            "relu": layer.relu,
            "codebook": layer.codebook,
            "outputs": _per_sample(layer.outputs, batched),
            "outputs_float": _per_sample(layer.outputs_float, batched),
            "overflow_rows": _per_sample(layer.overflow, batched),
            "input_clipped": _per_sample(layer.input_clipped, batched),
            "output_saturated": _per_sample(layer.saturated, batched),
            "entries_per_pe": layer.entries_per_pe,
            # Entries each PE must process (non-zero columns only); the max over PEs is
            # the cycle count with perfect pipelining (spec section 1, steady state).
            "work_per_pe_max": _per_sample(work.max(axis=1), batched),
            "work_per_pe_mean": _per_sample(np.round(work.mean(axis=1), 3), batched),
            "cycles": None,
            "us": None,
        })
    overflow = int(sum(int(layer.overflow.sum()) for layer in result.layers))
    clipped = int(sum(int(layer.input_clipped.sum()) for layer in result.layers))
    saturated = int(sum(int(layer.saturated.sum()) for layer in result.layers))
    return {
        "backend": "golden",
        "config": config.to_dict(),
        "batch": int(result.inputs.shape[0]) if batched else None,
        "inputs": _per_sample(result.inputs, batched),
        "outputs": _per_sample(result.outputs, batched),
        "outputs_float": _per_sample(result.outputs_float, batched),
        "act_frac": config.act_frac,
        "accumulator_overflows": overflow,
        "inputs_clipped": clipped,
        "outputs_saturated": saturated,
        "quantization_error": result.quantization_error(config.act_frac),
        "cycles": None,
        "us": None,
        "clock": None,
        "layers": layers,
    }


def hardware_report(report: dict, result: GoldenResult, run, backend: str,
                    batched: bool) -> dict:
    """Add what a hardware backend measured to the golden report, checked against it."""
    report["backend"] = backend
    # The performance model has no outputs of its own: they are the golden model's.
    measured_outputs = hasattr(run, "layer_outputs")
    matches = run.golden_matches(result) if measured_outputs else []
    for index, layer in enumerate(report["layers"]):
        layer["cycles"] = _per_sample(np.array(run.layer_cycles)[:, index], batched)
        if not measured_outputs:
            continue
        layer["golden_match"] = matches[index]
        if not matches[index]:
            layer["hardware_outputs"] = _per_sample(run.layer_outputs_array(index), batched)
    if measured_outputs:
        report["outputs"] = _per_sample(run.outputs, batched)
        report["golden_match"] = all(matches)
    report["cycles"] = _per_sample(np.array(run.total_cycles), batched)
    busy = np.array(run.pe_busy)
    compute = np.array(run.layer_cycles).sum(axis=1)
    efficiency = busy.sum(axis=1) / (busy.shape[1] * np.maximum(compute, 1))
    report.update({
        "pe_busy_cycles": _per_sample(busy, batched),
        "pe_starved_cycles": _per_sample(np.array(run.pe_starved), batched),
        "ccu_stall_cycles": _per_sample(np.array(run.stall_cycles), batched),
        "spmat_reads": _per_sample(np.array(run.spmat_reads), batched),
        # Paper: 1 - bubble cycles / total cycles, over all PEs and layers.
        "load_balance_efficiency": _per_sample(np.round(efficiency, 4), batched),
    })
    return report


def add_time(report: dict, clock: Clock | None) -> dict:
    """Microseconds per layer and per inference (`us`) = cycles x the clock's period."""
    if clock is None:
        return report
    if report["cycles"] is None:
        raise EIEError(f"a clock period needs a backend that counts cycles (model, amaranth "
                       f"or verilator), not {report['backend']}")
    report["clock"] = clock.to_dict()
    for layer in report["layers"]:
        layer["us"] = clock.us(layer["cycles"])
    report["us"] = clock.us(report["cycles"])
    return report


def simulate(directory, inputs: np.ndarray, backend: str = "golden",
             config: EIEConfig | None = None, load_via_host: bool = False,
             waves=None, progress=None, macros=None, clock: Clock | None = None) -> dict:
    """Run the packed model in `directory` on `inputs`; `clock` adds microseconds."""
    if backend not in BACKENDS:
        raise EIEError(f"backend {backend!r} is not available; choose from "
                       f"{', '.join(BACKENDS)}")
    if clock is not None and backend == "golden":
        raise EIEError("--clock-ns / --synth-report need a backend that counts cycles: "
                       "--backend model, amaranth or verilator")
    images = read_images(directory, config)
    design = images.config.replace(**_non_packing(config))
    result = GoldenModel(images).run(inputs_float=inputs)
    batched = np.asarray(inputs).ndim == 2
    report = golden_report(result, design, batched)
    if macros is not None and backend != "verilator":
        raise EIEError("SRAM macros (macros=) need the verilator backend")
    if waves is not None and backend in ("golden", "model"):
        raise EIEError("--waves needs a hardware backend (amaranth or verilator)")
    if backend == "model":
        from .perf_model import run_model
        report = hardware_report(report, result, run_model(images, result, design), backend,
                                 batched)
    elif backend == "amaranth":
        from .amaranth_backend import run_amaranth
        if waves is not None and not str(waves).endswith(".vcd"):
            raise EIEError("the amaranth backend writes VCD only: give --waves FILE.vcd")
        run = run_amaranth(images, result.inputs, design, load_via_host=load_via_host,
                           vcd_path=waves)
        report = hardware_report(report, result, run, backend, batched)
    elif backend == "verilator":
        from .verilator_backend import report_fields, run_verilator
        run = run_verilator(directory, images, result.inputs, design,
                            load_via_host=load_via_host, waves=waves, progress=progress,
                            macros=macros)
        report = hardware_report(report, result, run, backend, batched)
        report["verilator"] = report_fields(run)
        if macros is not None:
            from eie_hw.macro_views import resolve_library
            report["verilator"]["macros"] = resolve_library(macros).name
    return add_time(report, clock)


def _non_packing(config: EIEConfig | None) -> dict:
    if config is None:
        return {}
    packing = set(EIEConfig.packing_fields())
    return {k: v for k, v in config.to_dict().items() if k not in packing}


def _worst(value):
    return max(value) if isinstance(value, list) else value


def _saturated_layers(report: dict) -> str:
    """Which layers saturated, so the summary points at where the range is too small."""
    names = [layer["name"] for layer in report["layers"]
             if np.sum(layer["output_saturated"]) > 0]
    return f" (in {', '.join(names)})" if names else ""


def _time_line(report: dict) -> str:
    clock = report.get("clock")
    if clock is None:
        return NO_PERIOD_NOTE
    what = "per inference (worst sample)" if report["batch"] is not None else "per inference"
    return f"time: {_worst(report['us']):,.3f} us {what} at {describe_clock(clock)}"


def format_simulation(report: dict) -> str:
    """The text summary `eie simulate` prints."""
    lines = []
    lines.append(f"backend: {report['backend']}")
    for layer in report["layers"]:
        line = (f"  {layer['name']}: {layer['rows']} x {layer['cols']}, weight fraction "
                f"{layer['weight_frac']}, max entries per PE {_worst(layer['work_per_pe_max'])}")
        if layer["cycles"] is not None:
            line += f", cycles {_worst(layer['cycles'])}"
        if layer.get("us") is not None:
            line += f" = {_worst(layer['us']):,.3f} us"
        if "golden_match" in layer:
            line += f", {'matches' if layer['golden_match'] else 'DIFFERS FROM'} golden"
        lines.append(line)
    if report["cycles"] is not None:
        line = (f"cycles: {_worst(report['cycles'])} (worst sample), load-balance efficiency "
                f"{report['load_balance_efficiency']}")
        if "golden_match" in report:
            line += f", bit-exact against golden: {report['golden_match']}"
        lines.append(line)
        lines.append(_time_line(report))
    if report.get("verilator", {}).get("waves"):
        lines.append(f"waveform: {report['verilator']['waves']}")
    q = report["quantization_error"]
    lines.append(f"accumulator overflows: {report['accumulator_overflows']}; inputs clipped "
                 f"to the activation range: {report['inputs_clipped']}; outputs saturated: "
                 f"{report['outputs_saturated']}{_saturated_layers(report)}")
    lines.append(f"quantization error vs float reference: max {q['max_abs']:.4g}, rms "
                 f"{q['rms']:.4g}, argmax agreement {100 * q['argmax_agreement']:.1f} %")
    outputs = report["outputs"]
    if report["batch"] is None:
        lines.append(f"outputs (fixed point, {report['act_frac']} fraction bits): {outputs}")
    else:
        lines.append(f"outputs: {report['batch']} samples (see --json for values)")
    return "\n".join(lines) + "\n"
