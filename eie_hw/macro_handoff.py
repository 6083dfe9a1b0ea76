"""`eie generate --macros LIB`: the memories of a generated design built from SRAM macros.

`write_macro_handoff(out_dir, srams, library, n_pes, platform)` maps every memory
(`eie_hw.macro_mapping.map_design`), then writes into the design folder:

| file | what |
|---|---|
| `eie_sram_macros.v` | the drop-in `eie_sram` built from the macros (synthesis and simulation; replaces `eie_sram.v`) |
| `macro_models.v` | behavioural models of the macros used (simulation only: a flow reads the macros' Liberty/LEF views instead) |
| `macros/<macro>.lef`, `.lib` | the views of every macro used, unpacked (a flow reads them from here) |
| `macro_library.json` | the library, restricted to the macros used, with paths into `macros/`: `--macros` accepts it again |

and returns a `MacroHandoff` that config.mk (`eie_hw.orfs`) and srams.json are written from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import EIEError
from .macro_mapping import Mapping, map_design
from .macro_verilog import macro_models_verilog, wrapper_verilog
from .macros import MacroLibrary
from .orfs import Floorplan, macro_floorplan
from .textfile import read_text

WRAPPER_FILE = "eie_sram_macros.v"
MODELS_FILE = "macro_models.v"
VIEWS_DIR = "macros"
LIBRARY_FILE = "macro_library.json"


@dataclass
class MacroHandoff:
    library: MacroLibrary             # the library as given
    mappings: list[Mapping]           # one per memory, in inventory order
    floorplan: Floorplan
    lef_files: list[str] = field(default_factory=list)   # relative to the design folder
    lib_files: list[str] = field(default_factory=list)
    wrapper_file: str = WRAPPER_FILE
    models_file: str = MODELS_FILE
    library_file: str = LIBRARY_FILE

    @property
    def used_macros(self) -> list[str]:
        return sorted({m.macro for m in self.mappings if m.kind == "macro"})


def _copy_view(source: Path, dest: Path) -> None:
    text = read_text(source, "macro view", "copy the view there or fix the library's path")
    try:
        dest.write_text(text)
    except OSError as exc:
        raise EIEError(f"cannot write {dest}: {exc.strerror}") from None


def write_macro_handoff(out_dir, srams, library: MacroLibrary, n_pes: int,
                        platform: str) -> MacroHandoff:
    out = Path(out_dir)
    mappings = map_design(srams, library)
    wrapper = wrapper_verilog(mappings, library)
    handoff = MacroHandoff(library, mappings,
                           macro_floorplan(mappings, library, n_pes, platform))
    used = [library.macro(name) for name in handoff.used_macros]
    views = out / VIEWS_DIR
    views.mkdir(exist_ok=True)
    local = []
    for macro in used:
        lef, lib = views / f"{macro.name}.lef", views / f"{macro.name}.lib"
        _copy_view(macro.lef, lef)
        _copy_view(macro.lib, lib)
        handoff.lef_files.append(f"{VIEWS_DIR}/{lef.name}")
        handoff.lib_files.append(f"{VIEWS_DIR}/{lib.name}")
        local.append(replace(macro, lef=lef, lib=lib))
    (out / WRAPPER_FILE).write_text(wrapper)
    (out / MODELS_FILE).write_text(
        f"// Behavioural models of the {library.name} macros {WRAPPER_FILE} uses, for\n"
        "// simulation only (eie_hw/macro_verilog.py); a flow reads their views in macros/.\n"
        + macro_models_verilog(mappings, library))
    if local:      # a library of no macro is not a valid library file
        MacroLibrary(library.name, local, library.flop_threshold_bits, library.flop_max_bits,
                     library.flop_bit_area_um2).to_json(out / LIBRARY_FILE)
    else:
        handoff.library_file = ""
    return handoff
