"""The Python API (eie_hw/api.py, docs/python_api.md): in-memory models give the images
the same weights give from a file; the calls return the CLI's reports; the example
script runs (golden backend)."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from eie_hw import api
from eie_hw.errors import EIEError
from helpers import images_digest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(2)
    return {"fc1.weight": rng.normal(0, 0.5, (32, 20)).astype(np.float32),
            "fc1.bias": rng.normal(0, 0.1, 32).astype(np.float32),
            "fc2.weight": rng.normal(0, 0.5, (8, 32)).astype(np.float32)}


def test_in_memory_models_match_the_file(tmp_path, arrays):
    np.savez(tmp_path / "m.npz", **arrays)
    from_file = api.compress(tmp_path / "m.npz", tmp_path / "a", pes=4, density=0.3)
    from_dict = api.compress(arrays, tmp_path / "b", pes=4, density=0.3)
    assert images_digest(tmp_path / "a") == images_digest(tmp_path / "b")
    assert from_file.report["layers"] == from_dict.report["layers"]
    onnx = pytest.importorskip("onnx")
    api.export(tmp_path / "a", tmp_path / "e.onnx")
    api.compress(onnx.load(str(tmp_path / "e.onnx")), tmp_path / "c", pes=4, density=0.3)
    assert images_digest(tmp_path / "c") == images_digest(tmp_path / "a")


def test_calls_return_the_cli_reports(tmp_path, arrays):
    api.compress(arrays, tmp_path / "m", pes=4, density=0.3)
    x = np.random.default_rng(0).normal(size=(3, 20))
    report = api.simulate(tmp_path / "m", x, backend="model", clock_ns=1.25)
    assert len(report["outputs"]) == 3 and report["cycles"]
    design = api.generate(tmp_path / "rtl", pes=2, act_entries=16, spmat_words=64,
                          ptr_entries=64, bias_entries=16)
    assert Path(design.design_file).is_file()
    figures = api.evaluate(tmp_path / "m", _dataset(tmp_path), backend="model")
    assert figures["samples"] == 4 and "hardware" in figures["accuracy"]


def _dataset(tmp_path) -> Path:
    rng = np.random.default_rng(1)
    path = tmp_path / "d.npz"
    np.savez(path, x_train=rng.normal(size=(4, 20)), y_train=np.arange(4),
             x_test=rng.normal(size=(4, 20)), y_test=np.arange(4))
    return path


def test_sweep_and_bad_config(tmp_path):
    result = api.sweep(tmp_path / "s", layers="256x64:0.2:0.5", hw={"n_pes": 8},
                       sweep={"fifo_depth": (2, 8)})
    assert len(result.rows) == 2 and all("energy_nj" in r for r in result.rows)
    with pytest.raises(EIEError, match="unknown configuration field"):
        api.config(pes=4, not_a_field=1)


def test_the_example_runs(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "sklearn_mlp.py"), "-o",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "compressed on golden (360 samples): top-1" in proc.stdout
