"""The compression report: what pruning, sharing, fillers and Huffman coding bought.

Sizes are measured, not estimated: Huffman payloads and the file size come from the
written `model.eie`. Two ratios are given against the dense float32 layer:
- `deep_compression_ratio`: Deep Compression's accounting, dense bits over the
  Huffman-coded weight indices + relative indices + codebook;
- `on_disk_ratio`: dense bytes (weights and bias) over the layer's real share of
  `model.eie`, which also carries column pointers, code tables, bias and headers.
`weight_sharing_ratio` is the paper's formula n*b / (n*log2(k) + k*b) for the kept weights.
`warnings` lists layers that compressed without error but compute nothing from their
inputs (no weight kept, or every kept weight rounds to 0).
"""

from __future__ import annotations

import math

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .container import ContainerStats
from .fixedpoint import choose_weight_frac
from .images import MemoryImages
from .model import CompressedModel

FLOAT_BITS = 32


def _ratio(num: float, den: float) -> float | None:
    return round(num / den, 3) if den else None


def _per_weight(bits: float, weights: int) -> float | None:
    return round(bits / weights, 3) if weights else None


def layer_report(layer, desc, cstats: dict, config: EIEConfig) -> dict:
    dense = layer.dense_weights
    kept = layer.nonzeros
    entries = sum(desc.entries)
    fillers = sum(desc.fillers)
    huffman_bits = cstats["v_payload_bits"] + cstats["z_payload_bits"]
    dense_bits = dense * FLOAT_BITS
    bias_bits = 0 if layer.bias is None else layer.rows * FLOAT_BITS
    k = config.codebook_size
    return {
        "name": layer.name,
        "rows": layer.rows,
        "cols": layer.cols,
        "relu": bool(layer.relu),
        "weights": dense,
        "kept": kept,
        "density": round(kept / dense, 5) if dense else 0.0,
        "entries": entries,
        "fillers": fillers,
        "filler_fraction": round(fillers / entries, 5) if entries else 0.0,
        "entries_per_pe_max": max(desc.entries),
        "entries_per_pe_mean": round(entries / len(desc.entries), 2),
        "weight_frac": layer.weight_frac,
        "bits_per_weight_before_huffman": _per_weight(entries * config.entry_bits, kept),
        "bits_per_weight_after_huffman": _per_weight(huffman_bits, kept),
        "huffman_saving": round(1 - huffman_bits / (entries * config.entry_bits), 4)
        if entries else 0.0,
        "weight_sharing_ratio": _ratio(kept * FLOAT_BITS,
                                       kept * math.log2(k) + k * FLOAT_BITS) if kept else None,
        "deep_compression_ratio": _ratio(dense_bits, huffman_bits + cstats["codebook_bits"]),
        "on_disk_bytes": cstats["bytes"],
        "on_disk_ratio": _ratio((dense_bits + bias_bits) / 8, cstats["bytes"]),
        "spmat_words_per_pe_max": max(
            -(-n // config.entries_per_word) for n in desc.entries),
    }


def layer_warnings(layer, config: EIEConfig) -> list[str]:
    """Why a layer's outputs do not depend on its inputs, if they do not.

    Such a layer is valid (an all-zero layer with a bias is a constant), but it is
    more often a too-low density or weight fraction than the user's intent.
    """
    constant = "its outputs are its bias alone" if layer.bias is not None \
        else "its outputs are all 0"
    where = f"layer {layer.name}"
    if layer.nonzeros == 0:
        if layer.stats.get("input_nonzeros", 1) == 0:
            return [f"{where}: all its weights are 0, so {constant}"]
        return [f"{where}: density {layer.stats.get('density_target')} keeps none of its "
                f"{layer.stats['input_nonzeros']} non-zero weights, so {constant}: raise "
                f"--density for it"]
    used = np.unique(layer.codes[layer.codes != 0])
    values = np.asarray(layer.codebook, dtype=np.float64)[used]
    if np.any(np.rint(values * 2.0 ** layer.weight_frac)):
        return []
    try:
        best = choose_weight_frac(layer.codebook, config, layer.bias)
    except EIEError:
        best = layer.weight_frac
    fix = (f"use a larger --weight-frac for it (up to {best})" if best > layer.weight_frac
           else f"its bias or --acc-bits {config.acc_bits} allows no larger fraction: raise "
                f"--acc-bits or scale the layer")
    return [f"{where}: all {layer.nonzeros} kept weights round to 0 at weight fraction "
            f"{layer.weight_frac} (largest {float(np.max(np.abs(values))):g}), so {constant}: "
            f"{fix}"]


def build_report(model: CompressedModel, images: MemoryImages, stats: ContainerStats,
                 config: EIEConfig) -> dict:
    layers = [layer_report(layer, desc, cs, config)
              for layer, desc, cs in zip(model.layers, images.layers, stats.layers)]
    dense_bytes = sum((l["weights"] + (l["rows"] if m.bias is not None else 0)) * 4
                      for l, m in zip(layers, model.layers))
    kept = sum(l["kept"] for l in layers)
    weights = sum(l["weights"] for l in layers)
    huffman_bits = sum(cs["v_payload_bits"] + cs["z_payload_bits"] + cs["codebook_bits"]
                       for cs in stats.layers)
    return {
        "source": model.source,
        "warnings": [w for layer in model.layers for w in layer_warnings(layer, config)],
        "config": config.to_dict(),
        "layers": layers,
        "total": {
            "weights": weights,
            "kept": kept,
            "density": round(kept / weights, 5) if weights else 0.0,
            "fillers": sum(l["fillers"] for l in layers),
            "dense_float32_bytes": dense_bytes,
            "model_eie_bytes": stats.total_bytes,
            "deep_compression_ratio": _ratio(weights * FLOAT_BITS, huffman_bits),
            "on_disk_ratio": _ratio(dense_bytes, stats.total_bytes),
        },
    }


def format_report(report: dict) -> str:
    head = (f"{'layer':<12} {'shape':>13} {'density':>8} {'fillers':>8} {'s':>3} "
            f"{'b/w raw':>8} {'b/w huff':>8} {'DC x':>7} {'disk x':>7}")
    lines = [head, "-" * len(head)]
    for l in report["layers"]:
        lines.append(
            f"{l['name'][:12]:<12} {l['rows']:>6}x{l['cols']:<6} {l['density']:>8.4f} "
            f"{l['fillers']:>8} {l['weight_frac']:>3} "
            f"{_fmt(l['bits_per_weight_before_huffman'])} "
            f"{_fmt(l['bits_per_weight_after_huffman'])} "
            f"{_fmt(l['deep_compression_ratio'], 7)} {_fmt(l['on_disk_ratio'], 7)}")
    t = report["total"]
    lines.append("-" * len(head))
    lines.append(f"total: {t['kept']:,} of {t['weights']:,} weights kept "
                 f"({100 * t['density']:.2f} %), {t['fillers']:,} fillers; "
                 f"{t['dense_float32_bytes']:,} B dense float32 -> {t['model_eie_bytes']:,} B "
                 f"model.eie; Deep Compression ratio {_fmt(t['deep_compression_ratio'], 0)}x, "
                 f"on-disk ratio {_fmt(t['on_disk_ratio'], 0)}x")
    lines.append("b/w = bits per kept weight (index + relative index, fillers included), "
                 "before and after Huffman coding; s = weight fraction bits")
    lines.extend(f"warning: {w}" for w in report.get("warnings", []))
    return "\n".join(lines) + "\n"


def _fmt(value, width: int = 8) -> str:
    text = "-" if value is None else f"{value:.2f}"
    return f"{text:>{width}}"
