"""`eie demo`, the main job, end to end, on its own backend (Verilator), a few samples;
and `eie evaluate` reproducing its accuracy figures."""

import json
import re

import pytest

from eie_hw.cli import main


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """The demo run once for the module: its folder and its printed summary."""
    out = tmp_path_factory.mktemp("demo") / "demo"
    capture = pytest.MonkeyPatch()
    import io
    import sys
    buffer = io.StringIO()
    capture.setattr(sys, "stdout", buffer)
    try:
        assert main(["demo", "-o", str(out), "--samples", "8"]) == 0
    finally:
        capture.undo()
    return out, buffer.getvalue()


def test_demo_end_to_end(demo):
    out, text = demo
    assert "hardware bit-exact against golden: True" in text
    report = json.loads((out / "hardware.json").read_text())
    assert report["backend"] == "verilator" and report["golden_match"] is True
    assert len(report["outputs"]) == 8 and all(len(o) == 10 for o in report["outputs"])
    assert (out / "rtl" / "eie_top.v").is_file()
    training = json.loads((out / "train" / "training.json").read_text())
    # Deep Compression's targets on the digits MLP: >= 30x both ways, accuracy kept.
    assert training["compression"]["deep_compression_ratio"] >= 30
    assert training["compression"]["on_disk_ratio"] >= 30
    assert training["accuracy"]["dense"] - training["accuracy"]["quantized"] <= 0.01


def test_evaluate_reproduces_the_demo(demo, tmp_path, capsys):
    """`eie evaluate` on the demo's model and samples gives the demo's accuracy figures:
    Verilator on the demo's 8 samples; the golden model, the performance model and the
    original float model on the whole test set, as training measured them."""
    out, text = demo
    figures = re.search(r"on 8 test samples: compressed float ([\d.]+) %, golden model "
                        r"([\d.]+) %, hardware \(verilator\) ([\d.]+) %", text)
    model = out / "train" / "compressed"
    assert main(["evaluate", str(model), "--backend", "verilator", "--samples", "8",
                 "--json", str(tmp_path / "e.json")]) == 0
    assert "hardware (verilator)" in capsys.readouterr().out
    report = json.loads((tmp_path / "e.json").read_text())
    acc = report["accuracy"]
    assert [f"{100 * acc[k]['top1']:.2f}" for k in ("compressed_float", "golden", "hardware")] \
        == list(figures.groups())
    assert report["golden_match"] is True and report["samples"] == 8
    training = json.loads((out / "train" / "training.json").read_text())
    assert main(["evaluate", str(model), "--backend", "model",
                 "--reference", str(out / "train" / "dense.npz"),
                 "--json", str(tmp_path / "all.json")]) == 0
    full = json.loads((tmp_path / "all.json").read_text())["accuracy"]
    assert full["reference_float"]["top1"] == pytest.approx(training["accuracy"]["dense"],
                                                            abs=1e-6)
    assert full["compressed_float"]["top1"] == pytest.approx(
        training["accuracy"]["quantized"], abs=1e-6)
    assert full["hardware"] == full["golden"] and "top5" in full["golden"]
    # The Amaranth backend (slow: 3 samples) agrees with the golden model bit for bit.
    assert main(["evaluate", str(model), "--backend", "amaranth", "--samples", "3",
                 "--json", str(tmp_path / "am.json")]) == 0
    amaranth = json.loads((tmp_path / "am.json").read_text())
    assert amaranth["golden_match"] is True
    assert amaranth["accuracy"]["hardware"] == amaranth["accuracy"]["golden"]


def test_evaluate_errors_are_one_line(demo, tmp_path, capsys):
    out, _ = demo
    model = out / "train" / "compressed"
    import numpy as np
    labels = np.array([0, 1])
    np.savez(tmp_path / "wide.npz", x_train=np.zeros((2, 5)), y_train=labels,
             x_test=np.zeros((2, 5)), y_test=labels)
    for flags, message in ((["--samples", "0"], "give at least 1"),
                           (["--dataset", str(tmp_path / "wide.npz")], "has 5 features"),
                           (["--backend", "model", "--json", str(tmp_path)], "--json")):
        assert main(["evaluate", str(model), *flags]) == 2
        err = capsys.readouterr().err
        assert message in err and "Traceback" not in err
