"""Input model checks: every bad model file is a clear error naming the problem."""

import numpy as np
import pytest

from compress.model_io import load_model
from eie_hw.errors import EIEError


def save(tmp_path, **arrays):
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    return path


def test_layers_in_file_order_with_default_relu(tmp_path):
    rng = np.random.default_rng(0)
    path = save(tmp_path, **{"b.weight": rng.normal(size=(5, 4)), "b.bias": np.zeros(5),
                             "a.weight": rng.normal(size=(3, 5))})
    layers = load_model(path, code_bits=4)
    assert [l.name for l in layers] == ["b", "a"]
    assert [l.relu for l in layers] == [True, False]
    assert layers[0].bias is not None and layers[1].bias is None


def test_relu_override_and_prequantized_layer(tmp_path):
    codebook = np.linspace(-1, 1, 16)
    codebook[0] = 0
    path = save(tmp_path, **{"x.codes": np.eye(4, dtype=np.uint8) * 3,
                             "x.codebook": codebook, "x.relu": np.array(1)})
    (layer,) = load_model(path, code_bits=4)
    assert layer.prequantized and layer.relu and layer.shape == (4, 4)


@pytest.mark.parametrize("arrays,message", [
    ({"a.weight": np.ones((3, 4)), "b.weight": np.ones((2, 5))}, "do not chain"),
    ({"a.weight": np.ones(4)}, "2-D matrix"),
    ({"a.weight": np.array([[1.0, np.nan]])}, "NaN"),
    ({"a.weight": np.ones((2, 2)), "a.bias": np.ones(3)}, "bias has shape"),
    ({"a.codes": np.ones((2, 2), np.uint8)}, "needs a.codebook"),
    ({"a.codes": np.ones((2, 2), np.uint8), "a.codebook": np.arange(1, 17.0)},
     "must be exactly 0"),
    ({"a.codes": np.full((2, 2), 16, np.uint8), "a.codebook": np.arange(16.0)},
     "must lie in 0..15"),
    ({"a.codes": np.ones((2, 2), np.uint8), "a.codebook": np.arange(8.0)},
     "must have 16 entries"),
    ({"a.weight": np.ones((2, 2)), "a.codes": np.ones((2, 2), np.uint8)}, "exactly one of"),
    ({"a.weight": np.ones((2, 2)), "a.relu": np.array(2)}, "must be 0 or 1"),
    ({"a.kernel": np.ones((2, 2))}, "is not <layer>.weight"),
    ({}, "holds no layers"),
])
def test_bad_models(tmp_path, arrays, message):
    with pytest.raises(EIEError, match=message):
        load_model(save(tmp_path, **arrays), code_bits=4)


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(EIEError, match="does not exist"):
        load_model(tmp_path / "nope.npz", code_bits=4)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(EIEError, match="cannot read"):
        load_model(bad, code_bits=4)


def test_single_npy_array_is_a_clear_error(tmp_path):
    path = tmp_path / "w.npy"
    np.save(path, np.ones((2, 2)))
    with pytest.raises(EIEError, match="single .npy array"):
        load_model(path, code_bits=4)
