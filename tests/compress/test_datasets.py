"""Data sets: the bundled digits split, .npz data sets, and clear errors for bad files."""

import numpy as np
import pytest

from compress.datasets import load_dataset, make_dataset, quantize_inputs
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError


@pytest.fixture(scope="module")
def digits():
    return load_dataset()


def test_digits_default_split(digits):
    assert digits.x_train.shape == (1437, 64) and digits.x_test.shape == (360, 64)
    assert digits.x_train.dtype == np.float32 and digits.y_train.dtype == np.int64
    assert digits.n_classes == 10 and digits.name == "digits"
    assert digits.x_train.min() >= 0 and digits.x_train.max() <= 1
    # Stratified: every class has 35 or 36 of the 360 test images.
    counts = np.bincount(digits.y_test, minlength=10)
    assert counts.min() >= 35 and counts.max() <= 37


def test_digits_split_is_fixed(digits):
    again = load_dataset("digits", seed=0)
    assert np.array_equal(again.x_test, digits.x_test)
    assert np.array_equal(again.y_train, digits.y_train)
    other = load_dataset(seed=1)
    assert not np.array_equal(other.y_test, digits.y_test)


def _blobs(n=40, features=5, classes=3, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, features)).astype(np.float32), rng.integers(0, classes, n))


def test_npz_dataset_round_trip(tmp_path):
    x, y = _blobs()
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x[:30], y_train=y[:30], x_test=x[30:], y_test=y[30:])
    ds = load_dataset(path)
    assert ds.n_features == 5 and ds.n_classes == int(y.max()) + 1
    assert np.array_equal(ds.y_test, y[30:]) and ds.x_train.dtype == np.float32
    np.savez(path, x_train=x[:30], y_train=y[:30].astype(np.float64), x_test=x[30:],
             y_test=y[30:], n_classes=7)
    assert load_dataset(path).n_classes == 7


def _write(tmp_path, **arrays):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    return path


X, Y = _blobs()
GOOD = dict(x_train=X[:30], y_train=Y[:30], x_test=X[30:], y_test=Y[30:])


@pytest.mark.parametrize("change,message", [
    ({"x_test": None}, "lacks x_test"),
    ({"x_train": X[:30].reshape(30, 5, 1)}, "must be 2-D"),
    ({"x_train": X[:30, 0]}, "must be 2-D"),
    ({"x_test": X[30:, :4]}, "5 features per sample but x_test has 4"),
    ({"y_train": Y[:29]}, "29 labels but x_train has 30"),
    ({"y_test": Y[30:].reshape(2, 5)}, "must be 1-D"),
    ({"x_train": np.where(X[:30] > 0.9, np.nan, X[:30])}, "NaN"),
    ({"y_train": np.where(Y[:30] == 0, -1, Y[:30])}, "negative label"),
    ({"y_train": Y[:30] + 0.5}, "non-integer labels"),
    ({"n_classes": 2, "y_train": np.full(30, 2)}, "labels go up to 2 but n_classes is 2"),
    ({"y_train": np.zeros(30, int), "y_test": np.zeros(10, int)}, "only one class"),
    ({"x_train": np.zeros((0, 5))}, "must be 2-D"),
])
def test_bad_dataset_files(tmp_path, change, message):
    arrays = {**GOOD, **change}
    arrays = {k: v for k, v in arrays.items() if v is not None}
    if "x_train" in change and change["x_train"].shape[:1] == (0,):
        arrays["x_train"] = np.zeros((0,))
    with pytest.raises(EIEError, match=message):
        load_dataset(_write(tmp_path, **arrays))


def test_unreadable_files(tmp_path):
    with pytest.raises(EIEError, match="does not exist"):
        load_dataset(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(EIEError, match="not an .npz archive .* a text file"):
        load_dataset(junk)
    single = tmp_path / "single.npy"
    np.save(single, X)
    with pytest.raises(EIEError, match="single .npy array"):
        load_dataset(single)
    pickled = tmp_path / "obj.npz"
    np.savez(pickled, x_train=np.array([{"a": 1}], dtype=object), y_train=Y, x_test=X,
             y_test=Y)
    with pytest.raises(EIEError, match="holds Python objects"):
        load_dataset(pickled)


def test_make_dataset_accepts_column_labels():
    ds = make_dataset(X[:30], Y[:30, None], X[30:], Y[30:])
    assert ds.y_train.shape == (30,)


def test_input_quantization_matches_activation_format():
    q = quantize_inputs(np.array([[0.0, 0.5, 1.0, 1 / 512 + 1e-9, 0.3]]))
    assert q.tolist() == [[0, 128, 256, 1, 77]]
    cfg = EIEConfig(act_frac=4)
    assert quantize_inputs(np.array([0.5, 1.0]), cfg).tolist() == [8, 16]
