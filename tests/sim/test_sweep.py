"""`eie sweep` (sim/sweep/, sim/plots.py, sim/cli_sweep.py): results, plots, resume,
parallel runs, Dask, size limits, atomic output, clear errors. Small custom layers and
the performance model keep it fast; the Verilator spot check runs only with
EIE_SWEEP_VERILATOR=1. Every test has its own cache folder (EIE_CACHE_DIR) and writes
its sweeps under tmp_path/"out"."""

import argparse
import csv
import json
import os
import shutil
import time

import numpy as np
import pytest

import sim.sweep
from eie_hw.bounds import MAX_SWEEP_POINTS, check_sweep_size
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError
from sim.cli_sweep import add_sweep_parser, cmd_sweep
from sim.sweep import (AUTO_FIELDS, TABLE_III, SweepOptions, check_point, count_values,
                       evaluate, execute, fit_config, model_source, parse_layers,
                       parse_sweep, parse_values, run_sweep, synthetic_layer)

BASE = EIEConfig(n_pes=8)
LAYERS = "300x200:0.1:0.5,120x260:0.2:1.0"
KEYS = ("layer", "balance", "n_pes", "fifo_depth", "sram_width", "cycles",
        "ideal_cycles_max_pe", "ideal_cycles_balanced", "load_balance_efficiency",
        "stall_cycles", "spmat_reads", "entries", "speedup")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    """A cache folder of the test's own: the points it evaluates go there."""
    monkeypatch.setenv("EIE_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "sweep"


@pytest.fixture
def out(tmp_path):
    return tmp_path / "out"


def small(out, sweep=("fifo_depth=1,2,4",), **kw):
    kw.setdefault("base", BASE)
    kw.setdefault("plots", False)
    layers = parse_layers(kw.pop("layers", LAYERS))
    return run_sweep(layers, out, SweepOptions(sweep=parse_sweep(list(sweep)), **kw))


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def essentials(rows):
    return [{k: r.get(k) for k in KEYS} for r in rows]


def test_parse_sweep_values_and_names():
    assert parse_sweep(["fifo_depth=1,2,4", "pes=4..6", "sram-width=32..256*2"]) == {
        "fifo_depth": [1, 2, 4], "n_pes": [4, 5, 6], "sram_width": [32, 64, 128, 256]}
    assert parse_values("8, 8, 1", "fifo_depth") == [8, 1]
    assert parse_sweep([]) == {}


@pytest.mark.parametrize("spec, message", [
    (["fifo=1,2"], "unknown sweep field 'fifo'.*fifo_depth"),
    (["fifo_depth=1,two"], "'two' for fifo_depth is not an integer"),
    (["fifo_depth=1.5"], "not an integer"),
    (["fifo_depth"], "FIELD=V1,V2"),
    (["fifo_depth="], "has no values"),
    (["fifo_depth=8..1"], "is empty"),
    (["fifo_depth=1", "fifo_depth=2"], "swept twice"),
])
def test_bad_sweep_specs(spec, message):
    with pytest.raises(EIEError, match=message):
        parse_sweep(spec)


def test_bad_layers_and_points(out):
    with pytest.raises(EIEError, match="unknown layer 'Alex-9'.*Alex-6.*INxOUT"):
        parse_layers("Alex-7,Alex-9")
    with pytest.raises(EIEError, match="INxOUT:WEIGHT_DENSITY:ACT_DENSITY"):
        parse_layers("100x20:0.1")
    with pytest.raises(EIEError, match="no layers"):
        parse_layers(" , ")
    with pytest.raises(EIEError, match=r"(?s)sweep point sram_width=48.*use sram_width=32"):
        small(out, ["sram_width=32,48"])
    with pytest.raises(EIEError, match="fifo_depth must be at least 1"):
        small(out, ["fifo_depth=0,1"])
    with pytest.raises(EIEError, match="backend 'spice'"):
        small(out, backend="spice")
    with pytest.raises(EIEError, match="unknown row assignment"):
        small(out, balance=("best",))
    # An explicitly given size that the layer does not fit: the point and the flag named.
    with pytest.raises(EIEError, match=r"(?s)300x200.*n_pes=8.*--act-entries"):
        small(out, ["n_pes=8"], base=EIEConfig(act_entries=16), explicit={"act_entries"})
    assert [s.name for s in parse_layers("alex-7,nt-we")] == ["Alex-7", "NT-We"]
    assert len(parse_layers("all")) == len(TABLE_III) == 9


def test_sweep_writes_csv_json_and_plots(out):
    result = small(out, ["fifo_depth=1,2,8"], balance=("interleave", "balanced"),
                   plots=True)
    assert len(result.rows) == 2 * 2 * 3 and result.computed == 12 and result.cached == 0
    with open(out / "sweep.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 12
    assert {"layer", "fifo_depth", "cycles", "ideal_cycles_max_pe", "ideal_cycles_balanced",
            "load_balance_efficiency", "stall_cycles", "spmat_reads", "speedup"} <= set(table[0])
    doc = json.loads((out / "sweep.json").read_text())
    assert doc["format"] == "eie-sweep" and doc["swept"] == {"fifo_depth": [1, 2, 8]}
    assert doc["rows"] == json.loads(json.dumps(result.rows))
    for row in result.rows:
        assert row["cycles"] >= row["ideal_cycles_max_pe"] >= row["ideal_cycles_balanced"]
        assert 0 < row["load_balance_efficiency"] <= 1
        assert row["n_pes"] == 8 and row["act_entries"] >= 300 // 8   # auto-sized
    # Deeper FIFOs never cost cycles; efficiency = busy / (N x cycles).
    for layer in ("300x200:0.1:0.5", "120x260:0.2:1.0"):
        cyc = [r["cycles"] for r in result.rows
               if r["layer"] == layer and r["balance"] == "interleave"]
        assert cyc == sorted(cyc, reverse=True)
    # The files name OUT, never the staging folder they were written in.
    assert all(p.parent == out / "plots" and p.is_file() for p in result.plots)
    assert ".eie-tmp" not in (out / "sweep.json").read_text() + (out / "sweep.csv").read_text()
    names = sorted(p.name for p in result.plots)
    assert names == ["cycles_vs_fifo_depth.png", "cycles_vs_fifo_depth.svg",
                     "energy_vs_fifo_depth.png", "energy_vs_fifo_depth.svg",
                     "load_balance_vs_fifo_depth.png", "load_balance_vs_fifo_depth.svg"]
    for path in result.plots:
        data = path.read_bytes()
        assert len(data) > 2000
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data


def test_pe_and_width_sweeps_give_speedup_and_spmat_reads(out):
    result = small(out, ["pes=2,4,8", "sram_width=32,64"], layers="300x200:0.1:0.5",
                   plots=True)
    rows = {(r["n_pes"], r["sram_width"]): r for r in result.rows}
    for width in (32, 64):
        assert rows[(2, width)]["speedup"] == 1.0
        assert rows[(8, width)]["speedup"] > 2.5
        assert rows[(8, width)]["speedup"] == pytest.approx(
            rows[(2, width)]["cycles"] / rows[(8, width)]["cycles"], rel=1e-3)
    for pes in (2, 4, 8):   # twice the entries per word: about half the reads
        assert rows[(pes, 64)]["spmat_reads"] < 0.7 * rows[(pes, 32)]["spmat_reads"]
    names = {p.name for p in result.plots}
    assert {"speedup_vs_pes.png", "speedup_vs_pes.svg", "spmat_reads_vs_sram_width.png",
            "spmat_reads_vs_sram_width.svg"} <= names


def test_interrupted_sweep_keeps_the_previous_output_and_resumes(out, cache, monkeypatch):
    previous = small(out, ["fifo_depth=16"])
    before = snapshot(out)
    real = evaluate.evaluate_point
    calls = []

    def interrupted(task):
        if len(calls) == 3:
            raise KeyboardInterrupt
        calls.append(task.key)
        return real(task)

    # run_sweep hands its evaluate_point to execute.run_tasks as the worker.
    monkeypatch.setattr(sim.sweep, "evaluate_point", interrupted)
    with pytest.raises(KeyboardInterrupt):
        small(out, ["fifo_depth=1,2,4,8"])
    # OUT is the previous sweep's, byte for byte; no staging folder or lock is left.
    assert snapshot(out) == before and previous.computed == 2
    assert sorted(p.name for p in out.parent.iterdir()) == ["cache", "out"]
    # The completed points are in the user cache (2 from the first sweep, 3 new).
    assert len(list((cache / "points").glob("*.json"))) == 2 + 3

    def counting(task):
        calls.append(task.key)
        return real(task)

    monkeypatch.setattr(sim.sweep, "evaluate_point", counting)
    first = list(calls)
    result = small(out, ["fifo_depth=1,2,4,8"])
    assert (result.computed, result.cached) == (5, 3)
    assert len(calls) == 8 and not set(calls[3:]) & set(first)   # cached points skipped
    assert json.loads((out / "sweep.json").read_text())["swept"] == {
        "fifo_depth": [1, 2, 4, 8]}
    again = small(out, ["fifo_depth=1,2,4,8"])
    assert (again.computed, again.cached) == (0, 8) and len(calls) == 8
    assert essentials(again.rows) == essentials(result.rows)
    # A different sweep option is a different point; --fresh ignores the cache.
    assert small(out, ["fifo_depth=1,2,4,8"], seed=1).computed == 8
    assert small(out, ["fifo_depth=1,2,4,8"], fresh=True).computed == 8


def test_a_foreign_output_folder_is_replaced_only_with_force(out, cache):
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(EIEError, match=r"out exists and was not written by eie.*--force"):
        small(out, ["fifo_depth=1"])
    assert {str(p): data for p, data in snapshot(out).items()} == {"notes.txt": b"mine"}
    assert not list(cache.rglob("*.json"))              # refused before any evaluation
    result = small(out, ["fifo_depth=1"], force=True)
    assert not (out / "notes.txt").exists() and result.csv_path == out / "sweep.csv"
    assert small(out, ["fifo_depth=1"]).cached == 2      # ours now: no --force needed
    with pytest.raises(EIEError, match="is a file, not a folder"):
        small(out / "sweep.csv", ["fifo_depth=1"])
    with pytest.raises(EIEError, match="-o is empty"):
        small("", ["fifo_depth=1"])


def test_a_huge_range_is_refused_before_it_is_listed(out, monkeypatch):
    start = time.perf_counter()
    with pytest.raises(EIEError, match=r"100,000,000 points.*--force"):
        parse_sweep(["n_pes=1..100000000"])
    with pytest.raises(EIEError, match=r"100,000,000 points.*--force"):
        cli(["sweep", "--layers", "Alex-7", "--sweep", "pes=1..100000000", "-o", str(out)])
    assert time.perf_counter() - start < 0.5
    assert not out.exists()
    # The total (values x layers x assignments) is checked before the points are listed.
    monkeypatch.setattr(sim.sweep, "sweep_points", lambda sweep: pytest.fail("listed"))
    with pytest.raises(EIEError, match=f"has {2 * 2 * 2 * 2600:,} points"):
        small(out, ["fifo_depth=1..2600", "sram_width=32,64"],
              balance=("interleave", "balanced"))
    assert not out.exists()


def test_a_forced_huge_range_passes_the_size_check():
    # Counted, not listed (a 10^8-element list would take seconds and gigabytes).
    assert count_values("1..100000000", "n_pes") == 10 ** 8
    assert count_values("1..1000000000000*2, 5", "n_pes") == 40 + 1
    assert count_values("3..2000", "fifo_depth") == 1998
    assert parse_values("1..20000*10", "n_pes") == [1, 10, 100, 1000, 10000]
    check_sweep_size(10 ** 8 * 2, force=True)          # what --force lets through
    with pytest.raises(EIEError, match="200,000,000 points"):
        check_sweep_size(10 ** 8 * 2)
    assert len(parse_values(f"1..{MAX_SWEEP_POINTS}", "fifo_depth")) == MAX_SWEEP_POINTS
    # Every point's configuration is checked against the design limits, too.
    with pytest.raises(EIEError, match=r"sweep point n_pes=2048: 2,048 PEs.*--force"):
        check_point(EIEConfig(), {"n_pes": 2048})
    assert check_point(EIEConfig(), {"n_pes": 2048}, force=True).n_pes == 2048


def test_parallel_jobs_give_the_same_results(tmp_path):
    one = small(tmp_path / "one", ["pes=2,4", "fifo_depth=1,4"], jobs=1)
    two = small(tmp_path / "two", ["pes=2,4", "fifo_depth=1,4"], jobs=2, fresh=True)
    assert two.computed == 8 and essentials(one.rows) == essentials(two.rows)


def test_dask_scheduler_gives_the_same_results(tmp_path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.setattr(execute, "DASK_CONNECT_TIMEOUT", "1s")
    one = small(tmp_path / "one", ["fifo_depth=1,4"])
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        dask = small(tmp_path / "dask", ["fifo_depth=1,4"], scheduler=cluster.scheduler_address,
                     fresh=True)
    assert essentials(dask.rows) == essentials(one.rows) and dask.computed == 4
    with pytest.raises(EIEError, match="cannot reach the Dask scheduler"):
        small(tmp_path / "none", ["fifo_depth=1"], scheduler="tcp://127.0.0.1:9", fresh=True)


def test_synthesis_fields_per_config_cached(out, monkeypatch):
    import eie_hw.synth
    calls = []

    def fake_synthesize(config, out_dir, liberty=None, clock_ns=1.25, **kw):
        calls.append(config)
        return {"per_pe": {"cells": 100, "flip_flops": 10, "area": 50.0 * config.fifo_depth,
                           "register_area": 20.0, "combinational_area": 30.0},
                "total": {"area": 1000.0},
                "timing": {"pe": {"worst_slack_ns": -0.1 * config.fifo_depth,
                                  "min_period_ns": 1.3},
                           "ccu": {"worst_slack_ns": 0.2, "min_period_ns": 1.8},
                           "top": {"worst_slack_ns": 0.1, "min_period_ns": 1.1},
                           "design": {"min_period_ns": 1.0 + 0.1 * config.fifo_depth,
                                      "limited_by": "ccu", "corner": "Lib (1.1 V, 25 C)"}}}

    monkeypatch.setattr(eie_hw.synth, "synthesize", fake_synthesize)
    kw = dict(layers="300x200:0.1:0.5", synth=True, clock_ns=2.0, plots=True)
    result = small(out, ["fifo_depth=2,4"], **kw)
    assert len(calls) == 2
    rows = {r["fifo_depth"]: r for r in result.rows}
    assert rows[4]["synth_pe_area_um2"] == 200.0 and rows[2]["synth_pe_slack_ns"] == -0.2
    assert rows[2]["synth_glue_min_period_ns"] == 1.1 and rows[2]["synth_limited_by"] == "ccu"
    for depth, row in rows.items():
        assert row["synth_min_period_ns"] == 1.0 + 0.1 * depth
        assert row["us_at_synth_clock"] == round(row["cycles"] * (1.0 + 0.1 * depth) / 1000, 3)
        assert "us" not in row                     # no --clock-ns: no time at a given clock
    assert {"synth_area_vs_fifo_depth.png", "synth_slack_vs_fifo_depth.svg",
            "synth_period_vs_fifo_depth.png", "time_vs_fifo_depth.svg"} <= {
        p.name for p in result.plots}
    again = small(out, ["fifo_depth=2,4"], **kw)
    assert len(calls) == 2 and again.cached == 4


def test_rows_get_microseconds_at_the_clock(out, tmp_path):
    result = small(out, ["fifo_depth=1,4"], clock=1.5)
    for row in result.rows:
        assert row["period_ns"] == 1.5
        assert row["us"] == round(row["cycles"] * 1.5 / 1000, 3)
    doc = json.loads(result.json_path.read_text())
    assert doc["clock"]["period_ns"] == 1.5 and "us" in doc["columns"]
    with open(result.csv_path) as f:
        assert "us" in next(csv.reader(f))
    assert "us" in sim.sweep.format_table(result.rows, result.swept).splitlines()[0].split()
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"format": "eie-synth-report", "version": 3, "timing": {
        "design": {"min_period_ns": 2.0, "limited_by": "pe", "corner": "Lib"}}}))
    again = small(out, ["fifo_depth=1,4"], clock=str(report))
    assert again.cached == len(again.rows)          # the clock is not part of a point's key
    assert [r["us"] for r in again.rows] == [round(r["cycles"] * 2 / 1000, 3)
                                             for r in again.rows]
    plain = small(out, ["fifo_depth=1,4"])
    assert all("us" not in r and "period_ns" not in r for r in plain.rows)
    assert json.loads(plain.json_path.read_text())["clock"] is None
    before = snapshot(out)
    for clock, message in ((0, "not a positive, finite period"),
                           (str(tmp_path / "none.json"), "does not exist")):
        with pytest.raises(EIEError, match=message):
            small(out, ["fifo_depth=1,4"], clock=clock)
    assert snapshot(out) == before


