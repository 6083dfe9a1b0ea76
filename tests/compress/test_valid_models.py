"""Valid but unusual models compress and simulate (all-zero layers, big biases); layers
that compute nothing from their inputs are warned about; bad model files are one-line
errors from `load_model`, checked before numpy allocates anything."""

import io
import struct
import warnings
import zipfile

import numpy as np
import pytest

from compress.model_io import load_model
from compress.pipeline import CompressOptions, compress_file
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from sim.run import simulate

CFG = EIEConfig(n_pes=2, act_entries=16, bias_entries=16, spmat_words=256, ptr_entries=256,
                max_layers=4)


def compress(tmp_path, arrays, **options):
    np.savez(tmp_path / "m.npz", **arrays)
    said = []
    result = compress_file(tmp_path / "m.npz", tmp_path / "out", CFG,
                           CompressOptions(**options), progress=said.append)
    return result, [line for line in said if line.startswith("warning: ")]


def test_all_zero_layer_with_bias_is_its_bias(tmp_path):
    bias = np.array([0.5, -0.25, 1.3], np.float32)
    result, said = compress(tmp_path, {
        "a.weight": np.zeros((3, 4), np.float32), "a.bias": bias,
        "b.weight": np.eye(3, dtype=np.float32) * 0.5}, layer_density={"b": 1.0})
    a = result.report["layers"][0]
    # The bias bounds the fraction: 1.3 * 2**(8 + s) must fit 32 bits, so s <= 22.
    assert a["weight_frac"] == 22
    report = simulate(tmp_path / "out", np.array([[1.0, -2.0, 3.0, 4.0], [0, 0, 0, 0]]))
    # relu(bias) in the activation format: 0.5 * 256, 0, round(1.3 * 256) = 333.
    assert report["layers"][0]["outputs"] == [[128, 0, 333]] * 2
    assert report["outputs"] == [[64, 0, 167]] * 2       # 0.5 * (128, 0, 333), half up
    assert result.report["warnings"] == ["layer a: all its weights are 0, so its outputs "
                                         "are its bias alone"]
    assert said == ["warning: " + result.report["warnings"][0]]
    assert "warning: layer a" in (tmp_path / "out" / "report.txt").read_text()


def test_last_layer_all_zero_keeps_negative_bias(tmp_path):
    compress(tmp_path, {"a.weight": np.zeros((2, 2)), "a.bias": np.array([-3.0, 100.0])})
    assert simulate(tmp_path / "out", np.ones(2))["outputs"] == [-768, 25600]


def test_small_weights_with_large_bias(tmp_path):
    # Alone the codebook (|w| <= 0.01) would pick s = 21, where a bias of 100 does not fit.
    rng = np.random.default_rng(0)
    result, said = compress(tmp_path, {"a.weight": rng.uniform(-0.01, 0.01, (4, 6)),
                                       "a.bias": np.array([100.0, -100.0, 1.0, 0.0])},
                            density=1.0)
    assert result.report["layers"][0]["weight_frac"] == 16
    assert said == [] and result.report["warnings"] == []
    report = simulate(tmp_path / "out", rng.normal(0, 1, 6))
    assert np.allclose(np.array(report["outputs"]) / 256, report["outputs_float"], atol=0.02)


def test_density_that_keeps_no_weight(tmp_path):
    result, said = compress(tmp_path, {"a.weight": np.ones((3, 4)),
                                       "b.weight": np.ones((2, 3))},
                            layer_density={"a": 0.01})
    (warning,) = result.report["warnings"]
    assert warning.startswith("layer a: density 0.01 keeps none of its 12 non-zero weights")
    assert "its outputs are all 0" in warning and "--density" in warning
    assert said == [f"warning: {warning}"]
    assert simulate(tmp_path / "out", np.ones(4))["outputs"] == [0, 0]


def test_kept_weights_that_round_to_zero(tmp_path):
    codebook = np.zeros(16)
    codebook[1] = 0.1
    result, said = compress(tmp_path, {"a.codes": np.ones((2, 2), np.uint8),
                                       "a.codebook": codebook}, weight_frac={"a": 0})
    (warning,) = result.report["warnings"]
    assert warning.startswith("layer a: all 4 kept weights round to 0 at weight fraction 0")
    assert "--weight-frac" in warning and said == [f"warning: {warning}"]
    assert simulate(tmp_path / "out", np.ones(2))["outputs"] == [0, 0]


def test_weights_rounding_to_zero_next_to_a_bias(tmp_path):
    codebook = np.zeros(16)
    codebook[1] = 1e-7
    result, _ = compress(tmp_path, {"a.codes": np.ones((2, 2), np.uint8),
                                    "a.codebook": codebook, "a.bias": np.array([100.0, 0])})
    (warning,) = result.report["warnings"]
    assert "round to 0 at weight fraction 16" in warning and "--acc-bits" in warning


def test_normal_model_has_no_warnings(tmp_path):
    rng = np.random.default_rng(1)
    result, said = compress(tmp_path, {"a.weight": rng.normal(size=(5, 4)),
                                       "a.bias": rng.normal(size=5)}, density=0.5)
    assert result.report["warnings"] == [] and said == []


