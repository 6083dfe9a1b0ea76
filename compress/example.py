"""The bundled example network used by `eie demo` and the tests.

A LeNet-300-100-shaped MLP for 8x8 inputs (64-300-100-10). Its weights are generated
from a fixed seed (no download, no binary blob in the repository) with the heavy-tailed
magnitude distribution of trained layers, so pruning and clustering behave as on a real
network; a later step replaces it with weights trained on the digits data set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

EXAMPLE_SHAPE = (64, 300, 100, 10)


def example_layers(seed: int = 0, shape=EXAMPLE_SHAPE) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {}
    for index, (n_in, n_out) in enumerate(zip(shape, shape[1:])):
        scale = np.sqrt(2.0 / n_in)
        weight = rng.laplace(0.0, scale / np.sqrt(2.0), size=(n_out, n_in))
        arrays[f"fc{index + 1}.weight"] = weight.astype(np.float32)
        arrays[f"fc{index + 1}.bias"] = rng.normal(0.0, 0.05, n_out).astype(np.float32)
    return arrays


def write_example(path, seed: int = 0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **example_layers(seed))
    return path


def example_inputs(n: int, seed: int = 1, width: int = EXAMPLE_SHAPE[0]) -> np.ndarray:
    """Non-negative, partly zero inputs in [0, 1), like normalized 8x8 images."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, width))
    x[x < 0.4] = 0.0
    return x.astype(np.float32)
