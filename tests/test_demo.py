"""`eie demo`, the main job, end to end, on its own backend (Verilator), a few samples."""

import json

from eie_hw.cli import main


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "-o", str(out), "--samples", "8"]) == 0
    text = capsys.readouterr().out
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
