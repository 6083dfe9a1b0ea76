"""What a sweep runs: the swept fields and their values (parsed and counted without being
listed), the points, and `SweepOptions`, whose `checked` validates everything and
refuses a sweep too large for `eie_hw.bounds` before any point is listed."""

from __future__ import annotations

import dataclasses
import itertools
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

from eie_hw.bounds import check_design_size, check_sweep_size
from eie_hw.config import EIEConfig, config_flag
from eie_hw.errors import EIEError
from sim.clock import Clock, check_period, clock_from

BACKENDS = ("model", "verilator")
# Memory sizes chosen per point (when neither given nor swept): large enough for the layer.
AUTO_FIELDS = ("act_entries", "ptr_entries", "spmat_words", "bias_entries", "max_layers")


# ----------------------------------------------------------------------------- fields

def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(EIEConfig)]


def resolve_field(name: str) -> str:
    """A config field from its name or its flag (`pes`, `fifo-depth`, `--sram-width`)."""
    fields = field_names()
    key = name.strip()
    if key in fields:
        return key
    by_flag = {config_flag(f).lstrip("-"): f for f in fields}
    bare = key.lstrip("-")
    if bare in by_flag:
        return by_flag[bare]
    if bare.replace("-", "_") in fields:
        return bare.replace("-", "_")
    raise EIEError(f"unknown sweep field {name!r}: sweep one of the config fields "
                   f"{', '.join(fields)} (or their flag names, e.g. pes), as "
                   f"--sweep FIELD=V1,V2,... e.g. --sweep fifo_depth=1,2,4,8")


# ----------------------------------------------------------------------------- values

def _parse_int(text: str, field_name: str) -> int:
    try:
        return int(text.strip(), 0)
    except ValueError:
        raise EIEError(f"sweep value {text.strip()!r} for {field_name} is not an integer: give "
                       f"integers separated by commas (e.g. {field_name}=1,2,4,8), or a range "
                       f"LO..HI (step 1) or LO..HI*K (multiplying by K)") from None


def _parse_range(item: str, field_name: str) -> tuple[int, int, int | None]:
    """`LO..HI` or `LO..HI*K` as (lo, hi, factor or None), checked to be non-empty."""
    lo_text, _, hi_text = item.partition("..")
    factor = None
    if "*" in hi_text:
        hi_text, _, f_text = hi_text.partition("*")
        factor = _parse_int(f_text, field_name)
        if factor < 2:
            raise EIEError(f"sweep range {item!r} for {field_name}: the factor after "
                           f"* must be at least 2")
    lo, hi = _parse_int(lo_text, field_name), _parse_int(hi_text, field_name)
    if hi < lo or (factor and lo < 1):
        raise EIEError(f"sweep range {item!r} for {field_name} is empty: write "
                       f"LO..HI with 1 <= LO <= HI")
    return lo, hi, factor


def _range_count(lo: int, hi: int, factor: int | None) -> int:
    """How many values LO..HI (or LO..HI*K) holds, without listing them."""
    if not factor:
        return hi - lo + 1
    count, v = 0, lo
    while v <= hi:                  # one step per power of `factor`: a few dozen at most
        count, v = count + 1, v * factor
    return count


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def count_values(text: str, field_name: str = "the field") -> int:
    """The number of values `text` lists (repeats included), counted arithmetically."""
    total = 0
    for item in _items(text):
        if ".." in item:
            total += _range_count(*_parse_range(item, field_name))
        else:
            _parse_int(item, field_name)
            total += 1
    return total


def parse_values(text: str, field_name: str, force: bool = False) -> list[int]:
    """`1,2,4`, `LO..HI` or `LO..HI*K` (mixed, comma-separated) as a list without repeats.

    The values are counted before they are listed: a range whose count alone exceeds
    the sweep bound (`eie_hw.bounds.MAX_SWEEP_POINTS`) is refused unless `force`.
    """
    count = count_values(text, field_name)
    if not count:
        raise EIEError(f"--sweep {field_name}= has no values: give e.g. {field_name}=1,2,4")
    check_sweep_size(count, force, what=f"points or more (from {field_name}={text.strip()})")
    values: list[int] = []
    for item in _items(text):
        if ".." in item:
            lo, hi, factor = _parse_range(item, field_name)
            v = lo
            while v <= hi:
                values.append(v)
                v = v * factor if factor else v + 1
        else:
            values.append(_parse_int(item, field_name))
    return list(dict.fromkeys(values))        # keep the given order, drop repeats


def parse_sweep(items: list[str] | None, force: bool = False) -> dict[str, list[int]]:
    """`["fifo_depth=1,2,4", "pes=16,64"]` -> {"fifo_depth": [1, 2, 4], "n_pes": [16, 64]}."""
    sweep: dict[str, list[int]] = {}
    for item in items or []:
        name, eq, values = item.partition("=")
        if not eq or not name.strip():
            raise EIEError(f"sweep spec {item!r} needs the form FIELD=V1,V2,... (e.g. "
                           f"fifo_depth=1,2,4,8)")
        f = resolve_field(name)
        if f in sweep:
            raise EIEError(f"{f} is swept twice: give all its values in one --sweep "
                           f"{f}=V1,V2,...")
        sweep[f] = parse_values(values, f, force)
    return sweep


