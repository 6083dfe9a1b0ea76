"""`eie evaluate`: accuracy of a compressed model on a labelled data set, on any backend
(issue 15), beside the compressed model's float accuracy and, with a reference model,
the original's; plus cycles per inference and load balance from the hardware backends.

The data set is the test split of an `eie train --dataset` file (`x_test`, `y_test`, ...)
or the bundled digits. Hardware backends run in chunks, so a progress bar moves and a
long evaluation shows how far it got.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

REPORT_FORMAT = "eie-evaluate-report"
REPORT_VERSION = 1
HARDWARE_CHUNK = 100          # samples per simulator run on amaranth / verilator


def topk_accuracy(outputs, labels: np.ndarray, k: int) -> float:
    """Fraction of samples whose label is among the `k` largest outputs (ties: the
    lower index first, as argmax)."""
    scores = np.asarray(outputs, dtype=np.float64)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float(np.mean(np.any(order == np.asarray(labels)[:, None], axis=1)))


def accuracies(outputs, labels: np.ndarray, n_classes: int) -> dict:
    out = {"top1": round(topk_accuracy(outputs, labels, 1), 6)}
    if n_classes > 5:
        out["top5"] = round(topk_accuracy(outputs, labels, 5), 6)
    return out


def reference_outputs(model_path, x: np.ndarray, code_bits: int) -> np.ndarray:
    """The original float model (any format `eie compress` reads) on `x`."""
    from compress.model_io import load_model
    act = np.asarray(x, dtype=np.float64)
    for layer in load_model(model_path, code_bits):
        weight = (layer.weight if layer.weight is not None
                  else layer.codebook[layer.codes]).astype(np.float64)
        if weight.shape[1] != act.shape[1]:
            raise EIEError(f"reference model {model_path}: layer {layer.name} takes "
                           f"{weight.shape[1]} inputs, the data set has {act.shape[1]} "
                           f"features")
        act = act @ weight.T + (layer.bias if layer.bias is not None else 0.0)
        if layer.relu:
            act = np.maximum(act, 0.0)
    return act


def evaluate(directory, dataset=None, backend: str = "golden", samples: int | None = None,
             reference=None, progress_bar: bool = False, progress=None) -> dict:
    """Accuracy of the model packed in `directory` on the data set's test split."""
    from compress.datasets import load_dataset
    from compress.manifest import read_images
    data = load_dataset(dataset)
    x, y = data.x_test, data.y_test
    if samples is not None:
        if samples < 1:
            raise EIEError(f"--samples {samples}: give at least 1")
        x, y = x[:samples], y[:samples]
    images = read_images(Path(directory))
    first, last = images.layers[0], images.layers[-1]
    if x.shape[1] != first.cols:
        raise EIEError(f"data set {data.name} has {x.shape[1]} features, the model takes "
                       f"{first.cols}: evaluate it on the data it was trained for")
    if last.rows < data.n_classes:
        raise EIEError(f"the model has {last.rows} outputs, the data set {data.n_classes} "
                       f"classes")
    report = _run_chunks(directory, x, backend, progress_bar, progress)
    n_classes = data.n_classes
    figures = {"format": REPORT_FORMAT, "version": REPORT_VERSION, "model": str(directory),
               "dataset": data.name, "backend": backend, "samples": int(len(y)),
               "classes": int(n_classes),
               "accuracy": {"compressed_float": accuracies(report["outputs_float"], y,
                                                           n_classes),
                            "golden": accuracies(report["golden_outputs"], y, n_classes)}}
    if backend != "golden":
        figures["accuracy"]["hardware"] = accuracies(report["outputs"], y, n_classes)
    if reference is not None:
        figures["reference_model"] = str(reference)
        figures["accuracy"]["reference_float"] = accuracies(
            reference_outputs(reference, x, images.config.code_bits), y, n_classes)
    if report.get("cycles"):
        cycles = np.asarray(report["cycles"])
        figures["cycles_per_inference"] = {"mean": round(float(cycles.mean()), 1),
                                           "min": int(cycles.min()), "max": int(cycles.max())}
        figures["load_balance_efficiency"] = round(float(np.mean(
            report["load_balance_efficiency"])), 5)
        figures["golden_match"] = bool(report["golden_match"])
    return figures


def _run_chunks(directory, x: np.ndarray, backend: str, progress_bar: bool, progress) -> dict:
    """`sim.run.simulate` over `x` in chunks; the parts of its report evaluate needs."""
    import sys

    from tqdm import tqdm

    from sim.run import simulate
    chunk = len(x) if backend in ("golden", "model") else HARDWARE_CHUNK
    out = {"outputs": [], "golden_outputs": [], "outputs_float": [], "cycles": [],
           "load_balance_efficiency": [], "golden_match": True}
    with tqdm(total=len(x), desc=f"evaluate ({backend})", unit="sample", file=sys.stderr,
              disable=not progress_bar, dynamic_ncols=True) as bar:
        for start in range(0, len(x), chunk):
            part = simulate(directory, x[start:start + chunk], backend=backend,
                            progress=progress)
            out["outputs"] += list(part["outputs"])
            out["golden_outputs"] += list(part["layers"][-1]["outputs"])
            out["outputs_float"] += list(part["outputs_float"])
            out["cycles"] += list(part.get("cycles") or [])
            out["load_balance_efficiency"] += list(part.get("load_balance_efficiency") or [])
            out["golden_match"] &= bool(part.get("golden_match", True))
            bar.update(len(part["outputs"]))
    return out


def format_report(r: dict) -> str:
    names = {"reference_float": "reference model (float)",
             "compressed_float": "compressed model (float)",
             "golden": "golden model (fixed point)", "hardware": f"hardware ({r['backend']})"}
    lines = [f"eie evaluate: {r['model']} on {r['dataset']} ({r['samples']:,} test samples, "
             f"{r['classes']} classes)"]
    for key in ("reference_float", "compressed_float", "golden", "hardware"):
        acc = r["accuracy"].get(key)
        if acc is not None:
            top5 = f", top-5 {100 * acc['top5']:.2f} %" if "top5" in acc else ""
            lines.append(f"  {names[key]:<28} top-1 {100 * acc['top1']:.2f} %{top5}")
    if "cycles_per_inference" in r:
        c = r["cycles_per_inference"]
        lines.append(f"  cycles per inference: mean {c['mean']:,}, min {c['min']:,}, max "
                     f"{c['max']:,}; load-balance efficiency {r['load_balance_efficiency']}; "
                     f"bit-exact against golden: {r['golden_match']}")
    return "\n".join(lines) + "\n"
