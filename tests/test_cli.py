"""The `eie` command line, end to end on small models."""

import json

import numpy as np
import pytest

from compress.images import pack_layers
from compress.manifest import read_images, read_model_dir
from eie_hw.cli import main

SMALL = ["--pes", "4", "--act-entries", "128", "--bias-entries", "512",
         "--spmat-words", "2048", "--ptr-entries", "2048", "--max-layers", "4"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("model") / "mlp.npz"
    np.savez(path, **{"fc1.weight": rng.normal(0, 0.3, (40, 24)).astype(np.float32),
                      "fc1.bias": rng.normal(0, 0.1, 40).astype(np.float32),
                      "fc2.weight": rng.normal(0, 0.3, (10, 40)).astype(np.float32)})
    return path


@pytest.fixture(scope="module")
def compressed(model_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("out")
    assert main(["compress", str(model_file), "-o", str(out), "--density", "0.3",
                 "--density", "fc2=0.5", *SMALL]) == 0
    return out


def test_compress_writes_everything(compressed):
    for name in ("model.eie", "manifest.json", "config.json", "report.json", "report.txt",
                 "images/codebook.hex", "images/layers.hex", "images/pe003/spmat.hex"):
        assert (compressed / name).is_file(), name
    report = json.loads((compressed / "report.json").read_text())
    fc1, fc2 = report["layers"]
    assert fc1["density"] == pytest.approx(0.3, abs=0.01)
    assert fc2["density"] == pytest.approx(0.5, abs=0.01)
    assert report["total"]["model_eie_bytes"] == (compressed / "model.eie").stat().st_size
    assert fc1["bits_per_weight_after_huffman"] < fc1["bits_per_weight_before_huffman"]
    assert report["total"]["on_disk_ratio"] > 3


def test_model_file_round_trips_to_the_images(compressed):
    model, config, encoded = read_model_dir(compressed)
    images = read_images(compressed)
    assert pack_layers(model.layers, config, encoded=encoded).equals(images)


def test_simulate_golden_json(compressed, tmp_path, capsys):
    x = np.random.default_rng(0).normal(0, 1, 24).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "r.json"
    assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["backend"] == "golden"
    assert report["config"]["n_pes"] == 4
    assert len(report["outputs"]) == 10 and all(isinstance(v, int) for v in report["outputs"])
    assert len(report["outputs_float"]) == 10
    names = [layer["name"] for layer in report["layers"]]
    assert names == ["fc1", "fc2"]
    fc1 = report["layers"][0]
    assert (fc1["rows"], fc1["cols"]) == (40, 24)
    assert len(fc1["codebook"]) == 16 and fc1["codebook"][0] == 0
    assert fc1["cycles"] is None and len(fc1["outputs"]) == 40
    assert min(fc1["outputs"]) >= 0      # ReLU on the hidden layer
    # The outputs agree with the float reference up to quantization.
    assert np.allclose(np.array(report["outputs"]) / 256, report["outputs_float"], atol=0.1)


def test_simulate_batch(compressed, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(1).random((3, 24)))
    out = tmp_path / "r.json"
    assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["batch"] == 3 and len(report["outputs"]) == 3
    assert all(len(sample) == 10 for sample in report["outputs"])


def error_of(capsys, argv):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_clear_errors(compressed, model_file, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones(24))
    np.save(tmp_path / "bad.npy", np.ones(7))
    sim = ["simulate", str(compressed), "--input"]
    assert "takes 24 activations" in error_of(capsys, [*sim, str(tmp_path / "bad.npy")])
    assert "does not exist" in error_of(capsys, [*sim, str(tmp_path / "none.npy")])
    assert "n_pes: packed for 4, requested 8" in error_of(
        capsys, [*sim, str(tmp_path / "x.npy"), "--pes", "8"])
    assert "no manifest.json" in error_of(
        capsys, ["simulate", str(tmp_path), "--input", str(tmp_path / "x.npy")])
    out = str(tmp_path / "o")
    assert "--spmat-words" in error_of(
        capsys, ["compress", str(model_file), "-o", out, *SMALL, "--spmat-words", "2",
                 "--density", "0.5"])
    assert "--act-entries" in error_of(
        capsys, ["compress", str(model_file), "-o", out, "--pes", "1", "--act-entries", "16"])
    assert "density" in error_of(capsys, ["compress", str(model_file), "-o", out,
                                          "--density", "1.5", *SMALL])
    assert "layer(s) nope" in error_of(capsys, ["compress", str(model_file), "-o", out,
                                                "--density", "nope=0.2", *SMALL])
    assert "not a multiple" in error_of(capsys, ["compress", str(model_file), "-o", out,
                                                 "--sram-width", "60"])


def test_simulate_accepts_non_packing_flags(compressed, tmp_path):
    np.save(tmp_path / "x.npy", np.ones(24))
    out = tmp_path / "r.json"
    assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                 "--fifo-depth", "2", "--json", str(out)]) == 0
    assert json.loads(out.read_text())["config"]["fifo_depth"] == 2


