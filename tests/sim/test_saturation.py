"""Saturation is reported, not hidden: inputs clipped when quantized and outputs clamped
to the activation range are counted in the `eie simulate` report. Also the one-line
errors of `load_inputs` (the `--input` file)."""

import json

import numpy as np
import pytest

from compress.fixedpoint import output_stage_counted, quantize_activations_counted
from compress.manifest import read_images
from compress.pipeline import CompressOptions, compress_file
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from sim.golden import GoldenModel
from sim.run import format_simulation, load_inputs, simulate

CFG = EIEConfig(n_pes=2, act_entries=8, bias_entries=8, spmat_words=64, ptr_entries=64)


@pytest.fixture(scope="module")
def packed(tmp_path_factory):
    """a: 2 -> 3 with ReLU, b: 3 -> 2 without; codebook 1, -1, 0.5, 2, -2 (s = 13)."""
    tmp = tmp_path_factory.mktemp("sat")
    codebook = np.zeros(16, np.float32)
    codebook[1:6] = [1.0, -1.0, 0.5, 2.0, -2.0]
    np.savez(tmp / "m.npz", **{
        "a.codes": np.array([[4, 0], [5, 0], [3, 3]], np.uint8), "a.codebook": codebook,
        "b.codes": np.array([[5, 0, 0], [0, 0, 3]], np.uint8), "b.codebook": codebook})
    compress_file(tmp / "m.npz", tmp / "out", CFG, CompressOptions())
    return tmp / "out"


def test_counts_by_hand(packed):
    # Activation range is -32768..32767 (16 bits, 8 fraction bits: -128 .. 127.996).
    # Sample 0: 200 clips to 32767. a: 2*32767 saturates (counted); -2*32767 clamps at
    #   the bottom but ReLU zeroes it anyway (not counted); 0.5*(32767-256) = 16256.
    #   b: -2*32767 clamps to -32768 (no ReLU: counted); 0.5*16256 = 8128.
    # Sample 1: nothing leaves the range.
    # Sample 2: -300 and 500 both clip. a: 2*-32768 bottom (ReLU, not counted);
    #   -2*-32768 = 65536 top (counted); 0.5*(-32768+32767) rounds to 0. b: all 0.
    x = np.array([[200.0, -1.0], [1.0, 2.0], [-300.0, 500.0]])
    report = simulate(packed, x)
    a, b = report["layers"]
    assert a["outputs"] == [[32767, 0, 16256], [512, 0, 384], [0, 32767, 0]]
    assert b["outputs"] == [[-32768, 8128], [-1024, 192], [0, 0]]
    assert a["input_clipped"] == [1, 0, 2] and b["input_clipped"] == [0, 0, 0]
    assert a["output_saturated"] == [1, 0, 1] and b["output_saturated"] == [1, 0, 0]
    assert report["inputs_clipped"] == 3 and report["outputs_saturated"] == 3
    assert report["accumulator_overflows"] == 0
    json.dumps(report)      # the --json report must stay serialisable
    text = format_simulation(report)
    assert "inputs clipped to the activation range: 3" in text
    assert "outputs saturated: 3 (in a, b)" in text


def test_single_sample_is_not_a_list(packed):
    report = simulate(packed, np.array([200.0, -1.0]))
    assert report["layers"][0]["input_clipped"] == 1
    assert report["layers"][1]["output_saturated"] == 1


def test_normal_inputs_count_zero(packed):
    report = simulate(packed, np.array([[1.0, 2.0], [0.5, -0.25]]))
    assert report["inputs_clipped"] == 0 and report["outputs_saturated"] == 0
    for layer in report["layers"]:
        assert layer["input_clipped"] == [0, 0] and layer["output_saturated"] == [0, 0]
    text = format_simulation(report)
    assert "inputs clipped to the activation range: 0; outputs saturated: 0\n" in text


def test_fixed_point_inputs_are_never_clipped(packed):
    result = GoldenModel(read_images(packed)).run(inputs_int=np.array([[32767, -32768]]))
    assert result.layers[0].input_clipped.tolist() == [0]
    assert result.layers[0].saturated.tolist() == [1]     # 2 * 32767


def test_counting_helpers():
    q, clipped = quantize_activations_counted([127.99, 128.0, -128.0, -128.01], CFG)
    assert q.tolist() == [32765, 32767, -32768, -32768]
    assert clipped.tolist() == [False, True, False, True]
    acc = np.array([32767 << 2, (32767 << 2) + 2, -(32768 << 2) - 3])
    y, sat = output_stage_counted(acc, 2, False, CFG)
    assert y.tolist() == [32767, 32767, -32768] and sat.tolist() == [False, True, True]
    y, sat = output_stage_counted(acc, 2, True, CFG)
    assert y.tolist() == [32767, 32767, 0] and sat.tolist() == [False, True, False]


# ----------------------------------------------------------------- load_inputs errors

def _npy_with_header(path, shape, payload=b"\0" * 16):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": shape})
        f.write(payload)
    return path


def _one_line_error(path, match):
    with pytest.raises(EIEError, match=match) as info:
        load_inputs(path)
    message = str(info.value)
    assert "\n" not in message and "pickle" not in message.lower()
    return message


def test_directory_and_missing(tmp_path):
    _one_line_error(tmp_path, "is a directory")
    _one_line_error(tmp_path / "none.npy", "does not exist")


@pytest.mark.parametrize("array", [np.zeros((0, 2)), np.zeros(0)])
def test_empty_batch(tmp_path, array):
    np.save(tmp_path / "x.npy", array)
    _one_line_error(tmp_path / "x.npy", "is empty")


@pytest.mark.parametrize("array,match", [
    (np.array([1 + 2j, 3]), "complex"),
    (np.array(["1.0", "2.0"]), "holds strings"),
    (np.array([True, False]), "bool values .bool., not numbers"),
    (np.array([1.0, None], dtype=object), "Python objects"),
])
def test_bad_dtypes(tmp_path, array, match):
    np.save(tmp_path / "x.npy", array, allow_pickle=True)
    _one_line_error(tmp_path / "x.npy", match)


def test_text_file_named_npy(tmp_path):
    (tmp_path / "x.npy").write_text("0.5, 1.0\n")
    message = _one_line_error(tmp_path / "x.npy", "not a .npy array")
    assert "text file" in message


def test_empty_file_and_npz(tmp_path):
    (tmp_path / "e.npy").write_bytes(b"")
    _one_line_error(tmp_path / "e.npy", "an empty file")
    np.savez(tmp_path / "x.npz", x=np.ones(2))
    _one_line_error(tmp_path / "x.npz", "is an .npz archive")


def test_header_claims_too_much(tmp_path):
    _one_line_error(_npy_with_header(tmp_path / "h.npy", (1 << 40,)), "claims shape")
    _one_line_error(_npy_with_header(tmp_path / "t.npy", (1000,)), "truncated")


def test_wrong_columns_and_empty_batch_in_simulate(packed, tmp_path):
    with pytest.raises(EIEError, match="takes 2 activations"):
        simulate(packed, np.ones(3))
    with pytest.raises(EIEError, match="empty"):
        simulate(packed, np.zeros((0, 2)))