# ----------------------------------------------------------------------------- points

def sweep_size(sweep: dict[str, list[int]], n_layers: int = 1, n_modes: int = 1) -> int:
    """The number of (layer, point, assignment) evaluations, from the value counts."""
    return math.prod(len(values) for values in sweep.values()) * n_layers * n_modes


def sweep_points(sweep: dict[str, list[int]]) -> list[dict[str, int]]:
    """The cartesian product of the swept values (one empty point when nothing is swept).

    Call it only after `check_sweep_size(sweep_size(...))`: it lists every point."""
    names = list(sweep)
    return [dict(zip(names, combo)) for combo in itertools.product(*(sweep[n] for n in names))]


def point_label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items()) or "the base config"


def check_point(base: EIEConfig, point: dict, force: bool = False) -> EIEConfig:
    """The point's configuration: valid, and not beyond the size limits unless `force`."""
    try:
        config = base.replace(**point)
        check_design_size(config, force)
    except EIEError as exc:
        raise EIEError(f"sweep point {point_label(point)}: {exc}; change the --sweep values "
                       f"(or the base config flags) so that every point is valid") from None
    return config


def point_config(options, point: dict) -> dict:
    """The config changes of a point: the point itself, and where it changes sram_width
    with spmat_words auto-sized, the base's Spmat capacity in bits kept (fewer, wider
    words), so that SRAM widths are compared at one SRAM size (the paper's Fig. 9) and
    the memories' area and leakage do not grow with the width."""
    if "sram_width" not in point or "spmat_words" not in options.auto:
        return point
    bits = options.base.spmat_words * options.base.sram_width
    return {**point, "spmat_words": max(1, bits // point["sram_width"])}


def jobs_default() -> int:
    return max(1, os.cpu_count() or 1)


# ----------------------------------------------------------------------------- options

@dataclass(frozen=True)
class SweepOptions:
    """Everything about a sweep but its layers and output folder (`run_sweep`).

    `base`: the config the points start from; `sweep`: {field: values} (`parse_sweep`);
    `explicit`: fields the user set, never auto-sized; `balance`: the row assignments to
    run (each is a dimension of the sweep); `clock`: the period that turns cycles into
    microseconds (`us` per row; None: cycles only); `force`: run beyond the size limits
    and replace an output folder not written by eie.
    """
    base: EIEConfig = field(default_factory=EIEConfig)
    sweep: dict = field(default_factory=dict)
    explicit: frozenset = frozenset()
    balance: tuple = ("interleave",)
    backend: str = "model"
    samples: int = 1
    seed: int = 0
    jobs: int = 1
    scheduler: str | None = None
    synth: bool = False
    liberty: str | None = None
    clock_ns: float = 1.25        # the target period of --synth
    clock: object = None          # µs per row: a sim.clock.Clock, a period (ns) or a report
    progress: bool = False
    plots: bool = True
    fresh: bool = False
    command: str | None = None
    force: bool = False

    @property
    def auto(self) -> tuple:
        """The memory sizes fitted per point: neither swept nor given explicitly."""
        return tuple(f for f in AUTO_FIELDS
                     if f not in self.sweep and f not in set(self.explicit))

    def checked(self, n_layers: int) -> SweepOptions:
        """These options validated and normalized (field names resolved, tuples), with
        the sweep's size over `n_layers` layers checked against the bound."""
        from compress.balance import check_mode
        if self.backend not in BACKENDS:
            raise EIEError(f"backend {self.backend!r} is not available for sweeps; choose "
                           f"from {', '.join(BACKENDS)}")
        balance = tuple(self.balance) or ("interleave",)
        for mode in balance:
            check_mode(mode)
        if self.samples < 1:
            raise EIEError("--samples must be at least 1")
        if self.jobs < 1:
            raise EIEError("--jobs must be at least 1")
        if self.synth and self.liberty is not None and not Path(self.liberty).is_file():
            raise EIEError(f"liberty file {self.liberty} does not exist: give an existing "
                           f".lib (or .lib.gz) file, or drop --liberty")
        if n_layers < 1:
            raise EIEError("no layers to sweep: give --layers or --model")
        check_period(self.clock_ns, "--clock-ns")
        clock = self.clock if self.clock is None or isinstance(self.clock, Clock) \
            else clock_from(self.clock)
        sweep = _checked_sweep(self.sweep)
        check_sweep_size(sweep_size(sweep, n_layers, len(balance)), self.force)
        return dataclasses.replace(self, sweep=sweep, balance=balance,
                                   explicit=frozenset(self.explicit), clock=clock)


def _checked_sweep(sweep: dict) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for name, values in (sweep or {}).items():
        values = list(values)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool)
                                 for v in values):
            raise EIEError(f"sweep values of {name} must be a non-empty list of integers, "
                           f"got {values!r}")
        out[resolve_field(name)] = values
    return out