def test_corrupt_image_is_detected(compressed, tmp_path, capsys):
    import shutil
    copy = tmp_path / "copy"
    shutil.copytree(compressed, copy)
    spmat = copy / "images/pe001/spmat.hex"
    spmat.write_text(spmat.read_text()[:-9])
    np.save(tmp_path / "x.npy", np.ones(24))
    err = error_of(capsys, ["simulate", str(copy), "--input", str(tmp_path / "x.npy")])
    assert "checksum" in err and "pe001/spmat.hex" in err


def test_prequantized_model(tmp_path):
    codebook = np.linspace(-0.5, 0.5, 16).astype(np.float32)
    codebook[0] = 0
    codes = np.random.default_rng(0).integers(0, 16, (12, 8)).astype(np.uint8)
    np.savez(tmp_path / "q.npz", **{"q.codes": codes, "q.codebook": codebook})
    out = tmp_path / "out"
    assert main(["compress", str(tmp_path / "q.npz"), "-o", str(out), *SMALL]) == 0
    model, _, _ = read_model_dir(out)
    # Pre-quantized layers keep their codes: no pruning, no clustering.
    assert np.array_equal(model.layers[0].codes, codes)


@pytest.mark.parametrize("load", ["backdoor", "host"])
def test_simulate_amaranth_backend(compressed, tmp_path, load):
    x = np.random.default_rng(4).normal(0, 1, 24)
    x[::3] = 0
    np.save(tmp_path / "x.npy", x)
    out = tmp_path / "r.json"
    assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                 "--backend", "amaranth", "--load", load, "--fifo-depth", "2",
                 "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["backend"] == "amaranth" and report["golden_match"] is True
    assert report["config"]["fifo_depth"] == 2
    assert all(layer["golden_match"] for layer in report["layers"])
    per_layer = [layer["cycles"] for layer in report["layers"]]
    assert all(c > 0 for c in per_layer) and sum(per_layer) <= report["cycles"]
    assert len(report["pe_busy_cycles"]) == 4 and len(report["pe_starved_cycles"]) == 4
    work = [layer["work_per_pe_max"] for layer in report["layers"]]
    assert max(report["pe_busy_cycles"]) <= sum(work)
    assert 0 < report["load_balance_efficiency"] <= 1


def test_simulate_model_backend_matches_amaranth_cycles(compressed, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(6).normal(0, 1, (2, 24)))
    reports = {}
    for backend in ("model", "amaranth"):
        out = tmp_path / f"{backend}.json"
        assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                     "--backend", backend, "--json", str(out), "--clock-ns", "1.25"]) == 0
        reports[backend] = json.loads(out.read_text())
    model, rtl = reports["model"], reports["amaranth"]
    assert model["backend"] == "model" and "golden_match" not in model
    for key in ("cycles", "pe_busy_cycles", "pe_starved_cycles", "ccu_stall_cycles",
                "spmat_reads", "load_balance_efficiency", "outputs", "us", "clock"):
        assert model[key] == rtl[key], key
    assert [l["cycles"] for l in model["layers"]] == [l["cycles"] for l in rtl["layers"]]
    assert [l["us"] for l in model["layers"]] == [l["us"] for l in rtl["layers"]]


