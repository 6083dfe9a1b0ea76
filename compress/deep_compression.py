"""Deep Compression on a trained MLP: prune + retrain, share weights, fine-tune centroids.

1. Iterative magnitude pruning: `rounds` rounds, each pruning every layer to the next
   density of a geometric schedule that ends at the layer's target density
   (`compress.prune.prune_mask`: a pruned weight is 0 and is never kept again), then
   retraining with the mask fixed (pruned weights stay exactly 0).
2. Weight sharing per layer: `compress.kmeans.share_weights` (linear init, `code_bits`
   = 4: 15 clusters for the kept weights, codebook entry 0 = 0 for pruned weights).
3. Centroid fine-tuning: the codes stay fixed; the forward pass uses `codebook[codes]`
   and the gradient of a centroid is the sum of the gradients of the weights that share
   it (entry 0 gets none and stays exactly 0). Biases keep training as floats.

The result is written as a pre-quantized `.npz` (`<layer>.codes`, `.codebook`, `.bias`,
`.relu`) that `eie compress` takes unchanged; it then only Huffman-codes, packs and
reports. See docs/training.md.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError
from eie_hw.output import write_json

from .datasets import Dataset, load_dataset
from .kmeans import share_weights
from .prune import prune_mask
from .train import (MLP, _savez, accuracy, blas_single_thread, iterate_batches,
                    make_optimizer, train)

# Per-layer densities of LeNet-300-100 in the paper (8 %, 9 %, 26 %): the first layer
# has the most redundancy, the small output layer the least.
LENET_DENSITIES = (0.08, 0.09, 0.26)
# For the 64-300-100-10 digits network: its first layer has only 64 inputs (4 of them
# pixels that are 0 in every image) and is less redundant than LeNet-300-100's 784-input
# layer, its 300 x 100 layer more. Chosen on seeds 0-2 (bench/README.md).
DIGITS_SIZES = [64, 300, 100, 10]
DIGITS_DENSITIES = (0.10, 0.03, 0.25)
DIGITS_HIDDEN = (300, 100)
# The hardware configuration the digits network is reported for (and `eie demo` uses).
DEMO_HW = dict(n_pes=16, act_entries=64, bias_entries=64, spmat_words=1024,
               ptr_entries=1024, max_layers=4)


@dataclass
class DeepCompressionOptions:
    densities: tuple | list | float | None = None   # per layer; None: see layer_densities
    rounds: int = 4                    # pruning rounds (geometric density schedule)
    retrain_epochs: int = 10           # retraining epochs after each pruning round
    code_bits: int = 4                 # 2**code_bits codebook entries, entry 0 = 0
    finetune_epochs: int = 5           # centroid fine-tuning epochs
    optimizer: str = "adam"
    retrain_lr: float | None = 1e-3
    finetune_lr: float = 3e-4
    batch_size: int = 32
    weight_decay: float = 1e-4         # L2 during retraining
    seed: int | None = None            # shuffles; default: the model's seed


@dataclass
class QuantizedLayer:
    name: str
    codes: np.ndarray        # uint8 (out x in), 0 = pruned
    codebook: np.ndarray     # float32 (2**code_bits,), entry 0 == 0
    bias: np.ndarray         # float32 (out,)
    relu: bool

    def weight(self) -> np.ndarray:
        return self.codebook[self.codes]


@dataclass
class DeepCompressionResult:
    layers: list[QuantizedLayer]
    pruned: MLP                       # after pruning + retraining (float, masked)
    accuracy: dict                    # dense, pruned, quantized_before_finetune, quantized
    densities: list[float]
    history: dict = field(default_factory=dict)
    seconds: dict = field(default_factory=dict)

    def model(self) -> MLP:
        """The quantized network as a float MLP (weights `codebook[codes]`)."""
        return MLP.from_arrays([l.weight() for l in self.layers], [l.bias for l in self.layers],
                               [l.name for l in self.layers], [l.relu for l in self.layers])

    def save_npz(self, path) -> Path:
        return save_quantized_npz(self.layers, path)


def layer_densities(model: MLP, densities) -> list[float]:
    """Per-layer target densities; None: DIGITS_DENSITIES for the 64-300-100-10 network,
    the paper's LENET_DENSITIES for other 3-layer networks, else 10 % everywhere."""
    if densities is None:
        if model.sizes == DIGITS_SIZES:
            return list(DIGITS_DENSITIES)
        if model.n_layers == len(LENET_DENSITIES):
            return list(LENET_DENSITIES)
        densities = 0.1
    if isinstance(densities, dict):
        unknown = sorted(set(densities) - set(model.names))
        if unknown:
            raise EIEError(f"densities name layer(s) {', '.join(unknown)} that the model "
                           f"does not have; its layers are {', '.join(model.names)}")
        densities = [densities.get(name, 0.1) for name in model.names]
    if np.isscalar(densities):
        densities = [float(densities)] * model.n_layers
    densities = [float(d) for d in densities]
    if len(densities) != model.n_layers:
        raise EIEError(f"{len(densities)} densities given for a network of {model.n_layers} "
                       f"layers: give one per layer ({', '.join(model.names)}) or one for all")
    for name, d in zip(model.names, densities):
        if not 0 < d <= 1:
            raise EIEError(f"density {d} of {name} must be in (0, 1]: the fraction of "
                           f"weights kept, e.g. 0.09")
    return densities


