"""sim/clock.py: the clock period from `--clock-ns` or an `eie synth` report, and the
clear one-line errors for what is not one."""

import json

import pytest

from eie_hw.errors import EIEError
from eie_hw.synth_report import REPORT_FORMAT, REPORT_VERSION
from sim.clock import (SYNTH_REPORT_FORMAT, Clock, clock_from, clock_period_ns,
                       read_synth_clock, to_us)


def synth_report(path, period=1.6, limited_by="top", version=REPORT_VERSION, **timing):
    """A report.json with what the clock reads of one (an `eie synth` run writes more)."""
    timing = timing or {"design": {"min_period_ns": period, "limited_by": limited_by,
                                   "corner": "Lib (1.1 V, 25 C)"}}
    path.write_text(json.dumps({"format": REPORT_FORMAT, "version": version,
                                "timing": timing}))
    return path


def test_the_format_name_is_the_synth_reports():
    assert SYNTH_REPORT_FORMAT == REPORT_FORMAT


@pytest.mark.parametrize("value, period", [(1.25, 1.25), (2, 2.0), (0.8, 0.8)])
def test_period_from_a_number(value, period):
    assert clock_period_ns(value) == period
    clock = clock_from(value)
    assert clock.source == f"--clock-ns {period:g}" and clock.corner is None
    assert clock.mhz == pytest.approx(1000 / period)


def test_period_from_a_report(tmp_path):
    path = synth_report(tmp_path / "report.json", 1.6)
    assert clock_period_ns(str(path)) == 1.6
    assert clock_period_ns(path) == 1.6
    clock = read_synth_clock(tmp_path)          # the folder eie synth wrote works too
    assert clock == Clock(1.6, f"synth report {path}", "Lib (1.1 V, 25 C)", "glue")
    assert clock.to_dict()["mhz"] == 625.0
    assert "1.6 ns (625 MHz; synth report" in clock.describe()
    assert "set by the glue, Lib (1.1 V, 25 C)" in clock.describe()


def test_microseconds():
    assert to_us(8000, 1.25) == 10.0
    assert to_us([800, 1600], 1.25) == [1.0, 2.0]
    assert to_us(None, 1.25) is None
    assert Clock(1.5, "x").us(1000) == 1.5


@pytest.mark.parametrize("value, message", [
    (0, "is not a positive, finite period"), (-1.0, "is not a positive, finite period"),
    (float("nan"), "is not a positive, finite period"),
    (float("inf"), "is not a positive, finite period"),
    (True, "is not a number of ns"), (None, "give a period in ns or the path"),
])
def test_bad_periods(value, message):
    with pytest.raises(EIEError, match=message):
        clock_period_ns(value)


def _write(path, text):
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.json", "does not exist"),
    (lambda d: d, "is a folder without report.json"),
    (lambda d: _write(d / "r.json", "{not json"), "is not an eie synth report \\(not JSON\\)"),
    (lambda d: _write(d / "r.json", "[1, 2]"), 'no "format": "eie-synth-report"'),
    (lambda d: _write(d / "r.json", '{"format": "eie-sweep"}'), "is not an eie synth report"),
    (lambda d: _write(d / "r.bin", b"\xff\xfe\x00"), "is not an eie synth report"),
    (lambda d: synth_report(d / "r.json", skipped="no liberty file: timing needs one"),
     "has no timing \\(no liberty file.*re-run eie synth with --liberty"),
    (lambda d: synth_report(d / "r.json", version=2, pe={"min_period_ns": 1.5}),
     "version 2\\) has no design min period.*re-run eie synth"),
    (lambda d: synth_report(d / "r.json", period=-0.5), "unusable design min period"),
    (lambda d: synth_report(d / "r.json", period="fast"), "unusable design min period"),
])
def test_bad_reports_are_one_clear_line(tmp_path, make, message):
    with pytest.raises(EIEError, match=message) as info:
        clock_period_ns(make(tmp_path))
    assert "\n" not in str(info.value)
    assert "--clock-ns" in str(info.value) or "does not exist" in str(info.value)
