"""The compression pipeline: model file -> pruned, shared, fixed-point, packed, on disk."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from eie_hw.config import EIEConfig
from eie_hw.bounds import check_design_size, check_pes_for_model
from eie_hw.errors import EIEError
from eie_hw.memory_map import MODEL_FILE
from eie_hw.output import check_output_path, output_folder

from .balance import assign_rows, check_mode
from .container import write_container
from .encode import encode_layer
from .fixedpoint import choose_weight_frac, check_weight_frac
from .images import MemoryImages, pack_layers
from .kmeans import share_weights
from .manifest import write_images
from .model import CompressedLayer, CompressedModel
from .model_io import InputLayer, load_model
from .prune import global_prune_masks, prune_mask
from .report import build_report, format_report, layer_warnings

DEFAULT_DENSITY = 0.1


@dataclass
class CompressOptions:
    density: float = DEFAULT_DENSITY
    layer_density: dict[str, float] = field(default_factory=dict)
    global_prune: bool = False            # one magnitude threshold over all layers
    weight_frac: dict[str, int] = field(default_factory=dict)   # per layer override
    kmeans_iterations: int = 100
    # Row-to-PE assignment (compress/balance.py): "interleave" (row i -> PE i mod N, the
    # paper's) or "balanced" (rows permuted so every PE gets about the same work).
    balance: str = "interleave"
    # A safetensors file's layers to take, in this order (None: all, in the file's order).
    layer_order: list[str] | None = None


def parse_layer_value(item: str, kind, what: str, expected: str | None = None):
    """`"fc1=0.05"` -> ("fc1", 0.05), `"0.1"` -> (None, 0.1); `expected` words the error."""
    name, eq, value = item.rpartition("=")
    try:
        parsed = kind(value)
    except ValueError:
        expected = expected or f"a {kind.__name__} or LAYER={kind.__name__}"
        raise EIEError(f"{what} {item!r} is not {expected}") from None
    return (name if eq else None), parsed


def parse_assignments(items: list[str] | None, kind, what: str) -> tuple[object, dict]:
    """`["0.1", "fc1=0.05"]` -> (0.1, {"fc1": 0.05}); either part may be absent."""
    default, per_layer = None, {}
    for item in items or []:
        name, parsed = parse_layer_value(item, kind, what)
        if name is None:
            default = parsed
        else:
            per_layer[name] = parsed
    return default, per_layer


def _check_names(options: CompressOptions, layers: list[InputLayer]) -> None:
    names = {layer.name for layer in layers}
    for flag, mapping in (("--density", options.layer_density),
                          ("--weight-frac", options.weight_frac)):
        unknown = sorted(set(mapping) - names)
        if unknown:
            raise EIEError(f"{flag} names layer(s) {', '.join(unknown)} that the model does "
                           f"not have; its layers are {', '.join(sorted(names))}")
    if options.global_prune and options.layer_density:
        raise EIEError("global pruning uses one density for all layers: drop the per-layer "
                       "--density values or --global-prune")


def _masks(layers: list[InputLayer], options: CompressOptions) -> dict[str, np.ndarray]:
    trainable = [layer for layer in layers if not layer.prequantized]
    if options.global_prune and trainable:
        masks = global_prune_masks([layer.weight for layer in trainable], options.density)
        return {layer.name: mask for layer, mask in zip(trainable, masks)}
    return {layer.name: prune_mask(layer.weight,
                                   options.layer_density.get(layer.name, options.density))
            for layer in trainable}


def _weight_frac(layer: InputLayer, codebook: np.ndarray, config: EIEConfig,
                 options: CompressOptions) -> int:
    if layer.name in options.weight_frac:
        s = options.weight_frac[layer.name]
        check_weight_frac(s, config, layer.name)
        return s
    try:
        # The bias shares the weight fraction, so it bounds it too (an all-zero
        # codebook alone would pick the largest fraction and leave no room for it).
        return choose_weight_frac(codebook, config, layer.bias)
    except EIEError as exc:
        raise EIEError(f"layer {layer.name}: {exc}") from None


def compress_layers(layers: list[InputLayer], config: EIEConfig,
                    options: CompressOptions, progress=None) -> CompressedModel:
    """Prune, share weights and pick each layer's fixed-point weight fraction."""
    _check_names(options, layers)
    check_mode(options.balance)
    masks = _masks(layers, options)
    out = []
    for layer in layers:
        if progress:
            progress(f"compressing {layer.name} {layer.shape[0]} x {layer.shape[1]}")
        stats = {"prequantized": layer.prequantized}
        if layer.prequantized:
            codes, codebook = layer.codes, layer.codebook
            stats["input_nonzeros"] = int(np.count_nonzero(codes))
        else:
            stats["input_nonzeros"] = int(np.count_nonzero(layer.weight))
            codes, codebook = share_weights(layer.weight, masks[layer.name], config.code_bits,
                                            max_iter=options.kmeans_iterations)
            stats["density_target"] = (options.density if options.global_prune else
                                       options.layer_density.get(layer.name, options.density))
        out.append(CompressedLayer(name=layer.name, codes=codes, codebook=codebook,
                                   weight_frac=_weight_frac(layer, codebook, config, options),
                                   relu=layer.relu, bias=layer.bias,
                                   dense_weights=layer.shape[0] * layer.shape[1], stats=stats))
        # build_report lists the same warnings in report["warnings"].
        for warning in layer_warnings(out[-1], config) if progress else ():
            progress(f"warning: {warning}")
    if options.balance != "interleave" and progress:
        progress(f"assigning rows to PEs ({options.balance})")
    return CompressedModel(layers=assign_rows(out, config.n_pes, options.balance))