def prune_schedule(target: float, rounds: int) -> list[float]:
    """Geometric densities from 1 to `target` in `rounds` steps (last one == target)."""
    if rounds < 1:
        raise EIEError(f"pruning rounds must be >= 1, got {rounds}")
    return [float(target ** ((r + 1) / rounds)) for r in range(rounds)]


def iterative_prune(model: MLP, dataset: Dataset, densities, rounds: int = 4,
                    epochs: int = 10, lr: float | None = 1e-3, batch_size: int = 32,
                    optimizer: str = "adam", seed: int | None = None, progress=None,
                    weight_decay: float = 1e-4) -> tuple[list[np.ndarray], list[dict]]:
    """Prune `model` in place to `densities` over `rounds`; returns (masks, history)."""
    targets = layer_densities(model, densities)
    schedules = [prune_schedule(t, rounds) for t in targets]
    masks, history = None, []
    for r in range(rounds):
        masks = [prune_mask(w, s[r]) for w, s in zip(model.weights, schedules)]
        for w, m in zip(model.weights, masks):
            w[~m] = 0
        kept = ", ".join(f"{n} {100 * s[r]:.1f} %" for n, s in zip(model.names, schedules))
        if progress:
            progress(f"pruning round {r + 1}/{rounds}: {kept}; retraining {epochs} epochs")
        round_seed = (model.seed if seed is None else seed) * 1000 + r + 1
        h = train(model, dataset, epochs, lr, batch_size, optimizer, masks=masks,
                  seed=round_seed, weight_decay=weight_decay)
        history.append({"round": r + 1, "densities": [s[r] for s in schedules],
                        "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test),
                        "epochs": h})
    return masks, history


def share_model(model: MLP, masks, code_bits: int = 4) -> list[QuantizedLayer]:
    """k-means weight sharing (linear init) of every layer under its mask."""
    return [QuantizedLayer(name, *share_weights(w, m, code_bits), bias=b.copy(), relu=relu)
            for name, w, m, b, relu in zip(model.names, model.weights, masks, model.biases,
                                           model.relu)]


def finetune_centroids(layers: list[QuantizedLayer], dataset: Dataset, epochs: int = 5,
                       lr: float = 3e-4, batch_size: int = 32, optimizer: str = "adam",
                       seed: int = 0, progress=None) -> list[dict]:
    """Train the codebooks (and biases) with the codes fixed; updates `layers` in place.

    The gradient of centroid k of a layer is the sum of the loss gradients of all its
    weights whose code is k; entry 0 (pruned weights) gets no gradient and stays 0.
    """
    model = MLP.from_arrays([l.weight() for l in layers], [l.bias for l in layers],
                            [l.name for l in layers], [l.relu for l in layers], seed=seed)
    codebooks = [l.codebook for l in layers]
    opt = make_optimizer(optimizer, codebooks + model.biases, lr)
    flat_codes = [l.codes.reshape(-1).astype(np.intp) for l in layers]
    rng = np.random.default_rng([seed, 0xCE17])
    with blas_single_thread():
        history = _finetune_epochs(model, layers, codebooks, flat_codes, opt, rng, dataset,
                                   epochs, batch_size, progress)
    for layer, b in zip(layers, model.biases):
        layer.bias = b
    return history


