"""DSD training (Dense-Sparse-Dense, Han et al., ICLR 2017) against plain dense training.

Three phases of `epochs` epochs each, every phase with a fresh optimizer:

1. dense: ordinary training at learning rate `lr`;
2. sparse: every layer magnitude-pruned to `sparsity` (fraction of weights set to zero,
   `compress.prune.prune_mask` with density 1 - sparsity), then trained with the mask
   fixed, so exactly that fraction of each layer's weights is zero afterwards;
3. re-dense: the mask is dropped, the pruned weights restart at zero, and the whole
   network trains at `lr / 10`.

The baselines have the same length and the same phase structure, and share phase 1 with
DSD (same initialization, same shuffles), so the only difference is the sparse phase:
- `dense`: three phases at `lr` (plain dense training of the same total length);
- `dense_lr_drop`: two phases at `lr`, the third at `lr / 10` (separates DSD's effect
  from that of its lower learning rate at the end).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np

from eie_hw.errors import EIEError

from .datasets import Dataset
from .prune import prune_mask
from .train import DEFAULT_LR, MLP, accuracy, train


@dataclass
class DSDOptions:
    hidden: tuple = (300, 100)
    epochs: int = 10                # per phase; every variant trains 3 x epochs
    sparsity: float = 0.5           # fraction of each layer's weights zero in phase 2
    optimizer: str = "adam"
    lr: float | None = None         # default: the optimizer's (adam 1e-3, sgd 0.05)
    batch_size: int = 32
    weight_decay: float = 1e-4      # L2 in every phase of every variant


def zero_fractions(model: MLP) -> list[float]:
    return [1.0 - float(np.count_nonzero(w)) / w.size for w in model.weights]


def _check(options: DSDOptions) -> float:
    if not 0.0 < options.sparsity < 1.0:
        raise EIEError(f"DSD sparsity {options.sparsity} must be between 0 and 1 (the "
                       f"fraction of weights pruned in the sparse phase, e.g. 0.5)")
    if options.epochs < 1:
        raise EIEError(f"DSD needs at least 1 epoch per phase, got {options.epochs}")
    return DEFAULT_LR.get(options.optimizer, 1e-3) if options.lr is None else options.lr


def dsd_run(dataset: Dataset, seed: int = 0, options: DSDOptions | None = None,
            progress=None) -> dict:
    """One seed: DSD and both baselines; test accuracies after every phase."""
    options = options or DSDOptions()
    lr = _check(options)
    say = progress or (lambda message: None)
    n = options.epochs

    def phase(model, index, rate, masks=None):
        train(model, dataset, n, rate, options.batch_size, options.optimizer, masks=masks,
              seed=seed * 100 + index, weight_decay=options.weight_decay)
        return accuracy(model, dataset.x_test, dataset.y_test)

    t0 = time.perf_counter()
    sizes = [dataset.n_features, *options.hidden, dataset.n_classes]
    model = MLP(sizes, seed=seed)
    acc_dense1 = phase(model, 1, lr)
    say(f"seed {seed}: dense phase {100 * acc_dense1:.2f} %")
    after_phase1 = model.copy()

    masks = [prune_mask(w, 1.0 - options.sparsity) for w in model.weights]
    acc_sparse = phase(model, 2, lr, masks)
    sparse_zeros = zero_fractions(model)
    acc_redense = phase(model, 3, lr / 10)
    redense_zeros = zero_fractions(model)
    say(f"seed {seed}: DSD sparse {100 * acc_sparse:.2f} %, re-dense "
        f"{100 * acc_redense:.2f} %")

    base = after_phase1.copy()
    acc_base2 = phase(base, 2, lr)
    drop = base.copy()
    acc_base3 = phase(base, 3, lr)
    acc_drop3 = phase(drop, 3, lr / 10)
    say(f"seed {seed}: dense baseline {100 * acc_base3:.2f} %, with lr drop "
        f"{100 * acc_drop3:.2f} % ({time.perf_counter() - t0:.1f} s)")
    return {
        "seed": seed,
        "dsd": {"dense": acc_dense1, "sparse": acc_sparse, "redense": acc_redense},
        "dense": {"phase1": acc_dense1, "phase2": acc_base2, "phase3": acc_base3},
        "dense_lr_drop": {"phase1": acc_dense1, "phase2": acc_base2, "phase3": acc_drop3},
        "sparse_zero_fraction": sparse_zeros,
        "redense_zero_fraction": redense_zeros,
        "seconds": round(time.perf_counter() - t0, 3),
    }


def _stats(values) -> dict:
    values = np.asarray(values, dtype=np.float64)
    return {"mean": float(values.mean()), "std": float(values.std(ddof=1)) if
            len(values) > 1 else 0.0, "values": [float(v) for v in values]}


def dsd_experiment(dataset: Dataset, seeds=(0, 1, 2), options: DSDOptions | None = None,
                   progress=None) -> dict:
    """DSD vs dense training over several seeds: per-seed runs and mean / std."""
    options = options or DSDOptions()
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise EIEError("give at least one seed, e.g. --seeds 0,1,2")
    runs = [dsd_run(dataset, s, options, progress) for s in seeds]
    final = {"dsd": [r["dsd"]["redense"] for r in runs],
             "dense": [r["dense"]["phase3"] for r in runs],
             "dense_lr_drop": [r["dense_lr_drop"]["phase3"] for r in runs]}
    gain = [d - b for d, b in zip(final["dsd"], final["dense"])]
    gain_drop = [d - b for d, b in zip(final["dsd"], final["dense_lr_drop"])]
    summary = {
        "dsd_dense_phase": _stats([r["dsd"]["dense"] for r in runs]),
        "dsd_sparse_phase": _stats([r["dsd"]["sparse"] for r in runs]),
        "dsd_final": _stats(final["dsd"]),
        "dense_final": _stats(final["dense"]),
        "dense_lr_drop_final": _stats(final["dense_lr_drop"]),
        "dsd_minus_dense": _stats(gain),
        "dsd_minus_dense_lr_drop": _stats(gain_drop),
        "seeds_dsd_better": sum(g > 0 for g in gain),
        "seeds_dsd_worse": sum(g < 0 for g in gain),
    }
    return {"dataset": dataset.name,
            "sizes": [dataset.n_features, *options.hidden, dataset.n_classes],
            "options": asdict(options), "seeds": seeds, "summary": summary, "runs": runs,
            "verdict": verdict(summary, len(dataset.y_test))}


def verdict(summary: dict, n_test: int) -> str:
    g = summary["dsd_minus_dense"]
    gd = summary["dsd_minus_dense_lr_drop"]
    step = 100.0 / n_test
    return (f"DSD minus dense: {100 * g['mean']:+.2f} +/- {100 * g['std']:.2f} points "
            f"(one test sample = {step:.2f} points); DSD minus dense with the same final "
            f"lr drop: {100 * gd['mean']:+.2f} +/- {100 * gd['std']:.2f} points; DSD better "
            f"on {summary['seeds_dsd_better']} of {len(g['values'])} seeds, worse on "
            f"{summary['seeds_dsd_worse']}")