@dataclass
class CompressResult:
    model: CompressedModel
    images: MemoryImages
    report: dict              # report.json, plus "seconds" (not on disk: see compress_file)
    directory: Path           # the final folder, never the staging one
    seconds: float = 0.0


def compress_file(model_path, out_dir, config: EIEConfig, options: CompressOptions,
                  progress=None, force: bool = False) -> CompressResult:
    """The whole of `eie compress`: writes model.eie, config, reports, images, manifest.

    The folder is written through eie_hw.output (a staging sibling renamed into place),
    the manifest last, so that a folder at `out_dir` is always complete. `force` replaces
    a folder eie did not write. Nothing written depends on time or on the output path:
    compressing the same input twice gives byte-identical folders and the same model id.
    """
    say = progress or (lambda message: None)
    t0 = time.perf_counter()
    target = check_output_path(out_dir, folder=True, force=force)   # before the work
    check_design_size(config, force)
    layers = load_model(model_path, config.code_bits, options.layer_order)
    check_pes_for_model(config, {layer.name: layer.shape[0] for layer in layers}, force)
    model = compress_layers(layers, config, options, progress=say)
    model.source = (str(model_path) if isinstance(model_path, (str, Path))
                    else f"<{type(model_path).__name__} in memory>")
    say("encoding and packing per-PE memory images")
    encoded = [encode_layer(layer.codes, config) for layer in model.layers]
    images = pack_layers(model.layers, config, encoded=encoded)

    say(f"writing {target}")
    with output_folder(target, "compress", force=force) as staging:
        stats = write_container(staging / MODEL_FILE, model, config, encoded=encoded)
        report = build_report(model, images, stats, config)
        report["row_assignment"] = options.balance
        report["model_id"] = stats.model_id
        (staging / "config.json").write_text(config.to_json())
        (staging / "report.json").write_text(json.dumps(report, indent=1) + "\n")
        (staging / "report.txt").write_text(format_report(report))
        write_images(images, staging, model_id=stats.model_id)
    seconds = round(time.perf_counter() - t0, 3)
    report["seconds"] = seconds
    return CompressResult(model=model, images=images, report=report, directory=target,
                          seconds=seconds)