def _finetune_epochs(model, layers, codebooks, flat_codes, opt, rng, dataset, epochs,
                     batch_size, progress) -> list[dict]:
    x, y = dataset.x_train, dataset.y_train
    history = []
    for epoch in range(int(epochs)):
        losses = []
        for idx in iterate_batches(len(y), batch_size, rng):
            loss, gw, gb = model.loss_and_grads(x[idx], y[idx])
            grads = []
            for codes, g, cb in zip(flat_codes, gw, codebooks):
                gc = np.bincount(codes, weights=g.reshape(-1), minlength=cb.size)
                gc[0] = 0.0
                grads.append(gc.astype(np.float32))
            opt.step(grads + gb)
            for layer, cb, w in zip(layers, codebooks, model.weights):
                cb[0] = 0.0
                np.take(cb, layer.codes, out=w)
            losses.append(loss)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)),
                  "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test)}
        history.append(record)
        if progress:
            progress(f"centroid fine-tuning epoch {epoch + 1}/{epochs}: test accuracy "
                     f"{100 * record['test_accuracy']:.2f} %")
    return history


def deep_compress(model: MLP, dataset: Dataset, options: DeepCompressionOptions | None = None,
                  progress=None) -> DeepCompressionResult:
    """Prune + retrain, share weights, fine-tune centroids; `model` is left untouched."""
    options = options or DeepCompressionOptions()
    say = progress or (lambda message: None)
    seed = model.seed if options.seed is None else options.seed
    dense_acc = accuracy(model, dataset.x_test, dataset.y_test)
    pruned = model.copy()
    t0 = time.perf_counter()
    masks, prune_history = iterative_prune(
        pruned, dataset, options.densities, options.rounds, options.retrain_epochs,
        options.retrain_lr, options.batch_size, options.optimizer, seed, say,
        options.weight_decay)
    t1 = time.perf_counter()
    pruned_acc = accuracy(pruned, dataset.x_test, dataset.y_test)
    say(f"pruned: test accuracy {100 * pruned_acc:.2f} % (dense {100 * dense_acc:.2f} %); "
        f"k-means weight sharing, {2 ** options.code_bits} codebook entries")
    layers = share_model(pruned, masks, options.code_bits)
    shared_acc = accuracy(_as_mlp(layers), dataset.x_test, dataset.y_test)
    say(f"weight sharing: test accuracy {100 * shared_acc:.2f} %; fine-tuning centroids "
        f"{options.finetune_epochs} epochs")
    ft_history = finetune_centroids(layers, dataset, options.finetune_epochs,
                                    options.finetune_lr, options.batch_size,
                                    options.optimizer, seed)
    t2 = time.perf_counter()
    quant_acc = accuracy(_as_mlp(layers), dataset.x_test, dataset.y_test)
    say(f"quantized: test accuracy {100 * quant_acc:.2f} %")
    return DeepCompressionResult(
        layers=layers, pruned=pruned,
        accuracy={"dense": dense_acc, "pruned": pruned_acc,
                  "quantized_before_finetune": shared_acc, "quantized": quant_acc},
        densities=[float(np.count_nonzero(l.codes)) / l.codes.size for l in layers],
        history={"pruning": prune_history, "finetune": ft_history},
        seconds={"prune_retrain": round(t1 - t0, 3), "share_finetune": round(t2 - t1, 3)})


def _as_mlp(layers: list[QuantizedLayer]) -> MLP:
    return MLP.from_arrays([l.weight() for l in layers], [l.bias for l in layers],
                           [l.name for l in layers], [l.relu for l in layers])


def save_quantized_npz(layers: list[QuantizedLayer], path) -> Path:
    """The pre-quantized model format of `eie compress` (codes, codebook, bias, relu)."""
    arrays = {}
    for l in layers:
        arrays[f"{l.name}.codes"] = l.codes.astype(np.uint8)
        arrays[f"{l.name}.codebook"] = l.codebook.astype(np.float32)
        arrays[f"{l.name}.bias"] = l.bias.astype(np.float32)
        arrays[f"{l.name}.relu"] = np.array(int(l.relu), dtype=np.uint8)
    path = Path(path)
    _savez(path, arrays)
    return path


