"""Verilog generation: the EIE design as files for simulators and ASIC flows.

`generate(config, out_dir)` writes (docs/hardware_flow.md has the details):

| file | what |
|---|---|
| `<design>.v` | the whole accelerator (Amaranth -> Verilog), deterministic, no source paths; one module per unit: every PE is an instance of `eie_pe`, identical replicated submodules are one module |
| `eie_sram.v` | behavioural model of the one SRAM module every memory instantiates |
| `files.f` | file list in compile order, paths relative to the list (`verilator -F`) |
| `config.json` | the `EIEConfig` the design was generated from |
| `srams.json` | every SRAM instance: hierarchy, width, depth, image file (with `--macros`: the macros it became) |
| `config.mk`, `io.tcl` | OpenROAD-flow-scripts design config and pin placement (`eie_hw/orfs.py`) |
| `constraint.sdc` | clock on `clk`, input/output delays of 20 % of the period |
| `lint_waivers.vlt` | the Verilator lint waivers for the generated design file (see below) |

Every memory is an instance of `eie_sram` (`eie_hw/sram.py`). With `macros=` (`eie
generate --macros`), `eie_sram_macros.v` builds it from SRAM macros instead of `eie_sram.v`,
and the macros' models and views come along (`eie_hw/macro_handoff.py`).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import multiprocessing
import re
from dataclasses import dataclass, field
from pathlib import Path

from .config import EIEConfig
from .errors import EIEError
from .orfs import IO_FILE, config_mk_text, io_constraints_text, sdc_text
from .memory_map import (BIAS_FILE, CODEBOOK_FILE, COUNTER_BITS, LAYERS_FILE, PTR_EVEN_FILE,
                         PTR_ODD_FILE, SPMAT_FILE, descriptor_bits, pe_image_dir,
                         pe_instance_name)
from .pe import PE_MODULE
from .sram import SRAM_MODULE, sram_addr_width
from .sram_verilog import SRAM_VERILOG
from .verilog_modules import merge_identical_modules, module_ports, modules, strip_banner

SRAM_FILE = "eie_sram.v"
WAIVER_FILE = "lint_waivers.vlt"


class VerilogPlatform:
    """Passed to `amaranth.back.verilog.convert`: memories become `eie_sram` instances."""

    sram_blackbox = True


# ----------------------------------------------------------------------------- lint waivers

# The one place where Verilator lint warnings are waived. They apply to the generated
# design file only (`<design>.v`); eie_sram.v must pass `-Wall` with no waiver. Each rule
# is an idiom of Amaranth's Verilog backend (Yosys `write_verilog`), not a design problem:
LINT_WAIVERS: dict[str, str] = {
    "WIDTHEXPAND": "Amaranth checks widths in its own IR; the backend then relies on Verilog's "
                   "context-determined zero/sign extension (e.g. `a + b[3:0]` into a wider "
                   "sum), whose result is exactly the IR's",
    "WIDTHTRUNC": "same as WIDTHEXPAND for truncation: the backend assigns wider expressions "
                  "(shifts, `!x` on a vector) to narrower wires on purpose",
    "UNUSEDSIGNAL": "the backend keeps a named wire for every interface field and "
                    "intermediate value (`$12`, `inp__payload.value`) for debugging, used or "
                    "not; unused bits of such wires are expected",
    "PROCASSINIT": "registers are declared with their reset value as initial value "
                   "(`reg x = 1'h0`), which is also the power-on state of the Amaranth "
                   "simulation; the synchronous reset still assigns it",
    "CASEINCOMPLETE": "every `always @*` block assigns its outputs a default before its "
                      "`case`, so missing cases cannot create latches (the yosys latch check "
                      "proves it)",
    "DECLFILENAME": "all modules are in one file and named after their hierarchy "
                    "(`eie_top.pe0.arith`), not after the file",
    "ASCRANGE": "zero-width signals (the LNZD leaf nodes' child indices, which carry no "
                "bits) are written as `[-1:0]`; they are never read",
}


# The macro files (--macros) hold one module per macro or tile by design; this is their
# only waiver.
MACRO_FILE_WAIVER = ("DECLFILENAME", "the wrapper file holds eie_sram and one tile module per "
                     "mapped shape, the models file one module per macro: a file per module "
                     "would only lengthen the file lists")


def waiver_file_text(design_file: str, macro_files: tuple[str, ...] = ()) -> str:
    lines = ["`verilator_config",
             f"// Lint waivers for {design_file}, written by `eie generate` from",
             "// eie_hw/generate.py LINT_WAIVERS (the one list). They cover only the generated",
             f"// design file; {SRAM_FILE} is linted with -Wall and no waiver.", ""]
    for rule, why in LINT_WAIVERS.items():
        lines.append(f"// {rule}: {why}")
        lines.append(f'lint_off -rule {rule} -file "*{design_file}"')
    if macro_files:
        rule, why = MACRO_FILE_WAIVER
        lines += ["", f"// {rule} in {', '.join(macro_files)}: {why}"]
        lines += [f'lint_off -rule {rule} -file "*{name}"' for name in macro_files]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- inventory

@dataclass(frozen=True)
class SRAMInstance:
    """One memory of the design: where it is and what it holds."""

    path: str        # hierarchy below the top, e.g. "pe3.spmat.sram"
    role: str        # spmat, ptr_even, ptr_odd, codebook, bias, acc0, acc1, layers, layer_cycles
    width: int
    depth: int
    init_file: str   # "" = starts empty

    @property
    def bits(self) -> int:
        return self.width * self.depth

    @property
    def addr_width(self) -> int:
        return sram_addr_width(self.depth)

    def to_dict(self) -> dict:
        return {"path": self.path, "role": self.role, "width": self.width,
                "depth": self.depth, "addr_width": self.addr_width, "bits": self.bits,
                "init_file": self.init_file}


def pe_srams(config: EIEConfig, pe: int = 0) -> list[SRAMInstance]:
    """The memories of PE `pe`, as `eie_hw/pe.py` and its units create them."""
    cfg, d, p = config, pe_image_dir(pe), pe_instance_name(pe)
    return [
        SRAMInstance(f"{p}.spmat.sram", "spmat", cfg.sram_width, cfg.spmat_words,
                     f"{d}/{SPMAT_FILE}"),
        SRAMInstance(f"{p}.ptr.even", "ptr_even", cfg.ptr_word_bits, cfg.ptr_bank_entries,
                     f"{d}/{PTR_EVEN_FILE}"),
        SRAMInstance(f"{p}.ptr.odd", "ptr_odd", cfg.ptr_word_bits, cfg.ptr_bank_entries,
                     f"{d}/{PTR_ODD_FILE}"),
        SRAMInstance(f"{p}.arith.codebook", "codebook", cfg.weight_bits,
                     cfg.max_layers * cfg.codebook_size, CODEBOOK_FILE),
        SRAMInstance(f"{p}.act.bias", "bias", cfg.acc_bits, cfg.bias_entries,
                     f"{d}/{BIAS_FILE}"),
        SRAMInstance(f"{p}.act.bank0", "acc0", cfg.acc_bits, cfg.act_entries, ""),
        SRAMInstance(f"{p}.act.bank1", "acc1", cfg.acc_bits, cfg.act_entries, ""),
    ]


def ccu_srams(config: EIEConfig) -> list[SRAMInstance]:
    return [
        SRAMInstance("ccu.table", "layers", descriptor_bits(config), config.max_layers,
                     LAYERS_FILE),
        SRAMInstance("ccu.cycles", "layer_cycles", COUNTER_BITS, config.max_layers, ""),
    ]


def sram_inventory(config: EIEConfig) -> list[SRAMInstance]:
    """Every SRAM instance of the design: the CCU's, then each PE's."""
    out = ccu_srams(config)
    for p in range(config.n_pes):
        out.extend(pe_srams(config, p))
    return out


def sram_bits_per_pe(config: EIEConfig) -> dict[str, int]:
    """SRAM bits of one PE by role, plus 'total'."""
    bits: dict[str, int] = {}
    for s in pe_srams(config):
        bits[s.role] = bits.get(s.role, 0) + s.bits
    bits["total"] = sum(bits.values())
    return bits


# ----------------------------------------------------------------------------- generation

@dataclass
class GeneratedDesign:
    directory: Path
    top: str                   # top module name, e.g. "eie_top"
    verilog_files: list[Path]  # compile order: SRAM model first, then the design
    config: EIEConfig
    clock_ns: float = 1.25
    platform: str = "nangate45"
    srams: list[SRAMInstance] = field(default_factory=list)
    # Files of verilog_files a simulator compiles but a synthesis flow must not read
    # (the macros' behavioural models: a flow has their Liberty views).
    simulation_only: tuple[str, ...] = ()
    macros: object = None      # eie_hw.macro_handoff.MacroHandoff with --macros, else None

    @property
    def synthesis_files(self) -> list[Path]:
        return [p for p in self.verilog_files if p.name not in self.simulation_only]

    @property
    def design_file(self) -> Path:
        return self.directory / f"{self.top}.v"

    @property
    def sram_file(self) -> Path:
        return self.directory / SRAM_FILE

    @property
    def waiver_file(self) -> Path:
        return self.directory / WAIVER_FILE

    @property
    def sdc_file(self) -> Path:
        return self.directory / "constraint.sdc"

    @property
    def file_list(self) -> Path:
        return self.directory / "files.f"

    @property
    def pe_module(self) -> str:
        """Verilog name of the PE module, the same for every PE."""
        return PE_MODULE

    @property
    def ccu_module(self) -> str:
        return f"{self.top}.ccu"


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def _check_args(design_name: str, clock_ns: float, platform: str) -> None:
    if not _NAME.match(design_name or ""):
        raise EIEError(f"design name {design_name!r} is not a Verilog identifier: use letters, "
                       "digits and _ (not starting with a digit)")
    if design_name == SRAM_MODULE:
        raise EIEError(f"design name {design_name!r} is taken by the SRAM module")
    if not (isinstance(clock_ns, (int, float)) and clock_ns > 0):
        raise EIEError(f"clock period must be a positive number of ns, got {clock_ns!r}")
    if not _NAME.match(platform or ""):
        raise EIEError(f"platform {platform!r} is not a platform name (e.g. nangate45, "
                       "sky130hd, asap7)")


def design_verilog(config: EIEConfig, design_name: str = "eie_top") -> str:
    """The design as one Verilog text (without the SRAM model).

    Two conversions: the top level (CCU, host port, N instances of `eie_pe`) and the PE
    once. Amaranth names modules by hierarchy, so replicated units (the SRAM banks of a
    PE, the LNZD nodes of a level) arrive as copies under different names;
    `merge_identical_modules` keeps one of each.
    """
    from amaranth.back import verilog

    from .eie import EIE

    platform = VerilogPlatform()
    # The two conversions are independent: the PE's runs in a second process meanwhile.
    with _background(_pe_verilog, config) as pe_text:
        top = verilog.convert(EIE(config), name=design_name, platform=platform,
                              emit_src=False)
    text = merge_identical_modules(strip_banner(top) + strip_banner(pe_text()))
    header = (f"// EIE accelerator `{design_name}`, generated by `eie generate` "
              f"(eie_hw/generate.py).\n"
              f"// Configuration: {json.dumps(config.to_dict(), sort_keys=True)}\n"
              f"// Every PE is an instance of `{PE_MODULE}`. Memories are instances of "
              f"`{SRAM_MODULE}` ({SRAM_FILE}); compile that file first.\n")
    return header + text


def _pe_verilog(config: EIEConfig) -> str:
    from amaranth.back import verilog

    from .pe import ProcessingElement
    return verilog.convert(ProcessingElement(config), name=PE_MODULE,
                           platform=VerilogPlatform(), emit_src=False)


@contextlib.contextmanager
def _background(function, *args):
    """Run `function(*args)` in a forked process while the body runs; yields a callable
    that returns its result (in this process when fork is not available)."""
    try:
        context = multiprocessing.get_context("fork")
    except ValueError:
        yield lambda: function(*args)
        return
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=context) as pool:
        future = pool.submit(function, *args)
        yield future.result


def _check_inventory(text: str, config: EIEConfig, srams: list[SRAMInstance]) -> None:
    """The inventory and the units must agree: instances in the PE module x N + the rest."""
    per_module = {name: len(re.findall(rf"^\s*{SRAM_MODULE} #\(", body, re.M))
                  for name, body in modules(text).items()}
    in_pe = sum(n for name, n in per_module.items()
                if name == PE_MODULE or name.startswith(f"\\{PE_MODULE}."))
    found = sum(per_module.values()) - in_pe + in_pe * config.n_pes
    if found != len(srams) or in_pe != len(pe_srams(config)):
        raise EIEError(f"internal error: the design has {found} {SRAM_MODULE} instances "
                       f"({in_pe} per PE), the inventory {len(srams)}")


def generate(config: EIEConfig, out_dir, *, clock_ns: float = 1.25,
             platform: str = "nangate45", design_name: str = "eie_top",
             macros=None) -> GeneratedDesign:
    """Write the Verilog design and its hand-off files into `out_dir` (created).

    `macros`: a macro library ("fakeram45", a library JSON path, or a MacroLibrary) to
    build the memories from (`eie_hw/macro_handoff.py`); None keeps the behavioural
    eie_sram."""
    if not isinstance(config, EIEConfig):
        raise EIEError("generate() needs an EIEConfig")
    _check_args(design_name, clock_ns, platform)
    library = None
    if macros is not None:
        from .macro_views import resolve_library
        library = resolve_library(macros)     # a bad library fails before the long part
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EIEError(f"cannot create output directory {out}: {exc.strerror}") from None

    srams = sram_inventory(config)
    design_file = out / f"{design_name}.v"
    design = GeneratedDesign(directory=out, top=design_name,
                             verilog_files=[out / SRAM_FILE, design_file], config=config,
                             clock_ns=float(clock_ns), platform=platform, srams=srams)
    if library is not None:
        from .macro_handoff import write_macro_handoff
        handoff = write_macro_handoff(out, srams, library, config.n_pes, platform)
        design.macros = handoff
        design.verilog_files = [out / handoff.models_file, out / handoff.wrapper_file,
                                design_file]
        design.simulation_only = (handoff.models_file,)
    text = design_verilog(config, design_name)
    _check_inventory(text, config, srams)
    _write(out, _handoff_files(design, text))
    return design


def _srams_json(design: GeneratedDesign) -> str:
    records = [s.to_dict() for s in design.srams]
    if design.macros is not None:
        for record, mapping in zip(records, design.macros.mappings):
            record["mapping"] = {k: v for k, v in mapping.to_dict().items()
                                 if k not in ("path", "role", "depth", "width")}
    return json.dumps(records, indent=1) + "\n"


def _handoff_files(design: GeneratedDesign, text: str) -> dict[str, str]:
    files = {
        design.design_file.name: text,
        "files.f": "".join(f"{p.name}\n" for p in design.verilog_files),
        "config.json": design.config.to_json(),
        "srams.json": _srams_json(design),
        "constraint.sdc": sdc_text(design.top, design.clock_ns, design.platform),
        WAIVER_FILE: waiver_file_text(design.design_file.name, tuple(
            p.name for p in design.verilog_files[:-1]) if design.macros else ()),
        IO_FILE: io_constraints_text(design.top, module_ports(text, design.top)),
        "config.mk": config_mk_text(design, SRAM_FILE),
    }
    if design.macros is None:
        files[SRAM_FILE] = SRAM_VERILOG
    return files


def _write(out: Path, files: dict[str, str]) -> None:
    for name, content in files.items():
        try:
            (out / name).write_text(content)
        except OSError as exc:
            raise EIEError(f"cannot write {out / name}: {exc.strerror}") from None