def test_sweep_over_a_compressed_model(tmp_path):
    from compress.pipeline import CompressOptions, compress_file
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "m.npz", **{"fc1.weight": rng.normal(0, 1, (40, 30)).astype(np.float32),
                                    "fc2.weight": rng.normal(0, 1, (10, 40)).astype(np.float32)})
    config = EIEConfig(n_pes=4, act_entries=16, bias_entries=32, spmat_words=256,
                       ptr_entries=256, max_layers=4)
    compress_file(tmp_path / "m.npz", tmp_path / "model", config,
                  CompressOptions(density=0.3, kmeans_iterations=10, balance="balanced"))
    source = model_source(tmp_path / "model")
    options = SweepOptions(base=config, sweep={"n_pes": [2, 4]},
                           balance=("interleave", "balanced"), samples=2, plots=False)
    result = run_sweep([source], tmp_path / "sweep", options)
    layers = {r["layer"] for r in result.rows}
    assert layers == {"model/fc1", "model/fc2", "model"}
    for r in result.rows:
        if r["layer"] == "model":
            parts = [x for x in result.rows if x["layer"].startswith("model/")
                     and (x["n_pes"], x["balance"]) == (r["n_pes"], r["balance"])]
            assert r["cycles"] == pytest.approx(sum(x["cycles"] for x in parts))
    with pytest.raises(EIEError, match="holds no manifest.json"):
        model_source(tmp_path)
    # The cache is shared by all sweeps: the same model under another name is not taken
    # from it (the rows carry the name), the same one again is.
    shutil.copytree(tmp_path / "model", tmp_path / "copy")
    copy = run_sweep([model_source(tmp_path / "copy")], tmp_path / "sweep", options)
    assert copy.computed == 4 and {r["layer"] for r in copy.rows} == {
        "copy/fc1", "copy/fc2", "copy"}
    assert run_sweep([source], tmp_path / "sweep", options).cached == 4


