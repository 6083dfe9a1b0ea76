"""DSD training: phases produce the documented sparsity; the report compares with dense."""

import argparse
import json

import numpy as np
import pytest

from compress.cli_train import add_dsd_parser, cmd_dsd
from compress.datasets import load_dataset
from compress.dsd import DSDOptions, dsd_experiment, dsd_run
from eie_hw.errors import EIEError


@pytest.fixture(scope="module")
def digits():
    return load_dataset()


SMALL = DSDOptions(hidden=(64,), epochs=3, sparsity=0.4)


def test_dsd_phases_have_the_documented_sparsity(digits):
    run = dsd_run(digits, seed=0, options=SMALL)
    sizes = [64 * 64, 64 * 10]
    for zeros, size in zip(run["sparse_zero_fraction"], sizes):
        assert zeros == pytest.approx(0.4, abs=1.0 / size)    # exactly round(0.4 * size)
    # Re-dense: the pruned weights restart at zero and train again. Only those without
    # gradient stay 0: weights from pixels that are 0 in every digit image, or into dead
    # ReLUs.
    for zeros in run["redense_zero_fraction"]:
        assert zeros < 0.1
    assert run["dsd"]["dense"] == run["dense"]["phase1"] == run["dense_lr_drop"]["phase1"]
    for key in ("dense", "sparse", "redense"):
        assert run["dsd"][key] > 0.75           # chance is 0.1
    assert run["dsd"]["redense"] > 0.85
    assert run["dense"]["phase3"] > 0.85 and run["dense_lr_drop"]["phase3"] > 0.85


def test_dsd_is_deterministic(digits):
    small = DSDOptions(hidden=(16,), epochs=1, sparsity=0.3)
    assert dsd_run(digits, 3, small)["dsd"] == dsd_run(digits, 3, small)["dsd"]


def test_dsd_experiment_summary(digits):
    small = DSDOptions(hidden=(16,), epochs=1, sparsity=0.3)
    report = dsd_experiment(digits, seeds=[0, 1], options=small)
    s = report["summary"]
    assert len(report["runs"]) == 2 and report["seeds"] == [0, 1]
    assert s["dsd_final"]["values"] == [r["dsd"]["redense"] for r in report["runs"]]
    gains = np.array(s["dsd_final"]["values"]) - np.array(s["dense_final"]["values"])
    assert s["dsd_minus_dense"]["mean"] == pytest.approx(gains.mean())
    assert s["seeds_dsd_better"] + s["seeds_dsd_worse"] <= 2
    assert "DSD minus dense" in report["verdict"]
    json.dumps(report)


def test_dsd_bad_options(digits):
    with pytest.raises(EIEError, match="sparsity"):
        dsd_run(digits, 0, DSDOptions(sparsity=1.0))
    with pytest.raises(EIEError, match="at least 1 epoch"):
        dsd_run(digits, 0, DSDOptions(epochs=0))
    with pytest.raises(EIEError, match="at least one seed"):
        dsd_experiment(digits, seeds=[])


def test_cli_dsd(tmp_path, capsys):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 150)
    x = (np.eye(3, 6)[y] + rng.normal(0, 0.3, (150, 6))).astype(np.float32)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=x[:120], y_train=y[:120], x_test=x[120:], y_test=y[120:])
    parser = argparse.ArgumentParser(prog="eie")
    add_dsd_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "dsd.json"
    args = parser.parse_args(["dsd", "--dataset", str(path), "--seeds", "0,1", "--hidden",
                              "12", "--epochs", "2", "--sparsity", "0.5", "--lr", "0.01",
                              "-o", str(out)])
    assert cmd_dsd(args) == 0
    report = json.loads(out.read_text())
    assert report["sizes"] == [6, 12, 3] and report["options"]["sparsity"] == 0.5
    assert report["runs"][0]["sparse_zero_fraction"] == [0.5, 0.5]
    assert "DSD minus dense" in capsys.readouterr().out
