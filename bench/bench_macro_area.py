"""Per-PE memory area when every memory is mapped onto a macro library (issue 12).

    python bench/bench_macro_area.py [--macros fakeram45|LIB.json] [--pes 64 ...]

Prints, for one PE of the configuration (default: the paper's), each memory's mapping
(macro, columns x rows x fold, count, area, how much of the macro bits it uses) and the
total next to the paper's Table II (594,786 um2 of memory per PE). Memories left as
flip-flops show the library's flip-flop estimate; they are logic, not macros.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eie_hw.config import add_config_arguments, config_from_args  # noqa: E402
from eie_hw.generate import pe_srams  # noqa: E402
from eie_hw.macro_mapping import map_design  # noqa: E402
from eie_hw.macro_views import load_library  # noqa: E402
from eie_hw.macros import READ_AND_WRITE  # noqa: E402

PAPER_MEMORY_UM2 = 594_786


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--macros", default="fakeram45")
    add_config_arguments(parser)
    args = parser.parse_args()
    config = config_from_args(args)
    library = load_library(args.macros)
    mappings = map_design(pe_srams(config), library)
    print("| memory | words x bits | mapping | macros | area (um2) | bits used |")
    print("|---|---|---|---|---|---|")
    total = flops = 0.0
    for m in mappings:
        if m.kind == "macro":
            shape = f"{m.macro}, {m.cols} x {m.rows} x fold {m.fold}"
            total += m.area_um2
        else:
            why = "a read and a write each cycle" if m.needs == READ_AND_WRITE else "small"
            shape = f"flip-flops ({why})"
            flops += m.area_um2
        print(f"| {m.role} | {m.depth} x {m.width} | {shape} | {m.count} | "
              f"{m.area_um2:,.0f} | {100 * m.efficiency:.0f} % |")
    print(f"\nmacro area per PE: {total:,.0f} um2 (paper's memory: {PAPER_MEMORY_UM2:,} um2, "
          f"ratio {total / PAPER_MEMORY_UM2:.2f}); flip-flop memories about {flops:,.0f} um2 "
          f"(estimate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
