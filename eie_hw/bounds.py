"""Size limits checked before any work: a design or sweep absurd for this machine or
for the model is refused with the size it would take, unless the user forces it.

Every command calls these before it allocates anything in proportion to the request
(per-PE arrays, a Verilog netlist, a list of sweep points), so a typo such as
`--pes 100000` costs a one-line error, not minutes and gigabytes.
"""

from __future__ import annotations

from .config import EIEConfig
from .errors import EIEError

# Beyond these a request is almost surely a mistake; --force lifts them.
MAX_PES = 1024                        # the paper's scale is 64; our benches go to 256
MAX_DESIGN_BYTES = 1 << 30            # on-chip memory the simulators would hold
MAX_SWEEP_POINTS = 10_000             # about an hour with the performance model
FORCE_HINT = "add --force to run it anyway"


def design_bytes(config: EIEConfig) -> int:
    """Bytes of on-chip memory in the whole design (what a simulator allocates)."""
    per_pe = (config.spmat_words * config.sram_width
              + config.ptr_entries * config.ptr_bits
              + config.bias_entries * config.acc_bits
              + 2 * config.act_entries * config.act_bits)
    return config.n_pes * per_pe // 8


def _size(n: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


def check_design_size(config: EIEConfig, force: bool = False) -> None:
    """Refuse a configuration too large to generate or simulate here, unless forced."""
    if force:
        return
    if config.n_pes > MAX_PES:
        raise EIEError(f"{config.n_pes:,} PEs is more than the {MAX_PES:,} this tool takes "
                       f"without --force (the paper's design has 64); use fewer PEs or "
                       f"{FORCE_HINT}")
    size = design_bytes(config)
    if size > MAX_DESIGN_BYTES:
        raise EIEError(f"the configuration holds {_size(size)} of on-chip memory "
                       f"({config.n_pes} PEs), more than the {_size(MAX_DESIGN_BYTES)} "
                       f"this tool simulates without --force; shrink the memories or "
                       f"{FORCE_HINT}")


def check_pes_for_model(config: EIEConfig, layer_rows: dict[str, int],
                        force: bool = False) -> None:
    """Refuse more PEs than the widest layer has rows: the extra PEs never get work."""
    if force or not layer_rows:
        return
    widest = max(layer_rows, key=layer_rows.get)
    rows = layer_rows[widest]
    if config.n_pes > rows:
        raise EIEError(f"{config.n_pes:,} PEs for a model whose widest layer ({widest}) has "
                       f"{rows:,} output rows: {config.n_pes - rows:,} PEs would never get "
                       f"a row; use --pes {rows} or fewer, or {FORCE_HINT}")


def check_sweep_size(points: int, force: bool = False, what: str = "points") -> None:
    """Refuse a sweep of more than MAX_SWEEP_POINTS, before its points are listed."""
    if not force and points > MAX_SWEEP_POINTS:
        raise EIEError(f"the sweep has {points:,} {what}, more than the "
                       f"{MAX_SWEEP_POINTS:,} it runs without --force (at about 0.3 s a "
                       f"point: {points * 0.3 / 3600:,.0f} hours); narrow the ranges or "
                       f"{FORCE_HINT}")