def compression_report(quantized_npz, out_dir, config=None, progress=None) -> dict:
    """Run `eie compress` (compress.pipeline.compress_file) on a pre-quantized model."""
    from eie_hw.config import EIEConfig

    from .pipeline import CompressOptions, compress_file
    config = config if config is not None else EIEConfig(**DEMO_HW)
    return compress_file(quantized_npz, out_dir, config, CompressOptions(),
                         progress=progress).report


# ---------------------------------------------------------------------- one call

@dataclass
class TrainSettings:
    hidden: tuple = DIGITS_HIDDEN
    epochs: int = 30
    optimizer: str = "adam"
    lr: float | None = 1e-3
    batch_size: int = 32
    weight_decay: float = 1e-4         # L2: also decays the weights of always-0 pixels


def train_dense(dataset: Dataset, settings: TrainSettings | None = None, seed: int = 0,
                progress=None) -> tuple[MLP, list[dict]]:
    settings = settings or TrainSettings()
    model = MLP([dataset.n_features, *settings.hidden, dataset.n_classes], seed=seed)
    history = train(model, dataset, settings.epochs, settings.lr, settings.batch_size,
                    settings.optimizer, progress=progress, label="dense training",
                    weight_decay=settings.weight_decay, progress_every=10)
    return model, history


def train_and_compress(out_dir, seed: int = 0, progress=None, dataset=None,
                       settings: TrainSettings | None = None,
                       options: DeepCompressionOptions | None = None,
                       hw_config=None) -> dict:
    """Train the digits MLP (64-300-100-10), Deep-Compress it, write the files.

    Writes to `out_dir`: `dense.npz` (float model), `model.npz` (pre-quantized: what
    `eie compress` / `eie demo` compress), `training.json` (this function's result).
    With `hw_config` (an `EIEConfig`) it also runs `eie compress` into
    `out_dir/compressed` and adds its ratios. Returns a dict with the accuracies
    (`dense`, `pruned`, `quantized_before_finetune`, `quantized`), per-layer densities,
    `paths`, `seconds` and the data set name; `x_test`/`y_test` are in
    `load_dataset(dataset)`.
    """
    say = progress or (lambda message: None)
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    data = dataset if isinstance(dataset, Dataset) else load_dataset(dataset)
    settings = settings or TrainSettings()
    sizes = [data.n_features, *settings.hidden, data.n_classes]
    say(f"training the {'-'.join(map(str, sizes))} MLP on {data.summary()}")
    model, _ = train_dense(data, settings, seed, progress=say)
    t1 = time.perf_counter()
    say(f"dense model: test accuracy "
        f"{100 * accuracy(model, data.x_test, data.y_test):.2f} % ({t1 - t0:.1f} s); "
        f"Deep Compression")
    result = deep_compress(model, data, options, progress=say)
    t2 = time.perf_counter()
    dense_path = model.save_npz(out_dir / "dense.npz")
    quant_path = result.save_npz(out_dir / "model.npz")
    summary = {
        "dataset": data.name,
        "sizes": model.sizes,
        "seed": seed,
        "accuracy": result.accuracy,
        "densities": dict(zip(model.names, result.densities)),
        "weights_kept": int(sum(np.count_nonzero(l.codes) for l in result.layers)),
        "weights": int(sum(l.codes.size for l in result.layers)),
        "paths": {"dense": str(dense_path), "quantized": str(quant_path),
                  "report": str(out_dir / "training.json")},
        "seconds": {"train": round(t1 - t0, 3), **result.seconds,
                    "total": round(t2 - t0, 3)},
    }
    if hw_config is not None:
        say("eie compress: Huffman coding, packing, report")
        report = compression_report(quant_path, out_dir / "compressed", hw_config)
        summary["compression"] = report["total"]
        summary["paths"]["compressed"] = str(out_dir / "compressed")
    # In the file, paths are relative to it: the folder may be written in a staging
    # place and renamed (eie_hw/output.py), or moved by the user.
    relative = {key: os.path.relpath(value, out_dir) for key, value in summary["paths"].items()}
    write_json(out_dir / "training.json", {**summary, "paths": relative})
    return summary


def options_dict(options: DeepCompressionOptions) -> dict:
    return asdict(options)
