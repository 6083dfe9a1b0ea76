"""The clock period that turns cycles into time: given (`--clock-ns T`) or taken from an
`eie synth` report (`--synth-report FILE`: the design min period, the slowest of the PE,
the CCU and the top-level glue at the report's liberty corner).

No period is ever assumed: without one, reports keep cycles only and mention the
paper's clock (800 MHz, 1.25 ns) as the reference.
"""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from eie_hw.errors import EIEError

PAPER_CLOCK_NS = 1.25          # the paper's chip: 800 MHz (spec, Table IV)
SYNTH_REPORT_FORMAT = "eie-synth-report"    # eie_hw/synth_report.py REPORT_FORMAT
FIRST_TIMED_VERSION = 3        # reports before this one did not time the glue
NO_PERIOD_NOTE = (f"time: give --clock-ns T or --synth-report FILE for microseconds "
                  f"(the paper's chip: {PAPER_CLOCK_NS} ns, 800 MHz)")


@dataclass(frozen=True)
class Clock:
    """A clock period and where it came from (for reports)."""
    period_ns: float
    source: str                   # "--clock-ns 1.25" or "synth report PATH"
    corner: str | None = None     # from a synthesis report: the liberty corner
    limited_by: str | None = None  # and the part that sets the period (PE, CCU, glue)

    @property
    def mhz(self) -> float:
        return 1000.0 / self.period_ns

    def us(self, cycles):
        """Microseconds of `cycles` (a number, a list of them, or None)."""
        return to_us(cycles, self.period_ns)

    def to_dict(self) -> dict:
        return {"period_ns": self.period_ns, "mhz": round(self.mhz, 1),
                "source": self.source, "corner": self.corner, "limited_by": self.limited_by}

    def describe(self) -> str:
        """`1.37 ns (728 MHz; synth report R, set by the glue, <corner>)`."""
        return describe_clock(self.to_dict())


def describe_clock(clock: dict) -> str:
    """A Clock's dict (as reports hold it) in words."""
    details = [clock["source"]]
    if clock.get("limited_by"):
        details.append(f"set by the {clock['limited_by']}")
    if clock.get("corner"):
        details.append(clock["corner"])
    return f"{clock['period_ns']:g} ns ({1000 / clock['period_ns']:.0f} MHz; {', '.join(details)})"


def to_us(cycles, period_ns: float):
    """cycles x period in microseconds, rounded to the nanosecond; lists element-wise."""
    if cycles is None:
        return None
    if isinstance(cycles, (list, tuple)):
        return [to_us(c, period_ns) for c in cycles]
    return round(float(cycles) * period_ns / 1000.0, 3)


def check_period(value, what: str = "--clock-ns") -> float:
    """`value` as a period in ns: a finite positive number."""
    try:
        period = float(value)
    except (TypeError, ValueError):
        raise EIEError(f"{what} {value!r} is not a number: give the clock period in ns, "
                       f"e.g. {what} 1.25") from None
    if not (math.isfinite(period) and period > 0):
        raise EIEError(f"{what} {value!r} is not a positive, finite period: give the clock "
                       f"period in ns, e.g. {what} 1.25")
    return period


def clock_from(value) -> Clock:
    """A period in ns (a number) or the path of an `eie synth` report.json (str / Path)."""
    if isinstance(value, bool):
        raise EIEError(f"clock period {value!r} is not a number of ns")
    if isinstance(value, (int, float)):
        period = check_period(value)
        return Clock(period, f"--clock-ns {period:g}")
    if isinstance(value, (str, Path)):
        return read_synth_clock(value)
    raise EIEError(f"clock {value!r}: give a period in ns or the path of an eie synth "
                   f"report.json")


def clock_period_ns(value) -> float:
    """The period (ns) of `--clock-ns T` (a number) or `--synth-report FILE` (a path)."""
    return clock_from(value).period_ns


def _load_report(path: Path) -> tuple[Path, dict]:
    fix = "give the report.json an `eie synth --liberty ...` run wrote, or --clock-ns T"
    if path.is_dir():
        if not (path / "report.json").is_file():
            raise EIEError(f"synth report {path} is a folder without report.json: {fix}")
        path = path / "report.json"
    if not path.is_file():
        raise EIEError(f"synth report {path} does not exist: {fix}")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not JSON"
        raise EIEError(f"{path} is not an eie synth report ({reason}): {fix}") from None
    if not isinstance(doc, dict) or doc.get("format") != SYNTH_REPORT_FORMAT:
        raise EIEError(f"{path} is not an eie synth report (no \"format\": "
                       f"\"{SYNTH_REPORT_FORMAT}\"): {fix}")
    return path, doc


def read_synth_clock(path) -> Clock:
    """The design min period of an `eie synth` report.json (or of the folder holding it)."""
    path, doc = _load_report(Path(path))
    timing = doc.get("timing")
    if not isinstance(timing, dict) or "skipped" in timing:
        why = timing.get("skipped") if isinstance(timing, dict) else "no timing section"
        raise EIEError(f"synth report {path} has no timing ({why}): re-run eie synth with "
                       f"--liberty FILE and OpenSTA installed, or give --clock-ns T")
    version = doc.get("version")
    design = timing.get("design")
    if not isinstance(design, dict):
        raise EIEError(f"synth report {path} (version {version}) has no design min period "
                       f"(before version {FIRST_TIMED_VERSION} the glue was not timed): "
                       f"re-run eie synth, or give --clock-ns T")
    period = design.get("min_period_ns")
    try:
        period = check_period(period, "its design min period")
    except EIEError:
        raise EIEError(f"synth report {path} has an unusable design min period "
                       f"({period!r}): re-run eie synth, or give --clock-ns T") from None
    part = {"pe": "PE", "ccu": "CCU", "top": "glue"}.get(design.get("limited_by"))
    return Clock(period, f"synth report {path}", design.get("corner"), part)


# ----------------------------------------------------------------------------- CLI

def _period_arg(text: str) -> float:
    try:
        return check_period(text)
    except EIEError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of ns "
                                         f"(e.g. --clock-ns 1.25)") from None


def add_clock_arguments(parser, synth_target: bool = False) -> None:
    """`--clock-ns T` / `--synth-report FILE` (one or the other). With `synth_target`,
    --clock-ns is also the target period of --synth."""
    group = parser.add_mutually_exclusive_group()
    extra = "; also the target of --synth (default there 1.25)" if synth_target else ""
    group.add_argument("--clock-ns", type=_period_arg, default=None, metavar="T",
                       help=f"clock period in ns: report microseconds = cycles x T{extra} "
                            f"(the paper's chip: {PAPER_CLOCK_NS} ns, 800 MHz)")
    group.add_argument("--synth-report", metavar="FILE",
                       help="take the period from an `eie synth` report.json: its design "
                            "min period (slowest of PE, CCU and glue)")


def clock_from_args(args) -> Clock | None:
    """The Clock of `--clock-ns` / `--synth-report`, or None when neither was given."""
    if getattr(args, "synth_report", None) is not None:
        return read_synth_clock(args.synth_report)
    if getattr(args, "clock_ns", None) is not None:
        return clock_from(args.clock_ns)
    return None