def test_simulate_verilator_equals_amaranth_report(compressed, tmp_path):
    np.save(tmp_path / "x.npy", np.random.default_rng(8).normal(0, 1, (2, 24)))
    reports = {}
    for backend in ("verilator", "amaranth"):
        out = tmp_path / f"{backend}.json"
        extra = ["--waves", str(tmp_path / "w.vcd")] if backend == "verilator" else []
        assert main(["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                     "--backend", backend, "--json", str(out), "--clock-ns", "0.9",
                     *extra]) == 0
        reports[backend] = json.loads(out.read_text())
    v, a = reports["verilator"], reports["amaranth"]
    assert v["backend"] == "verilator" and v["golden_match"] is True
    for key in ("outputs", "cycles", "pe_busy_cycles", "pe_starved_cycles",
                "ccu_stall_cycles", "spmat_reads", "load_balance_efficiency", "us"):
        assert v[key] == a[key], key
    assert [l["cycles"] for l in v["layers"]] == [l["cycles"] for l in a["layers"]]
    assert (tmp_path / "w.vcd").stat().st_size > 0


def test_waves_need_a_hardware_backend(compressed, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones(24))
    err = error_of(capsys, ["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
                            "--waves", str(tmp_path / "w.vcd")])
    assert "hardware backend" in err


def _synth_report(path, period):
    """What the clock reads of an `eie synth` report.json."""
    path.write_text(json.dumps({"format": "eie-synth-report", "version": 3, "timing": {
        "design": {"min_period_ns": period, "limited_by": "pe", "corner": "Lib (1.1 V, 25 C)"}}}))
    return path


def test_simulate_model_backend_reports_microseconds(compressed, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.random.default_rng(2).normal(0, 1, (2, 24)))
    sim = ["simulate", str(compressed), "--input", str(tmp_path / "x.npy"),
           "--backend", "model"]
    out = tmp_path / "r.json"
    assert main([*sim, "--json", str(out), "--clock-ns", "1.5"]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["clock"] == {"period_ns": 1.5, "mhz": 666.7, "source": "--clock-ns 1.5",
                               "corner": None, "limited_by": None}
    for layer in report["layers"]:
        assert layer["us"] == [round(c * 1.5 / 1000, 3) for c in layer["cycles"]]
    assert report["us"] == [round(c * 1.5 / 1000, 3) for c in report["cycles"]]
    worst = max(report["layers"][0]["cycles"])
    assert f"cycles {worst} = {worst * 1.5 / 1000:,.3f} us" in text
    assert "us per inference (worst sample) at 1.5 ns (667 MHz; --clock-ns 1.5)" in text

    report_file = _synth_report(tmp_path / "report.json", 2.0)
    assert main([*sim, "--json", str(out), "--synth-report", str(report_file)]) == 0
    text = capsys.readouterr().out
    report = json.loads(out.read_text())
    assert report["us"] == [round(c * 2.0 / 1000, 3) for c in report["cycles"]]
    assert report["clock"]["limited_by"] == "PE"
    assert "at 2 ns (500 MHz; synth report" in text and "set by the PE, Lib (1.1 V" in text

    assert main([*sim, "--json", str(out)]) == 0          # no period: cycles only
    report = json.loads(out.read_text())
    assert report["us"] is None and report["clock"] is None
    assert all(layer["us"] is None for layer in report["layers"])
    assert "give --clock-ns T or --synth-report FILE" in capsys.readouterr().out


def test_clock_errors_are_one_line(compressed, tmp_path, capsys):
    np.save(tmp_path / "x.npy", np.ones(24))
    sim = ["simulate", str(compressed), "--input", str(tmp_path / "x.npy")]
    err = error_of(capsys, [*sim, "--clock-ns", "1.25"])
    assert "need a backend that counts cycles" in err
    (tmp_path / "r.json").write_text("{}")
    err = error_of(capsys, [*sim, "--backend", "model", "--synth-report",
                            str(tmp_path / "r.json")])
    assert "is not an eie synth report" in err and len(err.strip().splitlines()) == 1
