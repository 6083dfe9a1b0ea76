"""Data sets for the training front end: the bundled 8x8 digits, or any `.npz`.

The default is scikit-learn's bundled copy of the UCI 8x8 handwritten digits (1797
images, 10 classes, shipped inside the package: nothing is downloaded). Pixels (0..16)
are divided by 16, so features lie in [0, 1], and the images are split once, stratified
by class, into 1437 training and 360 test images (`seed` picks the split; 0 is the one
every result in this project uses).

Any other data set comes as an `.npz` holding `x_train` and `x_test` (2-D, one float
feature row per sample, the same number of features) and `y_train` and `y_test` (1-D
integer class labels 0..C-1, one per row); an optional scalar `n_classes` fixes C
(otherwise C = largest label + 1). Features should be scaled to about [0, 1]: the
accelerator's activation format (16 bits, 8 fraction bits by default) holds -128..128
with a step of 1/256, and `quantize_inputs` rounds features to it (docs/training.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from eie_hw.errors import EIEError

DIGITS = "digits"
DIGITS_TEST_SIZE = 360          # of 1797 images: 1437 train / 360 test
_KEYS = ("x_train", "y_train", "x_test", "y_test")


@dataclass
class Dataset:
    x_train: np.ndarray     # (n_train, features) float32
    y_train: np.ndarray     # (n_train,) int64 in 0..n_classes-1
    x_test: np.ndarray      # (n_test, features) float32
    y_test: np.ndarray      # (n_test,) int64
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def summary(self) -> str:
        return (f"{self.name}: {len(self.y_train)} train / {len(self.y_test)} test samples, "
                f"{self.n_features} features, {self.n_classes} classes")


def load_dataset(name_or_path=None, seed: int = 0) -> Dataset:
    """`None` or "digits": the bundled digits; otherwise the path of an `.npz` data set."""
    if name_or_path is None or str(name_or_path) == DIGITS:
        return load_digits(seed)
    return load_npz_dataset(name_or_path)


def load_digits(seed: int = 0) -> Dataset:
    try:
        from sklearn.datasets import load_digits as sk_load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        raise EIEError("the bundled digits data set needs scikit-learn: install it with "
                       "`pip install scikit-learn`, or pass an .npz data set with "
                       "--dataset PATH") from None
    digits = sk_load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=DIGITS_TEST_SIZE, stratify=y, random_state=seed)
    return Dataset(np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test),
                   y_test, n_classes=10, name=DIGITS if seed == 0 else f"{DIGITS}-split{seed}")


def load_npz_dataset(path) -> Dataset:
    from .model_io import read_npz

    path = Path(path)
    if not path.exists():
        raise EIEError(f"data set {path} does not exist: pass an .npz with x_train, y_train, "
                       f"x_test, y_test, or omit --dataset for the bundled digits")
    data = read_npz(path, "data set", "save it with numpy.savez(path, x_train=..., "
                                      "y_train=..., x_test=..., y_test=...)")
    missing = [key for key in _KEYS if key not in data]
    if missing:
        raise EIEError(f"data set {path} lacks {', '.join(missing)}: it must hold "
                       f"x_train, y_train, x_test and y_test (found "
                       f"{', '.join(data) or 'no arrays'})")
    return make_dataset(data["x_train"], data["y_train"], data["x_test"], data["y_test"],
                        n_classes=data.get("n_classes"), name=str(path))


def make_dataset(x_train, y_train, x_test, y_test, n_classes=None, name="data set") -> Dataset:
    """Check arrays and build a `Dataset`; every problem is an `EIEError` naming it."""
    x_train = _features(name, "x_train", x_train)
    x_test = _features(name, "x_test", x_test)
    if x_train.shape[1] != x_test.shape[1]:
        raise EIEError(f"{name}: x_train has {x_train.shape[1]} features per sample but "
                       f"x_test has {x_test.shape[1]}; both must have the same columns")
    y_train = _labels(name, "y_train", y_train, len(x_train), "x_train")
    y_test = _labels(name, "y_test", y_test, len(x_test), "x_test")
    top = int(max(y_train.max(), y_test.max())) + 1
    if n_classes is None:
        n_classes = top
    else:
        n_classes = np.asarray(n_classes)
        if n_classes.size != 1 or not np.issubdtype(n_classes.dtype, np.integer):
            raise EIEError(f"{name}: n_classes must be one integer, got {n_classes!r}")
        n_classes = int(n_classes.reshape(()))
        if top > n_classes:
            raise EIEError(f"{name}: labels go up to {top - 1} but n_classes is {n_classes}; "
                           f"labels must lie in 0..n_classes-1")
    if n_classes < 2:
        raise EIEError(f"{name}: only one class (label 0) found; a classifier needs labels "
                       f"0..C-1 with C >= 2")
    return Dataset(x_train, y_train, x_test, y_test, n_classes=n_classes, name=name)


def _features(name: str, key: str, value) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim != 2:
        raise EIEError(f"{name}: {key} must be 2-D (samples x features), got shape "
                       f"{value.shape}; flatten images with x.reshape(len(x), -1)")
    if 0 in value.shape:
        raise EIEError(f"{name}: {key} is empty (shape {value.shape})")
    if not (np.issubdtype(value.dtype, np.floating) or np.issubdtype(value.dtype, np.integer)
            or value.dtype == np.bool_):
        raise EIEError(f"{name}: {key} must hold numbers, got dtype {value.dtype}")
    value = value.astype(np.float32)
    bad = value.size - int(np.count_nonzero(np.isfinite(value)))
    if bad:
        raise EIEError(f"{name}: {key} contains {bad} NaN or infinite values; clean or "
                       f"impute them before training")
    return np.ascontiguousarray(value)


def _labels(name: str, key: str, value, rows: int, x_key: str) -> np.ndarray:
    value = np.asarray(value)
    if value.ndim == 2 and value.shape[1] == 1:
        value = value[:, 0]
    if value.ndim != 1:
        raise EIEError(f"{name}: {key} must be 1-D class labels (one integer per sample), "
                       f"got shape {value.shape}; for one-hot labels pass y.argmax(1)")
    if len(value) != rows:
        raise EIEError(f"{name}: {key} has {len(value)} labels but {x_key} has {rows} "
                       f"samples; they must match one to one")
    if np.issubdtype(value.dtype, np.floating):
        if not np.all(np.isfinite(value)) or np.any(value != np.round(value)):
            raise EIEError(f"{name}: {key} holds non-integer labels; labels must be class "
                           f"numbers 0..C-1")
    elif not np.issubdtype(value.dtype, np.integer):
        raise EIEError(f"{name}: {key} must hold integer class labels, got dtype "
                       f"{value.dtype}")
    value = value.astype(np.int64)
    if value.min() < 0:
        raise EIEError(f"{name}: {key} has negative label {int(value.min())}; labels must "
                       f"lie in 0..C-1")
    return value


def quantize_inputs(x, config=None) -> np.ndarray:
    """Float features to the accelerator's activation format (fixed-point integers).

    Round to nearest at `config.act_frac` fraction bits (8 by default) and saturate to
    `config.act_bits` signed bits, exactly as `compress.fixedpoint.quantize_activations`.
    A feature in [0, 1] becomes an integer in 0..256; the quantization step is 1/256.
    """
    from eie_hw.config import EIEConfig

    from .fixedpoint import quantize_activations
    return quantize_activations(x, config if config is not None else EIEConfig())