# ------------------------------------------------------------------ load_model errors

def _error(path, match):
    with pytest.raises(EIEError, match=match) as info:
        load_model(path, code_bits=4)
    message = str(info.value)
    assert "\n" not in message and "pickle" not in message.lower()
    return message


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")          # zipfile warns about duplicate names
        with zipfile.ZipFile(path, "w", compression) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return path


def _npy_bytes(array):
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=True)
    return buffer.getvalue()


def _header_bytes(shape, descr="<f4"):
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


def test_directory_text_and_empty_files(tmp_path):
    (tmp_path / "d.npz").mkdir()
    _error(tmp_path / "d.npz", "is a directory")
    (tmp_path / "t.npz").write_text("fc1.weight = [[1, 2]]\n")
    message = _error(tmp_path / "t.npz", r"not an \.npz archive \(numpy\.savez\): it is a "
                                         r"text file")
    assert "numpy.savez(path" in message
    (tmp_path / "e.npz").write_bytes(b"")
    _error(tmp_path / "e.npz", "it is an empty file")
    (tmp_path / "b.npz").write_bytes(bytes(range(200, 256)))
    _error(tmp_path / "b.npz", "it is binary data")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_header_claims_huge_array(tmp_path, compression):
    path = _zip(tmp_path / "h.npz", [("a.weight.npy", _header_bytes((1 << 20, 1 << 20)))],
                compression)
    _error(path, "claims shape .* more than the 2,147,483,648")
    path = _zip(tmp_path / "t.npz", [("a.weight.npy", _header_bytes((10000, 10000)))],
                compression)
    _error(path, "only .* bytes follow")


def test_zip_directory_claiming_a_huge_member(tmp_path):
    path = _zip(tmp_path / "z.npz", [("a.weight.npy", _npy_bytes(np.ones((2, 2))))])
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 4_000_000_000)   # uncompressed size
    path.write_bytes(bytes(data))
    _error(path, "the zip directory claims 4,000,000,000 bytes")


def test_other_zip_compression_is_refused(tmp_path):
    path = _zip(tmp_path / "b.npz", [("a.weight.npy", _npy_bytes(np.ones((2, 2))))],
                zipfile.ZIP_BZIP2)
    _error(path, "not stored or deflate")


def test_bias_too_big_for_the_accumulator(tmp_path):
    with pytest.raises(EIEError, match="even with weight fraction 0"):
        compress(tmp_path, {"a.weight": np.ones((2, 2)), "a.bias": np.array([1e8, 0])})


def test_duplicate_and_foreign_members(tmp_path):
    weight = _npy_bytes(np.ones((2, 2), np.float32))
    _error(_zip(tmp_path / "d.npz", [("a.weight.npy", weight), ("a.weight.npy", weight)]),
           "holds array 'a.weight' twice")
    _error(_zip(tmp_path / "e.npz", [("a.weight.npy", weight), ("a.weight", weight)]),
           "twice")
    _error(_zip(tmp_path / "f.npz", [("archive/data.pkl", b"\x80\x02}q\x00.")]),
           "is not a .npy array")


CODEBOOK = np.concatenate(([0.0], np.linspace(-1, 1, 15)))


@pytest.mark.parametrize("arrays,match", [
    ({"a.weight": np.ones((2, 2), np.complex64)}, "a.weight is complex"),
    ({"a.weight": np.ones((2, 2)), "a.bias": np.ones(2) * 1j}, "a.bias is complex"),
    ({"a.codes": np.ones((2, 2), np.uint8), "a.codebook": CODEBOOK + 0j},
     "a.codebook is complex"),
    ({"a.weight": np.ones((2, 2), bool)}, "a.weight is boolean"),
    ({"a.weight": np.ones((2, 2)), "a.bias": np.ones(2, bool)}, "a.bias is boolean"),
    ({"a.codes": np.ones((2, 2), bool), "a.codebook": CODEBOOK}, "a.codes is boolean"),
    ({"a.codes": np.ones((2, 2)), "a.codebook": CODEBOOK}, "a.codes has dtype float64"),
    ({"a.weight": np.array([["1", "2"]])}, "a.weight holds strings"),
    ({"a.weight": np.ones((1, 2)), "a.bias": np.array([b"x"])}, "a.bias holds strings"),
    ({"a.weight": np.array([[1.0, None]], dtype=object)}, "holds Python objects"),
])
def test_bad_dtypes(tmp_path, arrays, match):
    np.savez(tmp_path / "m.npz", **arrays)
    _error(tmp_path / "m.npz", match)


def test_bool_relu_flag_is_fine(tmp_path):
    np.savez(tmp_path / "m.npz", **{"a.weight": np.ones((2, 2)), "a.relu": np.array(True)})
    assert load_model(tmp_path / "m.npz", code_bits=4)[0].relu


def test_compressed_npz_still_loads(tmp_path):
    np.savez_compressed(tmp_path / "m.npz", **{"a.weight": np.ones((3, 2)),
                                               "a.bias": np.zeros(3)})
    (layer,) = load_model(tmp_path / "m.npz", code_bits=4)
    assert layer.shape == (3, 2) and layer.bias.tolist() == [0, 0, 0]