def test_fit_config_enlarges_only_what_is_needed():
    from compress.encode import encode_layer
    layer = synthetic_layer(parse_layers("1000x300:0.2:0.5")[0], EIEConfig(), 0)
    cfg = EIEConfig(n_pes=4)
    fitted = fit_config(cfg, [layer], [encode_layer(layer.codes, cfg)], AUTO_FIELDS)
    assert fitted.act_entries == 250 and fitted.ptr_entries == 16384
    assert fitted.bias_entries == 256 and fitted.max_layers == 16


def cli(argv):
    parser = argparse.ArgumentParser(prog="eie")
    add_sweep_parser(parser.add_subparsers(dest="command", required=True))
    return cmd_sweep(parser.parse_args(argv))


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    assert cli(["sweep", "--layers", "200x100:0.2:0.5", "--sweep", "fifo_depth=1,8",
                "--pes", "4", "--balance", "interleave,balanced", "--jobs", "1", "--quiet",
                "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert "200x100:0.2:0.5" in text and "4 rows (4 computed, 0 from the cache)" in text
    assert (out / "sweep.csv").is_file() and (out / "plots").is_dir()
    assert "give --clock-ns T or --synth-report FILE" in text
    assert cli(["sweep", "--layers", "200x100:0.2:0.5", "--pes", "4", "--jobs", "1",
                "--quiet", "--no-plots", "--clock-ns", "0.8", "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[0].split()[-1] == "us" and "us = cycles x 0.8 ns" in text
    with pytest.raises(EIEError, match="--input goes with --model"):
        cli(["sweep", "--layers", "Alex-7", "--input", "x.npy", "-o", str(out)])
    with pytest.raises(EIEError, match="nothing to sweep"):
        cli(["sweep", "-o", str(out)])
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("x")
    argv = ["sweep", "--layers", "20x10:0.2:0.5", "--jobs", "1", "--quiet", "--no-plots",
            "-o", str(foreign)]
    with pytest.raises(EIEError, match="not written by eie.*add --force"):
        cli(argv)
    assert cli(argv + ["--force"]) == 0 and not (foreign / "keep.txt").exists()


@pytest.mark.skipif(os.environ.get("EIE_SWEEP_VERILATOR") != "1",
                    reason="Verilator spot check: set EIE_SWEEP_VERILATOR=1 (builds a design)")
def test_verilator_spot_check_matches_the_model(out):
    base = EIEConfig(n_pes=2, spmat_words=256, ptr_entries=256, act_entries=32,
                     bias_entries=64, max_layers=4)
    result = small(out, ["fifo_depth=1,2"], layers="40x30:0.3:0.6", base=base,
                   backend="verilator", explicit=set(AUTO_FIELDS))
    for row in result.rows:
        assert row["golden_match"] and row["model_matches_rtl"], row


def test_broadcast_width_sweep(out):
    """bcast_width is a sweepable field: dense inputs get fewer broadcasts and cycles with
    wider blocks; the pointer memory is sized in whole word pairs."""
    result = small(out, sweep=("bcast_width=1,2,8",), layers="100x64:0.1:1.0",
                   base=EIEConfig(n_pes=8, ptr_entries=16), plots=True)
    rows = {r["bcast_width"]: r for r in result.rows}
    assert [rows[w]["broadcasts"] for w in (1, 2, 8)] == [100, 50, 13]
    assert rows[8]["cycles"] < rows[2]["cycles"] < rows[1]["cycles"]
    assert all(rows[w]["ptr_entries"] % (2 * w) == 0 for w in rows)
    assert (out / "plots" / "cycles_vs_bcast_width.png").stat().st_size > 0
    with pytest.raises(EIEError, match="bcast_width=3 is not a power of two"):
        small(out / "bad", sweep=("bcast_width=3",))
